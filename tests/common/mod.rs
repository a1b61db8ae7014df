//! Helpers shared by the integration tests: the corpus, the binary, the oracle tools.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared/corpus` (or `$DICURA_CORPUS`). `None` means skip — allowed only outside CI.
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("DICURA_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if dir.is_dir() {
        return Some(dir);
    }
    if in_ci() {
        panic!("CI=true but the corpus is missing at {}", dir.display());
    }
    eprintln!("corpus not found at {}: skipping", dir.display());
    None
}

pub fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

/// Whether an oracle tool is on PATH; in CI a missing tool is a failure, not a skip.
pub fn have_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if in_ci() {
            panic!("CI=true but {name} is not installed (.ci/run installs it)");
        }
        eprintln!("{name} not installed: skipping");
    }
    found
}

/// The dicura binary built for these tests.
pub fn dicura() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dicura"))
}

/// Runs `dicura ARGS` and returns its output, panicking with stderr on a spawn failure.
pub fn run(args: &[&str]) -> Output {
    dicura().args(args).output().expect("spawn dicura")
}

/// `dicura scan DIR --db DB --json`, parsed.
pub fn scan_json(dir: &Path, db: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "scan".to_string(),
        dir.display().to_string(),
        "--db".into(),
        db.display().to_string(),
        "--json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = dicura().args(&args).output().expect("spawn dicura");
    assert!(
        out.status.success(),
        "scan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("scan --json prints JSON")
}

/// Opens a catalogue for assertions.
pub fn open_db(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open catalogue")
}

/// Every regular file below `dir` with its size, mtime (ns) and a content hash: a snapshot to
/// prove a scan changed nothing.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, u64, i128, u64)> {
    use std::hash::Hasher;
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let Ok(e) = e else { continue };
        let Ok(m) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        if !m.is_file() {
            continue;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        if let Ok(bytes) = std::fs::read(e.path()) {
            h.write(&bytes);
        }
        out.push((
            e.path().to_path_buf(),
            m.len(),
            m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            h.finish(),
        ));
    }
    out
}
