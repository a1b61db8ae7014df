//! Labels in the catalogue: the stored scheme, current labels, the history (audit trail),
//! item lists and "next unlabelled" for the labelling mode, progress, agreement input,
//! adjudication, export and import.
//!
//! Items are keyed by what survives a rescan (see [`ItemRef`]). Every write is one short
//! `BEGIN IMMEDIATE` transaction, retried on `SQLITE_BUSY`, so several curators can label the
//! same catalogue from separate processes without lost updates or "database is locked".

use super::browse::{shift_params, Scope};
use super::{Catalogue, CatalogueError, Result};
use crate::labels::scheme::{Level, Scheme};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde::Serialize;

/// One labelled thing: a level and its stable key — the file's path (instance, volume), the
/// Series or Study Instance UID, or the Patient ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ItemRef {
    pub level: Level,
    pub key: String,
}

/// An item of a labelling list: its reference and the catalogue row id to show it with
/// (files.id for instances and volumes, series.id, studies.id, patients.id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelItem {
    pub item: ItemRef,
    pub id: i64,
}

/// The label one annotator (or the final, adjudicated label) gives one item in one set.
/// The default (no category, not uncertain, no note) means "no label".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LabelState {
    /// `None`: no category; multi-choice sets hold `a;b` in scheme order.
    pub category: Option<String>,
    pub uncertain: bool,
    pub note: Option<String>,
}

impl ItemRef {
    /// The item for messages and logs: Patient IDs are PHI and never shown.
    pub fn shown(&self) -> String {
        match self.level {
            Level::Patient => "a patient (ID not shown)".into(),
            _ => self.key.clone(),
        }
    }
}

impl LabelState {
    pub fn is_empty(&self) -> bool {
        self.category.is_none() && !self.uncertain && self.note.is_none()
    }
}

/// What a history row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelAction {
    Assign,
    Clear,
    Uncertain,
    Note,
    Adjudicate,
    Import,
    Undo,
    Redo,
}

impl LabelAction {
    pub fn as_str(self) -> &'static str {
        match self {
            LabelAction::Assign => "assign",
            LabelAction::Clear => "clear",
            LabelAction::Uncertain => "uncertain",
            LabelAction::Note => "note",
            LabelAction::Adjudicate => "adjudicate",
            LabelAction::Import => "import",
            LabelAction::Undo => "undo",
            LabelAction::Redo => "redo",
        }
    }
}

/// One change to write.
#[derive(Debug, Clone)]
pub struct LabelWrite<'a> {
    pub set: &'a str,
    pub item: &'a ItemRef,
    pub annotator: &'a str,
    /// The adjudicated final label of the item (at most one per item and set).
    pub is_final: bool,
    /// The state after the change (empty: delete the label).
    pub state: &'a LabelState,
    pub action: LabelAction,
    pub session: Option<&'a str>,
    /// Write only if the current state is this one (undo/redo: someone else may have changed
    /// it meanwhile); otherwise the write is refused as a conflict.
    pub expect: Option<&'a LabelState>,
    /// The label's time (import keeps the exported one); default now.
    pub at: Option<f64>,
}

/// A current label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelRow {
    pub item: ItemRef,
    pub set: String,
    pub annotator: String,
    pub is_final: bool,
    pub state: LabelState,
    pub at: f64,
}

/// One row of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryRow {
    pub id: i64,
    pub at: f64,
    pub item: ItemRef,
    pub set: String,
    pub annotator: String,
    pub is_final: bool,
    pub action: String,
    pub old_category: Option<String>,
    pub state: LabelState,
    pub session: Option<String>,
}

/// Labelled / total items of a level within a filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub labelled: usize,
    pub total: usize,
}

/// Counts per category and annotator of one set (`annotator` is `(final)` for final labels).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelCount {
    pub set: String,
    pub category: String,
    pub annotator: String,
    pub count: i64,
}

/// An item annotators disagree on, with their labels and the final label if set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disagreement {
    pub item: ItemRef,
    pub labels: Vec<(String, String)>,
    pub final_label: Option<(String, String)>,
}

/// One exported label with the item's path and UIDs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportRow {
    pub label: LabelRow,
    /// The file (instance, volume) or the folder holding the item's files.
    pub path: String,
    pub sop_instance_uid: Option<String>,
    pub series_uid: Option<String>,
    pub study_uid: Option<String>,
    pub patient_id: Option<String>,
}

/// Which way a page of items goes from its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    After,
    Before,
    From,
}

/// Which labels make an item "labelled" for next-unlabelled and progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelledBy<'a> {
    /// A category from this annotator (independent labelling, for agreement).
    Annotator(&'a str),
    /// A category from anyone (curators sharing the work).
    Anyone,
}

