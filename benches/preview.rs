//! Preview benchmark: keypress → sixel bytes (open headers + decode one frame + window +
//! downsample to the pane + sixel encode), in process as the console does it, on a generated
//! 512×512 16-bit CT slice and a 3000×3000 16-bit radiograph (and corpus files when present),
//! side by side with `dcm2pnm | img2sixel` (dcmtk, libsixel-bin) at the same output size.
//!
//! `cargo bench --bench preview -- [--runs N] [--pane WxH] [--no-compare]`
//!
//! Generated files live in `target/bench-data/preview/`. Run on a quiet machine (`uptime`).

use dicura::preview::{self, Source, View, Window};
use dicura::synth::{DicomWriter, Element, CT_IMAGE_STORAGE};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// A deterministic body-like phantom: air, soft tissue, lungs, bone, noise.
fn phantom(w: usize, h: usize, x: usize, y: usize, seed: &mut u64) -> f64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    let noise = (*seed % 41) as f64 - 20.0;
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let (dx, dy) = ((x as f64 - cx) / cx, (y as f64 - cy) / cy);
    let r = (dx * dx + dy * dy).sqrt();
    let base = if r > 0.9 {
        -1000.0
    } else if ((dx.abs() - 0.4).powi(2) + dy * dy).sqrt() < 0.25 {
        -800.0
    } else if (dx * dx + (dy - 0.5).powi(2)).sqrt() < 0.1 {
        1200.0
    } else {
        40.0 + 30.0 * (x as f64 / 17.0).sin()
    };
    base + noise
}

