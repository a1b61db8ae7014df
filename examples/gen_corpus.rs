//! Writes a synthetic corpus (or the committed fixture set) and reports the write rate.
//!
//! `cargo run --release --example gen_corpus -- OUT_DIR [--patients N] [--studies N]
//! [--series N] [--instances N] [--rows N] [--cols N] [--nifti N] [--seed N] [--fixtures]`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use dicura::synth::{self, SynthSpec};

const USAGE: &str = "usage: gen_corpus OUT_DIR [--patients N] [--studies N] [--series N] \
[--instances N] [--rows N] [--cols N] [--nifti N] [--seed N] [--fixtures]";

fn number<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T> {
    let value = value.with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
    value
        .parse()
        .map_err(|_| anyhow::anyhow!("{flag}: not a valid number: {value:?}"))
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut out: Option<PathBuf> = None;
    let mut fixtures = false;
    // Defaults give a 20,000-file corpus: 50 × 2 × 4 × 50.
    let mut spec = SynthSpec {
        patients: 50,
        studies_per_patient: 2,
        series_per_study: 4,
        instances_per_series: 50,
        rows: 64,
        columns: 64,
        nifti_volumes: 0,
        seed: 1,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--patients" => spec.patients = number(&arg, args.next())?,
            "--studies" => spec.studies_per_patient = number(&arg, args.next())?,
            "--series" => spec.series_per_study = number(&arg, args.next())?,
            "--instances" => spec.instances_per_series = number(&arg, args.next())?,
            "--rows" => spec.rows = number(&arg, args.next())?,
            "--cols" => spec.columns = number(&arg, args.next())?,
            "--nifti" => spec.nifti_volumes = number(&arg, args.next())?,
            "--seed" => spec.seed = number(&arg, args.next())?,
            "--fixtures" => fixtures = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            flag if flag.starts_with('-') => bail!("unknown option {flag}\n{USAGE}"),
            path => {
                if out.replace(PathBuf::from(path)).is_some() {
                    bail!("only one OUT_DIR may be given\n{USAGE}");
                }
            }
        }
    }
    let out = out.with_context(|| format!("missing OUT_DIR\n{USAGE}"))?;

    let start = Instant::now();
    let summary = if fixtures {
        synth::write_fixtures(&out)
    } else {
        synth::generate(&out, &spec)
    }
    .with_context(|| format!("writing into {}", out.display()))?;
    let secs = start.elapsed().as_secs_f64();
    let files = summary.total_files();
    println!(
        "wrote {} into {}",
        if fixtures { "fixtures" } else { "corpus" },
        out.display()
    );
    println!(
        "dicom {}  nifti {}  analyze {}  other {}  bad {}  total {} files, {:.1} MiB",
        summary.dicom_files,
        summary.nifti_files,
        summary.analyze_files,
        summary.other_files,
        summary.bad_files,
        files,
        summary.bytes as f64 / (1024.0 * 1024.0)
    );
    println!(
        "{:.3} s, {:.0} files/s",
        secs,
        files as f64 / secs.max(1e-9)
    );
    Ok(())
}
