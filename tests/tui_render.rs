//! The console's state and rendering on ratatui's `TestBackend`: snapshots of the main
//! screens at 80x24 and 160x48, and key-driven navigation, filtering, compare, varying tags,
//! masking. Snapshots live in tests/snapshots/; `UPDATE_SNAPSHOTS=1 cargo test` rewrites them.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dicura::tui::app::{App, Focus, Screen};
use dicura::tui::{prepare, view, TuiOptions};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Scans `root` into a new catalogue at `db`.
fn scan_into(db: &Path, root: &Path) {
    let cat = dicura::catalogue::Catalogue::open(db).unwrap();
    let opts = dicura::scan::ScanOptions {
        roots: vec![root.to_path_buf()],
        jobs: 2,
        follow_links: false,
        progress: false,
        limits: Default::default(),
        counters: None,
    };
    dicura::scan::scan(cat, &opts).unwrap();
}

/// A catalogue of the committed fixtures, in a temporary directory.
fn catalogue() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("catalogue.sqlite");
    scan_into(&db, &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"));
    (tmp, db)
}

/// The console on `db`, read-only (the browser) or with write access (reveals are audited,
/// labels written), with no user configuration whatever the machine has.
fn console(db: &Path, read_only: bool) -> App {
    std::env::set_var("XDG_CONFIG_HOME", "/nonexistent-dicura-test-config");
    let (mut app, _) = prepare(&TuiOptions {
        path: Some(db.to_path_buf()),
        db: db.to_path_buf(),
        theme: Some("dark".into()),
        read_only,
        graphics: None,
        labels: None,
        annotator: None,
    })
    .unwrap();
    app.db_label = "catalogue.sqlite".into();
    settle(&mut app);
    app
}

fn app(db: &Path) -> App {
    console(db, true)
}

fn app_rw(db: &Path) -> App {
    console(db, false)
}

/// Applies background results until the worker is idle.
fn settle(app: &mut App) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        while let Ok(done) = app.jobs.rx.try_recv() {
            app.done(done);
        }
        app.poll_preview();
        if !app.jobs.busy() && app.jobs.rx.is_empty() && !app.preview.pending {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
        assert!(Instant::now() < deadline, "background work did not finish");
    }
}

fn key(app: &mut App, code: KeyCode) {
    app.key(KeyEvent::new(code, KeyModifiers::NONE));
    settle(app);
}

fn keys(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn render(app: &mut App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::draw(app, f)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn snapshot(name: &str, text: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing snapshot {}: run with UPDATE_SNAPSHOTS=1",
            path.display()
        )
    });
    assert_eq!(
        text, expected,
        "snapshot {name} differs (UPDATE_SNAPSHOTS=1 to accept)"
    );
}

/// Opens PAT000001's first study and series and selects its first instance.
fn open_first_instance(app: &mut App) {
    key(app, KeyCode::Char('2'));
    // Row 0 is the DICOM group (open); rows 1.. are patients by ID: first the truncated
    // fixture (cut before its patient attributes, so no ID), then PAT000001, PAT000002.
    keys(app, "jjljljlj");
}

#[test]
fn overview_snapshots() {
    let (_tmp, db) = catalogue();
    let mut a = app(&db);
    assert_eq!(a.screen, Screen::Overview);
    let small = render(&mut a, 80, 24);
    assert!(small.contains("35 files"), "{small}");
    // 24 good files in 2 patients / 3 studies / 5 series, plus the truncated file, which
    // has no patient, study or series attributes left: one more of each.
    assert!(
        small.contains("3 patients · 4 studies · 6 series · 25 instances"),
        "{small}"
    );
    assert!(small.contains("CT") && small.contains("MR"));
    assert!(small.contains("Explicit"));
    snapshot("overview_80x24", &small);
    snapshot("overview_160x48", &render(&mut a, 160, 48));
}

