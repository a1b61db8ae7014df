//! Planted defects are each found exactly once; the clean fixtures have no finding; exit codes,
//! acknowledgements and incremental recomputation behave as documented.

mod common;

use common::{dicura, scan_json};
use std::collections::BTreeMap;
use std::path::Path;

fn check(db: &Path, extra: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let out = dicura()
        .args([
            "check",
            "--db",
            &db.display().to_string(),
            "--format",
            "jsonl",
        ])
        .args(extra)
        .output()
        .expect("spawn dicura");
    let rows = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("jsonl"))
        .collect();
    (out.status.code().unwrap_or(-1), rows)
}

fn codes(rows: &[serde_json::Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(r["code"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    m
}

#[test]
fn clean_fixtures_have_no_findings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("c.db");
    for dir in ["dicom", "nifti", "analyze"] {
        scan_json(&root.join(dir), &db, &[]);
    }
    let (code, rows) = check(&db, &["--deep", "--fail-on", "warning"]);
    assert!(rows.is_empty(), "{rows:#?}");
    assert_eq!(code, 0);
}

#[test]
fn planted_defects_are_found_exactly_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let planted = dicura::synth::write_defects(&data).expect("write defects");
    let db = tmp.path().join("c.db");
    scan_json(&data, &db, &[]);
    let (code, rows) = check(&db, &[]);
    assert_eq!(code, 1, "errors exist, so exit status 1");
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    for p in &planted {
        *expected.entry(p.code.to_string()).or_default() += p.findings;
    }
    assert_eq!(codes(&rows), expected, "{rows:#?}");
    // Each finding is where the defect was planted.
    let root = std::fs::canonicalize(&data).expect("canonical");
    for p in &planted {
        let at = root.join(&p.path);
        let hits = rows
            .iter()
            .filter(|r| r["code"] == p.code)
            .filter(|r| {
                r["path"]
                    .as_str()
                    .is_some_and(|x| Path::new(x).starts_with(&at))
            })
            .count();
        // Study findings name the study, not a path.
        if !matches!(
            p.code,
            "duplicate.study_uid_collision" | "study.patient_name_mismatch"
        ) {
            assert!(hits >= 1, "{} not found at {}", p.code, p.path);
        }
    }
    // Duplicate sets: every member carries one group id, one id per set.
    for code in [
        "duplicate.identical_files",
        "duplicate.uid_conflict",
        "duplicate.pixel_copy",
        "duplicate.volume_data",
    ] {
        let groups: std::collections::BTreeSet<&str> = rows
            .iter()
            .filter(|r| r["code"] == code)
            .filter_map(|r| r["group"].as_str())
            .collect();
        assert_eq!(groups.len(), 1, "{code}: {groups:?}");
    }
    // Findings carry tag/keyword where they apply, and never PHI values.
    let t1 = rows
        .iter()
        .find(|r| r["code"] == "dicom.type1.missing")
        .expect("type1");
    assert_eq!(t1["tag"], "0028,1053");
    assert_eq!(t1["keyword"], "RescaleSlope");
    for r in &rows {
        let m = r["message"].as_str().unwrap_or("");
        assert!(
            !m.contains("OTHER^NAME") && !m.contains("PAT0000"),
            "PHI in {m}"
        );
    }
}

#[test]
fn acknowledgements_survive_rescans_and_gate_the_exit_status() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    dicura::synth::write_defects(&data).expect("write defects");
    // Keep only the gap series: its findings are warnings.
    for e in std::fs::read_dir(data.join("dicom"))
        .expect("dir")
        .flatten()
    {
        if e.file_name() != "gap" {
            std::fs::remove_dir_all(e.path()).expect("rm");
        }
    }
    std::fs::remove_dir_all(data.join("nifti")).expect("rm");
    let db = tmp.path().join("c.db");
    scan_json(&data, &db, &[]);
    let (code, rows) = check(&db, &[]);
    assert_eq!(code, 0, "only warnings: --fail-on error passes");
    assert_eq!(codes(&rows).get("series.slice.gap"), Some(&1));
    let (code, _) = check(&db, &["--fail-on", "warning"]);
    assert_eq!(code, 1);
    let series = rows
        .iter()
        .find(|r| r["code"] == "series.slice.gap")
        .and_then(|r| r["series_uid"].as_str())
        .expect("series uid")
        .to_string();
    for c in ["series.slice.gap", "series.instance.gap"] {
        let out = dicura()
            .args([
                "ack",
                c,
                "--series",
                &series,
                "--reason",
                "slice 4 was never acquired",
            ])
            .args(["--db", &db.display().to_string()])
            .output()
            .expect("ack");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (code, rows) = check(&db, &["--fail-on", "warning"]);
    assert_eq!(code, 0, "acknowledged findings do not fail");
    assert!(rows.iter().all(|r| r["acknowledged"] == true));
    // Touch the series: it is re-checked, and the acknowledgement still applies.
    let f = data.join("dicom/gap/IM00001.dcm");
    let bytes = std::fs::read(&f).expect("read");
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&f, bytes).expect("rewrite");
    let summary = scan_json(&data, &db, &[]);
    assert_eq!(summary["changed"], 1);
    let (_, rows) = check(&db, &[]);
    let gap = rows
        .iter()
        .find(|r| r["code"] == "series.slice.gap")
        .expect("still found");
    assert_eq!(gap["acknowledged"], true);
    assert_eq!(gap["ack_reason"], "slice 4 was never acquired");
    // Filling the gap removes the finding (incremental recomputation of the touched series).
    let p = dicura::synth::Patient::synthetic(4_040_404, 0);
    let st = dicura::synth::Study::synthetic(4_040_404, 0, 0);
    let mut se = dicura::synth::Series::synthetic(4_040_404, 0, &st, 0, 16, 16, 8);
    se.modality = dicura::synth::Modality::Ct;
    se.slice_thickness = 2.5;
    std::fs::write(
        data.join("dicom/gap/IM00004.dcm"),
        dicura::synth::slice_writer(&p, &st, &se, 3).finish(),
    )
    .expect("write");
    scan_json(&data, &db, &[]);
    let (_, rows) = check(&db, &[]);
    assert!(
        rows.iter().all(|r| r["code"] != "series.slice.gap"),
        "{rows:#?}"
    );
    // Usage errors are status 2.
    let out = dicura()
        .args([
            "ack",
            "no.such.rule",
            "--series",
            "1",
            "--reason",
            "x",
            "--db",
        ])
        .arg(&db)
        .output()
        .expect("ack");
    assert_eq!(out.status.code(), Some(2));
    let out = dicura()
        .args(["check", "--db"])
        .arg(tmp.path().join("missing.db"))
        .output()
        .expect("check");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn protocol_deviations() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dicom");
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("c.db");
    scan_json(&root, &db, &[]);
    let proto = tmp.path().join("protocol.toml");
    std::fs::write(
        &proto,
        "modalities = [\"CT\"]\n[modality.CT]\nmin_matrix = 512\nslice_thickness = [0.5, 1.0]\n",
    )
    .expect("write");
    let (code, rows) = check(&db, &["--protocol", &proto.display().to_string()]);
    assert_eq!(code, 0, "protocol deviations are warnings");
    let c = codes(&rows);
    // 2 MR series are unexpected; the 3 CT series have a 32x32 matrix; CT thickness is >= 1.25.
    assert_eq!(c.get("protocol.modality"), Some(&2), "{rows:#?}");
    assert_eq!(c.get("protocol.matrix"), Some(&3));
    assert_eq!(c.get("protocol.slice_thickness"), Some(&3));
    // Without the protocol, its findings go away.
    let (_, rows) = check(&db, &[]);
    assert!(rows.is_empty());
    std::fs::write(&proto, "slice_thicknes = [1, 2]\n").expect("write");
    let (code, _) = check(&db, &["--protocol", &proto.display().to_string()]);
    assert_eq!(code, 2, "a protocol with an unknown key is a usage error");
}

