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
