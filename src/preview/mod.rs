//! Image previews: decode a DICOM frame, a DICOM series or a NIfTI/Analyze volume, apply
//! the modality and VOI transforms, fit it to a pane and hand back an 8-bit picture (plus
//! what the pane shows around it: window, units, histogram, orientation labels).
//!
//! The console calls [`open`] once per selected item (cheap: headers only) and then
//! [`Opened::render`] per keypress. `Opened` keeps decoded frames and volumes in a bounded
//! LRU cache, so re-windowing, zooming the pane or scrolling back does not decode again,
//! and [`Opened::prefetch`] lets a background thread decode neighbours ahead. It is `Send`.
//!
//! Modules, one concept each: [`decode`] (DICOM pixel data → one frame), [`lut`] (LUTs and
//! palettes stored in the file), [`window`] (VOI: windows, presets, auto), [`image`]
//! (aspect, fitting, resampling), [`volume`] (NIfTI voxels, series ordering, reformats),
//! [`orient`] (border labels), [`sixel`] (terminal graphics).

pub mod decode;
pub mod error;
pub mod image;
pub mod jpeg12;
pub mod lut;
pub mod orient;
pub mod sixel;
pub mod volume;
pub mod window;

pub use decode::{DicomImage, HeaderWindow, Photometric};
pub use error::PreviewError;
pub use image::Picture;
pub use sixel::{encode_picture, encode_sixel, encode_sixel_gray, SixelError};
pub use volume::Axis;
pub use window::{Voi, VoiFunction, Window, PRESETS};

use decode::RawFrame;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use volume::{Grid, NiftiVolume, SliceGeometry};
use window::Stats;

/// What to show.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// One DICOM file (all its frames).
    Dicom { path: PathBuf },
    /// The files of one DICOM series, in any order.
    Series { paths: Vec<PathBuf> },
    /// A NIfTI-1/2 or Analyze 7.5 file (`.nii`, `.nii.gz`, `.hdr`/`.img`).
    Volume { path: PathBuf },
}

impl Source {
    /// A file by its name: NIfTI/Analyze extensions are volumes, anything else DICOM.
    pub fn from_path(path: &Path) -> Source {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        if [".nii", ".hdr", ".img"].iter().any(|e| name.ends_with(e)) {
            Source::Volume {
                path: path.to_path_buf(),
            }
        } else {
            Source::Dicom {
                path: path.to_path_buf(),
            }
        }
    }
}

/// What the pane wants to see of an opened source.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct View {
    /// Frame (DICOM file), instance (series, `axis: None`, ordered along the slice normal)
    /// or slice along `axis` (counted toward superior, posterior, left).
    pub index: usize,
    /// `None`: the stored images as they are (a volume's default is axial). `Some`: a
    /// reformat (series with consistent geometry, volumes).
    pub axis: Option<Axis>,
    /// Time point of a 4-D volume.
    pub time: usize,
    pub window: Window,
    /// Invert the grey scale (on top of MONOCHROME1's own inversion).
    pub invert: bool,
    /// Fit into this many pixels (width, height), keeping the aspect; `None`: native size.
    pub max_size: Option<(u32, u32)>,
    /// Keep the stored pixel grid (no aspect correction): for comparing with renderers that
    /// ignore Pixel Spacing, such as `dcm2pnm`.
    pub stored_grid: bool,
}

/// The kind of source, for the pane's title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dicom,
    Series,
    Volume,
}

/// What [`open`] learns from headers alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    pub kind: Kind,
    /// Size of a stored image (DICOM) or of an axial slice (volume), in pixels.
    pub width: u32,
    pub height: u32,
    /// Frames of the file, instances of the series, axial slices of the volume.
    pub count: usize,
    /// Slices per reformat axis; empty when reformats are not possible.
    pub axes: Vec<(Axis, usize)>,
    pub time_points: usize,
    /// Windows from the header (NIfTI: `cal_min..cal_max` when set), for the UI to cycle.
    pub windows: Vec<HeaderWindow>,
    /// Items of the VOI LUT Sequence.
    pub voi_luts: usize,
    /// Units of the values windows apply to (e.g. "HU"), when known.
    pub units: Option<String>,
    pub modality: Option<String>,
    /// Photometric Interpretation (DICOM) or the NIfTI data type.
    pub photometric: String,
    pub color: bool,
}

