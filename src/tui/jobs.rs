//! Background work for the TUI: one worker thread with its own read-only catalogue
//! connection. It keeps only the newest request of each kind (a curator moving quickly over
//! a list wants the item under the cursor, not every item passed), and the UI drops results
//! that no longer match what is selected.

use super::phi_pane::{PhiItem, RowKey};
use crate::catalogue::browse::{Overview, ScopeSpec};
use crate::catalogue::findings::{FindingFilter, FindingGroup, FindingRow};
use crate::catalogue::Catalogue;
use crate::catalogue::PhiSummaryRow;
use crate::filter::Filter;
use crate::formats::dicom::{self, text::flatten_compact, DicomHeader};
use crate::formats::nifti::{self, VolumeHeader};
use crate::phi::plan::Plan;
use crossbeam_channel::{unbounded, Receiver, Sender};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What the UI asks for.
#[derive(Debug, Clone)]
pub enum Job {
    Scope(Filter),
    Overview,
    Metadata(i64),
    Compare(i64, i64),
    Varying {
        series: i64,
        label: String,
    },
    Folder {
        dir: String,
        filter: Filter,
    },
    /// Finding counts per rule (`None`), or the findings of one rule.
    Findings(Option<String>),
    /// The PHI summary and the stored plan; first bring detection up to date if `refresh`.
    PhiSummary {
        refresh: bool,
    },
    /// The files with one PHI summary row's finding.
    PhiRows {
        reason: String,
        tag: u32,
        keyword: String,
    },
    /// Every PHI finding of one file.
    PhiFile(i64),
    /// Labelled / total items of a set in the filter (by one annotator): with an
    /// instance-level filter this visits every matching instance, so it runs here.
    LabelProgress {
        set: String,
        level: crate::labels::scheme::Level,
        filter: Filter,
        annotator: String,
    },
}

impl Job {
    fn kind(&self) -> u8 {
        match self {
            Job::Scope(_) => 0,
            Job::Overview => 1,
            Job::Metadata(_) => 2,
            Job::Compare(..) => 3,
            Job::Varying { .. } => 4,
            Job::Folder { .. } => 5,
            Job::Findings(_) => 6,
            Job::PhiSummary { .. } => 7,
            Job::PhiRows { .. } => 8,
            Job::PhiFile(_) => 9,
            Job::LabelProgress { .. } => 10,
        }
    }
}

/// A file's header as the metadata pane shows it.
#[derive(Debug, Clone)]
pub enum Loaded {
    Dicom(Box<DicomHeader>),
    Volume(Box<VolumeHeader>),
    /// Neither: kind, status and the recorded reason.
    Other {
        kind: String,
        status: String,
        error: Option<String>,
    },
}

/// One row of a comparison or of a series' varying tags.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffRow {
    pub path: String,
    pub tag: u32,
    pub values: Vec<String>,
}

/// What the worker answers.
#[derive(Debug)]
pub enum Done {
    Scope(Result<ScopeSpec, String>),
    Overview(Result<Overview, String>),
    Metadata {
        file: i64,
        path: String,
        result: Result<Loaded, String>,
    },
    Compare {
        a: String,
        b: String,
        rows: Result<Vec<DiffRow>, String>,
    },
    Varying {
        label: String,
        instances: usize,
        rows: Result<Vec<DiffRow>, String>,
    },
    Folder {
        dir: String,
        entries: Result<Vec<(String, bool, i64, i64)>, String>,
    },
    FindingGroups(Result<Vec<FindingGroup>, String>),
    FindingRows {
        code: String,
        rows: Result<Vec<FindingRow>, String>,
    },
    PhiSummary(Result<(Vec<PhiSummaryRow>, Plan), String>),
    PhiRows {
        key: RowKey,
        rows: Result<Vec<PhiItem>, String>,
    },
    PhiFile {
        file: i64,
        rows: Result<Vec<PhiItem>, String>,
    },
    LabelProgress {
        set: String,
        progress: Result<crate::catalogue::labels::Progress, String>,
    },
}

/// Handle to the worker.
pub struct Jobs {
    tx: Sender<Job>,
    pub rx: Receiver<Done>,
    /// Requests sent and not yet answered (or dropped as stale).
    in_flight: Arc<AtomicUsize>,
}

impl Jobs {
    /// Starts the worker on the catalogue at `db` (opened read-only).
    pub fn start(db: PathBuf) -> Jobs {
        let (tx, job_rx) = unbounded::<Job>();
        let (done_tx, rx) = unbounded::<Done>();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let counter = in_flight.clone();
        std::thread::spawn(move || worker(db, job_rx, done_tx, counter));
        Jobs { tx, rx, in_flight }
    }

    pub fn send(&self, job: Job) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(job).is_err() {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Whether requests are still being worked on (their answers may not be in `rx` yet).
    pub fn busy(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) > 0
    }
}

