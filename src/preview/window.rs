//! VOI: which window the user asked for, and the PS3.3 C.11.2.1.2 functions that map
//! modality values (e.g. HU) to 8-bit grey. Presets are the usual CT windows; the automatic
//! window takes the 1st–99th percentiles so a few hot pixels do not flatten the picture.

use super::lut::Lut;

/// VOI LUT Function (0028,1056).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VoiFunction {
    #[default]
    Linear,
    LinearExact,
    Sigmoid,
}

impl VoiFunction {
    pub fn parse(s: &str) -> VoiFunction {
        match s.trim() {
            "LINEAR_EXACT" => VoiFunction::LinearExact,
            "SIGMOID" => VoiFunction::Sigmoid,
            _ => VoiFunction::Linear,
        }
    }
}

/// CT window presets, (center, width) in HU.
pub const PRESETS: &[(&str, f64, f64)] = &[
    ("brain", 40.0, 80.0),
    ("subdural", 75.0, 215.0),
    ("stroke", 40.0, 40.0),
    ("lung", -600.0, 1500.0),
    ("mediastinum", 50.0, 350.0),
    ("abdomen", 50.0, 400.0),
    ("liver", 30.0, 150.0),
    ("bone", 400.0, 1800.0),
];

/// A preset's (center, width), by name (case-insensitive).
pub fn preset(name: &str) -> Option<(f64, f64)> {
    PRESETS
        .iter()
        .find(|p| p.0.eq_ignore_ascii_case(name.trim()))
        .map(|p| (p.1, p.2))
}

/// The window the user asked for.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Window {
    /// The header's first window, else its first VOI LUT, else the full range of the values
    /// (DICOM) or `cal_min..cal_max`/automatic (NIfTI).
    #[default]
    Default,
    /// The n-th Window Center/Width pair of the header (the UI cycles through them).
    Header(usize),
    /// The n-th item of the VOI LUT Sequence.
    VoiLut(usize),
    /// A named CT preset ([`PRESETS`]).
    Preset(String),
    Manual {
        center: f64,
        width: f64,
    },
    /// Minimum to maximum of the frame's values (what `dcm2pnm +Wm` shows).
    FullRange,
    /// 1st to 99th percentile of the frame's values.
    Auto,
}

/// A window resolved against a frame: what is applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Voi {
    Window {
        center: f64,
        width: f64,
        function: VoiFunction,
    },
    Lut(Lut),
}

impl Voi {
    /// Maps a modality value to 0.0..=255.0 (before rounding and MONOCHROME1 inversion).
    #[inline]
    pub fn map(&self, x: f64) -> f64 {
        const YMAX: f64 = 255.0;
        match self {
            Voi::Window {
                center: c,
                width: w,
                function,
            } => match function {
                VoiFunction::Linear => {
                    // PS3.3 C.11.2.1.2.1; width >= 1 by construction.
                    let w1 = (w - 1.0).max(f64::MIN_POSITIVE);
                    let lo = c - 0.5 - w1 / 2.0;
                    let hi = c - 0.5 + w1 / 2.0;
                    if x <= lo {
                        0.0
                    } else if x > hi {
                        YMAX
                    } else {
                        ((x - (c - 0.5)) / w1 + 0.5) * YMAX
                    }
                }
                VoiFunction::LinearExact => {
                    // C.11.2.1.3.2
                    if x <= c - w / 2.0 {
                        0.0
                    } else if x > c + w / 2.0 {
                        YMAX
                    } else {
                        ((x - c) / w + 0.5) * YMAX
                    }
                }
                // C.11.2.1.3.1
                VoiFunction::Sigmoid => YMAX / (1.0 + (-4.0 * (x - c) / w).exp()),
            },
            Voi::Lut(l) => l.apply(x) / l.max_out() * YMAX,
        }
    }

