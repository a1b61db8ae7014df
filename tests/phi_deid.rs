//! PHI review and de-identified export on a generated dataset full of planted PHI, checked
//! with independent readers: pydicom (every value at any depth), dcmdump (every output
//! readable), dciodvfy (no new IOD errors), and a rescan of the output with `dicura phi`.

mod common;

use common::{dicura, have_tool, in_ci, open_db, scan_json};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

fn run_ok(args: &[&str]) -> (i32, String, String) {
    let out = dicura().args(args).output().expect("spawn dicura");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn phi_rows(db: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["phi", "--db", db.to_str().expect("utf-8 path")];
    args.extend(extra);
    let (code, out, err) = run_ok(&args);
    assert_eq!(code, 0, "phi failed: {err}");
    out.lines()
        .map(|l| serde_json::from_str(l).expect("phi prints JSON lines"))
        .collect()
}

fn dcm_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "dcm"))
        .map(|e| e.path().to_path_buf())
        .collect();
    v.sort();
    v
}

fn have_pydicom() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import pydicom"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(!in_ci(), "CI=true but pydicom is not installed");
        eprintln!("pydicom not installed: skipping its check");
    }
    ok
}

fn dciodvfy_errors(path: &Path) -> BTreeSet<String> {
    let out = Command::new("dciodvfy")
        .arg(path)
        .output()
        .expect("run dciodvfy");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter(|l| l.starts_with("Error"))
        .map(str::to_string)
        .collect()
}

