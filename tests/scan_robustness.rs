//! The scanner's robustness guarantees, through the real binary: permission errors, symbolic
//! link loops, special files and odd names never stop or hang a scan; the scanned tree is never
//! written to; hostile and corrupt files are recorded with a reason without stalling the scan
//! or bloating its memory.

mod common;

use common::*;
use dicura::synth::{self, DicomWriter, SynthSpec};
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A scan that has not finished by then is taken to hang.
const HANG: Duration = Duration::from_secs(120);

/// Runs `cmd` to completion, killing it and failing the test if it runs longer than `limit`.
fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Parses the JSON summary of a scan that must have exited 0.
fn summary_of(out: &Output, what: &str) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{what}: exit status {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not the JSON summary ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `dicura scan ROOT --db DB --json EXTRA`, with the hang timeout.
fn scan(root: &Path, db: &Path, extra: &[&str]) -> serde_json::Value {
    let out = run_with_timeout(
        dicura()
            .arg("scan")
            .arg(root)
            .arg("--db")
            .arg(db)
            .arg("--json")
            .args(extra),
        HANG,
    );
    summary_of(&out, &format!("scan {}", root.display()))
}

fn n(summary: &serde_json::Value, field: &str) -> u64 {
    summary[field]
        .as_u64()
        .unwrap_or_else(|| panic!("summary has no numeric {field:?}: {summary}"))
}

fn text(p: &Path) -> String {
    p.to_str().expect("test paths are UTF-8").to_string()
}

/// (kind, status, error) of the file at `path`, or `None` when it is not catalogued.
fn row(db: &Path, path: &Path) -> Option<(String, String, Option<String>)> {
    use rusqlite::OptionalExtension;
    open_db(db)
        .query_row(
            "SELECT kind, status, error FROM files WHERE path = ?1",
            [text(path)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .unwrap()
}

fn count(db: &Path, sql: &str) -> i64 {
    open_db(db)
        .query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// A canonical, world-traversable temporary directory.
fn open_tempdir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    chmod(tmp.path(), 0o755);
    let path = tmp.path().canonicalize().unwrap();
    (tmp, path)
}

/// One valid CT file with a SOP Instance UID of its own.
fn dicom_file(instance: usize) -> Vec<u8> {
    let (p, st, se) = synth::fixture_series().swap_remove(0);
    synth::ct_slice(&p, &st, &se, 1000 + instance)
}

// ---------------------------------------------------------------------------------------------
// 3. Permission denied
// ---------------------------------------------------------------------------------------------

const NOBODY: u32 = 65534;

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid()).ok() == Some(0)
}

/// `dicura scan` run as nobody (uid/gid 65534, no groups) through util-linux `setpriv`.
fn scan_as_nobody(bin: &Path, root: &Path, db: &Path) -> serde_json::Value {
    let out = run_with_timeout(
        Command::new("setpriv")
            .arg(format!("--reuid={NOBODY}"))
            .arg(format!("--regid={NOBODY}"))
            .arg("--clear-groups")
            .arg(bin)
            .arg("scan")
            .arg(root)
            .arg("--db")
            .arg(db)
            .arg("--json")
            .env_remove("DICURA_DB"),
        HANG,
    );
    summary_of(&out, "scan as nobody")
}

#[test]
fn permission_denied_file_and_directory_are_recorded_not_fatal() {
    if !have_tool("setpriv") {
        return;
    }
    if !running_as_root() {
        assert!(!in_ci(), "CI=true but the tests do not run as root");
        eprintln!("not root: cannot switch to nobody; skipping");
        return;
    }
    let (_tmp, base) = open_tempdir();
    // The binary, where nobody can run it whatever the target directory's permissions.
    let bin = base.join("bin");
    std::fs::create_dir(&bin).unwrap();
    chmod(&bin, 0o755);
    let bin = bin.join("dicura");
    std::fs::copy(env!("CARGO_BIN_EXE_dicura"), &bin).unwrap();
    chmod(&bin, 0o755);
    // The catalogue directory belongs to nobody.
    let cat = base.join("cat");
    std::fs::create_dir(&cat).unwrap();
    std::os::unix::fs::chown(&cat, Some(NOBODY), Some(NOBODY)).unwrap();
    chmod(&cat, 0o700);

    let root = base.join("data");
    let locked = root.join("locked");
    std::fs::create_dir_all(&locked).unwrap();
    let ok = root.join("ok.dcm");
    let secret = root.join("secret.dcm");
    let inner = [locked.join("inner1.dcm"), locked.join("inner2.dcm")];
    for (i, f) in [&ok, &secret, &inner[0], &inner[1]].into_iter().enumerate() {
        std::fs::write(f, dicom_file(i)).unwrap();
        chmod(f, 0o644);
    }
    chmod(&root, 0o755);
    chmod(&locked, 0o755);

    // First sight, as nobody: the mode-000 file and directory are reported, the rest read.
    chmod(&secret, 0o000);
    chmod(&locked, 0o000);
    let fresh = cat.join("fresh.sqlite");
    let s = scan_as_nobody(&bin, &root, &fresh);
    assert_eq!(n(&s, "unreadable_dirs"), 1, "{s}");
    assert_eq!(n(&s, "dicom"), 1, "{s}");
    assert!(n(&s, "unreadable") >= 1, "{s}");
    let (kind, status, error) = row(&fresh, &secret).expect("mode-000 file not catalogued");
    assert_eq!(
        (kind.as_str(), status.as_str()),
        ("unreadable", "unreadable")
    );
    let error = error.unwrap_or_default();
    assert!(error.contains("Permission denied"), "error: {error:?}");
    let (_, _, error) = row(&fresh, &locked).expect("mode-000 directory not recorded");
    let error = error.unwrap_or_default();
    assert!(error.contains("Permission denied"), "error: {error:?}");
    assert_eq!(row(&fresh, &ok).map(|r| r.1).as_deref(), Some("ok"));

    // Catalogued by root first, then rescanned by nobody once the directory is locked: the
    // files below it were not seen, but they are not gone either.
    chmod(&secret, 0o644);
    chmod(&locked, 0o755);
    let db = cat.join("rescan.sqlite");
    let s = scan(&root, &db, &[]);
    assert_eq!(n(&s, "dicom"), 4, "{s}");
    for f in catalogue_files(&db) {
        if f.exists() {
            std::os::unix::fs::chown(&f, Some(NOBODY), Some(NOBODY)).unwrap();
        }
    }
    chmod(&locked, 0o000);
    let s = scan_as_nobody(&bin, &root, &db);
    chmod(&locked, 0o755);
    assert_eq!(n(&s, "unreadable_dirs"), 1, "{s}");
    assert_eq!(
        n(&s, "removed"),
        0,
        "files below an unreadable directory marked removed: {s}"
    );
    for f in &inner {
        let (kind, status, _) = row(&db, f).unwrap();
        assert_eq!(
            (kind.as_str(), status.as_str()),
            ("dicom", "ok"),
            "{}",
            f.display()
        );
    }
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM files WHERE removed_at IS NOT NULL"
        ),
        0
    );
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) FROM instances i JOIN files f ON f.id = i.file_id
                 WHERE f.path LIKE '{}/%'",
                text(&locked)
            )
        ),
        2,
        "instances below the unreadable directory were dropped"
    );

    // A chmod changes no size, mtime or inode, but it changes the inode change time: a file
    // catalogued fine and then locked is read again (and found unreadable), and once unlocked
    // it is read again (and fine).
    chmod(&secret, 0o000);
    let s = scan_as_nobody(&bin, &root, &db);
    assert_eq!(n(&s, "changed"), 1, "{s}");
    let (kind, status, error) = row(&db, &secret).unwrap();
    assert_eq!(
        (kind.as_str(), status.as_str()),
        ("unreadable", "unreadable")
    );
    assert!(error.unwrap_or_default().contains("Permission denied"));
    chmod(&secret, 0o644);
    let s = scan(&root, &db, &[]);
    assert_eq!(n(&s, "changed"), 1, "{s}");
    assert_eq!(row(&db, &secret).map(|r| r.1).as_deref(), Some("ok"));
}