/// One picture ready for the pane, with what to print around it.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub picture: Picture,
    /// Height/width of a source pixel (already corrected for in `picture`).
    pub pixel_aspect: f64,
    /// (center, width) applied, in `units`; `None` for colour images.
    pub window: Option<(f64, f64)>,
    /// How the window was chosen, e.g. "header 1/2 BONE", "preset lung", "auto".
    pub window_label: String,
    pub units: Option<String>,
    /// Index shown and how many there are along this view.
    pub index: usize,
    pub count: usize,
    /// Histogram of the modality values (64 bins over `value_range`).
    pub histogram: [u32; 64],
    pub value_range: (f64, f64),
    /// Orientation labels `[top, right, bottom, left]` (e.g. A, L, P, R).
    pub labels: [Option<String>; 4],
    /// Size of the decoded source image (after any JPEG 2000 resolution reduction).
    pub source_size: (u32, u32),
}

/// Bytes the default cache holds at most.
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;

/// A decoded frame in display terms: modality values (grey) or 8-bit RGB.
#[derive(Debug)]
pub struct Decoded {
    pub width: u32,
    pub height: u32,
    pub pixels: Pixels,
    /// Statistics of grey values (None for colour).
    pub stats: Option<Stats>,
    /// MONOCHROME1: higher values are darker.
    pub inverted: bool,
}

#[derive(Debug)]
pub enum Pixels {
    Gray(Vec<f32>),
    Rgb(Vec<u8>),
}

