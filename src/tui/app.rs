//! The TUI's state and what each key does. Drawing is in `view.rs`; slow work goes to the
//! background worker (`jobs.rs`) and comes back as [`Done`] messages.

use super::jobs::{Done, Job, Jobs, Loaded};
use super::keys::Keys;
use super::meta::{Content, MetaView};
use super::theme::Theme;
use super::tree::{Kind, Tree};
use crate::catalogue::browse::{
    Overview, Scope, FILE_SORTS, INSTANCE_SORTS, PATIENT_SORTS, SERIES_SORTS, STUDY_SORTS,
};
use crate::catalogue::Catalogue;
use crate::filter::Filter;
use crate::scan::{ScanCounters, ScanSummary};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Overview,
    Browser,
    Folders,
    Findings,
    Phi,
    Label,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Tree,
    Meta,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Filter,
    Command,
    Search,
    Help,
    /// Typing the reason for acknowledging the selected finding.
    Ack,
    /// Typing the replacement value of a plan decision.
    PlanValue,
    /// Typing the labelling note of the current item.
    LabelNote,
}

/// The findings screen: counts per rule, then the findings of one rule.
#[derive(Debug, Default)]
pub struct FindingsView {
    pub groups: Vec<crate::catalogue::findings::FindingGroup>,
    pub group_cursor: usize,
    /// The rule whose findings are listed (`None`: the list of rules).
    pub code: Option<String>,
    pub rows: Vec<crate::catalogue::findings::FindingRow>,
    pub row_cursor: usize,
    pub scroll: usize,
    pub loading: bool,
}

/// The folder view: the children of one directory.
#[derive(Debug, Default)]
pub struct Folders {
    /// `None` lists the scanned roots.
    pub dir: Option<String>,
    pub entries: Vec<(String, bool, i64, i64)>,
    pub cursor: usize,
    pub scroll: usize,
    pub loading: bool,
    pub history: Vec<(Option<String>, usize)>,
}

/// A scan running in the background, started from the TUI.
pub struct ScanState {
    pub counters: Arc<ScanCounters>,
    pub started: Instant,
    pub last_refresh: Instant,
    pub handle: Option<std::thread::JoinHandle<Result<ScanSummary, String>>>,
    pub result: Option<Result<ScanSummary, String>>,
}

pub struct App {
    pub cat: Catalogue,
    pub db_path: PathBuf,
    /// What the status bar calls the catalogue (tests set a fixed name).
    pub db_label: String,
    pub read_only: bool,
    pub jobs: Jobs,
    pub theme: Theme,
    pub keys: Keys,
    pub screen: Screen,
    pub focus: Focus,
    pub mode: Mode,
    pub input: String,
    pub tree: Tree,
    pub cursor: usize,
    pub scroll: usize,
    pub scope: Scope,
    /// A filter being evaluated in the background.
    pub pending_filter: Option<Filter>,
    pub meta: MetaView,
    /// Marked file for compare: (file id, label).
    pub marked: Option<(i64, String)>,
    /// Tree row whose masked values are revealed.
    pub reveal_row: Option<usize>,
    pub overview: Option<Overview>,
    pub folders: Folders,
    pub findings: FindingsView,
    pub phi: super::phi_pane::PhiView,
    /// A tag to put the metadata cursor on when the next header arrives (from a finding).
    pub meta_goto: Option<String>,
    pub status: String,
    pub status_error: bool,
    pub scan: Option<ScanState>,
    pub quit: bool,
    /// Clipboard text to send with OSC 52 after the next draw.
    pub osc52: Option<String>,
    /// Rows of the tree (or folder list) drawn last time, for paging.
    pub page_rows: usize,
    /// First line of the help overlay on screen.
    pub help_scroll: usize,
    pub preview: super::preview_pane::PreviewView,
    /// The `--graphics`/config choice for previews.
    pub graphics: Option<String>,
    /// Clear the terminal before the next draw (a picture left the screen).
    pub clear_screen: bool,
    pub labels: super::label_pane::LabelView,
    /// Suspend the console and edit the label scheme in `$EDITOR` (the event loop does it).
    pub edit_scheme: bool,
}

/// How far a list-movement key moves the cursor in a list of `n` rows with `page` rows on
/// screen (vim keys and arrows alike); `None` for other keys.
pub(super) fn movement(ev: &KeyEvent, n: usize, page: isize) -> Option<isize> {
    let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
    Some(match ev.code {
        KeyCode::Down | KeyCode::Char('j') => 1,
        KeyCode::Up | KeyCode::Char('k') => -1,
        KeyCode::PageDown => page,
        KeyCode::PageUp => -page,
        KeyCode::Char('d') if ctrl => page / 2,
        KeyCode::Char('u') if ctrl => -page / 2,
        KeyCode::Char('g') | KeyCode::Home => -(n as isize),
        KeyCode::Char('G') | KeyCode::End => n as isize,
        _ => return None,
    })
}

impl App {
    /// Opens the catalogue read-only for browsing and starts the worker.
    pub fn new(db: PathBuf, theme: Theme, keys: Keys, read_only: bool) -> anyhow::Result<App> {
        let cat = Catalogue::open_read_only(&db)?;
        let scope = cat.scope(&Filter::default())?;
        let tree = Tree::new(&cat, &scope)?;
        let jobs = Jobs::start(db.clone());
        jobs.send(Job::Overview);
        let mut app = App {
            db_label: db.display().to_string(),
            cat,
            db_path: db,
            read_only,
            jobs,
            theme,
            keys,
            screen: Screen::Overview,
            focus: Focus::Tree,
            mode: Mode::Normal,
            input: String::new(),
            tree,
            cursor: 0,
            scroll: 0,
            scope,
            pending_filter: None,
            meta: MetaView::default(),
            marked: None,
            reveal_row: None,
            overview: None,
            folders: Folders::default(),
            findings: FindingsView::default(),
            phi: Default::default(),
            meta_goto: None,
            status: String::new(),
            status_error: false,
            scan: None,
            quit: false,
            osc52: None,
            page_rows: 20,
            help_scroll: 0,
            // Half-blocks until the terminal has been asked (`tui::run`); tests keep these.
            preview: super::preview_pane::PreviewView::start(
                ratatui_image::picker::Picker::halfblocks(),
                None,
            ),
            graphics: None,
            clear_screen: false,
            labels: super::label_pane::LabelView::new(&crate::phi::who()),
            edit_scheme: false,
        };
        app.meta.set(Content::Empty);
        app.hint();
        Ok(app)
    }

