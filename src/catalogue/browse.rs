//! Paged, filtered queries for browsing the catalogue (the TUI's tree, folder view and
//! overview). Every list is fetched a page at a time with its total, so the browser never
//! loads a whole table, however large the catalogue.

use super::{Catalogue, Result};
use crate::filter::{Column, Filter, Term};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OptionalExtension, ToSql};
use std::rc::Rc;

/// Rows fetched per page.
pub const PAGE: usize = 200;

/// A filter made into SQL for this catalogue.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Series that hold matching instances; `None` when every series matches.
    pub series: Option<Rc<Vec<Value>>>,
    /// Condition on instances (aliases f, i, s, st, p, h), when the filter has instance-level terms.
    pub instance_cond: Option<(String, Vec<Value>)>,
    /// Condition on files for the volume and other-file groups.
    pub file_cond: Option<(String, Vec<Value>)>,
    /// Whether DICOM instances can match at all (`kind:nifti` rules them out).
    pub dicom: bool,
    pub filter: Filter,
}

/// A scope as plain data, computed on a worker thread and made into a [`Scope`] on the UI
/// thread (a `Scope` holds an `Rc` for SQLite's `rarray`, so it cannot cross threads).
#[derive(Debug, Clone, Default)]
pub struct ScopeSpec {
    pub series: Option<Vec<i64>>,
    pub instance_cond: Option<(String, Vec<Value>)>,
    pub file_cond: Option<(String, Vec<Value>)>,
    pub dicom: bool,
    pub filter: Filter,
}

impl ScopeSpec {
    pub fn into_scope(self) -> Scope {
        Scope {
            series: self
                .series
                .map(|v| Rc::new(v.into_iter().map(Value::Integer).collect())),
            instance_cond: self.instance_cond,
            file_cond: self.file_cond,
            dicom: self.dicom,
            filter: self.filter,
        }
    }
}

/// One row of a browser level.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Database id of the patient, study, series or file.
    pub id: i64,
    /// Display columns, level-specific (see the `*_page` functions).
    pub cols: Vec<String>,
    /// Counts of children (studies, series, instances) where the level has them.
    pub counts: Vec<i64>,
    /// File status for file rows (`ok`, `truncated`, ...).
    pub status: Option<String>,
}

/// Sort orders a level offers; index into `*_SORTS`.
pub const PATIENT_SORTS: &[(&str, &str)] = &[
    ("patient id", "p.patient_id, p.id"),
    ("name", "p.patient_name, p.id"),
    ("instances", "n_instances DESC, p.id"),
];
pub const STUDY_SORTS: &[(&str, &str)] = &[
    ("date", "st.study_date, st.study_time, st.id"),
    ("description", "st.description, st.id"),
    ("instances", "n_instances DESC, st.id"),
];
pub const SERIES_SORTS: &[(&str, &str)] = &[
    ("number", "s.series_number, s.id"),
    ("description", "s.description, s.id"),
    ("modality", "s.modality, s.series_number, s.id"),
    ("instances", "n_instances DESC, s.id"),
];
pub const INSTANCE_SORTS: &[(&str, &str)] = &[
    ("instance number", "i.instance_number, f.path"),
    ("slice location", "i.slice_location, i.instance_number"),
    ("path", "f.path"),
];
pub const FILE_SORTS: &[(&str, &str)] = &[
    ("path", "f.path"),
    ("size", "f.size DESC, f.path"),
    ("kind", "f.kind, f.path"),
];

