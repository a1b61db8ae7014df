//! `dicura labels ...`: schemes, scriptable labelling, adjudication, history, statistics and
//! agreement, export (CSV, JSONL, class-per-folder symlink trees) and all-or-nothing import.

use super::phi::who;
use super::{output, QueryFormat};
use crate::catalogue::labels::{ExportRow, ItemRef, LabelAction, LabelState, LabelWrite};
use crate::catalogue::{Catalogue, CatalogueError};
use crate::labels::agreement::{agreement, SetAgreement};
use crate::labels::scheme::{Level, Scheme};
use crate::labels::Session;
use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Jsonl,
    /// A class-per-folder tree of symbolic links (the ImageFolder convention)
    Folders,
}

#[derive(Debug, Subcommand)]
pub enum LabelsCommand {
    /// Validate a label scheme (TOML) and store it in the catalogue.
    Load { file: PathBuf },
    /// Print the stored scheme as TOML.
    Scheme,
    /// Label one item (scriptable labelling).
    Set {
        #[arg(long = "set", value_name = "NAME")]
        set: String,
        /// The category (multi-choice sets: a;b). What is not given (category, note, flag)
        /// keeps its current value
        #[arg(long, value_name = "C")]
        category: Option<String>,
        /// A catalogued file (the item is its series/study/patient for those levels)
        #[arg(long, value_name = "P", conflicts_with = "uid")]
        path: Option<PathBuf>,
        /// SOP/Series/Study Instance UID or Patient ID, by the set's level
        #[arg(long, value_name = "U")]
        uid: Option<String>,
        #[arg(long, value_name = "NAME")]
        annotator: Option<String>,
        /// A free-text note ("" removes it)
        #[arg(long)]
        note: Option<String>,
        /// Mark uncertain (--uncertain false: certain)
        #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        uncertain: Option<bool>,
        /// Remove the annotator's label of the item
        #[arg(long, conflicts_with_all = ["category", "note", "uncertain"])]
        clear: bool,
    },
    /// Set the final (adjudicated) label of an item, recorded as such.
    Adjudicate {
        #[arg(long = "set", value_name = "NAME")]
        set: String,
        #[arg(long, value_name = "U")]
        uid: Option<String>,
        #[arg(long, value_name = "P", conflicts_with = "uid")]
        path: Option<PathBuf>,
        #[arg(long, value_name = "C")]
        category: String,
        /// The lead curator [default: the login name]
        #[arg(long, value_name = "NAME")]
        annotator: Option<String>,
    },
    /// Items annotators disagree on (the adjudication list).
    Disagreements {
        #[arg(long = "set", value_name = "NAME")]
        set: String,
        /// Also those already adjudicated
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// The history of an item's labels (a path, UID or Patient ID).
    History {
        item: String,
        #[arg(long)]
        json: bool,
    },
    /// Counts per category and annotator, and agreement per label set.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Export labels.
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        #[arg(long = "set", value_name = "NAME")]
        set: Option<String>,
        #[arg(long, value_name = "NAME")]
        annotator: Option<String>,
        /// Only adjudicated final labels
        #[arg(long = "final")]
        final_only: bool,
        /// Output file (csv, jsonl; default stdout) or directory (folders)
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
    /// Import labels from CSV or JSONL (as exported, or a spreadsheet with set, category and
    /// path or UID columns) or from a folders export; all or nothing.
    Import {
        file: PathBuf,
        /// Annotator for rows without one [default: the login name]
        #[arg(long, value_name = "NAME")]
        annotator: Option<String>,
        /// Folders import: the labels are final labels
        #[arg(long = "final")]
        final_labels: bool,
    },
}

fn scheme_of(cat: &Catalogue) -> anyhow::Result<Scheme> {
    cat.label_scheme()?.ok_or_else(|| {
        anyhow::anyhow!("no label scheme in the catalogue (dicura labels load labels.toml)")
    })
}

fn load_scheme_file(p: &Path) -> anyhow::Result<Scheme> {
    let text =
        std::fs::read_to_string(p).with_context(|| format!("label scheme {}", p.display()))?;
    Scheme::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
}

fn abs_path(p: &Path) -> String {
    std::fs::canonicalize(p)
        .or_else(|_| std::path::absolute(p))
        .unwrap_or_else(|_| p.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

fn resolve(
    cat: &Catalogue,
    level: Level,
    path: Option<&Path>,
    uid: Option<&str>,
) -> anyhow::Result<ItemRef> {
    let (text, what) = match (path, uid) {
        (Some(p), _) => (abs_path(p), "path"),
        (None, Some(u)) => (u.to_string(), "UID"),
        (None, None) => bail!("name the item with --path or --uid"),
    };
    cat.resolve_item(level, &text)?.ok_or_else(|| {
        // A Patient ID is PHI: not repeated in the message.
        let text = if level == Level::Patient && what == "UID" {
            "(not shown)"
        } else {
            &text
        };
        anyhow::anyhow!("no {level} item in the catalogue for {what} {text}")
    })
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn iso_time(t: f64) -> String {
    let ms = (t * 1000.0).round() as i64;
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Parses [`iso_time`]'s format (fraction optional), or plain seconds since the epoch.
pub fn parse_time(s: &str) -> Option<f64> {
    if let Ok(v) = s.parse::<f64>() {
        return Some(v);
    }
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let frac: f64 = format!("0.{frac}").parse().ok()?;
    // Days from civil (Howard Hinnant).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86400 + hh * 3600 + mm * 60 + ss) as f64 + frac)
}

pub fn run(
    out: &mut impl Write,
    db: &Path,
    labels: Option<&Path>,
    cmd: LabelsCommand,
) -> anyhow::Result<i32> {
    if let LabelsCommand::Load { file } = &cmd {
        let scheme = load_scheme_file(file)?;
        let cat = Catalogue::open(db)?;
        cat.label_scheme_save(&scheme, &who())?;
        let n: usize = scheme.sets.iter().map(|s| s.categories.len()).sum();
        writeln!(
            out,
            "stored label scheme: {} sets, {n} categories",
            scheme.sets.len()
        )?;
        return Ok(0);
    }
    let read_only = matches!(
        cmd,
        LabelsCommand::Scheme
            | LabelsCommand::History { .. }
            | LabelsCommand::Stats { .. }
            | LabelsCommand::Export { .. }
            | LabelsCommand::Disagreements { .. }
    );
    let cat = if read_only && labels.is_none() {
        Catalogue::open_read_only(db)?
    } else {
        Catalogue::open(db)?
    };
    if let Some(p) = labels {
        let scheme = load_scheme_file(p)?;
        cat.label_scheme_save(&scheme, &who())?;
    }
    match cmd {
        LabelsCommand::Load { .. } => Ok(0),
        LabelsCommand::Scheme => {
            write!(out, "{}", scheme_of(&cat)?.to_toml())?;
            Ok(0)
        }
        LabelsCommand::Set {
            set,
            category,
            path,
            uid,
            annotator,
            note,
            uncertain,
            clear,
        } => {
            let scheme = scheme_of(&cat)?;
            let s = scheme
                .set(&set)
                .ok_or_else(|| anyhow::anyhow!("no label set {set:?} in the scheme"))?;
            if let Some(c) = &category {
                scheme.check(&set, c).map_err(anyhow::Error::msg)?;
            }
            let item = resolve(&cat, s.level, path.as_deref(), uid.as_deref())?;
            let annotator = annotator.unwrap_or_else(who);
            let category = category.map(|c| {
                let parts: Vec<&str> = c.split(';').collect();
                s.normalise(&parts)
            });
            if !clear && category.is_none() && note.is_none() && uncertain.is_none() {
                bail!("give --category, --note, --uncertain or --clear");
            }
            let session = Session::new(&annotator);
            // Read, merge, compare-and-set: a change made meanwhile by another process is
            // merged again rather than overwritten.
            let mut attempts = 0;
            loop {
                let old = cat.label_state(&set, &item, &annotator, false)?;
                let state = if clear {
                    LabelState::default()
                } else {
                    LabelState {
                        category: category.clone().or(old.category.clone()),
                        uncertain: uncertain.unwrap_or(old.uncertain),
                        note: match &note {
                            Some(n) if n.trim().is_empty() => None,
                            Some(n) => Some(n.clone()),
                            None => old.note.clone(),
                        },
                    }
                };
                let r = cat.label_write(&LabelWrite {
                    set: &set,
                    item: &item,
                    annotator: &annotator,
                    is_final: false,
                    state: &state,
                    action: if clear {
                        LabelAction::Clear
                    } else {
                        LabelAction::Assign
                    },
                    session: Some(session.id()),
                    expect: Some(&old),
                    at: None,
                });
                match r {
                    Err(crate::catalogue::CatalogueError::Label(_)) if attempts < 5 => {
                        attempts += 1
                    }
                    r => {
                        r?;
                        break;
                    }
                }
            }
            Ok(0)
        }
        LabelsCommand::Adjudicate {
            set,
            uid,
            path,
            category,
            annotator,
        } => {
            let scheme = scheme_of(&cat)?;
            let s = scheme
                .set(&set)
                .ok_or_else(|| anyhow::anyhow!("no label set {set:?} in the scheme"))?;
            let item = resolve(&cat, s.level, path.as_deref(), uid.as_deref())?;
            let mut session = Session::new(&annotator.unwrap_or_else(who));
            session.adjudicate(&cat, &scheme, &set, &item, Some(&category))?;
            Ok(0)
        }
        LabelsCommand::Disagreements { set, all, json } => {
            let list = cat.label_disagreements(&set, !all)?;
            if json {
                for d in &list {
                    serde_json::to_writer(&mut *out, d)?;
                    writeln!(out)?;
                }
            } else {
                let rows: Vec<Vec<Value>> = list
                    .iter()
                    .map(|d| {
                        vec![
                            d.item.level.as_str().into(),
                            d.item.key.clone().into(),
                            d.labels
                                .iter()
                                .map(|(a, c)| format!("{a}={c}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                                .into(),
                            d.final_label
                                .as_ref()
                                .map(|(a, c)| format!("{c} (by {a})"))
                                .unwrap_or_default()
                                .into(),
                        ]
                    })
                    .collect();
                let names = ["level", "item", "labels", "final"].map(String::from);
                output::query(out, &names, &rows, QueryFormat::Table)?;
            }
            Ok(0)
        }
        LabelsCommand::History { item, json } => {
            let text = if Path::new(&item).exists() {
                abs_path(Path::new(&item))
            } else {
                item.clone()
            };
            let items = cat.resolve_all(&text)?;
            if items.is_empty() {
                bail!("nothing in the catalogue is named {item}");
            }
            let rows = cat.label_history(&items)?;
            if json {
                for h in &rows {
                    let mut v = serde_json::to_value(h)?;
                    v["time"] = iso_time(h.at).into();
                    serde_json::to_writer(&mut *out, &v)?;
                    writeln!(out)?;
                }
            } else {
                let names = [
                    "time",
                    "level",
                    "item",
                    "set",
                    "annotator",
                    "action",
                    "from",
                    "to",
                    "uncertain",
                    "note",
                ]
                .map(String::from);
                let rows: Vec<Vec<Value>> = rows
                    .iter()
                    .map(|h| {
                        vec![
                            iso_time(h.at).into(),
                            h.item.level.as_str().into(),
                            h.item.key.clone().into(),
                            h.set.clone().into(),
                            if h.is_final {
                                format!("{} (final)", h.annotator)
                            } else {
                                h.annotator.clone()
                            }
                            .into(),
                            h.action.clone().into(),
                            h.old_category.clone().unwrap_or_default().into(),
                            h.state.category.clone().unwrap_or_default().into(),
                            h.state.uncertain.into(),
                            h.state.note.clone().unwrap_or_default().into(),
                        ]
                    })
                    .collect();
                output::query(out, &names, &rows, QueryFormat::Table)?;
            }
            Ok(0)
        }
        LabelsCommand::Stats { json } => stats(out, &cat, json),
        LabelsCommand::Export {
            format,
            set,
            annotator,
            final_only,
            out: dest,
        } => {
            // Streamed: constant memory on any number of labels.
            match format {
                ExportFormat::Folders => {
                    let Some(dir) = dest else {
                        bail!("--format folders needs --out DIR");
                    };
                    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
                        bail!("{} is not empty", dir.display());
                    }
                    let mut failed: Option<anyhow::Error> = None;
                    let mut stop = |e: anyhow::Error| {
                        failed = Some(e);
                        std::io::Error::other("export stopped")
                    };
                    let mut w = FolderWriter {
                        cat: &cat,
                        dir: &dir,
                        links: 0,
                        labels: 0,
                        skipped: 0,
                        group: None,
                    };
                    let r = cat.label_export_each(
                        set.as_deref(),
                        annotator.as_deref(),
                        final_only,
                        |row| w.push(row).map_err(&mut stop),
                    );
                    if let Some(e) = failed {
                        return Err(e);
                    }
                    r?;
                    w.flush()?;
                    writeln!(
                        out,
                        "{} links for {} labels in {}",
                        w.links,
                        w.labels,
                        dir.display()
                    )?;
                    if w.skipped > 0 {
                        eprintln!(
                            "dicura: {} labels skipped: their items have different categories \
                             from different annotators (use --final or --annotator)",
                            w.skipped
                        );
                    }
                }
                f => {
                    let csv = f == ExportFormat::Csv;
                    let mut sink: Box<dyn Write> = match &dest {
                        Some(p) => {
                            // Owner-only, like the catalogue: rows carry paths and UIDs.
                            use std::os::unix::fs::OpenOptionsExt;
                            let file = std::fs::OpenOptions::new()
                                .write(true)
                                .create(true)
                                .truncate(true)
                                .mode(0o600)
                                .open(p)
                                .with_context(|| format!("cannot create {}", p.display()))?;
                            Box::new(std::io::BufWriter::new(file))
                        }
                        None => Box::new(std::io::BufWriter::new(&mut *out)),
                    };
                    if csv {
                        writeln!(sink, "{}", EXPORT_COLUMNS.join(","))?;
                    }
                    let r = cat.label_export_each(
                        set.as_deref(),
                        annotator.as_deref(),
                        final_only,
                        |row| {
                            let values = export_values(&row);
                            if csv {
                                writeln!(sink, "{}", csv_line(&values))
                            } else {
                                let obj: serde_json::Map<String, Value> = EXPORT_COLUMNS
                                    .iter()
                                    .map(|c| c.to_string())
                                    .zip(values)
                                    .collect();
                                serde_json::to_writer(&mut sink, &obj)?;
                                writeln!(sink)
                            }
                        },
                    );
                    match r {
                        // The only I/O here is the output's.
                        Err(CatalogueError::Io { source, .. }) => {
                            return Err(
                                anyhow::Error::new(source).context("cannot write the export")
                            )
                        }
                        r => r?,
                    };
                    sink.flush()?;
                }
            }
            Ok(0)
        }
        LabelsCommand::Import {
            file,
            annotator,
            final_labels,
        } => {
            let scheme = scheme_of(&cat)?;
            let annotator = annotator.unwrap_or_else(who);
            let records = if file.is_dir() {
                folder_records(&file, &annotator, final_labels)?
            } else {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let jsonl = file.extension().is_some_and(|e| {
                    e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("json")
                });
                if jsonl {
                    jsonl_records(&text)?
                } else {
                    csv_records(&text)?
                }
            };
            let n = import(&cat, &scheme, &records, &annotator).map_err(|errs| {
                anyhow::anyhow!(
                    "{}: nothing imported:\n  {}",
                    file.display(),
                    errs.join("\n  ")
                )
            })?;
            writeln!(out, "imported {} labels ({n} changed)", records.len())?;
            Ok(0)
        }
    }
}

/// Columns of CSV and JSONL exports (and what import reads back).
pub const EXPORT_COLUMNS: &[&str] = &[
    "set",
    "level",
    "item",
    "path",
    "sop_instance_uid",
    "series_uid",
    "study_uid",
    "patient_id",
    "category",
    "annotator",
    "final",
    "time",
    "uncertain",
    "note",
];

fn export_values(r: &ExportRow) -> Vec<Value> {
    let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::from);
    vec![
        r.label.set.clone().into(),
        r.label.item.level.as_str().into(),
        r.label.item.key.clone().into(),
        r.path.clone().into(),
        opt(&r.sop_instance_uid),
        opt(&r.series_uid),
        opt(&r.study_uid),
        opt(&r.patient_id),
        opt(&r.label.state.category),
        r.label.annotator.clone().into(),
        r.label.is_final.into(),
        iso_time(r.label.at).into(),
        r.label.state.uncertain.into(),
        opt(&r.label.state.note),
    ]
}

/// A file name unique within a tree: a hash of the full path, then the file's name.
fn link_name(path: &str) -> String {
    let h = xxhash_rust::xxh3::xxh3_64(path.as_bytes());
    let base = path.rsplit('/').next().unwrap_or(path);
    format!("{:08x}_{base}", h as u32)
}

/// A key usable as a folder name.
fn safe_name(key: &str) -> String {
    key.chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

/// One CSV line (RFC 4180 quoting) of export values.
fn csv_line(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| {
            let c = match v {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The folders export, fed the labels in (set, item) order: one item's labels at a time.
struct FolderWriter<'a> {
    cat: &'a Catalogue,
    dir: &'a Path,
    links: usize,
    labels: usize,
    skipped: usize,
    /// The current (set, item), its categories and its number of labels.
    group: Option<(String, ItemRef, BTreeSet<String>, usize)>,
}

impl FolderWriter<'_> {
    fn push(&mut self, row: ExportRow) -> anyhow::Result<()> {
        let same = self
            .group
            .as_ref()
            .is_some_and(|g| g.0 == row.label.set && g.1 == row.label.item);
        if !same {
            self.flush()?;
            self.group = Some((row.label.set, row.label.item, BTreeSet::new(), 0));
        }
        if let Some(g) = self.group.as_mut() {
            g.3 += 1;
            if let Some(c) = row.label.state.category {
                g.2.insert(c);
            }
        }
        Ok(())
    }

    /// Writes the current item: one category (conflicting labels are skipped, not guessed).
    fn flush(&mut self) -> anyhow::Result<()> {
        let Some((set, item, cats, n)) = self.group.take() else {
            return Ok(());
        };
        if cats.len() > 1 {
            self.skipped += n;
            return Ok(());
        }
        let Some(value) = cats.into_iter().next() else {
            return Ok(());
        };
        self.labels += n;
        let files = self.cat.item_files(&item)?;
        for category in value.split(';').filter(|c| !c.is_empty()) {
            let class = self.dir.join(safe_name(&set)).join(safe_name(category));
            let target_dir = match item.level {
                Level::Instance | Level::Volume => class,
                // Patient IDs are PHI: the folder is named by a hash of it.
                Level::Patient => class.join(format!(
                    "patient-{:016x}",
                    xxhash_rust::xxh3::xxh3_64(item.key.as_bytes())
                )),
                _ => class.join(safe_name(&item.key)),
            };
            std::fs::create_dir_all(&target_dir)
                .with_context(|| format!("cannot create {}", target_dir.display()))?;
            for f in &files {
                let link = target_dir.join(link_name(f));
                std::os::unix::fs::symlink(f, &link)
                    .with_context(|| format!("cannot create {}", link.display()))?;
                self.links += 1;
            }
        }
        Ok(())
    }
}

/// One record to import: its line (or entry) for messages, and column → value.
struct Record {
    place: String,
    fields: HashMap<String, String>,
}

/// RFC 4180 CSV: quoted fields, doubled quotes, newlines inside quotes. Returns (line of the
/// record's start, cells).
fn parse_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut rows = Vec::new();
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start = 1;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    cell.push('\n');
                }
                c => cell.push(c),
            }
            continue;
        }
        match c {
            '"' if cell.is_empty() => quoted = true,
            ',' => cells.push(std::mem::take(&mut cell)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                cells.push(std::mem::take(&mut cell));
                if !(cells.len() == 1 && cells[0].is_empty()) {
                    rows.push((start, std::mem::take(&mut cells)));
                }
                cells.clear();
                line += 1;
                start = line;
                any = false;
            }
            c => cell.push(c),
        }
    }
    if quoted {
        return Err(format!("line {start}: unclosed quote"));
    }
    if any {
        cells.push(cell);
        rows.push((start, cells));
    }
    Ok(rows)
}

fn csv_records(text: &str) -> anyhow::Result<Vec<Record>> {
    let rows = parse_csv(text.trim_start_matches('\u{feff}')).map_err(anyhow::Error::msg)?;
    let mut it = rows.into_iter();
    let Some((_, header)) = it.next() else {
        bail!("empty file");
    };
    let header: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let mut out = Vec::new();
    for (line, cells) in it {
        if cells.len() != header.len() {
            bail!(
                "line {line}: {} columns, the header has {} (nothing imported)",
                cells.len(),
                header.len()
            );
        }
        out.push(Record {
            place: format!("line {line}"),
            fields: header.iter().cloned().zip(cells).collect(),
        });
    }
    Ok(out)
}

fn jsonl_records(text: &str) -> anyhow::Result<Vec<Record>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("line {}: not JSON: {e} (nothing imported)", i + 1))?;
        let Value::Object(map) = v else {
            bail!("line {}: expected a JSON object (nothing imported)", i + 1);
        };
        let fields = map
            .into_iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::Null => String::new(),
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k.to_ascii_lowercase(), s)
            })
            .collect();
        out.push(Record {
            place: format!("line {}", i + 1),
            fields,
        });
    }
    Ok(out)
}

