//! Labelling latency: from a label keypress to the next item's facts and picture on screen,
//! as a curator labelling one item per second sees it. The console runs in process on
//! ratatui's `TestBackend` (160x48) with the sixel encoder (font 10x20, so a 96x41-cell
//! preview is encoded at about 960x820 pixels), on generated 512×512 16-bit CT slices on
//! disk: write the label, find the next unlabelled item, read its facts, decode + window +
//! encode its picture (prefetched while the previous item was shown), draw.
//!
//! `cargo bench --bench labelling -- [--items N] [--pause MS]` (`--pause 0`: keys as fast as
//! the screen follows, so the prefetch has no time to work ahead).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dicura::synth::{slice_writer, Patient, Series, Study};
use dicura::tui::preview_pane::PreviewView;
use dicura::tui::{prepare, view, TuiOptions};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn dataset(items: usize) -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/labelling");
    let data = dir.join(format!("ct-{items}"));
    if !data.join(".complete").exists() {
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).expect("bench dir");
        let p = Patient::synthetic(11, 0);
        let st = Study::synthetic(11, 0, 0);
        let se = Series::synthetic(11, 0, &st, 0, 512, 512, items);
        for i in 0..items {
            let bytes = slice_writer(&p, &st, &se, i).finish();
            std::fs::write(data.join(format!("IM{i:05}.dcm")), bytes).expect("write");
        }
        std::fs::write(data.join(".complete"), b"").expect("marker");
    }
    let db = dir.join(format!("labelling-{items}.sqlite"));
    for s in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{s}", db.display()));
    }
    let cat = dicura::catalogue::Catalogue::open(&db).expect("catalogue");
    let opts = dicura::scan::ScanOptions {
        roots: vec![data.clone()],
        jobs: 2,
        follow_links: false,
        progress: false,
        limits: Default::default(),
        counters: None,
    };
    dicura::scan::scan(cat, &opts).expect("scan");
    let scheme = dir.join("labels.toml");
    std::fs::write(
        &scheme,
        "[[set]]\nname = \"quality\"\nlevel = \"instance\"\n\
         [[set.category]]\nname = \"good\"\nkey = \"1\"\n\
         [[set.category]]\nname = \"poor\"\nkey = \"2\"\n",
    )
    .expect("scheme");
    (db, scheme)
}

fn main() {
    let items: usize = arg("--items").and_then(|v| v.parse().ok()).unwrap_or(200);
    let pause: u64 = arg("--pause").and_then(|v| v.parse().ok()).unwrap_or(150);
    let (db, scheme) = dataset(items);
    std::env::set_var("XDG_CONFIG_HOME", "/nonexistent-dicura-bench-config");
    let (mut app, _) = prepare(&TuiOptions {
        path: Some(db.clone()),
        db,
        theme: Some("dark".into()),
        read_only: false,
        graphics: None,
        labels: Some(scheme),
        annotator: Some("bench".into()),
    })
    .expect("prepare");
    #[allow(deprecated)]
    let mut picker = ratatui_image::picker::Picker::from_fontsize((10, 20).into());
    picker.set_protocol_type(ratatui_image::picker::ProtocolType::Sixel);
    app.preview = PreviewView::start(picker, None);
    let mut term = Terminal::new(TestBackend::new(160, 48)).expect("terminal");
    app.open_labels();
    // The picture of the current item is on screen: its answer arrived and was drawn.
    let settle = |app: &mut dicura::tui::app::App, term: &mut Terminal<TestBackend>| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            term.draw(|f| view::draw(app, f)).expect("draw");
            app.poll_preview();
            while let Ok(d) = app.jobs.rx.try_recv() {
                app.done(d);
            }
            let on_screen = app
                .preview
                .shown
                .as_ref()
                .is_some_and(|(k, _, _)| Some(k) == app.preview.key.as_ref());
            if on_screen && !app.preview.pending {
                term.draw(|f| view::draw(app, f)).expect("draw");
                return;
            }
            assert!(Instant::now() < deadline, "no picture");
            std::thread::sleep(Duration::from_micros(200));
        }
    };
    settle(&mut app, &mut term);
    let n = (items - 1).min(150);
    let mut times = Vec::new();
    let started = Instant::now();
    for i in 0..n {
        // A curator looks at the picture for a moment before the next keypress: the
        // worker prefetches the next item meanwhile.
        std::thread::sleep(Duration::from_millis(pause));
        let t = Instant::now();
        let key = if i % 3 == 0 { '2' } else { '1' };
        app.key(KeyEvent::new(KeyCode::Char(key), KeyModifiers::NONE));
        settle(&mut app, &mut term);
        times.push(t.elapsed());
    }
    let total = started.elapsed();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p = |q: f64| ms(times[((times.len() as f64 * q) as usize).min(times.len() - 1)]);
    println!("\nLabelling {n} items (512x512 16-bit CT on disk, sixel, TestBackend 160x48)\n");
    println!("| keypress → next item's facts and picture drawn | ms |");
    println!("|---|---:|");
    println!("| median | {:.1} |", p(0.5));
    println!("| p95 | {:.1} |", p(0.95));
    println!("| worst | {:.1} |", ms(times[times.len() - 1]));
    println!(
        "\n{} labels in {:.1} s including a {pause} ms look at each item",
        n,
        total.as_secs_f64()
    );
    while app.jobs.busy() || !app.jobs.rx.is_empty() {
        if let Ok(d) = app.jobs.rx.recv_timeout(Duration::from_secs(10)) {
            app.done(d);
        }
    }
    let labelled = app.labels.progress.labelled;
    assert_eq!(labelled, n, "every keypress labelled one item");
}
