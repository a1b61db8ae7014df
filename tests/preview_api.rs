//! The preview library as the console uses it: series ordering and reformats, windows,
//! MONOCHROME1, palettes, single-frame and reduced-resolution decoding, sixel output, and
//! broken input (truncated, absurd, corrupted) giving error values, never panics.

use dicura::preview::{self, Axis, Picture, PreviewError, Source, View, Window};
use dicura::synth::{DicomWriter, Element, CT_IMAGE_STORAGE};
use std::path::{Path, PathBuf};

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
        "corpus missing but CI=true"
    );
    None
}

/// An unsigned 16-bit MONOCHROME2 (or other) image; `extra` adds or overrides elements.
fn image(rows: u16, cols: u16, pixels: &[u16], extra: impl FnOnce(&mut DicomWriter)) -> Vec<u8> {
    let mut w = DicomWriter::new(CT_IMAGE_STORAGE, "1.2.3.4");
    w.put(Element::str(0x0008_0016, "UI", CT_IMAGE_STORAGE))
        .put(Element::str(0x0008_0018, "UI", "1.2.3.4"))
        .put(Element::str(0x0008_0060, "CS", "CT"))
        .put(Element::us(0x0028_0002, &[1]))
        .put(Element::str(0x0028_0004, "CS", "MONOCHROME2"))
        .put(Element::us(0x0028_0010, &[rows]))
        .put(Element::us(0x0028_0011, &[cols]))
        .put(Element::us(0x0028_0100, &[16]))
        .put(Element::us(0x0028_0101, &[16]))
        .put(Element::us(0x0028_0102, &[15]))
        .put(Element::us(0x0028_0103, &[0]));
    extra(&mut w);
    let bytes: Vec<u8> = pixels.iter().flat_map(|v| v.to_le_bytes()).collect();
    w.pixel_data_native(&bytes);
    w.finish()
}

/// Window mapping values 0..=255 to themselves.
const IDENTITY: Window = Window::Manual {
    center: 128.0,
    width: 256.0,
};

fn gray(p: &Picture) -> &[u8] {
    match p {
        Picture::Gray(g) => g.as_raw(),
        Picture::Rgb(_) => panic!("expected grey"),
    }
}