#[test]
fn browser_navigation_and_metadata_snapshots() {
    let (_tmp, db) = catalogue();
    let mut a = app(&db);
    open_first_instance(&mut a);
    let small = render(&mut a, 80, 24);
    assert!(small.contains("IM00001.dcm"), "{small}");
    // The metadata pane shows the file's header, meta group first.
    assert!(small.contains("(0002,0000) UL"), "{small}");
    // Patient names are masked in the tree and in the header.
    assert!(
        !small.contains("Müller") && !small.contains("PAT000001"),
        "{small}"
    );
    assert!(small.contains("P***") || small.contains("#***"), "{small}");
    snapshot("browser_80x24", &small);
    let large = render(&mut a, 160, 48);
    assert!(large.contains("(0010,0010) PN"), "{large}");
    assert!(large.contains("M*** J***"), "{large}");
    snapshot("browser_160x48", &large);

    // Reveal the patient row: refused read-only (a reveal is audited); with write access
    // one row at a time, recorded first.
    keys(&mut a, "ggjj");
    key(&mut a, KeyCode::Char('r'));
    assert!(a.status.contains("read-only"), "{}", a.status);
    assert!(!render(&mut a, 120, 30).contains("Müller^Jürgen"));
    let mut a = app_rw(&db);
    key(&mut a, KeyCode::Char('2'));
    keys(&mut a, "ggjj");
    key(&mut a, KeyCode::Char('r'));
    let revealed = render(&mut a, 120, 30);
    assert!(
        revealed.contains("PAT000001") && revealed.contains("Müller^Jürgen"),
        "{revealed}"
    );
    let audit = dicura::catalogue::Catalogue::open(&db)
        .unwrap()
        .phi_reveals()
        .unwrap();
    let kw: Vec<&str> = audit.iter().map(|r| r.keyword.as_str()).collect();
    assert_eq!(kw, vec!["PatientID", "PatientName"], "newest first");
    key(&mut a, KeyCode::Char('j'));
    assert!(!render(&mut a, 120, 30).contains("Müller^Jürgen"));

    // Collapse with h, leave with q from the tree's top level only after Esc.
    key(&mut a, KeyCode::Char('k'));
    key(&mut a, KeyCode::Char('h'));
    let collapsed = render(&mut a, 120, 30);
    assert!(!collapsed.contains("#1 IM00001.dcm"), "{collapsed}");
}

#[test]
fn sequences_fold_and_search_jumps_to_a_tag() {
    let (_tmp, db) = catalogue();
    let mut a = app(&db);
    open_first_instance(&mut a);
    key(&mut a, KeyCode::Tab);
    assert_eq!(a.focus, Focus::Meta);
    // Search by keyword: ProcedureCodeSequence (0008,1032) is in the first CT series.
    key(&mut a, KeyCode::Char('/'));
    keys(&mut a, "ProcedureCode");
    key(&mut a, KeyCode::Enter);
    let line = &a.meta.lines[a.meta.cursor];
    assert_eq!(line.name, "ProcedureCodeSequence");
    assert!(line.is_sequence && !line.expanded);
    key(&mut a, KeyCode::Enter);
    let text = render(&mut a, 160, 48);
    assert!(text.contains("Item 1"), "{text}");
    assert!(text.contains("CodeMeaning"), "{text}");
    // Search by tag finds an element inside the sequence and opens it.
    key(&mut a, KeyCode::Char('h'));
    assert!(!render(&mut a, 160, 48).contains("Item 1"));
    key(&mut a, KeyCode::Char('/'));
    keys(&mut a, "0008,0104");
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.meta.lines[a.meta.cursor].name, "CodeMeaning");
    // Private elements are named by their creator.
    key(&mut a, KeyCode::Char('/'));
    keys(&mut a, "0029,1010");
    key(&mut a, KeyCode::Enter);
}