    /// (center, width) for display; a VOI LUT reports the range it covers.
    pub fn center_width(&self) -> (f64, f64) {
        match self {
            Voi::Window { center, width, .. } => (*center, *width),
            Voi::Lut(l) => {
                let w = l.values.len() as f64;
                (l.first as f64 + w / 2.0, w)
            }
        }
    }
}

/// Distribution of a frame's modality values, computed once per decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub min: f64,
    pub max: f64,
    /// 1st and 99th percentiles.
    pub p01: f64,
    pub p99: f64,
    /// 64 equal bins from `min` to `max`.
    pub histogram: [u32; 64],
}

impl Stats {
    /// Exact minimum and maximum; percentiles and histogram from at most ~1M samples
    /// (a strided subsample of larger frames: a 3000×3000 radiograph costs one pass).
    pub fn of(values: &[f32]) -> Stats {
        let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
        for &v in values {
            // NaN never wins either comparison, so it is skipped.
            min = if v < min { v } else { min };
            max = if v > max { v } else { max };
        }
        if min > max || !min.is_finite() || !max.is_finite() {
            return Stats {
                min: 0.0,
                max: 0.0,
                p01: 0.0,
                p99: 0.0,
                histogram: [0; 64],
            };
        }
        const FINE: usize = 4096;
        let stride = values.len().div_ceil(1 << 20).max(1);
        let span = (max - min) as f64;
        let mut fine = vec![0u32; FINE];
        let scale = if span > 0.0 {
            (FINE - 1) as f64 / span
        } else {
            0.0
        };
        let fscale = scale as f32;
        for &v in values.iter().step_by(stride) {
            if v >= min && v <= max {
                let i = (((v - min) * fscale) as usize).min(FINE - 1);
                fine[i] += 1;
            }
        }
        let total: u64 = fine.iter().map(|&c| c as u64).sum();
        let at = |q: f64| {
            let target = (total as f64 * q).ceil().max(1.0) as u64;
            let mut acc = 0u64;
            for (i, &c) in fine.iter().enumerate() {
                acc += c as u64;
                if acc >= target {
                    return min as f64 + i as f64 / scale.max(f64::MIN_POSITIVE);
                }
            }
            max as f64
        };
        let mut histogram = [0u32; 64];
        for (i, &c) in fine.iter().enumerate() {
            histogram[i * 64 / FINE] += c;
        }
        let (p01, p99) = if span > 0.0 {
            (at(0.01), at(0.99))
        } else {
            (min as f64, max as f64)
        };
        Stats {
            min: min as f64,
            max: max as f64,
            p01,
            p99,
            histogram,
        }
    }
}

/// The window spanning `lo..=hi` (LINEAR: `c - 0.5 ± (w - 1)/2` are the ends).
pub fn window_for_range(lo: f64, hi: f64) -> Voi {
    let width = (hi - lo + 1.0).max(1.0);
    Voi::Window {
        center: (lo + hi) / 2.0 + 0.5,
        width,
        function: VoiFunction::Linear,
    }
}

