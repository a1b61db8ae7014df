//! The Preview pane: the selected instance, series or volume as an image in the terminal
//! (sixel, kitty, iTerm2, or Unicode half-blocks anywhere else), through ratatui-image.
//!
//! Decoding, windowing and encoding run on a worker thread that keeps only the newest
//! request (a curator scrolling through slices wants the slice under the cursor, not every
//! slice passed) and, when idle, decodes the neighbours ahead. The picture is decoded at the
//! pane's pixel size (never larger), and the previous picture stays on screen until the new
//! one is ready, so scrolling does not flicker.

use crate::preview::{self, Axis, Info, Opened, Source, View, Window};
use crossbeam_channel::{unbounded, Receiver, Sender};
use ratatui::layout::Size;
use ratatui_image::picker::{Picker, ProtocolType};
use ratatui_image::protocol::Protocol;
use ratatui_image::Resize;
use std::collections::VecDeque;

/// An index meaning "the middle image".
pub const MIDDLE: usize = usize::MAX / 2;

/// What is previewed, by its catalogue identity (to drop stale answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKey {
    File(i64),
    Series(i64),
}

/// A request: the source, the view and the pane's size in cells.
#[derive(Debug, Clone)]
pub struct Request {
    pub key: SourceKey,
    pub source: Source,
    pub view: View,
    pub cells: (u16, u16),
    /// 1:1 (crop to the pane) instead of fitting.
    pub native: bool,
    /// Prepare it (decode and encode into the worker's cache) without answering: the item a
    /// labelling keypress will move to.
    pub prefetch: bool,
}

/// What the pane prints around the picture (everything of the render but the pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct Caption {
    pub index: usize,
    pub count: usize,
    pub window: Option<(f64, f64)>,
    pub window_label: String,
    pub units: Option<String>,
    pub histogram: [u32; 64],
    pub value_range: (f64, f64),
    pub labels: [Option<String>; 4],
    pub source_size: (u32, u32),
    pub picture_size: (u32, u32),
}

/// The worker's answer.
pub struct Answer {
    pub key: SourceKey,
    pub view: View,
    pub cells: (u16, u16),
    pub result: Result<Shown, String>,
    /// Milliseconds from the request being taken to the picture being encoded.
    pub millis: f64,
}

/// A picture ready to draw.
#[derive(Clone)]
pub struct Shown {
    pub protocol: Protocol,
    pub info: Info,
    pub caption: Caption,
}

/// The pane's state in the app.
pub struct PreviewView {
    /// Pictures are drawn (`--graphics none`: captions only).
    pub pictures: bool,
    /// The right pane shows the preview instead of the metadata.
    pub visible: bool,
    pub key: Option<SourceKey>,
    pub source: Option<Source>,
    pub view: View,
    pub native: bool,
    /// The picture on screen and what it is.
    pub shown: Option<(SourceKey, View, Shown)>,
    pub error: Option<String>,
    /// A request is out and not answered.
    pub pending: bool,
    /// Pane size (cells) of the last request, to ask again when the pane changes.
    pub cells: (u16, u16),
    pub protocol: ProtocolType,
    pub last_millis: Option<f64>,
    /// Where the last frame drew a picture (set while drawing): when it moves or goes, the
    /// console clears the screen, so no stale pixels stay behind.
    pub drawn_at: Option<ratatui::layout::Rect>,
    tx: Sender<Request>,
    pub rx: Receiver<Answer>,
}

impl PreviewView {
    /// Starts the worker with a picker (the terminal's graphics protocol and font size);
    /// `graphics = "none"` shows captions without pictures.
    pub fn start(picker: Picker, graphics: Option<&str>) -> PreviewView {
        let pictures = !graphics.is_some_and(|g| g.eq_ignore_ascii_case("none"));
        let (tx, job_rx) = unbounded::<Request>();
        let (done_tx, rx) = unbounded::<Answer>();
        let protocol = picker.protocol_type();
        std::thread::spawn(move || worker(picker, job_rx, done_tx));
        PreviewView {
            pictures,
            visible: false,
            key: None,
            source: None,
            view: View::default(),
            native: false,
            shown: None,
            error: None,
            pending: false,
            cells: (0, 0),
            protocol,
            last_millis: None,
            drawn_at: None,
            tx,
            rx,
        }
    }

