//! Pixel correctness against dcmtk: every decodable corpus file rendered by the library at
//! the header's first window (or, without one, the min–max window) must match dcmtk's
//! rendering at the same window: identical 8-bit output or PSNR ≥ 40 dB, first and last
//! frame. dcm2pnm for native/RLE/deflated data, dcmj2pnm for JPEG, dcml2pnm for JPEG-LS;
//! dcmtk has no JPEG 2000 codec, so J2K files are first decompressed by GDCM
//! (`gdcmconv --raw`, another implementation: OpenJPEG in C) and then rendered by dcm2pnm.
//! Overlays are switched off (`-O`): the pane shows pixels, overlays are another issue.

use dicura::preview::{self, decode::Codec, Picture, Source, View, Window};
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> Option<PathBuf> {
    let base = match std::env::var_os("DICURA_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    let dir = base.join("dicom");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "corpus not found at {} but CI=true",
        dir.display()
    );
    eprintln!("skipping: corpus not found at {}", dir.display());
    None
}

fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--version").output().is_ok();
    assert!(
        ok || std::env::var("CI").as_deref() != Ok("true"),
        "{tool} missing but CI=true (.ci/run installs it)"
    );
    ok
}

/// Files that do not decode, each with the reason. Everything else must decode and match.
const NOT_DECODABLE: &[(&str, &str)] = &[
    ("ExplVR_BigEndNoMeta.dcm", "RT plan without pixel data"),
    ("ExplVR_LitEndNoMeta.dcm", "RT plan without pixel data"),
    ("MR_truncated.dcm", "pixel data truncated"),
    ("UN_sequence.dcm", "no pixel data"),
    ("empty_charset_LEI.dcm", "no pixel data"),
    ("meta_missing_tsyntax.dcm", "no image attributes"),
    (
        "nested_priv_SQ.dcm",
        "2-byte Pixel Data without Rows/Columns",
    ),
    (
        "no_meta.dcm",
        "the project's header parser does not accept its first bytes",
    ),
    ("no_meta_group_length.dcm", "no pixel data"),
    ("priv_SQ.dcm", "no pixel data"),
    ("reportsi.dcm", "SR"),
    ("reportsi_with_empty_number_tags.dcm", "SR"),
    ("rtplan.dcm", "RT plan"),
    ("rtplan_truncated.dcm", "RT plan"),
    ("rtstruct.dcm", "RT structure set"),
    ("test-SR.dcm", "SR"),
    ("waveform_ecg.dcm", "waveform"),
    (
        "JPEG2000-embedded-sequence-delimiter.dcm",
        "codestream bytes overwritten on purpose (pydicom #1140); GDCM fails too",
    ),
];

/// Files dcmtk 3.6.7 reads differently from pydicom and from us: 32-bit samples in an OW
/// value of an explicit big endian file. pydicom (and dicura) read each sample as a 32-bit
/// big endian number, which gives exactly the little endian sibling's values; dcmtk swaps
/// 16-bit words and so renders noise. These are compared with dcmtk's rendering of the
/// little endian sibling.
const SIBLING: &[(&str, &str)] = &[
    ("rtdose_expb.dcm", "rtdose.dcm"),
    ("rtdose_expb_1frame.dcm", "rtdose_1frame.dcm"),
];

/// 3-component JPEG-LS: pure_jpegls decodes one component; with `--features charls` (CI)
/// CharLS decodes them and they are compared like the rest.
const JLS_COLOUR: &[&str] = &["SC_rgb_jls_lossy_line.dcm", "SC_rgb_jls_lossy_sample.dcm"];