/// A folders export read back: DIR/SET/CATEGORY/LINK (file items) or
/// DIR/SET/CATEGORY/ITEM/LINK... (series, study, patient items).
fn folder_records(dir: &Path, annotator: &str, final_labels: bool) -> anyhow::Result<Vec<Record>> {
    let sorted = |p: &Path| -> anyhow::Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .with_context(|| format!("cannot read {}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        v.sort();
        Ok(v)
    };
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    // (set, linked file) → (first entry, categories): a multi-choice item is in several
    // category folders and comes back as one label.
    let mut found: BTreeMap<(String, String), (String, Vec<String>)> = BTreeMap::new();
    for set_dir in sorted(dir)? {
        if !set_dir.is_dir() {
            continue;
        }
        for cat_dir in sorted(&set_dir)? {
            if !cat_dir.is_dir() {
                continue;
            }
            for entry in sorted(&cat_dir)? {
                let is_link = entry
                    .symlink_metadata()
                    .is_ok_and(|m| m.file_type().is_symlink());
                let target = if is_link {
                    std::fs::read_link(&entry).ok()
                } else if entry.is_dir() {
                    sorted(&entry)?
                        .into_iter()
                        .find_map(|l| std::fs::read_link(l).ok())
                } else {
                    None
                };
                let target = target
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let e = found
                    .entry((name(&set_dir), target))
                    .or_insert_with(|| (entry.display().to_string(), Vec::new()));
                e.1.push(name(&cat_dir));
            }
        }
    }
    Ok(found
        .into_iter()
        .map(|((set, path), (place, cats))| {
            let mut fields = HashMap::new();
            fields.insert("set".to_string(), set);
            fields.insert("category".to_string(), cats.join(";"));
            fields.insert("path".to_string(), path);
            fields.insert("annotator".to_string(), annotator.to_string());
            fields.insert("final".to_string(), final_labels.to_string());
            Record { place, fields }
        })
        .collect())
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "n" => Some(false),
        "1" | "true" | "yes" | "y" => Some(true),
        _ => None,
    }
}