#[test]
fn filter_by_modality_kind_and_tag() {
    let (_tmp, db) = catalogue();
    let mut a = app(&db);
    key(&mut a, KeyCode::Char('2'));
    let patients = |a: &App| a.counts().0;
    assert_eq!(patients(&a), 3);
    key(&mut a, KeyCode::Char('/'));
    keys(&mut a, "modality:MR");
    key(&mut a, KeyCode::Enter);
    assert_eq!(patients(&a), 2, "MR series belong to both named patients");
    let text = render(&mut a, 120, 30);
    assert!(text.contains("filter: modality:MR"), "{text}");
    // Only MR series under the patients.
    keys(&mut a, "jljl");
    let text = render(&mut a, 120, 30);
    assert!(text.contains(" MR ") && !text.contains(" CT "), "{text}");
    // An element filter runs in the background and lands.
    key(&mut a, KeyCode::Char('/'));
    for _ in 0..20 {
        key(&mut a, KeyCode::Backspace);
    }
    keys(&mut a, "tag:0029,*");
    key(&mut a, KeyCode::Enter);
    assert_eq!(patients(&a), 2);
    key(&mut a, KeyCode::Char('x'));
    assert_eq!(patients(&a), 3);
    key(&mut a, KeyCode::Char('/'));
    keys(&mut a, "kind:nifti");
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.counts(), (0, 2, 0));
    // A bad filter is an error on the status line, not a crash.
    key(&mut a, KeyCode::Char('/'));
    keys(&mut a, " Nope=1");
    key(&mut a, KeyCode::Enter);
    assert!(a.status_error && a.status.contains("Nope"), "{}", a.status);
}

#[test]
fn compare_and_varying_tags() {
    let (_tmp, db) = catalogue();
    let mut a = app(&db);
    open_first_instance(&mut a);
    key(&mut a, KeyCode::Char('m'));
    key(&mut a, KeyCode::Char('j'));
    key(&mut a, KeyCode::Char('c'));
    let text = render(&mut a, 160, 48);
    assert!(text.contains("Compare"), "{text}");
    for tag in ["0008,0018", "0020,0013", "0020,0032"] {
        assert!(
            text.contains(tag),
            "{tag} missing from the comparison:\n{text}"
        );
    }
    assert!(
        !text.contains("0008,0060"),
        "Modality does not differ:\n{text}"
    );
    // Back to the tree, then the varying tags of the series.
    key(&mut a, KeyCode::Esc);
    key(&mut a, KeyCode::Char('v'));
    let text = render(&mut a, 160, 48);
    assert!(text.contains("vary across 6"), "{text}");
    assert!(
        text.contains("InstanceNumber") && text.contains("SliceLocation"),
        "{text}"
    );
}

#[test]
fn help_lists_every_key_and_small_terminals_do_not_break() {
    let (_tmp, db) = catalogue();
    let mut a = app(&db);
    key(&mut a, KeyCode::Char('?'));
    let text = render(&mut a, 100, 40);
    for (action, default, _) in dicura::tui::keys::ACTIONS {
        let _ = action;
        assert!(
            text.contains(&format!(" {default}  ")) || default.len() > 1,
            "{default}"
        );
    }
    assert!(text.contains("modality:CT"));
    snapshot("help_100x40", &text);
    // Longer than the screen: movement keys scroll to the end, other keys close it.
    key(&mut a, KeyCode::Char('G'));
    let text = render(&mut a, 100, 40);
    assert!(
        text.contains("plan save FILE") && text.contains("Masked values"),
        "{text}"
    );
    assert_eq!(a.mode, dicura::tui::app::Mode::Help);
    key(&mut a, KeyCode::Esc);
    open_first_instance(&mut a);
    for (w, h) in [(20, 5), (40, 10), (80, 24), (250, 70), (1, 1)] {
        let _ = render(&mut a, w, h);
    }
    // q backs out of the metadata pane, then quits.
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Char('q'));
    assert!(!a.quit);
    key(&mut a, KeyCode::Char('q'));
    assert!(a.quit);
}