    fn hint(&mut self) {
        let k = &self.keys;
        self.status = format!(
            "{} help  {} filter  {} command  Tab pane  Enter open  {} quit",
            k.name("help"),
            k.name("filter"),
            k.name("command"),
            k.name("quit")
        );
        self.status_error = false;
    }

    pub fn message(&mut self, text: impl Into<String>) {
        self.status = text.into();
        self.status_error = false;
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.status = text.into();
        self.status_error = true;
    }

    /// Starts scanning `dir` into the catalogue on a background thread.
    pub fn start_scan(&mut self, dir: PathBuf) {
        if self.read_only {
            self.error("read-only: not scanning");
            return;
        }
        let counters = Arc::new(ScanCounters::default());
        let c2 = counters.clone();
        let db = self.db_path.clone();
        let handle = std::thread::spawn(move || -> Result<ScanSummary, String> {
            let cat = Catalogue::open(&db).map_err(|e| e.to_string())?;
            let opts = crate::scan::ScanOptions {
                roots: vec![dir],
                jobs: 0,
                follow_links: false,
                progress: false,
                limits: Default::default(),
                counters: Some(c2),
            };
            crate::scan::scan(cat, &opts)
                .map(|(s, _)| s)
                .map_err(|e| e.to_string())
        });
        self.scan = Some(ScanState {
            counters,
            started: Instant::now(),
            last_refresh: Instant::now(),
            handle: Some(handle),
            result: None,
        });
        self.message("scanning … browsing starts as rows arrive");
    }

    /// Periodic work: scan progress, refreshing the views while a scan writes.
    pub fn tick(&mut self) -> bool {
        let mut changed = false;
        let mut finished = None;
        if let Some(scan) = &mut self.scan {
            if let Some(h) = scan.handle.as_ref() {
                if h.is_finished() {
                    if let Some(h) = scan.handle.take() {
                        finished = Some(
                            h.join()
                                .unwrap_or_else(|_| Err("scan thread failed".into())),
                        );
                    }
                } else if scan.last_refresh.elapsed().as_millis() > 1000 {
                    scan.last_refresh = Instant::now();
                    changed = true;
                }
            }
        }
        if changed {
            self.refresh();
        }
        if let Some(result) = finished {
            match &result {
                Ok(s) => self.message(format!(
                    "scan complete: {} files ({} read, {} unchanged, {} removed) in {:.1} s",
                    s.files_seen,
                    s.new + s.changed + s.restored,
                    s.unchanged,
                    s.removed,
                    s.seconds
                )),
                Err(e) => self.error(format!("scan failed: {e}")),
            }
            if let Some(scan) = &mut self.scan {
                scan.result = Some(result);
            }
            self.refresh();
            return true;
        }
        changed || self.scan.as_ref().is_some_and(|s| s.handle.is_some())
    }

    /// Reloads the tree and overview from the catalogue, keeping the place.
    pub fn refresh(&mut self) {
        if let Err(e) = self.tree.refresh(&self.cat, &self.scope) {
            self.error(format!("refresh: {e}"));
        }
        self.jobs.send(Job::Overview);
        self.clamp_cursor();
    }

    fn clamp_cursor(&mut self) {
        let n = self.tree.len();
        if self.cursor >= n {
            self.cursor = n.saturating_sub(1);
        }
    }

