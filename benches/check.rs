//! Check benchmark: what findings add to a scan of a generated dataset.
//!
//! `cargo bench --bench check -- [--files N] [--runs N]`
//!
//! Times, on the same warm tree and each into a fresh catalogue: a scan without any checks
//! (the scan as it was before findings), and a scan with the per-file checks in the workers and
//! the cross-file passes after it (series, studies, duplicate hashing, outliers) followed by
//! `dicura check`'s own work. Prints a Markdown table for `docs/benchmarks.md`.

use dicura::catalogue::Catalogue;
use dicura::checks::{self, CheckOptions, ScanChecks};
use dicura::formats::dicom::Limits;
use dicura::scan::{scan_with_checks, ScanOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn dataset(files: usize) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data")
        .join(format!("dicom-{files}"));
    if dir.join(".complete").exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (series, studies, instances) = (4, 2, 50);
    let spec = dicura::synth::SynthSpec {
        patients: files.div_ceil(series * studies * instances).max(1),
        studies_per_patient: studies,
        series_per_study: series,
        instances_per_series: instances,
        rows: 64,
        columns: 64,
        nifti_volumes: 20,
        seed: 7,
    };
    dicura::synth::generate(&dir, &spec).expect("generate");
    std::fs::write(dir.join(".complete"), b"").expect("marker");
    dir
}

fn warm(dir: &Path) {
    use std::io::Read;
    let mut buf = vec![0u8; 1 << 16];
    for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if let Ok(mut f) = std::fs::File::open(e.path()) {
            while matches!(f.read(&mut buf), Ok(k) if k > 0) {}
        }
    }
}

/// One timed scan (plus the check command's work when `with_checks`) into a fresh catalogue.
fn run(dir: &Path, mode: ScanChecks) -> (f64, f64, usize) {
    let with_checks = mode.cross_file;
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("bench.sqlite");
    let cat = Catalogue::open(&db).expect("catalogue");
    let opts = ScanOptions {
        roots: vec![dir.to_path_buf()],
        jobs: 0,
        follow_links: false,
        progress: false,
        limits: Limits::default(),
        counters: None,
    };
    let t = Instant::now();
    let (summary, cat) = scan_with_checks(cat, &opts, mode).expect("scan");
    let scan_s = t.elapsed().as_secs_f64();
    let mut findings = 0;
    if with_checks {
        checks::run(&cat, &CheckOptions::default()).expect("check");
        findings = cat
            .finding_groups(&Default::default())
            .expect("groups")
            .iter()
            .map(|g| g.count as usize)
            .sum();
    }
    let total = t.elapsed().as_secs_f64();
    assert!(summary.dicom as usize > 0);
    (scan_s, total, findings)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let files = arg("--files", 20_000);
    let runs = arg("--runs", 3).max(1);
    let dir = dataset(files);
    warm(&dir);
    let _ = run(&dir, ScanChecks::none()); // warm-up (page cache, allocator)
    let per_file_only = ScanChecks {
        per_file: true,
        cross_file: false,
    };
    let mut plain = Vec::new();
    let mut per_file = Vec::new();
    let mut with_scan = Vec::new();
    let mut with_total = Vec::new();
    let mut findings = 0;
    for _ in 0..runs {
        plain.push(run(&dir, ScanChecks::none()).1);
        per_file.push(run(&dir, per_file_only).1);
        let (s, t, f) = run(&dir, ScanChecks::default());
        with_scan.push(s);
        with_total.push(t);
        findings = f;
    }
    let (p, s, t) = (median(plain), median(with_scan), median(with_total));
    let pf = median(per_file);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("| {files} generated DICOM files (+20 NIfTI/Analyze), {cores} cores, median of {runs} | seconds | vs. plain scan |");
    println!("|---|---|---|");
    println!("| scan without checks | {p:.2} | - |");
    println!(
        "| scan with the per-file checks only | {pf:.2} | +{:.0}% |",
        (pf / p - 1.0) * 100.0
    );
    println!("| scan with per-file + cross-file checks (series, studies, duplicate hashing, outliers) | {s:.2} | +{:.0}% |", (s / p - 1.0) * 100.0);
    println!("| ... then `dicura check` (nothing pending: lists {findings} findings) | {t:.2} | +{:.0}% |", (t / p - 1.0) * 100.0);
}
