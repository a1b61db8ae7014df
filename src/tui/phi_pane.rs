//! The PHI screen: what identifies a patient in the dataset, file by file, and the
//! curator's de-identification plan built from it.
//!
//! Two levels on the left: the dataset summary (one row per attribute, private creator or
//! risk, with its action and how many files and distinct values it has), then the files of
//! one row. Values are masked (`D*** J***`); `r` reveals the selected row's value only, and
//! each reveal is written to the audit table first. Free-text leaks show the text around
//! the patient's name or ID with the leaking words highlighted (masked until revealed).

use super::app::{App, Mode};
use crate::catalogue::Catalogue;
use crate::catalogue::{PhiFileRow, PhiSummaryRow};
use crate::phi::{self, detect, plan::Plan, plan::PlanAction, plan::PlanRule};
use crossterm::event::{KeyCode, KeyEvent};
use serde_json::Value as Json;

/// At most this many files are listed under one summary row (the count says how many
/// there are in all).
pub const ROW_LIMIT: usize = 5000;

/// One finding of one file, ready to draw: the value as text pieces, masked unless
/// revealed, each flagged when it is a leak of the patient's name or ID.
#[derive(Debug, Clone, PartialEq)]
pub struct PhiItem {
    pub row: PhiFileRow,
    pub pieces: Vec<(String, bool)>,
    /// The file's path, with the patient's name or ID in it masked (paths leak too).
    pub path: Vec<(String, bool)>,
}

/// A revealed row: its index, its value and its path in clear (leaks still flagged).
pub type Reveal = (usize, Vec<(String, bool)>, Vec<(String, bool)>);

/// The selected summary row's identity, to drop stale results.
pub type RowKey = (String, u32, String);

/// The PHI screen's state.
#[derive(Debug, Default)]
pub struct PhiView {
    pub summary: Vec<PhiSummaryRow>,
    pub cursor: usize,
    pub scroll: usize,
    /// The summary row whose files are listed (`None`: the summary).
    pub open: Option<RowKey>,
    pub rows: Vec<PhiItem>,
    pub row_cursor: usize,
    pub row_scroll: usize,
    /// All findings of the file under the cursor (the per-file view on the right).
    pub file: Vec<PhiItem>,
    pub file_id: Option<i64>,
    /// The revealed value and path of the selected file row: (row index, value, path).
    pub revealed: Option<Reveal>,
    pub plan: Plan,
    pub loading: bool,
    /// Whether detection has been brought up to date in this session.
    pub refreshed: bool,
}

impl PhiView {
    pub fn selected_summary(&self) -> Option<&PhiSummaryRow> {
        self.summary.get(self.cursor)
    }

    /// The summary row the screen is about: the open one (files level), else the selected.
    pub fn current(&self) -> Option<&PhiSummaryRow> {
        match &self.open {
            Some((reason, tag, keyword)) => self
                .summary
                .iter()
                .find(|r| &r.reason == reason && r.tag == *tag && &r.keyword == keyword),
            None => self.selected_summary(),
        }
    }
}

/// The plan target a summary row stands for (`None` for risks the plan cannot change).
pub fn plan_target(r: &PhiSummaryRow) -> Option<String> {
    match r.reason.as_str() {
        "attribute" | "text_leak" if r.tag != 0 => Some(crate::formats::dicom::tag_string(r.tag)),
        "private" => Some(format!(
            "private:{}",
            r.creator.as_deref().unwrap_or("").trim()
        )),
        "volume_text" => Some(r.keyword.clone()),
        _ => None,
    }
}

/// What the plan decides for a summary row, if it decides anything.
pub fn plan_rule<'a>(plan: &'a Plan, r: &PhiSummaryRow) -> Option<&'a PlanRule> {
    match r.reason.as_str() {
        "private" => plan.for_creator(r.creator.as_deref().unwrap_or("")),
        "volume_text" => plan.for_field(&r.keyword),
        _ if r.tag != 0 => plan.for_tag(r.tag),
        _ => None,
    }
}

/// A Basic Profile action letter in words.
pub fn action_words(action: &str) -> &'static str {
    match action {
        "D" => "replace with a dummy value",
        "Z" => "empty (zero length)",
        "X" => "remove",
        "K" => "keep",
        "C" => "clean (keep meaning, remove identity)",
        "U" => "replace UID consistently",
        "-" => "look at it (not an attribute)",
        _ => "per profile",
    }
}

fn show(s: &str, reveal: bool) -> String {
    if reveal {
        s.to_string()
    } else {
        phi::mask(s)
    }
}

/// `text` with the patient's name or ID in it masked (unless `reveal`) and flagged.
pub fn leak_pieces(text: &str, header: Option<&Json>, reveal: bool) -> Vec<(String, bool)> {
    let needles = header.map(detect::leak_needles).unwrap_or_default();
    detect::leak_segments(text, &needles)
        .into_iter()
        .map(|(s, leak)| {
            if leak {
                (show(&s, reveal), true)
            } else {
                (s, false)
            }
        })
        .collect()
}

