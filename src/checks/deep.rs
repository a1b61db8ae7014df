//! The `--deep` pass reads pixel data: blank or constant images and tiny dynamic range (native
//! pixel data read directly; compressed pixel data — RLE, JPEG, JPEG-LS, JPEG 2000 — decoded,
//! first frame, by the preview decoder), and lossy-compressed images in an otherwise lossless
//! dataset (by transfer syntax, or Lossy Image Compression = 01).
//! Incremental: a file is read again only when its content changed.

use super::engine::{file_subject, Finding};
use crate::catalogue::findings::PixelSource;
use crate::catalogue::{Catalogue, CatalogueError};
use crate::formats::dicom::tags;
use rayon::prelude::*;
use std::io::{Read, Seek, SeekFrom};

/// Native pixel data read at most per file (larger images are sampled from their start).
const MAX_NATIVE: u64 = 256 << 20;

/// Transfer syntaxes whose compression is lossy (PS3.5 Table A-1, PS3.6 Annex A).
pub fn lossy_syntax(ts: &str) -> bool {
    matches!(
        ts,
        "1.2.840.10008.1.2.4.50"
            | "1.2.840.10008.1.2.4.51"
            | "1.2.840.10008.1.2.4.81"
            | "1.2.840.10008.1.2.4.91"
            | "1.2.840.10008.1.2.4.93"
            | "1.2.840.10008.1.2.4.203"
            | "1.2.840.10008.1.2.4.100"
            | "1.2.840.10008.1.2.4.101"
            | "1.2.840.10008.1.2.4.102"
            | "1.2.840.10008.1.2.4.103"
            | "1.2.840.10008.1.2.4.104"
            | "1.2.840.10008.1.2.4.105"
            | "1.2.840.10008.1.2.4.106"
            | "1.2.840.10008.1.2.4.110"
            | "1.2.840.10008.1.2.4.111"
            | "1.2.840.10008.1.2.4.112"
    )
}

fn finding(src: &PixelSource, code: &'static str, tag: u32, message: String) -> Finding {
    let mut f = Finding::new(code, file_subject(&src.path), message);
    f.file_id = Some(src.file_id);
    f.series_uid = src.series_uid.clone();
    f.study_uid = src.study_uid.clone();
    f.tag = Some(tag);
    f
}

/// Min and max of native pixel values (first sample plane interleaved alike), or `None` if the
/// layout is not one dicura reads.
fn native_range(src: &PixelSource) -> std::io::Result<Option<(i64, i64)>> {
    let bits = src.bits_allocated.unwrap_or(0);
    if !matches!(bits, 8 | 16 | 32)
        || src.transfer_syntax.as_deref() == Some("1.2.840.10008.1.2.1.99")
    {
        return Ok(None);
    }
    let len = src.pixel_length.unwrap_or(0).max(0) as u64;
    let mut f = std::fs::File::open(&src.path)?;
    f.seek(SeekFrom::Start(src.pixel_offset.unwrap_or(0).max(0) as u64))?;
    let mut buf = Vec::new();
    f.take(len.min(MAX_NATIVE)).read_to_end(&mut buf)?;
    let big = src.transfer_syntax.as_deref() == Some("1.2.840.10008.1.2.2");
    let signed = src.pixel_representation == Some(1);
    let stored = src.bits_stored.unwrap_or(bits).clamp(1, bits);
    let unit = (bits / 8) as usize;
    let mut lo = i64::MAX;
    let mut hi = i64::MIN;
    for c in buf.chunks_exact(unit) {
        let raw: u64 = match unit {
            1 => c[0] as u64,
            2 => {
                let a = [c[0], c[1]];
                (if big {
                    u16::from_be_bytes(a)
                } else {
                    u16::from_le_bytes(a)
                }) as u64
            }
            _ => {
                let a = [c[0], c[1], c[2], c[3]];
                (if big {
                    u32::from_be_bytes(a)
                } else {
                    u32::from_le_bytes(a)
                }) as u64
            }
        };
        let mask = if stored >= 64 {
            u64::MAX
        } else {
            (1u64 << stored) - 1
        };
        let v = raw & mask;
        let v = if signed && stored < 64 && v >> (stored - 1) & 1 == 1 {
            v as i64 - (1i64 << stored)
        } else {
            v as i64
        };
        lo = lo.min(v);
        hi = hi.max(v);
    }
    Ok((lo <= hi).then_some((lo, hi)))
}

/// Min and max of the first frame's stored values of compressed pixel data, decoded; `None`
/// when it cannot be decoded (the per-file checks report broken encapsulation).
fn decoded_range(src: &PixelSource) -> Option<(i64, i64)> {
    let img = crate::preview::DicomImage::open(std::path::Path::new(&src.path)).ok()?;
    let frame = img.decode_frame(0, 0).ok()?;
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    for v in &frame.data {
        lo = lo.min(*v);
        hi = hi.max(*v);
    }
    (lo <= hi).then_some((lo.round() as i64, hi.round() as i64))
}

fn check_one(src: &PixelSource) -> Vec<Finding> {
    let mut out = Vec::new();
    let range = if src.encapsulated {
        decoded_range(src)
    } else {
        native_range(src).ok().flatten()
    };
    if let Some((lo, hi)) = range {
        if lo == hi {
            out.push(finding(
                src,
                "image.constant",
                tags::PIXEL_DATA,
                "every pixel has the same value: a blank or constant image".to_string(),
            ));
        } else if hi - lo < 4 && src.bits_stored.unwrap_or(0) >= 8 {
            out.push(finding(
                src,
                "image.low_dynamic_range",
                tags::PIXEL_DATA,
                format!(
                    "pixel values span only {} levels of the {} bits stored",
                    hi - lo + 1,
                    src.bits_stored.unwrap_or(0)
                ),
            ));
        }
    }
    out
}

/// Runs the deep pass over files whose current content it has not seen, and the dataset-wide
/// lossy check over all files.
pub fn run(cat: &Catalogue) -> Result<usize, CatalogueError> {
    let todo = cat.pixel_sources(true)?;
    let findings: Vec<Finding> = todo.par_iter().flat_map_iter(check_one).collect();
    let checked: Vec<(i64, f64)> = todo.iter().map(|s| (s.file_id, s.scanned_at)).collect();
    cat.store_deep(&checked, &findings)?;
    // Lossy among lossless: from the catalogue alone, recomputed over the whole dataset.
    let all = cat.pixel_sources(false)?;
    let is_lossy =
        |s: &PixelSource| s.lossy_flag || s.transfer_syntax.as_deref().is_some_and(lossy_syntax);
    let lossy: Vec<&PixelSource> = all.iter().filter(|s| is_lossy(s)).collect();
    let lossy_count = lossy.len();
    let mut out = Vec::new();
    if !lossy.is_empty() && lossy.len() * 2 < all.len() {
        for s in lossy {
            out.push(finding(
                s,
                "image.lossy_in_lossless_dataset",
                tags::TRANSFER_SYNTAX_UID,
                format!(
                    "lossy-compressed image ({}) in a dataset where {} of {} images are lossless",
                    if s.transfer_syntax.as_deref().is_some_and(lossy_syntax) {
                        format!(
                            "transfer syntax {}",
                            s.transfer_syntax.as_deref().unwrap_or("")
                        )
                    } else {
                        "LossyImageCompression (0028,2110) is 01".to_string()
                    },
                    all.len() - lossy_count,
                    all.len()
                ),
            ));
        }
    }
    cat.replace_findings("lossy", ("all", ""), &out)?;
    Ok(todo.len())
}