#[test]
fn findings_pane_lists_rules_jumps_to_the_element_and_acknowledges() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("defects");
    dicura::synth::write_defects(&data).unwrap();
    let db = tmp.path().join("catalogue.sqlite");
    scan_into(&db, &data);
    let mut a = console(&db, false);
    key(&mut a, KeyCode::Char('4'));
    assert_eq!(a.screen, Screen::Findings);
    assert!(
        !a.findings.groups.is_empty(),
        "no findings on the defect set"
    );
    let text = render(&mut a, 160, 48);
    assert!(
        text.contains("Findings:") && text.contains("series.slice.gap"),
        "{text}"
    );
    // Drill into the first rule with a tag on a file, see the element under the cursor.
    let idx = a
        .findings
        .groups
        .iter()
        .position(|g| g.code.starts_with("dicom.type"))
        .expect("a Type 1/2 rule among the planted defects");
    a.findings.group_cursor = idx;
    key(&mut a, KeyCode::Enter);
    assert!(!a.findings.rows.is_empty());
    let row = a.findings.rows[0].clone();
    let tag = row.tag.clone().expect("a tag");
    let shown = render(&mut a, 160, 48);
    assert!(shown.contains(&row.code), "{shown}");
    if let Some(line) = a.meta.lines.get(a.meta.cursor) {
        // Missing elements are not in the header: then the cursor stays at the top.
        if line.tag.is_some() && line.left.contains(&format!("({tag})")) {
            assert!(line.left.contains(&tag));
        }
    }
    // Acknowledge with a reason: shown as such, counted in the rule's row.
    key(&mut a, KeyCode::Char('a'));
    keys(&mut a, "known site convention");
    key(&mut a, KeyCode::Enter);
    assert!(a.status.contains("acknowledged"), "{}", a.status);
    assert!(a.findings.rows.iter().any(|r| r.acknowledged));
    // Back to the rules, then filter the browser to files with errors.
    key(&mut a, KeyCode::Char('h'));
    key(&mut a, KeyCode::Char('e'));
    assert_eq!(a.screen, Screen::Browser);
    assert_eq!(a.scope.filter.text, "findings:error");
}

/// A writable console on a generated dataset full of PHI (names, IDs, leaks in descriptions
/// and paths).
fn phi_app(read_only: bool) -> (tempfile::TempDir, PathBuf, dicura::synth::PlantedPhi, App) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("phi");
    let planted = dicura::synth::write_phi_dataset(&data, 3, 2).unwrap();
    let db = tmp.path().join("catalogue.sqlite");
    scan_into(&db, &data);
    if read_only {
        // Detection must exist before a read-only console can show it.
        dicura::catalogue::Catalogue::open(&db)
            .unwrap()
            .phi_refresh()
            .unwrap();
    }
    let a = console(&db, read_only);
    (tmp, db, planted, a)
}

fn reveals(db: &Path) -> usize {
    dicura::catalogue::Catalogue::open(db)
        .unwrap()
        .phi_reveals()
        .unwrap()
        .len()
}