#[test]
fn series_is_ordered_along_the_normal_and_reformats() {
    let dir = tempfile::tempdir().unwrap();
    let (nx, ny, nz) = (4usize, 5usize, 6usize);
    let value = |x: usize, y: usize, z: usize| (z * 40 + y * 8 + x) as u16;
    // Axial slices written in a shuffled order, file names and instance numbers misleading.
    let order = [3, 0, 5, 1, 4, 2];
    let mut paths = Vec::new();
    for (n, &z) in order.iter().enumerate() {
        let px: Vec<u16> = (0..ny)
            .flat_map(|y| (0..nx).map(move |x| value(x, y, z)))
            .collect();
        let bytes = image(ny as u16, nx as u16, &px, |w| {
            w.ds(0x0020_0037, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
                .ds(0x0020_0032, &[-10.0, -20.0, 2.5 * z as f64 - 7.0])
                .ds(0x0028_0030, &[1.0, 1.0])
                .is(0x0020_0013, (10 - n) as i64);
        });
        let p = dir.path().join(format!("f{n}.dcm"));
        std::fs::write(&p, bytes).unwrap();
        paths.push(p);
    }
    let mut o = preview::open(&Source::Series { paths }).unwrap();
    let info = o.info().clone();
    assert_eq!(info.count, nz);
    assert_eq!(
        info.axes,
        vec![(Axis::Axial, nz), (Axis::Coronal, ny), (Axis::Sagittal, nx)]
    );
    // Scrolling the stored images goes inferior → superior.
    for z in 0..nz {
        let r = o
            .render(&View {
                index: z,
                window: IDENTITY,
                ..View::default()
            })
            .unwrap();
        assert_eq!(gray(&r.picture)[0], value(0, 0, z) as u8, "slice {z}");
        assert_eq!(r.labels[1].as_deref(), Some("L"));
    }
    // Coronal slice 2 (y = 2): top row is the most superior slice, screen right = L = +x.
    let r = o
        .render(&View {
            index: 2,
            axis: Some(Axis::Coronal),
            window: IDENTITY,
            ..View::default()
        })
        .unwrap();
    // Slice spacing 2.5 mm vs 1 mm pixels: stretched 2.5x vertically.
    assert_eq!(r.pixel_aspect, 2.5);
    assert_eq!((r.picture.width(), r.picture.height()), (4, 15));
    let g = gray(&r.picture);
    assert_eq!(g[0], value(0, 2, nz - 1) as u8);
    assert_eq!(g[3], value(3, 2, nz - 1) as u8);
    assert_eq!(
        r.labels,
        [
            Some("S".into()),
            Some("L".into()),
            Some("I".into()),
            Some("R".into())
        ]
    );
    // Sagittal slice 1 (x = 1): screen right = posterior = +y.
    let r = o
        .render(&View {
            index: 1,
            axis: Some(Axis::Sagittal),
            window: IDENTITY,
            stored_grid: true,
            ..View::default()
        })
        .unwrap();
    assert_eq!((r.picture.width(), r.picture.height()), (5, 6));
    let g = gray(&r.picture);
    assert_eq!(g[0], value(1, 0, nz - 1) as u8);
    assert_eq!(g[4], value(1, 4, nz - 1) as u8);
    assert_eq!(g[5 * 5], value(1, 0, 0) as u8);
    assert!(o
        .render(&View {
            index: nx,
            axis: Some(Axis::Sagittal),
            ..View::default()
        })
        .is_err());
}

#[test]
fn series_with_mixed_sizes_scrolls_but_does_not_reformat() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.dcm");
    let b = dir.path().join("b.dcm");
    std::fs::write(&a, image(2, 2, &[1, 2, 3, 4], |_| {})).unwrap();
    std::fs::write(&b, image(3, 2, &[1, 2, 3, 4, 5, 6], |_| {})).unwrap();
    let mut o = preview::open(&Source::Series { paths: vec![a, b] }).unwrap();
    assert!(o.info().axes.is_empty());
    assert!(o
        .render(&View {
            index: 1,
            ..View::default()
        })
        .is_ok());
    let e = o
        .render(&View {
            axis: Some(Axis::Axial),
            ..View::default()
        })
        .unwrap_err();
    assert!(matches!(e, PreviewError::Series(_)), "{e}");
}

#[test]
fn windows_presets_rescale_and_monochrome1() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ct.dcm");
    // Stored 0..=3000 with rescale -1024: HU -1024..1976. Two header windows.
    let px: Vec<u16> = (0..16).map(|i| i * 200).collect();
    std::fs::write(
        &p,
        image(4, 4, &px, |w| {
            w.ds(0x0028_1052, &[-1024.0])
                .ds(0x0028_1053, &[1.0])
                .ds(0x0028_1050, &[40.0, -600.0])
                .ds(0x0028_1051, &[400.0, 1500.0]);
        }),
    )
    .unwrap();
    let mut o = preview::open(&Source::Dicom { path: p.clone() }).unwrap();
    assert_eq!(o.info().windows.len(), 2);
    assert_eq!(o.info().units.as_deref(), Some("HU"));
    let r = o.render(&View::default()).unwrap();
    assert_eq!(r.window, Some((40.0, 400.0)));
    assert_eq!(r.value_range, (-1024.0, 1976.0));
    let r2 = o
        .render(&View {
            window: Window::Header(1),
            ..View::default()
        })
        .unwrap();
    assert_eq!(r2.window, Some((-600.0, 1500.0)));
    assert!(o
        .render(&View {
            window: Window::Header(2),
            ..View::default()
        })
        .is_err());
    let lung = o
        .render(&View {
            window: Window::Preset("lung".into()),
            ..View::default()
        })
        .unwrap();
    assert_eq!(lung.window, Some((-600.0, 1500.0)));
    assert_eq!(gray(&lung.picture), gray(&r2.picture));
    assert!(matches!(
        o.render(&View {
            window: Window::Preset("kidney".into()),
            ..View::default()
        }),
        Err(PreviewError::UnknownPreset(_))
    ));
    // HU 40 (stored 1064) is pixel (5 * 200 = 1000 → -24 HU) ... check the window math:
    // pixel 6 is stored 1200 = 176 HU: ((176 - 39.5) / 399 + 0.5) * 255 = 214.7 → 215.
    assert_eq!(gray(&r.picture)[6], 215);
    let inv = o
        .render(&View {
            invert: true,
            ..View::default()
        })
        .unwrap();
    assert_eq!(gray(&inv.picture)[6], 40);
    // Full range: min → 0, max → 255.
    let full = o
        .render(&View {
            window: Window::FullRange,
            ..View::default()
        })
        .unwrap();
    assert_eq!(gray(&full.picture)[0], 0);
    assert_eq!(gray(&full.picture)[15], 255);

    // MONOCHROME1: the same values come out inverted.
    let m1 = dir.path().join("m1.dcm");
    std::fs::write(
        &m1,
        image(1, 3, &[0, 128, 255], |w| {
            w.put(Element::str(0x0028_0004, "CS", "MONOCHROME1"));
        }),
    )
    .unwrap();
    let r = preview::render_once(
        &Source::Dicom { path: m1 },
        &View {
            window: IDENTITY,
            ..View::default()
        },
    )
    .unwrap();
    assert_eq!(gray(&r.picture), &[255, 127, 0]);
}