    /// Applies a worker result.
    pub fn done(&mut self, d: Done) {
        match d {
            Done::Scope(r) => {
                let Some(f) = self.pending_filter.take() else {
                    return;
                };
                match r {
                    Ok(spec) if spec.filter == f => self.apply_scope(spec.into_scope()),
                    Ok(_) => {}
                    Err(e) => self.error(format!("filter: {e}")),
                }
            }
            Done::Overview(r) => match r {
                Ok(o) => self.overview = Some(o),
                Err(e) => self.error(format!("overview: {e}")),
            },
            Done::Metadata { file, path, result } => {
                if self.meta.file != Some(file) {
                    return;
                }
                let content = match result {
                    Ok(loaded) => Content::Header { path, loaded },
                    Err(e) => Content::Message(e),
                };
                self.meta.set(content);
                if let Some(tag) = self.meta_goto.take() {
                    // Put the cursor on the element a finding is about.
                    self.meta.find(&tag);
                }
            }
            Done::Compare { a, b, rows } => match rows {
                Ok(rows) => {
                    self.meta.file = None;
                    self.meta.set(Content::Compare { a, b, rows });
                    self.focus = Focus::Meta;
                }
                Err(e) => self.error(e),
            },
            Done::Varying {
                label,
                instances,
                rows,
            } => match rows {
                Ok(rows) => {
                    self.meta.file = None;
                    self.meta.set(Content::Varying {
                        label,
                        instances,
                        rows,
                    });
                    self.focus = Focus::Meta;
                }
                Err(e) => self.error(e),
            },
            Done::FindingGroups(r) => {
                self.findings.loading = false;
                match r {
                    Ok(g) => {
                        self.findings.groups = g;
                        let n = self.findings.groups.len();
                        if self.findings.group_cursor >= n {
                            self.findings.group_cursor = n.saturating_sub(1);
                        }
                    }
                    Err(e) => self.error(format!("findings: {e}")),
                }
            }
            Done::FindingRows { code, rows } => {
                if self.findings.code.as_deref() != Some(code.as_str()) {
                    return;
                }
                self.findings.loading = false;
                match rows {
                    Ok(r) => {
                        self.findings.rows = r;
                        let n = self.findings.rows.len();
                        if self.findings.row_cursor >= n {
                            self.findings.row_cursor = n.saturating_sub(1);
                        }
                        self.finding_selected();
                    }
                    Err(e) => self.error(format!("findings: {e}")),
                }
            }
            Done::PhiSummary(r) => {
                self.phi.loading = false;
                match r {
                    Ok((mut summary, plan)) => {
                        // What needs a look first: leaks and pixel risks, then the rest.
                        let rank = |r: &str| match r {
                            "text_leak" => 0,
                            "path_leak" => 1,
                            "burned_in" => 2,
                            "face" => 3,
                            "volume_text" => 4,
                            "private" => 5,
                            _ => 6,
                        };
                        summary.sort_by_key(|r| rank(&r.reason));
                        self.phi.summary = summary;
                        self.phi.plan = plan;
                        let n = self.phi.summary.len();
                        if self.phi.cursor >= n {
                            self.phi.cursor = n.saturating_sub(1);
                        }
                    }
                    Err(e) => self.error(format!("PHI: {e}")),
                }
            }
            Done::PhiRows { key, rows } => {
                if self.phi.open.as_ref() != Some(&key) {
                    return;
                }
                match rows {
                    Ok(r) => {
                        self.phi.rows = r;
                        let n = self.phi.rows.len();
                        if self.phi.row_cursor >= n {
                            self.phi.row_cursor = n.saturating_sub(1);
                        }
                        self.phi.file_id = None;
                        self.phi_select_changed();
                    }
                    Err(e) => self.error(format!("PHI: {e}")),
                }
            }
            Done::PhiFile { file, rows } => {
                if self.phi.file_id != Some(file) {
                    return;
                }
                match rows {
                    Ok(r) => self.phi.file = r,
                    Err(e) => self.error(format!("PHI: {e}")),
                }
            }
            Done::LabelProgress { set, progress } => {
                if self.labels.set_name() == Some(set.as_str()) {
                    match progress {
                        Ok(p) => self.labels.progress = p,
                        Err(e) => self.error(format!("labels: {e}")),
                    }
                }
            }
            Done::Folder { dir, entries } => {
                if self.folders.dir.as_deref() != Some(dir.as_str()) {
                    return;
                }
                self.folders.loading = false;
                match entries {
                    Ok(e) => self.folders.entries = e,
                    Err(e) => self.error(format!("folder: {e}")),
                }
            }
        }
    }

    fn apply_scope(&mut self, scope: Scope) {
        let text = scope.filter.text.clone();
        match Tree::new(&self.cat, &scope) {
            Ok(tree) => {
                self.tree = tree;
                self.scope = scope;
                self.cursor = 0;
                self.scroll = 0;
                self.reveal_row = None;
                if text.is_empty() {
                    self.message("filter cleared");
                } else {
                    let n = self
                        .tree
                        .root
                        .node(&[0])
                        .and_then(|n| n.row.counts.first().copied())
                        .unwrap_or(0);
                    self.message(format!("filter {text}: {n} patients"));
                }
                if self.screen == Screen::Folders {
                    self.load_folder();
                }
                if self.screen == Screen::Label {
                    self.labels.items.clear();
                    self.open_labels();
                }
            }
            Err(e) => self.error(format!("filter: {e}")),
        }
    }

    /// Parses and applies a filter: series-level filters at once (they are fast on any
    /// catalogue), others on the worker so the keyboard never waits.
    pub fn set_filter(&mut self, text: &str) {
        let f = match Filter::parse(text) {
            Ok(f) => f,
            Err(e) => {
                self.error(format!("filter: {e}"));
                return;
            }
        };
        if f.is_empty() || f.series_level() {
            match self.cat.scope(&f) {
                Ok(s) => self.apply_scope(s),
                Err(e) => self.error(format!("filter: {e}")),
            }
        } else {
            self.pending_filter = Some(f.clone());
            self.jobs.send(Job::Scope(f));
            self.message(format!("filtering {text} …"));
        }
    }

    /// The node under the cursor and its path.
    pub fn selected(&self) -> Option<(Vec<usize>, &super::tree::Node)> {
        let path = self.tree.path_of(self.cursor)?;
        let node = self.tree.root.node(&path)?;
        Some((path, node))
    }

    /// Applies finished previews; returns whether the screen changes.
    pub fn poll_preview(&mut self) -> bool {
        let mut changed = false;
        while let Ok(a) = self.preview.rx.try_recv() {
            changed |= self.preview.answer(a);
        }
        changed
    }

    /// Points the preview at the node under the cursor: an instance or volume file, or a
    /// whole series (as a volume).
    fn preview_selected(&mut self) {
        use super::preview_pane::SourceKey;
        use super::tree::Kind;
        if !self.preview.visible {
            return;
        }
        let Some((kind, id)) = self.selected().map(|(_, n)| (n.kind, n.row.id)) else {
            return;
        };
        match kind {
            Kind::Instance | Kind::Volume => self.preview_file(id),
            Kind::Series => match self.cat.series_paths(id) {
                Ok(paths) if !paths.is_empty() => self.preview.select(
                    SourceKey::Series(id),
                    crate::preview::Source::Series {
                        paths: paths.into_iter().map(PathBuf::from).collect(),
                    },
                ),
                Ok(_) => self.preview.clear("this series has no files"),
                Err(e) => self.preview.clear(&e.to_string()),
            },
            _ => self
                .preview
                .clear("select an instance, a series or a volume to see it"),
        }
    }

