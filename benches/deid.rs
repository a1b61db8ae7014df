//! De-identification benchmark: `dicura deid` (the library, in process) on generated small
//! CT/MR slices, side by side with `gdcmanon --dumb` (libgdcm-tools) and dicognito when they
//! are installed.
//!
//! `cargo bench --bench deid -- [--files N] [--jobs N] [--no-compare]`
//!
//! The dataset is generated once into `target/bench-data/deid-N/` and scanned into a
//! catalogue there; each timed run writes into a fresh output directory.

use std::path::{Path, PathBuf};
use std::process::Command;
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
        .join(format!("deid-{files}"));
    if dir.join(".complete").exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let per_patient = 2 * 4 * 50;
    let spec = dicura::synth::SynthSpec {
        patients: files.div_ceil(per_patient).max(1),
        studies_per_patient: 2,
        series_per_study: 4,
        instances_per_series: 50,
        rows: 64,
        columns: 64,
        nifti_volumes: 0,
        seed: 11,
    };
    dicura::synth::generate(&dir.join("src"), &spec).expect("generate");
    std::fs::write(dir.join(".complete"), b"").expect("marker");
    dir
}

fn count_dcm(dir: &Path) -> usize {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "dcm"))
        .count()
}

fn main() {
    let files = arg("--files", 4_000);
    let jobs = arg("--jobs", 2);
    let compare = !std::env::args().any(|a| a == "--no-compare");
    let dir = dataset(files);
    let src = dir.join("src");
    let db = dir.join("catalogue.sqlite");
    let _ = std::fs::remove_file(&db);
    let cat = dicura::catalogue::Catalogue::open(&db).expect("catalogue");
    let (_, mut cat) = dicura::scan::scan(
        cat,
        &dicura::scan::ScanOptions {
            roots: vec![src.clone()],
            jobs,
            follow_links: false,
            progress: false,
            limits: dicura::formats::dicom::Limits::default(),
            counters: None,
        },
    )
    .expect("scan");
    let t = Instant::now();
    cat.phi_refresh().expect("phi");
    let review = t.elapsed().as_secs_f64();
    let sources = cat.deid_sources(None).expect("sources");
    let n = sources.len();
    println!("| tool | files | seconds | files/s |");
    println!("|---|---|---|---|");
    println!(
        "| dicura phi review (from the catalogue) | {n} | {review:.2} | {:.0} |",
        n as f64 / review
    );
    let out = dir.join("out-dicura");
    let _ = std::fs::remove_dir_all(&out);
    let t = Instant::now();
    let s = dicura::phi::export::export(
        &sources,
        dicura::phi::export::DeidConfigBase::default(),
        &dicura::phi::export::ExportOptions {
            out: out.clone(),
            keep_layout: false,
            allow_burned_in: false,
            pseudonyms: None,
            jobs,
        },
    )
    .expect("export");
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(s.exported, n);
    println!(
        "| dicura deid ({jobs} threads) | {n} | {secs:.2} | {:.0} |",
        n as f64 / secs
    );
    if !compare {
        return;
    }
    let gdcm_out = dir.join("out-gdcmanon");
    let _ = std::fs::remove_dir_all(&gdcm_out);
    let t = Instant::now();
    match Command::new("gdcmanon")
        .args([
            "--dumb",
            "--remove-private-tags",
            "--remove-retired",
            "--recursive",
            "--continue",
        ])
        .arg("-i")
        .arg(&src)
        .arg("-o")
        .arg(&gdcm_out)
        .output()
    {
        Ok(o) if o.status.success() => {
            let secs = t.elapsed().as_secs_f64();
            let m = count_dcm(&gdcm_out);
            println!(
                "| gdcmanon --dumb (1 thread) | {m} | {secs:.2} | {:.0} |",
                m as f64 / secs
            );
        }
        _ => eprintln!("gdcmanon not usable: skipped"),
    }
    let dg_out = dir.join("out-dicognito");
    let _ = std::fs::remove_dir_all(&dg_out);
    let t = Instant::now();
    match Command::new("dicognito")
        .arg("--output-dir")
        .arg(&dg_out)
        .arg(&src)
        .output()
    {
        Ok(o) if o.status.success() => {
            let secs = t.elapsed().as_secs_f64();
            let m = count_dcm(&dg_out).max(
                walkdir::WalkDir::new(&dg_out)
                    .into_iter()
                    .flatten()
                    .filter(|e| e.file_type().is_file())
                    .count(),
            );
            println!(
                "| dicognito (1 process) | {m} | {secs:.2} | {:.0} |",
                m as f64 / secs
            );
        }
        _ => eprintln!("dicognito not usable: skipped"),
    }
}
