//! Look-up tables stored in the data set: Modality and VOI LUT Sequences (PS3.3 C.11.1,
//! C.11.2) and Palette Color LUTs, normal and segmented (PS3.3 C.7.6.3.1.5-6, C.7.9.2), plus
//! the YBR → RGB conversion (PS3.3 C.7.6.3.1.2). Kept apart from windowing because these
//! come from the file, windows from the user.

use crate::formats::dicom::{DicomHeader, Value};

/// A LUT: input `first` maps to `values[0]`; inputs outside clamp to the ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Lut {
    pub first: i64,
    /// Bits per entry (from the descriptor): the output range is `0 .. 2^bits - 1`.
    pub bits: u32,
    pub values: Vec<f64>,
}

impl Lut {
    pub fn apply(&self, x: f64) -> f64 {
        let last = self.values.len().saturating_sub(1) as i64;
        let i = ((x.round() as i64).saturating_sub(self.first)).clamp(0, last);
        self.values.get(i as usize).copied().unwrap_or(0.0)
    }
    /// The largest possible output (for scaling a VOI LUT to 8 bits).
    pub fn max_out(&self) -> f64 {
        let declared = ((1u64 << self.bits.min(16)) - 1) as f64;
        // Some files declare 16 bits but fill only 12; scale by what is there then.
        let actual = self.values.iter().cloned().fold(0.0, f64::max);
        if actual > 0.0 && actual < declared / 16.0 {
            actual
        } else {
            declared
        }
    }
}

/// A Palette Color LUT for PALETTE COLOR images, expanded to 8-bit RGB entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Palette {
    pub first: i64,
    pub rgb: Vec<[u8; 3]>,
}

/// Entries that a segmented LUT may expand to at most (16-bit input range).
const MAX_LUT_ENTRIES: usize = 65536;

fn words_of(h: &DicomHeader, tag: u32) -> Option<Vec<u16>> {
    let e = h.get(tag)?;
    let w = super::decode::words(e, h.encoding.big_endian);
    (!w.is_empty()).then_some(w)
}

fn bytes_of(h: &DicomHeader, tag: u32) -> Option<Vec<u8>> {
    match &h.get(tag)?.value {
        Value::Bytes(b) => Some(b.clone()),
        Value::Ints(v) => Some(v.iter().flat_map(|&i| (i as u16).to_le_bytes()).collect()),
        _ => None,
    }
}

impl Palette {
    /// Reads the three palette descriptors and their (possibly segmented) data.
    pub fn from_header(h: &DicomHeader) -> Result<Palette, String> {
        let mut channels: Vec<Vec<u8>> = Vec::with_capacity(3);
        let mut first = 0i64;
        for (k, name) in ["red", "green", "blue"].iter().enumerate() {
            let k = k as u32;
            let desc: Vec<i64> = match h.get(0x0028_1101 + k).map(|e| &e.value) {
                Some(Value::Ints(v)) => v.clone(),
                Some(Value::Bytes(_)) => words_of(h, 0x0028_1101 + k)
                    .unwrap_or_default()
                    .iter()
                    .map(|&w| w as i64)
                    .collect(),
                _ => Vec::new(),
            };
            if desc.len() < 3 {
                return Err(format!("missing {name} palette descriptor"));
            }
            let n = if desc[0] == 0 {
                65536
            } else {
                desc[0] as usize
            };
            first = desc[1];
            let bits = desc[2];
            let entries: Vec<u16> = if let Some(seg) = words_of(h, 0x0028_1221 + k) {
                expand_segmented(&seg, n)?
            } else if let Some(raw) = bytes_of(h, 0x0028_1201 + k) {
                if bits == 8 && (raw.len() == n || raw.len() == n + 1) {
                    raw.iter().take(n).map(|&b| b as u16).collect()
                } else {
                    let le = !h.encoding.big_endian;
                    raw.chunks_exact(2)
                        .take(n)
                        .map(|c| {
                            if le {
                                u16::from_le_bytes([c[0], c[1]])
                            } else {
                                u16::from_be_bytes([c[0], c[1]])
                            }
                        })
                        .collect()
                }
            } else {
                return Err(format!("missing {name} palette data"));
            };
            if entries.is_empty() {
                return Err(format!("empty {name} palette"));
            }
            // Entries are 8 or 16 bits; scale to 8 (16-bit entries use the high byte, as
            // dcmtk does; 8-bit entries stored in 16-bit words may sit in either byte).
            let max = entries.iter().copied().max().unwrap_or(0);
            let shift = if bits == 16 || max > 255 { 8 } else { 0 };
            channels.push(entries.iter().map(|&v| (v >> shift) as u8).collect());
        }
        let n = channels.iter().map(|c| c.len()).min().unwrap_or(0);
        let rgb = (0..n)
            .map(|i| [channels[0][i], channels[1][i], channels[2][i]])
            .collect();
        Ok(Palette { first, rgb })
    }

    pub fn lookup(&self, x: f32) -> [u8; 3] {
        let last = self.rgb.len().saturating_sub(1) as i64;
        let i = ((x as i64).saturating_sub(self.first)).clamp(0, last) as usize;
        self.rgb.get(i).copied().unwrap_or([0, 0, 0])
    }
}

