//! Parallel walk and parse of directory trees into the catalogue.
//!
//! One thread walks (walkdir) and compares each file's (size, mtime, inode) with the
//! catalogue, so unchanged files are never opened; worker threads read the headers of new and
//! changed files; one writer thread batches the results into transactions. Bounded channels
//! between them keep memory flat however large the tree is.

mod classify;

pub use classify::{classify, classify_with, extension_of};

use crate::catalogue::{self, Catalogue, CatalogueError, FileKind, KnownFile, ScannedFile, Writer};
use crate::formats::dicom::Limits;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to scan and how.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub roots: Vec<PathBuf>,
    /// Parser threads (0: one per core).
    pub jobs: usize,
    pub follow_links: bool,
    /// Show a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
    pub limits: Limits,
    /// Live counts for a caller that shows progress itself (the TUI).
    pub counters: Option<std::sync::Arc<ScanCounters>>,
}

/// Progress of a running scan, readable from another thread.
#[derive(Debug, Default)]
pub struct ScanCounters {
    /// Files found by the walk so far.
    pub found: std::sync::atomic::AtomicU64,
    /// Files stat'ed (and read when needed) so far.
    pub done: std::sync::atomic::AtomicU64,
}

/// The outcome of a scan, as printed by `scan --json`. Kind counts cover every file seen,
/// read in this scan or unchanged since the last one.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ScanSummary {
    pub files_seen: u64,
    pub dicom: u64,
    pub nifti: u64,
    pub analyze: u64,
    pub volume_data: u64,
    pub other: u64,
    pub unreadable: u64,
    /// Files of a known kind whose content is malformed or cut short.
    pub corrupt: u64,
    pub truncated: u64,
    /// Read in this scan: first seen, changed since the last scan, or back after removal.
    pub new: u64,
    pub changed: u64,
    pub restored: u64,
    pub unchanged: u64,
    pub removed: u64,
    /// Symbolic links not followed (without `--follow-links`).
    pub links_skipped: u64,
    /// Directories that could not be read; their files are not marked removed.
    pub unreadable_dirs: u64,
    pub link_loops: u64,
    pub seconds: f64,
    pub files_per_second: f64,
    pub catalogue: String,
}

/// Why a scan could not run at all (per-file problems never stop a scan).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{path}: {source}")]
    Root {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error("scan thread failed: {0}")]
    Thread(String),
}

/// A file the walker found; workers stat it, compare it with the catalogue and read it.
struct Work {
    path: PathBuf,
    root: usize,
}

/// Files the walker hands over at once (fewer channel operations).
const WORK_BATCH: usize = 256;

/// What one worker saw, merged when the walk is over.
#[derive(Default)]
struct Tally {
    summary: ScanSummary,
    /// Catalogue ids of known files that are still there.
    seen: Vec<i64>,
}

/// Scans `opts.roots` into the catalogue, returning the summary and the catalogue. Per-file
/// checks run on each parsed header, and cross-file checks on what the scan touched.
pub fn scan(cat: Catalogue, opts: &ScanOptions) -> Result<(ScanSummary, Catalogue), ScanError> {
    scan_with_checks(cat, opts, crate::checks::ScanChecks::default())
}