    /// Points the preview at one catalogued file.
    pub fn preview_file(&mut self, id: i64) {
        use super::preview_pane::SourceKey;
        match self.cat.file_info(id) {
            Ok(Some((path, kind, ..)))
                if matches!(kind.as_str(), "dicom" | "nifti" | "analyze") =>
            {
                let path = PathBuf::from(path);
                let source = if kind == "dicom" {
                    crate::preview::Source::Dicom { path }
                } else {
                    crate::preview::Source::Volume { path }
                };
                self.preview.select(SourceKey::File(id), source);
            }
            Ok(Some((_, kind, ..))) => self.preview.clear(&format!("no image in a {kind} file")),
            Ok(None) => self.preview.clear("not in the catalogue"),
            Err(e) => self.preview.clear(&e.to_string()),
        }
    }

    fn toggle_preview(&mut self) {
        self.preview.visible = !self.preview.visible;
        self.clear_screen = true;
        if self.preview.visible {
            match self.screen {
                Screen::Folders => {
                    if let Some((_, false, _, id)) = self.folders.entries.get(self.folders.cursor) {
                        let id = *id;
                        self.preview_file(id);
                    }
                }
                _ => self.preview_selected(),
            }
            self.message(
                "preview: Tab focuses it · j/k slice · w/W windows/presets · a auto · i invert · o axis · ? keys",
            );
        } else {
            self.hint();
        }
    }

    /// Keys of the focused preview pane.
    fn preview_key(&mut self, ev: &KeyEvent) {
        let page = 10;
        let p = &mut self.preview;
        match ev.code {
            KeyCode::Down | KeyCode::Char('j') => p.step(Some(1)),
            KeyCode::Up | KeyCode::Char('k') => p.step(Some(-1)),
            KeyCode::PageDown => p.step(Some(page)),
            KeyCode::PageUp => p.step(Some(-page)),
            KeyCode::Char('g') | KeyCode::Home => p.step(Some(-(isize::MAX / 2))),
            KeyCode::Char('G') | KeyCode::End => p.step(Some(isize::MAX / 2)),
            KeyCode::Char('m') => p.step(None),
            KeyCode::Char('w') => p.next_header_window(),
            KeyCode::Char('W') => p.next_preset(),
            KeyCode::Char('a') => p.set_window(crate::preview::Window::Auto),
            KeyCode::Char('f') => p.set_window(crate::preview::Window::FullRange),
            KeyCode::Char('d') => p.set_window(crate::preview::Window::Default),
            KeyCode::Char('i') => p.toggle_invert(),
            KeyCode::Char('z') => {
                p.toggle_native();
                self.clear_screen = true;
            }
            KeyCode::Char('o') => {
                if let Err(e) = p.next_axis() {
                    self.error(e);
                }
            }
            KeyCode::Char('t') => p.step_time(1),
            KeyCode::Char('T') => p.step_time(-1),
            KeyCode::Char('H') => p.adjust(0.0, -0.15),
            KeyCode::Char('L') => p.adjust(0.0, 0.15),
            KeyCode::Char('J') => p.adjust(-0.05, 0.0),
            KeyCode::Char('K') => p.adjust(0.05, 0.0),
            _ => {}
        }
    }

    /// Asks for the metadata of the file under the cursor, if it changed.
    fn select_changed(&mut self) {
        self.preview_selected();
        let sel = self
            .selected()
            .filter(|(_, n)| n.kind.is_file())
            .map(|(_, n)| n.row.id);
        if let Some(id) = sel {
            if self.meta.file != Some(id) {
                self.meta.file = Some(id);
                self.meta.set(Content::Loading(String::new()));
                self.jobs.send(Job::Metadata(id));
            }
        }
    }

    fn move_cursor(&mut self, delta: isize) {
        let n = self.tree.len();
        if n == 0 {
            return;
        }
        let c = self.cursor as isize + delta;
        self.cursor = c.clamp(0, n as isize - 1) as usize;
        if self.reveal_row != Some(self.cursor) {
            self.reveal_row = None;
        }
        // Load the page under the cursor now, so the row exists when it is drawn.
        if let Some(path) = self.tree.path_of(self.cursor) {
            if let Err(e) = self.tree.ensure(&self.cat, &self.scope, &path) {
                self.error(e.to_string());
            }
        }
        self.select_changed();
    }

    fn expand_or_open(&mut self) {
        let Some((path, node)) = self.selected() else {
            return;
        };
        if node.kind.is_file() {
            self.focus = Focus::Meta;
            return;
        }
        let r = if node.expanded {
            // Enter on an open node steps into it.
            self.move_cursor(1);
            return;
        } else {
            self.tree.expand(&self.cat, &self.scope, &path)
        };
        if let Err(e) = r {
            self.error(e.to_string());
        }
    }

    fn collapse_or_parent(&mut self) {
        let Some((path, node)) = self.selected() else {
            return;
        };
        if node.expanded && node.kind.expandable() {
            self.tree.collapse(&path);
            return;
        }
        if path.len() > 1 {
            if let Some(r) = self.tree.row_of(&path[..path.len() - 1]) {
                self.cursor = r;
                self.select_changed();
            }
        }
    }

    fn toggle(&mut self) {
        let Some((path, node)) = self.selected() else {
            return;
        };
        if node.expanded {
            self.tree.collapse(&path);
        } else if let Err(e) = self.tree.expand(&self.cat, &self.scope, &path) {
            self.error(e.to_string());
        }
    }