/// Validates every record, then writes them all in one transaction. Errors name the line
/// (or folder entry) and column; on any error nothing is written.
fn import(
    cat: &Catalogue,
    scheme: &Scheme,
    records: &[Record],
    default_annotator: &str,
) -> Result<usize, Vec<String>> {
    struct Ok1 {
        set: String,
        item: ItemRef,
        annotator: String,
        is_final: bool,
        state: LabelState,
        at: Option<f64>,
    }
    let mut errors = Vec::new();
    let mut good = Vec::new();
    let mut seen: HashMap<(String, ItemRef, String, bool), String> = HashMap::new();
    for r in records {
        let get = |k: &str| r.fields.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
        let mut err =
            |col: &str, msg: String| errors.push(format!("{}, column {col}: {msg}", r.place));
        let Some(set_name) = get("set") else {
            err("set", "missing label set".into());
            continue;
        };
        let Some(set) = scheme.set(set_name) else {
            err("set", format!("no label set {set_name:?} in the scheme"));
            continue;
        };
        let category = get("category").map(|c| {
            let parts: Vec<&str> = c.split(';').collect();
            (c, set.normalise(&parts))
        });
        if let Some((raw, _)) = &category {
            if let Err(m) = scheme.check(set_name, raw) {
                err("category", m);
                continue;
            }
        }
        if let Some(level) = get("level") {
            if Level::parse(level) != Some(set.level) {
                err(
                    "level",
                    format!("{level:?}, but set {set_name:?} is at level {}", set.level),
                );
                continue;
            }
        }
        let uid_col = match set.level {
            Level::Instance => "sop_instance_uid",
            Level::Series => "series_uid",
            Level::Study => "study_uid",
            Level::Patient => "patient_id",
            Level::Volume => "path",
        };
        let candidates = [
            ("item", get("item")),
            ("path", get("path")),
            (uid_col, get(uid_col)),
        ];
        let Some((col, text)) = candidates.iter().find_map(|(c, v)| v.map(|v| (*c, v))) else {
            err("item", format!("no item: give item, path or {uid_col}"));
            continue;
        };
        let item = match cat.resolve_item(set.level, text) {
            Ok(Some(i)) => i,
            Ok(None) => {
                err(
                    col,
                    if set.level == Level::Patient && col != "path" {
                        "not a catalogued Patient ID (value not shown)".to_string()
                    } else {
                        format!("{text} is not a catalogued {} item", set.level)
                    },
                );
                continue;
            }
            Err(e) => {
                err(col, e.to_string());
                continue;
            }
        };
        let Some(uncertain) = parse_bool(get("uncertain").unwrap_or("")) else {
            err("uncertain", "expected true/false".into());
            continue;
        };
        let Some(is_final) = parse_bool(get("final").unwrap_or("")) else {
            err("final", "expected true/false".into());
            continue;
        };
        let at = match get("time") {
            None => None,
            Some(t) => match parse_time(t) {
                Some(v) => Some(v),
                None => {
                    err(
                        "time",
                        format!("{t:?} is not a time (YYYY-MM-DDTHH:MM:SS.mmmZ)"),
                    );
                    continue;
                }
            },
        };
        let annotator = get("annotator").unwrap_or(default_annotator).to_string();
        let state = LabelState {
            category: category.map(|c| c.1).filter(|c| !c.is_empty()),
            uncertain,
            note: get("note").map(str::to_string),
        };
        if state.is_empty() {
            err("category", "no category, note or uncertain flag".into());
            continue;
        }
        let key = (
            set_name.to_string(),
            item.clone(),
            if is_final {
                String::new()
            } else {
                annotator.clone()
            },
            is_final,
        );
        if let Some(first) = seen.get(&key) {
            err(
                "item",
                format!("the same label as {first} (set, item, annotator)"),
            );
            continue;
        }
        seen.insert(key, r.place.clone());
        good.push(Ok1 {
            set: set_name.to_string(),
            item,
            annotator,
            is_final,
            state,
            at,
        });
    }
    if !errors.is_empty() {
        errors.truncate(50);
        return Err(errors);
    }
    let session = Session::new(default_annotator);
    let writes: Vec<LabelWrite<'_>> = good
        .iter()
        .map(|g| LabelWrite {
            set: &g.set,
            item: &g.item,
            annotator: &g.annotator,
            is_final: g.is_final,
            state: &g.state,
            action: LabelAction::Import,
            session: Some(session.id()),
            expect: None,
            at: g.at,
        })
        .collect();
    cat.label_write_all(&writes)
        .map_err(|e| vec![e.to_string()])
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into())
}

