//! One `dicura deid` run over catalogued files: the secret, parallel workers, the
//! manifest, the dry-run report and the pseudonym key file.

use super::deid::{self, Counts, DeidConfig, DeidError, TMP_SUFFIX};
use super::pseudonym::Pseudonyms;
use super::uid::Secret;
use crate::catalogue::DeidSource;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where and how to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub out: PathBuf,
    pub keep_layout: bool,
    pub allow_burned_in: bool,
    pub pseudonyms: Option<PathBuf>,
    pub jobs: usize,
}

/// One file's line in the manifest (no values).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ManifestEntry {
    pub source: String,
    pub output: Option<String>,
    /// exported, skipped_burned_in, failed
    pub status: String,
    pub error: Option<String>,
    /// "keyword action" → count.
    pub actions: BTreeMap<String, u64>,
}

/// What a run did.
#[derive(Debug, Default, serde::Serialize)]
pub struct ExportSummary {
    pub exported: usize,
    pub skipped_burned_in: usize,
    pub failed: usize,
    pub seconds: f64,
    pub files_per_second: f64,
    /// (keyword, action) → files in which it was applied (the dry-run report).
    #[serde(skip)]
    pub per_attribute: BTreeMap<(String, String), u64>,
    pub manifest: Option<String>,
    #[serde(skip)]
    pub entries: Vec<ManifestEntry>,
}

/// Name of the run's secret file in the output directory while a run without a key file is
/// in progress (so an interrupted run resumes with the same names); deleted at the end.
pub const RUN_SECRET: &str = ".dicura-run-secret";

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