#[test]
fn planted_phi_is_found_and_none_survives_export() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    let planted = dicura::synth::write_phi_dataset(&src, 2, 4).expect("generate");
    let db = tmp.path().join("c.sqlite");
    scan_json(&src, &db, &[]);
    let dbs = db.to_str().expect("utf-8");

    // Review: the findings name attributes, never their values.
    let rows = phi_rows(&db, &[]);
    let has = |reason: &str, kw: &str| {
        rows.iter()
            .any(|r| r["reason"] == reason && r["keyword"].as_str().is_some_and(|k| k.contains(kw)))
    };
    assert!(has("attribute", "PatientName"));
    assert!(has("attribute", "PatientAddress"));
    assert!(has("private", "ACME PHI"));
    assert!(has("text_leak", "WindowCenterWidthExplanation"));
    assert!(has("path_leak", "path"));
    assert!(has("burned_in", "BurnedInAnnotation"));
    assert!(has("burned_in", "OverlayData"));
    assert!(has("face", "BodyPartExamined"));
    let nested = rows.iter().find(|r| {
        r["keyword"] == "AccessionNumber" && r["sequence_path"].as_str() == Some("0040,0275[0]")
    });
    assert!(nested.is_some(), "nested AccessionNumber not found");
    for r in &rows {
        for k in ["path", "tag", "keyword", "action", "reason"] {
            assert!(r.get(k).is_some(), "row without {k}");
        }
    }
    let (_, text, _) = run_ok(&["phi", "--db", dbs]);
    for s in &planted.strings {
        if s.len() >= 6 && !s.starts_with("PAT") {
            assert!(!text.contains(s.as_str()), "phi printed a planted value");
        }
    }
    // Summary rows: files with a value and distinct values.
    let (code, summary, _) = run_ok(&["phi", "--db", dbs, "--summary"]);
    assert_eq!(code, 0);
    let name_row: serde_json::Value = summary
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["keyword"] == "PatientName")
        .expect("PatientName summary row");
    assert_eq!(name_row["files"], 9);
    assert_eq!(name_row["distinct_values"], 3);
    // Values only on request, and every one shown is audited.
    let (_, shown, _) = run_ok(&[
        "phi",
        "--db",
        dbs,
        "--show-values",
        "--filter",
        "modality:US",
    ]);
    assert!(shown.contains("\"value\""));
    let audited: i64 = open_db(&db)
        .query_row("SELECT count(*) FROM phi_reveals", [], |r| r.get(0))
        .expect("audit");
    assert!(audited > 0);
    let audit_text: String = open_db(&db)
        .query_row(
            "SELECT group_concat(keyword || coalesce(path, '')) FROM phi_reveals",
            [],
            |r| r.get(0),
        )
        .expect("audit");
    assert!(
        !audit_text.contains(&planted.strings[0]),
        "audit holds a value"
    );

    // Export with pseudonyms.
    let out = tmp.path().join("out");
    let keys = tmp.path().join("keys.json");
    let outs = out.to_str().expect("utf-8");
    let keyss = keys.to_str().expect("utf-8");
    let (code, _, err) = run_ok(&["deid", "--db", dbs, "--out", outs, "--pseudonyms", keyss]);
    assert_eq!(code, 1, "burned-in file skipped → exit 1: {err}");
    assert!(err.contains("us1.dcm"), "skipped file listed");
    assert_eq!(err.matches("skipped (burned-in risk)").count(), 3);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let files = dcm_files(&out);
    // 2 patients × 4 slices, less the last slice of each (overlay: burned-in risk).
    assert_eq!(files.len(), 6);
    let manifest = std::fs::read_to_string(out.join("deid-manifest.jsonl")).expect("manifest");
    assert_eq!(manifest.lines().count(), 9);
    assert!(!manifest.contains(&planted.strings[0]));
    assert!(!out.join(".dicura-run-secret").exists());

    if have_tool("dcmdump") {
        for f in &files {
            let o = Command::new("dcmdump").arg(f).output().expect("dcmdump");
            assert!(o.status.success(), "dcmdump failed on {}", f.display());
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                !err.contains("E:"),
                "dcmdump error on {}: {err}",
                f.display()
            );
        }
    }
    if have_tool("dciodvfy") {
        for line in manifest.lines() {
            let e: serde_json::Value = serde_json::from_str(line).expect("manifest line");
            let Some(o) = e["output"].as_str() else {
                continue;
            };
            let before = dciodvfy_errors(Path::new(e["source"].as_str().expect("source")));
            let after = dciodvfy_errors(&out.join(o));
            let new: Vec<_> = after.difference(&before).collect();
            assert!(new.is_empty(), "dciodvfy errors added: {new:?}");
        }
    }
    if have_pydicom() {
        let mut e11 = HashMap::new();
        for r in dicura::phi::table::rules() {
            if r.mask == u32::MAX {
                e11.insert(format!("{:08X}", r.tag), r.basic_text);
            }
        }
        let spec = serde_json::json!({
            "strings": planted.strings,
            "uids": planted.uids,
            "e11": e11,
            "allowed": ["00100010", "00100020", "00080050"],
        });
        let spec_path = tmp.path().join("planted.json");
        std::fs::write(&spec_path, spec.to_string()).expect("write spec");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracles/deid_check.py");
        let o = Command::new("python3")
            .arg(&script)
            .arg(&out)
            .arg(&spec_path)
            .output()
            .expect("python3");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("check JSON");
        assert_eq!(r["files"], 6);
        assert_eq!(r["problems"], serde_json::json!([]), "pydicom found PHI");
        assert_eq!(r["references"], 4);
        assert_eq!(r["dangling"], 0, "references broken");
    }

    // The output, scanned and reviewed by dicura itself: no X/Z/C attribute with a value,
    // no private element.
    let db2 = tmp.path().join("out.sqlite");
    scan_json(&out, &db2, &[]);
    for r in phi_rows(&db2, &[]) {
        if r["reason"] == "attribute" {
            let kw = r["keyword"].as_str().unwrap_or("");
            let allowed = matches!(kw, "PatientName" | "PatientID" | "AccessionNumber");
            assert!(
                allowed || matches!(r["action"].as_str(), Some("D") | Some("U")),
                "{kw} left with a value"
            );
        }
        assert_ne!(r["reason"], "private");
        assert_ne!(r["reason"], "text_leak");
    }

    // The key holder can re-identify; a re-run resumes and gives the same pseudonyms.
    let key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&keys).expect("keys")).expect("key JSON");
    let pseudo = key["map"]["PatientID"]["PAT000001"]
        .as_str()
        .expect("pseudonym")
        .to_string();
    let (code, found, _) = run_ok(&["reidentify", "--pseudonyms", keyss, &pseudo]);
    assert_eq!(code, 0);
    assert!(found.contains("PAT000001"));
    let (code, _, _) = run_ok(&["deid", "--db", dbs, "--out", outs, "--pseudonyms", keyss]);
    assert_eq!(code, 1);
    assert_eq!(dcm_files(&out), files, "a re-run writes the same files");

    // Anonymisation: no key, no link, empty names; burned-in allowed on request.
    let anon = tmp.path().join("anon");
    let (code, _, err) = run_ok(&[
        "deid",
        "--db",
        dbs,
        "--out",
        anon.to_str().expect("utf-8"),
        "--allow-burned-in",
        "--option",
        "retain-longitudinal-modified-dates",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(dcm_files(&anon).len(), 9);
    assert!(!anon.join(".dicura-run-secret").exists());
}

/// The shared corpus (real-world oddities: encapsulated, big endian, deflated, nested private
/// sequences, RT objects): every output is read by dcmdump and pydicom, and no X/Z/C
/// attribute of Table E.1-1 nor any private element is left with a value.
#[test]
fn corpus_export_leaves_no_profile_attribute() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("c.sqlite");
    scan_json(&corpus, &db, &[]);
    let out = tmp.path().join("out");
    let (_, _, err) = run_ok(&[
        "deid",
        "--db",
        db.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--allow-burned-in",
    ]);
    let files = dcm_files(&out);
    // Several corpus files are the same instance in other encodings (MR_small in six transfer
    // syntaxes): they share one output, so there are fewer outputs than exported files.
    assert!(files.len() >= 70, "only {} exported: {err}", files.len());
    // What is refused, and why: sequences written as UN cannot be cleaned item by item, and
    // a JPEG file whose meta names another transfer syntax cannot be rewritten faithfully.
    // Files without a (readable) meta group are exported with a new one.
    let failed: Vec<&str> = err.lines().filter(|l| l.starts_with("failed:")).collect();
    for l in &failed {
        assert!(
            l.contains("encoded as UN") || l.contains("SC_rgb_jpeg.dcm"),
            "unexpected failure: {l}"
        );
    }
    assert!(failed.len() <= 4, "{err}");
    // Failures are named with a reason, never a value.
    for line in err.lines().filter(|l| l.starts_with("failed:")) {
        assert!(
            line.contains("not exported") || line.contains("not readable"),
            "{line}"
        );
    }
    if have_tool("dcmdump") {
        for f in &files {
            let o = Command::new("dcmdump").arg(f).output().expect("dcmdump");
            assert!(o.status.success(), "dcmdump failed on {}", f.display());
        }
    }
    if have_pydicom() {
        let mut e11 = HashMap::new();
        for r in dicura::phi::table::rules() {
            if r.mask == u32::MAX {
                e11.insert(format!("{:08X}", r.tag), r.basic_text);
            }
        }
        let spec = serde_json::json!({"strings": [], "uids": [], "e11": e11, "allowed": []});
        let spec_path = tmp.path().join("spec.json");
        std::fs::write(&spec_path, spec.to_string()).expect("write spec");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracles/deid_check.py");
        let o = Command::new("python3")
            .arg(&script)
            .arg(&out)
            .arg(&spec_path)
            .output()
            .expect("python3");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("check JSON");
        assert_eq!(r["files"].as_u64(), Some(files.len() as u64));
        assert_eq!(r["problems"], serde_json::json!([]), "pydicom found PHI");
    }
}