    /// Shows `source` (from its first image, or the middle one for series and volumes when
    /// `middle`), keeping the window settings.
    pub fn select(&mut self, key: SourceKey, source: Source) {
        if self.key.as_ref() == Some(&key) {
            return;
        }
        self.view = self.fresh_view(&source);
        self.key = Some(key);
        self.source = Some(source);
        self.error = None;
        self.request();
    }

    /// The view a newly selected source starts with: its first frame (a file) or middle
    /// image (series, volume), the stored orientation, the first time point; the window
    /// choice carries over unless it was one of the previous file's own windows.
    fn fresh_view(&self, source: &Source) -> View {
        let mut view = self.view.clone();
        view.index = if matches!(source, Source::Dicom { .. }) {
            0
        } else {
            MIDDLE
        };
        view.axis = None;
        view.time = 0;
        if matches!(view.window, Window::Header(_) | Window::VoiLut(_)) {
            view.window = Window::Default;
        }
        view
    }

    /// Nothing to preview here (a patient, a study, a non-image file).
    pub fn clear(&mut self, why: &str) {
        self.key = None;
        self.source = None;
        self.shown = None;
        self.error = Some(why.to_string());
    }

    /// Asks the worker for the current view at the current pane size.
    pub fn request(&mut self) {
        let (Some(key), Some(source)) = (self.key.clone(), self.source.clone()) else {
            return;
        };
        if self.cells.0 == 0 || self.cells.1 == 0 {
            return;
        }
        self.pending = true;
        let _ = self.tx.send(Request {
            key,
            source,
            view: self.view.clone(),
            cells: self.cells,
            native: self.native,
            prefetch: false,
        });
    }

    /// Prepares `source` as [`PreviewView::select`] would show it, ahead of time.
    pub fn prefetch(&mut self, key: SourceKey, source: Source) {
        if self.cells.0 == 0 || self.cells.1 == 0 {
            return;
        }
        let view = self.fresh_view(&source);
        let _ = self.tx.send(Request {
            key,
            source,
            view,
            cells: self.cells,
            native: self.native,
            prefetch: true,
        });
    }

    /// The pane was drawn at `cells`: ask again when that changed (resize, layout).
    pub fn resized(&mut self, cells: (u16, u16)) {
        if cells != self.cells {
            self.cells = cells;
            self.request();
        }
    }

    /// Applies a worker answer; returns whether the screen changes.
    pub fn answer(&mut self, a: Answer) -> bool {
        if self.key.as_ref() != Some(&a.key) {
            return false;
        }
        let current = a.view == self.view && a.cells == self.cells;
        if current {
            self.pending = false;
        }
        match a.result {
            Ok(shown) => {
                // Settle the index the library clamped (e.g. "the middle slice").
                if current {
                    self.view.index = shown.caption.index;
                }
                let mut v = a.view;
                v.index = shown.caption.index;
                self.last_millis = Some(a.millis);
                self.shown = Some((a.key, v, shown));
                self.error = None;
            }
            Err(e) => {
                if current {
                    self.error = Some(e);
                    self.shown = None;
                }
            }
        }
        true
    }

    /// How many images along the current view, once known.
    pub fn count(&self) -> Option<usize> {
        self.shown.as_ref().map(|(_, _, s)| s.caption.count)
    }

    fn info(&self) -> Option<&Info> {
        self.shown.as_ref().map(|(_, _, s)| &s.info)
    }

    /// Moves through frames/slices: `delta` steps, clamped; `None` jumps to the middle.
    pub fn step(&mut self, delta: Option<isize>) {
        let n = self.count().unwrap_or(1).max(1);
        self.view.index = match delta {
            Some(d) => (self.view.index as isize + d).clamp(0, n as isize - 1) as usize,
            None => n / 2,
        };
        self.request();
    }