fn worker(db: PathBuf, rx: Receiver<Job>, tx: Sender<Done>, in_flight: Arc<AtomicUsize>) {
    let db_path = db.clone();
    let cat = Catalogue::open_read_only(&db).ok();
    while let Ok(first) = rx.recv() {
        // Keep the newest request of each kind.
        let mut latest: BTreeMap<u8, Job> = BTreeMap::new();
        latest.insert(first.kind(), first);
        let mut taken = 1;
        while let Ok(j) = rx.try_recv() {
            latest.insert(j.kind(), j);
            taken += 1;
        }
        for (_, job) in latest {
            let done = match &cat {
                Some(cat) => run(cat, &db_path, job, &tx),
                None => failed(job, format!("cannot open the catalogue {}", db.display())),
            };
            if tx.send(done).is_err() {
                return;
            }
        }
        in_flight.fetch_sub(taken, Ordering::SeqCst);
    }
}

fn failed(job: Job, msg: String) -> Done {
    match job {
        Job::Scope(_) => Done::Scope(Err(msg)),
        Job::Overview => Done::Overview(Err(msg)),
        Job::Metadata(file) => Done::Metadata {
            file,
            path: String::new(),
            result: Err(msg),
        },
        Job::Compare(..) => Done::Compare {
            a: String::new(),
            b: String::new(),
            rows: Err(msg),
        },
        Job::Varying { label, .. } => Done::Varying {
            label,
            instances: 0,
            rows: Err(msg),
        },
        Job::Folder { dir, .. } => Done::Folder {
            dir,
            entries: Err(msg),
        },
        Job::Findings(None) => Done::FindingGroups(Err(msg)),
        Job::Findings(Some(code)) => Done::FindingRows {
            code,
            rows: Err(msg),
        },
        Job::PhiSummary { .. } => Done::PhiSummary(Err(msg)),
        Job::PhiRows {
            reason,
            tag,
            keyword,
        } => Done::PhiRows {
            key: (reason, tag, keyword),
            rows: Err(msg),
        },
        Job::PhiFile(file) => Done::PhiFile {
            file,
            rows: Err(msg),
        },
        Job::LabelProgress { set, .. } => Done::LabelProgress {
            set,
            progress: Err(msg),
        },
    }
}

fn run(cat: &Catalogue, db: &Path, job: Job, tx: &Sender<Done>) -> Done {
    match job {
        Job::LabelProgress {
            set,
            level,
            filter,
            annotator,
        } => {
            let progress = cat
                .scope(&filter)
                .and_then(|scope| {
                    cat.label_progress(
                        &set,
                        level,
                        &scope,
                        crate::catalogue::labels::LabelledBy::Annotator(&annotator),
                    )
                })
                .map_err(|e| e.to_string());
            Done::LabelProgress { set, progress }
        }
        Job::PhiSummary { refresh } => {
            if refresh {
                // Detection writes its rows: a writable connection for this one step.
                if let Err(e) = Catalogue::open(db).and_then(|mut w| w.phi_refresh()) {
                    return Done::PhiSummary(Err(format!("PHI detection: {e}")));
                }
            }
            Done::PhiSummary(
                cat.phi_summary()
                    .and_then(|s| cat.plan_load().map(|p| (s, p)))
                    .map_err(|e| e.to_string()),
            )
        }
        Job::PhiRows {
            reason,
            tag,
            keyword,
        } => {
            let rows = cat
                .phi_attribute_rows(&reason, tag, &keyword, super::phi_pane::ROW_LIMIT)
                .map_err(|e| e.to_string())
                .and_then(|rows| super::phi_pane::items(cat, rows));
            Done::PhiRows {
                key: (reason, tag, keyword),
                rows,
            }
        }
        Job::PhiFile(file) => Done::PhiFile {
            file,
            rows: cat
                .phi_file_rows(file)
                .map_err(|e| e.to_string())
                .and_then(|rows| super::phi_pane::items(cat, rows)),
        },
        Job::Scope(f) => Done::Scope(cat.scope_spec(&f).map_err(|e| e.to_string())),
        Job::Overview => {
            // The quick part first, so the first screen fills at once; then the histograms.
            match cat.overview_summary() {
                Ok(mut o) => {
                    let _ = tx.send(Done::Overview(Ok(o.clone())));
                    Done::Overview(
                        cat.overview_instances(&mut o)
                            .map(|_| o)
                            .map_err(|e| e.to_string()),
                    )
                }
                Err(e) => Done::Overview(Err(e.to_string())),
            }
        }
        Job::Metadata(file) => match cat.file_info(file) {
            Ok(Some((path, kind, status, error))) => {
                let result = load(Path::new(&path), &kind, status, error);
                Done::Metadata { file, path, result }
            }
            Ok(None) => Done::Metadata {
                file,
                path: String::new(),
                result: Err("not in the catalogue".into()),
            },
            Err(e) => Done::Metadata {
                file,
                path: String::new(),
                result: Err(e.to_string()),
            },
        },
        Job::Compare(a, b) => {
            let name = |id| {
                cat.file_info(id)
                    .ok()
                    .flatten()
                    .map(|f| f.0)
                    .unwrap_or_default()
            };
            let rows = cat
                .headers_json(&[a, b])
                .map_err(|e| e.to_string())
                .and_then(|h| {
                    let get = |id| h.iter().find(|(i, _)| *i == id).map(|(_, j)| j.as_str());
                    match (get(a), get(b)) {
                        (Some(ja), Some(jb)) => Ok(diff(&[ja, jb], false)),
                        _ => Err("compare works on DICOM files (both need a stored header)".into()),
                    }
                });
            Done::Compare {
                a: name(a),
                b: name(b),
                rows,
            }
        }
        Job::Varying { series, label } => {
            let result = cat
                .series_files(series)
                .and_then(|ids| cat.headers_json(&ids))
                .map_err(|e| e.to_string());
            match result {
                Ok(headers) => {
                    let jsons: Vec<&str> = headers.iter().map(|(_, j)| j.as_str()).collect();
                    Done::Varying {
                        label,
                        instances: jsons.len(),
                        rows: Ok(diff(&jsons, true)),
                    }
                }
                Err(e) => Done::Varying {
                    label,
                    instances: 0,
                    rows: Err(e),
                },
            }
        }
        Job::Findings(None) => Done::FindingGroups(
            cat.finding_groups(&FindingFilter {
                include_acknowledged: true,
                ..Default::default()
            })
            .map_err(|e| e.to_string()),
        ),
        Job::Findings(Some(code)) => {
            let filter = FindingFilter {
                code: Some(code.clone()),
                include_acknowledged: true,
                ..Default::default()
            };
            Done::FindingRows {
                rows: cat
                    .findings_page(&filter, None, 2000)
                    .map_err(|e| e.to_string()),
                code,
            }
        }
        Job::Folder { dir, filter } => {
            let entries = cat
                .scope(&filter)
                .and_then(|s| cat.folder_children(&s, &dir))
                .map_err(|e| e.to_string());
            Done::Folder { dir, entries }
        }
    }
}