fn remove_stale_temporaries(dir: &Path) {
    for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if e.file_type().is_file() && e.file_name().to_string_lossy().ends_with(TMP_SUFFIX) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn export_volume(
    src: &DeidSource,
    out_root: &Path,
    cfg: &DeidConfig,
    counts: &mut Counts,
) -> Result<PathBuf, DeidError> {
    let io = |e: std::io::Error| DeidError::Read(e.to_string());
    let path = Path::new(&src.path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let gz = name.ends_with(".gz");
    let raw = std::fs::read(path).map_err(io)?;
    let mut bytes = if gz {
        use std::io::Read;
        let mut v = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut v)
            .map_err(io)?;
        v
    } else {
        raw
    };
    if !deid::clean_volume_header(&mut bytes, &cfg.plan, counts) {
        return Err(DeidError::Read("not a NIfTI/Analyze header".into()));
    }
    let stem = cfg.secret.token("volume", &src.path, 16);
    let ext = if name.ends_with(".nii.gz") {
        "nii.gz"
    } else if name.ends_with(".nii") {
        "nii"
    } else {
        "hdr"
    };
    let rel = PathBuf::from("volumes").join(format!("V{stem}.{ext}"));
    if cfg.dry_run {
        return Ok(rel);
    }
    let dest = out_root.join(&rel);
    if !dest.exists() {
        deid::write_atomically(&dest, |tmp| {
            let data = if gz {
                use std::io::Write;
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(&bytes)
                    .and_then(|_| enc.finish())
                    .map_err(|e| DeidError::Write(e.to_string()))?
            } else {
                bytes.clone()
            };
            std::fs::write(tmp, data).map_err(|e| DeidError::Write(e.to_string()))
        })?;
        // The voxel half of a pair is copied as it is.
        if ext == "hdr" {
            if let Some(data) = src.data_path.as_deref().filter(|d| Path::new(d).exists()) {
                let img = dest.with_extension("img");
                if !img.exists() {
                    deid::write_atomically(&img, |tmp| {
                        std::fs::copy(data, tmp)
                            .map(|_| ())
                            .map_err(|e| DeidError::Write(e.to_string()))
                    })?;
                }
            }
        }
    }
    Ok(rel)
}

/// Exports `sources`. With a key file, the secret and the mappings are kept in it;
/// without, the run's secret exists only while the run does.
pub fn export(
    sources: &[DeidSource],
    mut cfg_base: DeidConfigBase,
    opts: &ExportOptions,
) -> anyhow::Result<ExportSummary> {
    let started = std::time::Instant::now();
    let mut keys = match &opts.pseudonyms {
        Some(p) => Some(Pseudonyms::open_or_create(p)?),
        None => None,
    };
    let run_secret_path = opts.out.join(RUN_SECRET);
    let secret = match &keys {
        Some(k) => k.secret.clone(),
        None if cfg_base.dry_run => Secret::random()?,
        None => {
            std::fs::create_dir_all(&opts.out)?;
            match std::fs::read_to_string(&run_secret_path)
                .ok()
                .and_then(|s| Secret::from_hex(&s))
            {
                Some(s) => s,
                None => {
                    let s = Secret::random()?;
                    write_private(&run_secret_path, &s.to_hex())?;
                    s
                }
            }
        }
    };
    if !cfg_base.dry_run {
        std::fs::create_dir_all(&opts.out)?;
        remove_stale_temporaries(&opts.out);
    }
    let cfg = DeidConfig {
        options: std::mem::take(&mut cfg_base.options),
        plan: std::mem::take(&mut cfg_base.plan),
        secret,
        pseudonymise: keys.is_some(),
        dry_run: cfg_base.dry_run,
    };
    let jobs = if opts.jobs == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.jobs
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Vec<(usize, ManifestEntry, Vec<super::pseudonym::Mapping>)>> =
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..jobs.max(1))
                .map(|_| {
                    s.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(src) = sources.get(i) else { break };
                            out.push(one(src, &cfg, opts, i));
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
    let mut all: Vec<_> = results.into_iter().flatten().collect();
    all.sort_by_key(|r| r.0);
    let mut summary = ExportSummary::default();
    for (_, entry, mappings) in all {
        match entry.status.as_str() {
            "exported" => summary.exported += 1,
            "skipped_burned_in" => summary.skipped_burned_in += 1,
            _ => summary.failed += 1,
        }
        for (k, n) in &entry.actions {
            if *n > 0 {
                let (kw, act) = k.split_once(' ').unwrap_or((k.as_str(), ""));
                *summary
                    .per_attribute
                    .entry((kw.to_string(), act.to_string()))
                    .or_insert(0) += 1;
            }
        }
        if let Some(k) = keys.as_mut() {
            for m in mappings {
                k.record(m);
            }
        }
        summary.entries.push(entry);
    }
    if !cfg.dry_run {
        let manifest = opts.out.join("deid-manifest.jsonl");
        let mut text = String::new();
        for e in &summary.entries {
            text.push_str(&serde_json::to_string(e)?);
            text.push('\n');
        }
        write_private(&manifest, &text)?;
        summary.manifest = Some(manifest.display().to_string());
        if let (Some(k), Some(p)) = (&keys, &opts.pseudonyms) {
            k.save(p)?;
        }
        if keys.is_none() && summary.failed == 0 {
            // No link is kept anywhere: the run's secret goes with the run.
            let _ = std::fs::remove_file(&run_secret_path);
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    summary.files_per_second = if summary.seconds > 0.0 {
        summary.exported as f64 / summary.seconds
    } else {
        0.0
    };
    Ok(summary)
}

/// The parts of [`DeidConfig`] a caller chooses (the secret comes from the run).
#[derive(Debug, Clone, Default)]
pub struct DeidConfigBase {
    pub options: Vec<super::table::ProfileOption>,
    pub plan: super::plan::Plan,
    pub dry_run: bool,
}

fn one(
    src: &DeidSource,
    cfg: &DeidConfig,
    opts: &ExportOptions,
    i: usize,
) -> (usize, ManifestEntry, Vec<super::pseudonym::Mapping>) {
    let mut entry = ManifestEntry {
        source: src.path.clone(),
        output: None,
        status: "exported".into(),
        error: None,
        actions: BTreeMap::new(),
    };
    if src.burned_in && !opts.allow_burned_in {
        entry.status = "skipped_burned_in".into();
        return (i, entry, Vec::new());
    }
    if let Some(why) = &src.unsafe_reason {
        entry.status = "failed".into();
        entry.error = Some(format!("not exported: {why}"));
        return (i, entry, Vec::new());
    }
    let flatten = |c: Counts| {
        c.into_iter()
            .map(|((k, a), n)| (format!("{k} {a}"), n))
            .collect()
    };
    if src.kind == "dicom" {
        let root = if opts.keep_layout {
            src.root.as_deref().map(Path::new)
        } else {
            None
        };
        let keep = if opts.keep_layout {
            Some(root.unwrap_or(Path::new("/")))
        } else {
            None
        };
        match deid::deidentify_dicom(Path::new(&src.path), &opts.out, keep, cfg) {
            Ok(r) => {
                entry.output = Some(r.output.display().to_string());
                entry.actions = flatten(r.counts);
                (i, entry, r.mappings)
            }
            Err(e) => {
                entry.status = "failed".into();
                entry.error = Some(e.to_string());
                (i, entry, Vec::new())
            }
        }
    } else {
        let mut counts = Counts::new();
        match export_volume(src, &opts.out, cfg, &mut counts) {
            Ok(rel) => {
                entry.output = Some(rel.display().to_string());
                entry.actions = flatten(counts);
            }
            Err(e) => {
                entry.status = "failed".into();
                entry.error = Some(e.to_string());
            }
        }
        (i, entry, Vec::new())
    }
}