    /// Cycles the header's windows (then its VOI LUTs), then back to the default.
    pub fn next_header_window(&mut self) {
        let (nw, nl) = self
            .info()
            .map_or((0, 0), |i| (i.windows.len(), i.voi_luts));
        self.view.window = match &self.view.window {
            Window::Header(i) if i + 1 < nw => Window::Header(i + 1),
            Window::Header(_) if nl > 0 => Window::VoiLut(0),
            Window::VoiLut(i) if i + 1 < nl => Window::VoiLut(i + 1),
            Window::Header(_) | Window::VoiLut(_) => Window::Default,
            _ if nw > 0 => Window::Header(0),
            _ if nl > 0 => Window::VoiLut(0),
            _ => Window::Default,
        };
        self.request();
    }

    /// Cycles the CT presets.
    pub fn next_preset(&mut self) {
        let names: Vec<&str> = preview::PRESETS.iter().map(|p| p.0).collect();
        let next = match &self.view.window {
            Window::Preset(n) => names
                .iter()
                .position(|p| p.eq_ignore_ascii_case(n))
                .map_or(0, |i| (i + 1) % names.len()),
            _ => 0,
        };
        if let Some(n) = names.get(next) {
            self.view.window = Window::Preset((*n).to_string());
        }
        self.request();
    }

    pub fn set_window(&mut self, w: Window) {
        self.view.window = w;
        self.request();
    }

    /// Interactive adjustment: widen/narrow (`dw`) and raise/lower (`dc`) the window, by a
    /// fraction of its width, starting from the window on screen.
    pub fn adjust(&mut self, dc: f64, dw: f64) {
        let Some((c, w)) = self.shown.as_ref().and_then(|(_, _, s)| s.caption.window) else {
            return;
        };
        let w2 = (w * (1.0 + dw)).max(1.0);
        let c2 = c + dc * w;
        self.view.window = Window::Manual {
            center: c2,
            width: w2,
        };
        self.request();
    }

    pub fn toggle_invert(&mut self) {
        self.view.invert = !self.view.invert;
        self.request();
    }

    pub fn toggle_native(&mut self) {
        self.native = !self.native;
        self.request();
    }

    /// Stored images → axial → coronal → sagittal, where the source allows reformats.
    pub fn next_axis(&mut self) -> Result<(), String> {
        let axes: Vec<Axis> = self
            .info()
            .map(|i| i.axes.iter().map(|a| a.0).collect())
            .unwrap_or_default();
        if axes.is_empty() {
            return Err("no reformats: this needs a volume or a series with one geometry".into());
        }
        let next = match self.view.axis {
            None => Some(axes[0]),
            Some(a) => axes
                .iter()
                .position(|x| *x == a)
                .and_then(|i| axes.get(i + 1).copied()),
        };
        self.view.axis = next;
        self.view.index = MIDDLE;
        self.request();
        Ok(())
    }

    pub fn step_time(&mut self, delta: isize) {
        let n = self.info().map_or(1, |i| i.time_points.max(1));
        self.view.time = (self.view.time as isize + delta).clamp(0, n as isize - 1) as usize;
        self.request();
    }
}

/// A few opened sources, most recent first (moving back to the previous item is instant).
struct Opens(VecDeque<(SourceKey, Opened)>);

impl Opens {
    fn get(&mut self, key: &SourceKey, source: &Source) -> Result<&mut Opened, String> {
        if let Some(i) = self.0.iter().position(|(k, _)| k == key) {
            if let Some(e) = self.0.remove(i) {
                self.0.push_front(e);
            }
        } else {
            let o = preview::open(source).map_err(|e| e.to_string())?;
            self.0.push_front((key.clone(), o));
            self.0.truncate(4);
        }
        self.0
            .front_mut()
            .map(|(_, o)| o)
            .ok_or_else(|| "nothing opened".to_string())
    }
}