    /// Cycles the sort order of the level under the cursor.
    fn cycle_sort(&mut self) {
        let Some((path, node)) = self.selected() else {
            return;
        };
        let parent = &path[..path.len().saturating_sub(1)];
        let sorts = match node.kind {
            Kind::Patient => PATIENT_SORTS,
            Kind::Study => STUDY_SORTS,
            Kind::Series => SERIES_SORTS,
            Kind::Instance => INSTANCE_SORTS,
            Kind::Volume | Kind::OtherFile => FILE_SORTS,
            _ => return,
        };
        let current = self
            .tree
            .root
            .node(parent)
            .and_then(|p| p.children.as_ref())
            .map(|c| c.sort)
            .unwrap_or(0);
        let next = (current + 1) % sorts.len();
        let parent = parent.to_vec();
        match self.tree.sort(&self.cat, &self.scope, &parent, next) {
            Ok(()) => {
                if let Some(r) = self.tree.row_of(&parent) {
                    self.cursor = r + 1;
                }
                self.message(format!("sorted by {}", sorts[next].0));
            }
            Err(e) => self.error(e.to_string()),
        }
    }

    fn mark(&mut self) {
        if let Some((_, n)) = self.selected().filter(|(_, n)| n.kind.is_file()) {
            let label = n.row.cols.get(1).cloned().unwrap_or_default();
            let id = n.row.id;
            self.marked = Some((id, label.clone()));
            self.message(format!(
                "marked {label}: select another file and press {}",
                self.keys.name("compare")
            ));
        } else {
            self.error("mark works on a file (instance)");
        }
    }

    fn compare(&mut self) {
        let Some((a, _)) = self.marked.clone() else {
            self.error(format!("mark a file first ({})", self.keys.name("mark")));
            return;
        };
        let Some(b) = self
            .selected()
            .filter(|(_, n)| n.kind.is_file())
            .map(|(_, n)| n.row.id)
        else {
            self.error("select a file to compare with the marked one");
            return;
        };
        self.jobs.send(Job::Compare(a, b));
        self.message("comparing …");
    }

    fn varying(&mut self) {
        let Some((path, node)) = self.selected() else {
            return;
        };
        // On an instance, use its series.
        let (kind, id, label) = if node.kind == Kind::Instance {
            match self.tree.root.node(&path[..path.len() - 1]) {
                Some(p) => (
                    p.kind,
                    p.row.id,
                    p.row.cols.get(2).cloned().unwrap_or_default(),
                ),
                None => return,
            }
        } else {
            (
                node.kind,
                node.row.id,
                node.row.cols.get(2).cloned().unwrap_or_default(),
            )
        };
        if kind != Kind::Series {
            self.error("varying tags: select a series (or one of its instances)");
            return;
        }
        self.jobs.send(Job::Varying {
            series: id,
            label: format!("series {label}"),
        });
        self.message("finding the tags that vary …");
    }

    pub fn load_folder(&mut self) {
        match &self.folders.dir {
            None => match self.cat.roots() {
                Ok(roots) => {
                    self.folders.entries = roots.into_iter().map(|r| (r, true, 0, 0)).collect();
                }
                Err(e) => self.error(e.to_string()),
            },
            Some(d) => {
                self.folders.loading = true;
                self.jobs.send(Job::Folder {
                    dir: d.clone(),
                    filter: self.scope.filter.clone(),
                });
            }
        }
    }

    fn folder_key(&mut self, ev: &KeyEvent) {
        let n = self.folders.entries.len();
        let page = self.page_rows.max(1) as isize;
        let moved = movement(ev, n, page);
        let delta: isize = match ev.code {
            _ if moved.is_some() => moved.unwrap_or(0),
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => {
                if let Some((name, is_dir, _, id)) =
                    self.folders.entries.get(self.folders.cursor).cloned()
                {
                    if is_dir {
                        let dir = match &self.folders.dir {
                            None => name,
                            Some(d) => format!("{}/{name}", d.trim_end_matches('/')),
                        };
                        self.folders
                            .history
                            .push((self.folders.dir.clone(), self.folders.cursor));
                        self.folders.dir = Some(dir);
                        self.folders.cursor = 0;
                        self.folders.scroll = 0;
                        self.folders.entries.clear();
                        self.load_folder();
                    } else {
                        self.meta.file = Some(id);
                        self.meta.set(Content::Loading(name));
                        self.jobs.send(Job::Metadata(id));
                        self.focus = Focus::Meta;
                    }
                }
                0
            }
            KeyCode::Left | KeyCode::Char('h') | KeyCode::Backspace => {
                if let Some((dir, cursor)) = self.folders.history.pop() {
                    self.folders.dir = dir;
                    self.folders.entries.clear();
                    self.load_folder();
                    self.folders.cursor = cursor;
                }
                0
            }
            _ => 0,
        };
        if delta != 0 && n > 0 {
            let c = (self.folders.cursor as isize + delta).clamp(0, n as isize - 1) as usize;
            self.folders.cursor = c;
            if let Some((_, false, _, id)) = self.folders.entries.get(c) {
                let id = *id;
                if self.preview.visible {
                    self.preview_file(id);
                }
                if self.meta.file != Some(id) {
                    self.meta.file = Some(id);
                    self.meta.set(Content::Loading(String::new()));
                    self.jobs.send(Job::Metadata(id));
                }
            }
        }
    }

    /// Shows the metadata of the selected finding's file, on the element it is about.
    fn finding_selected(&mut self) {
        let Some(row) = self.findings.rows.get(self.findings.row_cursor) else {
            return;
        };
        let Some(file) = row.file_id else {
            self.meta.file = None;
            self.meta.set(Content::Message(format!(
                "{} ({})\n{}\n{}",
                row.code,
                row.severity,
                row.message,
                row.path.clone().unwrap_or_default()
            )));
            return;
        };
        self.meta_goto = row.tag.clone();
        if self.meta.file != Some(file) {
            self.meta.file = Some(file);
            self.meta.set(Content::Loading(String::new()));
            self.jobs.send(Job::Metadata(file));
        } else if let Some(tag) = self.meta_goto.take() {
            self.meta.find(&tag);
        }
    }