#[test]
fn phi_pane_masks_reveals_one_row_with_audit_and_builds_the_plan() {
    let (tmp, db, planted, mut a) = phi_app(false);
    key(&mut a, KeyCode::Char('5'));
    assert_eq!(a.screen, Screen::Phi);
    assert!(!a.phi.summary.is_empty(), "no PHI summary");
    // Leaks come first: the patient ID is planted in the series description and the path.
    assert_eq!(a.phi.summary[0].reason, "text_leak");
    assert!(a.phi.summary.iter().any(|r| r.reason == "path_leak"));
    let text = render(&mut a, 160, 48);
    assert!(
        text.contains("PatientName") && text.contains("PHI:"),
        "{text}"
    );
    snapshot("phi_summary_160x48", &text);
    for s in &planted.strings {
        assert!(!text.contains(s.as_str()), "{s:?} shown unmasked:\n{text}");
    }

    // The files of PatientName: masked, then one revealed (and audited), then hidden again.
    a.phi.cursor = a
        .phi
        .summary
        .iter()
        .position(|r| r.keyword == "PatientName" && r.reason == "attribute")
        .unwrap();
    key(&mut a, KeyCode::Enter);
    assert_eq!(
        a.phi.rows.len(),
        planted.files.len(),
        "every file has a name"
    );
    let text = render(&mut a, 160, 48);
    for s in &planted.strings {
        assert!(!text.contains(s.as_str()), "{s:?} shown unmasked:\n{text}");
    }
    assert!(text.contains("***"), "{text}");
    assert_eq!(reveals(&db), 0);
    key(&mut a, KeyCode::Char('r'));
    assert_eq!(reveals(&db), 1, "a reveal is recorded before it is shown");
    let text = render(&mut a, 160, 48);
    let shown: Vec<&String> = planted
        .strings
        .iter()
        .filter(|s| s.contains('^') && text.contains(s.as_str()))
        .collect();
    assert_eq!(
        shown.len(),
        1,
        "exactly the selected row's name is revealed:\n{text}"
    );
    key(&mut a, KeyCode::Char('j'));
    let text = render(&mut a, 160, 48);
    assert!(
        !planted
            .strings
            .iter()
            .any(|s| s.contains('^') && text.contains(s.as_str())),
        "moving hides the value again:\n{text}"
    );

    // A text leak shows its context with the leak masked.
    key(&mut a, KeyCode::Char('h'));
    a.phi.cursor = a
        .phi
        .summary
        .iter()
        .position(|r| r.reason == "text_leak" && r.keyword == "SeriesDescription")
        .unwrap();
    key(&mut a, KeyCode::Enter);
    let first = &a.phi.rows[0];
    assert!(first
        .pieces
        .iter()
        .any(|(s, leak)| *leak && s.contains("***")));
    assert!(first
        .pieces
        .iter()
        .any(|(s, leak)| !leak && s.contains("HEAD")));

    // Plan: remove PatientName, replace InstitutionName (typed), then save and reload.
    key(&mut a, KeyCode::Char('h'));
    a.phi.cursor = a
        .phi
        .summary
        .iter()
        .position(|r| r.keyword == "PatientName" && r.reason == "attribute")
        .unwrap();
    key(&mut a, KeyCode::Char('D'));
    a.phi.cursor = a
        .phi
        .summary
        .iter()
        .position(|r| r.keyword == "InstitutionName")
        .unwrap();
    key(&mut a, KeyCode::Char('C'));
    keys(&mut a, "SITE A");
    key(&mut a, KeyCode::Enter);
    let plan = dicura::catalogue::Catalogue::open(&db)
        .unwrap()
        .plan_load()
        .unwrap();
    assert_eq!(
        plan.for_tag(0x0010_0010).map(|r| r.action.as_str()),
        Some("remove")
    );
    let inst = plan.for_tag(0x0008_0080).unwrap();
    assert_eq!(
        (inst.action.as_str(), inst.value.as_deref()),
        ("replace", Some("SITE A"))
    );
    let text = render(&mut a, 160, 48);
    assert!(text.contains("replace*"), "{text}");
    let saved = tmp.path().join("plan.toml");
    key(&mut a, KeyCode::Char(':'));
    keys(&mut a, &format!("plan save {}", saved.display()));
    key(&mut a, KeyCode::Enter);
    let toml = std::fs::read_to_string(&saved).unwrap();
    assert!(
        toml.contains("0010,0010") && toml.contains("SITE A"),
        "{toml}"
    );
    key(&mut a, KeyCode::Char('U'));
    let plan = dicura::catalogue::Catalogue::open(&db)
        .unwrap()
        .plan_load()
        .unwrap();
    assert!(
        plan.for_tag(0x0008_0080).is_none(),
        "U returns to the profile"
    );
    key(&mut a, KeyCode::Char(':'));
    keys(&mut a, &format!("plan load {}", saved.display()));
    key(&mut a, KeyCode::Enter);
    let plan = dicura::catalogue::Catalogue::open(&db)
        .unwrap()
        .plan_load()
        .unwrap();
    assert!(plan.for_tag(0x0008_0080).is_some(), "{}", a.status);
}

