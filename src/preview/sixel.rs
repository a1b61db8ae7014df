//! Sixel output (DEC VT340 graphics, what xterm `-ti vt340`, foot, WezTerm, mlterm show):
//! a picture becomes `ESC P q "1;1;W;H #palette... sixels ESC \`. The quantiser and
//! encoder are icy_sixel (pure Rust).

use image::RgbImage;

/// Why a picture could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("sixel encoding failed: {0}")]
pub struct SixelError(String);

/// Encodes an RGB picture as one sixel DCS sequence (≤ 256 palette entries).
pub fn encode_sixel(img: &RgbImage) -> Result<Vec<u8>, SixelError> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut rgba = Vec::with_capacity(w * h * 4);
    for p in img.as_raw().chunks_exact(3) {
        rgba.extend_from_slice(&[p[0], p[1], p[2], 255]);
    }
    let opts = icy_sixel::EncodeOptions {
        max_colors: 256,
        // Light dithering: smooth grey ramps without the noise full Floyd–Steinberg adds.
        diffusion: 0.5,
        ..icy_sixel::EncodeOptions::default()
    };
    icy_sixel::sixel_encode(&rgba, w, h, &opts)
        .map(String::into_bytes)
        .map_err(|e| SixelError(e.to_string()))
}

/// Encodes a grey picture directly: sixel colours are percentages, so 101 grey levels are
/// all a terminal can show; each pixel takes the nearest one (no quantiser, no dithering
/// noise) and only the levels present are defined. Several times faster than
/// [`encode_sixel`] on a pane-sized picture.
pub fn encode_sixel_gray(img: &image::GrayImage) -> Vec<u8> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let px = img.as_raw();
    // 8-bit grey → level 0..=100.
    let level: Vec<u8> = (0..=255u32)
        .map(|g| ((g * 100 + 127) / 255) as u8)
        .collect();
    let mut out = Vec::with_capacity(w * h / 2 + 4096);
    out.extend_from_slice(format!("\x1bP0;1;0q\"1;1;{w};{h}").as_bytes());
    let mut used = [false; 101];
    for &g in px {
        used[level[g as usize] as usize] = true;
    }
    for (l, _) in used.iter().enumerate().filter(|(_, u)| **u) {
        out.extend_from_slice(format!("#{l};2;{l};{l};{l}").as_bytes());
    }
    let mut masks = vec![0u8; 101 * w];
    for band in (0..h).step_by(6) {
        let rows = (h - band).min(6);
        if band > 0 {
            out.push(b'-');
        }
        let mut present = [false; 101];
        masks.fill(0);
        for r in 0..rows {
            let row = &px[(band + r) * w..(band + r + 1) * w];
            for (x, &g) in row.iter().enumerate() {
                let l = level[g as usize] as usize;
                masks[l * w + x] |= 1 << r;
                present[l] = true;
            }
        }
        let mut first = true;
        for l in (0..101).filter(|&l| present[l]) {
            if !first {
                out.push(b'$');
            }
            first = false;
            out.push(b'#');
            out.extend_from_slice(l.to_string().as_bytes());
            let m = &masks[l * w..(l + 1) * w];
            // Trailing empty columns need not be sent.
            let end = m.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            let mut x = 0;
            while x < end {
                let b = m[x];
                let mut run = 1;
                while x + run < end && m[x + run] == b {
                    run += 1;
                }
                let c = b'?' + b;
                if run > 3 {
                    out.push(b'!');
                    out.extend_from_slice(run.to_string().as_bytes());
                    out.push(c);
                } else {
                    out.extend(std::iter::repeat_n(c, run));
                }
                x += run;
            }
        }
    }
    out.extend_from_slice(b"\x1b\\");
    out
}

/// Sixel for a rendered picture: the direct grey encoder for grey, icy_sixel for colour.
pub fn encode_picture(p: &super::Picture) -> Result<Vec<u8>, SixelError> {
    match p {
        super::Picture::Gray(g) => Ok(encode_sixel_gray(g)),
        super::Picture::Rgb(c) => encode_sixel(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_sixel_round_trips_through_a_decoder() {
        // 7x7 ramp: two bands, several levels.
        let img = image::GrayImage::from_fn(7, 7, |x, y| image::Luma([(x * 40 + y) as u8]));
        let s = encode_sixel_gray(&img);
        let dec = icy_sixel::SixelImage::decode(&s).unwrap();
        // The decoder pads the height to whole bands.
        assert_eq!((dec.width, dec.height.min(7)), (7, 7));
        for (i, p) in dec.pixels.chunks_exact(4).take(49).enumerate() {
            let g = img.as_raw()[i] as i32;
            // 101 levels: within half a percent step (1.3 of 255).
            assert!((p[0] as i32 - g).abs() <= 2, "pixel {i}: {} vs {g}", p[0]);
        }
    }
}