fn order(sorts: &[(&str, &'static str)], i: usize) -> &'static str {
    sorts.get(i).or(sorts.first()).map(|s| s.1).unwrap_or("1")
}

fn glob_or_eq(expr: &str, pattern: &str, params: &mut Vec<Value>) -> String {
    params.push(Value::Text(pattern.to_string()));
    if pattern.contains(['*', '?', '[']) {
        format!("upper({expr}) GLOB upper(?)")
    } else {
        format!("{expr} = ? COLLATE NOCASE")
    }
}

fn column_expr(c: Column) -> &'static str {
    match c {
        Column::Modality => "s.modality",
        Column::Manufacturer => "s.manufacturer",
        Column::Model => "s.model",
        Column::Station => "s.station",
        Column::BodyPart => "s.body_part",
        Column::SeriesDescription => "s.description",
        Column::StudyDescription => "st.description",
        Column::Institution => "s.institution",
        Column::Protocol => "s.protocol_name",
        Column::SopClass => "i.sop_class_uid",
        Column::TransferSyntax => "i.transfer_syntax_uid",
        Column::Rows => "i.rows",
        Column::Columns => "i.columns",
        Column::StudyDate => "st.study_date",
        Column::Path => "f.path",
        Column::Extension => "f.ext",
    }
}

/// SQL for one term over the instance join (f, i, s, st, p, h).
fn instance_term(t: &Term, params: &mut Vec<Value>) -> String {
    match t {
        Term::Column { column, pattern } => match column {
            // Code strings are upper case (PS3.5 §6.2): compare exactly, so the index is used.
            Column::Modality if !pattern.contains(['*', '?', '[']) => {
                params.push(Value::Text(pattern.to_ascii_uppercase()));
                "s.modality = ?".into()
            }
            Column::Rows | Column::Columns => match pattern.parse::<i64>() {
                Ok(n) => {
                    params.push(Value::Integer(n));
                    format!("{} = ?", column_expr(*column))
                }
                Err(_) => glob_or_eq(
                    &format!("CAST({} AS TEXT)", column_expr(*column)),
                    pattern,
                    params,
                ),
            },
            c => glob_or_eq(column_expr(*c), pattern, params),
        },
        Term::Element { tag, pattern } => {
            params.push(Value::Text(pattern.to_string()));
            format!(
                "EXISTS (SELECT 1 FROM json_each(h.elements, '$.\"{tag:08X}\"') j \
                 WHERE j.key > 0 AND upper(CAST(j.value AS TEXT)) GLOB upper(?))"
            )
        }
        Term::HasTag { group, element } => match element {
            None => format!("h.groups LIKE '% {group:04X} %'"),
            Some(e) => format!("h.elements -> '$.\"{group:04X}{e:04X}\"' IS NOT NULL"),
        },
        Term::Kind(k) => {
            params.push(Value::Text(k.clone()));
            "f.kind = ?".into()
        }
        Term::Status(s) => {
            params.push(Value::Text(s.clone()));
            "f.status = ?".into()
        }
        Term::Findings(rank) => findings_term(*rank, params),
        Term::Label { .. } | Term::LabelNone(_) | Term::Annotator(_) | Term::Disagreement => {
            label_term(t, INSTANCE_ITEM, params)
        }
        Term::Text(text) => {
            let like = format!("%{text}%");
            for _ in 0..5 {
                params.push(Value::Text(like.clone()));
            }
            "(f.path LIKE ? OR s.description LIKE ? OR st.description LIKE ? \
             OR p.patient_id LIKE ? OR p.patient_name LIKE ?)"
                .into()
        }
        Term::Not(inner) => format!("NOT coalesce(({}), 0)", instance_term(inner, params)),
    }
}

/// SQL for one term over files alone (volumes and other files): DICOM-only terms are false.
fn file_term(t: &Term, params: &mut Vec<Value>) -> String {
    match t {
        Term::Column {
            column: c @ (Column::Path | Column::Extension),
            pattern,
        } => glob_or_eq(column_expr(*c), pattern, params),
        Term::Kind(k) => {
            params.push(Value::Text(k.clone()));
            "f.kind = ?".into()
        }
        Term::Status(s) => {
            params.push(Value::Text(s.clone()));
            "f.status = ?".into()
        }
        Term::Findings(rank) => findings_term(*rank, params),
        Term::Label { .. } | Term::LabelNone(_) | Term::Annotator(_) | Term::Disagreement => {
            label_term(t, FILE_ITEM, params)
        }
        Term::Text(text) => {
            params.push(Value::Text(format!("%{text}%")));
            "f.path LIKE ?".into()
        }
        Term::Not(inner) => format!("NOT coalesce(({}), 0)", file_term(inner, params)),
        _ => "0".into(),
    }
}

/// Which labels belong to the row (alias `l`) over the instance join: the file's own
/// (instance level) or its series', study's or patient's. The `IN` list lets SQLite use the
/// labels' `(item, ...)` index; the `CASE` keeps a key from matching at the wrong level.
const INSTANCE_ITEM: &str = "l.item IN (f.path, s.series_uid, st.study_uid, p.patient_id) \
     AND l.item = CASE l.level WHEN 'instance' THEN f.path WHEN 'volume' THEN f.path \
     WHEN 'series' THEN s.series_uid WHEN 'study' THEN st.study_uid ELSE p.patient_id END";
/// The same over files alone (volumes): only file-level labels.
const FILE_ITEM: &str = "l.item = f.path AND l.level IN ('instance', 'volume')";

/// SQL for the label terms (see [`crate::filter`]); `item` ties `l` to the row. The unary `+`
/// keeps SQLite from probing the labels by set or annotator (thousands of rows per file)
/// instead of by item (a handful).
fn label_term(t: &Term, item: &str, params: &mut Vec<Value>) -> String {
    let item_a = item.replace("l.", "a.");
    match t {
        Term::Label { set, category } => {
            params.push(Value::Text(set.clone()));
            let mut sql = format!(
                "EXISTS (SELECT 1 FROM labels l WHERE {item} AND +l.set_name = ? AND l.category IS NOT NULL"
            );
            if let Some(c) = category {
                params.push(Value::Text(c.clone()));
                sql.push_str(" AND instr(';' || l.category || ';', ';' || ? || ';') > 0");
            }
            sql.push(')');
            sql
        }
        Term::LabelNone(set) => {
            let mut sql =
                format!("NOT EXISTS (SELECT 1 FROM labels l WHERE {item} AND l.category IS NOT NULL");
            if let Some(s) = set {
                params.push(Value::Text(s.clone()));
                sql.push_str(" AND +l.set_name = ?");
            }
            sql.push(')');
            sql
        }
        Term::Annotator(who) => {
            params.push(Value::Text(who.clone()));
            format!("EXISTS (SELECT 1 FROM labels l WHERE {item} AND +l.annotator = ?)")
        }
        Term::Disagreement => format!(
            "EXISTS (SELECT 1 FROM labels a JOIN labels b ON b.item = a.item AND b.set_name = a.set_name \
             AND b.final = 0 AND b.category IS NOT NULL AND b.category <> a.category \
             WHERE {item_a} AND +a.final = 0 AND a.category IS NOT NULL)"
        ),
        _ => "0".into(),
    }
}

/// Files with an unacknowledged finding of at least `rank` (uses the findings' file index).
fn findings_term(rank: i64, params: &mut Vec<Value>) -> String {
    params.push(Value::Integer(rank));
    "EXISTS (SELECT 1 FROM findings fi WHERE fi.file_id = f.id AND fi.rank >= ? AND fi.ack_id IS NULL)"
        .into()
}

fn and(parts: Vec<String>) -> String {
    if parts.iter().any(|p| p == "0") {
        "0".into() // one false term: the caller skips the query
    } else if parts.is_empty() {
        "1".into()
    } else {
        parts.join(" AND ")
    }
}

/// Files that are neither instances nor volumes: other kinds, and DICOM/NIfTI/Analyze files
/// that could not be parsed (which are never `ok`). Written so SQLite uses `files_kind`.
const OTHER_KINDS: &str = "f.kind IN ('other', 'unreadable', 'volume_data')";
const UNPARSED: &str = "f.kind IN ('dicom', 'nifti', 'analyze') \
     AND f.status IN ('truncated', 'corrupt', 'unreadable') \
     AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.file_id = f.id) \
     AND NOT EXISTS (SELECT 1 FROM volumes v WHERE v.file_id = f.id)";

pub(super) const INSTANCE_JOIN: &str = "instances i JOIN files f ON f.id = i.file_id \
     JOIN series s ON s.id = i.series_ref JOIN studies st ON st.id = s.study_ref \
     JOIN patients p ON p.id = st.patient_ref LEFT JOIN headers h ON h.file_id = i.file_id";

impl Catalogue {
    /// Makes the SQL scope of a filter. Series-level filters are answered from the series
    /// table (milliseconds on any catalogue); others scan instances, so callers run them off
    /// the UI thread.
    pub fn scope(&self, filter: &Filter) -> Result<Scope> {
        self.scope_spec(filter).map(ScopeSpec::into_scope)
    }

    /// The scope as plain data (see [`ScopeSpec`]).
    pub fn scope_spec(&self, filter: &Filter) -> Result<ScopeSpec> {
        let kinds = filter.kinds();
        let dicom = kinds.is_empty() || kinds.contains(&"dicom");
        let mut fparams = Vec::new();
        let fcond = and(filter
            .terms
            .iter()
            .map(|t| file_term(t, &mut fparams))
            .collect());
        if filter.is_empty() {
            return Ok(ScopeSpec {
                dicom: true,
                filter: filter.clone(),
                ..Default::default()
            });
        }
        let mut params = Vec::new();
        let cond = and(filter
            .terms
            .iter()
            .map(|t| instance_term(t, &mut params))
            .collect());
        let series: Vec<i64> = if !dicom {
            Vec::new()
        } else if filter.series_level() {
            self.sql(|c| {
                let sql = format!(
                    "SELECT s.id FROM series s JOIN studies st ON st.id = s.study_ref \
                     JOIN patients p ON p.id = st.patient_ref WHERE {cond}"
                );
                let mut stmt = c.prepare(&sql)?;
                let rows =
                    stmt.query_map(params_from_iter(params.iter()), |r| r.get::<_, i64>(0))?;
                rows.collect()
            })?
        } else {
            self.sql(|c| {
                let sql = format!("SELECT DISTINCT i.series_ref FROM {INSTANCE_JOIN} WHERE {cond}");
                let mut stmt = c.prepare(&sql)?;
                let rows =
                    stmt.query_map(params_from_iter(params.iter()), |r| r.get::<_, i64>(0))?;
                rows.collect()
            })?
        };
        Ok(ScopeSpec {
            series: Some(series),
            instance_cond: if filter.series_level() {
                None
            } else {
                Some((cond, params))
            },
            file_cond: Some((fcond, fparams)),
            dicom,
            filter: filter.clone(),
        })
    }

    fn with_array<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.sql(|c| {
            rusqlite::vtab::array::load_module(c)?;
            f(c)
        })
    }

    /// Patients with matching series: (total, page of rows). Columns: patient id, name,
    /// birth date, sex; counts: studies, series, instances.
    pub fn patients_page(
        &self,
        scope: &Scope,
        sort: usize,
        offset: usize,
    ) -> Result<(usize, Vec<Row>)> {
        self.patients_page_known(scope, sort, offset, None)
    }

    /// [`Catalogue::patients_page`] when the caller already knows the total (the browser has
    /// it from [`Catalogue::group_totals`]), saving a count.
    pub fn patients_page_known(
        &self,
        scope: &Scope,
        sort: usize,
        offset: usize,
        known_total: Option<usize>,
    ) -> Result<(usize, Vec<Row>)> {
        if !scope.dicom {
            return Ok((0, Vec::new()));
        }
        let (in_scope, arr) = series_filter(scope);
        let series_ok = if arr.is_some() {
            "s.id IN rarray(?1)"
        } else {
            "1"
        };
        // Patients with a series in scope, found by walking patients in the sort order and
        // stopping at the page's end (cheap), not by collecting every matching patient.
        let where_p = if arr.is_some() {
            "EXISTS (SELECT 1 FROM studies st JOIN series s ON s.study_ref = st.id \
             WHERE st.patient_ref = p.id AND s.id IN rarray(?1))"
        } else {
            "1"
        };
        let total_sql = if arr.is_some() {
            format!(
                "SELECT count(DISTINCT st.patient_ref) FROM series s JOIN studies st ON st.id = s.study_ref \
                 WHERE {in_scope}"
            )
        } else {
            "SELECT count(*) FROM patients".to_string()
        };
        // Counts for the page's patients in one grouped join over their series.
        let grouped = |from: &str| {
            format!(
                "SELECT p.id, p.patient_id, p.patient_name, coalesce(p.birth_date, ''), coalesce(p.sex, ''),
                        count(DISTINCT st.id), count(s.id), coalesce(sum(s.n_instances), 0) AS n_instances
                 FROM {from} p JOIN studies st ON st.patient_ref = p.id JOIN series s ON s.study_ref = st.id
                 WHERE {series_ok} GROUP BY p.id"
            )
        };
        let page_sql = if sort == 2 {
            // Sorting by size needs the counts of every patient.
            format!(
                "{} ORDER BY {} LIMIT {PAGE} OFFSET {offset}",
                grouped("patients"),
                order(PATIENT_SORTS, sort)
            )
        } else {
            let page = format!(
                "(SELECT p.* FROM patients p WHERE {where_p} ORDER BY {} LIMIT {PAGE} OFFSET {offset})",
                order(PATIENT_SORTS, sort)
            );
            format!("{} ORDER BY {}", grouped(&page), order(PATIENT_SORTS, sort))
        };
        self.with_array(|c| {
            let args = bind(&arr, &[]);
            let total: i64 = match known_total {
                Some(t) => t as i64,
                None => c.query_row(&total_sql, params_from_iter(args.iter()), |r| r.get(0))?,
            };
            let rows = page_rows(c, &page_sql, params_from_iter(args.iter()), |r| {
                Ok(Row {
                    id: r.get(0)?,
                    cols: vec![r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?],
                    counts: vec![r.get(5)?, r.get(6)?, r.get(7)?],
                    status: None,
                })
            })?;
            Ok((total as usize, rows))
        })
    }

    /// Studies of a patient. Columns: date, description, accession, study UID;
    /// counts: series, instances.
    pub fn studies_page(
        &self,
        scope: &Scope,
        patient: i64,
        sort: usize,
        offset: usize,
    ) -> Result<(usize, Vec<Row>)> {
        let (in_scope, arr) = series_filter(scope);
        let exists =
            format!("EXISTS (SELECT 1 FROM series s WHERE s.study_ref = st.id AND {in_scope})");
        let series_ok = if arr.is_some() {
            "s.id IN rarray(?1)"
        } else {
            "1"
        };
        let pidx = if arr.is_some() { 2 } else { 1 };
        let base = format!("FROM studies st WHERE st.patient_ref = ?{pidx} AND {exists}");
        let total_sql = format!("SELECT count(*) {base}");
        let page_sql = format!(
            "SELECT st.id, coalesce(st.study_date, ''), coalesce(st.description, ''), coalesce(st.accession, ''), st.study_uid,
               (SELECT count(*) FROM series s WHERE s.study_ref = st.id AND {series_ok}),
               (SELECT coalesce(sum(s.n_instances), 0) FROM series s WHERE s.study_ref = st.id AND {series_ok}) AS n_instances
             {base} ORDER BY {} LIMIT {PAGE} OFFSET {offset}",
            order(STUDY_SORTS, sort)
        );
        self.with_array(|c| {
            let rest = [Value::Integer(patient)];
            let args = bind(&arr, &rest);
            let total: i64 =
                c.query_row(&total_sql, params_from_iter(args.iter()), |r| r.get(0))?;
            let rows = page_rows(c, &page_sql, params_from_iter(args.iter()), |r| {
                Ok(Row {
                    id: r.get(0)?,
                    cols: vec![r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?],
                    counts: vec![r.get(5)?, r.get(6)?],
                    status: None,
                })
            })?;
            Ok((total as usize, rows))
        })
    }

    /// Series of a study. Columns: number, modality, description, manufacturer, series UID;
    /// counts: instances (matching ones, when the filter is instance-level).
    pub fn series_page(
        &self,
        scope: &Scope,
        study: i64,
        sort: usize,
        offset: usize,
    ) -> Result<(usize, Vec<Row>)> {
        let (in_scope, arr) = series_filter(scope);
        let pidx = if arr.is_some() { 2 } else { 1 };
        let base = format!("FROM series s WHERE s.study_ref = ?{pidx} AND {in_scope}");
        let total_sql = format!("SELECT count(*) {base}");
        let (icond, iparams) = instance_filter(scope);
        let count_expr = if icond == "1" {
            "s.n_instances".to_string()
        } else {
            // Correlated with the outer series row `s`, so the condition's `s.` columns hold.
            format!(
                "(SELECT count(*) FROM instances i JOIN files f ON f.id = i.file_id \
                 JOIN studies st ON st.id = s.study_ref JOIN patients p ON p.id = st.patient_ref \
                 LEFT JOIN headers h ON h.file_id = i.file_id WHERE i.series_ref = s.id AND {})",
                shift_params(&icond, pidx)
            )
        };
        let page_sql = format!(
            "SELECT s.id, coalesce(CAST(s.series_number AS TEXT), ''), coalesce(s.modality, ''), coalesce(s.description, ''),
                    coalesce(s.manufacturer, ''), s.series_uid, {count_expr} AS n_instances
             {base} ORDER BY {} LIMIT {PAGE} OFFSET {offset}",
            order(SERIES_SORTS, sort)
        );
        self.with_array(|c| {
            let rest = [Value::Integer(study)];
            let args = bind(&arr, &rest);
            let total: i64 =
                c.query_row(&total_sql, params_from_iter(args.iter()), |r| r.get(0))?;
            let mut page_rest = vec![Value::Integer(study)];
            page_rest.extend(iparams.iter().cloned());
            let page_args = bind(&arr, &page_rest);
            let rows = page_rows(c, &page_sql, params_from_iter(page_args.iter()), |r| {
                Ok(Row {
                    id: r.get(0)?,
                    cols: vec![r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
                    counts: vec![r.get(6)?],
                    status: None,
                })
            })?;
            Ok((total as usize, rows))
        })
    }

    /// Instances of a series (matching ones). Columns: instance number, file name, rows×columns,
    /// SOP instance UID, path.
    pub fn instances_page(
        &self,
        scope: &Scope,
        series: i64,
        sort: usize,
        offset: usize,
    ) -> Result<(usize, Vec<Row>)> {
        let (icond, iparams) = instance_filter(scope);
        let cond = shift_params(&icond, 1);
        let base = format!("FROM {INSTANCE_JOIN} WHERE i.series_ref = ?1 AND {cond}");
        let total_sql = format!("SELECT count(*) {base}");
        let page_sql = format!(
            "SELECT f.id, coalesce(CAST(i.instance_number AS TEXT), ''), f.path,
                    coalesce(i.rows || 'x' || i.columns, ''), coalesce(i.sop_instance_uid, ''), f.status,
                    (SELECT count(*) FROM findings fi WHERE fi.file_id = f.id AND fi.ack_id IS NULL AND fi.rank >= 1),
                    (SELECT max(fi.rank) FROM findings fi WHERE fi.file_id = f.id AND fi.ack_id IS NULL)
             {base} ORDER BY {} LIMIT {PAGE} OFFSET {offset}",
            order(INSTANCE_SORTS, sort)
        );
        self.sql(|c| {
            let mut args = vec![Value::Integer(series)];
            args.extend(iparams.iter().cloned());
            let total: i64 =
                c.query_row(&total_sql, params_from_iter(args.iter()), |r| r.get(0))?;
            let rows = page_rows(c, &page_sql, params_from_iter(args.iter()), |r| {
                let path: String = r.get(2)?;
                let name = path.rsplit('/').next().unwrap_or(&path).to_string();
                Ok(Row {
                    id: r.get(0)?,
                    cols: vec![r.get(1)?, name, r.get(3)?, r.get(4)?, path],
                    // Findings badge: warnings and errors not acknowledged, and the worst.
                    counts: vec![r.get(6)?, r.get::<_, Option<i64>>(7)?.unwrap_or(-1)],
                    status: Some(r.get(5)?),
                })
            })?;
            Ok((total as usize, rows))
        })
    }

    /// NIfTI/Analyze volumes. Columns: file name, format, dims, datatype, orientation, path.
    pub fn volumes_page(
        &self,
        scope: &Scope,
        sort: usize,
        offset: usize,
    ) -> Result<(usize, Vec<Row>)> {
        let (cond, params) = file_filter(scope);
        if cond == "0" {
            return Ok((0, Vec::new()));
        }
        let base = format!(
            "FROM volumes v CROSS JOIN files f ON f.id = v.file_id WHERE f.removed_at IS NULL AND {cond}"
        );
        let page_sql = format!(
            "SELECT f.id, f.path, v.format, v.dims, v.datatype_name, coalesce(v.orientation, ''), f.status
             {base} ORDER BY {} LIMIT {PAGE} OFFSET {offset}",
            order(FILE_SORTS, sort)
        );
        self.sql(|c| {
            let total: i64 = c.query_row(
                &format!("SELECT count(*) {base}"),
                params_from_iter(params.iter()),
                |r| r.get(0),
            )?;
            let rows = page_rows(c, &page_sql, params_from_iter(params.iter()), |r| {
                let path: String = r.get(1)?;
                let name = path.rsplit('/').next().unwrap_or(&path).to_string();
                Ok(Row {
                    id: r.get(0)?,
                    cols: vec![name, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, path],
                    counts: vec![],
                    status: Some(r.get(6)?),
                })
            })?;
            Ok((total as usize, rows))
        })
    }

    /// Files that are neither DICOM instances nor volumes: other files, unreadable ones, `.img`
    /// halves, and DICOM-named files that could not be parsed. Columns: file name, kind, size,
    /// error, path.
    pub fn other_files_page(
        &self,
        scope: &Scope,
        sort: usize,
        offset: usize,
    ) -> Result<(usize, Vec<Row>)> {
        let (cond, params) = file_filter(scope);
        if cond == "0" {
            return Ok((0, Vec::new()));
        }
        // Two branches that each use the kind index; the condition's parameters are numbered
        // so both branches share them.
        let numbered = shift_params(&cond, 0);
        let cols = "f.id, f.path, f.kind, f.size, coalesce(f.error, '') AS error, f.status";
        let union = format!(
            "SELECT {cols} FROM files f WHERE {OTHER_KINDS} AND f.removed_at IS NULL AND {numbered}
             UNION ALL
             SELECT {cols} FROM files f WHERE {UNPARSED} AND f.removed_at IS NULL AND {numbered}"
        );
        let order_by = order(FILE_SORTS, sort).replace("f.", "");
        let page_sql = format!(
            "SELECT id, path, kind, size, error, status FROM ({union})
             ORDER BY {order_by} LIMIT {PAGE} OFFSET {offset}"
        );
        self.sql(|c| {
            let total: i64 = c.query_row(
                &format!("SELECT count(*) FROM ({union})"),
                params_from_iter(params.iter()),
                |r| r.get(0),
            )?;
            let rows = page_rows(c, &page_sql, params_from_iter(params.iter()), |r| {
                let path: String = r.get(1)?;
                let name = path.rsplit('/').next().unwrap_or(&path).to_string();
                let size: i64 = r.get(3)?;
                Ok(Row {
                    id: r.get(0)?,
                    cols: vec![name, r.get(2)?, human_size(size), r.get(4)?, path],
                    counts: vec![],
                    status: Some(r.get(5)?),
                })
            })?;
            Ok((total as usize, rows))
        })
    }

    /// How many rows each top-level group has: (patients, volumes, other files). Counts only,
    /// so the first screen costs three indexed counts on any catalogue.
    pub fn group_totals(&self, scope: &Scope) -> Result<(usize, usize, usize)> {
        let patients = if !scope.dicom {
            0
        } else {
            let (in_scope, arr) = series_filter(scope);
            let sql = if arr.is_some() {
                format!(
                    "SELECT count(DISTINCT st.patient_ref) FROM series s JOIN studies st ON st.id = s.study_ref \
                     WHERE {in_scope}"
                )
            } else {
                "SELECT count(*) FROM patients".to_string()
            };
            self.with_array(|c| {
                let args = bind(&arr, &[]);
                c.query_row(&sql, params_from_iter(args.iter()), |r| r.get::<_, i64>(0))
            })? as usize
        };
        let (cond, params) = file_filter(scope);
        let (volumes, other) = if cond == "0" {
            (0, 0)
        } else {
            self.sql(|c| {
                let v: i64 = c.query_row(
                    &format!(
                        "SELECT count(*) FROM volumes v CROSS JOIN files f ON f.id = v.file_id \
                         WHERE f.removed_at IS NULL AND {cond}"
                    ),
                    params_from_iter(params.iter()),
                    |r| r.get(0),
                )?;
                let numbered = shift_params(&cond, 0);
                let o: i64 = c.query_row(
                    &format!(
                        "SELECT (SELECT count(*) FROM files f WHERE {OTHER_KINDS} AND f.removed_at IS NULL AND {numbered})
                              + (SELECT count(*) FROM files f WHERE {UNPARSED} AND f.removed_at IS NULL AND {numbered})"
                    ),
                    params_from_iter(params.iter()),
                    |r| r.get(0),
                )?;
                Ok((v as usize, o as usize))
            })?
        };
        Ok((patients, volumes, other))
    }

    /// The scanned roots (top of the folder view).
    pub fn roots(&self) -> Result<Vec<String>> {
        self.sql(|c| {
            let mut stmt = c.prepare("SELECT path FROM roots ORDER BY path")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Immediate children of a folder: (name, is_dir, files below, file id when a file).
    pub fn folder_children(
        &self,
        scope: &Scope,
        dir: &str,
    ) -> Result<Vec<(String, bool, i64, i64)>> {
        let (cond, params) = file_filter(scope);
        let dir = dir.trim_end_matches('/');
        let lo = format!("{dir}/");
        let hi = format!("{dir}0");
        let sql = format!(
            "SELECT CASE WHEN instr(rest, '/') > 0 THEN substr(rest, 1, instr(rest, '/') - 1) ELSE rest END AS name,
                    instr(rest, '/') > 0 AS is_dir, count(*), min(id)
             FROM (SELECT substr(f.path, {}) AS rest, f.id AS id FROM files f
                   WHERE f.path >= ?{} AND f.path < ?{} AND f.removed_at IS NULL AND {})
             GROUP BY name, is_dir ORDER BY is_dir DESC, name",
            lo.chars().count() + 1,
            params.len() + 1,
            params.len() + 2,
            shift_params(&cond, 0)
        );
        self.sql(|c| {
            let mut args = params.clone();
            args.push(Value::Text(lo.clone()));
            args.push(Value::Text(hi.clone()));
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? != 0, r.get(2)?, r.get(3)?))
            })?;
            rows.collect()
        })
    }

    /// Path, kind, status and recorded reason of a file.
    pub fn file_info(&self, id: i64) -> Result<Option<FileInfo>> {
        use rusqlite::OptionalExtension;
        self.sql(|c| {
            c.query_row(
                "SELECT path, kind, status, error FROM files WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
        })
    }

    /// File ids of a series' instances in order (for "varying tags" and slice order).
    pub fn series_files(&self, series: i64) -> Result<Vec<i64>> {
        self.sql(|c| {
            let mut stmt = c.prepare(
                "SELECT i.file_id FROM instances i JOIN files f ON f.id = i.file_id
                 WHERE i.series_ref = ?1 ORDER BY i.instance_number, f.path",
            )?;
            let rows = stmt.query_map([series], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// The catalogue id of the (not removed) file at `path`.
    pub fn file_id_of(&self, path: &str) -> Result<Option<i64>> {
        self.sql(|c| {
            c.query_row(
                "SELECT id FROM files WHERE path = ?1 AND removed_at IS NULL",
                [path],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// The row id a labelled item is shown with: files.id (instance, volume), series.id,
    /// studies.id or patients.id.
    pub fn label_item_id(&self, item: &crate::catalogue::labels::ItemRef) -> Result<Option<i64>> {
        use crate::labels::scheme::Level;
        let sql = match item.level {
            Level::Instance | Level::Volume => {
                "SELECT id FROM files WHERE path = ?1 AND removed_at IS NULL"
            }
            Level::Series => "SELECT id FROM series WHERE series_uid = ?1",
            Level::Study => "SELECT id FROM studies WHERE study_uid = ?1",
            Level::Patient => "SELECT id FROM patients WHERE patient_id = ?1",
        };
        self.sql(|c| c.query_row(sql, [&item.key], |r| r.get(0)).optional())
    }

    /// The paths of a series' files (not removed ones), in instance-number order: what the
    /// preview reads to show the series as a volume.
    pub fn series_paths(&self, series: i64) -> Result<Vec<String>> {
        self.sql(|c| {
            let mut stmt = c.prepare(
                "SELECT f.path FROM instances i JOIN files f ON f.id = i.file_id
                 WHERE i.series_ref = ?1 AND f.status != 'removed'
                 ORDER BY i.instance_number, f.path",
            )?;
            let rows = stmt.query_map([series], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Stored headers (compact JSON text) of files, for comparing without reading them again.
    pub fn headers_json(&self, ids: &[i64]) -> Result<Vec<(i64, String)>> {
        self.with_array(|c| {
            let arr = Rc::new(ids.iter().map(|i| Value::Integer(*i)).collect::<Vec<_>>());
            let mut stmt = c.prepare(
                "SELECT file_id, json(elements) FROM headers WHERE file_id IN rarray(?1)",
            )?;
            let rows = stmt.query_map([arr], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// The whole overview (both passes).
    pub fn overview(&self) -> Result<Overview> {
        let mut o = self.overview_summary()?;
        self.overview_instances(&mut o)?;
        Ok(o)
    }

    /// The instance-level histograms: one pass over every instance (seconds on a million).
    pub fn overview_instances(&self, o: &mut Overview) -> Result<()> {
        let full = self.overview_full()?;
        o.by_syntax = full.by_syntax;
        o.slice_thickness = full.slice_thickness;
        o.pixel_spacing = full.pixel_spacing;
        o.matrix = full.matrix;
        o.bytes = full.bytes;
        o.instances_pending = false;
        Ok(())
    }

    /// The overview's quick part: counts and the series-level lists (a fraction of a second
    /// on a million instances). Instance-level histograms are left pending.
    pub fn overview_summary(&self) -> Result<Overview> {
        self.sql(|c| {
            let one = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0));
            let grouped = |sql: &str| -> rusqlite::Result<Vec<(String, i64)>> {
                let mut stmt = c.prepare(sql)?;
                let rows = stmt.query_map([], |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| "(none)".into()),
                        r.get(1)?,
                    ))
                })?;
                rows.collect()
            };
            let name = |s: String| if s.is_empty() { "(none)".to_string() } else { s };
            let mut modality: std::collections::HashMap<String, i64> = Default::default();
            let mut maker: std::collections::HashMap<String, i64> = Default::default();
            let mut desc: std::collections::HashMap<String, i64> = Default::default();
            {
                let mut stmt = c.prepare(
                    "SELECT coalesce(s.modality, ''),
                            coalesce(s.manufacturer, '?') || ' / ' || coalesce(s.model, '?'),
                            coalesce(s.description, ''), s.n_instances
                     FROM series s",
                )?;
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    let n: i64 = r.get(3)?;
                    *modality.entry(name(r.get(0)?)).or_default() += n;
                    *maker.entry(r.get(1)?).or_default() += n;
                    *desc.entry(name(r.get(2)?)).or_default() += 1;
                }
            }
            let top = |m: std::collections::HashMap<String, i64>, k: usize| {
                let mut v: Vec<(String, i64)> = m.into_iter().collect();
                v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                v.truncate(k);
                v
            };
            let by_kind = grouped(
                "SELECT kind, count(*) FROM files WHERE removed_at IS NULL GROUP BY kind ORDER BY 2 DESC",
            )?;
            Ok(Overview {
                files: by_kind.iter().map(|k| k.1).sum(),
                patients: one("SELECT count(*) FROM patients")?,
                studies: one("SELECT count(*) FROM studies")?,
                series: one("SELECT count(*) FROM series")?,
                instances: one("SELECT coalesce(sum(n_instances), 0) FROM series")?,
                volumes: one(
                    "SELECT count(*) FROM volumes v CROSS JOIN files f ON f.id = v.file_id WHERE f.removed_at IS NULL",
                )?,
                bytes: -1,
                by_kind,
                by_status: grouped(
                    "SELECT status, count(*) FROM files WHERE removed_at IS NULL GROUP BY status ORDER BY 2 DESC",
                )?,
                by_modality: top(modality, 12),
                by_manufacturer: top(maker, 12),
                by_description: top(desc, 15),
                study_years: grouped(
                    "SELECT substr(study_date, 1, 4), count(*) FROM studies WHERE length(study_date) >= 4
                     GROUP BY 1 ORDER BY 1 LIMIT 60",
                )?,
                instances_pending: true,
                ..Default::default()
            })
        })
    }

    /// The instance-level lists in a single pass over the instances.
    fn overview_full(&self) -> Result<Overview> {
        use std::collections::HashMap;
        self.sql(|c| {
            let mut syntax: HashMap<String, i64> = HashMap::new();
            let mut thickness: HashMap<i64, i64> = HashMap::new();
            let mut spacing: HashMap<i64, i64> = HashMap::new();
            let mut matrix: HashMap<String, i64> = HashMap::new();
            let mut stmt = c.prepare(
                "SELECT transfer_syntax_uid, CAST(round(slice_thickness * 100) AS INTEGER),
                        CAST(round(CAST(pixel_spacing AS REAL) * 1000) AS INTEGER),
                        rows || 'x' || columns, count(*)
                 FROM instances GROUP BY 1, 2, 3, 4",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let n: i64 = r.get(4)?;
                let ts: Option<String> = r.get(0)?;
                *syntax.entry(ts.unwrap_or_default()).or_default() += n;
                if let Some(t) = r.get::<_, Option<i64>>(1)? {
                    *thickness.entry(t).or_default() += n;
                }
                if let Some(p) = r.get::<_, Option<i64>>(2)? {
                    *spacing.entry(p).or_default() += n;
                }
                if let Some(m) = r.get::<_, Option<String>>(3)? {
                    *matrix.entry(m).or_default() += n;
                }
            }
            let top = |m: HashMap<String, i64>, k: usize| {
                let mut v: Vec<(String, i64)> = m.into_iter().collect();
                v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                v.truncate(k);
                v
            };
            let ordered = |m: HashMap<i64, i64>, scale: f64| {
                let mut v: Vec<(i64, i64)> = m.into_iter().collect();
                v.sort();
                v.into_iter()
                    .map(|(k, n)| (format!("{}", k as f64 / scale), n))
                    .collect::<Vec<_>>()
            };
            Ok(Overview {
                bytes: c.query_row(
                    "SELECT coalesce(sum(size), 0) FROM files WHERE removed_at IS NULL",
                    [],
                    |r| r.get(0),
                )?,
                by_syntax: top(syntax, 12),
                slice_thickness: ordered(thickness, 100.0),
                pixel_spacing: ordered(spacing, 1000.0),
                matrix: top(matrix, 20),
                ..Default::default()
            })
        })
    }
}

/// Path, kind, status and recorded reason of a file.
pub type FileInfo = (String, String, String, Option<String>);

/// Dataset summary for the overview screen.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    pub files: i64,
    pub patients: i64,
    pub studies: i64,
    pub series: i64,
    pub instances: i64,
    pub volumes: i64,
    pub bytes: i64,
    pub by_kind: Vec<(String, i64)>,
    pub by_status: Vec<(String, i64)>,
    pub by_modality: Vec<(String, i64)>,
    pub by_manufacturer: Vec<(String, i64)>,
    pub by_syntax: Vec<(String, i64)>,
    pub by_description: Vec<(String, i64)>,
    pub slice_thickness: Vec<(String, i64)>,
    pub pixel_spacing: Vec<(String, i64)>,
    pub matrix: Vec<(String, i64)>,
    pub study_years: Vec<(String, i64)>,
    /// The instance-level lists (syntax, thickness, spacing, matrix, bytes) are still coming.
    pub instances_pending: bool,
}

/// Runs a level's page query, one [`Row`] per result row.
fn page_rows<P: rusqlite::Params>(
    c: &Connection,
    sql: &str,
    params: P,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<Row>,
) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = c.prepare(sql)?;
    let rows = stmt.query_map(params, row)?;
    rows.collect()
}

/// `s.id IN rarray(?1)` with the array, or `1` when every series matches.
fn series_filter(scope: &Scope) -> (&'static str, Option<Rc<Vec<Value>>>) {
    match &scope.series {
        Some(arr) => ("s.id IN rarray(?1)", Some(arr.clone())),
        None => ("1", None),
    }
}

/// Parameters: the optional series array first, then plain values.
fn bind<'a>(arr: &'a Option<Rc<Vec<Value>>>, rest: &'a [Value]) -> Vec<&'a dyn ToSql> {
    let mut v: Vec<&dyn ToSql> = Vec::with_capacity(rest.len() + 1);
    if let Some(a) = arr {
        v.push(a);
    }
    v.extend(rest.iter().map(|x| x as &dyn ToSql));
    v
}

/// The whole filter as one condition over the instance join (aliases f, i, s, st, p, h), for
/// queries that walk instances themselves (the labelling list): cheaper per query than
/// binding the scope's series list.
pub(super) fn filter_cond(filter: &Filter) -> (String, Vec<Value>) {
    let mut params = Vec::new();
    let cond = and(filter
        .terms
        .iter()
        .map(|t| instance_term(t, &mut params))
        .collect());
    (cond, params)
}

pub(super) fn instance_filter(scope: &Scope) -> (String, Vec<Value>) {
    scope
        .instance_cond
        .clone()
        .unwrap_or_else(|| ("1".into(), Vec::new()))
}

pub(super) fn file_filter(scope: &Scope) -> (String, Vec<Value>) {
    scope
        .file_cond
        .clone()
        .unwrap_or_else(|| ("1".into(), Vec::new()))
}

/// Numbers the anonymous `?` of a condition from `after + 1` on, so it can follow other
/// numbered parameters.
pub(super) fn shift_params(cond: &str, after: usize) -> String {
    let mut out = String::with_capacity(cond.len() + 8);
    let mut n = after;
    let mut in_str = false;
    for ch in cond.chars() {
        if ch == '\'' {
            in_str = !in_str;
        }
        if ch == '?' && !in_str {
            n += 1;
            out.push_str(&format!("?{n}"));
        } else {
            out.push(ch);
        }
    }
    out
}

/// Bytes as B/KB/MB/GB.
pub fn human_size(n: i64) -> String {
    let n = n as f64;
    if n < 1e3 {
        format!("{n} B")
    } else if n < 1e6 {
        format!("{:.1} KB", n / 1e3)
    } else if n < 1e9 {
        format!("{:.1} MB", n / 1e6)
    } else {
        format!("{:.1} GB", n / 1e9)
    }
}