/// Pictures already encoded, by what they show (prefetched items, recent views).
type Done = VecDeque<((SourceKey, View, (u16, u16), bool), Shown)>;

fn cache_key(r: &Request) -> (SourceKey, View, (u16, u16), bool) {
    (r.key.clone(), r.view.clone(), r.cells, r.native)
}

fn worker(picker: Picker, rx: Receiver<Request>, tx: Sender<Answer>) {
    let mut opens = Opens(VecDeque::new());
    let mut done: Done = VecDeque::new();
    while let Ok(first) = rx.recv() {
        // The newest request to answer; prefetches after it.
        let mut real = None;
        let mut pre: Vec<Request> = Vec::new();
        for r in std::iter::once(first).chain(rx.try_iter()) {
            if r.prefetch {
                pre.push(r);
            } else {
                real = Some(r);
            }
        }
        if let Some(req) = &real {
            let t = std::time::Instant::now();
            let key = cache_key(req);
            let result = match done.iter().find(|(k, _)| *k == key) {
                Some((_, s)) => Ok(s.clone()),
                None => render(&picker, &mut opens, req),
            };
            if let Ok(s) = &result {
                remember(&mut done, key, s.clone());
            }
            let answer = Answer {
                key: req.key.clone(),
                view: req.view.clone(),
                cells: req.cells,
                result,
                millis: t.elapsed().as_secs_f64() * 1e3,
            };
            if tx.send(answer).is_err() {
                return;
            }
        }
        for p in pre.iter().rev().take(2) {
            if !rx.is_empty() {
                break;
            }
            let key = cache_key(p);
            if done.iter().any(|(k, _)| *k == key) {
                continue;
            }
            if let Ok(s) = render(&picker, &mut opens, p) {
                remember(&mut done, key, s);
            }
        }
        // Idle: decode the neighbours, so the next keypress only windows and encodes.
        if let Some(req) = real.filter(|_| rx.is_empty()) {
            if let Ok(o) = opens.get(&req.key, &req.source) {
                for d in [1isize, -1] {
                    if !rx.is_empty() {
                        break;
                    }
                    let Some(i) = req.view.index.checked_add_signed(d) else {
                        continue;
                    };
                    let mut v = req.view.clone();
                    v.index = i;
                    let _ = o.prefetch(&v);
                }
            }
        }
    }
}

fn remember(done: &mut Done, key: (SourceKey, View, (u16, u16), bool), s: Shown) {
    done.retain(|(k, _)| *k != key);
    done.push_front((key, s));
    done.truncate(8);
}

/// The pane's pixel size for `cells`, from the terminal's font size.
pub fn pixels(picker: &Picker, cells: (u16, u16)) -> (u32, u32) {
    let f = picker.font_size();
    (
        u32::from(cells.0) * u32::from(f.width.max(1)),
        u32::from(cells.1) * u32::from(f.height.max(1)),
    )
}

fn render(picker: &Picker, opens: &mut Opens, req: &Request) -> Result<Shown, String> {
    let opened = opens.get(&req.key, &req.source)?;
    let mut view = req.view.clone();
    let n = opened.count(view.axis).max(1);
    // `MIDDLE` asks for the middle image (series, volumes, a new axis).
    view.index = if view.index == MIDDLE {
        n / 2
    } else {
        view.index.min(n - 1)
    };
    view.max_size = if req.native {
        None
    } else {
        Some(pixels(picker, req.cells))
    };
    let r = opened.render(&view).map_err(|e| e.to_string())?;
    let info = opened.info().clone();
    let picture_size = (r.picture.width(), r.picture.height());
    let image = match r.picture {
        preview::Picture::Gray(g) => image::DynamicImage::ImageLuma8(g),
        preview::Picture::Rgb(c) => image::DynamicImage::ImageRgb8(c),
    };
    // Fit: small images are enlarged to fill the pane (the library never enlarges; large ones
    // arrive already reduced to the pane's pixels, so this only scales up).
    let resize = if req.native {
        Resize::Crop(None)
    } else {
        Resize::Scale(None)
    };
    let protocol = picker
        .new_protocol(image, Size::new(req.cells.0, req.cells.1), resize)
        .map_err(|e| format!("terminal graphics: {e}"))?;
    Ok(Shown {
        protocol,
        info,
        caption: Caption {
            index: r.index,
            count: r.count,
            window: r.window,
            window_label: r.window_label,
            units: r.units,
            histogram: r.histogram,
            value_range: r.value_range,
            labels: r.labels,
            source_size: r.source_size,
            picture_size,
        },
    })
}