/// Expands Segmented Palette Color LUT Data (PS3.3 C.7.9.2): discrete (0), linear (1) and
/// indirect (2) segments. Bounded: at most `n` (≤ 65536) entries, indirect segments may not
/// recurse.
pub fn expand_segmented(words: &[u16], n: usize) -> Result<Vec<u16>, String> {
    let n = n.min(MAX_LUT_ENTRIES);
    let mut out: Vec<u16> = Vec::with_capacity(n);
    // Start of each segment in `words` (for indirect segments).
    let mut seg_starts: Vec<usize> = Vec::new();
    let mut i = 0;
    expand_range(
        words,
        &mut i,
        words.len(),
        n,
        &mut out,
        &mut seg_starts,
        true,
    )?;
    Ok(out)
}

fn expand_range(
    words: &[u16],
    i: &mut usize,
    end: usize,
    n: usize,
    out: &mut Vec<u16>,
    seg_starts: &mut Vec<usize>,
    allow_indirect: bool,
) -> Result<(), String> {
    while *i + 1 < end && out.len() < n {
        if allow_indirect {
            seg_starts.push(*i);
        }
        let kind = words[*i];
        let len = words[*i + 1] as usize;
        *i += 2;
        match kind {
            0 => {
                let stop = (*i + len).min(words.len());
                out.extend_from_slice(&words[*i..stop]);
                *i = stop;
            }
            1 => {
                let Some(&y1) = words.get(*i) else {
                    return Err("linear segment without end value".into());
                };
                *i += 1;
                let y0 = *out.last().ok_or("linear segment at the start of a LUT")? as f64;
                for k in 1..=len {
                    let v = y0 + (y1 as f64 - y0) * k as f64 / len as f64;
                    out.push(v.round() as u16);
                }
            }
            2 if allow_indirect => {
                if *i + 1 >= words.len() {
                    return Err("indirect segment without offset".into());
                }
                let offset = words[*i] as usize | (words[*i + 1] as usize) << 16;
                *i += 2;
                // The offset counts 16-bit words from the start of the data (as pydicom and
                // dcmtk read it).
                if offset >= words.len() {
                    return Err("indirect segment points past the data".into());
                }
                let start = offset;
                // Re-expand `len` segments from `start`, one at a time, no further indirection.
                let mut j = start;
                for _ in 0..len {
                    if out.len() >= n {
                        break;
                    }
                    let before = j;
                    expand_range(words, &mut j, words.len(), n, out, &mut Vec::new(), false)?;
                    if j == before {
                        break;
                    }
                }
            }
            _ => return Err(format!("unknown segment type {kind}")),
        }
        if !allow_indirect {
            // One segment at a time when called for an indirect copy.
            return Ok(());
        }
    }
    out.truncate(n);
    Ok(())
}

/// YBR_FULL → RGB (PS3.3 C.7.6.3.1.2), for samples of `bits` bits.
pub fn ybr_to_rgb(y: f32, cb: f32, cr: f32, bits: u32) -> [f32; 3] {
    let half = (1u32 << (bits.clamp(1, 16) - 1)) as f32;
    let (cb, cr) = (cb - half, cr - half);
    [
        y + 1.402 * cr,
        y - 0.344_136 * cb - 0.714_136 * cr,
        y + 1.772 * cb,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ybr_grey_and_red() {
        let g = ybr_to_rgb(100.0, 128.0, 128.0, 8);
        assert_eq!(g, [100.0, 100.0, 100.0]);
        // Pure red in full-range YCbCr (JFIF): Y=76, Cb=85, Cr=255.
        let r = ybr_to_rgb(76.245, 84.972, 255.5, 8);
        assert!(
            (r[0] - 255.0).abs() < 1.0 && r[1].abs() < 1.0 && r[2].abs() < 1.0,
            "{r:?}"
        );
    }

    #[test]
    fn segmented_palette() {
        // Discrete 3 entries, linear ramp of 4 to 100, indirect copy of the segment at word 0.
        let w = [0, 3, 10, 20, 30, 1, 4, 100, 2, 1, 0, 0];
        let out = expand_segmented(&w, 100).unwrap();
        assert_eq!(out, vec![10, 20, 30, 48, 65, 83, 100, 10, 20, 30]);
        // Capped at n entries.
        assert_eq!(expand_segmented(&w, 5).unwrap().len(), 5);
        // Linear segment first is an error, not a panic.
        assert!(expand_segmented(&[1, 4, 100], 10).is_err());
        assert!(expand_segmented(&[7, 1, 0], 10).is_err());
        // Indirect copy of the linear segment at word 5: continues from the last value.
        let w = [0, 2, 0, 50, 1, 2, 100, 2, 1, 4, 0];
        assert_eq!(
            expand_segmented(&w, 100).unwrap(),
            vec![0, 50, 75, 100, 100, 100]
        );
        assert!(expand_segmented(&[0, 1, 5, 2, 1, 999, 0], 10).is_err());
    }

    #[test]
    fn lut_clamps() {
        let l = Lut {
            first: -2,
            bits: 8,
            values: vec![0.0, 10.0, 20.0],
        };
        assert_eq!(l.apply(-5.0), 0.0);
        assert_eq!(l.apply(-1.0), 10.0);
        assert_eq!(l.apply(9.0), 20.0);
    }
}