/// Reads binary PGM (P5) / PPM (P6), 8-bit.
fn read_pnm(p: &Path) -> (u32, u32, u8, Vec<u8>) {
    let d = std::fs::read(p).unwrap();
    let mut toks = Vec::new();
    let mut i = 0;
    while toks.len() < 4 {
        while d[i].is_ascii_whitespace() {
            i += 1;
        }
        if d[i] == b'#' {
            while d[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let j = i;
        while !d[i].is_ascii_whitespace() {
            i += 1;
        }
        toks.push(String::from_utf8_lossy(&d[j..i]).into_owned());
    }
    i += 1;
    let (w, h): (u32, u32) = (toks[1].parse().unwrap(), toks[2].parse().unwrap());
    let ch = if toks[0] == "P6" { 3 } else { 1 };
    let n = (w * h) as usize * ch as usize;
    (w, h, ch, d[i..i + n].to_vec())
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

#[test]
fn corpus_matches_dcmtk() {
    let Some(dir) = corpus() else { return };
    if !(have("dcm2pnm") && have("gdcmconv")) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    let mut compared = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let source = Source::Dicom { path: path.clone() };
        let opened = preview::open(&source);
        let jls = !cfg!(feature = "charls") && JLS_COLOUR.contains(&name);
        let reason = NOT_DECODABLE.iter().find(|n| n.0 == name).map(|n| n.1);
        if let Some(why) = reason.or(jls.then_some("3-component JPEG-LS without CharLS")) {
            // Must be a clean error, from open or from render.
            let r = opened.and_then(|mut o| {
                o.render(&View {
                    window: Window::Default,
                    ..View::default()
                })
            });
            assert!(r.is_err(), "{name} ({why}) decoded, update the list");
            continue;
        }
        let mut opened = match opened {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{name}: open: {e}"));
                continue;
            }
        };
        let img = preview::DicomImage::open(path).unwrap();
        let info = opened.info().clone();
        let frames = info.count;
        let mut input = path.clone();
        if let Some((_, sib)) = SIBLING.iter().find(|s| s.0 == name) {
            input = dir.join(sib);
        }
        // dcmtk cannot parse SC_rgb_jpeg.dcm's header: GDCM decompresses it first.
        if img.codec == Codec::Jpeg2000 || name == "SC_rgb_jpeg.dcm" {
            let raw = tmp.path().join(format!("{name}.raw.dcm"));
            let st = Command::new("gdcmconv")
                .arg("--raw")
                .arg(path)
                .arg(&raw)
                .status()
                .unwrap();
            assert!(st.success(), "gdcmconv --raw {name}");
            input = raw;
        }
        let tool = match img.codec {
            _ if input != *path && img.codec != Codec::Native => "dcm2pnm",
            Codec::Jpeg => "dcmj2pnm",
            Codec::JpegLs => "dcml2pnm",
            _ => "dcm2pnm",
        };
        let mut frame_list = vec![0];
        if frames > 1 {
            frame_list.push(frames - 1);
        }
        for frame in frame_list {
            let out = tmp.path().join(format!("{name}.{frame}.pnm"));
            let mut cmd = Command::new(tool);
            cmd.args(["-O", "+op", "+F"]).arg((frame + 1).to_string());
            if !info.color {
                if info.windows.is_empty() {
                    cmd.arg("+Wm");
                } else {
                    cmd.args(["+Wi", "1"]);
                }
            }
            let o = cmd.arg(&input).arg(&out).output().unwrap();
            if !o.status.success() {
                failures.push(format!(
                    "{name}: {tool} failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                ));
                continue;
            }
            let (w, h, ch, want) = read_pnm(&out);
            let r = match opened.render(&View {
                index: frame,
                window: Window::Default,
                stored_grid: true,
                ..View::default()
            }) {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{name} frame {frame}: {e}"));
                    continue;
                }
            };
            let got: Vec<u8> = match (&r.picture, ch) {
                (Picture::Gray(g), 1) => g.as_raw().clone(),
                (p, 3) => p.to_rgb().into_raw(),
                (Picture::Rgb(_), _) => {
                    failures.push(format!("{name}: colour, dcmtk wrote grey"));
                    continue;
                }
                _ => unreachable!(),
            };
            if (r.picture.width(), r.picture.height()) != (w, h) {
                failures.push(format!(
                    "{name}: size {}x{} vs dcmtk {w}x{h}",
                    r.picture.width(),
                    r.picture.height()
                ));
                continue;
            }
            let p = psnr(&got, &want);
            compared += 1;
            eprintln!("{name:45} frame {frame:3} {tool:9} PSNR {p:6.1} dB");
            if p < 40.0 {
                failures.push(format!("{name} frame {frame}: PSNR {p:.1} dB < 40"));
            }
        }
    }
    eprintln!("{compared} frames compared");
    assert!(compared >= 50, "only {compared} frames compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Manual windows (`+Ww c w`) and presets, and MONOCHROME1 / signed / rescaled data written
/// by the project's generator, against dcm2pnm.
#[test]
fn manual_windows_and_monochrome1_match_dcmtk() {
    use dicura::synth::{DicomWriter, Element, CT_IMAGE_STORAGE};
    if !have("dcm2pnm") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut cases: Vec<(PathBuf, f64, f64)> = Vec::new();
    if let Some(dir) = corpus() {
        cases.push((dir.join("CT_small.dcm"), 40.0, 400.0));
        cases.push((dir.join("CT_small.dcm"), -600.0, 1500.0));
        cases.push((dir.join("MR_small.dcm"), 500.0, 1000.0));
    }
    // Generated: MONOCHROME1, signed 16-bit with rescale.
    for (i, (pm, signed)) in [
        ("MONOCHROME1", false),
        ("MONOCHROME2", true),
        ("MONOCHROME1", true),
    ]
    .iter()
    .enumerate()
    {
        let mut w = DicomWriter::new(CT_IMAGE_STORAGE, "1.2.3.9");
        w.put(Element::str(0x0008_0016, "UI", CT_IMAGE_STORAGE))
            .put(Element::us(0x0028_0002, &[1]))
            .put(Element::str(0x0028_0004, "CS", pm))
            .put(Element::us(0x0028_0010, &[32]))
            .put(Element::us(0x0028_0011, &[32]))
            .put(Element::us(0x0028_0100, &[16]))
            .put(Element::us(0x0028_0101, &[12]))
            .put(Element::us(0x0028_0102, &[11]))
            .put(Element::us(0x0028_0103, &[*signed as u16]))
            .put(Element::ds(0x0028_1052, &[-100.0]))
            .put(Element::ds(0x0028_1053, &[2.0]));
        let px: Vec<u8> = (0..32 * 32)
            .flat_map(|k: i32| {
                let v = if *signed { k * 3 - 1500 } else { k * 3 };
                ((v as i16) as u16 & 0x0FFF).to_le_bytes()
            })
            .collect();
        w.pixel_data_native(&px);
        let p = tmp.path().join(format!("gen{i}.dcm"));
        std::fs::write(&p, w.finish()).unwrap();
        cases.push((p, 300.0, 2000.0));
    }
    for (path, c, wd) in cases {
        let out = tmp.path().join("m.pnm");
        let o = Command::new("dcm2pnm")
            .args(["-O", "+op", "+Ww", &c.to_string(), &wd.to_string()])
            .arg(&path)
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let (_, _, _, want) = read_pnm(&out);
        let r = preview::render_once(
            &Source::Dicom { path: path.clone() },
            &View {
                window: Window::Manual {
                    center: c,
                    width: wd,
                },
                stored_grid: true,
                ..View::default()
            },
        )
        .unwrap();
        let Picture::Gray(g) = &r.picture else {
            panic!()
        };
        let p = psnr(g.as_raw(), &want);
        eprintln!("{} +Ww {c} {wd}: PSNR {p:.1}", path.display());
        assert!(p >= 40.0, "{}: +Ww {c} {wd}: PSNR {p:.1}", path.display());
    }
}
