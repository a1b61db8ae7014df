//! The terminal console (ratatui + crossterm): the only place that draws.
//!
//! The loop waits for input with a short timeout, drains every pending event, applies
//! finished background work, and redraws once. The terminal is restored on quit, on panic
//! (ratatui's hook) and on SIGTERM/SIGHUP (an SSH drop).

pub mod app;
pub mod jobs;
pub mod keys;
pub mod label_pane;
pub mod meta;
pub mod phi_pane;
pub mod preview_pane;
pub mod theme;
pub mod tree;
pub mod view;

use crate::catalogue::Catalogue;
use anyhow::Context;
use crossterm::event::{self, Event, KeyEventKind};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How the console was started.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    /// A directory to scan, or a catalogue file to open.
    pub path: Option<PathBuf>,
    /// The catalogue when `path` is not one.
    pub db: PathBuf,
    pub theme: Option<String>,
    pub read_only: bool,
    /// Terminal graphics for previews: sixel, kitty, iterm, halfblocks, none; `None` (or
    /// `auto`): the config file's choice, else detected.
    pub graphics: Option<String>,
    /// A label scheme (TOML) to validate and store in the catalogue at start.
    pub labels: Option<PathBuf>,
    /// Who labels (default: `$DICURA_USER`, else the login name).
    pub annotator: Option<String>,
}

/// Resolves the catalogue and what to scan, loads theme and keys, and builds the app
/// (without touching the terminal: tests use this with ratatui's `TestBackend`).
pub fn prepare(opts: &TuiOptions) -> anyhow::Result<(app::App, Option<PathBuf>)> {
    let (db, scan_dir) = match &opts.path {
        Some(p) if p.is_dir() => (opts.db.clone(), Some(p.clone())),
        Some(p) if p.is_file() => (p.clone(), None),
        Some(p) => anyhow::bail!("{}: no such directory or catalogue", p.display()),
        None => (opts.db.clone(), None),
    };
    if opts.read_only {
        if scan_dir.is_some() {
            anyhow::bail!("--read-only browses a catalogue without writing to it: give a catalogue (or --db), not a directory to scan");
        }
        if !db.exists() {
            anyhow::bail!("catalogue {} does not exist", db.display());
        }
    } else {
        // Create and migrate it now; the views read through their own connections.
        Catalogue::open(&db).with_context(|| format!("opening {}", db.display()))?;
    }
    let config = keys::load_config().map_err(anyhow::Error::msg)?;
    let mut keys = keys::Keys::default();
    let key_errors = keys.patch(&config.keys);
    let depth = theme::Depth::detect();
    let theme_name = opts
        .theme
        .clone()
        .or(config.theme.clone())
        .unwrap_or_else(|| "dark".into());
    let theme = theme::Theme::load(&theme_name, depth).map_err(anyhow::Error::msg)?;
    let mut app = app::App::new(db, theme, keys, opts.read_only)?;
    app.graphics = opts.graphics.clone().or(config.graphics.clone());
    if let Some(g) = &app.graphics {
        // Checked now, so a typo is an error before the screen is taken over.
        preview_pane::picker_choice(g).map_err(anyhow::Error::msg)?;
    }
    if let Some(a) = &opts.annotator {
        app.labels = label_pane::LabelView::new(a);
    }
    if let Some(path) = &opts.labels {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("label scheme {}", path.display()))?;
        let scheme = crate::labels::scheme::Scheme::from_toml(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if opts.read_only {
            app.labels.scheme = Some(scheme);
        } else {
            let who = app.labels.session.annotator().to_string();
            Catalogue::open(&app.db_path)
                .and_then(|c| c.label_scheme_save(&scheme, &who))
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            app.labels.scheme = Some(scheme);
        }
    }
    if let Some(e) = key_errors.first() {
        app.error(format!("config: {e}"));
    }
    Ok((app, scan_dir))
}