#[test]
fn phi_pane_read_only_never_reveals_unaudited() {
    let (_tmp, db, planted, mut a) = phi_app(true);
    key(&mut a, KeyCode::Char('5'));
    a.phi.cursor = a
        .phi
        .summary
        .iter()
        .position(|r| r.keyword == "PatientName" && r.reason == "attribute")
        .unwrap();
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Char('r'));
    assert!(
        a.status_error && a.status.contains("read-only"),
        "{}",
        a.status
    );
    let text = render(&mut a, 160, 48);
    for s in &planted.strings {
        assert!(!text.contains(s.as_str()), "{s:?} shown unmasked:\n{text}");
    }
    assert_eq!(reveals(&db), 0);
    key(&mut a, KeyCode::Char('D'));
    assert!(a.status.contains("read-only"), "{}", a.status);
}

/// Draws, lets the preview worker answer the pane size it was asked for, draws again.
fn render_settled(app: &mut App, w: u16, h: u16) -> String {
    let _ = render(app, w, h);
    settle(app);
    render(app, w, h)
}

/// The preview pane on the corpus's CT (half-blocks on the TestBackend): picture, caption
/// with the window in HU, orientation labels; window keys; a file without pixels explains
/// itself; the metadata comes back when the pane closes.
#[test]
fn preview_pane_shows_slices_windows_and_errors() {
    let Some(corpus) = common_corpus() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("catalogue.sqlite");
    scan_into(&db, &corpus.join("dicom"));
    let mut a = app(&db);
    key(&mut a, KeyCode::Char('2'));
    a.set_filter("path:*CT_small.dcm");
    settle(&mut a);
    keys(&mut a, "jljljlj");
    let (_, node) = a.selected().expect("a selection");
    assert_eq!(node.kind, dicura::tui::tree::Kind::Instance);
    key(&mut a, KeyCode::Char('p'));
    assert!(a.preview.visible);
    let text = render_settled(&mut a, 160, 48);
    assert!(text.contains("Preview CT_small.dcm"), "{text}");
    assert!(text.contains("frame 1/1"), "{text}");
    // CT_small has no window in its header: the full range of its values, in HU.
    assert!(text.contains(" HU (full range)"), "{text}");
    // Half-blocks draw the picture with ▀/▄ cells.
    assert!(
        text.matches('▀').count() + text.matches('▄').count() > 200,
        "{text}"
    );
    // Orientation labels of an axial slice.
    for l in [" A ", " P "] {
        assert!(text.contains(l) || text.contains(l.trim()), "{l}: {text}");
    }
    // Focus the pane: a CT preset, then invert.
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Char('W'));
    let text = render_settled(&mut a, 160, 48);
    assert!(text.contains("C 40 W 80 HU (preset brain)"), "{text}");
    key(&mut a, KeyCode::Char('i'));
    let text = render_settled(&mut a, 160, 48);
    assert!(text.contains("inverted"), "{text}");
    // p closes the preview from its own focus; the metadata pane is back.
    key(&mut a, KeyCode::Char('p'));
    assert!(!a.preview.visible);
    let text = render_settled(&mut a, 160, 48);
    assert!(text.contains("(0008,0060) CS"), "{text}");

    // A structured report has no pixel data: a clear message, no picture.
    a.set_filter("path:*test-SR.dcm");
    settle(&mut a);
    key(&mut a, KeyCode::Char('p'));
    keys(&mut a, "jljljlj");
    let text = render_settled(&mut a, 160, 48);
    assert!(a.preview.error.is_some(), "{text}");
    assert!(text.to_lowercase().contains("pixel"), "{text}");
    assert_eq!(text.matches('▀').count(), 0, "{text}");
    for (w, h) in [(20, 5), (40, 10), (80, 24), (1, 1)] {
        let _ = render(&mut a, w, h);
    }
}

fn common_corpus() -> Option<PathBuf> {
    let p = std::env::var_os("DICURA_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if p.is_dir() {
        Some(p)
    } else {
        assert!(std::env::var("CI").is_err(), "the corpus is required in CI");
        None
    }
}
