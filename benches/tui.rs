//! TUI benchmark on a catalogue of 1,000,000 instances: time to the first screen, and per
//! keypress (handle + redraw) for moving, expanding, paging and filtering by modality; then the
//! Findings pane over the catalogue's findings (every instance carries at least one: what the
//! per-file checks find on the synthetic header, plus one planted Type 2 finding).
//!
//! `cargo bench --bench tui -- [--instances N]`
//!
//! The catalogue is generated once into `target/bench-data/` from synthetic headers (made by
//! `dicura::synth`, parsed by dicura's own reader, written by the scanner's writer), without
//! files on disk: the browser never reads files to draw the tree. Screens are drawn on
//! ratatui's `TestBackend` at 160x48.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dicura::catalogue::{
    Catalogue, FileKind, FileStatus, InstanceRow, Payload, ScannedFile, Writer,
};
use dicura::checks::engine::FileFinding;
use dicura::formats::dicom::{read_header_from, Limits};
use dicura::synth::{slice_writer, Patient, Series, Study};
use dicura::tui::{prepare, view, TuiOptions};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const STUDIES: usize = 2;
const SERIES: usize = 4;
const INSTANCES: usize = 50;

fn catalogue(instances: usize) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let db = dir.join(format!("tui-{instances}-v2.sqlite"));
    let marker = dir.join(format!("tui-{instances}-v2.complete"));
    if marker.exists() && db.exists() {
        return db;
    }
    for s in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{s}", db.display()));
    }
    let patients = instances.div_ceil(STUDIES * SERIES * INSTANCES);
    let t = Instant::now();
    let (tx, rx) = crossbeam_channel::bounded::<Vec<ScannedFile>>(8);
    let threads = 2;
    std::thread::scope(|s| {
        for k in 0..threads {
            let tx = tx.clone();
            s.spawn(move || {
                for p in (k..patients).step_by(threads) {
                    let pat = Patient::synthetic(7, p);
                    let mut batch = Vec::new();
                    for st in 0..STUDIES {
                        let study = Study::synthetic(7, p, st);
                        for se in 0..SERIES {
                            let series = Series::synthetic(7, p, &study, se, 8, 8, INSTANCES);
                            for i in 0..INSTANCES {
                                let bytes = slice_writer(&pat, &study, &series, i).finish();
                                let Ok(h) = read_header_from(&bytes, &Limits::default()) else {
                                    continue;
                                };
                                let mut findings = dicura::checks::check_dicom_header(&h);
                                findings.push(
                                    FileFinding::new(
                                        "dicom.type2.missing",
                                        "Type 2 attribute Laterality (0020,0060) is missing",
                                    )
                                    .at(0x0020_0060, None),
                                );
                                batch.push(ScannedFile {
                                    path: format!("/bench/PAT{p:07}/ST{st}/SE{se}/IM{i:05}.dcm"),
                                    path_raw: None,
                                    root: 0,
                                    size: bytes.len() as u64,
                                    mtime_s: 0,
                                    mtime_ns: 0,
                                    ctime_ns: 0,
                                    dev: 0,
                                    ino: 0,
                                    kind: FileKind::Dicom,
                                    status: FileStatus::Ok,
                                    error: None,
                                    ext: Some("dcm".into()),
                                    previous: None,
                                    event: None,
                                    payload: Payload::Dicom(Box::new(InstanceRow::from_header(&h))),
                                    findings,
                                });
                            }
                        }
                    }
                    if tx.send(batch).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let cat = Catalogue::open(&db).expect("open the bench catalogue");
        let mut w = Writer::begin(cat, &[PathBuf::from("/bench")]).expect("writer");
        let mut n = 0;
        for batch in rx {
            n += batch.len();
            w.write_batch(&batch).expect("write");
            if n % 100_000 < batch.len() {
                eprintln!("  {n} instances ({:.0} s)", t.elapsed().as_secs_f64());
            }
        }
        w.finish("{}").expect("finish");
    });
    std::fs::write(&marker, b"").expect("marker");
    eprintln!(
        "generated {} in {:.0} s",
        db.display(),
        t.elapsed().as_secs_f64()
    );
    db
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let mut instances = 1_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--instances" {
            instances = args
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(instances);
        }
    }
    let db = catalogue(instances);
    std::env::set_var("XDG_CONFIG_HOME", "/nonexistent-dicura-bench-config");

    // First screen: open the catalogue, build the tree, draw.
    let t = Instant::now();
    let (mut app, _) = prepare(&TuiOptions {
        path: Some(db.clone()),
        db: db.clone(),
        theme: Some("dark".into()),
        read_only: true,
        graphics: None,
        labels: None,
        annotator: None,
    })
    .expect("prepare");
    let mut term = Terminal::new(TestBackend::new(160, 48)).expect("terminal");
    term.draw(|f| view::draw(&mut app, f)).expect("draw");
    let first = t.elapsed();
    // The overview arrives from the worker in two steps: counts and series-level lists, then
    // the instance histograms. Keys are timed after both, with the worker idle.
    let mut summary = None;
    while app.overview.as_ref().is_none_or(|o| o.instances_pending) {
        if let Ok(d) = app.jobs.rx.recv_timeout(Duration::from_secs(120)) {
            app.done(d);
            if summary.is_none() && app.overview.is_some() {
                summary = Some(t.elapsed());
            }
        }
    }
    let overview = t.elapsed();
    term.draw(|f| view::draw(&mut app, f)).expect("draw");

    fn press(
        term: &mut Terminal<TestBackend>,
        app: &mut dicura::tui::app::App,
        code: KeyCode,
    ) -> Duration {
        let t = Instant::now();
        app.key(KeyEvent::new(code, KeyModifiers::NONE));
        term.draw(|f| view::draw(app, f)).expect("draw");
        t.elapsed()
    }
    press(&mut term, &mut app, KeyCode::Char('2'));
    let mut moves = Vec::new();
    for _ in 0..200 {
        moves.push(press(&mut term, &mut app, KeyCode::Char('j')));
    }
    let mut pages = Vec::new();
    for _ in 0..100 {
        pages.push(press(&mut term, &mut app, KeyCode::PageDown));
    }
    for _ in 0..50 {
        pages.push(press(&mut term, &mut app, KeyCode::PageUp));
    }
    let mut expands = Vec::new();
    for _ in 0..50 {
        // Expand a patient, a study and a series; collapse the patient again; next patient.
        expands.push(press(&mut term, &mut app, KeyCode::Char('l')));
        press(&mut term, &mut app, KeyCode::Char('j'));
        expands.push(press(&mut term, &mut app, KeyCode::Char('l')));
        press(&mut term, &mut app, KeyCode::Char('j'));
        expands.push(press(&mut term, &mut app, KeyCode::Char('l')));
        press(&mut term, &mut app, KeyCode::Char('h'));
        press(&mut term, &mut app, KeyCode::Char('h'));
        press(&mut term, &mut app, KeyCode::Char('h'));
        press(&mut term, &mut app, KeyCode::Char('h'));
        press(&mut term, &mut app, KeyCode::Char('j'));
    }
    let end = press(&mut term, &mut app, KeyCode::Char('G'));
    let mut filters = Vec::new();
    for m in ["MR", "CT", "MR", "CT", "MR"] {
        let t = Instant::now();
        app.set_filter(&format!("modality:{m}"));
        term.draw(|f| view::draw(&mut app, f)).expect("draw");
        filters.push(t.elapsed());
        assert!(app.counts().0 > 0, "the filter matched nothing");
        for _ in 0..20 {
            moves.push(press(&mut term, &mut app, KeyCode::Char('j')));
        }
    }
    let t = Instant::now();
    app.set_filter("");
    term.draw(|f| view::draw(&mut app, f)).expect("draw");
    let clear = t.elapsed();

    // The Findings pane: the key answers at once, counts per rule arrive from the worker.
    let t = Instant::now();
    let open_findings = press(&mut term, &mut app, KeyCode::Char('4'));
    while app.findings.loading {
        if let Ok(d) = app.jobs.rx.recv_timeout(Duration::from_secs(300)) {
            app.done(d);
        }
    }
    let groups = t.elapsed();
    let total: i64 = app.findings.groups.iter().map(|g| g.count).sum();
    let mut finding_moves = Vec::new();
    for _ in 0..app.findings.groups.len().saturating_sub(1).min(20) {
        finding_moves.push(press(&mut term, &mut app, KeyCode::Char('j')));
    }
    press(&mut term, &mut app, KeyCode::Char('g'));
    let t = Instant::now();
    let open_rule = press(&mut term, &mut app, KeyCode::Enter);
    while app.findings.loading {
        if let Ok(d) = app.jobs.rx.recv_timeout(Duration::from_secs(300)) {
            app.done(d);
        }
    }
    let rows = t.elapsed();
    let rule_rows = app.findings.rows.len();
    for _ in 0..200 {
        finding_moves.push(press(&mut term, &mut app, KeyCode::Char('j')));
        // Metadata answers for the file under the cursor arrive meanwhile; apply them.
        while let Ok(d) = app.jobs.rx.try_recv() {
            app.done(d);
        }
    }

    println!(
        "\nCatalogue: {instances} instances ({} patients), TestBackend 160x48\n",
        app.counts().0
    );
    println!("| what | time |");
    println!("|---|---:|");
    println!("| first screen (open, tree, draw) | {} |", ms(first));
    println!(
        "| overview counts and series-level lists (background) | {} |",
        ms(summary.unwrap_or_default())
    );
    println!(
        "| overview instance histograms (background) | {} |",
        ms(overview)
    );
    println!(
        "| move (j), median of {} | {} |",
        moves.len(),
        ms(median(moves.clone()))
    );
    println!(
        "| move (j), worst | {} |",
        ms(moves.iter().max().copied().unwrap_or_default())
    );
    println!(
        "| page (PgDn/PgUp), median of {} | {} |",
        pages.len(),
        ms(median(pages))
    );
    println!(
        "| expand patient/study/series (l), median of {} | {} |",
        expands.len(),
        ms(median(expands))
    );
    println!("| jump to the end (G) | {} |", ms(end));
    println!(
        "| filter modality:CT/MR, median of {} | {} |",
        filters.len(),
        ms(median(filters))
    );
    println!("| clear the filter | {} |", ms(clear));
    println!(
        "| Findings pane ({total} findings, {} rules): key 4 | {} |",
        app.findings.groups.len(),
        ms(open_findings)
    );
    println!(
        "| Findings pane: counts per rule arrive (background) | {} |",
        ms(groups)
    );
    println!(
        "| Findings pane: Enter on the first rule (key) | {} |",
        ms(open_rule)
    );
    println!(
        "| Findings pane: its first {rule_rows} findings arrive (background) | {} |",
        ms(rows)
    );
    println!(
        "| Findings pane: move (j), median of {} | {} |",
        finding_moves.len(),
        ms(median(finding_moves.clone()))
    );
    println!(
        "| Findings pane: move (j), worst | {} |",
        ms(finding_moves.iter().max().copied().unwrap_or_default())
    );
}