/// A file's path, series UID, study UID, patient ID, and whether it is a volume.
type FileItems = (String, Option<String>, Option<String>, Option<String>, bool);
/// Path, SOP Instance UID, Series UID, Study UID, Patient ID.
type Identity = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn label_err(msg: impl Into<String>) -> CatalogueError {
    CatalogueError::Label(msg.into())
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// The state of `(item, set, annotator)` (or the item's final label).
fn read_state(
    c: &Connection,
    set: &str,
    item: &str,
    annotator: &str,
    is_final: bool,
) -> rusqlite::Result<LabelState> {
    let row = if is_final {
        c.prepare_cached(
            "SELECT category, uncertain, note FROM labels WHERE item = ?1 AND set_name = ?2 AND final = 1",
        )?
        .query_row(params![item, set], |r| {
            Ok(LabelState {
                category: r.get(0)?,
                uncertain: r.get::<_, i64>(1)? != 0,
                note: r.get(2)?,
            })
        })
        .optional()?
    } else {
        c.prepare_cached(
            "SELECT category, uncertain, note FROM labels
             WHERE item = ?1 AND set_name = ?2 AND final = 0 AND annotator = ?3",
        )?
        .query_row(params![item, set, annotator], |r| {
            Ok(LabelState {
                category: r.get(0)?,
                uncertain: r.get::<_, i64>(1)? != 0,
                note: r.get(2)?,
            })
        })
        .optional()?
    };
    Ok(row.unwrap_or_default())
}

/// Applies one write inside a transaction; `Ok(Err(..))` is a refused write (conflict).
fn apply(
    c: &Connection,
    w: &LabelWrite<'_>,
    now: f64,
) -> rusqlite::Result<std::result::Result<LabelState, String>> {
    let key = w.item.key.as_str();
    let old = read_state(c, w.set, key, w.annotator, w.is_final)?;
    if let Some(expect) = w.expect {
        if *expect != old {
            return Ok(Err(format!(
                "the label of {} in set {:?} was changed meanwhile (by another process); not overwritten",
                w.item.shown(),
                w.set
            )));
        }
    }
    if old == *w.state {
        return Ok(Ok(old));
    }
    let at = w.at.unwrap_or(now);
    if w.is_final {
        c.prepare_cached("DELETE FROM labels WHERE item = ?1 AND set_name = ?2 AND final = 1")?
            .execute(params![key, w.set])?;
    } else if w.state.is_empty() {
        c.prepare_cached(
            "DELETE FROM labels WHERE item = ?1 AND set_name = ?2 AND final = 0 AND annotator = ?3",
        )?
        .execute(params![key, w.set, w.annotator])?;
    }
    if !w.state.is_empty() {
        c.prepare_cached(
            "INSERT INTO labels(item, set_name, level, final, annotator, category, uncertain, note, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(item, set_name, final, annotator) DO UPDATE SET
                level = excluded.level, category = excluded.category, uncertain = excluded.uncertain,
                note = excluded.note, at = excluded.at",
        )?
        .execute(params![
            key,
            w.set,
            w.item.level.as_str(),
            w.is_final,
            w.annotator,
            w.state.category,
            w.state.uncertain,
            w.state.note,
            at
        ])?;
    }
    c.prepare_cached(
        "INSERT INTO label_history(at, item, set_name, level, final, annotator, action, old_category,
                                   category, uncertain, note, session)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        now,
        key,
        w.set,
        w.item.level.as_str(),
        w.is_final,
        w.annotator,
        w.action.as_str(),
        old.category,
        w.state.category,
        w.state.uncertain,
        w.state.note,
        w.session
    ])?;
    Ok(Ok(old))
}

/// The longest common folder of two paths.
fn common_dir(a: &str, b: &str) -> String {
    let mut end = 0;
    for ((i, x), y) in a.char_indices().zip(b.chars()) {
        if x != y {
            break;
        }
        if x == '/' {
            end = i;
        }
    }
    if a == b {
        return a
            .rsplit_once('/')
            .map(|p| p.0.to_string())
            .unwrap_or_default();
    }
    a[..end].to_string()
}

/// Path (file, or folder of the item's files) and the UIDs of an item's level.
fn identity(c: &Connection, item: &ItemRef) -> rusqlite::Result<Identity> {
    let key = item.key.as_str();
    match item.level {
        Level::Instance => Ok(c
            .prepare_cached(
                "SELECT i.sop_instance_uid, i.series_uid, i.study_uid FROM files f
                 JOIN instances i ON i.file_id = f.id WHERE f.path = ?1",
            )?
            .query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?
            .map(|(a, b, c)| (key.to_string(), a, b, c, None))
            .unwrap_or((key.to_string(), None, None, None, None))),
        Level::Volume => Ok((key.to_string(), None, None, None, None)),
        Level::Series => {
            let (lo, hi, study): (Option<String>, Option<String>, Option<String>) = c
                .prepare_cached(
                    "SELECT min(f.path), max(f.path), min(i.study_uid) FROM instances i
                     JOIN files f ON f.id = i.file_id WHERE i.series_uid = ?1",
                )?
                .query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            let dir = lo
                .zip(hi)
                .map(|(a, b)| common_dir(&a, &b))
                .unwrap_or_default();
            Ok((dir, None, Some(key.to_string()), study, None))
        }
        Level::Study => {
            let (lo, hi): (Option<String>, Option<String>) = c
                .prepare_cached(
                    "SELECT min(f.path), max(f.path) FROM instances i
                     JOIN files f ON f.id = i.file_id WHERE i.study_uid = ?1",
                )?
                .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let dir = lo
                .zip(hi)
                .map(|(a, b)| common_dir(&a, &b))
                .unwrap_or_default();
            Ok((dir, None, None, Some(key.to_string()), None))
        }
        Level::Patient => {
            let (lo, hi): (Option<String>, Option<String>) = c
                .prepare_cached(
                    "SELECT min(f.path), max(f.path) FROM patients p JOIN studies st ON st.patient_ref = p.id
                     JOIN series s ON s.study_ref = st.id JOIN instances i ON i.series_ref = s.id
                     JOIN files f ON f.id = i.file_id WHERE p.patient_id = ?1",
                )?
                .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let dir = lo
                .zip(hi)
                .map(|(a, b)| common_dir(&a, &b))
                .unwrap_or_default();
            Ok((dir, None, None, None, Some(key.to_string())))
        }
    }
}