#[test]
fn segmented_palette_colours() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pal.dcm");
    // 256-entry 16-bit palettes: red ramps 0 → 65535 (linear segment), green discrete then
    // flat, blue an indirect copy of a linear segment.
    let seg = |words: &[u16]| -> Vec<u8> { words.iter().flat_map(|w| w.to_le_bytes()).collect() };
    let mut w = DicomWriter::new(CT_IMAGE_STORAGE, "1.2.3.5");
    w.put(Element::str(0x0008_0016, "UI", CT_IMAGE_STORAGE))
        .put(Element::us(0x0028_0002, &[1]))
        .put(Element::str(0x0028_0004, "CS", "PALETTE COLOR"))
        .put(Element::us(0x0028_0010, &[1]))
        .put(Element::us(0x0028_0011, &[4]))
        .put(Element::us(0x0028_0100, &[8]))
        .put(Element::us(0x0028_0101, &[8]))
        .put(Element::us(0x0028_0102, &[7]))
        .put(Element::us(0x0028_0103, &[0]));
    for (k, data) in [
        seg(&[0, 1, 0, 1, 255, 65535]),
        seg(&[0, 4, 65535, 0, 65535, 0, 1, 252, 0]),
        // Blue: a discrete 0, then an indirect copy of the linear segment at word 7 (the
        // segment itself follows and is expanded again, past the 256 entries).
        seg(&[0, 1, 0, 2, 1, 7, 0, 1, 255, 65535]),
    ]
    .iter()
    .enumerate()
    {
        w.put(Element::us(0x0028_1101 + k as u32, &[256, 0, 16]))
            .put(Element::bytes(0x0028_1221 + k as u32, "OW", data));
    }
    w.put(Element::bytes(0x7FE0_0010, "OB", &[0, 1, 255, 128]));
    std::fs::write(&p, w.finish()).unwrap();
    let r = preview::render_once(&Source::Dicom { path: p }, &View::default()).unwrap();
    let Picture::Rgb(rgb) = &r.picture else {
        panic!("palette image must be RGB")
    };
    let px: Vec<[u8; 3]> = rgb.pixels().map(|p| p.0).collect();
    assert_eq!(px[0], [0, 255, 0]);
    assert_eq!(px[1], [1, 0, 1]);
    assert_eq!(px[2], [255, 0, 255]);
    assert_eq!(px[3], [128, 0, 128]);
    assert!(r.window.is_none());
}

