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