/// The plan: loaded from TOML into the catalogue, saved back, and obeyed by the export
/// (a private creator kept, an attribute replaced); a dry run writes nothing.
#[test]
fn plan_round_trip_dry_run_and_plan_overrides() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    dicura::synth::write_phi_dataset(&src, 1, 2).expect("generate");
    let db = tmp.path().join("c.sqlite");
    scan_json(&src, &db, &[]);
    let dbs = db.to_str().expect("utf-8");
    let plan = tmp.path().join("plan.toml");
    std::fs::write(
        &plan,
        "[[rule]]\ntarget = \"private:ACME PHI\"\naction = \"keep\"\n\n\
         [[rule]]\ntarget = \"StationName\"\naction = \"replace\"\nvalue = \"SCANNER1\"\n",
    )
    .expect("plan");
    let (code, _, err) = run_ok(&["plan", "--db", dbs, "--load", plan.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{err}");
    let saved = tmp.path().join("saved.toml");
    let (code, _, _) = run_ok(&[
        "plan",
        "--db",
        dbs,
        "--save",
        saved.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(&saved).expect("saved plan");
    assert!(text.contains("0008,1010") && text.contains("private:ACME PHI"));

    let out = tmp.path().join("out");
    let outs = out.to_str().expect("utf-8");
    let (code, report, _) = run_ok(&["deid", "--db", dbs, "--out", outs, "--dry-run"]);
    assert_eq!(code, 1, "the burned-in files are counted as skipped");
    assert!(report.contains("PatientName") && report.contains("would be exported"));
    assert!(!out.exists(), "a dry run writes nothing");

    let (_, _, _) = run_ok(&["deid", "--db", dbs, "--out", outs]);
    let files = dcm_files(&out);
    assert_eq!(files.len(), 1);
    if have_tool("dcmdump") {
        let o = Command::new("dcmdump")
            .arg(&files[0])
            .output()
            .expect("dcmdump");
        let dump = String::from_utf8_lossy(&o.stdout);
        assert!(dump.contains("ACME PHI"), "kept private creator");
        assert!(dump.contains("[SCANNER1]"), "replaced station name");
        assert!(
            dump.contains("(0010,0010) PN (no value available)"),
            "name emptied"
        );
    }
}

/// The safe-private list: a `safe` plan rule keeps the listed elements of a private block
/// only with the Retain Safe Private option; the rest of the block, and everything without
/// the option, is removed. Checked by reading the output back with dcmdump when present.
#[test]
fn safe_private_elements_are_kept_only_with_the_option() {
    use dicura::phi::deid::{deidentify_dicom, DeidConfig};
    use dicura::phi::plan::Plan;
    use dicura::phi::table::ProfileOption;
    use dicura::synth::{DicomWriter, Element};
    const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("in.dcm");
    let mut w = DicomWriter::new(CT, "1.2.826.0.1.3680043.10.99.1");
    w.put(Element::str(0x0008_0016, "UI", CT))
        .put(Element::str(
            0x0008_0018,
            "UI",
            "1.2.826.0.1.3680043.10.99.1",
        ))
        .put(Element::str(0x0010_0010, "PN", "DOE^JANE"))
        .put(Element::str(
            0x0020_000D,
            "UI",
            "1.2.826.0.1.3680043.10.99.2",
        ))
        .put(Element::str(
            0x0020_000E,
            "UI",
            "1.2.826.0.1.3680043.10.99.3",
        ))
        .put(Element::str(0x0019_0010, "LO", "ACME SCANNER"))
        .put(Element::str(0x0019_1023, "DS", "12.5"))
        .put(Element::str(0x0019_1030, "LO", "DOE^JANE"));
    std::fs::write(&src, w.finish()).expect("write");
    let plan = Plan::from_toml(
        "[[rule]]\ntarget = \"private:ACME SCANNER\"\naction = \"safe\"\nvalue = \"xx23\"\n",
    )
    .expect("plan");
    let run = |options: Vec<ProfileOption>, out: &str| {
        let cfg = DeidConfig {
            options,
            plan: plan.clone(),
            secret: dicura::phi::uid::Secret::from_hex(&"ab".repeat(32)).expect("secret"),
            pseudonymise: false,
            dry_run: false,
        };
        let root = tmp.path().join(out);
        let r = deidentify_dicom(&src, &root, None, &cfg).expect("deid");
        let obj = dicom_object::open_file(root.join(&r.output)).expect("read output");
        let has = |g, e| obj.element(dicom_core::Tag(g, e)).is_ok();
        (
            has(0x0019, 0x0010),
            has(0x0019, 0x1023),
            has(0x0019, 0x1030),
        )
    };
    assert_eq!(
        run(vec![ProfileOption::RetainSafePrivate], "with"),
        (true, true, false),
        "creator and the safe element kept, the name removed"
    );
    assert_eq!(run(vec![], "without"), (false, false, false));
}

/// The stored PHI summary is used only while it matches the findings: a removed file makes
/// the summary recomputed (fewer files), and the next detection stores the new one.
#[test]
fn stored_phi_summary_follows_rescans() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("phi");
    let planted = dicura::synth::write_phi_dataset(&data, 2, 2).expect("dataset");
    let db = tmp.path().join("c.sqlite");
    scan_json(&data, &db, &[]);
    let mut cat = dicura::catalogue::Catalogue::open(&db).expect("open");
    cat.phi_refresh().expect("refresh");
    let files_with = |s: &[dicura::catalogue::PhiSummaryRow]| {
        s.iter()
            .find(|r| r.keyword == "PatientName" && r.reason == "attribute")
            .map(|r| r.files)
    };
    let s1 = cat.phi_summary().expect("summary");
    assert_eq!(files_with(&s1), Some(planted.files.len() as i64));
    drop(cat);
    std::fs::remove_file(&planted.files[0]).expect("remove a file");
    scan_json(&data, &db, &[]);
    let mut cat = dicura::catalogue::Catalogue::open(&db).expect("open");
    let s2 = cat.phi_summary().expect("summary after the rescan");
    assert_eq!(files_with(&s2), Some(planted.files.len() as i64 - 1));
    cat.phi_refresh().expect("refresh");
    assert_eq!(cat.phi_summary().expect("stored again"), s2);
}
