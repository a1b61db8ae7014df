//! PHI review rows: findings per file and per dataset, the reveal audit trail and the
//! de-identification plan. The rules themselves live in [`crate::phi`]; this is their SQL.

use super::{write::now, Catalogue, Result};
use crate::phi::detect::{self, Finding, VolumeText};
use crate::phi::plan::{Plan, PlanAction, PlanRule};
use rusqlite::{params, OptionalExtension};

/// One row of the per-dataset summary (one per attribute, private creator or risk).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PhiSummaryRow {
    pub reason: String,
    pub tag: u32,
    pub keyword: String,
    /// Basic Profile action (before options and plan).
    pub action: String,
    pub table_action: String,
    pub creator: Option<String>,
    /// Files with a value.
    pub files: i64,
    /// Distinct values (0 when not counted, e.g. risks).
    pub distinct_values: i64,
}

/// One finding of one file, with the file's path.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PhiFileRow {
    pub file_id: i64,
    pub path: String,
    pub tag: u32,
    pub keyword: String,
    pub sequence_path: Option<String>,
    pub reason: String,
    pub action: String,
    pub table_action: String,
    pub creator: Option<String>,
    pub detail: String,
}

/// One reveal in the audit trail (never the value).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RevealRow {
    pub at: f64,
    pub who: String,
    pub file_id: i64,
    pub path: Option<String>,
    pub tag: u32,
    pub keyword: String,
    pub sequence_path: Option<String>,
}

/// What detection reads for one file: its stored DICOM header (compact JSON), or its
/// NIfTI/Analyze text fields with dims and pixdim (JSON arrays).
enum Input {
    Dicom(Option<String>),
    Volume(Option<(VolumeText, String, String)>),
}

/// The PHI findings of one file (pure: runs on the rayon pool).
fn detect_one(fpath: &str, input: Input) -> Vec<Finding> {
    match input {
        Input::Dicom(json) => json
            .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
            .map(|h| detect::detect_dicom(&h, fpath))
            .unwrap_or_default(),
        Input::Volume(v) => v
            .map(|(mut vt, dims, pixdim)| {
                let d: Vec<f64> = serde_json::from_str(&dims).unwrap_or_default();
                let p: Vec<f64> = serde_json::from_str(&pixdim).unwrap_or_default();
                for i in 0..3 {
                    let n = d.get(i).copied().unwrap_or(0.0);
                    let s = p.get(i + 1).copied().unwrap_or(0.0).abs();
                    vt.extent_mm[i] = n * s;
                }
                detect::detect_volume(&vt, fpath)
            })
            .unwrap_or_default(),
    }
}

/// The per-dataset summary (see [`Catalogue::phi_summary`]), without its order.
const SUMMARY: &str = "SELECT p.reason, p.tag, p.keyword, p.action, p.table_action, p.creator, \
     COUNT(DISTINCT p.file_id), COUNT(DISTINCT p.value_hash) \
     FROM phi_findings p JOIN files f ON f.id = p.file_id \
     WHERE f.status != 'removed' \
     GROUP BY p.reason, p.tag, p.keyword, p.action, p.creator";

/// What the summary is made of: the examined files still present, and when they were last
/// examined. Any rescan, removal or new detection changes it.
fn fingerprint(c: &rusqlite::Connection) -> rusqlite::Result<String> {
    c.query_row(
        "SELECT count(*), coalesce(sum(s.file_id), 0), coalesce(max(s.scanned_at), 0), \
         coalesce(sum(s.scanned_at), 0) \
         FROM phi_scanned s JOIN files f ON f.id = s.file_id WHERE f.status != 'removed'",
        [],
        |r| {
            Ok(format!(
                "{}:{}:{}:{}",
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, f64>(2)?,
                r.get::<_, f64>(3)?
            ))
        },
    )
}

const FILE_ROW: &str =
    "SELECT p.file_id, f.path, p.tag, p.keyword, p.seq_path, p.reason, p.action, \
     p.table_action, p.creator, p.detail FROM phi_findings p JOIN files f ON f.id = p.file_id \
     WHERE f.status != 'removed'";

fn file_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PhiFileRow> {
    Ok(PhiFileRow {
        file_id: r.get(0)?,
        path: r.get(1)?,
        tag: r.get::<_, i64>(2)? as u32,
        keyword: r.get(3)?,
        sequence_path: r.get(4)?,
        reason: r.get(5)?,
        action: r.get(6)?,
        table_action: r.get(7)?,
        creator: r.get(8)?,
        detail: r.get(9)?,
    })
}