fn stats(out: &mut impl Write, cat: &Catalogue, json_out: bool) -> anyhow::Result<i32> {
    let scheme = cat.label_scheme()?.unwrap_or_default();
    let counts = cat.label_counts(None)?;
    let mut agreements: Vec<SetAgreement> = Vec::new();
    let mut sets: Vec<String> = scheme.sets.iter().map(|s| s.name.clone()).collect();
    for c in &counts {
        if !sets.contains(&c.set) {
            sets.push(c.set.clone());
        }
    }
    for s in &sets {
        let cats: Vec<&str> = scheme
            .set(s)
            .map(|x| x.category_names())
            .unwrap_or_default();
        let ratings = cat.label_ratings(s)?;
        agreements.push(agreement(s, &cats, &ratings));
    }
    if json_out {
        serde_json::to_writer(
            &mut *out,
            &json!({"counts": counts, "agreement": agreements}),
        )?;
        writeln!(out)?;
        return Ok(0);
    }
    let names = ["set", "category", "annotator", "labels"].map(String::from);
    let rows: Vec<Vec<Value>> = counts
        .iter()
        .map(|c| {
            vec![
                c.set.clone().into(),
                c.category.clone().into(),
                c.annotator.clone().into(),
                c.count.into(),
            ]
        })
        .collect();
    output::query(out, &names, &rows, QueryFormat::Table)?;
    for a in &agreements {
        writeln!(out)?;
        writeln!(
            out,
            "{}: {} annotators, {} items labelled by two or more; agreement {}; Cohen's kappa {}; Fleiss' kappa {} ({} items)",
            a.set,
            a.annotators.len(),
            a.items_compared,
            a.percent_agreement
                .map(|p| format!("{:.1}%", p * 100.0))
                .unwrap_or_else(|| "-".into()),
            fmt_opt(a.cohen_kappa),
            fmt_opt(a.fleiss_kappa),
            a.fleiss_items
        )?;
        if let Some(m) = &a.confusion {
            writeln!(
                out,
                "  confusion (rows {}, columns {}):",
                a.annotators[0], a.annotators[1]
            )?;
            let w = a
                .categories
                .iter()
                .map(|c| c.len())
                .max()
                .unwrap_or(1)
                .max(5);
            write!(out, "  {:w$}", "")?;
            for c in &a.categories {
                write!(out, " {c:>w$}")?;
            }
            writeln!(out)?;
            for (c, row) in a.categories.iter().zip(m) {
                write!(out, "  {c:w$}")?;
                for v in row {
                    write!(out, " {v:>w$}")?;
                }
                writeln!(out)?;
            }
        }
        if a.annotators.len() > 2 {
            for (x, y, n, k) in &a.pairwise {
                writeln!(out, "  {x} / {y}: {n} items, Cohen's kappa {}", fmt_opt(*k))?;
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(iso_time(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(951_782_400.5), "2000-02-29T00:00:00.500Z");
        for t in [0.0, 951_782_400.5, 1_733_340_000.123, 4_102_444_799.999] {
            let back = parse_time(&iso_time(t)).unwrap();
            assert!((back - t).abs() < 0.0006, "{t} {back}");
        }
        assert_eq!(parse_time("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn csv_quotes_and_lines() {
        let rows = parse_csv("a,b\n\"x, \"\"y\"\"\",\"two\nlines\"\n\nc,d").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[1],
            (2, vec!["x, \"y\"".to_string(), "two\nlines".to_string()])
        );
        assert_eq!(rows[2], (5, vec!["c".to_string(), "d".to_string()]));
        assert!(parse_csv("a\n\"open").is_err());
    }
}