/// Applies `voi` to values and writes 8-bit grey, inverting for MONOCHROME1 / `invert`.
pub fn to_gray8(values: &[f32], voi: &Voi, invert: bool, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(values.len());
    match voi {
        // The common case: a linear window is one multiply-add and a clamp per pixel.
        Voi::Window {
            center: c,
            width: w,
            function: VoiFunction::Linear,
        } => {
            let w1 = (w - 1.0).max(1e-9);
            let lo = (c - 0.5 - w1 / 2.0) as f32;
            let hi = (c - 0.5 + w1 / 2.0) as f32;
            let a = (255.0 / w1) as f32;
            let b = ((0.5 - (c - 0.5) / w1) * 255.0) as f32;
            out.extend(values.iter().map(|&x| {
                let y = if x <= lo {
                    0.0
                } else if x > hi {
                    255.0
                } else {
                    (x * a + b).clamp(0.0, 255.0)
                };
                let y = (y + 0.5) as u8;
                if invert {
                    255 - y
                } else {
                    y
                }
            }));
        }
        _ => out.extend(values.iter().map(|&x| {
            let y = (voi.map(x as f64).clamp(0.0, 255.0) + 0.5) as u8;
            if invert {
                255 - y
            } else {
                y
            }
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(c: f64, w: f64, f: VoiFunction) -> Voi {
        Voi::Window {
            center: c,
            width: w,
            function: f,
        }
    }

    #[test]
    fn linear_edges_follow_ps33() {
        // c=2048, w=4096: x <= 2047.5 - 2047.5 = 0 -> 0; x > 4095 -> 255.
        let v = win(2048.0, 4096.0, VoiFunction::Linear);
        assert_eq!(v.map(0.0), 0.0);
        assert_eq!(v.map(4096.0), 255.0);
        assert!((v.map(2047.5) - 127.5).abs() < 1e-9);
        // Width 1: a threshold at c - 0.5.
        let t = win(100.0, 1.0, VoiFunction::Linear);
        assert_eq!(t.map(99.5), 0.0);
        assert_eq!(t.map(99.6), 255.0);
    }

    #[test]
    fn linear_exact_differs_from_linear() {
        let l = win(40.0, 80.0, VoiFunction::Linear);
        let e = win(40.0, 80.0, VoiFunction::LinearExact);
        assert_eq!(e.map(0.0), 0.0);
        assert_eq!(e.map(80.0), 255.0);
        assert!((e.map(40.0) - 127.5).abs() < 1e-9);
        // LINEAR reaches 255 at x > 79 (c - 0.5 + (w-1)/2), LINEAR_EXACT only at 80.
        assert_eq!(l.map(79.5), 255.0);
        assert!(e.map(79.5) < 255.0);
        assert!((l.map(40.0) - e.map(40.0)).abs() > 1.0);
    }

    #[test]
    fn sigmoid_midpoint_and_tails() {
        let s = win(0.0, 100.0, VoiFunction::Sigmoid);
        assert!((s.map(0.0) - 127.5).abs() < 1e-9);
        assert!(s.map(-1000.0) < 0.01);
        assert!(s.map(1000.0) > 254.99);
        // y(c + w/2) = 255 / (1 + e^-2)
        assert!((s.map(50.0) - 255.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-9);
    }

    #[test]
    fn gray8_rounds_and_inverts() {
        let v = window_for_range(0.0, 255.0);
        let mut out = Vec::new();
        to_gray8(&[0.0, 128.0, 255.0, -5.0, 300.0], &v, false, &mut out);
        assert_eq!(out, vec![0, 128, 255, 0, 255]);
        to_gray8(&[0.0, 255.0], &v, true, &mut out);
        assert_eq!(out, vec![255, 0]);
        // The general path agrees with the fast path.
        let lut_path: Vec<u8> = [0.0f64, 128.0, 255.0]
            .iter()
            .map(|&x| (v.map(x) + 0.5) as u8)
            .collect();
        assert_eq!(lut_path, vec![0, 128, 255]);
    }

    #[test]
    fn voi_lut_scales_its_output_range() {
        // 12-bit LUT output over inputs 100..103; out of range inputs clamp.
        let l = Voi::Lut(Lut {
            first: 100,
            bits: 12,
            values: vec![0.0, 1365.0, 2730.0, 4095.0],
        });
        assert_eq!(l.map(50.0), 0.0);
        assert!((l.map(101.0) - 85.0).abs() < 1e-9);
        assert_eq!(l.map(103.0), 255.0);
        assert_eq!(l.map(9999.0), 255.0);
    }

    #[test]
    fn presets_and_percentiles() {
        assert_eq!(preset("Lung"), Some((-600.0, 1500.0)));
        assert_eq!(preset("nope"), None);
        let mut v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        v.push(1e6); // a hot pixel
        let s = Stats::of(&v);
        assert_eq!(s.min, 0.0);
        assert_eq!(s.max, 1e6);
        assert!(s.p99 < 2000.0, "{}", s.p99);
        assert_eq!(s.histogram.iter().sum::<u32>(), 1001);
    }
}