    pub fn load_findings(&mut self) {
        self.findings.loading = true;
        self.jobs.send(Job::Findings(self.findings.code.clone()));
    }

    fn findings_key(&mut self, ev: &KeyEvent) {
        let fv = &mut self.findings;
        let in_rows = fv.code.is_some();
        let n = if in_rows {
            fv.rows.len()
        } else {
            fv.groups.len()
        };
        let page = self.page_rows.max(1) as isize;
        let moved = movement(ev, n, page);
        let delta: isize = match ev.code {
            _ if moved.is_some() => moved.unwrap_or(0),
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => {
                if in_rows {
                    self.focus = Focus::Meta;
                } else if let Some(g) = fv.groups.get(fv.group_cursor) {
                    fv.code = Some(g.code.clone());
                    fv.rows.clear();
                    fv.row_cursor = 0;
                    fv.scroll = 0;
                    self.load_findings();
                }
                0
            }
            KeyCode::Left | KeyCode::Char('h') | KeyCode::Backspace => {
                if in_rows {
                    fv.code = None;
                    fv.scroll = 0;
                    self.load_findings();
                }
                0
            }
            KeyCode::Char('a') if in_rows => {
                if self.read_only {
                    self.error("read-only: cannot acknowledge");
                } else if fv.rows.get(fv.row_cursor).is_some() {
                    self.mode = Mode::Ack;
                    self.input.clear();
                }
                0
            }
            KeyCode::Char('e') => {
                self.screen = Screen::Browser;
                self.set_filter("findings:error");
                0
            }
            _ => 0,
        };
        if delta != 0 && n > 0 {
            let fv = &mut self.findings;
            let cur = if in_rows {
                &mut fv.row_cursor
            } else {
                &mut fv.group_cursor
            };
            *cur = (*cur as isize + delta).clamp(0, n as isize - 1) as usize;
            if in_rows {
                self.finding_selected();
            }
        }
    }

    /// Records an acknowledgement of the selected finding (rule + subject, and tag).
    fn acknowledge(&mut self, reason: &str) {
        let Some(row) = self.findings.rows.get(self.findings.row_cursor).cloned() else {
            return;
        };
        if reason.trim().is_empty() {
            self.error("an acknowledgement needs a reason");
            return;
        }
        let result = Catalogue::open(&self.db_path).and_then(|cat| {
            cat.acknowledge(&row.code, &row.subject, row.tag.as_deref(), reason.trim())
        });
        match result {
            Ok(n) => {
                self.message(format!(
                    "acknowledged {} ({n} finding(s)): {}",
                    row.code,
                    reason.trim()
                ));
                self.load_findings();
            }
            Err(e) => self.error(format!("acknowledge: {e}")),
        }
    }

    fn meta_key(&mut self, ev: &KeyEvent) {
        let n = self.meta.lines.len();
        let page = self.page_rows.max(1) as isize;
        let k = &self.keys;
        let moved = movement(ev, n, page);
        let delta: isize = match ev.code {
            _ if moved.is_some() => moved.unwrap_or(0),
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => {
                self.meta.fold(true);
                0
            }
            KeyCode::Left | KeyCode::Char('h') => {
                self.meta.fold(false);
                0
            }
            KeyCode::Char('+') => {
                self.meta.fold_all(true);
                0
            }
            KeyCode::Char('-') => {
                self.meta.fold_all(false);
                0
            }
            _ if k.is(ev, "filter") => {
                self.mode = Mode::Search;
                self.input.clear();
                0
            }
            _ if k.is(ev, "next_match") => {
                let q = self.meta.search.clone();
                if !self.meta.find(&q) {
                    self.error(format!("no match for {q:?}"));
                }
                0
            }
            _ if k.is(ev, "expand_value") => {
                let c = self.meta.cursor;
                if !self.meta.wrapped.remove(&c) {
                    self.meta.wrapped.insert(c);
                }
                0
            }
            _ if k.is(ev, "copy") => {
                if let Some(v) = self.meta.value_at_cursor() {
                    let phi = self.meta.lines.get(self.meta.cursor).is_some_and(|l| l.phi);
                    if phi && self.meta.revealed != Some(self.meta.cursor) {
                        self.error(format!(
                            "reveal the value first ({})",
                            self.keys.name("reveal")
                        ));
                    } else {
                        self.osc52 = Some(v);
                        self.message("copied to the clipboard (OSC 52)");
                    }
                }
                0
            }
            _ if k.is(ev, "reveal") => {
                let c = self.meta.cursor;
                if self.meta.revealed == Some(c) {
                    self.meta.revealed = None;
                } else if self.audit_meta_reveal(c) {
                    self.meta.revealed = Some(c);
                }
                0
            }
            _ => 0,
        };
        if delta != 0 && n > 0 {
            self.meta.cursor =
                (self.meta.cursor as isize + delta).clamp(0, n as isize - 1) as usize;
            if self.meta.revealed != Some(self.meta.cursor) {
                self.meta.revealed = None;
            }
        }
    }

    /// Records a reveal of a masked metadata line in the audit table. Lines that are not
    /// masked need no record; without write access a masked value stays masked.
    fn audit_meta_reveal(&mut self, line: usize) -> bool {
        let Some(l) = self.meta.lines.get(line) else {
            return false;
        };
        if !l.phi {
            return true;
        }
        let (Some(file), Some(tag)) = (self.meta.file, l.tag) else {
            return true;
        };
        if self.read_only {
            self.error(
                "read-only: reveals are recorded in the audit table, which needs write access",
            );
            return false;
        }
        let keyword = crate::formats::dicom::keyword(tag)
            .unwrap_or("")
            .to_string();
        match Catalogue::open(&self.db_path)
            .and_then(|cat| cat.phi_record_reveal(&crate::phi::who(), file, tag, &keyword, None))
        {
            Ok(()) => true,
            Err(e) => {
                self.error(format!("reveal: {e}"));
                false
            }
        }
    }

