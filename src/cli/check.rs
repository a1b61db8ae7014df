//! `dicura check` and `dicura ack`.

use crate::catalogue::findings::{FindingFilter, FindingRow};
use crate::catalogue::Catalogue;
use crate::checks::engine::{rule, Severity};
use crate::checks::protocol::Protocol;
use crate::checks::{self, CheckOptions};
use anyhow::{bail, Context};
use clap::ValueEnum;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum CheckFormat {
    Jsonl,
    Csv,
    Table,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FailOn {
    Error,
    Warning,
    Never,
}

/// Rows fetched per page while printing.
const PAGE: usize = 5000;

/// Runs `dicura check`; returns the exit code (1 when an unacknowledged finding at or above
/// `fail_on` exists).
pub fn run(
    out: &mut impl Write,
    db: &Path,
    format: CheckFormat,
    deep: bool,
    protocol: Option<&Path>,
    fail_on: FailOn,
) -> anyhow::Result<i32> {
    let protocol = match protocol {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read protocol file {}", p.display()))?;
            Some(
                Protocol::parse(&text)
                    .map_err(|e| anyhow::anyhow!("protocol file {}: {e}", p.display()))?,
            )
        }
        None => None,
    };
    if !db.exists() {
        bail!(
            "catalogue {} does not exist (run dicura scan first)",
            db.display()
        );
    }
    let cat = Catalogue::open(db)?;
    checks::run(&cat, &CheckOptions { deep, protocol })?;
    let filter = FindingFilter {
        include_acknowledged: true,
        ..Default::default()
    };
    let mut after: Option<(i64, String, i64)> = None; // owned copy of the last row's cursor
    if format == CheckFormat::Csv {
        writeln!(
            out,
            "severity,code,path,tag,keyword,tag_path,series_uid,study_uid,group,acknowledged,message"
        )?;
    }
    let mut counts = [0usize; 3];
    let mut acked = 0usize;
    loop {
        let page = cat.findings_page(
            &filter,
            after.as_ref().map(|(r, c, i)| (*r, c.as_str(), *i)),
            PAGE,
        )?;
        for f in &page {
            match Severity::parse(&f.severity) {
                Some(s) if !f.acknowledged => counts[s.rank() as usize] += 1,
                _ => acked += 1,
            }
            write_row(out, f, format)?;
        }
        match page.last() {
            Some(last) if page.len() == PAGE => {
                let rank = Severity::parse(&last.severity)
                    .map(Severity::rank)
                    .unwrap_or(0);
                after = Some((rank, last.code.clone(), last.id));
            }
            _ => break,
        }
    }
    if format == CheckFormat::Table {
        writeln!(
            out,
            "{} errors, {} warnings, {} info ({} acknowledged)",
            counts[2], counts[1], counts[0], acked
        )?;
    }
    let fail = match fail_on {
        FailOn::Never => false,
        FailOn::Error => cat.has_findings_at(Severity::Error)?,
        FailOn::Warning => cat.has_findings_at(Severity::Warning)?,
    };
    Ok(if fail { 1 } else { 0 })
}

fn write_row(out: &mut impl Write, f: &FindingRow, format: CheckFormat) -> std::io::Result<()> {
    match format {
        CheckFormat::Jsonl => {
            let mut obj = serde_json::Map::new();
            let mut put = |k: &str, v: Option<&str>| {
                if let Some(v) = v {
                    obj.insert(k.to_string(), v.into());
                }
            };
            put("path", f.path.as_deref());
            put("code", Some(&f.code));
            put("severity", Some(&f.severity));
            put("message", Some(&f.message));
            put("tag", f.tag.as_deref());
            put("keyword", f.keyword.as_deref());
            put("tag_path", f.tag_path.as_deref());
            put("series_uid", f.series_uid.as_deref());
            put("study_uid", f.study_uid.as_deref());
            put("group", f.group.as_deref());
            put("subject", Some(&f.subject));
            obj.insert("acknowledged".into(), f.acknowledged.into());
            if let Some(r) = &f.ack_reason {
                obj.insert("ack_reason".into(), r.clone().into());
            }
            serde_json::to_writer(&mut *out, &obj)?;
            writeln!(out)
        }
        CheckFormat::Csv => {
            let cell = |s: &str| {
                if s.contains([',', '"', '\n']) {
                    format!("\"{}\"", s.replace('"', "\"\""))
                } else {
                    s.to_string()
                }
            };
            let o = |v: &Option<String>| cell(v.as_deref().unwrap_or(""));
            writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{}",
                f.severity,
                f.code,
                o(&f.path),
                o(&f.tag),
                o(&f.keyword),
                o(&f.tag_path),
                o(&f.series_uid),
                o(&f.study_uid),
                o(&f.group),
                f.acknowledged,
                cell(&f.message)
            )
        }
        CheckFormat::Table => {
            let sev = if f.acknowledged {
                format!("{} (ack)", f.severity)
            } else {
                f.severity.clone()
            };
            let tag = f
                .tag
                .as_deref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default();
            let group = f
                .group
                .as_deref()
                .map(|g| format!(" [{g}]"))
                .unwrap_or_default();
            writeln!(
                out,
                "{sev:<15} {:<34} {}{tag}{group}\n{:>16}{}",
                f.code,
                f.path.as_deref().unwrap_or(&f.subject),
                "",
                f.message
            )
        }
    }
}

/// Runs `dicura ack`: acknowledges `code` at exactly one subject.
#[allow(clippy::too_many_arguments)]
pub fn ack(
    out: &mut impl Write,
    db: &Path,
    code: &str,
    path: Option<&Path>,
    series: Option<&str>,
    study: Option<&str>,
    folder: Option<&Path>,
    tag: Option<&str>,
    reason: &str,
) -> anyhow::Result<i32> {
    if rule(code).is_none() {
        bail!("unknown rule code {code:?} (see README: dicura check)");
    }
    if reason.trim().is_empty() {
        bail!("--reason must not be empty");
    }
    if let Some(t) = tag {
        let ok = t.len() == 9
            && t.as_bytes()[4] == b','
            && t.chars()
                .filter(|c| *c != ',')
                .all(|c| c.is_ascii_hexdigit());
        if !ok {
            bail!("--tag must be GGGG,EEEE (hex), not {t:?}");
        }
    }
    if !db.exists() {
        bail!("catalogue {} does not exist", db.display());
    }
    let cat = Catalogue::open(db)?;
    let abs =
        |p: &Path| -> PathBuf { std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()) };
    let subject = match (path, series, study, folder) {
        (Some(p), None, None, None) => {
            let p = abs(p);
            let text = crate::scan::path_text(&p).0;
            match cat.file_subject_of(&text)? {
                Some(s) => s,
                None => bail!("{} is not in the catalogue", p.display()),
            }
        }
        (None, Some(s), None, None) => format!("series:{s}"),
        (None, None, Some(s), None) => format!("study:{s}"),
        (None, None, None, Some(d)) => format!("folder:{}", crate::scan::path_text(&abs(d)).0),
        _ => bail!("give exactly one of --path, --series, --study, --folder"),
    };
    let n = cat.acknowledge(
        code,
        &subject,
        tag.map(|t| t.to_ascii_uppercase()).as_deref(),
        reason,
    )?;
    writeln!(
        out,
        "acknowledged {code} for {subject}: {n} current finding(s)"
    )?;
    Ok(0)
}
