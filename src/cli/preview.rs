//! `dicura render` (a PNG of what the Preview pane shows) and `dicura view` (one picture in
//! the terminal, like `cat`). Both are thin: the work is in [`crate::preview`].

use crate::preview::{self, Axis, Source, View, Window};
use anyhow::{bail, Context};
use clap::ValueEnum;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Window options shared by `render` and `view`.
#[derive(Debug, Clone, clap::Args)]
pub struct WindowArgs {
    /// Window center and width, e.g. --window 40,400
    #[arg(long, value_name = "C,W", allow_hyphen_values = true, group = "win")]
    pub window: Option<String>,
    /// CT preset: brain, subdural, stroke, lung, mediastinum, abdomen, liver, bone
    #[arg(long, value_name = "NAME", group = "win")]
    pub preset: Option<String>,
    /// Window from the 1st to the 99th percentile of the values
    #[arg(long, group = "win")]
    pub auto: bool,
    /// Window from the minimum to the maximum value
    #[arg(long, group = "win")]
    pub full_range: bool,
    /// The N-th window of the header (1-based)
    #[arg(long, value_name = "N", group = "win")]
    pub header_window: Option<usize>,
    /// Invert the grey scale
    #[arg(long)]
    pub invert: bool,
}

impl WindowArgs {
    fn window(&self) -> anyhow::Result<Window> {
        if let Some(s) = &self.window {
            let (c, w) = s
                .split_once(',')
                .context("--window wants CENTER,WIDTH (e.g. 40,400)")?;
            let center: f64 = c
                .trim()
                .parse()
                .context("--window: center is not a number")?;
            let width: f64 = w
                .trim()
                .parse()
                .context("--window: width is not a number")?;
            if !center.is_finite() || !width.is_finite() || width < 1.0 {
                bail!("--window: width must be at least 1");
            }
            return Ok(Window::Manual { center, width });
        }
        if let Some(p) = &self.preset {
            if preview::window::preset(p).is_none() {
                bail!("{}", preview::PreviewError::UnknownPreset(p.clone()));
            }
            return Ok(Window::Preset(p.clone()));
        }
        if self.auto {
            return Ok(Window::Auto);
        }
        if self.full_range {
            return Ok(Window::FullRange);
        }
        if let Some(n) = self.header_window {
            if n == 0 {
                bail!("--header-window counts from 1");
            }
            return Ok(Window::Header(n - 1));
        }
        Ok(Window::Default)
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum AxisArg {
    Axial,
    Coronal,
    Sagittal,
}

impl From<AxisArg> for Axis {
    fn from(a: AxisArg) -> Axis {
        match a {
            AxisArg::Axial => Axis::Axial,
            AxisArg::Coronal => Axis::Coronal,
            AxisArg::Sagittal => Axis::Sagittal,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Graphics {
    Sixel,
    Kitty,
    Iterm,
    Halfblocks,
    None,
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// A DICOM file, a NIfTI/Analyze file, or several DICOM files / a folder of one series
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output PNG (8-bit grey or RGB)
    #[arg(long, value_name = "OUT.png")]
    pub out: PathBuf,
    /// Frame of a multi-frame file, or instance of a series (0-based)
    #[arg(long, value_name = "N", conflicts_with = "slice")]
    pub frame: Option<usize>,
    /// Reformat plane (series with consistent geometry, volumes)
    #[arg(long, value_enum)]
    pub axis: Option<AxisArg>,
    /// Slice along --axis (0-based; default: the middle one)
    #[arg(long, value_name = "N")]
    pub slice: Option<usize>,
    /// Time point of a 4-D volume (0-based)
    #[arg(long, value_name = "T", default_value_t = 0)]
    pub time: usize,
    #[command(flatten)]
    pub win: WindowArgs,
    /// Fit into WxH pixels (area average, aspect kept); default: native size
    #[arg(long, value_name = "WxH")]
    pub size: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ViewArgs {
    /// A DICOM or NIfTI/Analyze file
    pub file: PathBuf,
    /// Frame of a multi-frame file / slice of a volume (0-based)
    #[arg(long, value_name = "N")]
    pub frame: Option<usize>,
    /// Time point of a 4-D volume (0-based)
    #[arg(long, value_name = "T", default_value_t = 0)]
    pub time: usize,
    #[command(flatten)]
    pub win: WindowArgs,
    /// Terminal graphics protocol [default: the config file's `graphics`, else detected]
    #[arg(long, value_enum)]
    pub graphics: Option<Graphics>,
}

fn parse_size(s: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .context("--size wants WIDTHxHEIGHT (e.g. 800x600)")?;
    let w: u32 = w.trim().parse().context("--size: bad width")?;
    let h: u32 = h.trim().parse().context("--size: bad height")?;
    if w == 0 || h == 0 || w > 65535 || h > 65535 {
        bail!("--size: width and height must be 1..65535");
    }
    Ok((w, h))
}

/// One path → its own kind; several paths or a folder → a series.
fn source_of(files: &[PathBuf]) -> anyhow::Result<Source> {
    if let [one] = files {
        if one.is_dir() {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(one)
                .with_context(|| format!("cannot read {}", one.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            paths.sort();
            return Ok(Source::Series { paths });
        }
        return Ok(Source::from_path(one));
    }
    Ok(Source::Series {
        paths: files.to_vec(),
    })
}

pub fn render(out: &mut impl Write, a: &RenderArgs) -> anyhow::Result<i32> {
    let source = source_of(&a.files)?;
    let max_size = a.size.as_deref().map(parse_size).transpose()?;
    let mut opened = preview::open(&source)?;
    let axis = a.axis.map(Axis::from);
    let index = match (a.frame, a.slice, axis) {
        (Some(f), _, _) => f,
        (_, Some(s), _) => s,
        // Default slice of a reformat / volume: the middle one.
        (None, None, Some(ax)) => opened.count(Some(ax)) / 2,
        (None, None, None) if opened.info().kind == preview::Kind::Volume => {
            opened.info().count / 2
        }
        _ => 0,
    };
    let view = View {
        index,
        axis,
        time: a.time,
        window: a.win.window()?,
        invert: a.win.invert,
        max_size,
        stored_grid: false,
    };
    let r = opened.render(&view)?;
    r.picture
        .save_png(&a.out)
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    writeln!(out, "{}", describe(&r))?;
    Ok(0)
}

/// One line about a rendered picture (no patient data).
fn describe(r: &preview::Rendered) -> String {
    let mut s = format!(
        "{}x{} {} of {}",
        r.picture.width(),
        r.picture.height(),
        r.index + 1,
        r.count
    );
    if let Some((c, w)) = r.window {
        s.push_str(&format!(" window {c:.1}/{w:.1}"));
        if let Some(u) = &r.units {
            s.push(' ');
            s.push_str(u);
        }
        s.push_str(&format!(" ({})", r.window_label));
    }
    let l = &r.labels;
    if l.iter().any(|x| x.is_some()) {
        let g = |i: usize| l[i].clone().unwrap_or_else(|| "?".into());
        s.push_str(&format!(
            " top {} right {} bottom {} left {}",
            g(0),
            g(1),
            g(2),
            g(3)
        ));
    }
    s
}

pub fn view(out: &mut impl Write, a: &ViewArgs) -> anyhow::Result<i32> {
    let source = source_of(std::slice::from_ref(&a.file))?;
    let mut opened = preview::open(&source)?;
    // --graphics, else the config file's `graphics` (as in the console), else detected.
    let configured = crate::tui::keys::load_config()
        .ok()
        .and_then(|c| c.graphics)
        .and_then(|g| <Graphics as clap::ValueEnum>::from_str(&g, true).ok());
    let graphics = a.graphics.or(configured).unwrap_or_else(detect_graphics);
    let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
    let rows = rows.saturating_sub(2).max(1);
    // Pixel size of the text area if the terminal tells it, else a common cell size.
    let (pw, ph) = match crossterm::terminal::window_size() {
        Ok(ws) if ws.width > 0 && ws.height > 0 && ws.columns > 0 && ws.rows > 0 => (
            ws.width as u32 * cols as u32 / ws.columns as u32,
            ws.height as u32 * rows as u32 / ws.rows as u32,
        ),
        _ => (cols as u32 * 10, rows as u32 * 20),
    };
    let index = a.frame.unwrap_or(match opened.info().kind {
        preview::Kind::Volume => opened.info().count / 2,
        _ => 0,
    });
    let view = View {
        index,
        axis: None,
        time: a.time,
        window: a.win.window()?,
        invert: a.win.invert,
        max_size: Some((pw.max(1), ph.max(1))),
        stored_grid: false,
    };
    let r = opened.render(&view)?;
    match graphics {
        Graphics::Sixel => {
            let bytes = preview::encode_sixel(&r.picture.to_rgb())?;
            out.write_all(&bytes)?;
            writeln!(out)?;
        }
        Graphics::None => {}
        g => {
            out.flush()?;
            let img = ::image::DynamicImage::ImageRgb8(r.picture.to_rgb());
            let conf = viuer::Config {
                width: Some(cols as u32),
                height: Some(rows as u32),
                absolute_offset: false,
                use_kitty: g == Graphics::Kitty,
                use_iterm: g == Graphics::Iterm,
                use_sixel: false,
                ..Default::default()
            };
            viuer::print(&img, &conf).map_err(|e| match e {
                // Keep I/O errors as such so that a closed pipe is not reported.
                viuer::ViuError::Io(io) => anyhow::Error::from(io),
                other => anyhow::anyhow!("terminal output: {other}"),
            })?;
        }
    }
    writeln!(out, "{}", describe(&r))?;
    Ok(0)
}

/// The terminal's graphics protocol: environment first (kitty, iTerm2/WezTerm), then a DA1
/// query with a timeout (attribute 4 = sixel), then half blocks.
pub fn detect_graphics() -> Graphics {
    let term = std::env::var("TERM").unwrap_or_default();
    let program = std::env::var("TERM_PROGRAM").unwrap_or_default();
    if std::env::var_os("KITTY_WINDOW_ID").is_some()
        || term == "xterm-kitty"
        || program == "ghostty"
    {
        return Graphics::Kitty;
    }
    if program == "iTerm.app" || program == "WezTerm" {
        return Graphics::Iterm;
    }
    if term.contains("sixel")
        || term.starts_with("mlterm")
        || term.starts_with("foot")
        || term.starts_with("yaft")
    {
        return Graphics::Sixel;
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        if let Some(answer) = query_da1(std::time::Duration::from_millis(300)) {
            if da1_has_sixel(&answer) {
                return Graphics::Sixel;
            }
        }
    }
    Graphics::Halfblocks
}

/// Whether a Primary Device Attributes answer (`ESC [ ? 63 ; 1 ; 4 ; ... c`) lists sixel (4).
pub fn da1_has_sixel(answer: &str) -> bool {
    answer.contains(";4;") || answer.contains(";4c")
}

/// Sends DA1 (`ESC [ c`) to the controlling terminal and waits at most `timeout` for the
/// answer. A terminal that does not answer costs the timeout, never a hang.
fn query_da1(timeout: std::time::Duration) -> Option<String> {
    use std::io::Read;
    let tty_path = Path::new("/dev/tty");
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(tty_path)
        .ok()?;
    let mut reader = tty.try_clone().ok()?;
    crossterm::terminal::enable_raw_mode().ok()?;
    let (tx, rx) = std::sync::mpsc::channel();
    let _ = tty.write_all(b"\x1b[c").and_then(|_| tty.flush());
    std::thread::spawn(move || {
        let mut answer = Vec::new();
        let mut b = [0u8; 1];
        while answer.len() < 256 && reader.read_exact(&mut b).is_ok() {
            answer.push(b[0]);
            if b[0] == b'c' {
                break;
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&answer).into_owned());
    });
    let answer = rx.recv_timeout(timeout).ok();
    let _ = crossterm::terminal::disable_raw_mode();
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn da1_answers() {
        // xterm -ti vt340
        assert!(da1_has_sixel("\x1b[?63;1;2;4;6;9;15;16;22;28c"));
        assert!(da1_has_sixel("\x1b[?62;4c"));
        // plain xterm
        assert!(!da1_has_sixel("\x1b[?64;1;2;6;9;15;16;17;18;21;22;28c"));
    }

    #[test]
    fn sizes_and_windows() {
        assert_eq!(parse_size("800x600").unwrap(), (800, 600));
        assert!(parse_size("0x5").is_err());
        assert!(parse_size("800").is_err());
        let w = WindowArgs {
            window: Some("-600,1500".into()),
            preset: None,
            auto: false,
            full_range: false,
            header_window: None,
            invert: false,
        };
        assert_eq!(
            w.window().unwrap(),
            Window::Manual {
                center: -600.0,
                width: 1500.0
            }
        );
    }
}