/// [`scan`] with the checks chosen (benchmarks compare with and without).
pub fn scan_with_checks(
    cat: Catalogue,
    opts: &ScanOptions,
    checks: crate::checks::ScanChecks,
) -> Result<(ScanSummary, Catalogue), ScanError> {
    let started = Instant::now();
    let mut roots = Vec::new();
    for r in &opts.roots {
        let abs = std::fs::canonicalize(r).map_err(|source| ScanError::Root {
            path: r.clone(),
            source,
        })?;
        if !abs.is_dir() {
            return Err(ScanError::NotADirectory(r.clone()));
        }
        roots.push(abs);
    }
    // A root inside another root would be walked twice: keep the outermost.
    roots.sort();
    roots.dedup();
    let all = roots.clone();
    roots.retain(|r| !all.iter().any(|o| o != r && r.starts_with(o)));
    let own = own_file_set(cat.path());
    let mut known: HashMap<String, KnownFile> = HashMap::new();
    for r in &roots {
        known.extend(cat.known_files(r)?);
    }
    let known = &known;
    let db_display = cat.path().display().to_string();
    let writer = Writer::begin(cat, &roots)?;

    let jobs = if opts.jobs == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    } else {
        opts.jobs
    };
    let (work_tx, work_rx) = bounded::<Vec<Work>>(16);
    let (done_tx, done_rx) = bounded::<ScannedFile>(4096);
    let progress = Progress::new(opts.progress);

    let mut summary = ScanSummary {
        catalogue: db_display,
        ..Default::default()
    };
    let result = std::thread::scope(|s| -> Result<Writer, ScanError> {
        let writer_handle = s.spawn(move || write_loop(writer, done_rx));
        let mut workers = Vec::new();
        for _ in 0..jobs {
            let rx = work_rx.clone();
            let tx = done_tx.clone();
            let limits = opts.limits.clone();
            let bar = progress.bar.clone();
            let follow = opts.follow_links;
            let counters = opts.counters.clone();
            let per_file = checks.per_file;
            workers.push(s.spawn(move || {
                work_loop(
                    rx,
                    tx,
                    known,
                    follow,
                    &limits,
                    bar,
                    counters.as_deref(),
                    per_file,
                )
            }));
        }
        drop(work_rx);

        let mut walk = Tally::default();
        let mut bad_dirs: Vec<PathBuf> = Vec::new();
        for (ri, root) in roots.iter().enumerate() {
            walk_root(
                root,
                ri,
                opts.counters.as_deref(),
                opts.follow_links,
                &own,
                known,
                &work_tx,
                &done_tx,
                &mut walk,
                &mut bad_dirs,
                &progress,
            );
        }
        drop(work_tx);
        let mut seen: HashSet<i64> = walk.seen.iter().copied().collect();
        add_counts(&mut summary, &walk.summary);
        summary.links_skipped = walk.summary.links_skipped;
        summary.link_loops = walk.summary.link_loops;
        summary.unreadable_dirs = walk.summary.unreadable_dirs;
        for w in workers {
            let tally = w
                .join()
                .map_err(|_| ScanError::Thread("a parser thread panicked".into()))?;
            add_counts(&mut summary, &tally.summary);
            seen.extend(tally.seen);
        }
        drop(done_tx);
        let (mut writer, written) = writer_handle
            .join()
            .map_err(|_| ScanError::Thread("the writer thread panicked".into()))??;
        add_counts(&mut summary, &written);

        // Files the catalogue knew under these roots that the walk did not see are gone,
        // unless they sit below a directory that could not be read this time.
        let removed: Vec<i64> = known
            .iter()
            .filter(|(path, f)| {
                !f.removed
                    && !seen.contains(&f.id)
                    && !bad_dirs.iter().any(|d| Path::new(path).starts_with(d))
            })
            .map(|(_, f)| f.id)
            .collect();
        summary.removed = removed.len() as u64;
        writer.mark_removed(&removed)?;
        Ok(writer)
    });
    let writer = result?;
    if let Some(b) = &progress.bar {
        b.finish_and_clear();
    }
    summary.seconds = started.elapsed().as_secs_f64();
    summary.files_per_second = if summary.seconds > 0.0 {
        summary.files_seen as f64 / summary.seconds
    } else {
        0.0
    };
    let json = serde_json::to_string(&summary).unwrap_or_default();
    let cat = writer.finish(&json)?;
    if checks.cross_file {
        crate::checks::after_scan(&cat)?;
    }
    Ok((summary, cat))
}