fn write_image(path: &Path, w: usize, h: usize, modality: &str, window: (f64, f64)) {
    if path.exists() {
        return;
    }
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut px = Vec::with_capacity(w * h * 2);
    for y in 0..h {
        for x in 0..w {
            let v = (phantom(w, h, x, y, &mut seed) + 1024.0).clamp(0.0, 4095.0) as u16;
            px.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut d = DicomWriter::new(CT_IMAGE_STORAGE, "1.2.826.0.1.3680043.10.1");
    d.put(Element::str(0x0008_0016, "UI", CT_IMAGE_STORAGE))
        .put(Element::str(0x0008_0018, "UI", "1.2.826.0.1.3680043.10.1"))
        .put(Element::str(0x0008_0060, "CS", modality))
        .put(Element::us(0x0028_0002, &[1]))
        .put(Element::str(0x0028_0004, "CS", "MONOCHROME2"))
        .put(Element::us(0x0028_0010, &[h as u16]))
        .put(Element::us(0x0028_0011, &[w as u16]))
        .put(Element::ds(0x0028_0030, &[0.5, 0.5]))
        .put(Element::us(0x0028_0100, &[16]))
        .put(Element::us(0x0028_0101, &[12]))
        .put(Element::us(0x0028_0102, &[11]))
        .put(Element::us(0x0028_0103, &[0]))
        .put(Element::ds(0x0028_1050, &[window.0]))
        .put(Element::ds(0x0028_1051, &[window.1]))
        .put(Element::ds(0x0028_1052, &[-1024.0]))
        .put(Element::ds(0x0028_1053, &[1.0]));
    d.pixel_data_native(&px);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, d.finish()).unwrap();
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// dicura, cold: a fresh `open` per run (nothing cached). Returns (median, output size).
fn dicura_cold(path: &Path, pane: (u32, u32), runs: usize) -> (Duration, (u32, u32), usize) {
    let mut times = Vec::new();
    let mut size = (0, 0);
    let mut bytes = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let mut o = preview::open(&Source::Dicom {
            path: path.to_path_buf(),
        })
        .unwrap();
        let r = o
            .render(&View {
                max_size: Some(pane),
                ..View::default()
            })
            .unwrap();
        let six = preview::encode_picture(&r.picture).unwrap();
        times.push(t.elapsed());
        size = (r.picture.width(), r.picture.height());
        bytes = six.len();
    }
    (median(times), size, bytes)
}

/// dicura, warm: the frame is cached; a new window per run (the pane re-windowing).
fn dicura_rewindow(path: &Path, pane: (u32, u32), runs: usize) -> Duration {
    let mut o = preview::open(&Source::Dicom {
        path: path.to_path_buf(),
    })
    .unwrap();
    let mut times = Vec::new();
    for i in 0..runs {
        let t = Instant::now();
        let r = o
            .render(&View {
                max_size: Some(pane),
                window: Window::Manual {
                    center: 40.0 + i as f64,
                    width: 400.0,
                },
                ..View::default()
            })
            .unwrap();
        let _ = preview::encode_picture(&r.picture).unwrap();
        times.push(t.elapsed());
    }
    median(times)
}

/// `dcm2pnm [+Wi 1] +Sxv W FILE | img2sixel`, the same output width (dcmj2pnm for JPEG,
/// dcml2pnm for JPEG-LS; dcmtk has no JPEG 2000 decoder, so J2K goes through
/// `gdcmconv --raw` (OpenJPEG) first).
fn dcmtk(path: &Path, width: u32, color: bool, windows: bool, runs: usize) -> Option<Duration> {
    let img = preview::DicomImage::open(path).ok()?;
    let tool = match img.codec {
        preview::decode::Codec::Jpeg => "dcmj2pnm",
        preview::decode::Codec::JpegLs => "dcml2pnm",
        _ => "dcm2pnm",
    };
    let tmp = std::env::temp_dir().join(format!("dicura-bench-{}.dcm", std::process::id()));
    let (pre, input) = if img.codec == preview::decode::Codec::Jpeg2000 {
        (
            format!(
                "gdcmconv --raw '{}' '{}' && ",
                path.display(),
                tmp.display()
            ),
            tmp.clone(),
        )
    } else {
        (String::new(), path.to_path_buf())
    };
    let mut times = Vec::new();
    for _ in 0..runs {
        let win = if color {
            ""
        } else if windows {
            "+Wi 1"
        } else {
            "+Wm"
        };
        let cmd = format!(
            "{pre}{tool} -O {win} +Sxv {width} '{}' | img2sixel > /dev/null",
            input.display()
        );
        let t = Instant::now();
        let st = Command::new("bash")
            .args(["-o", "pipefail", "-c", &cmd])
            .stderr(Stdio::null())
            .status()
            .ok()?;
        if !st.success() {
            return None;
        }
        times.push(t.elapsed());
    }
    let _ = std::fs::remove_file(&tmp);
    Some(median(times))
}

fn main() {
    let runs: usize = arg("--runs").and_then(|v| v.parse().ok()).unwrap_or(15);
    let pane = arg("--pane")
        .and_then(|s| {
            let (w, h) = s.split_once('x')?;
            Some((w.parse().ok()?, h.parse().ok()?))
        })
        .unwrap_or((800u32, 600u32));
    let compare = !std::env::args().any(|a| a == "--no-compare")
        && Command::new("img2sixel").arg("--version").output().is_ok()
        && Command::new("dcm2pnm").arg("--version").output().is_ok();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/preview");
    let ct = data.join("ct-512.dcm");
    let cr = data.join("radiograph-3000.dcm");
    write_image(&ct, 512, 512, "CT", (40.0, 400.0));
    write_image(&cr, 3000, 3000, "CR", (1000.0, 3000.0));
    let mut files: Vec<(String, PathBuf, Option<f64>)> = vec![
        ("CT 512x512 16-bit (native)".into(), ct, Some(50.0)),
        (
            "radiograph 3000x3000 16-bit (native)".into(),
            cr,
            Some(300.0),
        ),
    ];
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/dicom");
    for (name, label) in [
        ("examples_jpeg2k.dcm", "J2K 640x480 RGB (corpus)"),
        ("J2K_pixelrep_mismatch.dcm", "J2K 512x512 CT (corpus)"),
        (
            "examples_ybr_color.dcm",
            "JPEG 30-frame 640x480 YBR (corpus)",
        ),
        ("SC_rgb_jpeg_dcmd.dcm", "JPEG 256x256 RGB (corpus)"),
        ("MR_small_RLE.dcm", "RLE 64x64 MR (corpus)"),
    ] {
        let p = corpus.join(name);
        if p.exists() {
            files.push((label.into(), p, None));
        }
    }
    println!(
        "preview bench: pane {}x{} px, median of {runs} runs, load {}",
        pane.0,
        pane.1,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "{:40} {:>9} {:>10} {:>10} {:>12} {:>8} {:>7}",
        "file", "output", "dicura ms", "rewindow", "dcmtk+six ms", "speedup", "floor"
    );
    let mut failed = false;
    for (label, path, floor) in &files {
        let (cold, size, _bytes) = dicura_cold(path, pane, runs);
        let warm = dicura_rewindow(path, pane, runs);
        let o = preview::open(&Source::Dicom { path: path.clone() }).unwrap();
        let info = o.info();
        let theirs = if compare {
            dcmtk(
                path,
                size.0,
                info.color,
                !info.windows.is_empty(),
                runs.min(7),
            )
        } else {
            None
        };
        let speed = theirs
            .map(|t| format!("{:.1}x", ms(t) / ms(cold)))
            .unwrap_or_else(|| "-".into());
        let floor_txt = match floor {
            Some(f) if ms(cold) <= *f => format!("<{f:.0} ok"),
            Some(f) => {
                failed = true;
                format!("<{f:.0} MISS")
            }
            None => String::new(),
        };
        println!(
            "{:40} {:>9} {:>10.1} {:>10.1} {:>12} {:>8} {:>7}",
            label,
            format!("{}x{}", size.0, size.1),
            ms(cold),
            ms(warm),
            theirs
                .map(|t| format!("{:.1}", ms(t)))
                .unwrap_or_else(|| "-".into()),
            speed,
            floor_txt
        );
    }
    if failed {
        println!("a floor was missed");
    }
}
