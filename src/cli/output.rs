//! Human-readable (and CSV/JSONL) renderings of command results.

use super::{QueryFormat, ShowFormat};
use crate::catalogue::Stats;
use crate::scan::ScanSummary;
use std::io::{self, Write};
use std::path::Path;

pub fn scan_summary(out: &mut impl Write, s: &ScanSummary) -> io::Result<()> {
    writeln!(
        out,
        "Scanned {} files in {:.2} s ({:.0} files/s) into {}",
        s.files_seen, s.seconds, s.files_per_second, s.catalogue
    )?;
    writeln!(
        out,
        "  read {} (new {}, changed {}, restored {}), unchanged {}, removed {}",
        s.new + s.changed + s.restored,
        s.new,
        s.changed,
        s.restored,
        s.unchanged,
        s.removed
    )?;
    writeln!(
        out,
        "  dicom {}  nifti {}  analyze {}  volume data {}  other {}  unreadable {}",
        s.dicom, s.nifti, s.analyze, s.volume_data, s.other, s.unreadable
    )?;
    if s.corrupt + s.truncated > 0 {
        writeln!(out, "  corrupt {}  truncated {}", s.corrupt, s.truncated)?;
    }
    if s.links_skipped + s.link_loops + s.unreadable_dirs > 0 {
        writeln!(
            out,
            "  symbolic links skipped {}  link loops {}  unreadable directories {}",
            s.links_skipped, s.link_loops, s.unreadable_dirs
        )?;
    }
    Ok(())
}

pub fn stats(out: &mut impl Write, s: &Stats, db: &Path) -> io::Result<()> {
    writeln!(out, "Catalogue {}", db.display())?;
    writeln!(
        out,
        "  files {} ({:.1} MB), removed {}",
        s.files,
        s.bytes as f64 / 1e6,
        s.removed
    )?;
    writeln!(
        out,
        "  patients {}  studies {}  series {}  instances {}  volumes {}",
        s.patients, s.studies, s.series, s.instances, s.volumes
    )?;
    write!(out, "  by kind:")?;
    for (k, n) in &s.files_by_kind {
        write!(out, "  {k} {n}")?;
    }
    writeln!(out)?;
    write!(out, "  by status:")?;
    for (k, n) in &s.files_by_status {
        write!(out, "  {k} {n}")?;
    }
    writeln!(out)?;
    if !s.instances_by_modality.is_empty() {
        write!(out, "  instances by modality:")?;
        for (k, n) in &s.instances_by_modality {
            write!(out, "  {k} {n}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

pub fn query(
    out: &mut impl Write,
    names: &[String],
    rows: &[Vec<serde_json::Value>],
    format: QueryFormat,
) -> io::Result<()> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match format {
        QueryFormat::Jsonl => {
            for row in rows {
                let obj: serde_json::Map<String, serde_json::Value> =
                    names.iter().cloned().zip(row.iter().cloned()).collect();
                serde_json::to_writer(&mut *out, &obj)?;
                writeln!(out)?;
            }
        }
        QueryFormat::Csv => {
            let line = |cells: Vec<String>| {
                cells
                    .into_iter()
                    .map(|c| {
                        if c.contains([',', '"', '\n']) {
                            format!("\"{}\"", c.replace('"', "\"\""))
                        } else {
                            c
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            };
            writeln!(out, "{}", line(names.to_vec()))?;
            for row in rows {
                writeln!(out, "{}", line(row.iter().map(text).collect()))?;
            }
        }
        QueryFormat::Table => {
            let cells: Vec<Vec<String>> =
                rows.iter().map(|r| r.iter().map(text).collect()).collect();
            let mut widths: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
            for r in &cells {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.chars().count()).min(60);
                }
            }
            let fmt_row = |r: &[String]| {
                r.iter()
                    .zip(&widths)
                    .map(|(c, w)| {
                        let c: String = c.chars().take(*w).collect();
                        format!("{c:<w$}")
                    })
                    .collect::<Vec<_>>()
                    .join("  ")
            };
            writeln!(out, "{}", fmt_row(names).trim_end())?;
            for r in &cells {
                writeln!(out, "{}", fmt_row(r).trim_end())?;
            }
        }
    }
    Ok(())
}

/// `dicura show`: reads the file itself (never the catalogue), so it shows what is on disk.
pub fn show(out: &mut impl Write, path: &Path, format: ShowFormat) -> anyhow::Result<()> {
    use crate::formats::{dicom, nifti};
    let mut head = [0u8; 560];
    let n = {
        use std::io::Read;
        let mut f =
            std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..])? {
                0 => break,
                k => n += k,
            }
        }
        n
    };
    let ext = crate::scan::extension_of(path).unwrap_or_default();
    let is_volume = nifti::sniff(&head[..n], ext.starts_with("hdr")).is_some()
        || (n >= 2 && head[0] == 0x1f && head[1] == 0x8b && (ext == "nii.gz" || ext == "hdr.gz"));
    if is_volume {
        let h = nifti::read_header(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        match format {
            ShowFormat::Json => {
                serde_json::to_writer_pretty(&mut *out, &h)?;
                writeln!(out)?;
            }
            ShowFormat::Text => {
                let v = serde_json::to_value(&h)?;
                if let serde_json::Value::Object(map) = v {
                    for (k, v) in map {
                        writeln!(out, "{k:<16} {v}")?;
                    }
                }
            }
        }
        return Ok(());
    }
    let h = dicom::read_header(path, &dicom::Limits::default())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    match format {
        ShowFormat::Json => {
            // Pretty-print the DICOM JSON model.
            let json = dicom::to_dicom_json(h.all_top_level());
            let v: serde_json::Value = serde_json::from_str(&json)?;
            serde_json::to_writer_pretty(&mut *out, &v)?;
            writeln!(out)?;
        }
        ShowFormat::Text => {
            writeln!(
                out,
                "# {} — transfer syntax {} ({}), {}{}",
                path.display(),
                h.transfer_syntax,
                match h.syntax_source {
                    dicom::SyntaxSource::Meta => "from meta",
                    dicom::SyntaxSource::Inferred => "inferred",
                },
                if h.preamble {
                    "preamble"
                } else {
                    "no preamble"
                },
                if h.meta.is_empty() {
                    ", no meta group"
                } else {
                    ""
                }
            )?;
            let all: Vec<_> = h.all_top_level().cloned().collect();
            write!(out, "{}", dicom::text::dump(&all))?;
            for p in &h.problems {
                writeln!(out, "# problem {}: {}", p.code, p.message)?;
            }
        }
    }
    Ok(())
}