/// A worker: stat each file, skip it if the catalogue has it unchanged, else read it.
#[allow(clippy::too_many_arguments)]
fn work_loop(
    rx: Receiver<Vec<Work>>,
    tx: crossbeam_channel::Sender<ScannedFile>,
    known: &HashMap<String, KnownFile>,
    follow_links: bool,
    limits: &Limits,
    bar: Option<indicatif::ProgressBar>,
    counters: Option<&ScanCounters>,
    checks: bool,
) -> Tally {
    let mut tally = Tally::default();
    for batch in rx.iter() {
        let n = batch.len() as u64;
        for w in batch {
            tally.summary.files_seen += 1;
            let (text, _) = path_text(&w.path);
            let previous = known.get(&text);
            if let Some(k) = previous {
                tally.seen.push(k.id);
            }
            let meta = if follow_links {
                std::fs::metadata(&w.path)
            } else {
                std::fs::symlink_metadata(&w.path)
            };
            let scanned = match meta {
                Ok(meta) => {
                    if let Some(k) = previous {
                        if !k.removed && unchanged(k, &meta) {
                            tally.summary.unchanged += 1;
                            count_kind(&mut tally.summary, k.kind, &k.status);
                            continue;
                        }
                    }
                    classify_with(&w.path, w.root, &meta, previous, limits, checks)
                }
                Err(e) => unreadable(&w.path, w.root, format!("cannot stat: {e}"), previous),
            };
            if tx.send(scanned).is_err() {
                return tally;
            }
        }
        if let Some(b) = &bar {
            b.inc(n);
        }
        if let Some(c) = counters {
            c.done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
    }
    tally
}

fn add_counts(s: &mut ScanSummary, c: &ScanSummary) {
    s.files_seen += c.files_seen;
    s.dicom += c.dicom;
    s.nifti += c.nifti;
    s.analyze += c.analyze;
    s.volume_data += c.volume_data;
    s.other += c.other;
    s.unreadable += c.unreadable;
    s.corrupt += c.corrupt;
    s.truncated += c.truncated;
    s.new += c.new;
    s.changed += c.changed;
    s.restored += c.restored;
    s.unchanged += c.unchanged;
}

/// Paths of the catalogue's own files, never catalogued themselves.
fn own_file_set(db: &Path) -> HashSet<PathBuf> {
    let mut set = HashSet::new();
    // A bare file name (`--db cat.sqlite`) has an empty parent: the working directory.
    let abs = db
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .and_then(|p| std::fs::canonicalize(p).ok())
        .zip(db.file_name())
        .map(|(dir, name)| dir.join(name))
        .unwrap_or_else(|| db.to_path_buf());
    for f in catalogue::own_files(&abs) {
        set.insert(f);
    }
    set
}

/// Stored form of a path: the UTF-8 text, or for other names an escaped text plus the bytes.
pub fn path_text(path: &Path) -> (String, Option<Vec<u8>>) {
    match path.to_str() {
        Some(s) => (s.to_string(), None),
        None => {
            let bytes = path.as_os_str().as_bytes();
            let mut s = String::new();
            for chunk in bytes.utf8_chunks() {
                s.push_str(chunk.valid());
                for b in chunk.invalid() {
                    s.push_str(&format!("\\x{b:02X}"));
                }
            }
            (s, Some(bytes.to_vec()))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn walk_root(
    root: &Path,
    ri: usize,
    counters: Option<&ScanCounters>,
    follow_links: bool,
    own: &HashSet<PathBuf>,
    known: &HashMap<String, KnownFile>,
    work_tx: &crossbeam_channel::Sender<Vec<Work>>,
    done_tx: &crossbeam_channel::Sender<ScannedFile>,
    tally: &mut Tally,
    bad_dirs: &mut Vec<PathBuf>,
    progress: &Progress,
) {
    let mut batch = Vec::with_capacity(WORK_BATCH);
    let walker = walkdir::WalkDir::new(root).follow_links(follow_links);
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(err) => {
                // Unreadable directories, link loops, files gone while walking.
                let path = err.path().map(Path::to_path_buf);
                let reason = if let Some(anc) = err.loop_ancestor() {
                    tally.summary.link_loops += 1;
                    format!(
                        "symbolic link loop: leads back to {} (not followed)",
                        anc.display()
                    )
                } else if let Some(io) = err.io_error() {
                    if let Some(p) = path.as_ref().filter(|p| p.is_dir()) {
                        tally.summary.unreadable_dirs += 1;
                        bad_dirs.push(p.clone());
                    }
                    format!("cannot read directory entry: {io}")
                } else {
                    err.to_string()
                };
                if let Some(p) = path {
                    tally.summary.files_seen += 1;
                    let previous = known.get(&path_text(&p).0);
                    if let Some(k) = previous {
                        tally.seen.push(k.id);
                    }
                    let _ = done_tx.send(unreadable(&p, ri, reason, previous));
                }
                continue;
            }
        };
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        if ft.is_symlink() {
            tally.summary.links_skipped += 1;
            continue;
        }
        let path = entry.into_path();
        if own.contains(&path) {
            continue;
        }
        batch.push(Work { path, root: ri });
        if let Some(c) = counters {
            c.found.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if batch.len() == WORK_BATCH {
            if let Some(b) = &progress.bar {
                b.inc_length(WORK_BATCH as u64);
            }
            if work_tx.send(std::mem::take(&mut batch)).is_err() {
                return;
            }
            batch.reserve(WORK_BATCH);
        }
    }
    if !batch.is_empty() {
        if let Some(b) = &progress.bar {
            b.inc_length(batch.len() as u64);
        }
        let _ = work_tx.send(batch);
    }
}

/// A file needs no reading when its size, mtime, inode and device match what the catalogue
/// has, and its inode change time too (so a chmod that makes a file readable, or unreadable,
/// is noticed) — except files that could not be read last time, which are always retried.
fn unchanged(k: &KnownFile, m: &std::fs::Metadata) -> bool {
    k.status != "unreadable"
        && k.size == m.len()
        && k.mtime_s == m.mtime()
        && k.mtime_ns == m.mtime_nsec()
        && k.ctime_ns == m.ctime().saturating_mul(1_000_000_000) + m.ctime_nsec()
        && k.ino == m.ino()
        && k.dev == m.dev()
}

fn count_kind(summary: &mut ScanSummary, kind: FileKind, status: &str) {
    match kind {
        FileKind::Dicom => summary.dicom += 1,
        FileKind::Nifti => summary.nifti += 1,
        FileKind::Analyze => summary.analyze += 1,
        FileKind::VolumeData => summary.volume_data += 1,
        FileKind::Other => summary.other += 1,
        FileKind::Unreadable => summary.unreadable += 1,
    }
    match status {
        "corrupt" => summary.corrupt += 1,
        "truncated" => summary.truncated += 1,
        _ => {}
    }
}

/// A file that could not be looked at, with the reason.
fn unreadable(path: &Path, ri: usize, reason: String, previous: Option<&KnownFile>) -> ScannedFile {
    let (text, raw) = path_text(path);
    let reason_text = reason.clone();
    let meta = std::fs::symlink_metadata(path).ok();
    ScannedFile {
        path: text,
        path_raw: raw,
        root: ri,
        size: meta.as_ref().map(|m| m.len()).unwrap_or(0),
        mtime_s: meta.as_ref().map(|m| m.mtime()).unwrap_or(0),
        mtime_ns: meta.as_ref().map(|m| m.mtime_nsec()).unwrap_or(0),
        ctime_ns: meta
            .as_ref()
            .map(|m| m.ctime().saturating_mul(1_000_000_000) + m.ctime_nsec())
            .unwrap_or(0),
        dev: meta.as_ref().map(|m| m.dev()).unwrap_or(0),
        ino: meta.as_ref().map(|m| m.ino()).unwrap_or(0),
        kind: FileKind::Unreadable,
        status: catalogue::FileStatus::Unreadable,
        error: Some(reason),
        ext: extension_of(path),
        previous: previous.map(|k| k.id),
        event: previous.map(|k| if k.removed { "restored" } else { "changed" }),
        payload: catalogue::Payload::None,
        findings: vec![crate::checks::engine::FileFinding::new(
            "file.unreadable",
            reason_text,
        )],
    }
}

/// The writer thread: batches results into transactions of up to 2,000 files or 250 ms.
fn write_loop(
    mut writer: Writer,
    rx: Receiver<ScannedFile>,
) -> Result<(Writer, ScanSummary), ScanError> {
    let mut counts = ScanSummary::default();
    let mut batch: Vec<ScannedFile> = Vec::with_capacity(2000);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        let deadline = Instant::now() + Duration::from_millis(250);
        while batch.len() < 2000 {
            match rx.recv_deadline(deadline) {
                Ok(f) => batch.push(f),
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        writer.write_batch(&batch)?;
        for f in batch.drain(..) {
            count_kind(&mut counts, f.kind, f.status.as_str());
            match f.event {
                None => counts.new += 1,
                Some("restored") => counts.restored += 1,
                Some(_) => counts.changed += 1,
            }
        }
    }
    Ok((writer, counts))
}

/// An indicatif bar on stderr, only when stderr is a terminal.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(enabled: bool) -> Progress {
        use std::io::IsTerminal;
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = indicatif::ProgressBar::new(0);
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(8));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} {pos}/{len} files  {rate} files/s  ETA {eta}  {wide_bar}",
        ) {
            bar.set_style(style.with_key(
                "rate",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}", state.per_sec());
                },
            ));
        }
        Progress { bar: Some(bar) }
    }
}
