//! Labelling mode: one item at a time, large preview, key facts (masked like the PHI pane),
//! the label bar with the scheme's hotkeys. One keypress labels the item and moves on (to the
//! next unlabelled item of the filter, or the next item); skip, go back, uncertain, note,
//! undo/redo, jump to an item, the item's history, and adjudication of disagreements.
//!
//! The work is the library's ([`crate::labels`], [`crate::catalogue::labels`]): this module
//! keeps the list window and the keys.

use super::app::{App, Mode, Screen};
use super::preview_pane::SourceKey;
use crate::catalogue::labels::{HistoryRow, ItemRef, LabelItem, LabelRow, LabelledBy, Progress};
use crate::catalogue::Catalogue;
use crate::labels::scheme::{Level, Scheme, RESERVED_KEYS};
use crate::labels::session::Session;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::path::PathBuf;
use std::time::Instant;

/// Items fetched per page of the list.
const PAGE: usize = 200;

/// What the next label does after it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    NextUnlabelled,
    NextItem,
}

/// The labelling screen's state.
pub struct LabelView {
    pub scheme: Option<Scheme>,
    /// The label set whose level gives the items (Tab cycles).
    pub set: usize,
    /// A window of the item list (in key order), and the cursor in it.
    pub items: Vec<LabelItem>,
    pub cursor: usize,
    /// Labels of the current item, every annotator's and the final one.
    pub labels: Vec<LabelRow>,
    pub facts: Vec<(String, String)>,
    pub progress: Progress,
    pub session: Session,
    pub advance: Advance,
    /// The history of the current item, while shown.
    pub history: Option<Vec<HistoryRow>>,
    /// Adjudication: the list holds the items annotators disagree on, and hotkeys set the
    /// final label.
    pub adjudicate: bool,
    /// A writable connection (labels are written; the browser's is read-only).
    wcat: Option<Catalogue>,
    pub progress_at: Option<Instant>,
    /// When the last label keypress was handled (for the latency shown in the bar).
    pub last_label: Option<Instant>,
    pub message: String,
}

impl LabelView {
    pub fn new(annotator: &str) -> LabelView {
        LabelView {
            scheme: None,
            set: 0,
            items: Vec::new(),
            cursor: 0,
            labels: Vec::new(),
            facts: Vec::new(),
            progress: Progress::default(),
            session: Session::new(annotator),
            advance: Advance::NextUnlabelled,
            history: None,
            adjudicate: false,
            wcat: None,
            progress_at: None,
            last_label: None,
            message: String::new(),
        }
    }

    pub fn current(&self) -> Option<&LabelItem> {
        self.items.get(self.cursor)
    }

    pub fn set_name(&self) -> Option<&str> {
        self.scheme
            .as_ref()
            .and_then(|s| s.sets.get(self.set))
            .map(|s| s.name.as_str())
    }

    pub fn level(&self) -> Option<Level> {
        self.scheme
            .as_ref()
            .and_then(|s| s.sets.get(self.set))
            .map(|s| s.level)
    }
}

/// The masked facts shown beside the picture.
fn facts_of(cat: &Catalogue, item: &LabelItem) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let file = match item.item.level {
        Level::Instance | Level::Volume => Some(item.id),
        Level::Series => cat
            .series_files(item.id)
            .ok()
            .and_then(|f| f.first().copied()),
        _ => cat
            .item_files(&item.item)
            .ok()
            .and_then(|f| f.into_iter().next())
            .and_then(|p| cat.file_id_of(&p).ok().flatten()),
    };
    out.push((
        "item".into(),
        format!("{} {}", item.item.level, short(&item.item)),
    ));
    let Some(file) = file else {
        return out;
    };
    let header = cat
        .header_json(file)
        .ok()
        .flatten()
        .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok());
    if let Some(h) = header.as_ref().and_then(|h| h.as_object()) {
        let get = |tag: u32| crate::phi::detect::top_text(h, tag).unwrap_or_default();
        out.push((
            "patient".into(),
            format!(
                "{}  {}",
                crate::phi::mask(&get(0x0010_0020)),
                crate::phi::mask(&get(0x0010_0010))
            ),
        ));
        out.push((
            "study".into(),
            format!("{}  {}", get(0x0008_0020), get(0x0008_1030)),
        ));
        out.push((
            "series".into(),
            format!("{}  {}", get(0x0008_0060), get(0x0008_103E)),
        ));
        let (cols, rows) = (get(0x0028_0011), get(0x0028_0010));
        if !cols.is_empty() {
            out.push((
                "image".into(),
                format!("{cols}×{rows}  {}", get(0x0018_0015)),
            ));
        }
    }
    let filter = crate::catalogue::findings::FindingFilter {
        file_id: matches!(item.item.level, Level::Instance | Level::Volume).then_some(item.id),
        series_uid: (item.item.level == Level::Series).then(|| item.item.key.clone()),
        study_uid: (item.item.level == Level::Study).then(|| item.item.key.clone()),
        include_acknowledged: false,
        ..Default::default()
    };
    if item.item.level != Level::Patient {
        if let Ok(f) = cat.findings_page(&filter, None, 1000) {
            let errors = f.iter().filter(|r| r.severity == "error").count();
            out.push((
                "findings".into(),
                format!(
                    "{}{} ({errors} errors)",
                    f.len(),
                    if f.len() >= 1000 { "+" } else { "" }
                ),
            ));
        }
    }
    out
}