/// Reads a file's header for the metadata pane (the file is opened read-only).
pub fn load(
    path: &Path,
    kind: &str,
    status: String,
    error: Option<String>,
) -> Result<Loaded, String> {
    match kind {
        "dicom" => dicom::read_header(path, &dicom::Limits::default())
            .map(|h| Loaded::Dicom(Box::new(h)))
            .or_else(|e| {
                if status == "ok" {
                    Err(format!("cannot read {}: {e}", path.display()))
                } else {
                    Ok(Loaded::Other {
                        kind: kind.into(),
                        status,
                        error: Some(e.to_string()),
                    })
                }
            }),
        "nifti" | "analyze" => nifti::read_header(path)
            .map(|h| Loaded::Volume(Box::new(h)))
            .map_err(|e| e.to_string()),
        _ => Ok(Loaded::Other {
            kind: kind.into(),
            status,
            error,
        }),
    }
}

/// Elements whose values differ between headers. With `varying`, one row per element that
/// takes more than one value across the headers, with the distinct values (most common
/// first); otherwise one row per element that differs between the first two.
pub fn diff(headers: &[&str], varying: bool) -> Vec<DiffRow> {
    let flat: Vec<HashMap<String, (u32, String)>> = headers
        .iter()
        .map(|j| {
            flatten_compact(j)
                .into_iter()
                .map(|(p, t, v)| (p, (t, v)))
                .collect()
        })
        .collect();
    let mut keys: Vec<(String, u32)> = flat
        .iter()
        .flat_map(|m| m.iter().map(|(k, (t, _))| (k.clone(), *t)))
        .collect();
    keys.sort();
    keys.dedup();
    let absent = "(absent)".to_string();
    let mut out = Vec::new();
    for (key, tag) in keys {
        let vals: Vec<&String> = flat
            .iter()
            .map(|m| m.get(&key).map(|(_, v)| v).unwrap_or(&absent))
            .collect();
        if varying {
            let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
            for v in &vals {
                *counts.entry(v).or_default() += 1;
            }
            if counts.len() > 1 {
                let mut by: Vec<(&String, usize)> = counts.into_iter().collect();
                by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                out.push(DiffRow {
                    path: key,
                    tag,
                    values: by.iter().map(|(v, n)| format!("{v} ×{n}")).collect(),
                });
            }
        } else if vals.len() >= 2 && vals[0] != vals[1] {
            out.push(DiffRow {
                path: key,
                tag,
                values: vals.iter().map(|v| v.to_string()).collect(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_and_varying() {
        let a = r#"{"00080060":["CS","CT"],"00200013":["IS","1"],"00180050":["DS","5"]}"#;
        let b = r#"{"00080060":["CS","CT"],"00200013":["IS","2"],"00280030":["DS","1","1"]}"#;
        let rows = diff(&[a, b], false);
        let paths: Vec<&str> = rows.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["0018,0050", "0020,0013", "0028,0030"]);
        assert_eq!(rows[0].values, ["5", "(absent)"]);
        let c = r#"{"00080060":["CS","CT"],"00200013":["IS","2"]}"#;
        let v = diff(&[a, b, c], true);
        let inst = v.iter().find(|r| r.path == "0020,0013").unwrap();
        assert_eq!(inst.values, ["2 ×2", "1 ×1"]);
        assert!(v.iter().all(|r| r.path != "0008,0060"));
    }
}