impl Decoded {
    fn bytes(&self) -> usize {
        match &self.pixels {
            Pixels::Gray(v) => v.len() * 4,
            Pixels::Rgb(v) => v.len(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Frame {
        file: usize,
        frame: u32,
        reduce: u32,
    },
    Grid {
        time: usize,
    },
}

#[derive(Debug, Clone)]
enum Entry {
    Frame(Arc<Decoded>),
    Grid(Arc<Grid>, Arc<Stats>),
}

/// Least-recently-used cache bounded in bytes.
#[derive(Debug)]
struct Cache {
    limit: usize,
    used: usize,
    tick: u64,
    items: Vec<(Key, Entry, u64, usize)>,
}

impl Cache {
    fn get(&mut self, key: Key) -> Option<Entry> {
        self.tick += 1;
        let tick = self.tick;
        self.items.iter_mut().find(|i| i.0 == key).map(|i| {
            i.2 = tick;
            i.1.clone()
        })
    }
    fn put(&mut self, key: Key, entry: Entry, bytes: usize) {
        self.tick += 1;
        while self.used + bytes > self.limit && !self.items.is_empty() {
            let oldest = self
                .items
                .iter()
                .enumerate()
                .min_by_key(|(_, i)| i.2)
                .map(|(n, _)| n)
                .unwrap_or(0);
            let gone = self.items.swap_remove(oldest);
            self.used -= gone.3;
        }
        // An entry larger than the whole cache is used once and not kept.
        if bytes <= self.limit {
            self.used += bytes;
            self.items.push((key, entry, self.tick, bytes));
        }
    }
}

#[derive(Debug)]
enum Inner {
    Dicom(Box<DicomImage>),
    Series {
        /// Sorted along the slice normal.
        images: Vec<DicomImage>,
        /// Slice normal and spacing when the geometry is consistent.
        geometry: Option<([f64; 3], f64)>,
    },
    Volume(Box<NiftiVolume>),
}

/// An opened source: geometry known, pixels decoded on demand and cached.
#[derive(Debug)]
pub struct Opened {
    info: Info,
    inner: Inner,
    cache: Cache,
}

/// Reads headers only: sizes, counts, windows. Cheap enough for every selection change.
pub fn open(source: &Source) -> Result<Opened, PreviewError> {
    let (info, inner) = match source {
        Source::Dicom { path } => {
            let img = DicomImage::open(path)?;
            (
                dicom_info(&img, Kind::Dicom, img.frames as usize, Vec::new()),
                Inner::Dicom(Box::new(img)),
            )
        }
        Source::Series { paths } => {
            if paths.is_empty() {
                return Err(PreviewError::Series("no files".into()));
            }
            let mut images = Vec::with_capacity(paths.len());
            for p in paths {
                images.push(DicomImage::open(p)?);
            }
            let geo: Vec<SliceGeometry> = images
                .iter()
                .map(|i| SliceGeometry {
                    orientation: i.orientation,
                    position: i.position,
                    instance_number: None,
                    rows: i.rows,
                    cols: i.cols,
                    spacing: i.pixel_spacing,
                })
                .collect();
            let (order, mut geometry) = volume::order_series(&geo);
            let mut slots: Vec<Option<DicomImage>> = images.into_iter().map(Some).collect();
            let images: Vec<DicomImage> = order.iter().filter_map(|&i| slots[i].take()).collect();
            let first = &images[0];
            if !first.photometric.is_mono() {
                geometry = None;
            }
            let n = images.len();
            let axes = if let Some((normal, spacing)) = geometry {
                let g = series_grid_shape(first, normal, spacing, n);
                Axis::ALL.iter().map(|&a| (a, g.count(a))).collect()
            } else {
                Vec::new()
            };
            (
                dicom_info(first, Kind::Series, n, axes),
                Inner::Series { images, geometry },
            )
        }
        Source::Volume { path } => {
            let v = NiftiVolume::open(path)?;
            let shape = Grid {
                dims: v.dims,
                dir: v.dir,
                spacing: v.spacing,
                oriented: v.oriented,
                data: Vec::new(),
            };
            let axial = shape.cut(Axis::Axial);
            let h = &v.header;
            let windows = if h.cal_max > h.cal_min && h.cal_min.is_finite() && h.cal_max.is_finite()
            {
                vec![HeaderWindow {
                    center: (h.cal_min + h.cal_max) / 2.0,
                    width: h.cal_max - h.cal_min,
                    explanation: Some("cal_min..cal_max".into()),
                }]
            } else {
                Vec::new()
            };
            let info = Info {
                kind: Kind::Volume,
                width: v.dims[axial.h] as u32,
                height: v.dims[axial.v] as u32,
                count: shape.count(Axis::Axial),
                axes: Axis::ALL.iter().map(|&a| (a, shape.count(a))).collect(),
                time_points: v.time_points,
                windows,
                voi_luts: 0,
                units: None,
                modality: None,
                photometric: h.datatype_name().to_string(),
                color: false,
            };
            (info, Inner::Volume(Box::new(v)))
        }
    };
    Ok(Opened {
        info,
        inner,
        cache: Cache {
            limit: DEFAULT_CACHE_BYTES,
            used: 0,
            tick: 0,
            items: Vec::new(),
        },
    })
}

fn dicom_info(img: &DicomImage, kind: Kind, count: usize, axes: Vec<(Axis, usize)>) -> Info {
    Info {
        kind,
        width: img.cols,
        height: img.rows,
        count,
        axes,
        time_points: 1,
        windows: img.windows.clone(),
        voi_luts: img.voi_luts.len(),
        units: img.units.clone(),
        modality: img.modality.clone(),
        photometric: img.photometric.name().to_string(),
        color: !img.photometric.is_mono(),
    }
}

/// An empty grid with a series' geometry (to count slices per axis without decoding).
fn series_grid_shape(first: &DicomImage, normal: [f64; 3], spacing: f64, n: usize) -> Grid {
    let o = first.orientation.unwrap_or([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let (rs, cs) = first.pixel_spacing.unwrap_or((1.0, 1.0));
    Grid {
        dims: [first.cols as usize, first.rows as usize, n],
        dir: [[o[0], o[1], o[2]], [o[3], o[4], o[5]], normal],
        spacing: [cs, rs, spacing],
        oriented: true,
        data: Vec::new(),
    }
}

/// The size a DICOM image will be shown at, when the view shrinks it.
fn shown_size(img: &DicomImage, view: &View) -> Option<(u32, u32)> {
    let max = view.max_size?;
    let aspect = if view.stored_grid {
        1.0
    } else {
        dicom_aspect(img)
    };
    Some(image::fit_size(img.cols, img.rows, aspect, Some(max)))
}

/// Source pixel aspect (height/width) of a DICOM image.
fn dicom_aspect(img: &DicomImage) -> f64 {
    match (img.pixel_spacing, img.aspect_ratio) {
        (Some((row, col)), _) => row / col,
        (None, Some((v, h))) => v / h,
        _ => 1.0,
    }
}

/// Stored values → display values: Modality LUT or rescale for grey, palette or YBR → RGB
/// and scaling to 8 bits for colour.
pub fn to_display(img: &DicomImage, raw: RawFrame) -> Decoded {
    let (w, h) = (raw.width, raw.height);
    let bits = img.bits_stored.clamp(1, 32) as u32;
    let max = if img.float {
        255.0
    } else {
        ((1u64 << bits) - 1) as f32
    };
    let scale8 = |v: f32| (v * 255.0 / max + 0.5).clamp(0.0, 255.0) as u8;
    let pixels = match raw.photometric {
        Photometric::Monochrome1 | Photometric::Monochrome2 => {
            let mut v = raw.data;
            if let Some(lut) = &img.modality_lut {
                for x in v.iter_mut() {
                    *x = lut.apply(*x as f64) as f32;
                }
            } else if (img.rescale_slope, img.rescale_intercept) != (1.0, 0.0) {
                let (m, b) = (img.rescale_slope as f32, img.rescale_intercept as f32);
                for x in v.iter_mut() {
                    *x = *x * m + b;
                }
            }
            Pixels::Gray(v)
        }
        Photometric::Palette => {
            let pal = img.palette.as_ref();
            let mut out = Vec::with_capacity(raw.data.len() * 3);
            for &x in &raw.data {
                out.extend_from_slice(&pal.map(|p| p.lookup(x)).unwrap_or([0, 0, 0]));
            }
            Pixels::Rgb(out)
        }
        Photometric::YbrFull | Photometric::YbrFull422 => {
            let mut out = Vec::with_capacity(raw.data.len());
            for p in raw.data.chunks_exact(3) {
                let c = lut::ybr_to_rgb(p[0], p[1], p[2], bits);
                out.extend(c.iter().map(|&v| scale8(v)));
            }
            Pixels::Rgb(out)
        }
        Photometric::Rgb | Photometric::YbrCodec => {
            if bits == 8 || img.codec == decode::Codec::Jpeg {
                Pixels::Rgb(
                    raw.data
                        .iter()
                        .map(|&v| v.clamp(0.0, 255.0) as u8)
                        .collect(),
                )
            } else {
                Pixels::Rgb(raw.data.iter().map(|&v| scale8(v)).collect())
            }
        }
    };
    let stats = match &pixels {
        Pixels::Gray(v) => Some(Stats::of(v)),
        Pixels::Rgb(_) => None,
    };
    Decoded {
        width: w,
        height: h,
        pixels,
        stats,
        inverted: raw.photometric == Photometric::Monochrome1,
    }
}

impl Opened {
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// Changes the cache bound (bytes); entries are evicted lazily.
    pub fn set_cache_limit(&mut self, bytes: usize) {
        self.cache.limit = bytes;
    }

    /// How many frames/instances/slices `axis` has (`None`: the stored images).
    pub fn count(&self, axis: Option<Axis>) -> usize {
        match axis {
            None => self.info.count,
            Some(a) => self
                .info
                .axes
                .iter()
                .find(|x| x.0 == a)
                .map(|x| x.1)
                .unwrap_or(0),
        }
    }

    /// Decodes what `view` needs into the cache without rendering (for a prefetch thread).
    pub fn prefetch(&mut self, view: &View) -> Result<(), PreviewError> {
        self.source_for(view).map(|_| ())
    }

    /// The picture for `view`.
    pub fn render(&mut self, view: &View) -> Result<Rendered, PreviewError> {
        let count = match (&self.inner, view.axis) {
            (Inner::Volume(_), None) => self.count(Some(Axis::Axial)),
            _ => self.count(view.axis),
        };
        let (src, aspect, labels, img) = self.source_for(view)?;
        let (sw, sh) = src.size();
        let grid_aspect = if view.stored_grid { 1.0 } else { aspect };
        let (ow, oh) = image::fit_size(sw, sh, grid_aspect, view.max_size);
        let (picture, window, window_label, histogram, range) = match src {
            Src::Frame(d) => match &d.pixels {
                Pixels::Rgb(rgb) => {
                    let mut data = image::resample_u8(
                        rgb,
                        sw as usize,
                        sh as usize,
                        3,
                        ow as usize,
                        oh as usize,
                    );
                    if view.invert {
                        data.iter_mut().for_each(|v| *v = 255 - *v);
                    }
                    let pic = ::image::RgbImage::from_raw(ow, oh, data)
                        .map(Picture::Rgb)
                        .ok_or_else(|| PreviewError::OutOfRange {
                            what: "picture size".into(),
                        })?;
                    (pic, None, "colour".to_string(), [0u32; 64], (0.0, 255.0))
                }
                Pixels::Gray(v) => {
                    let stats = d.stats.clone().unwrap_or_else(|| Stats::of(v));
                    let (voi, label) = self.resolve(&view.window, &stats, img.as_deref())?;
                    let pic = gray_picture(v, (sw, sh), (ow, oh), &voi, view.invert ^ d.inverted)?;
                    (
                        pic,
                        Some(voi.center_width()),
                        label,
                        stats.histogram,
                        (stats.min, stats.max),
                    )
                }
            },
            Src::Slice(s, stats) => {
                let (voi, label) = self.resolve(&view.window, &stats, None)?;
                let pic = gray_picture(&s.data, (sw, sh), (ow, oh), &voi, view.invert)?;
                let hist = Stats::of(&s.data).histogram;
                (
                    pic,
                    Some(voi.center_width()),
                    label,
                    hist,
                    (stats.min, stats.max),
                )
            }
        };
        Ok(Rendered {
            picture,
            pixel_aspect: aspect,
            window,
            window_label,
            units: self.info.units.clone(),
            index: view.index,
            count,
            histogram,
            value_range: range,
            labels,
            source_size: (sw, sh),
        })
    }

    /// Picks the VOI for a grey image.
    fn resolve(
        &self,
        w: &Window,
        stats: &Stats,
        img: Option<&DicomImage>,
    ) -> Result<(Voi, String), PreviewError> {
        let windows = &self.info.windows;
        let function = img.map(|i| i.voi_function).unwrap_or_default();
        let header = |i: usize| -> Result<(Voi, String), PreviewError> {
            let hw = windows.get(i).ok_or_else(|| PreviewError::OutOfRange {
                what: format!("header window {} of {}", i + 1, windows.len()),
            })?;
            let mut label = format!("header {}/{}", i + 1, windows.len());
            if let Some(e) = &hw.explanation {
                label.push(' ');
                label.push_str(e);
            }
            Ok((
                Voi::Window {
                    center: hw.center,
                    width: hw.width,
                    function,
                },
                label,
            ))
        };
        let full = || {
            (
                window::window_for_range(stats.min, stats.max),
                "full range".to_string(),
            )
        };
        let auto = || {
            if stats.p99 > stats.p01 {
                (
                    window::window_for_range(stats.p01, stats.p99),
                    "auto".to_string(),
                )
            } else {
                (
                    window::window_for_range(stats.min, stats.max),
                    "auto".to_string(),
                )
            }
        };
        let voi_lut = |i: usize| -> Result<(Voi, String), PreviewError> {
            let luts = img.map(|m| &m.voi_luts[..]).unwrap_or(&[]);
            let l = luts.get(i).ok_or_else(|| PreviewError::OutOfRange {
                what: format!("VOI LUT {} of {}", i + 1, luts.len()),
            })?;
            Ok((
                Voi::Lut(l.clone()),
                format!("VOI LUT {}/{}", i + 1, luts.len()),
            ))
        };
        Ok(match w {
            Window::Default => {
                if !windows.is_empty() {
                    header(0)?
                } else if img.is_some_and(|m| !m.voi_luts.is_empty()) {
                    voi_lut(0)?
                } else if matches!(self.inner, Inner::Volume(_)) {
                    auto()
                } else {
                    full()
                }
            }
            Window::Header(i) => header(*i)?,
            Window::VoiLut(i) => voi_lut(*i)?,
            Window::Preset(name) => {
                let (c, wd) = window::preset(name)
                    .ok_or_else(|| PreviewError::UnknownPreset(name.clone()))?;
                (
                    Voi::Window {
                        center: c,
                        width: wd,
                        function: VoiFunction::Linear,
                    },
                    format!("preset {}", name.to_ascii_lowercase()),
                )
            }
            Window::Manual { center, width } => (
                Voi::Window {
                    center: *center,
                    width: width.max(1.0),
                    function,
                },
                "manual".to_string(),
            ),
            Window::FullRange => full(),
            Window::Auto => auto(),
        })
    }

    /// Decoded pixels, aspect and labels for a view (through the cache).
    #[allow(clippy::type_complexity)]
    fn source_for(
        &mut self,
        view: &View,
    ) -> Result<(Src, f64, [Option<String>; 4], Option<Box<DicomImage>>), PreviewError> {
        let oor = |what: String| PreviewError::OutOfRange { what };
        match (&self.inner, view.axis) {
            (Inner::Dicom(img), None) => {
                let img = img.clone();
                let reduce = img.reduce_for(shown_size(&img, view));
                let d = self.frame(0, &img, view.index, reduce)?;
                let labels = orient::dicom_labels(img.orientation);
                Ok((Src::Frame(d), dicom_aspect(&img), labels, Some(img)))
            }
            (Inner::Dicom(_), Some(_)) => Err(oor("a single DICOM file has no reformats".into())),
            (Inner::Series { images, .. }, None) => {
                let img = images
                    .get(view.index)
                    .cloned()
                    .ok_or_else(|| oor(format!("instance {} of {}", view.index, images.len())))?;
                let reduce = img.reduce_for(shown_size(&img, view));
                let d = self.frame(view.index, &img, 0, reduce)?;
                let labels = orient::dicom_labels(img.orientation);
                Ok((
                    Src::Frame(d),
                    dicom_aspect(&img),
                    labels,
                    Some(Box::new(img)),
                ))
            }
            (Inner::Series { geometry: None, .. }, Some(_)) => Err(PreviewError::Series(
                "no reformats: instances differ in orientation, size or spacing, or lack geometry"
                    .into(),
            )),
            (Inner::Series { .. }, Some(axis)) | (Inner::Volume(_), Some(axis)) => {
                let (grid, stats) = self.grid(view.time)?;
                let s = grid.slice(axis, view.index)?;
                let (aspect, labels) = (s.aspect, s.labels.clone());
                Ok((Src::Slice(s, stats), aspect, labels, None))
            }
            (Inner::Volume(_), None) => {
                let v = View {
                    axis: Some(Axis::Axial),
                    ..view.clone()
                };
                self.source_for(&v)
            }
        }
    }

    fn frame(
        &mut self,
        file: usize,
        img: &DicomImage,
        frame: usize,
        reduce: u32,
    ) -> Result<Arc<Decoded>, PreviewError> {
        let frame = u32::try_from(frame).unwrap_or(u32::MAX);
        let key = Key::Frame {
            file,
            frame,
            reduce,
        };
        if let Some(Entry::Frame(d)) = self.cache.get(key) {
            return Ok(d);
        }
        let raw = img.decode_frame(frame, reduce)?;
        let d = Arc::new(to_display(img, raw));
        self.cache.put(key, Entry::Frame(d.clone()), d.bytes());
        Ok(d)
    }

    fn grid(&mut self, time: usize) -> Result<(Arc<Grid>, Arc<Stats>), PreviewError> {
        let key = Key::Grid { time };
        if let Some(Entry::Grid(g, s)) = self.cache.get(key) {
            return Ok((g, s));
        }
        let grid = match &self.inner {
            Inner::Volume(v) => v.read(time)?,
            Inner::Series {
                images,
                geometry: Some((normal, spacing)),
            } => {
                if time > 0 {
                    return Err(PreviewError::OutOfRange {
                        what: format!("time point {time} of 1"),
                    });
                }
                let mut g = series_grid_shape(&images[0], *normal, *spacing, images.len());
                let voxels = g
                    .dims
                    .iter()
                    .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
                    .unwrap_or(u64::MAX);
                if voxels > volume::MAX_VOXELS {
                    return Err(PreviewError::Series(format!(
                        "{voxels} voxels is too large to reformat"
                    )));
                }
                let mut data = Vec::with_capacity(voxels as usize);
                let plane = g.dims[0] * g.dims[1];
                for img in images {
                    let d = to_display(img, img.decode_frame(0, 0)?);
                    match d.pixels {
                        Pixels::Gray(v) if v.len() == plane => data.extend_from_slice(&v),
                        _ => {
                            return Err(PreviewError::Series(
                                "an instance has a different size".into(),
                            ))
                        }
                    }
                }
                g.data = data;
                g
            }
            _ => return Err(PreviewError::Series("no volume geometry".into())),
        };
        let stats = Arc::new(Stats::of(&grid.data));
        let bytes = grid.data.len() * 4;
        let grid = Arc::new(grid);
        self.cache
            .put(key, Entry::Grid(grid.clone(), stats.clone()), bytes);
        Ok((grid, stats))
    }
}

enum Src {
    Frame(Arc<Decoded>),
    Slice(volume::Slice, Arc<Stats>),
}

impl Src {
    fn size(&self) -> (u32, u32) {
        match self {
            Src::Frame(d) => (d.width, d.height),
            Src::Slice(s, _) => (s.width, s.height),
        }
    }
}

fn gray_picture(
    values: &[f32],
    (sw, sh): (u32, u32),
    (ow, oh): (u32, u32),
    voi: &Voi,
    invert: bool,
) -> Result<Picture, PreviewError> {
    let mut out = Vec::new();
    if (sw, sh) == (ow, oh) {
        window::to_gray8(values, voi, invert, &mut out);
    } else {
        let small = image::resample(
            values,
            sw as usize,
            sh as usize,
            1,
            ow as usize,
            oh as usize,
        );
        window::to_gray8(&small, voi, invert, &mut out);
    }
    ::image::GrayImage::from_raw(ow, oh, out)
        .map(Picture::Gray)
        .ok_or_else(|| PreviewError::OutOfRange {
            what: "picture size".into(),
        })
}

/// One call for the headless commands: open, render, done.
pub fn render_once(source: &Source, view: &View) -> Result<Rendered, PreviewError> {
    open(source)?.render(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opened_is_send() {
        fn send<T: Send>() {}
        send::<Opened>();
    }

    #[test]
    fn cache_evicts_least_recent() {
        let mut c = Cache {
            limit: 100,
            used: 0,
            tick: 0,
            items: Vec::new(),
        };
        let d = |n| {
            Arc::new(Decoded {
                width: 1,
                height: 1,
                pixels: Pixels::Rgb(vec![0; n]),
                stats: None,
                inverted: false,
            })
        };
        let k = |f| Key::Frame {
            file: 0,
            frame: f,
            reduce: 0,
        };
        c.put(k(0), Entry::Frame(d(40)), 40);
        c.put(k(1), Entry::Frame(d(40)), 40);
        assert!(c.get(k(0)).is_some());
        c.put(k(2), Entry::Frame(d(40)), 40);
        assert!(c.get(k(1)).is_none(), "least recently used goes first");
        assert!(c.get(k(0)).is_some() && c.get(k(2)).is_some());
        assert!(c.used <= 100);
        c.put(k(3), Entry::Frame(d(500)), 500);
        assert!(c.get(k(3)).is_none(), "too large to keep");
    }
}