/// An item's key for display: the file name, or the UID/ID masked when it is a patient ID.
fn short(i: &ItemRef) -> String {
    match i.level {
        Level::Instance | Level::Volume => i.key.rsplit('/').next().unwrap_or(&i.key).into(),
        Level::Patient => crate::phi::mask(&i.key),
        _ => i.key.clone(),
    }
}

impl App {
    /// Opens the labelling screen: the scheme from the catalogue, the writable connection,
    /// the first item to label.
    pub fn open_labels(&mut self) {
        self.screen = Screen::Label;
        self.preview.visible = true;
        self.clear_screen = true;
        self.message("labelling: hotkeys label · s skip · j/k move · u/U undo/redo · n note · x uncertain · [ ] slices · :history · q leave");
        if self.labels.scheme.is_none() {
            match self.cat.label_scheme() {
                Ok(Some(s)) => self.labels.scheme = Some(s),
                Ok(None) => {
                    self.labels.message = "no label scheme: start dicura with --labels labels.toml, or :scheme load FILE, or :scheme edit".into();
                    return;
                }
                Err(e) => {
                    self.error(format!("labels: {e}"));
                    return;
                }
            }
        }
        if self.labels.wcat.is_none() && !self.read_only {
            match Catalogue::open(&self.db_path) {
                Ok(c) => self.labels.wcat = Some(c),
                Err(e) => self.error(format!("labels: {e}")),
            }
        }
        if self.labels.items.is_empty() {
            self.labels_reload(None);
            self.labels_goto_unlabelled(None);
        } else {
            self.label_item_changed();
        }
    }

    /// Reloads the list window from `key` (inclusive; `None`: the start).
    fn labels_reload(&mut self, key: Option<&str>) {
        let Some(level) = self.labels.level() else {
            return;
        };
        let r = if self.labels.adjudicate {
            self.disagreement_items()
        } else {
            match key {
                Some(k) => self.cat.label_items_from(level, &self.scope, k, PAGE),
                None => self.cat.label_items(level, &self.scope, None, PAGE),
            }
        };
        match r {
            Ok(items) => {
                self.labels.items = items;
                self.labels.cursor = 0;
            }
            Err(e) => self.error(format!("labels: {e}")),
        }
        self.labels_progress(true);
    }

    fn disagreement_items(&self) -> crate::catalogue::Result<Vec<LabelItem>> {
        let Some(set) = self.labels.set_name() else {
            return Ok(Vec::new());
        };
        let d = self.cat.label_disagreements(set, true)?;
        let mut out = Vec::new();
        for x in d {
            let id = self.cat.label_item_id(&x.item)?.unwrap_or(0);
            out.push(LabelItem { item: x.item, id });
        }
        Ok(out)
    }

