//! `dicura phi`, `dicura deid`, `dicura reidentify` and `dicura plan`: PHI review and
//! de-identified export from the command line. Values are printed only by
//! `phi --show-values`, and each one printed is recorded in the reveal audit table.

use super::{output, QueryFormat};
use crate::catalogue::Catalogue;
use crate::filter::Filter;
use crate::phi::export::{self, DeidConfigBase, ExportOptions};
use crate::phi::plan::Plan;
use crate::phi::pseudonym::Pseudonyms;
use crate::phi::table::ProfileOption;
use anyhow::{bail, Context};
use std::io::Write;
use std::path::{Path, PathBuf};

pub use crate::phi::who;

fn scoped_ids(cat: &Catalogue, filter: Option<&str>) -> anyhow::Result<Option<Vec<i64>>> {
    let Some(expr) = filter.filter(|f| !f.trim().is_empty()) else {
        return Ok(None);
    };
    let f = Filter::parse(expr).map_err(|e| anyhow::anyhow!("filter: {}", e.0))?;
    let scope = cat.scope(&f)?;
    Ok(Some(cat.scope_files(&scope)?))
}

/// `dicura phi`.
pub fn phi(
    out: &mut impl Write,
    db: &Path,
    format: QueryFormat,
    summary: bool,
    show_values: bool,
    filter: Option<&str>,
) -> anyhow::Result<i32> {
    let mut cat = Catalogue::open(db)?;
    cat.phi_refresh()?;
    if summary {
        let rows = cat.phi_summary()?;
        let names: Vec<String> = [
            "reason",
            "tag",
            "keyword",
            "action",
            "table_action",
            "creator",
            "files",
            "distinct_values",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let rows: Vec<Vec<serde_json::Value>> = rows
            .into_iter()
            .map(|r| {
                vec![
                    r.reason.into(),
                    tag_text(r.tag).into(),
                    r.keyword.into(),
                    r.action.into(),
                    r.table_action.into(),
                    r.creator.map_or(serde_json::Value::Null, Into::into),
                    r.files.into(),
                    r.distinct_values.into(),
                ]
            })
            .collect();
        output::query(out, &names, &rows, format)?;
        return Ok(0);
    }
    let only = scoped_ids(&cat, filter)?;
    let who = who();
    let mut names: Vec<String> = [
        "path",
        "tag",
        "keyword",
        "action",
        "reason",
        "sequence_path",
        "creator",
        "detail",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if show_values {
        names.push("value".into());
    }
    let mut rows = Vec::new();
    let mut failed = None;
    cat.phi_rows(only.as_deref(), |r| {
        let value = if show_values {
            match cat.phi_reveal(
                &who,
                r.file_id,
                r.tag,
                &r.keyword,
                r.sequence_path.as_deref(),
            ) {
                Ok(v) => v,
                Err(e) => {
                    failed = Some(e);
                    None
                }
            }
        } else {
            None
        };
        let mut row: Vec<serde_json::Value> = vec![
            r.path.into(),
            if r.tag == 0 {
                serde_json::Value::Null
            } else {
                tag_text(r.tag).into()
            },
            r.keyword.into(),
            r.action.into(),
            r.reason.into(),
            r.sequence_path.map_or(serde_json::Value::Null, Into::into),
            r.creator.map_or(serde_json::Value::Null, Into::into),
            r.detail.into(),
        ];
        if show_values {
            row.push(value.map_or(serde_json::Value::Null, Into::into));
        }
        if format == QueryFormat::Jsonl {
            let mut obj = serde_json::Map::new();
            for (n, v) in names.iter().zip(row) {
                // sequence_path and creator only where they apply; the rest always.
                if !v.is_null() || !matches!(n.as_str(), "sequence_path" | "creator") {
                    obj.insert(n.clone(), v);
                }
            }
            serde_json::to_writer(&mut *out, &obj)?;
            writeln!(out)?;
        } else {
            rows.push(row);
        }
        Ok(())
    })??;
    if let Some(e) = failed {
        return Err(e.into());
    }
    if format != QueryFormat::Jsonl {
        output::query(out, &names, &rows, format)?;
    }
    Ok(0)
}

fn tag_text(tag: u32) -> String {
    format!("{:04X},{:04X}", tag >> 16, tag & 0xFFFF)
}

/// Arguments of `dicura deid`, checked.
pub struct DeidArgs {
    pub out: PathBuf,
    pub profile: String,
    pub options: Vec<String>,
    pub plan: Option<PathBuf>,
    pub pseudonyms: Option<PathBuf>,
    pub dry_run: bool,
    pub allow_burned_in: bool,
    pub keep_layout: bool,
    pub filter: Option<String>,
    pub jobs: usize,
    pub json: bool,
}

/// `dicura deid`. Exit 0 when every selected file was exported, 1 when some were skipped
/// (burned-in risk) or failed.
pub fn deid(out: &mut impl Write, db: &Path, a: DeidArgs) -> anyhow::Result<i32> {
    if a.profile != "basic" {
        bail!("unknown profile {:?} (only \"basic\")", a.profile);
    }
    let mut options = Vec::new();
    for o in &a.options {
        match ProfileOption::parse(o) {
            Some(p) => options.push(p),
            None => bail!(
                "unknown option {o:?}; known: {}",
                ProfileOption::ALL.map(|o| o.name()).join(", ")
            ),
        }
    }
    options.sort();
    options.dedup();
    let mut cat = Catalogue::open(db)?;
    let plan = match &a.plan {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("plan {}", p.display()))?;
            let plan = Plan::from_toml(&text)?;
            cat.plan_save(&plan)?;
            plan
        }
        None => cat.plan_load()?,
    };
    // The output may not exist yet: then its absolute form is compared.
    if let Ok(canon_out) = a
        .out
        .canonicalize()
        .or_else(|_| std::path::absolute(&a.out))
    {
        for root in cat.roots()? {
            if canon_out.starts_with(&root) || Path::new(&root).starts_with(&canon_out) {
                bail!("--out {} overlaps the scanned root {root}", a.out.display());
            }
        }
    }
    cat.phi_refresh()?;
    let only = scoped_ids(&cat, a.filter.as_deref())?;
    let sources = cat.deid_sources(only.as_deref())?;
    drop(cat);
    let summary = export::export(
        &sources,
        DeidConfigBase {
            options,
            plan,
            dry_run: a.dry_run,
        },
        &ExportOptions {
            out: a.out.clone(),
            keep_layout: a.keep_layout,
            allow_burned_in: a.allow_burned_in,
            pseudonyms: a.pseudonyms.clone(),
            jobs: a.jobs,
        },
    )?;
    if a.json {
        serde_json::to_writer(&mut *out, &summary)?;
        writeln!(out)?;
    } else if a.dry_run {
        writeln!(out, "{:<44} {:<12} {:>8}", "attribute", "action", "files")?;
        for ((kw, act), n) in &summary.per_attribute {
            writeln!(out, "{kw:<44} {act:<12} {n:>8}")?;
        }
        writeln!(
            out,
            "{} file(s) would be exported, {} skipped (burned-in risk), {} unreadable",
            summary.exported, summary.skipped_burned_in, summary.failed
        )?;
    } else {
        writeln!(
            out,
            "{} exported, {} skipped (burned-in risk), {} failed in {:.1} s ({:.0} files/s); manifest {}",
            summary.exported,
            summary.skipped_burned_in,
            summary.failed,
            summary.seconds,
            summary.files_per_second,
            summary.manifest.as_deref().unwrap_or("-")
        )?;
    }
    for e in &summary.entries {
        match e.status.as_str() {
            "skipped_burned_in" => eprintln!("skipped (burned-in risk): {}", e.source),
            "failed" => eprintln!(
                "failed: {}: {}",
                e.source,
                e.error.as_deref().unwrap_or("unknown error")
            ),
            _ => {}
        }
    }
    Ok(if summary.skipped_burned_in + summary.failed > 0 {
        1
    } else {
        0
    })
}