/// Runs the console until the user quits.
pub fn run(opts: TuiOptions) -> anyhow::Result<()> {
    let (mut app, scan_dir) = prepare(&opts)?;
    if let Some(dir) = scan_dir {
        app.start_scan(dir);
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let mut terminal = ratatui::init();
    // The first screen at once; then the terminal's graphics protocol and font size (queries
    // with a timeout), for previews, before any key is read (so answers are not taken as keys).
    let status = std::mem::replace(
        &mut app.status,
        "asking the terminal about graphics …".to_string(),
    );
    terminal.draw(|f| view::draw(&mut app, f))?;
    app.status = status;
    match preview_pane::picker(app.graphics.as_deref()) {
        Ok(p) => app.preview = preview_pane::PreviewView::start(p, app.graphics.as_deref()),
        Err(e) => app.error(e),
    }
    // The query leaves raw mode off when it is done: the console needs it back. And a
    // terminal that does not know a query may have printed something: draw everything again.
    crossterm::terminal::enable_raw_mode()?;
    terminal.clear()?;
    // When the terminal goes away (an SSH drop), crossterm can spin inside its read of a closed
    // tty and never return to the loop that checks the signal flag: a watchdog ends the
    // process shortly after SIGHUP/SIGTERM if the loop has not.
    let watch = stop.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(100));
        if watch.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(700));
            ratatui::restore();
            std::process::exit(0);
        }
    });
    let result = event_loop(&mut app, &mut terminal, &stop);
    ratatui::restore();
    result
}

fn event_loop(
    app: &mut app::App,
    terminal: &mut ratatui::DefaultTerminal,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let mut dirty = true;
    loop {
        if dirty {
            let before = app.preview.drawn_at;
            terminal.draw(|f| view::draw(app, f))?;
            if before.is_some() && app.preview.drawn_at != before {
                // A picture moved or left: terminal graphics are not cells, so redraw all.
                terminal.clear()?;
                terminal.draw(|f| view::draw(app, f))?;
            }
            if let Some(text) = app.osc52.take() {
                osc52(&text);
            }
            dirty = false;
        }
        if app.quit || stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        if event::poll(Duration::from_millis(50))? {
            // Drain everything pending, then draw once.
            loop {
                match event::read()? {
                    Event::Key(k) if k.kind != KeyEventKind::Release => app.key(k),
                    Event::Resize(..) => {}
                    _ => {}
                }
                dirty = true;
                if app.quit || !event::poll(Duration::ZERO)? {
                    break;
                }
            }
        }
        while let Ok(done) = app.jobs.rx.try_recv() {
            app.done(done);
            dirty = true;
        }
        if app.poll_preview() {
            dirty = true;
        }
        if std::mem::take(&mut app.edit_scheme) {
            edit_scheme(app, terminal)?;
            dirty = true;
        }
        if app.screen == app::Screen::Label {
            app.labels_progress(false);
        }
        if std::mem::take(&mut app.clear_screen) {
            // A picture left the screen (pane hidden, layout changed): no stale pixels.
            terminal.clear()?;
            dirty = true;
        }
        if app.tick() {
            dirty = true;
        }
    }
}

/// `:scheme edit`: the scheme (or a template) in `$EDITOR`, then validated and stored; the
/// console is suspended meanwhile. An invalid scheme is reported and nothing is stored.
fn edit_scheme(app: &mut app::App, terminal: &mut ratatui::DefaultTerminal) -> anyhow::Result<()> {
    let text = match &app.labels.scheme {
        Some(s) => s.to_toml(),
        None => crate::labels::scheme::TEMPLATE.to_string(),
    };
    let dir = tempfile_dir()?;
    let path = dir.join("labels.toml");
    std::fs::write(&path, text)?;
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    ratatui::restore();
    let status = std::process::Command::new(&editor).arg(&path).status();
    *terminal = ratatui::init();
    terminal.clear()?;
    let edited = std::fs::read_to_string(&path);
    let _ = std::fs::remove_dir_all(&dir);
    match (status, edited) {
        (Ok(s), Ok(t)) if s.success() => match crate::labels::scheme::Scheme::from_toml(&t) {
            Ok(scheme) => app.label_scheme_store(scheme),
            Err(e) => app.error(e.to_string().replace('\n', " ")),
        },
        (Ok(_), _) => app.error(format!("{editor} failed: scheme unchanged")),
        (Err(e), _) => app.error(format!("{editor}: {e}")),
    }
    Ok(())
}

/// A private directory for the edited scheme.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir().join(format!(
        "dicura-{}-{}",
        std::process::id(),
        crate::catalogue::now() as u64
    ));
    std::fs::DirBuilder::new().mode(0o700).create(&base)?;
    Ok(base)
}

/// Puts text on the clipboard of the terminal the user sits at (works over SSH).
fn osc52(text: &str) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{b64}\x07");
    let _ = out.flush();
}