    /// Labelled / total in the filter, asked of the worker (with an instance-level filter it
    /// visits every matching instance); at most every 2 s unless `force`.
    pub fn labels_progress(&mut self, force: bool) {
        if !force
            && self
                .labels
                .progress_at
                .is_some_and(|t| t.elapsed().as_secs_f64() < 2.0)
        {
            return;
        }
        let (Some(set), Some(level)) = (
            self.labels.set_name().map(str::to_string),
            self.labels.level(),
        ) else {
            return;
        };
        self.jobs.send(super::jobs::Job::LabelProgress {
            set,
            level,
            filter: self.scope.filter.clone(),
            annotator: self.labels.session.annotator().to_string(),
        });
        self.labels.progress_at = Some(Instant::now());
    }

    /// Moves to the first unlabelled item after `after` (exclusive), wrapping to the start.
    fn labels_goto_unlabelled(&mut self, after: Option<String>) {
        let (Some(set), Some(level)) = (
            self.labels.set_name().map(str::to_string),
            self.labels.level(),
        ) else {
            return;
        };
        if self.labels.adjudicate {
            self.label_item_changed();
            return;
        }
        let me = self.labels.session.annotator().to_string();
        let mut next = self.cat.next_unlabelled(
            &set,
            level,
            &self.scope,
            after.as_deref(),
            LabelledBy::Annotator(&me),
        );
        if matches!(next, Ok(None)) && after.is_some() {
            next = self.cat.next_unlabelled(
                &set,
                level,
                &self.scope,
                None,
                LabelledBy::Annotator(&me),
            );
        }
        match next {
            Ok(Some(item)) => self.labels_show(item),
            Ok(None) => {
                self.labels.message =
                    format!("every item in this filter has a {set} label from {me}");
                self.label_item_changed();
            }
            Err(e) => self.error(format!("labels: {e}")),
        }
    }

    /// Puts the cursor on `item`, loading the window around it when needed.
    fn labels_show(&mut self, item: LabelItem) {
        if let Some(i) = self.labels.items.iter().position(|x| x.item == item.item) {
            self.labels.cursor = i;
        } else {
            let key = item.item.key.clone();
            self.labels_reload(Some(&key));
            if let Some(i) = self.labels.items.iter().position(|x| x.item == item.item) {
                self.labels.cursor = i;
            }
        }
        self.label_item_changed();
    }

    /// Moves by `delta` items (paging the window as needed).
    fn labels_move(&mut self, delta: isize) {
        let Some(level) = self.labels.level() else {
            return;
        };
        let target = self.labels.cursor as isize + delta;
        if target >= 0 && (target as usize) < self.labels.items.len() {
            self.labels.cursor = target as usize;
        } else if self.labels.adjudicate {
            return;
        } else if target < 0 {
            let Some(first) = self.labels.items.first().map(|i| i.item.key.clone()) else {
                return;
            };
            match self
                .cat
                .label_items_before(level, &self.scope, &first, PAGE)
            {
                Ok(before) if !before.is_empty() => {
                    let n = before.len() as isize;
                    let mut items = before;
                    items.append(&mut self.labels.items);
                    items.truncate(3 * PAGE);
                    self.labels.items = items;
                    self.labels.cursor = (n + target).max(0) as usize;
                }
                Ok(_) => self.labels.cursor = 0,
                Err(e) => self.error(format!("labels: {e}")),
            }
        } else {
            let Some(last) = self.labels.items.last().map(|i| i.item.key.clone()) else {
                return;
            };
            match self.cat.label_items(level, &self.scope, Some(&last), PAGE) {
                Ok(more) if !more.is_empty() => {
                    let over = (target as usize) - self.labels.items.len();
                    let start = self.labels.items.len();
                    self.labels.items.extend(more);
                    let cut = self.labels.items.len().saturating_sub(3 * PAGE);
                    self.labels.items.drain(..cut);
                    self.labels.cursor = (start + over - cut).min(self.labels.items.len() - 1);
                }
                Ok(_) => self.labels.cursor = self.labels.items.len().saturating_sub(1),
                Err(e) => self.error(format!("labels: {e}")),
            }
        }
        self.label_item_changed();
    }

