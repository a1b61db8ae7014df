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

/// The Findings pane's queries over a catalogue holding 1,000,000 findings.
fn million_findings() {
    use dicura::catalogue::findings::FindingFilter;
    use dicura::checks::engine::{Finding, RULES};
    let tmp = tempfile::tempdir().expect("tempdir");
    let cat = Catalogue::open(&tmp.path().join("m.sqlite")).expect("catalogue");
    let t = Instant::now();
    for chunk in 0..10 {
        let findings: Vec<Finding> = (0..100_000)
            .map(|i| {
                let rule = &RULES[(i * 7 + chunk) % RULES.len()];
                let mut f = Finding::new(
                    rule.code,
                    format!("series:1.2.{chunk}.{}", i / 50),
                    "bench finding",
                );
                f.path = Some(format!("/data/p{chunk}/s{}/IM{i:05}.dcm", i / 50));
                f.series_uid = Some(format!("1.2.{chunk}.{}", i / 50));
                f
            })
            .collect();
        cat.replace_findings(&format!("bench{chunk}"), ("all", ""), &findings)
            .expect("insert");
    }
    let insert = t.elapsed().as_secs_f64();
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1000.0
    };
    let all = FindingFilter {
        include_acknowledged: true,
        ..Default::default()
    };
    let groups = time(&|| {
        cat.finding_groups(&all).expect("groups");
    });
    let first = time(&|| {
        cat.findings_page(&all, None, 100).expect("page");
    });
    let page = cat.findings_page(&all, None, 5000).expect("page");
    let last = page
        .last()
        .map(|r| (r.cursor().0, r.cursor().1.to_string(), r.cursor().2));
    let next = time(&|| {
        let after = last.as_ref().map(|(r, c, i)| (*r, c.as_str(), *i));
        cat.findings_page(&all, after, 100).expect("page");
    });
    let code = FindingFilter {
        code: Some("series.".into()),
        include_acknowledged: true,
        ..Default::default()
    };
    let family = time(&|| {
        cat.findings_page(&code, None, 100).expect("page");
    });
    let exact = FindingFilter {
        code: Some("series.slice.gap".into()),
        include_acknowledged: true,
        ..Default::default()
    };
    let one_rule = time(&|| {
        cat.findings_page(&exact, None, 100).expect("page");
    });
    let series = FindingFilter {
        series_uid: Some("1.2.3.999".into()),
        include_acknowledged: true,
        ..Default::default()
    };
    let one_series = time(&|| {
        cat.findings_page(&series, None, 100).expect("page");
    });
    let ack = time(&|| {
        cat.acknowledge("series.slice.gap", "series:1.2.3.999", None, "bench")
            .expect("ack");
    });
    println!();
    println!("| 1,000,000 findings in the catalogue (inserted in {insert:.1} s) | ms |");
    println!("|---|---:|");
    println!("| counts per severity and rule (`finding_groups`) | {groups:.1} |");
    println!("| first page of 100 (`findings_page`) | {first:.1} |");
    println!("| page of 100 after row 5,000 (keyset) | {next:.1} |");
    println!("| first page of one rule (`series.slice.gap`) | {one_rule:.1} |");
    println!(
        "| first page of one rule family (`series.`: a scan, not for the pane) | {family:.1} |"
    );
    println!("| findings of one series | {one_series:.1} |");
    println!("| acknowledge a rule for one series | {ack:.1} |");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--findings-only") {
        million_findings();
        return;
    }
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
    million_findings();
}