/// A 16×16 8-bit secondary capture whose pixel data is `pixels`, native or RLE-compressed
/// (one PackBits segment, encapsulated in one fragment).
fn sc_image(sop: &str, pixels: &[u8], rle: bool) -> Vec<u8> {
    use dicura::synth::{DicomWriter, Element};
    const SC: &str = "1.2.840.10008.5.1.4.1.1.7";
    let mut w = DicomWriter::new(SC, sop);
    if rle {
        w.transfer_syntax("1.2.840.10008.1.2.5");
    }
    w.put(Element::str(0x0008_0016, "UI", SC))
        .put(Element::str(0x0008_0018, "UI", sop))
        .put(Element::str(0x0008_0060, "CS", "OT"))
        .put(Element::str(
            0x0020_000D,
            "UI",
            "1.2.826.0.1.3680043.10.77.1",
        ))
        .put(Element::str(
            0x0020_000E,
            "UI",
            "1.2.826.0.1.3680043.10.77.2",
        ))
        .put(Element::us(0x0028_0002, &[1]))
        .put(Element::str(0x0028_0004, "CS", "MONOCHROME2"))
        .put(Element::us(0x0028_0010, &[16]))
        .put(Element::us(0x0028_0011, &[16]))
        .put(Element::us(0x0028_0100, &[8]))
        .put(Element::us(0x0028_0101, &[8]))
        .put(Element::us(0x0028_0102, &[7]))
        .put(Element::us(0x0028_0103, &[0]));
    if !rle {
        w.pixel_data_native(pixels);
        return w.finish();
    }
    // PackBits: literal runs of up to 128 bytes.
    let mut segment = Vec::new();
    for chunk in pixels.chunks(128) {
        segment.push((chunk.len() - 1) as u8);
        segment.extend_from_slice(chunk);
    }
    let mut fragment = vec![0u8; 64];
    fragment[0..4].copy_from_slice(&1u32.to_le_bytes());
    fragment[4..8].copy_from_slice(&64u32.to_le_bytes());
    fragment.extend_from_slice(&segment);
    if fragment.len() % 2 == 1 {
        fragment.push(0);
    }
    let mut out = w.finish();
    out.extend_from_slice(&[
        0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    out.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]); // empty offset table
    out.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
    out.extend_from_slice(&(fragment.len() as u32).to_le_bytes());
    out.extend_from_slice(&fragment);
    out.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    out
}