    /// The item under the cursor changed: its labels, facts and picture; the next item's
    /// picture is prepared meanwhile.
    pub fn label_item_changed(&mut self) {
        self.labels.history = None;
        let Some(item) = self.labels.current().cloned() else {
            self.labels.labels.clear();
            self.labels.facts.clear();
            self.preview.clear("no items in this filter");
            return;
        };
        self.labels.labels = self.cat.item_labels(&item.item).unwrap_or_default();
        self.labels.facts = facts_of(&self.cat, &item);
        if let Some((key, source)) = self.label_source(&item) {
            self.preview.select(key, source);
        }
        // Prefetch: the item a label keypress will move to.
        let next = match self.labels.advance {
            Advance::NextItem => self.labels.items.get(self.labels.cursor + 1).cloned(),
            Advance::NextUnlabelled => match (self.labels.set_name(), self.labels.level()) {
                (Some(set), Some(level)) => {
                    let me = self.labels.session.annotator().to_string();
                    self.cat
                        .next_unlabelled(
                            set,
                            level,
                            &self.scope,
                            Some(&item.item.key),
                            LabelledBy::Annotator(&me),
                        )
                        .ok()
                        .flatten()
                }
                _ => None,
            },
        };
        if let Some(n) = next {
            if let Some((key, source)) = self.label_source(&n) {
                self.preview.prefetch(key, source);
            }
        }
    }

    /// What the preview shows for an item: the file, the series as a volume, or for a study
    /// or patient its middle file.
    fn label_source(&self, item: &LabelItem) -> Option<(SourceKey, crate::preview::Source)> {
        use crate::preview::Source;
        match item.item.level {
            Level::Instance => Some((
                SourceKey::File(item.id),
                Source::Dicom {
                    path: PathBuf::from(&item.item.key),
                },
            )),
            Level::Volume => Some((
                SourceKey::File(item.id),
                Source::Volume {
                    path: PathBuf::from(&item.item.key),
                },
            )),
            Level::Series => {
                let paths = self.cat.series_paths(item.id).ok()?;
                Some((
                    SourceKey::Series(item.id),
                    Source::Series {
                        paths: paths.into_iter().map(PathBuf::from).collect(),
                    },
                ))
            }
            Level::Study | Level::Patient => {
                let files = self.cat.item_files(&item.item).ok()?;
                let mid = files.get(files.len() / 2)?.clone();
                let id = self.cat.file_id_of(&mid).ok().flatten()?;
                Some((
                    SourceKey::File(id),
                    Source::Dicom {
                        path: PathBuf::from(mid),
                    },
                ))
            }
        }
    }

    /// A label hotkey: assign (or, adjudicating, set the final label) and move on.
    fn label_hotkey(&mut self, c: char) -> bool {
        let Some(scheme) = self.labels.scheme.clone() else {
            return false;
        };
        let Some((set, cat)) = scheme.by_key(c) else {
            return false;
        };
        let Some(item) = self.labels.current().cloned() else {
            return true;
        };
        if set.level != item.item.level {
            self.error(format!(
                "{} labels {} items; Tab switches to that set",
                set.name, set.level
            ));
            return true;
        }
        let Some(w) = self.labels.wcat.as_ref() else {
            self.error("read-only: labels are not written");
            return true;
        };
        let t = Instant::now();
        let r = if self.labels.adjudicate {
            self.labels
                .session
                .adjudicate(w, &scheme, &set.name, &item.item, Some(&cat.name))
        } else {
            self.labels
                .session
                .assign(w, &scheme, &set.name, &item.item, &cat.name)
        };
        match r {
            Ok(ch) => {
                let what = ch.after.category.clone().unwrap_or_else(|| "–".into());
                self.message(format!("{} = {what}", set.name));
                self.labels.last_label = Some(t);
                // Multi-choice sets stay on the item (several categories); others move on.
                if set.multi {
                    self.label_item_changed();
                } else {
                    self.label_advance(&item.item.key);
                }
                self.labels_progress(true);
            }
            Err(e) => self.error(format!("label: {e}")),
        }
        true
    }

    fn label_advance(&mut self, from: &str) {
        if self.labels.adjudicate {
            // The item is resolved: take the list again.
            let cursor = self.labels.cursor;
            self.labels_reload(None);
            self.labels.cursor = cursor.min(self.labels.items.len().saturating_sub(1));
            self.label_item_changed();
            return;
        }
        match self.labels.advance {
            Advance::NextItem => self.labels_move(1),
            Advance::NextUnlabelled => self.labels_goto_unlabelled(Some(from.to_string())),
        }
    }