/// `dicura reidentify`: the originals behind pseudonyms, for the key holder.
pub fn reidentify(out: &mut impl Write, key: &Path, values: &[String]) -> anyhow::Result<i32> {
    if !key.exists() {
        bail!("pseudonym file {} does not exist", key.display());
    }
    let keys = Pseudonyms::open_or_create(key)?;
    let mut missing = 0;
    for v in values {
        let found = keys.reidentify(v);
        if found.is_empty() {
            missing += 1;
        }
        for m in found {
            serde_json::to_writer(&mut *out, &m)?;
            writeln!(out)?;
        }
    }
    Ok(if missing > 0 { 1 } else { 0 })
}

/// `dicura plan`: load a TOML plan into the catalogue, save it to TOML, or print it.
pub fn plan(
    out: &mut impl Write,
    db: &Path,
    load: Option<&Path>,
    save: Option<&Path>,
) -> anyhow::Result<i32> {
    let mut cat = Catalogue::open(db)?;
    if let Some(p) = load {
        let text = std::fs::read_to_string(p).with_context(|| format!("plan {}", p.display()))?;
        cat.plan_save(&Plan::from_toml(&text)?)?;
    }
    let plan = cat.plan_load()?;
    match save {
        Some(p) => {
            std::fs::write(p, plan.to_toml()).with_context(|| format!("plan {}", p.display()))?
        }
        None => write!(out, "{}", plan.to_toml())?,
    }
    Ok(0)
}