/// The protocol a `--graphics`/config value asks for: `None` to detect; `Some(None)` for
/// no pictures at all.
pub fn picker_choice(choice: &str) -> Result<Option<Option<ProtocolType>>, String> {
    Ok(match choice.to_ascii_lowercase().as_str() {
        "auto" => None,
        "sixel" => Some(Some(ProtocolType::Sixel)),
        "kitty" => Some(Some(ProtocolType::Kitty)),
        "iterm" | "iterm2" => Some(Some(ProtocolType::Iterm2)),
        "halfblocks" => Some(Some(ProtocolType::Halfblocks)),
        "none" => Some(None),
        other => {
            return Err(format!(
                "graphics {other:?}: use sixel, kitty, iterm, halfblocks, none or auto"
            ))
        }
    })
}

/// The picker for this terminal: `--graphics`/config override, else detected (a terminal
/// query with a timeout, then the environment), else half-blocks. Call it before the
/// terminal is taken over (it reads the terminal's answers from stdin).
pub fn picker(choice: Option<&str>) -> Result<Picker, String> {
    let forced = match choice {
        Some(c) => picker_choice(c)?,
        None => None,
    };
    if matches!(forced, Some(None) | Some(Some(ProtocolType::Halfblocks))) {
        return Ok(Picker::halfblocks());
    }
    // Terminals answer in milliseconds, over SSH in a round trip; one that never answers
    // (some multiplexers) costs this much once, at start.
    let options = ratatui_image::picker::cap_parser::QueryStdioOptions {
        timeout: std::time::Duration::from_millis(600),
        ..Default::default()
    };
    let queried = Picker::from_query_stdio_with_options(options).ok();
    let font_known = queried
        .as_ref()
        .is_some_and(|p| p.protocol_type() != ProtocolType::Halfblocks);
    // ratatui-image gives up on graphics when the terminal does not report its font size
    // (xterm without window operations): then the sixel attribute of the device attributes
    // answer decides, and the font size comes from the tty's pixel size.
    let wanted = match forced {
        Some(Some(p)) => Some(p),
        _ if font_known => None,
        _ => match crate::cli::preview::detect_graphics() {
            crate::cli::preview::Graphics::Sixel => Some(ProtocolType::Sixel),
            crate::cli::preview::Graphics::Kitty => Some(ProtocolType::Kitty),
            crate::cli::preview::Graphics::Iterm => Some(ProtocolType::Iterm2),
            _ => None,
        },
    };
    let mut picker = match (queried, font_known) {
        (Some(p), true) => p,
        _ => match font_from_tty() {
            // Deprecated in favour of the query above, which is what failed here.
            #[allow(deprecated)]
            Some(f) => Picker::from_fontsize(f),
            // Without a font size a picture cannot be fitted to cells: half-blocks.
            None => return Ok(Picker::halfblocks()),
        },
    };
    if let Some(p) = wanted {
        picker.set_protocol_type(p);
    }
    Ok(picker)
}

/// The character cell's size in pixels from the tty (TIOCGWINSZ), when the terminal fills
/// in its pixel size.
fn font_from_tty() -> Option<ratatui_image::FontSize> {
    let w = crossterm::terminal::window_size().ok()?;
    if w.columns == 0 || w.rows == 0 || w.width == 0 || w.height == 0 {
        return None;
    }
    Some(ratatui_image::FontSize::new(
        w.width / w.columns,
        w.height / w.rows,
    ))
}