#[test]
fn one_frame_and_reduced_resolution() {
    let Some(dir) = corpus() else { return };
    // 30-frame JPEG: any frame decodes alone, past the end is an error.
    let mut o = preview::open(&Source::Dicom {
        path: dir.join("examples_ybr_color.dcm"),
    })
    .unwrap();
    assert_eq!(o.info().count, 30);
    assert!(o
        .render(&View {
            index: 29,
            ..View::default()
        })
        .is_ok());
    assert!(matches!(
        o.render(&View {
            index: 30,
            ..View::default()
        }),
        Err(PreviewError::OutOfRange { .. })
    ));
    // JPEG 2000 640x480 for a 160x120 pane: decoded at 1/4 resolution.
    let mut o = preview::open(&Source::Dicom {
        path: dir.join("examples_jpeg2k.dcm"),
    })
    .unwrap();
    let small = o
        .render(&View {
            max_size: Some((160, 120)),
            ..View::default()
        })
        .unwrap();
    assert_eq!(small.source_size, (160, 120));
    assert_eq!((small.picture.width(), small.picture.height()), (160, 120));
    let full = o.render(&View::default()).unwrap();
    assert_eq!(full.source_size, (640, 480));
    // The reduced picture looks like the downsampled full one.
    let down = o
        .render(&View {
            max_size: Some((161, 121)),
            ..View::default()
        })
        .unwrap();
    assert_eq!(down.source_size, (320, 240));
}

#[test]
fn orientation_labels_of_a_single_image() {
    let Some(dir) = corpus() else { return };
    let r = preview::render_once(
        &Source::Dicom {
            path: dir.join("CT_small.dcm"),
        },
        &View::default(),
    )
    .unwrap();
    assert_eq!(
        r.labels,
        [
            Some("A".into()),
            Some("L".into()),
            Some("P".into()),
            Some("R".into())
        ]
    );
}

/// Parses a sixel DCS: raster attributes and palette; returns (width, height, colours).
fn parse_sixel(s: &[u8]) -> (u32, u32, usize) {
    assert!(s.starts_with(b"\x1bP"), "DCS start");
    let q = s.iter().position(|&b| b == b'q').expect("q");
    assert!(
        s[2..q].iter().all(|b| b.is_ascii_digit() || *b == b';'),
        "DCS params"
    );
    assert!(s.ends_with(b"\x1b\\"), "ST at the end");
    let body = std::str::from_utf8(&s[q + 1..s.len() - 2]).expect("ASCII body");
    assert!(body.starts_with('"'), "raster attributes first");
    let ra: Vec<u32> = body[1..]
        .split(|c: char| !c.is_ascii_digit() && c != ';')
        .next()
        .unwrap()
        .split(';')
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(&ra[..2], &[1, 1], "square pixels");
    let mut colours = std::collections::HashSet::new();
    let mut rest = body;
    while let Some(i) = rest.find('#') {
        rest = &rest[i + 1..];
        let def: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ';')
            .collect();
        let parts: Vec<u32> = def
            .split(';')
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().unwrap())
            .collect();
        assert!(parts[0] < 256, "colour register {}", parts[0]);
        if parts.len() == 5 {
            assert_eq!(parts[1], 2, "RGB colour space");
            assert!(
                parts[2..].iter().all(|&v| v <= 100),
                "percent values {parts:?}"
            );
            colours.insert(parts[0]);
        }
    }
    (ra[2], ra[3], colours.len())
}

#[test]
fn sixel_output_is_well_formed() {
    let Some(dir) = corpus() else { return };
    for (name, size) in [
        ("CT_small.dcm", None),
        ("examples_rgb_color.dcm", Some((200, 100))),
    ] {
        let r = preview::render_once(
            &Source::Dicom {
                path: dir.join(name),
            },
            &View {
                max_size: size,
                ..View::default()
            },
        )
        .unwrap();
        let six = preview::encode_sixel(&r.picture.to_rgb()).unwrap();
        let (w, h, colours) = parse_sixel(&six);
        assert_eq!((w, h), (r.picture.width(), r.picture.height()), "{name}");
        assert!((2..=256).contains(&colours), "{name}: {colours} colours");
        // The sixel rows cover the height: one '-' per 6 rows (after the first band).
        let bands = six.iter().filter(|&&b| b == b'-').count() as u32;
        assert!(
            bands + 1 >= h.div_ceil(6) && bands <= h.div_ceil(6),
            "{name}: {bands} bands"
        );
    }
}

