//! Scan benchmark: first scan, rescan and peak memory of `dicura scan` on generated datasets,
//! side by side with dcmdump (dcmtk) and a pydicom `dcmread(stop_before_pixels=True)` indexer.
//!
//! `cargo bench --bench scan -- [--files N] [--big N] [--runs N] [--no-compare]`
//!
//! Datasets are generated once into `target/bench-data/` (by `dicura::synth`) and reused. The
//! page cache is warmed before timing. Peak RSS comes from `/usr/bin/time -f %M` (Debian
//! package `time`). Results are printed as a Markdown table for `docs/benchmarks.md`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Args {
    files: usize,
    big: usize,
    runs: usize,
    compare: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        files: 20_000,
        big: 100_000,
        runs: 3,
        compare: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |d: usize| it.next().and_then(|v| v.parse().ok()).unwrap_or(d);
        match arg.as_str() {
            "--files" => a.files = num(a.files),
            "--big" => a.big = num(a.big),
            "--runs" => a.runs = num(a.runs),
            "--no-compare" => a.compare = false,
            _ => {} // cargo bench passes --bench
        }
    }
    a
}

/// A generated tree of about `files` DICOM files (64x64 CT/MR slices, 50 per series).
fn dataset(files: usize) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data")
        .join(format!("dicom-{files}"));
    let marker = dir.join(".complete");
    if marker.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let series = 4;
    let studies = 2;
    let instances = 50;
    let patients = files.div_ceil(series * studies * instances).max(1);
    let spec = dicura::synth::SynthSpec {
        patients,
        studies_per_patient: studies,
        series_per_study: series,
        instances_per_series: instances,
        rows: 64,
        columns: 64,
        nifti_volumes: 20,
        seed: 7,
    };
    let t = Instant::now();
    let s = dicura::synth::generate(&dir, &spec).expect("generate the dataset");
    eprintln!(
        "generated {} DICOM files in {:.1} s into {}",
        s.dicom_files,
        t.elapsed().as_secs_f64(),
        dir.display()
    );
    std::fs::write(&marker, b"").expect("marker");
    dir
}

/// Reads every file once so timings are with a warm page cache.
fn warm(dir: &Path) -> (usize, f64) {
    use std::io::Read;
    let t = Instant::now();
    let mut n = 0;
    let mut buf = vec![0u8; 1 << 16];
    for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if e.file_type().is_file() {
            if let Ok(mut f) = std::fs::File::open(e.path()) {
                while matches!(f.read(&mut buf), Ok(k) if k > 0) {}
                n += 1;
            }
        }
    }
    (n, t.elapsed().as_secs_f64())
}

/// Reads the first 4 KiB of every file: the ceiling for any header reader.
fn first_4k(dir: &Path) -> (usize, f64) {
    use std::io::Read;
    let t = Instant::now();
    let mut n = 0;
    let mut buf = [0u8; 4096];
    for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if e.file_type().is_file() {
            if let Ok(mut f) = std::fs::File::open(e.path()) {
                let _ = f.read(&mut buf);
                n += 1;
            }
        }
    }
    (n, t.elapsed().as_secs_f64())
}