fn catalogue_files(db: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|s| {
            let mut p = db.as_os_str().to_owned();
            p.push(s);
            PathBuf::from(p)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 4. Symbolic links
// ---------------------------------------------------------------------------------------------

#[test]
fn symlink_loops_are_reported_and_links_followed_only_on_request() {
    let (_tmp, base) = open_tempdir();
    let root = base.join("data");
    let sub = root.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(root.join("a.dcm"), dicom_file(0)).unwrap();
    std::fs::write(sub.join("b.dcm"), dicom_file(1)).unwrap();
    let looped = sub.join("loop");
    std::os::unix::fs::symlink("..", &looped).unwrap();
    let link = root.join("link.dcm");
    std::os::unix::fs::symlink("a.dcm", &link).unwrap();

    // Without --follow-links: both links skipped, nothing else.
    let db = base.join("plain.sqlite");
    let s = scan(&root, &db, &[]);
    assert_eq!(n(&s, "links_skipped"), 2, "{s}");
    assert_eq!(n(&s, "link_loops"), 0, "{s}");
    assert_eq!(n(&s, "files_seen"), 2, "{s}");
    assert_eq!(
        row(&db, &link),
        None,
        "a link was catalogued without --follow-links"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM files WHERE error LIKE '%loop%'"),
        0
    );

    // With --follow-links: the file link is read, the loop reported once, b.dcm read once.
    let db = base.join("follow.sqlite");
    let s = scan(&root, &db, &["--follow-links"]);
    assert!(n(&s, "link_loops") >= 1, "{s}");
    assert_eq!(n(&s, "links_skipped"), 0, "{s}");
    assert_eq!(n(&s, "dicom"), 3, "a.dcm, link.dcm, sub/b.dcm: {s}");
    let (kind, status, _) = row(&db, &link).expect("link.dcm not catalogued with --follow-links");
    assert_eq!((kind.as_str(), status.as_str()), ("dicom", "ok"));
    let (_, _, error) = row(&db, &looped).expect("the loop is not recorded in files");
    let error = error.unwrap_or_default();
    assert!(error.contains("loop"), "error of the loop: {error:?}");
    assert_eq!(
        count(&db, "SELECT count(*) FROM files WHERE path LIKE '%/b.dcm'"),
        1
    );
}

// ---------------------------------------------------------------------------------------------
// 5. The scanned tree is never written to
// ---------------------------------------------------------------------------------------------

fn dataset(root: &Path) -> u64 {
    let spec = SynthSpec {
        nifti_volumes: 4,
        ..SynthSpec::small()
    };
    let a = synth::generate(root, &spec).unwrap();
    let b = synth::write_fixtures(&root.join("fixtures")).unwrap();
    (a.total_files() + b.total_files()) as u64
}

fn is_own_file(p: &Path) -> bool {
    let s = p.to_string_lossy();
    [".sqlite", ".sqlite-wal", ".sqlite-shm", ".sqlite-journal"]
        .iter()
        .any(|e| s.ends_with(e))
}

fn catalogued_own_files(db: &Path) -> Vec<String> {
    let c = open_db(db);
    let mut st = c
        .prepare(
            "SELECT path FROM files WHERE path LIKE '%.sqlite' OR path LIKE '%-wal'
             OR path LIKE '%-shm' OR path LIKE '%-journal'",
        )
        .unwrap();
    let rows = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<Vec<String>>>()
        .unwrap();
    rows
}

#[test]
fn scanned_tree_is_unchanged_and_catalogue_files_are_never_catalogued() {
    let (_tmp, base) = open_tempdir();
    let root = base.join("data");
    let total = dataset(&root);
    let before = snapshot(&root);
    assert_eq!(before.len() as u64, total);

    // Catalogue outside the tree: not a byte nor an mtime changes, on a scan or a rescan.
    let db = base.join("outside").join("c.sqlite");
    let s = scan(&root, &db, &[]);
    assert_eq!(n(&s, "files_seen"), total, "{s}");
    assert_eq!(snapshot(&root), before, "the scan changed the scanned tree");
    let s = scan(&root, &db, &[]);
    assert_eq!(n(&s, "unchanged"), total, "{s}");
    assert_eq!(
        snapshot(&root),
        before,
        "the rescan changed the scanned tree"
    );

    // Catalogue inside the tree, given as an absolute path.
    let db = root.join("inside.sqlite");
    for pass in 0..2 {
        let s = scan(&root, &db, &[]);
        assert_eq!(n(&s, "files_seen"), total, "pass {pass}: {s}");
        assert_eq!(
            catalogued_own_files(&db),
            Vec::<String>::new(),
            "pass {pass}"
        );
        if pass == 1 {
            assert_eq!(n(&s, "unchanged"), total, "pass {pass}: {s}");
        }
    }
    let mut after = snapshot(&root);
    after.retain(|(p, ..)| !is_own_file(p));
    assert_eq!(after, before);

    // Catalogue inside the tree, given relative to the working directory, tree given as ".".
    // (The previous catalogue is just a file to this one: remove it.)
    for f in catalogue_files(&db) {
        let _ = std::fs::remove_file(f);
    }
    for pass in 0..2 {
        let out = run_with_timeout(
            dicura()
                .current_dir(&root)
                .args(["scan", ".", "--db", "relative.sqlite", "--json"]),
            HANG,
        );
        let s = summary_of(&out, "scan . --db relative.sqlite");
        let db = root.join("relative.sqlite");
        assert_eq!(
            catalogued_own_files(&db),
            Vec::<String>::new(),
            "pass {pass}: a relative --db inside the tree is catalogued"
        );
        assert_eq!(n(&s, "files_seen"), total, "pass {pass}: {s}");
    }
    let mut after = snapshot(&root);
    after.retain(|(p, ..)| !is_own_file(p));
    assert_eq!(after, before);
}

#[test]
fn default_catalogue_lives_in_xdg_data_home_not_in_the_dataset() {
    let (_tmp, base) = open_tempdir();
    let root = base.join("data");
    let total = dataset(&root);
    let before = snapshot(&root);
    let xdg = base.join("xdg");
    let home = base.join("home");
    std::fs::create_dir(&home).unwrap();
    let out = run_with_timeout(
        dicura()
            .current_dir(&root)
            .env_remove("DICURA_DB")
            .env("XDG_DATA_HOME", &xdg)
            .env("HOME", &home)
            .args(["scan", ".", "--json"]),
        HANG,
    );
    let s = summary_of(&out, "scan with the default catalogue");
    let db = xdg.join("dicura").join("catalogue.sqlite");
    assert!(db.is_file(), "no catalogue at {}", db.display());
    assert_eq!(s["catalogue"].as_str(), Some(text(&db).as_str()), "{s}");
    assert_eq!(n(&s, "files_seen"), total, "{s}");
    assert_eq!(count(&db, "SELECT count(*) FROM files"), total as i64);
    assert_eq!(snapshot(&root), before, "the scan wrote into the dataset");
    assert_eq!(
        std::fs::read_dir(&home).unwrap().count(),
        0,
        "$HOME was written to although XDG_DATA_HOME is set"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Special files and odd names
// ---------------------------------------------------------------------------------------------

#[test]
fn fifo_is_not_opened_and_non_utf8_names_are_kept_exactly() {
    if !have_tool("mkfifo") {
        return;
    }
    let (_tmp, base) = open_tempdir();
    let root = base.join("data");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("ok.dcm"), dicom_file(0)).unwrap();
    let fifo = root.join("pipe.dcm");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo failed");
    let odd_name = OsStr::from_bytes(b"bad\xffname.dcm");
    let odd = root.join(odd_name);
    let (p, st, se) = synth::fixture_series().swap_remove(0);
    let odd_uid = se.sop_instance_uid(2000);
    std::fs::write(&odd, synth::ct_slice(&p, &st, &se, 2000)).unwrap();

    let db = base.join("c.sqlite");
    let s = scan(&root, &db, &[]);
    assert_eq!(n(&s, "files_seen"), 3, "{s}");
    assert_eq!(n(&s, "dicom"), 2, "{s}");
    assert_eq!(n(&s, "unreadable"), 1, "{s}");

    let (kind, status, error) = row(&db, &fifo).expect("the FIFO is not catalogued");
    assert_eq!(
        (kind.as_str(), status.as_str()),
        ("unreadable", "unreadable")
    );
    let error = error.unwrap_or_default();
    assert!(error.contains("named pipe"), "error of the FIFO: {error:?}");

    let c = open_db(&db);
    let (path, kind, status, uid): (String, String, String, Option<String>) = c
        .query_row(
            "SELECT f.path, f.kind, f.status, i.sop_instance_uid
             FROM files f LEFT JOIN instances i ON i.file_id = f.id WHERE f.path_raw = ?1",
            [odd.as_os_str().as_bytes()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .expect("no row whose path_raw is the non-UTF-8 name's bytes");
    assert_eq!((kind.as_str(), status.as_str()), ("dicom", "ok"));
    assert!(path.ends_with("/bad\\xFFname.dcm"), "path: {path:?}");
    assert_eq!(uid.as_deref(), Some(odd_uid.as_str()));
    drop(c);

    // A rescan knows the odd name again: not re-read, not removed.
    let s = scan(&root, &db, &[]);
    assert_eq!(n(&s, "removed"), 0, "{s}");
    assert_eq!(n(&s, "new"), 0, "{s}");
    assert_eq!(n(&s, "unchanged"), 2, "ok.dcm and the odd name: {s}");
    assert_eq!(
        count(&db, "SELECT count(*) FROM files WHERE path_raw IS NOT NULL"),
        1
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Hostile and corrupt files
// ---------------------------------------------------------------------------------------------

const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";

/// Preamble, DICM and a file meta group naming `ts`; no data set.
fn meta_only(ts: &str) -> Vec<u8> {
    let mut w = DicomWriter::new(synth::CT_IMAGE_STORAGE, "2.25.4242");
    w.transfer_syntax(ts);
    w.finish()
}

fn tag_bytes(tag: u32) -> [u8; 4] {
    let g = ((tag >> 16) as u16).to_le_bytes();
    let e = (tag as u16).to_le_bytes();
    [g[0], g[1], e[0], e[1]]
}

/// An explicit VR little endian element header with the given declared length.
fn explicit_header(tag: u32, vr: &[u8; 2], len: u32) -> Vec<u8> {
    let mut out = tag_bytes(tag).to_vec();
    out.extend_from_slice(vr);
    if matches!(vr, b"OB" | b"OW" | b"SQ" | b"UN" | b"UT" | b"UC" | b"UR") {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&len.to_le_bytes());
    } else {
        out.extend_from_slice(&(len as u16).to_le_bytes());
    }
    out
}

fn explicit(tag: u32, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let mut out = explicit_header(tag, vr, value.len() as u32);
    out.extend_from_slice(value);
    out
}

/// SOP Class and Instance UID elements: the start of any data set.
fn sop_elements(uid: &str) -> Vec<u8> {
    let mut out = explicit(0x0008_0016, b"UI", b"1.2.840.10008.5.1.4.1.1.2\0");
    let mut u = uid.as_bytes().to_vec();
    if u.len() % 2 == 1 {
        u.push(0);
    }
    out.extend(explicit(0x0008_0018, b"UI", &u));
    out
}

/// Raw deflate segments that inflate to `prefix` followed by `zero_mib` MiB of zeros, built a
/// MiB at a time so that neither the test nor the file gets large.
fn deflate_bomb(prefix: &[u8], zero_mib: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let segment = |data: &[u8]| -> Vec<u8> {
        // A fresh compressor and a full flush: a byte-aligned run of non-final blocks that
        // can be concatenated with others.
        let mut c = Compress::new(Compression::best(), false);
        let mut out = Vec::with_capacity(data.len() / 256 + 1024);
        let mut input = data;
        loop {
            out.reserve(64 * 1024);
            let before_in = c.total_in();
            c.compress_vec(input, &mut out, FlushCompress::Full)
                .unwrap();
            let used = (c.total_in() - before_in) as usize;
            input = &input[used..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        out
    };
    let mib = vec![0u8; 1 << 20];
    let mut first = prefix.to_vec();
    first.extend_from_slice(&mib);
    let mut out = segment(&first);
    let zeros = segment(&mib);
    for _ in 1..zero_mib {
        out.extend_from_slice(&zeros);
    }
    out.extend_from_slice(&[0x03, 0x00]); // an empty final block
    out
}

/// The hostile files, by name.
fn hostile_files() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();

    // (a) Declared lengths far beyond the file: a 32-bit LO length (implicit VR) and an OB.
    let mut f = meta_only(IMPLICIT_LE);
    for (tag, value) in [
        (0x0008_0016u32, &b"1.2.840.10008.5.1.4.1.1.2\0"[..]),
        (0x0008_0018, b"2.25.4242"),
    ] {
        let mut v = value.to_vec();
        if v.len() % 2 == 1 {
            v.push(0);
        }
        f.extend_from_slice(&tag_bytes(tag));
        f.extend_from_slice(&(v.len() as u32).to_le_bytes());
        f.extend_from_slice(&v);
    }
    f.extend_from_slice(&tag_bytes(0x0010_0020)); // Patient ID, LO
    f.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    f.extend_from_slice(b"PATIENT-0001");
    files.push(("huge_length_lo.dcm".to_string(), f));

    let mut f = meta_only(synth::EXPLICIT_VR_LITTLE_ENDIAN);
    f.extend(sop_elements("2.25.4243"));
    f.extend(explicit(0x0009_0010, b"LO", b"HOSTILE "));
    f.extend(explicit_header(0x0009_1001, b"OB", 0xFFFF_FFF0));
    f.extend_from_slice(&[0xAB; 64]);
    files.push(("huge_length_ob.dcm".to_string(), f));

    // (b) Garbage after a valid preamble and DICM.
    let mut f = vec![0u8; 128];
    f.extend_from_slice(b"DICM");
    let mut rng = synth::Rng::new(97);
    f.extend((0..4096).map(|_| rng.next_u64() as u8));
    files.push(("garbage_after_dicm.dcm".to_string(), f));

    // (c) Sequences nested 10,000 deep, all of undefined length.
    let mut f = meta_only(synth::EXPLICIT_VR_LITTLE_ENDIAN);
    f.extend(sop_elements("2.25.4244"));
    for _ in 0..10_000 {
        f.extend(explicit_header(0x0040_A730, b"SQ", u32::MAX));
        f.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
    }
    for _ in 0..10_000 {
        f.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        f.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    }
    files.push(("deep_sequences.dcm".to_string(), f));

    // (d) 200,000 tiny private elements.
    let mut f = meta_only(synth::EXPLICIT_VR_LITTLE_ENDIAN);
    f.extend(sop_elements("2.25.4245"));
    for i in 0..200_000u32 {
        let tag = ((0x0011 + 2 * (i / 50_000)) << 16) | (0x1000 + i % 50_000);
        f.extend(explicit(tag, b"SH", b"AB"));
    }
    files.push(("many_elements.dcm".to_string(), f));

    // (e) Deflated data sets that inflate to 1 GiB: a huge OB skipped inside the stream, and
    // plain zeros.
    let mut inflated = sop_elements("2.25.4246");
    inflated.extend(explicit(0x0009_0010, b"LO", b"HOSTILE "));
    inflated.extend(explicit_header(0x0009_1001, b"OB", 0xFFFF_FFF0));
    let mut f = meta_only(DEFLATED);
    f.extend(deflate_bomb(&inflated, 1024));
    files.push(("deflate_bomb_ob.dcm".to_string(), f));
    let mut f = meta_only(DEFLATED);
    f.extend(deflate_bomb(&sop_elements("2.25.4247"), 1024));
    files.push(("deflate_bomb_zeros.dcm".to_string(), f));

    // (f) NIfTI headers with seven huge dimensions, and three.
    for (name, ndim) in [("huge_dims7.nii", 7i16), ("huge_dims3.nii", 3)] {
        let mut f = synth::nifti1_volume(
            [4, 4, 4, 1],
            synth::VoxelType::I16,
            [1.0, 1.0, 1.0, 1.0],
            [0.0; 3],
            "hostile",
            false,
        )
        .unwrap();
        f[40..42].copy_from_slice(&ndim.to_le_bytes());
        for d in 1..=ndim as usize {
            f[40 + 2 * d..42 + 2 * d].copy_from_slice(&i16::MAX.to_le_bytes());
        }
        files.push((name.to_string(), f));
    }
    files
}

/// The numbers following "byte " in a parser message (positions it reached).
fn positions_in(message: &str) -> Vec<u64> {
    message
        .split("byte ")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// Every element in a parsed list, at any depth.
fn element_count(list: &[dicura::formats::dicom::Element]) -> usize {
    list.iter()
        .map(|e| {
            1 + match &e.value {
                dicura::formats::dicom::Value::Items(items) => {
                    items.iter().map(|i| element_count(i)).sum()
                }
                _ => 0,
            }
        })
        .sum()
}

#[test]
fn hostile_dicom_headers_are_bounded_in_process() {
    use dicura::formats::dicom::{read_header_from, HeaderError, Limits};
    let limits = Limits::default();
    for (name, bytes) in hostile_files() {
        if !name.ends_with(".dcm") {
            continue;
        }
        match read_header_from(&bytes, &limits) {
            Ok(h) => {
                let stops: Vec<_> = h
                    .problems
                    .iter()
                    .filter(|p| matches!(p.code, "file.corrupt" | "file.truncated"))
                    .collect();
                assert!(
                    !stops.is_empty(),
                    "{name}: parsed without a corrupt/truncated problem: {:?}",
                    h.problems
                );
                // A deflated data set is inflated up to the cap, never further: no position
                // reported may lie beyond it.
                for p in &h.problems {
                    for pos in positions_in(&p.message) {
                        assert!(
                            pos <= limits.max_inflated + 1024,
                            "{name}: parser went to byte {pos}, beyond the {} byte inflate cap: {}",
                            limits.max_inflated,
                            p.message
                        );
                    }
                }
                let elements = element_count(&h.elements);
                assert!(
                    elements <= limits.max_elements + 1,
                    "{name}: {elements} elements kept, limit {}",
                    limits.max_elements
                );
            }
            Err(HeaderError::Corrupt(m)) => assert!(!m.is_empty(), "{name}"),
            Err(e) => panic!("{name}: unexpected error {e}"),
        }
    }
}

/// Peak RSS in KiB of `cmd` run under `/usr/bin/time -f %M`, with its output.
fn run_measured(cmd: &[&OsStr], report: &Path) -> (Output, u64) {
    let out = run_with_timeout(
        Command::new("/usr/bin/time")
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(report)
            .args(cmd),
        HANG,
    );
    let text = std::fs::read_to_string(report).unwrap_or_default();
    let kib = text
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .next_back()
        .unwrap_or_else(|| panic!("no peak RSS in /usr/bin/time's report: {text:?}"));
    (out, kib)
}

#[test]
fn hostile_and_truncated_files_are_recorded_without_stalling_or_bloating_the_scan() {
    let have_time = Path::new("/usr/bin/time").is_file();
    if !have_time {
        assert!(
            !in_ci(),
            "CI=true but /usr/bin/time is missing (apt-get install -y time)"
        );
        eprintln!("/usr/bin/time not installed: peak memory not measured");
    }
    let (_tmp, base) = open_tempdir();
    let root = base.join("data");
    std::fs::create_dir(&root).unwrap();
    let mut expected: Vec<(PathBuf, &str)> = Vec::new();
    for (name, bytes) in hostile_files() {
        let path = root.join(&name);
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&bytes).unwrap();
        let kind = if name.ends_with(".nii") {
            "nifti"
        } else {
            "dicom"
        };
        expected.push((path, kind));
    }
    // (g) Real files cut at every 97th byte. A cut may legitimately read as a sound file:
    // exactly between two top-level elements, past the end of the pixel data (in trailing
    // padding), or, deflated, past the whole header (the scan never inflates pixel data).
    let mut cuts = 0;
    let mut may_be_ok: Vec<PathBuf> = Vec::new();
    if let Some(corpus) = corpus() {
        let trunc = root.join("truncated");
        std::fs::create_dir(&trunc).unwrap();
        for name in ["CT_small.dcm", "image_dfl.dcm", "rtstruct.dcm"] {
            let src = corpus.join("dicom").join(name);
            let Ok(bytes) = std::fs::read(&src) else {
                panic!("corpus file {} missing", src.display());
            };
            let limits = dicura::formats::dicom::Limits::default();
            let whole = dicura::formats::dicom::read_header_from(&bytes, &limits)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let boundaries: Vec<u64> = whole.elements.iter().map(|e| e.offset).collect();
            let pixel_end = whole
                .pixel_data
                .as_ref()
                .and_then(|p| p.length.map(|l| p.offset + l))
                .unwrap_or(u64::MAX);
            for len in (97..bytes.len()).step_by(97) {
                let path = trunc.join(format!("{len:06}_{name}"));
                std::fs::write(&path, &bytes[..len]).unwrap();
                let sound = if whole.encoding.deflated {
                    dicura::formats::dicom::read_header_from(&bytes[..len], &limits)
                        .is_ok_and(|h| h.elements == whole.elements)
                } else {
                    boundaries.contains(&(len as u64)) || len as u64 >= pixel_end
                };
                if sound {
                    may_be_ok.push(path.clone());
                }
                expected.push((path, "dicom"));
                cuts += 1;
            }
        }
    }

    let db = base.join("c.sqlite");
    let args: Vec<&OsStr> = vec![
        OsStr::new(env!("CARGO_BIN_EXE_dicura")),
        OsStr::new("scan"),
        root.as_os_str(),
        OsStr::new("--db"),
        db.as_os_str(),
        OsStr::new("--json"),
    ];
    let (out, peak_kib) = if have_time {
        let (out, kib) = run_measured(&args, &base.join("time.txt"));
        (out, Some(kib))
    } else {
        let out = run_with_timeout(Command::new(args[0]).args(&args[1..]), HANG);
        (out, None)
    };
    let s = summary_of(&out, "scan of hostile files");
    assert_eq!(n(&s, "files_seen"), expected.len() as u64, "{s}");
    if let Some(kib) = peak_kib {
        eprintln!("peak RSS of the scan: {kib} KiB ({cuts} truncated copies)");
        assert!(
            kib < 200 * 1024,
            "the scan of hostile files peaked at {kib} KiB (limit 200 MiB)"
        );
    }

    let mut wrong = Vec::new();
    for (path, kind) in &expected {
        let Some((k, status, error)) = row(&db, path) else {
            wrong.push(format!("{}: not catalogued", path.display()));
            continue;
        };
        let error = error.unwrap_or_default();
        let name = path.file_name().unwrap().to_string_lossy();
        let broken = matches!(status.as_str(), "corrupt" | "truncated") && !error.is_empty();
        let sound = status == "ok" && may_be_ok.contains(path);
        if !path.starts_with(root.join("truncated")) {
            eprintln!("{name}: {k} {status}: {error}");
        }
        if k != *kind || !(broken || sound) {
            wrong.push(format!(
                "{name}: kind {k}, status {status}, error {error:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} hostile files not recorded as a broken {{dicom,nifti}} with a reason:\n{}",
        wrong.len(),
        expected.len(),
        wrong.join("\n")
    );
}