/// SQL of a level's items within a scope: FROM/WHERE text, key and id expressions, whether
/// the rows must be grouped by key, and the parameters (numbered ?1..).
struct ItemSql {
    from_where: String,
    key: &'static str,
    id: &'static str,
    grouped: bool,
    /// Parameter 1 is the scope's series array.
    array: bool,
    params: Vec<Value>,
}

fn item_sql(level: Level, scope: &Scope) -> Option<ItemSql> {
    let mut params: Vec<Value> = Vec::new();
    // The series array, when there is one, is always parameter 1 (see `bind_values`).
    let series_in = |col: &str, params: &mut Vec<Value>| -> String {
        match &scope.series {
            Some(_) => {
                params.push(Value::Null);
                format!("{col} IN rarray(?{})", params.len())
            }
            None => "1".into(),
        }
    };
    let dicom_levels = matches!(
        level,
        Level::Instance | Level::Series | Level::Study | Level::Patient
    );
    if dicom_levels && !scope.dicom {
        return None;
    }
    let out = match level {
        Level::Instance => {
            // The filter itself, evaluated on each row of the walk (the joined series, study
            // and patient are at hand), rather than the scope's series list.
            let (cond, cparams) = scope
                .instance_cond
                .clone()
                .unwrap_or_else(|| super::browse::filter_cond(&scope.filter));
            if cond == "0" {
                return None;
            }
            let cond = shift_params(&cond, 0);
            params.extend(cparams);
            ItemSql {
                from_where: format!(
                    "FROM files f CROSS JOIN instances i ON i.file_id = f.id \
                     JOIN series s ON s.id = i.series_ref JOIN studies st ON st.id = s.study_ref \
                     JOIN patients p ON p.id = st.patient_ref LEFT JOIN headers h ON h.file_id = i.file_id \
                     WHERE f.removed_at IS NULL AND {cond}"
                ),
                key: "f.path",
                id: "f.id",
                grouped: false,
                array: false,
                params,
            }
        }
        Level::Series => {
            let s_in = series_in("s.id", &mut params);
            ItemSql {
                from_where: format!("FROM series s WHERE {s_in}"),
                key: "s.series_uid",
                id: "min(s.id)",
                grouped: true,
                array: scope.series.is_some(),
                params,
            }
        }
        Level::Study => {
            let s_in = series_in("s.id", &mut params);
            ItemSql {
                from_where: format!(
                    "FROM studies st WHERE EXISTS (SELECT 1 FROM series s WHERE s.study_ref = st.id AND {s_in})"
                ),
                key: "st.study_uid",
                id: "min(st.id)",
                grouped: true,
                array: scope.series.is_some(),
                params,
            }
        }
        Level::Patient => {
            let s_in = series_in("s.id", &mut params);
            ItemSql {
                from_where: format!(
                    "FROM patients p WHERE EXISTS (SELECT 1 FROM studies st JOIN series s ON s.study_ref = st.id \
                     WHERE st.patient_ref = p.id AND {s_in})"
                ),
                key: "p.patient_id",
                id: "min(p.id)",
                grouped: true,
                array: scope.series.is_some(),
                params,
            }
        }
        Level::Volume => {
            let (cond, cparams) = scope
                .file_cond
                .clone()
                .unwrap_or_else(|| ("1".into(), Vec::new()));
            if cond == "0" {
                return None;
            }
            let cond = shift_params(&cond, 0);
            params.extend(cparams);
            ItemSql {
                from_where: format!(
                    "FROM files f CROSS JOIN volumes v ON v.file_id = f.id WHERE f.removed_at IS NULL AND {cond}"
                ),
                key: "f.path",
                id: "f.id",
                grouped: false,
                array: false,
                params,
            }
        }
    };
    Some(out)
}

/// Binds an item query's parameters (the scope's series array first when it has one), then
/// `extra`.
fn bind_values(scope: &Scope, q: &ItemSql, extra: &[Value]) -> Vec<Box<dyn rusqlite::ToSql>> {
    let mut out: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
    for (i, p) in q.params.iter().enumerate() {
        match &scope.series {
            Some(arr) if i == 0 && q.array => out.push(Box::new(arr.clone())),
            _ => out.push(Box::new(p.clone())),
        }
    }
    for p in extra {
        out.push(Box::new(p.clone()));
    }
    out
}