impl Catalogue {
    /// Detects PHI in every catalogued file whose findings are missing or older than its
    /// last scan. Returns how many files were (re)examined.
    pub fn phi_refresh(&mut self) -> Result<usize> {
        let path = self.path.clone();
        let err = |source| super::CatalogueError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let mut n = 0;
        {
            let mut todo = tx
                .prepare(
                    "SELECT f.id, f.path, f.scanned_at, f.kind FROM files f \
                     LEFT JOIN phi_scanned s ON s.file_id = f.id \
                     WHERE f.kind IN ('dicom', 'nifti', 'analyze') AND f.status != 'removed' \
                     AND (s.file_id IS NULL OR s.scanned_at != f.scanned_at)",
                )
                .map_err(err)?;
            let files: Vec<(i64, String, f64, String)> = todo
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .map_err(err)?
                .collect::<rusqlite::Result<_>>()
                .map_err(err)?;
            let mut header = tx
                .prepare("SELECT json(elements) FROM headers WHERE file_id = ?1")
                .map_err(err)?;
            let mut volume = tx
                .prepare(
                    "SELECT descrip, aux_file, intent_name, db_name, extensions, dims, pixdim \
                     FROM volumes WHERE file_id = ?1",
                )
                .map_err(err)?;
            let mut del = tx
                .prepare("DELETE FROM phi_findings WHERE file_id = ?1")
                .map_err(err)?;
            let mut ins = tx
                .prepare(
                    "INSERT INTO phi_findings (file_id, tag, keyword, seq_path, reason, action, \
                     table_action, creator, detail, value_hash) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(err)?;
            let mut mark = tx
                .prepare(
                    "INSERT INTO phi_scanned (file_id, scanned_at) VALUES (?1, ?2) \
                     ON CONFLICT(file_id) DO UPDATE SET scanned_at = excluded.scanned_at",
                )
                .map_err(err)?;
            // In chunks: read the stored headers, detect in parallel (the CPU part), write
            // in this one transaction.
            for chunk in files.chunks(2000) {
                let mut inputs: Vec<(i64, String, f64, Input)> = Vec::with_capacity(chunk.len());
                for (id, fpath, scanned_at, kind) in chunk {
                    let input = if kind == "dicom" {
                        let json: Option<String> = header
                            .query_row([id], |r| r.get(0))
                            .optional()
                            .map_err(err)?;
                        Input::Dicom(json)
                    } else {
                        let v = volume
                            .query_row([id], |r| {
                                let dims: String = r.get(5)?;
                                let pixdim: String = r.get(6)?;
                                Ok((
                                    VolumeText {
                                        descrip: r.get(0)?,
                                        aux_file: r.get(1)?,
                                        intent_name: r.get(2)?,
                                        db_name: r.get(3)?,
                                        extensions: r.get(4)?,
                                        extent_mm: [0.0; 3],
                                    },
                                    dims,
                                    pixdim,
                                ))
                            })
                            .optional()
                            .map_err(err)?;
                        Input::Volume(v)
                    };
                    inputs.push((*id, fpath.clone(), *scanned_at, input));
                }
                use rayon::prelude::*;
                let detected: Vec<(i64, f64, Vec<Finding>)> = inputs
                    .into_par_iter()
                    .map(|(id, fpath, scanned_at, input)| {
                        (id, scanned_at, detect_one(&fpath, input))
                    })
                    .collect();
                for (id, scanned_at, findings) in detected {
                    del.execute([id]).map_err(err)?;
                    for f in &findings {
                        ins.execute(params![
                            id,
                            i64::from(f.tag),
                            f.keyword,
                            f.sequence_path,
                            f.reason.as_str(),
                            f.action,
                            f.table_action,
                            f.creator,
                            f.detail,
                            f.value_hash,
                        ])
                        .map_err(err)?;
                    }
                    mark.execute(params![id, scanned_at]).map_err(err)?;
                    n += 1;
                }
            }
        }
        // Keep the summary for the PHI screen when what it is made of changed.
        let fp = fingerprint(&tx).map_err(err)?;
        let stored: Option<String> = tx
            .query_row(
                "SELECT fingerprint FROM phi_summary_state WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        if stored.as_deref() != Some(fp.as_str()) {
            tx.execute("DELETE FROM phi_summary_cache", [])
                .map_err(err)?;
            tx.execute(&format!("INSERT INTO phi_summary_cache {SUMMARY}"), [])
                .map_err(err)?;
            tx.execute(
                "INSERT INTO phi_summary_state (id, fingerprint) VALUES (1, ?1) \
                 ON CONFLICT(id) DO UPDATE SET fingerprint = excluded.fingerprint",
                [&fp],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(n)
    }

    /// Per-dataset summary: one row per (reason, attribute or creator), with the number of
    /// files that have a value and of distinct values.
    pub fn phi_summary(&self) -> Result<Vec<PhiSummaryRow>> {
        self.sql(|c| {
            // The stored summary when it is still what the findings say; else computed now.
            // (A catalogue opened read-only before its migration has no such table: live.)
            let fresh = match c
                .query_row(
                    "SELECT fingerprint FROM phi_summary_state WHERE id = 1",
                    [],
                    |r| r.get::<_, String>(0),
                )
                .ok()
            {
                Some(stored) => stored == fingerprint(c)?,
                None => false,
            };
            let sql = if fresh {
                "SELECT reason, tag, keyword, action, table_action, creator, files, \
                 distinct_values FROM phi_summary_cache ORDER BY reason, tag, keyword"
                    .to_string()
            } else {
                format!("{SUMMARY} ORDER BY p.reason, p.tag, p.keyword")
            };
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map([], |r| {
                Ok(PhiSummaryRow {
                    reason: r.get(0)?,
                    tag: r.get::<_, i64>(1)? as u32,
                    keyword: r.get(2)?,
                    action: r.get(3)?,
                    table_action: r.get(4)?,
                    creator: r.get(5)?,
                    files: r.get(6)?,
                    distinct_values: r.get(7)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The findings of one file.
    pub fn phi_file_rows(&self, file_id: i64) -> Result<Vec<PhiFileRow>> {
        self.sql(|c| {
            let mut stmt = c.prepare(&format!("{FILE_ROW} AND p.file_id = ?1 ORDER BY p.id"))?;
            let rows = stmt.query_map([file_id], file_row)?;
            rows.collect()
        })
    }

    /// The files with one summary row's finding (same reason, tag and keyword), in path
    /// order, at most `limit` of them.
    pub fn phi_attribute_rows(
        &self,
        reason: &str,
        tag: u32,
        keyword: &str,
        limit: usize,
    ) -> Result<Vec<PhiFileRow>> {
        self.sql(|c| {
            let mut stmt = c.prepare(&format!(
                "{FILE_ROW} AND p.reason = ?1 AND p.tag = ?2 AND p.keyword = ?3 \
                 ORDER BY f.path, p.id LIMIT ?4"
            ))?;
            let rows = stmt.query_map(
                params![reason, i64::from(tag), keyword, limit as i64],
                file_row,
            )?;
            rows.collect()
        })
    }

    /// Every finding of every file (or of the given files), in path order, one at a time.
    pub fn phi_rows(
        &self,
        only: Option<&[i64]>,
        mut f: impl FnMut(PhiFileRow) -> std::io::Result<()>,
    ) -> Result<std::io::Result<()>> {
        self.sql(|c| {
            rusqlite::vtab::array::load_module(c)?;
            let ids: Option<std::rc::Rc<Vec<rusqlite::types::Value>>> = only.map(|ids| {
                std::rc::Rc::new(
                    ids.iter()
                        .map(|i| rusqlite::types::Value::from(*i))
                        .collect(),
                )
            });
            let sql = if ids.is_some() {
                format!("{FILE_ROW} AND p.file_id IN rarray(?1) ORDER BY f.path, p.id")
            } else {
                format!("{FILE_ROW} ORDER BY f.path, p.id")
            };
            let mut stmt = c.prepare(&sql)?;
            let mut rows = match &ids {
                Some(ids) => stmt.query([ids.clone()])?,
                None => stmt.query([])?,
            };
            while let Some(r) = rows.next()? {
                if let Err(e) = f(file_row(r)?) {
                    return Ok(Err(e));
                }
            }
            Ok(Ok(()))
        })
    }

    /// Records that `who` looked at one value (the audit trail; never the value itself).
    pub fn phi_record_reveal(
        &self,
        who: &str,
        file_id: i64,
        tag: u32,
        keyword: &str,
        sequence_path: Option<&str>,
    ) -> Result<()> {
        let path: Option<String> = self.sql(|c| {
            c.query_row("SELECT path FROM files WHERE id = ?1", [file_id], |r| {
                r.get(0)
            })
            .optional()
        })?;
        self.sql(|c| {
            c.execute(
                "INSERT INTO phi_reveals (at, who, file_id, path, tag, keyword, seq_path) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    now(),
                    who,
                    file_id,
                    path,
                    i64::from(tag),
                    keyword,
                    sequence_path
                ],
            )
        })?;
        Ok(())
    }

    /// The value of one finding, read from the stored header; records who asked, when and
    /// for what in the audit table (never the value). None when there is no such value.
    pub fn phi_reveal(
        &self,
        who: &str,
        file_id: i64,
        tag: u32,
        keyword: &str,
        sequence_path: Option<&str>,
    ) -> Result<Option<String>> {
        self.phi_record_reveal(who, file_id, tag, keyword, sequence_path)?;
        if tag == 0 {
            let field = match keyword {
                "descrip" | "aux_file" | "intent_name" | "db_name" => keyword,
                _ => return Ok(None),
            };
            return self.sql(|c| {
                c.query_row(
                    &format!("SELECT {field} FROM volumes WHERE file_id = ?1"),
                    [file_id],
                    |r| r.get::<_, Option<String>>(0),
                )
                .optional()
                .map(Option::flatten)
            });
        }
        let Some(json) = self.header_json(file_id)? else {
            return Ok(None);
        };
        let Ok(h) = serde_json::from_str::<serde_json::Value>(&json) else {
            return Ok(None);
        };
        Ok(detect::value_at(&h, tag, sequence_path))
    }

    /// The reveal audit trail, newest first.
    pub fn phi_reveals(&self) -> Result<Vec<RevealRow>> {
        self.sql(|c| {
            let mut stmt = c.prepare(
                "SELECT at, who, file_id, path, tag, keyword, seq_path FROM phi_reveals \
                 ORDER BY id DESC",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(RevealRow {
                    at: r.get(0)?,
                    who: r.get(1)?,
                    file_id: r.get(2)?,
                    path: r.get(3)?,
                    tag: r.get::<_, i64>(4)? as u32,
                    keyword: r.get(5)?,
                    sequence_path: r.get(6)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The stored de-identification plan.
    pub fn plan_load(&self) -> Result<Plan> {
        let rules: Vec<(String, String, Option<String>)> = self.sql(|c| {
            let mut stmt =
                c.prepare("SELECT target, action, value FROM deid_plan ORDER BY target")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })?;
        let mut plan = Plan::new();
        for (target, action, value) in rules {
            if let Some(action) = PlanAction::parse(&action) {
                // Rows were checked when saved; one that no longer parses is skipped.
                let _ = plan.set(PlanRule {
                    target,
                    action,
                    value,
                });
            }
        }
        Ok(plan)
    }

    /// Replaces the stored plan with `plan`.
    pub fn plan_save(&mut self, plan: &Plan) -> Result<()> {
        let path = self.path.clone();
        let err = |source| super::CatalogueError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute("DELETE FROM deid_plan", []).map_err(err)?;
        for r in plan.rules() {
            tx.execute(
                "INSERT INTO deid_plan (target, action, value, updated) VALUES (?1, ?2, ?3, ?4)",
                params![r.target, r.action.as_str(), r.value, now()],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }
}

/// A file to export, with what the PHI review found that decides whether it may be.
#[derive(Debug, Clone)]
pub struct DeidSource {
    pub file_id: i64,
    pub path: String,
    pub kind: String,
    /// The scanned root the file is under (for `--keep-layout`).
    pub root: Option<String>,
    /// The voxel file of a header/image pair.
    pub data_path: Option<String>,
    pub burned_in: bool,
    /// Why the full reader must not be given this file (it would misread it or spin on it):
    /// a transfer syntax that does not match the encoding, or a sequence encoded as UN.
    pub unsafe_reason: Option<String>,
}

impl Catalogue {
    /// DICOM, NIfTI and Analyze files that can be exported (status ok), optionally only
    /// `only`, in path order. Run [`Catalogue::phi_refresh`] first.
    pub fn deid_sources(&self, only: Option<&[i64]>) -> Result<Vec<DeidSource>> {
        self.sql(|c| {
            rusqlite::vtab::array::load_module(c)?;
            let base = "SELECT f.id, f.path, f.kind, r.path, v.data_path, \
                 EXISTS (SELECT 1 FROM phi_findings p WHERE p.file_id = f.id AND p.reason = 'burned_in'), \
                 CASE WHEN i.problems LIKE '%meta.transfer_syntax_mismatch%' \
                      THEN 'the transfer syntax does not match the data set''s encoding' \
                      WHEN json(h.elements) LIKE '%[\"UN\",{%' \
                      THEN 'a sequence encoded as UN' END \
                 FROM files f LEFT JOIN roots r ON r.id = f.root_id \
                 LEFT JOIN volumes v ON v.file_id = f.id \
                 LEFT JOIN instances i ON i.file_id = f.id LEFT JOIN headers h ON h.file_id = f.id \
                 WHERE f.kind IN ('dicom', 'nifti', 'analyze') AND f.status = 'ok'";
            let map = |r: &rusqlite::Row<'_>| {
                Ok(DeidSource {
                    file_id: r.get(0)?,
                    path: r.get(1)?,
                    kind: r.get(2)?,
                    root: r.get(3)?,
                    data_path: r.get(4)?,
                    burned_in: r.get(5)?,
                    unsafe_reason: r.get(6)?,
                })
            };
            match only {
                Some(ids) => {
                    let ids: std::rc::Rc<Vec<rusqlite::types::Value>> =
                        std::rc::Rc::new(ids.iter().map(|i| (*i).into()).collect());
                    let mut stmt =
                        c.prepare(&format!("{base} AND f.id IN rarray(?1) ORDER BY f.path"))?;
                    let rows = stmt.query_map([ids], map)?;
                    rows.collect()
                }
                None => {
                    let mut stmt = c.prepare(&format!("{base} ORDER BY f.path"))?;
                    let rows = stmt.query_map([], map)?;
                    rows.collect()
                }
            }
        })
    }
}

impl Catalogue {
    /// The ids of the DICOM instances and volumes a filter's scope selects (for
    /// `dicura phi --filter` and `dicura deid --filter`).
    pub fn scope_files(&self, scope: &super::browse::Scope) -> Result<Vec<i64>> {
        use super::browse::{file_filter, instance_filter, shift_params, INSTANCE_JOIN};
        use rusqlite::params_from_iter;
        let mut out: Vec<i64> = Vec::new();
        if scope.dicom {
            let (icond, iparams) = instance_filter(scope);
            let (sql, args) = match &scope.series {
                Some(series) => {
                    let cond = shift_params(&icond, 1);
                    let mut args = vec![rusqlite::types::Value::Null];
                    args.extend(iparams.iter().cloned());
                    (
                        format!(
                            "SELECT i.file_id FROM {INSTANCE_JOIN} WHERE i.series_ref IN rarray(?1) AND {cond}"
                        ),
                        Some((series.clone(), args)),
                    )
                }
                None => (
                    format!("SELECT i.file_id FROM {INSTANCE_JOIN} WHERE {icond}"),
                    None,
                ),
            };
            let ids: Vec<i64> = self.sql(|c| {
                rusqlite::vtab::array::load_module(c)?;
                let mut stmt = c.prepare(&sql)?;
                match args {
                    Some((series, mut args)) => {
                        // ?1 is the series array; the others follow.
                        args.remove(0);
                        let mut params: Vec<&dyn rusqlite::ToSql> = vec![&series];
                        for a in &args {
                            params.push(a);
                        }
                        let rows = stmt.query_map(params.as_slice(), |r| r.get(0))?;
                        rows.collect()
                    }
                    None => {
                        let rows =
                            stmt.query_map(params_from_iter(iparams.iter()), |r| r.get(0))?;
                        rows.collect()
                    }
                }
            })?;
            out.extend(ids);
        }
        let (fcond, fparams) = file_filter(scope);
        if fcond != "0" {
            let ids: Vec<i64> = self.sql(|c| {
                let mut stmt = c.prepare(&format!(
                    "SELECT f.id FROM volumes v JOIN files f ON f.id = v.file_id \
                     WHERE f.removed_at IS NULL AND {fcond}"
                ))?;
                let rows = stmt.query_map(params_from_iter(fparams.iter()), |r| r.get(0))?;
                rows.collect()
            })?;
            out.extend(ids);
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}
