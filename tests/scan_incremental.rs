//! Incremental rescans and crash safety, through the real binary.
//!
//! - A rescan of an unchanged tree reads nothing; touched, rewritten, deleted, added and
//!   restored files are each reported once, with history kept in `files` / `file_events`.
//! - A scan killed with SIGKILL mid-way leaves a consistent catalogue, and the next scan
//!   finishes the job without redoing committed work.

mod common;

use common::*;
use dicura::synth::{self, Patient, Series, Study, SynthSpec};
use rusqlite::OptionalExtension;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

fn n(summary: &serde_json::Value, field: &str) -> u64 {
    summary[field]
        .as_u64()
        .unwrap_or_else(|| panic!("summary has no numeric {field:?}: {summary}"))
}

/// Asserts the event counters of a scan summary, naming the ones that differ.
fn assert_counts(summary: &serde_json::Value, expected: &[(&str, u64)], context: &str) {
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(f, v)| n(summary, f) != *v)
        .map(|(f, v)| format!("{f}: expected {v}, got {}", n(summary, f)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{context}: {}\nsummary: {summary}",
        wrong.join("; ")
    );
}

fn count(db: &Path, sql: &str) -> i64 {
    open_db(db)
        .query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn scanned_at(db: &Path) -> HashMap<String, f64> {
    let c = open_db(db);
    let mut stmt = c.prepare("SELECT path, scanned_at FROM files").unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<HashMap<String, f64>>>()
        .unwrap();
    rows
}

fn text(p: &Path) -> String {
    p.to_str().expect("test paths are UTF-8").to_string()
}

fn events(db: &Path, path: &Path) -> Vec<String> {
    let c = open_db(db);
    let mut stmt = c
        .prepare(
            "SELECT e.event FROM file_events e JOIN files f ON f.id = e.file_id
             WHERE f.path = ?1 ORDER BY e.id",
        )
        .unwrap();
    let rows = stmt
        .query_map([text(path)], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<Vec<String>>>()
        .unwrap();
    rows
}

fn sop_uid_of(db: &Path, path: &Path) -> Option<String> {
    open_db(db)
        .query_row(
            "SELECT i.sop_instance_uid FROM instances i JOIN files f ON f.id = i.file_id
             WHERE f.path = ?1",
            [text(path)],
            |r| r.get(0),
        )
        .optional()
        .unwrap()
}

/// Hierarchy rows that no instance hangs off (must be none after a scan).
fn orphans(db: &Path) -> (i64, i64, i64) {
    (
        count(
            db,
            "SELECT count(*) FROM series s
             WHERE NOT EXISTS (SELECT 1 FROM instances i WHERE i.series_ref = s.id)",
        ),
        count(
            db,
            "SELECT count(*) FROM studies st
             WHERE NOT EXISTS (SELECT 1 FROM series s WHERE s.study_ref = st.id)",
        ),
        count(
            db,
            "SELECT count(*) FROM patients p
             WHERE NOT EXISTS (SELECT 1 FROM studies st WHERE st.patient_ref = p.id)",
        ),
    )
}

const SPEC: SynthSpec = SynthSpec {
    patients: 2,
    studies_per_patient: 2,
    series_per_study: 2,
    instances_per_series: 5,
    rows: 16,
    columns: 16,
    nifti_volumes: 4,
    seed: 7,
};

/// Series (patient, study, series) of `SPEC` as `generate` writes it.
fn spec_series(p: usize, s: usize, r: usize) -> (Patient, Study, Series) {
    let patient = Patient::synthetic(SPEC.seed, p);
    let study = Study::synthetic(SPEC.seed, p, s);
    let series = Series::synthetic(
        SPEC.seed,
        p,
        &study,
        r,
        SPEC.rows,
        SPEC.columns,
        SPEC.instances_per_series,
    );
    (patient, study, series)
}

fn series_dir(root: &Path, p: &Patient, st: &Study, se: &Series) -> PathBuf {
    root.join(p.folder()).join(st.folder()).join(se.folder())
}

#[test]
fn rescan_reports_touched_rewritten_deleted_added_and_restored_files() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    let written = synth::generate(&root, &SPEC).unwrap();
    let root = root.canonicalize().unwrap();
    let db = tmp.path().join("cat").join("catalogue.sqlite");
    let total = written.total_files() as u64;
    assert_eq!(written.dicom_files, 40);

    // First scan: everything is new.
    let s1 = scan_json(&root, &db, &[]);
    assert_counts(
        &s1,
        &[
            ("files_seen", total),
            ("new", total),
            ("dicom", 40),
            ("nifti", written.nifti_files as u64),
            ("changed", 0),
            ("removed", 0),
            ("unchanged", 0),
        ],
        "first scan",
    );
    let read_at_1 = scanned_at(&db);
    assert_eq!(read_at_1.len() as u64, total);

    // Rescan with nothing changed: nothing is read again.
    let s2 = scan_json(&root, &db, &[]);
    assert_counts(
        &s2,
        &[
            ("files_seen", total),
            ("unchanged", total),
            ("new", 0),
            ("changed", 0),
            ("restored", 0),
            ("removed", 0),
            ("dicom", 40),
        ],
        "rescan of an unchanged tree",
    );
    assert_eq!(
        scanned_at(&db),
        read_at_1,
        "an unchanged rescan re-read files (files.scanned_at moved)"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM file_events"), 0);

    // Touch one, rewrite one, delete one, add one.
    let (p0, st0, se0) = spec_series(0, 0, 0);
    let dir0 = series_dir(&root, &p0, &st0, &se0);
    let touched = dir0.join(Series::file_name(0));
    let rewritten = dir0.join(Series::file_name(1));
    let deleted = dir0.join(Series::file_name(2));
    let added = dir0.join("IM_ADDED.dcm");
    assert!(touched.is_file() && rewritten.is_file() && deleted.is_file());

    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    std::fs::File::options()
        .write(true)
        .open(&touched)
        .unwrap()
        .set_modified(t)
        .unwrap();

    // Different SOP UID, different size: a change whatever the clock's granularity.
    let mut w = synth::slice_writer(&p0, &st0, &se0, 77);
    w.str(0x0020_4000, "LT", "rewritten by scan_incremental");
    let rewritten_uid = se0.sop_instance_uid(77);
    let old_len = std::fs::metadata(&rewritten).unwrap().len();
    let new_bytes = w.finish();
    assert_ne!(new_bytes.len() as u64, old_len);
    std::fs::write(&rewritten, &new_bytes).unwrap();

    let deleted_bytes = std::fs::read(&deleted).unwrap();
    let deleted_uid = sop_uid_of(&db, &deleted).expect("deleted file had an instance");
    let deleted_id: i64 = open_db(&db)
        .query_row(
            "SELECT id FROM files WHERE path = ?1",
            [text(&deleted)],
            |r| r.get(0),
        )
        .unwrap();
    std::fs::remove_file(&deleted).unwrap();

    let added_uid = se0.sop_instance_uid(99);
    std::fs::write(&added, synth::slice_writer(&p0, &st0, &se0, 99).finish()).unwrap();

    let s3 = scan_json(&root, &db, &[]);
    assert_counts(
        &s3,
        &[
            ("files_seen", total),
            ("changed", 2),
            ("removed", 1),
            ("new", 1),
            ("restored", 0),
            ("unchanged", total - 3),
            ("dicom", 40),
        ],
        "rescan after touch + rewrite + delete + add",
    );
    let read_at_3 = scanned_at(&db);
    for (path, at) in &read_at_1 {
        let moved = read_at_3[path] != *at;
        let expect_moved = *path == text(&touched) || *path == text(&rewritten);
        assert_eq!(
            moved, expect_moved,
            "{path}: scanned_at {} (was {at}); only the touched and rewritten files should be re-read",
            read_at_3[path]
        );
    }
    assert_eq!(events(&db, &touched), ["changed"]);
    assert_eq!(events(&db, &rewritten), ["changed"]);
    assert_eq!(
        sop_uid_of(&db, &rewritten).as_deref(),
        Some(rewritten_uid.as_str()),
        "the rewritten file's instance row was not updated"
    );
    assert_eq!(sop_uid_of(&db, &added).as_deref(), Some(added_uid.as_str()));
    assert!(
        events(&db, &added).is_empty(),
        "a first sighting is no event"
    );

    // The deleted file keeps its row, marked removed, with a 'removed' event; derived rows go.
    let (status, removed_at, id): (String, Option<f64>, i64) = open_db(&db)
        .query_row(
            "SELECT status, removed_at, id FROM files WHERE path = ?1",
            [text(&deleted)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("the deleted file's row must be kept");
    assert_eq!(status, "removed");
    assert!(removed_at.is_some(), "removed_at not set");
    assert_eq!(id, deleted_id);
    assert_eq!(events(&db, &deleted), ["removed"]);
    assert_eq!(
        sop_uid_of(&db, &deleted),
        None,
        "instance row of a removed file"
    );
    assert_eq!(
        count(
            &db,
            &format!("SELECT count(*) FROM headers WHERE file_id = {id}")
        ),
        0,
        "headers row of a removed file"
    );
    assert_eq!(
        count(
            &db,
            &format!("SELECT count(*) FROM instances WHERE sop_instance_uid = '{deleted_uid}'")
        ),
        0
    );

    // An unchanged rescan does not report the removal again.
    let s4 = scan_json(&root, &db, &[]);
    assert_counts(
        &s4,
        &[
            ("unchanged", total),
            ("removed", 0),
            ("new", 0),
            ("changed", 0),
        ],
        "rescan after the changes",
    );
    assert_eq!(events(&db, &deleted), ["removed"]);

    // Putting the file back restores the same row.
    std::fs::write(&deleted, &deleted_bytes).unwrap();
    let s5 = scan_json(&root, &db, &[]);
    assert_counts(
        &s5,
        &[
            ("files_seen", total + 1),
            ("restored", 1),
            ("new", 0),
            ("changed", 0),
            ("removed", 0),
            ("unchanged", total),
            ("dicom", 41),
        ],
        "rescan after restoring the deleted file",
    );
    let (status, removed_at, id): (String, Option<f64>, i64) = open_db(&db)
        .query_row(
            "SELECT status, removed_at, id FROM files WHERE path = ?1",
            [text(&deleted)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), removed_at, id), ("ok", None, deleted_id));
    assert_eq!(events(&db, &deleted), ["removed", "restored"]);
    assert_eq!(sop_uid_of(&db, &deleted), Some(deleted_uid));

    // Removing a whole patient prunes its patient, studies and series rows.
    assert_eq!(orphans(&db), (0, 0, 0));
    let (p1, _, _) = spec_series(1, 0, 0);
    let before: (i64, i64, i64) = (
        count(&db, "SELECT count(*) FROM patients"),
        count(&db, "SELECT count(*) FROM studies"),
        count(&db, "SELECT count(*) FROM series"),
    );
    std::fs::remove_dir_all(root.join(p1.folder())).unwrap();
    let s6 = scan_json(&root, &db, &[]);
    assert_counts(
        &s6,
        &[("removed", 20), ("new", 0), ("changed", 0), ("dicom", 21)],
        "rescan after deleting a patient's folder",
    );
    let after: (i64, i64, i64) = (
        count(&db, "SELECT count(*) FROM patients"),
        count(&db, "SELECT count(*) FROM studies"),
        count(&db, "SELECT count(*) FROM series"),
    );
    assert_eq!(
        after,
        (before.0 - 1, before.1 - 2, before.2 - 4),
        "(patients, studies, series) before {before:?}"
    );
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) FROM patients WHERE patient_id = '{}'",
                p1.id
            )
        ),
        0
    );
    assert_eq!(orphans(&db), (0, 0, 0), "hierarchy rows without instances");
    assert_eq!(count(&db, "SELECT count(*) FROM instances"), 21);
}