/// Condition "the item (key expression) has a category in `set` (by `by`)", numbered from
/// `after + 1`; pushes its parameters. The unary `+` keeps the lookup on the item index
/// whatever the statistics say (a set or an annotator can have a million labels).
fn labelled_cond(
    key: &str,
    set: &str,
    by: LabelledBy<'_>,
    after: usize,
    extra: &mut Vec<Value>,
) -> String {
    extra.push(Value::Text(set.to_string()));
    let mut sql = format!(
        "EXISTS (SELECT 1 FROM labels l WHERE l.item = {key} AND +l.set_name = ?{} AND l.category IS NOT NULL",
        after + extra.len()
    );
    if let LabelledBy::Annotator(who) = by {
        extra.push(Value::Text(who.to_string()));
        sql.push_str(&format!(
            " AND l.final = 0 AND +l.annotator = ?{}",
            after + extra.len()
        ));
    }
    sql.push(')');
    sql
}

impl Catalogue {
    fn label_sql<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.sql(|c| {
            rusqlite::vtab::array::load_module(c)?;
            f(c)
        })
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction, retrying on `SQLITE_BUSY` (on top of the
    /// busy timeout) so concurrent writers never see "database is locked". `Ok(Err(msg))`
    /// from `f` rolls back and is returned as [`CatalogueError::Label`].
    fn write_tx<T>(
        &self,
        f: impl Fn(&Connection) -> rusqlite::Result<std::result::Result<T, String>>,
    ) -> Result<T> {
        let mut attempt = 0u32;
        loop {
            let r = self.sql(|c| {
                c.execute_batch("BEGIN IMMEDIATE")?;
                let r = f(c).and_then(|v| match v {
                    Ok(v) => c.execute_batch("COMMIT").map(|_| Ok(v)),
                    Err(m) => Ok(Err(m)),
                });
                if !c.is_autocommit() {
                    let _ = c.execute_batch("ROLLBACK");
                }
                r
            });
            match r {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(m)) => return Err(label_err(m)),
                Err(CatalogueError::Sqlite { source, .. }) if is_busy(&source) && attempt < 100 => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(
                        5 + 5 * attempt as u64 % 50,
                    ));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Stores a validated scheme (its TOML text and its sets). Refused when it would drop a
    /// set or category that labels still use, or change a used set's level.
    pub fn label_scheme_save(&self, scheme: &Scheme, who: &str) -> Result<()> {
        let text = scheme.to_toml();
        let now = super::write::now();
        self.write_tx(|c| {
            let mut problems = Vec::new();
            let mut stmt = c.prepare(
                "SELECT set_name, level, category, count(*) FROM labels GROUP BY set_name, level, category",
            )?;
            let used: Vec<(String, String, Option<String>, i64)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (set, level, cat, n) in used {
                match scheme.set(&set) {
                    None => problems.push(format!("set {set:?} is missing but {n} labels use it")),
                    Some(s) => {
                        if s.level.as_str() != level {
                            problems.push(format!(
                                "set {set:?}: level {} but {n} labels are at level {level}",
                                s.level
                            ));
                        }
                        for part in cat.iter().flat_map(|c| c.split(';')) {
                            if s.category(part).is_none() {
                                problems.push(format!(
                                    "set {set:?}: category {part:?} is missing but labels use it"
                                ));
                            }
                        }
                    }
                }
            }
            if !problems.is_empty() {
                problems.sort();
                problems.dedup();
                return Ok(Err(format!(
                    "the scheme does not fit the stored labels:\n  {}",
                    problems.join("\n  ")
                )));
            }
            c.execute("DELETE FROM label_categories", [])?;
            c.execute("DELETE FROM label_sets", [])?;
            for (i, s) in scheme.sets.iter().enumerate() {
                c.execute(
                    "INSERT INTO label_sets(name, position, level, multi, description) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![s.name, i as i64, s.level.as_str(), s.multi, s.description],
                )?;
                for (j, k) in s.categories.iter().enumerate() {
                    c.execute(
                        "INSERT INTO label_categories(set_name, name, position, hotkey, description)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![s.name, k.name, j as i64, k.key.to_string(), k.description],
                    )?;
                }
            }
            c.execute(
                "INSERT INTO label_scheme(id, toml, loaded, loaded_by) VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET toml = excluded.toml, loaded = excluded.loaded,
                    loaded_by = excluded.loaded_by",
                params![text, now, who],
            )?;
            Ok(Ok(()))
        })
    }

    /// The stored scheme, if one was loaded.
    pub fn label_scheme(&self) -> Result<Option<Scheme>> {
        let text: Option<String> = self.sql(|c| {
            c.query_row("SELECT toml FROM label_scheme WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
        })?;
        match text {
            None => Ok(None),
            Some(t) => Scheme::from_toml(&t)
                .map(Some)
                .map_err(|e| label_err(format!("the stored scheme: {e}"))),
        }
    }

    /// Writes one change (see [`LabelWrite`]); returns the state before it.
    pub fn label_write(&self, w: &LabelWrite<'_>) -> Result<LabelState> {
        let now = super::write::now();
        self.write_tx(|c| apply(c, w, now))
    }

    /// Writes many changes in one transaction: all or nothing (import).
    pub fn label_write_all(&self, writes: &[LabelWrite<'_>]) -> Result<usize> {
        let now = super::write::now();
        self.write_tx(|c| {
            let mut changed = 0;
            for w in writes {
                match apply(c, w, now)? {
                    Ok(old) if old != *w.state => changed += 1,
                    Ok(_) => {}
                    Err(m) => return Ok(Err(m)),
                }
            }
            Ok(Ok(changed))
        })
    }

    /// The current state of an item's label by `annotator` (or its final label).
    pub fn label_state(
        &self,
        set: &str,
        item: &ItemRef,
        annotator: &str,
        is_final: bool,
    ) -> Result<LabelState> {
        self.sql(|c| read_state(c, set, &item.key, annotator, is_final))
    }

    /// Every current label of an item (all sets, annotators and the final ones).
    pub fn item_labels(&self, item: &ItemRef) -> Result<Vec<LabelRow>> {
        self.sql(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT set_name, annotator, final, category, uncertain, note, at FROM labels
                 WHERE item = ?1 AND level = ?2 ORDER BY set_name, final, annotator",
            )?;
            let rows = stmt.query_map(params![item.key, item.level.as_str()], |r| {
                Ok(LabelRow {
                    item: item.clone(),
                    set: r.get(0)?,
                    annotator: r.get(1)?,
                    is_final: r.get(2)?,
                    state: LabelState {
                        category: r.get(3)?,
                        uncertain: r.get::<_, i64>(4)? != 0,
                        note: r.get(5)?,
                    },
                    at: r.get(6)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The audit trail of items (oldest first).
    pub fn label_history(&self, items: &[ItemRef]) -> Result<Vec<HistoryRow>> {
        let mut out = Vec::new();
        for item in items {
            let rows: Vec<HistoryRow> = self.sql(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT id, at, set_name, annotator, final, action, old_category, category, uncertain,
                            note, session
                     FROM label_history WHERE item = ?1 AND level = ?2 ORDER BY id",
                )?;
                let rows = stmt.query_map(params![item.key, item.level.as_str()], |r| {
                    Ok(HistoryRow {
                        id: r.get(0)?,
                        at: r.get(1)?,
                        item: item.clone(),
                        set: r.get(2)?,
                        annotator: r.get(3)?,
                        is_final: r.get(4)?,
                        action: r.get(5)?,
                        old_category: r.get(6)?,
                        state: LabelState {
                            category: r.get(7)?,
                            uncertain: r.get::<_, i64>(8)? != 0,
                            note: r.get(9)?,
                        },
                        session: r.get(10)?,
                    })
                })?;
                rows.collect()
            })?;
            out.extend(rows);
        }
        out.sort_by_key(|h| h.id);
        Ok(out)
    }

    /// The item of `level` that a path or UID names: a catalogued file's path (its own item at
    /// instance/volume level, its series/study/patient otherwise), a SOP Instance UID
    /// (instance), a Series/Study Instance UID, or a Patient ID. `Err` when ambiguous.
    pub fn resolve_item(&self, level: Level, text: &str) -> Result<Option<ItemRef>> {
        let item = |key: String| ItemRef { level, key };
        self.sql(|c| {
            let by_path: Option<FileItems> = c
                .prepare_cached(
                    "SELECT f.path, i.series_uid, i.study_uid, p.patient_id,
                            EXISTS (SELECT 1 FROM volumes v WHERE v.file_id = f.id)
                     FROM files f LEFT JOIN instances i ON i.file_id = f.id
                     LEFT JOIN series s ON s.id = i.series_ref LEFT JOIN studies st ON st.id = s.study_ref
                     LEFT JOIN patients p ON p.id = st.patient_ref
                     WHERE f.path = ?1 AND f.removed_at IS NULL",
                )?
                .query_row([text], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()?;
            if let Some((path, series, study, patient, volume)) = by_path {
                let dicom = series.is_some();
                return Ok(Ok(match level {
                    Level::Instance if dicom => Some(item(path)),
                    Level::Volume if volume => Some(item(path)),
                    Level::Series => series.map(item),
                    Level::Study => study.map(item),
                    Level::Patient => patient.map(item),
                    _ => None,
                }));
            }
            let one = |sql: &str| -> rusqlite::Result<Vec<String>> {
                let mut stmt = c.prepare_cached(sql)?;
                let rows = stmt.query_map([text], |r| r.get(0))?;
                rows.collect()
            };
            let found = match level {
                Level::Instance => one(
                    "SELECT f.path FROM instances i JOIN files f ON f.id = i.file_id
                     WHERE i.sop_instance_uid = ?1 AND f.removed_at IS NULL ORDER BY f.path LIMIT 2",
                )?,
                Level::Series => one("SELECT series_uid FROM series WHERE series_uid = ?1 LIMIT 1")?,
                Level::Study => one("SELECT study_uid FROM studies WHERE study_uid = ?1 LIMIT 1")?,
                Level::Patient => {
                    one("SELECT patient_id FROM patients WHERE patient_id = ?1 LIMIT 1")?
                }
                Level::Volume => Vec::new(),
            };
            Ok(match found.len() {
                0 => Ok(None),
                1 => Ok(found.into_iter().next().map(item)),
                _ => Err(format!(
                    "SOP Instance UID {text} is in several files; name the file by its path"
                )),
            })
        })
        .and_then(|r| r.map_err(label_err))
    }

    /// Every item a path or UID can name, at every level (for `labels history`).
    pub fn resolve_all(&self, text: &str) -> Result<Vec<ItemRef>> {
        let mut out = Vec::new();
        for level in Level::ALL {
            if let Some(i) = self.resolve_item(level, text)? {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
        // Items only the labels know (a file removed since, a UID no longer catalogued).
        let known: Vec<(String, String)> = self.sql(|c| {
            let mut stmt =
                c.prepare_cached("SELECT DISTINCT level, item FROM label_history WHERE item = ?1")?;
            let rows = stmt.query_map([text], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })?;
        for (level, key) in known {
            if let Some(level) = Level::parse(&level) {
                let i = ItemRef { level, key };
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
        Ok(out)
    }

    /// A page of a level's items within the scope, in key order (path for files, UID or
    /// patient ID otherwise), after `after` (exclusive) or from the start.
    pub fn label_items(
        &self,
        level: Level,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LabelItem>> {
        self.label_items_where(level, scope, after, limit, None, Walk::After)
    }

    /// A page starting at `key` (inclusive), for jumping to an item: the page's first item is
    /// `key` when it is in the scope, else the next one.
    pub fn label_items_from(
        &self,
        level: Level,
        scope: &Scope,
        key: &str,
        limit: usize,
    ) -> Result<Vec<LabelItem>> {
        self.label_items_where(level, scope, Some(key), limit, None, Walk::From)
    }

    /// The page before `before` (exclusive), in key order: "go back" and paging up.
    pub fn label_items_before(
        &self,
        level: Level,
        scope: &Scope,
        before: &str,
        limit: usize,
    ) -> Result<Vec<LabelItem>> {
        let mut v =
            self.label_items_where(level, scope, Some(before), limit, None, Walk::Before)?;
        v.reverse();
        Ok(v)
    }

    /// The first item after `after` (exclusive; `None`: from the start) in key order that is
    /// not labelled in `set` (by `by`), within the scope. Walks the key index from `after`.
    pub fn next_unlabelled(
        &self,
        set: &str,
        level: Level,
        scope: &Scope,
        after: Option<&str>,
        by: LabelledBy<'_>,
    ) -> Result<Option<LabelItem>> {
        Ok(self
            .label_items_where(level, scope, after, 1, Some((set, by)), Walk::After)?
            .into_iter()
            .next())
    }

    fn label_items_where(
        &self,
        level: Level,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
        unlabelled: Option<(&str, LabelledBy<'_>)>,
        walk: Walk,
    ) -> Result<Vec<LabelItem>> {
        let backwards = walk == Walk::Before;
        let Some(q) = item_sql(level, scope) else {
            return Ok(Vec::new());
        };
        let n = q.params.len();
        let mut extra = Vec::new();
        let mut conds = Vec::new();
        if let Some(a) = after {
            extra.push(Value::Text(a.to_string()));
            conds.push(format!(
                "{} {} ?{}",
                q.key,
                match walk {
                    Walk::After => ">",
                    Walk::Before => "<",
                    Walk::From => ">=",
                },
                n + extra.len()
            ));
        }
        if let Some((set, by)) = unlabelled {
            let c = labelled_cond(q.key, set, by, n, &mut extra);
            conds.push(format!("NOT {c}"));
        }
        let more = if conds.is_empty() {
            String::new()
        } else {
            format!(" AND {}", conds.join(" AND "))
        };
        let dir = if backwards { "DESC" } else { "" };
        let group = if q.grouped {
            format!(" GROUP BY {}", q.key)
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT {}, {} {}{more}{group} ORDER BY {} {dir} LIMIT {limit}",
            q.key, q.id, q.from_where, q.key
        );
        let args = bind_values(scope, &q, &extra);
        self.label_sql(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
                Ok(LabelItem {
                    item: ItemRef {
                        level,
                        key: r.get(0)?,
                    },
                    id: r.get(1)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Labelled / total items of a level within the scope. Unfiltered, this is two index
    /// counts; with an instance-level filter it visits every matching instance (run it off
    /// the UI thread on large catalogues).
    pub fn label_progress(
        &self,
        set: &str,
        level: Level,
        scope: &Scope,
        by: LabelledBy<'_>,
    ) -> Result<Progress> {
        if scope.filter.is_empty() && scope.dicom {
            return self.label_progress_all(set, level, by);
        }
        let Some(q) = item_sql(level, scope) else {
            return Ok(Progress::default());
        };
        let n = q.params.len();
        let mut extra = Vec::new();
        let cond = labelled_cond(q.key, set, by, n, &mut extra);
        let sql = if q.grouped {
            format!(
                "SELECT count(*), coalesce(sum(lab), 0) FROM (SELECT {cond} AS lab {} GROUP BY {})",
                q.from_where, q.key
            )
        } else {
            format!("SELECT count(*), coalesce(sum({cond}), 0) {}", q.from_where)
        };
        let args = bind_values(scope, &q, &extra);
        let (total, labelled): (i64, i64) = self.label_sql(|c| {
            c.prepare_cached(&sql)?
                .query_row(params_from_iter(args.iter()), |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
        })?;
        Ok(Progress {
            labelled: labelled as usize,
            total: total as usize,
        })
    }

    /// [`Catalogue::label_progress`] without a filter: the total from the hierarchy's counts,
    /// the labelled items from the labels' index (those whose item is still catalogued).
    fn label_progress_all(&self, set: &str, level: Level, by: LabelledBy<'_>) -> Result<Progress> {
        let (total_sql, exists) = match level {
            Level::Instance => (
                "SELECT coalesce(sum(n_instances), 0) FROM series",
                "SELECT 1 FROM files f JOIN instances i ON i.file_id = f.id
                 WHERE f.path = l.item AND f.removed_at IS NULL",
            ),
            Level::Series => (
                "SELECT count(DISTINCT series_uid) FROM series",
                "SELECT 1 FROM series s WHERE s.series_uid = l.item",
            ),
            Level::Study => (
                "SELECT count(DISTINCT study_uid) FROM studies",
                "SELECT 1 FROM studies st WHERE st.study_uid = l.item",
            ),
            Level::Patient => (
                "SELECT count(DISTINCT patient_id) FROM patients",
                "SELECT 1 FROM patients p WHERE p.patient_id = l.item",
            ),
            Level::Volume => (
                "SELECT count(*) FROM volumes v CROSS JOIN files f ON f.id = v.file_id
                 WHERE f.removed_at IS NULL",
                "SELECT 1 FROM files f JOIN volumes v ON v.file_id = f.id
                 WHERE f.path = l.item AND f.removed_at IS NULL",
            ),
        };
        let who = match by {
            LabelledBy::Annotator(a) => Some(a),
            LabelledBy::Anyone => None,
        };
        let labelled_sql = format!(
            "SELECT count(DISTINCT l.item) FROM labels l
             WHERE l.set_name = ?1 AND l.level = ?2 AND l.category IS NOT NULL
               AND (?3 IS NULL OR (l.annotator = ?3 AND l.final = 0)) AND EXISTS ({exists})"
        );
        self.sql(|c| {
            let total: i64 = c.prepare_cached(total_sql)?.query_row([], |r| r.get(0))?;
            let labelled: i64 = c
                .prepare_cached(&labelled_sql)?
                .query_row(params![set, level.as_str(), who], |r| r.get(0))?;
            Ok(Progress {
                labelled: labelled as usize,
                total: total as usize,
            })
        })
    }

    /// Counts per set, category and annotator (`(final)` for final labels).
    pub fn label_counts(&self, set: Option<&str>) -> Result<Vec<LabelCount>> {
        self.sql(|c| {
            let mut stmt = c.prepare(
                "SELECT set_name, coalesce(category, ''),
                        CASE WHEN final = 1 THEN '(final)' ELSE annotator END, count(*)
                 FROM labels WHERE (?1 IS NULL OR set_name = ?1)
                 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            )?;
            let rows = stmt.query_map([set], |r| {
                Ok(LabelCount {
                    set: r.get(0)?,
                    category: r.get(1)?,
                    annotator: r.get(2)?,
                    count: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// `(item, annotator, category)` of every annotator label with a category in `set` (the
    /// input of [`crate::labels::agreement::agreement`]).
    pub fn label_ratings(&self, set: &str) -> Result<Vec<(String, String, String)>> {
        self.sql(|c| {
            let mut stmt = c.prepare(
                "SELECT item, annotator, category FROM labels
                 WHERE set_name = ?1 AND final = 0 AND category IS NOT NULL ORDER BY item, annotator",
            )?;
            let rows = stmt.query_map([set], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
    }

    /// Items of `set` whose annotators chose different categories (the adjudication list),
    /// in key order; `unresolved_only` leaves out those with a final label.
    pub fn label_disagreements(
        &self,
        set: &str,
        unresolved_only: bool,
    ) -> Result<Vec<Disagreement>> {
        self.sql(|c| {
            let mut stmt = c.prepare(
                "SELECT l.item, l.level, l.annotator, l.category, l.final FROM labels l
                 WHERE l.set_name = ?1 AND l.category IS NOT NULL AND l.item IN (
                    SELECT item FROM labels WHERE set_name = ?1 AND final = 0 AND category IS NOT NULL
                    GROUP BY item HAVING count(DISTINCT category) > 1)
                 ORDER BY l.item, l.final, l.annotator",
            )?;
            let mut rows = stmt.query([set])?;
            let mut out: Vec<Disagreement> = Vec::new();
            while let Some(r) = rows.next()? {
                let key: String = r.get(0)?;
                let level: String = r.get(1)?;
                let who: String = r.get(2)?;
                let cat: String = r.get(3)?;
                let is_final: bool = r.get(4)?;
                if out.last().is_none_or(|d| d.item.key != key) {
                    out.push(Disagreement {
                        item: ItemRef {
                            level: Level::parse(&level).unwrap_or(Level::Instance),
                            key,
                        },
                        labels: Vec::new(),
                        final_label: None,
                    });
                }
                if let Some(d) = out.last_mut() {
                    if is_final {
                        d.final_label = Some((who, cat));
                    } else {
                        d.labels.push((who, cat));
                    }
                }
            }
            if unresolved_only {
                out.retain(|d| d.final_label.is_none());
            }
            Ok(out)
        })
    }

    /// Labels to export with each item's path and UIDs, in (set, item, final, annotator)
    /// order. `final_only`: only adjudicated final labels. Collects them all; see
    /// [`Catalogue::label_export_each`] to stream.
    pub fn label_export(
        &self,
        set: Option<&str>,
        annotator: Option<&str>,
        final_only: bool,
    ) -> Result<Vec<ExportRow>> {
        let mut out = Vec::new();
        self.label_export_each(set, annotator, final_only, |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    /// [`Catalogue::label_export`] one row at a time (constant memory on any number of
    /// labels); stops at the first error of `f` and returns it as [`CatalogueError::Io`].
    /// Returns the number of rows.
    pub fn label_export_each(
        &self,
        set: Option<&str>,
        annotator: Option<&str>,
        final_only: bool,
        mut f: impl FnMut(ExportRow) -> std::io::Result<()>,
    ) -> Result<usize> {
        let mut failed: Option<std::io::Error> = None;
        let n = self.sql(|c| {
            let mut stmt = c.prepare(
                "SELECT item, level, set_name, annotator, final, category, uncertain, note, at FROM labels
                 WHERE (?1 IS NULL OR set_name = ?1) AND (?2 IS NULL OR annotator = ?2)
                   AND (?3 = 0 OR final = 1)
                 ORDER BY set_name, item, final, annotator",
            )?;
            let mut rows = stmt.query(params![set, annotator, final_only])?;
            let mut n = 0;
            while let Some(r) = rows.next()? {
                let level: String = r.get(1)?;
                let label = LabelRow {
                    item: ItemRef {
                        level: Level::parse(&level).unwrap_or(Level::Instance),
                        key: r.get(0)?,
                    },
                    set: r.get(2)?,
                    annotator: r.get(3)?,
                    is_final: r.get(4)?,
                    state: LabelState {
                        category: r.get(5)?,
                        uncertain: r.get::<_, i64>(6)? != 0,
                        note: r.get(7)?,
                    },
                    at: r.get(8)?,
                };
                let (path, sop, series, study, patient) = identity(c, &label.item)?;
                let row = ExportRow {
                    label,
                    path,
                    sop_instance_uid: sop,
                    series_uid: series,
                    study_uid: study,
                    patient_id: patient,
                };
                if let Err(e) = f(row) {
                    failed = Some(e);
                    break;
                }
                n += 1;
            }
            Ok(n)
        })?;
        match failed {
            Some(source) => Err(CatalogueError::Io {
                path: self.path.clone(),
                source,
            }),
            None => Ok(n),
        }
    }

    /// The catalogued files of an item (one for instances and volumes), in path order.
    pub fn item_files(&self, item: &ItemRef) -> Result<Vec<String>> {
        let sql = match item.level {
            Level::Instance => "SELECT path FROM files WHERE path = ?1 AND removed_at IS NULL",
            // An Analyze header and its .img (a NIfTI pair's .img too).
            Level::Volume => {
                "SELECT f.path FROM files f WHERE f.path = ?1 AND f.removed_at IS NULL
                 UNION SELECT v.data_path FROM files f JOIN volumes v ON v.file_id = f.id
                 WHERE f.path = ?1 AND f.removed_at IS NULL AND v.data_path <> f.path"
            }
            Level::Series => {
                "SELECT f.path FROM instances i JOIN files f ON f.id = i.file_id
                 WHERE i.series_uid = ?1 AND f.removed_at IS NULL ORDER BY f.path"
            }
            Level::Study => {
                "SELECT f.path FROM instances i JOIN files f ON f.id = i.file_id
                 WHERE i.study_uid = ?1 AND f.removed_at IS NULL ORDER BY f.path"
            }
            Level::Patient => {
                "SELECT f.path FROM patients p JOIN studies st ON st.patient_ref = p.id
                 JOIN series s ON s.study_ref = st.id JOIN instances i ON i.series_ref = s.id
                 JOIN files f ON f.id = i.file_id WHERE p.patient_id = ?1 AND f.removed_at IS NULL
                 ORDER BY f.path"
            }
        };
        self.sql(|c| {
            let mut stmt = c.prepare_cached(sql)?;
            let rows = stmt.query_map([&item.key], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Labels `annotator` assigned since `since` (history rows that set a category), for the
    /// rate shown across sessions.
    pub fn label_assignments_since(&self, annotator: &str, since: f64) -> Result<i64> {
        self.sql(|c| {
            c.query_row(
                "SELECT count(*) FROM label_history WHERE annotator = ?1 AND at >= ?2
                 AND category IS NOT NULL AND final = 0",
                params![annotator, since],
                |r| r.get(0),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{common_dir, ItemRef, Level};

    #[test]
    fn patient_ids_are_not_shown() {
        let p = ItemRef {
            level: Level::Patient,
            key: "PAT-0042".into(),
        };
        assert!(!p.shown().contains("0042"));
        let s = ItemRef {
            level: Level::Series,
            key: "1.2.3".into(),
        };
        assert_eq!(s.shown(), "1.2.3");
    }

    #[test]
    fn common_dirs() {
        assert_eq!(common_dir("/a/b/c/1.dcm", "/a/b/c/2.dcm"), "/a/b/c");
        assert_eq!(common_dir("/a/b/x/1.dcm", "/a/b/y/2.dcm"), "/a/b");
        assert_eq!(common_dir("/a/b/1.dcm", "/a/b/1.dcm"), "/a/b");
        assert_eq!(common_dir("/a/bc/1", "/a/bd/1"), "/a");
    }
}