/// The text pieces of one finding's value: masked unless `reveal`; leaks flagged.
pub fn pieces(row: &PhiFileRow, header: Option<&Json>, reveal: bool) -> Vec<(String, bool)> {
    match row.reason.as_str() {
        "path_leak" => leak_pieces(&row.path, header, reveal),
        "text_leak" => {
            let text = header
                .and_then(|h| detect::value_at(h, row.tag, row.sequence_path.as_deref()))
                .unwrap_or_default();
            leak_pieces(&text, header, reveal)
        }
        "attribute" => {
            let v = header
                .and_then(|h| detect::value_at(h, row.tag, row.sequence_path.as_deref()))
                .unwrap_or_default();
            vec![(show(&v, reveal), false)]
        }
        _ => vec![(row.detail.clone(), false)],
    }
}

/// Turns catalogue rows into drawable items (masked), reading each file's stored header
/// once. Runs on the worker.
pub fn items(cat: &Catalogue, rows: Vec<PhiFileRow>) -> Result<Vec<PhiItem>, String> {
    let mut ids: Vec<i64> = rows.iter().map(|r| r.file_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let headers = cat.headers_json(&ids).map_err(|e| e.to_string())?;
    let parsed: std::collections::HashMap<i64, Json> = headers
        .into_iter()
        .filter_map(|(id, j)| serde_json::from_str(&j).ok().map(|v| (id, v)))
        .collect();
    Ok(rows
        .into_iter()
        .map(|row| {
            let header = parsed.get(&row.file_id);
            PhiItem {
                pieces: pieces(&row, header, false),
                path: leak_pieces(&row.path, header, false),
                row,
            }
        })
        .collect())
}

impl App {
    /// Opens the PHI screen: brings detection up to date (once per session, unless
    /// read-only) and loads the summary on the worker.
    pub fn load_phi(&mut self) {
        self.phi.loading = true;
        let refresh = !self.read_only && !self.phi.refreshed;
        self.phi.refreshed = true;
        self.jobs.send(super::jobs::Job::PhiSummary { refresh });
        match &self.phi.open {
            Some((reason, tag, keyword)) => self.jobs.send(super::jobs::Job::PhiRows {
                reason: reason.clone(),
                tag: *tag,
                keyword: keyword.clone(),
            }),
            None => self.phi_select_changed(),
        }
    }

    /// Loads the per-file view for the file under the cursor (files level only).
    pub(super) fn phi_select_changed(&mut self) {
        self.phi.revealed = None;
        let file = if self.phi.open.is_some() {
            self.phi
                .rows
                .get(self.phi.row_cursor)
                .map(|i| i.row.file_id)
        } else {
            None
        };
        if file != self.phi.file_id {
            self.phi.file_id = file;
            self.phi.file.clear();
            if let Some(id) = file {
                self.jobs.send(super::jobs::Job::PhiFile(id));
            }
        }
    }

    pub fn phi_key(&mut self, ev: &KeyEvent) {
        let in_rows = self.phi.open.is_some();
        let n = if in_rows {
            self.phi.rows.len()
        } else {
            self.phi.summary.len()
        };
        let page = self.page_rows.max(1) as isize;
        if let Some(delta) = super::app::movement(ev, n, page) {
            if n > 0 {
                let cur = if in_rows {
                    &mut self.phi.row_cursor
                } else {
                    &mut self.phi.cursor
                };
                *cur = (*cur as isize + delta).clamp(0, n as isize - 1) as usize;
                self.phi_select_changed();
            }
            return;
        }
        let k = self.keys.clone();
        match ev.code {
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') if !in_rows => {
                if let Some(r) = self.phi.selected_summary() {
                    self.phi.open = Some((r.reason.clone(), r.tag, r.keyword.clone()));
                    self.phi.rows.clear();
                    self.phi.row_cursor = 0;
                    self.phi.row_scroll = 0;
                    self.load_phi();
                }
            }
            KeyCode::Left | KeyCode::Char('h') | KeyCode::Backspace if in_rows => {
                self.phi.open = None;
                self.phi.rows.clear();
                self.phi_select_changed();
            }
            _ if k.is(ev, "reveal") => self.phi_reveal(),
            _ if k.is(ev, "plan_keep") => self.plan_decide(PlanAction::Keep, None),
            _ if k.is(ev, "plan_remove") => self.plan_decide(PlanAction::Remove, None),
            _ if k.is(ev, "plan_empty") => self.plan_decide(PlanAction::Empty, None),
            _ if k.is(ev, "plan_shift") => self.plan_decide(PlanAction::ShiftDate, None),
            _ if k.is(ev, "plan_replace") && self.phi_target().is_some() => {
                self.mode = Mode::PlanValue;
                self.input.clear();
            }
            _ if k.is(ev, "plan_clear") => self.plan_clear(),
            _ => {}
        }
    }

    fn phi_target(&mut self) -> Option<String> {
        let target = self.phi.current().and_then(plan_target);
        if target.is_none() {
            self.error("the plan decides attributes, private creators and NIfTI fields; this row is a risk to look at");
        }
        target
    }

    /// Reveals the selected file row's value, after recording the reveal in the audit table.
    fn phi_reveal(&mut self) {
        if self.phi.open.is_none() {
            self.error("open an attribute (Enter) and reveal one file's value");
            return;
        }
        let i = self.phi.row_cursor;
        if self.phi.revealed.as_ref().is_some_and(|(r, ..)| *r == i) {
            self.phi.revealed = None;
            return;
        }
        let Some(item) = self.phi.rows.get(i) else {
            return;
        };
        if self.read_only {
            self.error(
                "read-only: reveals are recorded in the audit table, which needs write access",
            );
            return;
        }
        let row = item.row.clone();
        let result = Catalogue::open(&self.db_path).and_then(|cat| {
            cat.phi_record_reveal(
                &phi::who(),
                row.file_id,
                row.tag,
                &row.keyword,
                row.sequence_path.as_deref(),
            )?;
            cat.header_json(row.file_id)
        });
        match result {
            Ok(json) => {
                let header = json.and_then(|j| serde_json::from_str::<Json>(&j).ok());
                self.phi.revealed = Some((
                    i,
                    pieces(&row, header.as_ref(), true),
                    leak_pieces(&row.path, header.as_ref(), true),
                ));
                self.message(format!(
                    "revealed {} of one file (recorded in the audit table)",
                    row.keyword
                ));
            }
            Err(e) => self.error(format!("reveal: {e}")),
        }
    }

    fn plan_write(&mut self, change: impl FnOnce(&mut Plan) -> Result<String, String>) {
        if self.read_only {
            self.error("read-only: the plan is stored in the catalogue");
            return;
        }
        let mut plan = self.phi.plan.clone();
        let msg = match change(&mut plan) {
            Ok(m) => m,
            Err(e) => {
                self.error(e);
                return;
            }
        };
        match Catalogue::open(&self.db_path).and_then(|mut cat| cat.plan_save(&plan)) {
            Ok(()) => {
                self.phi.plan = plan;
                self.message(msg);
            }
            Err(e) => self.error(format!("plan: {e}")),
        }
    }

    /// Sets the plan's decision for the selected row.
    pub fn plan_decide(&mut self, action: PlanAction, value: Option<String>) {
        let Some(target) = self.phi_target() else {
            return;
        };
        self.plan_write(|plan| {
            plan.set(PlanRule {
                target: target.clone(),
                action,
                value: value.clone(),
            })
            .map_err(|e| e.to_string())?;
            Ok(match value {
                Some(v) if !v.is_empty() => format!("plan: {target} → {} {v:?}", action.as_str()),
                _ => format!("plan: {target} → {}", action.as_str()),
            })
        });
    }

    fn plan_clear(&mut self) {
        let Some(target) = self.phi_target() else {
            return;
        };
        self.plan_write(|plan| {
            if plan.remove(&target) {
                Ok(format!("plan: {target} follows the profile again"))
            } else {
                Err(format!("the plan has no decision for {target}"))
            }
        });
    }

    /// `:plan save FILE`, `:plan load FILE`, `:plan clear`, `:plan safe xx10 xx23` (the
    /// selected private creator's safe elements, kept with retain-safe-private).
    pub fn plan_command(&mut self, args: &[&str]) {
        match args {
            ["save", path] => match std::fs::write(path, self.phi.plan.to_toml()) {
                Ok(()) => self.message(format!("plan saved to {path}")),
                Err(e) => self.error(format!("plan: {path}: {e}")),
            },
            ["load", path] => {
                let loaded = std::fs::read_to_string(path)
                    .map_err(|e| format!("plan: {path}: {e}"))
                    .and_then(|t| Plan::from_toml(&t).map_err(|e| e.to_string()));
                match loaded {
                    Ok(p) => self.plan_write(|plan| {
                        *plan = p;
                        Ok(format!("plan loaded from {path}"))
                    }),
                    Err(e) => self.error(e),
                }
            }
            ["safe", elements @ ..] if !elements.is_empty() => {
                self.plan_decide(PlanAction::Safe, Some(elements.join(" ")))
            }
            ["clear"] => self.plan_write(|plan| {
                *plan = Plan::new();
                Ok("plan cleared: the profile decides".into())
            }),
            _ => self.error(
                "usage: plan save FILE | plan load FILE | plan clear | plan safe xx10 xx23 (private creator rows)",
            ),
        }
    }
}