struct Run {
    seconds: f64,
    peak_kb: Option<u64>,
    summary: serde_json::Value,
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool} >/dev/null"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs a command under `/usr/bin/time -f %e %M` when available; returns wall s, peak KB, stdout.
fn timed(cmd: &[&str]) -> (f64, Option<u64>, String) {
    let time = Path::new("/usr/bin/time");
    let t = Instant::now();
    let out = if time.exists() {
        Command::new(time)
            .arg("-f")
            .arg("__TIME__ %e %M")
            .args(cmd)
            .output()
    } else {
        Command::new(cmd[0]).args(&cmd[1..]).output()
    }
    .expect("run command");
    let wall = t.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let peak = stderr
        .lines()
        .find_map(|l| l.strip_prefix("__TIME__ "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse().ok());
    (
        wall,
        peak,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn scan(dir: &Path, db: &Path) -> Run {
    let bin = env!("CARGO_BIN_EXE_dicura");
    let (wall, peak, stdout) = timed(&[
        bin,
        "scan",
        dir.to_str().expect("utf-8 path"),
        "--db",
        db.to_str().expect("utf-8 path"),
        "--json",
    ]);
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_default();
    Run {
        seconds: wall,
        peak_kb: peak,
        summary,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn fresh_db(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/db");
    std::fs::create_dir_all(&dir).expect("db dir");
    let db = dir.join(name);
    for s in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{s}", db.display()));
    }
    db
}

fn main() {
    let args = parse_args();
    let dir = dataset(args.files);
    let (n, _) = warm(&dir);
    let n = n as f64;
    let mut rows: Vec<(String, f64, Option<u64>)> = Vec::new();

    // First scans, each into a fresh catalogue.
    let mut firsts = Vec::new();
    let mut peak_first = None;
    let mut db_size = 0;
    for i in 0..args.runs {
        let db = fresh_db(&format!("first-{i}.sqlite"));
        let r = scan(&dir, &db);
        assert_eq!(
            r.summary["files_seen"].as_f64(),
            Some(n),
            "scan saw every file: {}",
            r.summary
        );
        firsts.push(r.seconds);
        peak_first = r.peak_kb.or(peak_first);
        db_size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    }
    let first = median(firsts);
    rows.push(("dicura scan, first scan".into(), first, peak_first));

    // Rescans of the unchanged tree into the last catalogue.
    let db = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data/db")
        .join(format!("first-{}.sqlite", args.runs - 1));
    let mut rescans = Vec::new();
    let mut peak_rescan = None;
    for _ in 0..args.runs {
        let r = scan(&dir, &db);
        assert_eq!(r.summary["unchanged"].as_f64(), Some(n), "{}", r.summary);
        rescans.push(r.seconds);
        peak_rescan = r.peak_kb.or(peak_rescan);
    }
    let rescan = median(rescans);
    rows.push((
        "dicura scan, rescan (unchanged)".into(),
        rescan,
        peak_rescan,
    ));

    let (k, t4k) = first_4k(&dir);
    rows.push((
        format!("read first 4 KiB of {k} files (ceiling)"),
        t4k,
        None,
    ));

    if args.compare {
        if have("dcmdump") {
            let (wall, peak, _) = timed(&[
                "sh",
                "-c",
                &format!(
                    "find '{}' -name '*.dcm' -print0 | xargs -0 -n 2000 dcmdump -q -M > /dev/null",
                    dir.display()
                ),
            ]);
            rows.push((
                "dcmdump -M (dcmtk), 2000 files per process".into(),
                wall,
                peak,
            ));
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pydicom_index.py");
        for procs in ["1", "2"] {
            let (wall, peak, out) = timed(&[
                "python3",
                script.to_str().expect("utf-8"),
                dir.to_str().expect("utf-8"),
                procs,
            ]);
            if out.trim().parse::<f64>().is_ok() {
                rows.push((
                    format!("pydicom dcmread(stop_before_pixels=True), {procs} process(es)"),
                    wall,
                    peak,
                ));
            }
        }
    }

    println!(
        "\nDataset: {} files ({} DICOM 64x64 slices + NIfTI/Analyze), warm page cache, {} cores\n",
        n,
        args.files,
        std::thread::available_parallelism()
            .map(|p| p.get())
            .unwrap_or(0)
    );
    println!("| what | seconds | files/s | peak RSS |");
    println!("|---|---:|---:|---:|");
    for (name, secs, peak) in &rows {
        println!(
            "| {name} | {secs:.2} | {:.0} | {} |",
            n / secs,
            peak.map(|k| format!("{:.0} MB", k as f64 / 1024.0))
                .unwrap_or_else(|| "-".into())
        );
    }
    println!(
        "\nrescan speed-up: {:.1}x; catalogue size: {:.1} MB, {:.2} KB per file",
        first / rescan,
        db_size as f64 / 1e6,
        db_size as f64 / n / 1e3
    );

    if args.big > 0 {
        let big = dataset(args.big);
        let (nb, _) = warm(&big);
        let db = fresh_db("big.sqlite");
        let r = scan(&big, &db);
        let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
        println!(
            "\n{} files: first scan {:.2} s ({:.0} files/s), peak RSS {}, catalogue {:.1} MB ({:.2} KB per file)",
            nb,
            r.seconds,
            nb as f64 / r.seconds,
            r.peak_kb
                .map(|k| format!("{:.0} MB", k as f64 / 1024.0))
                .unwrap_or_else(|| "-".into()),
            size as f64 / 1e6,
            size as f64 / nb as f64 / 1e3
        );
    }
}
