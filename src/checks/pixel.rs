//! Image Pixel module consistency (PS3.3 C.7.6.3; PS3.5 §8.1.1 for the native length).

use super::engine::FileFinding;
use crate::formats::dicom::{tags, DicomHeader};

/// Samples per pixel a photometric interpretation needs (PS3.3 C.7.6.3.1.2).
fn samples_for(photometric: &str) -> Option<i64> {
    Some(match photometric {
        "MONOCHROME1" | "MONOCHROME2" | "PALETTE COLOR" => 1,
        "RGB" | "YBR_FULL" | "YBR_FULL_422" | "YBR_PARTIAL_420" | "YBR_PARTIAL_422" | "YBR_ICT"
        | "YBR_RCT" | "HSV" | "XYB" => 3,
        "ARGB" | "CMYK" => 4,
        _ => return None,
    })
}

/// Bytes native Pixel Data must have: Rows x Columns x Frames x Samples x Bits Allocated / 8.
pub fn expected_native_length(h: &DicomHeader) -> Option<u64> {
    let rows = u64::try_from(h.int(tags::ROWS)?).ok()?;
    let cols = u64::try_from(h.int(tags::COLUMNS)?).ok()?;
    let frames = u64::try_from(h.int(tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1)).ok()?;
    let samples = u64::try_from(h.int(tags::SAMPLES_PER_PIXEL).unwrap_or(1).max(1)).ok()?;
    let bits = u64::try_from(h.int(tags::BITS_ALLOCATED)?).ok()?;
    let total_bits = rows
        .checked_mul(cols)?
        .checked_mul(frames)?
        .checked_mul(samples)?
        .checked_mul(bits)?;
    Some(total_bits.div_ceil(8))
}

pub fn check(h: &DicomHeader, out: &mut Vec<FileFinding>) {
    let allocated = h.int(tags::BITS_ALLOCATED);
    let stored = h.int(tags::BITS_STORED);
    if let (Some(a), Some(s)) = (allocated, stored) {
        if s > a {
            out.push(
                FileFinding::new(
                    "pixel.bits_stored",
                    format!(
                        "BitsStored (0028,0101) is {s}, more than BitsAllocated (0028,0100) {a}"
                    ),
                )
                .at(tags::BITS_STORED, None),
            );
        }
    }
    if let (Some(s), Some(hb)) = (stored, h.int(tags::HIGH_BIT)) {
        if hb != s - 1 {
            out.push(
                FileFinding::new(
                    "pixel.high_bit",
                    format!(
                        "HighBit (0028,0102) is {hb}, not BitsStored - 1 = {}",
                        s - 1
                    ),
                )
                .at(tags::HIGH_BIT, None),
            );
        }
    }
    if let (Some(spp), Some(pi)) = (
        h.int(tags::SAMPLES_PER_PIXEL),
        h.str(tags::PHOTOMETRIC_INTERPRETATION),
    ) {
        if let Some(need) = samples_for(pi.trim()) {
            if need != spp {
                out.push(
                    FileFinding::new(
                        "pixel.samples_photometric",
                        format!(
                            "SamplesPerPixel (0028,0002) is {spp} but PhotometricInterpretation {} needs {need}",
                            pi.trim()
                        ),
                    )
                    .at(tags::SAMPLES_PER_PIXEL, None),
                );
            }
        }
    }
    let Some(px) = &h.pixel_data else { return };
    if px.tag != tags::PIXEL_DATA || h.truncated {
        return;
    }
    if px.encapsulated {
        // PS3.5 A.4: each frame is in one or more fragments after the Basic Offset Table.
        let frames = h.int(tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1);
        if let Some(n) = px.fragments {
            if i64::from(n) < frames {
                out.push(
                    FileFinding::new(
                        "pixel.fragments",
                        format!("encapsulated PixelData (7FE0,0010) has {n} fragment(s) for {frames} frame(s)"),
                    )
                    .at(tags::PIXEL_DATA, None),
                );
            }
        }
        return;
    }
    let (Some(len), Some(expected)) = (px.length, expected_native_length(h)) else {
        return;
    };
    // One padding byte is allowed to make an odd length even (PS3.5 §8.1.1).
    if len != expected && !(expected % 2 == 1 && len == expected + 1) {
        out.push(
            FileFinding::new(
                "pixel.length",
                format!(
                    "PixelData (7FE0,0010) has {len} bytes; Rows x Columns x Frames x Samples x BitsAllocated/8 = {expected}"
                ),
            )
            .at(tags::PIXEL_DATA, None),
        );
    }
}