    /// Keys of the labelling screen.
    pub fn label_key(&mut self, ev: &KeyEvent) {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        let p = &mut self.preview;
        match ev.code {
            KeyCode::Char('r') if ctrl => self.label_redo(),
            KeyCode::Char('j') | KeyCode::Down => self.labels_move(1),
            KeyCode::Char('k') | KeyCode::Up => self.labels_move(-1),
            KeyCode::PageDown => self.labels_move(20),
            KeyCode::PageUp => self.labels_move(-20),
            KeyCode::Char('g') | KeyCode::Home => {
                self.labels_reload(None);
                self.label_item_changed();
            }
            KeyCode::Char('G') | KeyCode::End => self.labels_move(isize::MAX / 4),
            KeyCode::Char('s') => {
                // Skip: on to the next (unlabelled) item without labelling this one.
                if let Some(k) = self.labels.current().map(|i| i.item.key.clone()) {
                    self.label_advance(&k);
                    self.message("skipped");
                }
            }
            KeyCode::Char('u') => self.label_undo(),
            KeyCode::Char('U') => self.label_redo(),
            KeyCode::Char('x') => self.label_uncertain(),
            KeyCode::Char('n') if self.labels.current().is_some() => {
                self.mode = Mode::LabelNote;
                self.input = self
                    .labels
                    .labels
                    .iter()
                    .find(|l| {
                        Some(l.set.as_str()) == self.labels.set_name()
                            && l.annotator == self.labels.session.annotator()
                            && !l.is_final
                    })
                    .and_then(|l| l.state.note.clone())
                    .unwrap_or_default();
            }
            KeyCode::Tab => {
                let n = self.labels.scheme.as_ref().map_or(0, |s| s.sets.len());
                if n > 1 {
                    self.labels.set = (self.labels.set + 1) % n;
                    self.labels.items.clear();
                    self.labels_reload(None);
                    self.labels_goto_unlabelled(None);
                }
            }
            KeyCode::Char('[') => p.step(Some(-1)),
            KeyCode::Char(']') => p.step(Some(1)),
            KeyCode::Char('{') => p.next_header_window(),
            KeyCode::Char('}') => p.next_preset(),
            KeyCode::Char('|') => p.set_window(crate::preview::Window::Auto),
            KeyCode::Char(c)
                if !RESERVED_KEYS.contains(&c)
                    && c.is_ascii_alphanumeric()
                    && !self.label_hotkey(c) =>
            {
                self.error(format!("{c}: no category has this key (? lists them)"));
            }
            _ => {}
        }
    }

    fn label_undo(&mut self) {
        self.label_step(false);
    }

    fn label_redo(&mut self) {
        self.label_step(true);
    }

    /// Undoes (or redoes) the session's last change and shows the item it was on.
    fn label_step(&mut self, redo: bool) {
        let Some(w) = self.labels.wcat.as_ref() else {
            return;
        };
        let (done, what) = if redo {
            (self.labels.session.redo(w), "redo")
        } else {
            (self.labels.session.undo(w), "undo")
        };
        match done {
            Ok(Some(c)) => {
                self.message(format!(
                    "{}: {} of {}",
                    if redo { "redone" } else { "undone" },
                    c.action.as_str(),
                    short(&c.item)
                ));
                let item = LabelItem {
                    id: self.cat.label_item_id(&c.item).ok().flatten().unwrap_or(0),
                    item: c.item,
                };
                self.labels_show(item);
                self.labels_progress(true);
            }
            Ok(None) => self.message(format!("nothing to {what}")),
            Err(e) => self.error(format!("{what}: {e}")),
        }
    }

    fn label_uncertain(&mut self) {
        let (Some(w), Some(scheme), Some(set), Some(item)) = (
            self.labels.wcat.as_ref(),
            self.labels.scheme.clone(),
            self.labels.set_name().map(str::to_string),
            self.labels.current().cloned(),
        ) else {
            return;
        };
        match self
            .labels
            .session
            .toggle_uncertain(w, &scheme, &set, &item.item)
        {
            Ok(c) => {
                self.message(if c.after.uncertain {
                    "marked uncertain"
                } else {
                    "no longer uncertain"
                });
                self.label_item_changed();
            }
            Err(e) => self.error(format!("uncertain: {e}")),
        }
    }

