//! Header decoding checked against the real corpus files, an independent reader (the `nifti`
//! crate, NIfTI-1 only) and values nibabel 5.4.2 reported for the same files.

use std::io::Read;
use std::path::{Path, PathBuf};

use dicura::formats::nifti::{
    parse_header, read_header, sniff, ByteOrder, VolumeError, VolumeFormat, VolumeHeader,
};

/// The corpus lives outside the repo; when CI=true a missing corpus is a failure, not a skip.
fn corpus() -> Option<PathBuf> {
    let base = match std::env::var_os("DICURA_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    let dir = base.join("nifti");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "NIfTI corpus not found at {} but CI=true",
        dir.display()
    );
    eprintln!("skipping: NIfTI corpus not found at {}", dir.display());
    None
}

const ALL: [&str; 9] = [
    "analyze.hdr",
    "anatomical.nii",
    "functional.nii",
    "example4d.nii.gz",
    "example_nifti2.nii.gz",
    "nifti1.hdr",
    "nifti2.hdr",
    "row_major.dconn.nii",
    "standard.nii.gz",
];

/// Whole (decompressed) file contents.
fn raw(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        bytes
    }
}

fn hdr(dir: &Path, name: &str) -> VolumeHeader {
    read_header(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 * (1.0 + b.abs())
}

#[test]
fn formats_byte_orders_and_sniff() {
    let Some(dir) = corpus() else { return };
    let expect = [
        ("analyze.hdr", VolumeFormat::Analyze75, ByteOrder::Big, ""),
        (
            "anatomical.nii",
            VolumeFormat::Nifti1,
            ByteOrder::Big,
            "n+1",
        ),
        (
            "functional.nii",
            VolumeFormat::Nifti1,
            ByteOrder::Little,
            "n+1",
        ),
        (
            "example4d.nii.gz",
            VolumeFormat::Nifti1,
            ByteOrder::Little,
            "n+1",
        ),
        (
            "example_nifti2.nii.gz",
            VolumeFormat::Nifti2,
            ByteOrder::Little,
            "n+2",
        ),
        ("nifti1.hdr", VolumeFormat::Nifti1, ByteOrder::Little, "ni1"),
        ("nifti2.hdr", VolumeFormat::Nifti2, ByteOrder::Little, "ni2"),
        (
            "row_major.dconn.nii",
            VolumeFormat::Nifti2,
            ByteOrder::Little,
            "n+2",
        ),
        (
            "standard.nii.gz",
            VolumeFormat::Nifti1,
            ByteOrder::Little,
            "n+1",
        ),
    ];
    for (name, format, order, magic) in expect {
        let h = hdr(&dir, name);
        assert_eq!(h.format, format, "{name}");
        assert_eq!(h.byte_order, order, "{name}");
        assert_eq!(h.magic, magic, "{name}");
        assert_eq!(h.gzipped, name.ends_with(".gz"), "{name}");
        assert_eq!(h.single_file, magic.starts_with("n+"), "{name}");
        let bytes = raw(&dir.join(name));
        let head = &bytes[..bytes.len().min(548)];
        assert_eq!(
            sniff(head, name.ends_with(".hdr")),
            Some((format, order)),
            "{name}"
        );
        // The pure parser over the decompressed bytes agrees with the file reader.
        let p = parse_header(&bytes, h.gzipped).unwrap();
        assert_eq!(format!("{p:?}"), format!("{h:?}"), "{name}");
    }
    // Analyze is only claimed for .hdr names.
    let a = raw(&dir.join("analyze.hdr"));
    assert_eq!(sniff(&a, false), None);
}

/// dims, datatype, bitpix and pixdim agree with the independent `nifti` crate (NIfTI-1 only).
#[test]
fn nifti1_matches_nifti_crate() {
    let Some(dir) = corpus() else { return };
    for name in [
        "anatomical.nii",
        "functional.nii",
        "example4d.nii.gz",
        "nifti1.hdr",
        "standard.nii.gz",
    ] {
        let ours = hdr(&dir, name);
        let theirs = nifti::NiftiHeader::from_file(dir.join(name)).unwrap();
        let their_dim: Vec<i64> = theirs.dim.iter().map(|&d| i64::from(d)).collect();
        assert_eq!(ours.dim.to_vec(), their_dim, "{name} dim");
        assert_eq!(ours.datatype, theirs.datatype, "{name} datatype");
        assert_eq!(ours.bitpix, theirs.bitpix, "{name} bitpix");
        for i in 0..8 {
            assert_eq!(
                ours.pixdim[i],
                f64::from(theirs.pixdim[i]),
                "{name} pixdim[{i}]"
            );
        }
        assert_eq!(ours.vox_offset, f64::from(theirs.vox_offset), "{name}");
        assert_eq!(ours.scl_slope, f64::from(theirs.scl_slope), "{name}");
        assert_eq!(ours.scl_inter, f64::from(theirs.scl_inter), "{name}");
        assert_eq!(ours.qform_code, theirs.qform_code, "{name}");
        assert_eq!(ours.sform_code, theirs.sform_code, "{name}");
        assert_eq!(ours.xyzt_units, theirs.xyzt_units, "{name}");
        assert_eq!(ours.dim_info, theirs.dim_info, "{name}");
        let big = matches!(theirs.endianness, nifti::Endianness::Big);
        assert_eq!(ours.byte_order == ByteOrder::Big, big, "{name}");
    }
}

/// Hand-decoded from the raw bytes (xxd) and cross-checked with nibabel 5.4.2.
#[test]
fn nifti2_pair_header_fields() {
    let Some(dir) = corpus() else { return };
    let h = hdr(&dir, "nifti2.hdr");
    assert_eq!(h.sizeof_hdr, 540);
    assert_eq!(h.dim, [3, 91, 109, 91, 1, 1, 1, 1]);
    assert_eq!((h.datatype, h.bitpix), (4, 16));
    assert_eq!(h.datatype_name(), "INT16");
    assert_eq!(h.pixdim, [-1.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0]);
    assert_eq!(h.vox_offset, 544.0);
    assert_eq!(h.cal_max, 9968.0);
    assert_eq!(h.descrip, "FSL4.0");
    assert_eq!((h.qform_code, h.sform_code), (4, 4));
    assert_eq!(VolumeHeader::xform_name(h.sform_code), "mni_152");
    assert_eq!((h.quatern_b, h.quatern_c, h.quatern_d), (0.0, 1.0, 0.0));
    assert_eq!(
        (h.qoffset_x, h.qoffset_y, h.qoffset_z),
        (90.0, -126.0, -72.0)
    );
    assert_eq!(h.srow_x, [-2.0, 0.0, 0.0, 90.0]);
    assert_eq!(h.srow_y, [0.0, 2.0, 0.0, -126.0]);
    assert_eq!(h.srow_z, [0.0, 0.0, 2.0, -72.0]);
    assert_eq!(h.xyzt_units, 10);
    assert_eq!((h.space_units(), h.time_units()), ("mm", "sec"));
    assert_eq!((h.glmax, h.glmin), (0, 0));
    assert!(h.extensions.is_empty());
    assert!(h.warnings.is_empty(), "{:?}", h.warnings);
    assert_eq!(h.voxel_count(), Some(91 * 109 * 91));
    assert_eq!(h.expected_data_bytes(), Some(91 * 109 * 91 * 2));
    let hp = dir.join("nifti2.hdr");
    assert_eq!(h.data_path(&hp), dir.join("nifti2.img"));
    // Same geometry as its NIfTI-1 twin.
    let h1 = hdr(&dir, "nifti1.hdr");
    assert_eq!(h.dim, h1.dim);
    assert_eq!(h.pixdim, h1.pixdim);
    assert_eq!(h.srow_x, h1.srow_x);
    assert_eq!(h1.vox_offset, 0.0);
    assert_eq!(
        h1.data_path(&dir.join("nifti1.hdr")),
        dir.join("nifti1.img")
    );
}

#[test]
fn nifti2_single_file_and_cifti() {
    let Some(dir) = corpus() else { return };
    let h = hdr(&dir, "example_nifti2.nii.gz");
    assert_eq!(h.dim, [4, 32, 20, 12, 2, 1, 1, 1]);
    assert_eq!((h.datatype, h.bitpix), (4, 16));
    assert_eq!(h.vox_offset, 608.0);
    assert_eq!(h.dim_info, 57);
    // slice_end 23 > dim[3] 12: the file was cut down from example4d without fixing it.
    assert_eq!((h.slice_start, h.slice_end), (0, 23));
    assert!(
        h.warnings.iter().any(|w| w.contains("slice_end 23")),
        "{:?}",
        h.warnings
    );
    assert!(hdr(&dir, "example4d.nii.gz").warnings.is_empty());
    assert!(close(h.pixdim[3], 2.19999909));
    assert_eq!(h.pixdim[4], 2000.0);
    assert_eq!(h.descrip, "FSL3.3");
    assert_eq!(h.extensions.len(), 2);
    for e in &h.extensions {
        assert_eq!((e.code, e.size, e.kind), (6, 32, "comment"));
    }
    assert_eq!(h.extensions[0].offset, 544);
    assert_eq!(h.extensions[1].offset, 576);
    assert_eq!(h.extensions[0].summary, "extcomment1");
    let p = dir.join("example_nifti2.nii.gz");
    assert_eq!(h.data_path(&p), p);

    let c = hdr(&dir, "row_major.dconn.nii");
    assert_eq!(c.dim, [6, 1, 1, 1, 1, 10, 10, 1]);
    assert_eq!((c.datatype, c.bitpix), (16, 32));
    assert_eq!(c.datatype_name(), "FLOAT32");
    assert_eq!(c.vox_offset, 1488.0);
    assert_eq!(c.intent_code, 3001);
    assert_eq!(c.intent_name, "ConnDense");
    assert_eq!(c.intent_name_of_code(), "connectivity dense");
    assert_eq!(c.extensions.len(), 1);
    let e = &c.extensions[0];
    assert_eq!((e.code, e.size, e.kind, e.offset), (32, 944, "cifti", 544));
    assert!(
        e.summary.starts_with("<?xml version=\"1.0\" ?> <CIFTI"),
        "{}",
        e.summary
    );
    assert_eq!(c.voxel_count(), Some(100));
    assert_eq!(c.expected_data_bytes(), Some(400));
    assert_eq!(
        1488 + 400,
        std::fs::metadata(dir.join("row_major.dconn.nii"))
            .unwrap()
            .len()
    );
    assert_eq!((c.qform_code, c.sform_code), (0, 0));
    assert_eq!(c.orientation(), None);
}

#[test]
fn analyze_fields() {
    let Some(dir) = corpus() else { return };
    let h = hdr(&dir, "analyze.hdr");
    assert_eq!(h.sizeof_hdr, 348);
    assert_eq!(h.dim, [4, 91, 109, 91, 1, 0, 0, 0]);
    assert_eq!((h.datatype, h.bitpix), (2, 8));
    assert_eq!(h.pixdim, [0.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(h.vox_offset, 0.0);
    assert_eq!((h.glmax, h.glmin), (255, 0));
    assert_eq!(h.descrip, "ICBM AVG 152 T1 TAL LIN");
    assert_eq!(h.aux_file, "none");
    assert_eq!(h.data_type_text, "dsr");
    assert_eq!(h.db_name, "T1.hdr");
    assert_eq!(h.vox_units, "mm");
    // NIfTI-only fields are not invented from Analyze's unrelated bytes (funused1 = 1715.04
    // here, SPM's originator sits where qform_code would be).
    assert_eq!(
        (h.qform_code, h.sform_code, h.scl_slope, h.xyzt_units),
        (0, 0, 0.0, 0)
    );
    assert!(h.intent_name.is_empty());
    assert_eq!(h.voxel_count(), Some(91 * 109 * 91));
    assert_eq!(
        h.data_path(&dir.join("analyze.hdr")),
        dir.join("analyze.img")
    );
    assert!(h.extensions.is_empty());
}

/// nibabel 5.4.2 `aff2axcodes(img.header.get_best_affine())` gave LAS for all coded files
/// and RAS for standard.nii.gz. For analyze.hdr and row_major.dconn.nii nibabel invents a
/// default LAS affine from pixdim; we deliberately answer None (no coded transform).
#[test]
fn orientation_matches_nibabel() {
    let Some(dir) = corpus() else { return };
    let expect = [
        ("analyze.hdr", None),
        ("anatomical.nii", Some("LAS")),
        ("functional.nii", Some("LAS")),
        ("example4d.nii.gz", Some("LAS")),
        ("example_nifti2.nii.gz", Some("LAS")),
        ("nifti1.hdr", Some("LAS")),
        ("nifti2.hdr", Some("LAS")),
        ("row_major.dconn.nii", None),
        ("standard.nii.gz", Some("RAS")),
    ];
    for (name, want) in expect {
        assert_eq!(hdr(&dir, name).orientation().as_deref(), want, "{name}");
    }
}

/// qform/sform matrices against nibabel 5.4.2 `get_qform()` / `get_sform()`.
#[test]
fn affines_match_nibabel() {
    let Some(dir) = corpus() else { return };
    let h = hdr(&dir, "example4d.nii.gz");
    let s = h.sform_matrix().unwrap();
    let want_s = [
        [-2.0, 0.0, 0.0, 117.85510254],
        [0.0, 1.97371149, -0.35552824, -35.72294235],
        [0.0, 0.32320762, 2.17108178, -7.24879837],
        [0.0, 0.0, 0.0, 1.0],
    ];
    // nibabel's qform (computed in float32 for NIfTI-1, so a = 0 exactly as nifti1_io's
    // a^2 < 1e-7 rule gives).
    let want_q = [
        [-2.0, 0.0, 0.0, 117.85510254],
        [0.0, 1.97371144, -0.35552823, -35.72294235],
        [0.0, 0.32320761, 2.17108169, -7.24879837],
        [0.0, 0.0, 0.0, 1.0],
    ];
    let q = h.qform_matrix().unwrap();
    for i in 0..4 {
        for j in 0..4 {
            assert!(close(s[i][j], want_s[i][j]), "sform[{i}][{j}] {}", s[i][j]);
            assert!(close(q[i][j], want_q[i][j]), "qform[{i}][{j}] {}", q[i][j]);
        }
    }
    let a = hdr(&dir, "anatomical.nii").qform_matrix().unwrap();
    assert_eq!(
        a,
        [
            [-2.0, 0.0, 0.0, 32.0],
            [0.0, 2.0, 0.0, -40.0],
            [0.0, 0.0, 2.0, -16.0],
            [0.0, 0.0, 0.0, 1.0]
        ]
    );
    let st = hdr(&dir, "standard.nii.gz");
    assert_eq!(st.qform_matrix(), None); // qform_code 0
    assert_eq!(st.sform_matrix().unwrap()[1][1], 3.0);
}

#[test]
fn functional_scaling_and_units() {
    let Some(dir) = corpus() else { return };
    let h = hdr(&dir, "functional.nii");
    // values from nibabel 5.4.2
    assert!(close(h.scl_slope, 0.07540697));
    assert!(close(h.scl_inter, 3100.7617));
    assert!(close(h.cal_max, 5571.6216));
    assert!(close(h.cal_min, 629.8262));
    assert_eq!(h.descrip, "spm - 3D normalized");
    assert_eq!(h.ndim(), 4);
    assert_eq!(h.voxel_count(), Some(17 * 21 * 3 * 20));
    let len = std::fs::metadata(dir.join("functional.nii")).unwrap().len();
    assert_eq!(h.expected_data_bytes().unwrap() + 352, len);
    assert_eq!(h.time_units(), "sec");
    assert_eq!(VolumeHeader::xform_name(h.qform_code), "aligned_anat");
}

/// Every corpus header cut to every length 0..560 is an error or a header, never a panic;
/// below the fixed header size it is always `Truncated`.
#[test]
fn corpus_truncations_never_panic() {
    let Some(dir) = corpus() else { return };
    for name in ALL {
        let bytes = raw(&dir.join(name));
        let size = if hdr(&dir, name).format == VolumeFormat::Nifti2 {
            540
        } else {
            348
        };
        for len in 0..560.min(bytes.len() + 1) {
            match parse_header(&bytes[..len], false) {
                Err(VolumeError::Truncated { needed, got }) => {
                    assert!(len < size, "{name} len {len}");
                    assert_eq!(got, len);
                    assert!(needed > got);
                }
                Ok(_) => assert!(len >= size, "{name} len {len}"),
                Err(e) => panic!("{name} len {len}: unexpected {e}"),
            }
        }
    }
}

/// Corpus headers with hostile edits, written to disk so the file reader (with seeking and
/// gzip) is exercised too.
#[test]
fn hostile_edits_of_real_files() {
    use std::io::Write;
    let Some(dir) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut n = 0;
    for name in ALL {
        let orig = raw(&dir.join(name));
        let h = hdr(&dir, name);
        let big = h.byte_order == ByteOrder::Big;
        let n2 = h.format == VolumeFormat::Nifti2;
        let put = |b: &mut Vec<u8>, off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        let i32b = |v: i32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut variants: Vec<Vec<u8>> = Vec::new();
        // huge extension size right after the extender
        let hs = if n2 { 540 } else { 348 };
        let mut v = orig.clone();
        if v.len() < hs + 16 {
            v.resize(hs + 16, 0);
        }
        v[hs] = 1;
        put(&mut v, hs + 4, &i32b(i32::MAX));
        variants.push(v.clone());
        put(&mut v, hs + 4, &i32b(i32::MIN));
        variants.push(v);
        // dim[0] = 200, negative dims, NaN pixdim, huge vox_offset
        let mut v = orig.clone();
        if n2 {
            let i64b = |x: i64| {
                if big {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                }
            };
            put(&mut v, 16, &i64b(200));
            put(&mut v, 24, &i64b(-5));
            put(&mut v, 104 + 8, &f64::NAN.to_le_bytes());
            put(&mut v, 168, &i64b(i64::MAX));
        } else {
            let i16b = |x: i16| {
                if big {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                }
            };
            let f32b = |x: f32| {
                if big {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                }
            };
            put(&mut v, 40, &i16b(200));
            put(&mut v, 42, &i16b(-5));
            put(&mut v, 80, &f32b(f32::NAN));
            put(&mut v, 108, &f32b(3.0e38));
        }
        variants.push(v);
        for v in variants {
            let p = parse_header(&v, false);
            if let Ok(h) = &p {
                let _ = (h.voxel_count(), h.expected_data_bytes(), h.orientation());
                let _ = serde_json::to_string(h).unwrap();
            }
            for gz in [false, true] {
                n += 1;
                let path = tmp
                    .path()
                    .join(format!("v{n}.nii{}", if gz { ".gz" } else { "" }));
                if gz {
                    let mut e = flate2::write::GzEncoder::new(
                        std::fs::File::create(&path).unwrap(),
                        flate2::Compression::fast(),
                    );
                    e.write_all(&v).unwrap();
                    e.finish().unwrap();
                } else {
                    std::fs::write(&path, &v).unwrap();
                }
                let r = read_header(&path);
                assert_eq!(r.is_ok(), p.is_ok(), "{name} variant {n}: {r:?}");
                if let Ok(h) = r {
                    assert!(h.extensions.len() <= 1000);
                }
            }
        }
    }
}

#[test]
fn not_a_volume_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("notes.nii");
    std::fs::write(&p, vec![b'a'; 1000]).unwrap();
    let e = read_header(&p).unwrap_err();
    assert!(matches!(e, VolumeError::NotAVolume(_)), "{e}");
    assert!(e.to_string().contains("sizeof_hdr"), "{e}");
}