/// `--deep` finds blank images whether their pixel data is native or compressed (decoded),
/// and not images with content.
#[test]
fn deep_pass_finds_constant_images_native_and_compressed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let flat = vec![100u8; 256];
    let ramp: Vec<u8> = (0..=255u8).collect();
    for (name, sop, px, rle) in [
        (
            "flat_native.dcm",
            "1.2.826.0.1.3680043.10.77.3",
            &flat,
            false,
        ),
        ("flat_rle.dcm", "1.2.826.0.1.3680043.10.77.4", &flat, true),
        (
            "ramp_native.dcm",
            "1.2.826.0.1.3680043.10.77.5",
            &ramp,
            false,
        ),
        ("ramp_rle.dcm", "1.2.826.0.1.3680043.10.77.6", &ramp, true),
    ] {
        std::fs::write(data.join(name), sc_image(sop, px, rle)).unwrap();
    }
    let db = tmp.path().join("c.db");
    scan_json(&data, &db, &[]);
    let (_, rows) = check(&db, &["--deep", "--fail-on", "never"]);
    let mut constant: Vec<String> = rows
        .iter()
        .filter(|r| r["code"] == "image.constant")
        .filter_map(|r| r["path"].as_str())
        .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
        .collect();
    constant.sort();
    assert_eq!(
        constant,
        vec!["flat_native.dcm", "flat_rle.dcm"],
        "{rows:#?}"
    );
    // The compressed ramp was decoded (it is not constant), not skipped: render it too.
    let img = dicura::preview::DicomImage::open(&data.join("ramp_rle.dcm")).unwrap();
    let f = img.decode_frame(0, 0).unwrap();
    assert_eq!(f.data.iter().map(|v| *v as u8).collect::<Vec<_>>(), ramp);
}