    fn tree_key(&mut self, ev: &KeyEvent) {
        let page = self.page_rows.max(1) as isize;
        let n = self.tree.len() as isize;
        let k = self.keys.clone();
        match ev.code {
            KeyCode::Down | KeyCode::Char('j') => self.move_cursor(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_cursor(-1),
            KeyCode::PageDown => self.move_cursor(page),
            KeyCode::PageUp => self.move_cursor(-page),
            KeyCode::Char('d') if ev.modifiers.contains(KeyModifiers::CONTROL) => {
                self.move_cursor(page / 2)
            }
            KeyCode::Char('u') if ev.modifiers.contains(KeyModifiers::CONTROL) => {
                self.move_cursor(-page / 2)
            }
            KeyCode::Char('g') | KeyCode::Home => self.move_cursor(-n),
            KeyCode::Char('G') | KeyCode::End => self.move_cursor(n),
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => self.expand_or_open(),
            KeyCode::Left | KeyCode::Char('h') => self.collapse_or_parent(),
            KeyCode::Char(' ') => self.toggle(),
            _ if k.is(ev, "filter") => {
                self.mode = Mode::Filter;
                self.input = self.scope.filter.text.clone();
            }
            _ if k.is(ev, "clear_filter") => self.set_filter(""),
            _ if k.is(ev, "sort") => self.cycle_sort(),
            _ if k.is(ev, "mark") => self.mark(),
            _ if k.is(ev, "compare") => self.compare(),
            _ if k.is(ev, "varying") => self.varying(),
            _ if k.is(ev, "reveal") => {
                if self.reveal_row == Some(self.cursor) {
                    self.reveal_row = None;
                } else if self.audit_patient_reveal() {
                    self.reveal_row = Some(self.cursor);
                }
            }
            _ => {}
        }
    }

    /// Records the reveal of a patient row's ID and name in the audit table (file 0: a row,
    /// not a file; the path column names the patient row). Other rows hold nothing masked.
    fn audit_patient_reveal(&mut self) -> bool {
        let is_patient = self
            .selected()
            .is_some_and(|(_, n)| n.kind == super::tree::Kind::Patient);
        if !is_patient {
            return true;
        }
        if self.read_only {
            self.error(
                "read-only: reveals are recorded in the audit table, which needs write access",
            );
            return false;
        }
        let who = crate::phi::who();
        let r = Catalogue::open(&self.db_path).and_then(|cat| {
            cat.phi_record_reveal(&who, 0, 0x0010_0010, "PatientName", None)?;
            cat.phi_record_reveal(&who, 0, 0x0010_0020, "PatientID", None)
        });
        match r {
            Ok(()) => true,
            Err(e) => {
                self.error(format!("reveal: {e}"));
                false
            }
        }
    }

    fn run_command(&mut self, line: &str) {
        let mut parts = line.split_whitespace();
        let cmd = parts.next().unwrap_or("");
        let rest: Vec<&str> = parts.collect();
        let arg = rest.join(" ");
        match cmd {
            "" => {}
            "q" | "quit" => self.quit = true,
            "filter" | "f" => self.set_filter(&arg),
            "clear" => self.set_filter(""),
            "theme" => match Theme::load(&arg, self.theme.depth) {
                Ok(t) => {
                    self.theme = t;
                    self.message(format!("theme {arg}"));
                }
                Err(e) => self.error(e),
            },
            "overview" => self.screen = Screen::Overview,
            "browser" | "tree" => self.screen = Screen::Browser,
            "folders" => {
                self.screen = Screen::Folders;
                self.load_folder();
            }
            "findings" => {
                self.screen = Screen::Findings;
                self.load_findings();
            }
            "phi" => {
                self.screen = Screen::Phi;
                self.focus = Focus::Tree;
                self.load_phi();
            }
            "plan" => self.plan_command(&rest),
            "label" | "labels" => self.open_labels(),
            "scheme" | "goto" | "history" | "advance" | "adjudicate" => {
                self.label_command(cmd, &rest)
            }
            "errors" => {
                self.screen = Screen::Browser;
                self.set_filter("findings:error");
            }
            "sort" => self.cycle_sort(),
            "mark" => self.mark(),
            "compare" => self.compare(),
            "varying" => self.varying(),
            "expand" => self.meta.fold_all(true),
            "collapse" => self.meta.fold_all(false),
            "refresh" => self.refresh(),
            "scan" => {
                if arg.is_empty() {
                    self.error("usage: scan DIR");
                } else {
                    self.start_scan(PathBuf::from(arg));
                }
            }
            "help" => self.mode = Mode::Help,
            other => self.error(format!(
                "unknown command {other:?}: quit, filter EXPR, clear, theme NAME, overview, browser, folders, findings, phi, plan save|load FILE, sort, mark, compare, varying, expand, collapse, refresh, scan DIR, help"
            )),
        }
    }

    /// Handles one key. Returns whether the screen needs redrawing.
    pub fn key(&mut self, ev: KeyEvent) {
        if ev.code == KeyCode::Char('c') && ev.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return;
        }
        match self.mode {
            Mode::Help => {
                // Movement keys scroll the help; any other key closes it.
                match movement(&ev, 200, 10) {
                    Some(d) => {
                        self.help_scroll = (self.help_scroll as isize + d).clamp(0, 200) as usize
                    }
                    None => self.mode = Mode::Normal,
                }
                return;
            }
            Mode::Filter
            | Mode::Command
            | Mode::Search
            | Mode::Ack
            | Mode::PlanValue
            | Mode::LabelNote => {
                match ev.code {
                    KeyCode::Esc => {
                        self.mode = Mode::Normal;
                        self.hint();
                    }
                    KeyCode::Enter => {
                        let text = std::mem::take(&mut self.input);
                        let mode = self.mode;
                        self.mode = Mode::Normal;
                        match mode {
                            Mode::Filter => self.set_filter(&text),
                            Mode::Command => self.run_command(&text),
                            Mode::Ack => self.acknowledge(&text),
                            Mode::LabelNote => self.label_note(&text),
                            Mode::PlanValue => {
                                self.plan_decide(crate::phi::plan::PlanAction::Replace, Some(text))
                            }
                            _ => {
                                self.meta.search = text.clone();
                                if !self.meta.find(&text) {
                                    self.error(format!("no match for {text:?}"));
                                }
                            }
                        }
                    }
                    KeyCode::Backspace => {
                        self.input.pop();
                    }
                    KeyCode::Char(c) => self.input.push(c),
                    _ => {}
                }
                return;
            }
            Mode::Normal => {}
        }
        let k = self.keys.clone();
        if k.is(&ev, "help") {
            self.mode = Mode::Help;
            self.help_scroll = 0;
            return;
        }
        if k.is(&ev, "command") {
            self.mode = Mode::Command;
            self.input.clear();
            return;
        }
        if self.screen == Screen::Label {
            // The labelling screen owns the keyboard: letters and digits are category keys.
            match ev.code {
                KeyCode::Esc | KeyCode::Char('q') => {
                    self.screen = Screen::Browser;
                    self.clear_screen = true;
                    self.preview.visible = false;
                    self.hint();
                }
                KeyCode::Char('/') => {
                    self.mode = Mode::Filter;
                    self.input = self.scope.filter.text.clone();
                }
                _ => self.label_key(&ev),
            }
            return;
        }
        if ev.code == KeyCode::Esc || k.is(&ev, "quit") {
            // Back out one level; quit from the top.
            if self.focus == Focus::Meta && self.screen != Screen::Overview {
                self.focus = Focus::Tree;
            } else if self.screen != Screen::Overview && ev.code == KeyCode::Esc {
                self.screen = Screen::Overview;
            } else {
                self.quit = true;
            }
            return;
        }
        if k.is(&ev, "overview") {
            self.screen = Screen::Overview;
            return;
        }
        if k.is(&ev, "browser") {
            self.screen = Screen::Browser;
            self.select_changed();
            return;
        }
        if k.is(&ev, "findings") {
            self.screen = Screen::Findings;
            self.focus = Focus::Tree;
            self.load_findings();
            return;
        }
        if k.is(&ev, "label") {
            self.open_labels();
            return;
        }
        if k.is(&ev, "phi") {
            self.screen = Screen::Phi;
            self.focus = Focus::Tree;
            self.load_phi();
            return;
        }
        if k.is(&ev, "folders") {
            self.screen = Screen::Folders;
            if self.folders.entries.is_empty() {
                self.load_folder();
            }
            return;
        }
        if k.is(&ev, "refresh") {
            self.refresh();
            self.message("reloaded");
            return;
        }
        if k.is(&ev, "preview")
            && matches!(self.screen, Screen::Browser | Screen::Folders)
            && !(self.focus == Focus::Meta && self.preview.visible)
        {
            self.toggle_preview();
            return;
        }
        if k.is(&ev, "switch_pane") || ev.code == KeyCode::BackTab {
            if !matches!(self.screen, Screen::Overview | Screen::Phi) {
                self.focus = match self.focus {
                    Focus::Tree => Focus::Meta,
                    Focus::Meta => Focus::Tree,
                };
            }
            return;
        }
        match (self.screen, self.focus) {
            (Screen::Overview, _) => {
                // Any movement key takes the curator to the browser.
                if matches!(ev.code, KeyCode::Enter | KeyCode::Down | KeyCode::Char('j')) {
                    self.screen = Screen::Browser;
                    self.select_changed();
                } else if k.is(&ev, "filter") {
                    self.screen = Screen::Browser;
                    self.mode = Mode::Filter;
                    self.input = self.scope.filter.text.clone();
                }
            }
            (Screen::Phi, _) => self.phi_key(&ev),
            (Screen::Label, _) => self.label_key(&ev),
            (Screen::Browser | Screen::Folders, Focus::Meta) if self.preview.visible => {
                if k.is(&ev, "preview") {
                    self.toggle_preview();
                    self.focus = Focus::Tree;
                } else {
                    self.preview_key(&ev)
                }
            }
            (_, Focus::Meta) => self.meta_key(&ev),
            (Screen::Findings, Focus::Tree) => self.findings_key(&ev),
            (Screen::Browser, Focus::Tree) => self.tree_key(&ev),
            (Screen::Folders, Focus::Tree) => {
                if k.is(&ev, "filter") {
                    self.mode = Mode::Filter;
                    self.input = self.scope.filter.text.clone();
                } else {
                    self.folder_key(&ev)
                }
            }
        }
    }

    /// The catalogue's counts for the status bar, from the tree's group rows.
    pub fn counts(&self) -> (i64, i64, i64) {
        let g = |i: usize| {
            self.tree
                .root
                .node(&[i])
                .and_then(|n| n.row.counts.first().copied())
                .unwrap_or(0)
        };
        (g(0), g(1), g(2))
    }

    /// Whether the loaded header is DICOM (for hints).
    pub fn meta_is_dicom(&self) -> bool {
        matches!(
            self.meta.content,
            Content::Header {
                loaded: Loaded::Dicom(_),
                ..
            }
        )
    }
}