fn no_panic_render(path: &Path) -> Result<(), PreviewError> {
    let mut o = preview::open(&Source::Dicom {
        path: path.to_path_buf(),
    })?;
    let n = o.info().count;
    for index in [0, n.saturating_sub(1)] {
        o.render(&View {
            index,
            max_size: Some((64, 64)),
            ..View::default()
        })?;
    }
    Ok(())
}

#[test]
fn broken_files_give_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: Vec<u8>| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let px: Vec<u16> = vec![7; 16];
    // Pixel data shorter than rows x columns.
    let mut short = image(4, 4, &px, |_| {});
    short.truncate(short.len() - 10);
    let e = no_panic_render(&write("short.dcm", short)).unwrap_err();
    assert!(matches!(e, PreviewError::Truncated { .. }), "{e}");
    // Absurd sizes are refused before allocating.
    let huge = image(4, 4, &px, |w| {
        w.put(Element::us(0x0028_0010, &[65535]))
            .put(Element::us(0x0028_0011, &[65535]));
    });
    let e = no_panic_render(&write("huge.dcm", huge)).unwrap_err();
    assert!(matches!(e, PreviewError::TooLarge { .. }), "{e}");
    let frames = image(4, 4, &px, |w| {
        w.put(Element::str(0x0028_0008, "IS", "999999999"));
    });
    assert!(no_panic_render(&write("frames.dcm", frames)).is_err());
    let bits = image(4, 4, &px, |w| {
        w.put(Element::us(0x0028_0100, &[12]));
    });
    let e = no_panic_render(&write("bits.dcm", bits)).unwrap_err();
    assert!(matches!(e, PreviewError::Unsupported { .. }), "{e}");
    let pm = image(4, 4, &px, |w| {
        w.put(Element::str(0x0028_0004, "CS", "RGB"));
    });
    assert!(no_panic_render(&write("pm.dcm", pm)).is_err());
    let ts = image(4, 4, &px, |w| {
        w.transfer_syntax("1.2.840.10008.1.2.4.100");
    });
    assert!(no_panic_render(&write("ts.dcm", ts)).is_err());
    // Error messages carry no patient data: the corpus SR names a patient.
    if let Some(c) = corpus() {
        for (name, kind) in [
            ("MR_truncated.dcm", "truncated"),
            ("rtplan.dcm", "no pixel data"),
            ("test-SR.dcm", "no pixel data"),
            ("waveform_ecg.dcm", "no pixel data"),
        ] {
            let e = no_panic_render(&c.join(name)).unwrap_err().to_string();
            assert!(e.contains(kind), "{name}: {e}");
            let h =
                dicura::formats::dicom::read_header(&c.join(name), &Default::default()).unwrap();
            for tag in [0x0010_0010u32, 0x0010_0020] {
                if let Some(v) = h.str(tag).filter(|v| v.len() > 2) {
                    assert!(!e.contains(v), "{name}: PHI in error");
                }
            }
        }
    }
}

#[test]
fn corrupted_corpus_files_never_panic() {
    let Some(c) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let files = [
        "CT_small.dcm",
        "MR_small_RLE.dcm",
        "JPEG-lossy.dcm",
        "SC_rgb_jpeg_gdcm.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_jp2klossless.dcm",
        "image_dfl.dcm",
        "SC_rgb_rle_2frame.dcm",
        "examples_palette.dcm",
    ];
    let mut errors = 0;
    let mut runs = 0;
    for name in files {
        let orig = std::fs::read(c.join(name)).unwrap();
        let p = dir.path().join(name);
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        // Truncations at many lengths, and random byte changes in the second half.
        let mut variants: Vec<Vec<u8>> = (1..20)
            .map(|k| orig[..orig.len() * k / 20].to_vec())
            .collect();
        for _ in 0..20 {
            let mut v = orig.clone();
            for _ in 0..8 {
                let i = orig.len() / 2 + (next() as usize) % (orig.len() / 2);
                v[i] = next() as u8;
            }
            variants.push(v);
        }
        for v in variants {
            std::fs::write(&p, &v).unwrap();
            runs += 1;
            if no_panic_render(&p).is_err() {
                errors += 1;
            }
        }
    }
    // Most truncations must be reported (a truncated pixel data is never a picture).
    assert!(errors >= files.len() * 15, "{errors} errors in {runs} runs");
}