// ---------------------------------------------------------------------------------------------
// Crash safety
// ---------------------------------------------------------------------------------------------

/// Files in the catalogue, or `None` while it cannot be read yet (not created, locked).
fn try_count_files(db: &Path) -> Option<i64> {
    let c = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ok()?;
    c.busy_timeout(Duration::from_secs(5)).ok()?;
    c.query_row("SELECT count(*) FROM files", [], |r| r.get(0))
        .ok()
}

/// Starts `dicura scan --jobs 1` and SIGKILLs it once it has committed some rows. Returns
/// the committed row count after the kill, or `None` when the scan finished (or committed
/// everything) before it could be killed.
fn scan_and_kill(root: &Path, db: &Path, total: i64) -> Option<i64> {
    let mut child = dicura()
        .arg("scan")
        .arg(root)
        .arg("--db")
        .arg(db)
        .args(["--jobs", "1", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn dicura scan");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            return None; // finished before anything could be observed
        }
        if try_count_files(db).is_some_and(|c| c > 0) {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no file committed within 120 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL dicura"); // std sends SIGKILL on unix
    let status = child.wait().unwrap();
    let committed = try_count_files(db).expect("catalogue readable after the kill");
    use std::os::unix::process::ExitStatusExt;
    if status.signal() != Some(9) || committed >= total {
        return None; // it exited on its own first
    }
    Some(committed)
}

#[test]
fn scan_killed_mid_way_leaves_a_consistent_catalogue_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    let mut spec = SynthSpec {
        patients: 4,
        studies_per_patient: 2,
        series_per_study: 5,
        instances_per_series: 100,
        rows: 4,
        columns: 4,
        nifti_volumes: 0,
        seed: 11,
    };
    let mut summary = synth::generate(&root, &spec).unwrap();
    let root = root.canonicalize().unwrap();
    let mut attempt = 0;
    let (db, committed) = loop {
        attempt += 1;
        let db = tmp.path().join(format!("cat{attempt}")).join("c.sqlite");
        let total = summary.total_files() as i64;
        if let Some(c) = scan_and_kill(&root, &db, total) {
            break (db, c);
        }
        // Too fast to catch: double the tree (another seed, another folder) and try again.
        assert!(
            attempt < 5,
            "could not kill the scan mid-way after {attempt} attempts ({total} files)"
        );
        spec.seed += 1;
        let more = synth::generate(&root.join(format!("more{attempt}")), &spec).unwrap();
        summary.dicom_files += more.dicom_files;
        summary.other_files += more.other_files;
        spec.patients *= 2;
    };
    let total = summary.total_files() as i64;
    let dicom = summary.dicom_files as i64;
    eprintln!("attempt {attempt}: killed after {committed} of {total} files were committed");
    assert!(
        committed > 0 && committed < total,
        "killed after {committed} of {total} files"
    );

    // The killed catalogue is intact and says the scan was running.
    let check: String = open_db(&db)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let scans: Vec<(i64, String)> = {
        let c = open_db(&db);
        let mut st = c
            .prepare("SELECT id, status FROM scans ORDER BY id")
            .unwrap();
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        rows
    };
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert_eq!(scans[0].1, "running");
    // Every committed file is complete: its DICOM rows went in with it.
    assert_eq!(
        count(&db, "SELECT count(*) FROM files WHERE kind = 'dicom'"),
        count(&db, "SELECT count(*) FROM instances"),
        "a committed DICOM file without its instance row (or the reverse)"
    );

    // Run again to completion.
    let s = scan_json(&root, &db, &["--jobs", "1"]);
    assert_counts(
        &s,
        &[
            ("files_seen", total as u64),
            ("unchanged", committed as u64),
            ("new", (total - committed) as u64),
            ("changed", 0),
            ("removed", 0),
            ("dicom", dicom as u64),
        ],
        "scan after the kill",
    );
    assert!(n(&s, "unchanged") > 0);
    assert_eq!(count(&db, "SELECT count(*) FROM files"), total);
    assert_eq!(count(&db, "SELECT count(DISTINCT path) FROM files"), total);
    assert_eq!(count(&db, "SELECT count(*) FROM instances"), dicom);
    assert_eq!(
        count(&db, "SELECT count(*) FROM files WHERE status != 'ok'"),
        0
    );
    let statuses: Vec<String> = {
        let c = open_db(&db);
        let mut st = c.prepare("SELECT status FROM scans ORDER BY id").unwrap();
        let rows = st
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        rows
    };
    assert_eq!(statuses, ["interrupted", "complete"]);
    let check: String = open_db(&db)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

/// The per-series instance counts the browser shows (kept by triggers) stay equal to the
/// instances after files are removed, changed and added back.
#[test]
fn series_instance_counts_follow_rescans() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dicura::synth::write_fixtures(&data).unwrap();
    let db = tmp.path().join("cat.sqlite");
    let check = |db: &std::path::Path| {
        let c = open_db(db);
        let wrong: i64 = c
            .query_row(
                "SELECT count(*) FROM series s
                 WHERE s.n_instances != (SELECT count(*) FROM instances i WHERE i.series_ref = s.id)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(wrong, 0, "series counts out of step with instances");
        c.query_row("SELECT sum(n_instances) FROM series", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
    };
    scan_json(&data, &db, &[]);
    assert_eq!(check(&db), 25);
    let series = data.join("dicom/PAT000001/ST001_20180719/SE001_CT");
    let moved = tmp.path().join("IM00002.dcm");
    std::fs::rename(series.join("IM00002.dcm"), &moved).unwrap();
    std::fs::remove_file(series.join("IM00003.dcm")).unwrap();
    scan_json(&data, &db, &[]);
    assert_eq!(check(&db), 23);
    std::fs::rename(&moved, series.join("IM00002.dcm")).unwrap();
    scan_json(&data, &db, &[]);
    assert_eq!(check(&db), 24);
}