    /// Stores the note typed in the prompt (empty removes it).
    pub fn label_note(&mut self, text: &str) {
        let (Some(w), Some(scheme), Some(set), Some(item)) = (
            self.labels.wcat.as_ref(),
            self.labels.scheme.clone(),
            self.labels.set_name().map(str::to_string),
            self.labels.current().cloned(),
        ) else {
            return;
        };
        let note = Some(text.trim()).filter(|t| !t.is_empty());
        match self
            .labels
            .session
            .set_note(w, &scheme, &set, &item.item, note)
        {
            Ok(_) => {
                self.message(if note.is_some() {
                    "note saved"
                } else {
                    "note removed"
                });
                self.label_item_changed();
            }
            Err(e) => self.error(format!("note: {e}")),
        }
    }

    /// `:scheme load FILE`, `:goto PATH|UID`, `:history`, `:advance next|unlabelled`,
    /// `:adjudicate`, `:annotator NAME`.
    pub fn label_command(&mut self, cmd: &str, args: &[&str]) {
        match (cmd, args) {
            ("scheme", ["load", path]) => {
                let r = std::fs::read_to_string(path)
                    .map_err(|e| format!("{path}: {e}"))
                    .and_then(|t| Scheme::from_toml(&t).map_err(|e| e.to_string()));
                match r {
                    Ok(s) => self.label_scheme_store(s),
                    Err(e) => self.error(e),
                }
            }
            ("scheme", ["save", path]) => match &self.labels.scheme {
                Some(s) => match std::fs::write(path, s.to_toml()) {
                    Ok(()) => self.message(format!("scheme saved to {path}")),
                    Err(e) => self.error(format!("{path}: {e}")),
                },
                None => self.error("no scheme"),
            },
            ("scheme", ["edit"]) => self.edit_scheme = true,
            ("goto", [text]) => {
                let Some(level) = self.labels.level() else {
                    return;
                };
                match self.cat.resolve_item(level, text) {
                    Ok(Some(item)) => {
                        let id = self.cat.label_item_id(&item).ok().flatten().unwrap_or(0);
                        self.labels_show(LabelItem { item, id });
                    }
                    Ok(None) => self.error(format!("no {level} item {text}")),
                    Err(e) => self.error(format!("goto: {e}")),
                }
            }
            ("history", []) => {
                if let Some(item) = self.labels.current().map(|i| i.item.clone()) {
                    match self.cat.label_history(&[item]) {
                        Ok(h) => self.labels.history = Some(h),
                        Err(e) => self.error(format!("history: {e}")),
                    }
                }
            }
            ("advance", ["next"]) => {
                self.labels.advance = Advance::NextItem;
                self.label_item_changed();
                self.message("a label moves to the next item");
            }
            ("advance", ["unlabelled"]) => {
                self.labels.advance = Advance::NextUnlabelled;
                self.label_item_changed();
                self.message("a label moves to the next unlabelled item");
            }
            ("adjudicate", []) => {
                self.labels.adjudicate = !self.labels.adjudicate;
                self.labels_reload(None);
                self.label_item_changed();
                self.message(if self.labels.adjudicate {
                    "adjudication: items the annotators disagree on; a hotkey sets the final label"
                } else {
                    "labelling"
                });
            }
            _ => self.error(
                "labels: scheme load|save FILE, scheme edit, goto PATH|UID, history, advance next|unlabelled, adjudicate",
            ),
        }
    }

    /// Validates and stores a scheme (refused when it would orphan existing labels).
    pub fn label_scheme_store(&mut self, s: Scheme) {
        let who = self.labels.session.annotator().to_string();
        let r = match (&self.labels.wcat, self.read_only) {
            (Some(w), _) => w.label_scheme_save(&s, &who),
            (None, false) => {
                Catalogue::open(&self.db_path).and_then(|w| w.label_scheme_save(&s, &who))
            }
            (None, true) => {
                self.error("read-only: the scheme is stored in the catalogue");
                return;
            }
        };
        match r {
            Ok(()) => {
                self.labels.scheme = Some(s);
                self.labels.set = 0;
                self.labels.items.clear();
                self.message("label scheme stored");
                if self.screen == Screen::Label {
                    self.open_labels();
                }
            }
            Err(e) => self.error(format!("scheme: {e}")),
        }
    }
}