#[test]
fn native_frames_are_averaged_while_decoding_for_small_panes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.dcm");
    // 64x64 of 4x4 blocks with distinct values; a 16x16 pane averages each block exactly.
    let block = |x: usize, y: usize| ((y / 4) * 16 + x / 4) as u16;
    let px: Vec<u16> = (0..64 * 64).map(|i| block(i % 64, i / 64)).collect();
    std::fs::write(&p, image(64, 64, &px, |_| {})).unwrap();
    let mut o = preview::open(&Source::Dicom { path: p }).unwrap();
    let small = o
        .render(&View {
            window: IDENTITY,
            max_size: Some((16, 16)),
            ..View::default()
        })
        .unwrap();
    assert_eq!(small.source_size, (16, 16), "decoded at 1/4 resolution");
    let g = gray(&small.picture);
    for by in 0..16 {
        for bx in 0..16 {
            assert_eq!(g[by * 16 + bx] as u16, block(bx * 4, by * 4));
        }
    }
    // Native size: no reduction.
    let full = o.render(&View::default()).unwrap();
    assert_eq!(full.source_size, (64, 64));
}

#[test]
fn one_bit_and_planar_rgb() {
    let dir = tempfile::tempdir().unwrap();
    let base = |w: &mut DicomWriter, rows: u16, cols: u16| {
        w.put(Element::str(0x0008_0016, "UI", CT_IMAGE_STORAGE))
            .put(Element::us(0x0028_0010, &[rows]))
            .put(Element::us(0x0028_0011, &[cols]))
            .put(Element::us(0x0028_0103, &[0]));
    };
    // 1-bit: 8x2, bits little-endian within each byte (PS3.5 8.1.1).
    let mut w = DicomWriter::new(CT_IMAGE_STORAGE, "1.2.3.6");
    base(&mut w, 2, 8);
    w.put(Element::us(0x0028_0002, &[1]))
        .put(Element::str(0x0028_0004, "CS", "MONOCHROME2"))
        .put(Element::us(0x0028_0100, &[1]))
        .put(Element::us(0x0028_0101, &[1]))
        .put(Element::us(0x0028_0102, &[0]))
        .put(Element::bytes(0x7FE0_0010, "OB", &[0b0000_0101, 0xFF]));
    let p = dir.path().join("bit.dcm");
    std::fs::write(&p, w.finish()).unwrap();
    let r = preview::render_once(&Source::Dicom { path: p }, &View::default()).unwrap();
    assert_eq!(
        gray(&r.picture),
        &[255, 0, 255, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255]
    );
    // Planar configuration 1: RRGGBB.
    let mut w = DicomWriter::new(CT_IMAGE_STORAGE, "1.2.3.7");
    base(&mut w, 1, 2);
    w.put(Element::us(0x0028_0002, &[3]))
        .put(Element::str(0x0028_0004, "CS", "RGB"))
        .put(Element::us(0x0028_0006, &[1]))
        .put(Element::us(0x0028_0100, &[8]))
        .put(Element::us(0x0028_0101, &[8]))
        .put(Element::us(0x0028_0102, &[7]))
        .put(Element::bytes(0x7FE0_0010, "OB", &[10, 20, 30, 40, 50, 60]));
    let p = dir.path().join("planar.dcm");
    std::fs::write(&p, w.finish()).unwrap();
    let r = preview::render_once(&Source::Dicom { path: p }, &View::default()).unwrap();
    let Picture::Rgb(rgb) = &r.picture else {
        panic!("colour")
    };
    assert_eq!(rgb.as_raw(), &[10, 30, 50, 20, 40, 60]);
}
