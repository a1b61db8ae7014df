//! Geometry of the output picture: aspect correction from the pixel spacing, fitting into the
//! pane, and an area-average (box) resampler that runs on modality values before windowing,
//! so a 3000×3000 radiograph is windowed at pane size, not at full size.

use image::{GrayImage, RgbImage};

/// The picture shown: 8-bit grey or RGB.
#[derive(Debug, Clone, PartialEq)]
pub enum Picture {
    Gray(GrayImage),
    Rgb(RgbImage),
}

impl Picture {
    pub fn width(&self) -> u32 {
        match self {
            Picture::Gray(g) => g.width(),
            Picture::Rgb(c) => c.width(),
        }
    }
    pub fn height(&self) -> u32 {
        match self {
            Picture::Gray(g) => g.height(),
            Picture::Rgb(c) => c.height(),
        }
    }
    /// RGB copy (grey replicated), for encoders that want colour.
    pub fn to_rgb(&self) -> RgbImage {
        match self {
            Picture::Rgb(c) => c.clone(),
            Picture::Gray(g) => {
                let mut out = Vec::with_capacity(g.as_raw().len() * 3);
                for &v in g.as_raw() {
                    out.extend_from_slice(&[v, v, v]);
                }
                RgbImage::from_raw(g.width(), g.height(), out).unwrap_or_default()
            }
        }
    }
    pub fn save_png(&self, path: &std::path::Path) -> Result<(), image::ImageError> {
        match self {
            Picture::Gray(g) => g.save_with_format(path, image::ImageFormat::Png),
            Picture::Rgb(c) => c.save_with_format(path, image::ImageFormat::Png),
        }
    }
}

/// Output size for a `w`×`h` image whose pixels are `aspect` times as tall as wide: native
/// size stretched along one axis so that pixels are square, then shrunk (never enlarged) to
/// fit `max` keeping the ratio.
pub fn fit_size(w: u32, h: u32, aspect: f64, max: Option<(u32, u32)>) -> (u32, u32) {
    let aspect = if aspect.is_finite() && aspect > 0.0 {
        aspect
    } else {
        1.0
    };
    let (mut fw, mut fh) = (w as f64, h as f64);
    if aspect > 1.0 {
        fh *= aspect;
    } else {
        fw /= aspect;
    }
    // Never blow a picture up by more than 8 along one axis (absurd spacing).
    fw = fw.min(w as f64 * 8.0);
    fh = fh.min(h as f64 * 8.0);
    if let Some((mw, mh)) = max {
        let s = (mw.max(1) as f64 / fw).min(mh.max(1) as f64 / fh).min(1.0);
        fw *= s;
        fh *= s;
    }
    ((fw.round() as u32).max(1), (fh.round() as u32).max(1))
}

/// Source index ranges covered by each of `out` output cells over `src` inputs: area average
/// when shrinking, nearest neighbour when stretching.
fn spans(src: usize, out: usize) -> Vec<(usize, usize)> {
    let s = src as f64 / out as f64;
    (0..out)
        .map(|i| {
            let a = ((i as f64 * s).floor() as usize).min(src - 1);
            let b = (((i + 1) as f64 * s).floor() as usize).clamp(a + 1, src);
            (a, b)
        })
        .collect()
}

/// Resamples `ch` interleaved channels of a `w`×`h` image to `ow`×`oh` (separable box filter).
pub fn resample(data: &[f32], w: usize, h: usize, ch: usize, ow: usize, oh: usize) -> Vec<f32> {
    if (w, h) == (ow, oh) || w == 0 || h == 0 || ow == 0 || oh == 0 {
        return data.to_vec();
    }
    // Horizontal pass: h × ow.
    let xs = spans(w, ow);
    let mut tmp = vec![0f32; h * ow * ch];
    for y in 0..h {
        let row = &data[y * w * ch..(y + 1) * w * ch];
        let out = &mut tmp[y * ow * ch..(y + 1) * ow * ch];
        for (ox, &(a, b)) in xs.iter().enumerate() {
            let inv = 1.0 / (b - a) as f32;
            for c in 0..ch {
                let mut sum = 0f32;
                for x in a..b {
                    sum += row[x * ch + c];
                }
                out[ox * ch + c] = sum * inv;
            }
        }
    }
    // Vertical pass: oh × ow.
    let ys = spans(h, oh);
    let stride = ow * ch;
    let mut out = vec![0f32; oh * stride];
    for (oy, &(a, b)) in ys.iter().enumerate() {
        let dst = &mut out[oy * stride..(oy + 1) * stride];
        for y in a..b {
            let src = &tmp[y * stride..(y + 1) * stride];
            for (d, s) in dst.iter_mut().zip(src) {
                *d += s;
            }
        }
        let inv = 1.0 / (b - a) as f32;
        for d in dst.iter_mut() {
            *d *= inv;
        }
    }
    out
}

/// Same for 8-bit interleaved data (colour pictures).
pub fn resample_u8(data: &[u8], w: usize, h: usize, ch: usize, ow: usize, oh: usize) -> Vec<u8> {
    if (w, h) == (ow, oh) {
        return data.to_vec();
    }
    let f: Vec<f32> = data.iter().map(|&b| b as f32).collect();
    resample(&f, w, h, ch, ow, oh)
        .into_iter()
        .map(|v| (v + 0.5).clamp(0.0, 255.0) as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_aspect_and_never_enlarges() {
        assert_eq!(fit_size(512, 512, 1.0, None), (512, 512));
        // Pixels twice as tall as wide: the picture is twice as tall.
        assert_eq!(fit_size(100, 50, 2.0, None), (100, 100));
        assert_eq!(fit_size(3000, 3000, 1.0, Some((800, 600))), (600, 600));
        assert_eq!(fit_size(100, 100, 1.0, Some((800, 600))), (100, 100));
    }

    #[test]
    fn box_average() {
        // 4x2 -> 2x1: averages of 2x2 blocks.
        let d = [0.0, 2.0, 10.0, 20.0, 4.0, 6.0, 30.0, 40.0];
        assert_eq!(resample(&d, 4, 2, 1, 2, 1), vec![3.0, 25.0]);
        // Stretch 1x2 -> 1x4 repeats rows.
        assert_eq!(
            resample(&[1.0, 2.0], 1, 2, 1, 1, 4),
            vec![1.0, 1.0, 2.0, 2.0]
        );
    }
}
