//! A small decoder for 12-bit sequential DCT JPEG (ISO 10918-1 extended process, DICOM
//! 1.2.840.10008.1.2.4.51), greyscale only: jpeg-decoder refuses 12-bit precision and
//! 12-bit lossy CT/MR exists in archives. Huffman coding, one scan, restart intervals;
//! float IDCT (results within ±1 of libjpeg's integer IDCT). Bounded: sizes come from the
//! DICOM header and are checked against the frame header.

use std::f32::consts::PI;

/// Zig-zag order: natural index of the k-th coefficient.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

#[derive(Clone, Default)]
struct Huffman {
    /// (length, code) → symbol, as a list per length: first code and symbols.
    first: [i32; 17],
    count: [i32; 17],
    offset: [usize; 17],
    symbols: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8; 16], symbols: Vec<u8>) -> Huffman {
        let mut h = Huffman {
            symbols,
            ..Default::default()
        };
        let mut code = 0i32;
        let mut off = 0usize;
        for len in 1..=16 {
            let n = counts[len - 1] as i32;
            h.first[len] = code;
            h.count[len] = n;
            h.offset[len] = off;
            off += n as usize;
            code = (code + n) << 1;
        }
        h
    }
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u32,
    n: u32,
}

impl Bits<'_> {
    fn bit(&mut self) -> u32 {
        if self.n == 0 {
            let mut b = 0u8;
            if self.pos < self.data.len() {
                b = self.data[self.pos];
                if b == 0xFF {
                    match self.data.get(self.pos + 1) {
                        Some(0x00) => self.pos += 2,
                        // A marker: feed zeros, stay put.
                        _ => b = 0,
                    }
                } else {
                    self.pos += 1;
                }
            }
            self.acc = b as u32;
            self.n = 8;
        }
        self.n -= 1;
        (self.acc >> self.n) & 1
    }
    fn bits(&mut self, k: u32) -> i32 {
        let mut v = 0i32;
        for _ in 0..k {
            v = (v << 1) | self.bit() as i32;
        }
        v
    }
    fn decode(&mut self, h: &Huffman) -> Result<u8, String> {
        let mut code = 0i32;
        for len in 1..=16 {
            code = (code << 1) | self.bit() as i32;
            if code - h.first[len] < h.count[len] {
                let i = h.offset[len] + (code - h.first[len]) as usize;
                return h.symbols.get(i).copied().ok_or("bad Huffman table".into());
            }
        }
        Err("bad Huffman code".into())
    }
    /// Skips to the byte after the next RSTn marker.
    fn restart(&mut self) {
        self.n = 0;
        while self.pos + 1 < self.data.len() {
            if self.data[self.pos] == 0xFF && (0xD0..=0xD7).contains(&self.data[self.pos + 1]) {
                self.pos += 2;
                return;
            }
            self.pos += 1;
        }
    }
}

fn extend(v: i32, s: u32) -> i32 {
    if s == 0 {
        0
    } else if v < 1 << (s - 1) {
        v - (1 << s) + 1
    } else {
        v
    }
}

/// Decodes a greyscale sequential-DCT JPEG of `width`×`height` and precision 8 or 12.
pub fn decode(data: &[u8], width: u32, height: u32) -> Result<Vec<u16>, String> {
    let mut qt = [[0u16; 64]; 4];
    let mut dc = vec![Huffman::default(); 4];
    let mut ac = vec![Huffman::default(); 4];
    let mut restart = 0usize;
    let mut frame: Option<(u32, usize, usize, usize)> = None; // precision, x, y, tq
    let mut i = 2;
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return Err("not a JPEG stream".into());
    }
    loop {
        while i < data.len() && data[i] != 0xFF {
            i += 1;
        }
        while i < data.len() && data[i] == 0xFF {
            i += 1;
        }
        if i + 2 >= data.len() {
            return Err("no scan".into());
        }
        let marker = data[i];
        let len = u16::from_be_bytes([data[i + 1], data[i + 2]]) as usize;
        let seg = data
            .get(i + 3..i + 1 + len)
            .ok_or("marker segment past the end")?;
        match marker {
            0xDB => {
                let mut p = 0;
                while p < seg.len() {
                    let (pq, tq) = (seg[p] >> 4, (seg[p] & 3) as usize);
                    p += 1;
                    for q in qt[tq].iter_mut() {
                        *q = if pq == 1 {
                            let v = u16::from_be_bytes([
                                *seg.get(p).ok_or("short DQT")?,
                                *seg.get(p + 1).ok_or("short DQT")?,
                            ]);
                            p += 2;
                            v
                        } else {
                            let v = *seg.get(p).ok_or("short DQT")? as u16;
                            p += 1;
                            v
                        };
                    }
                }
            }
            0xC4 => {
                let mut p = 0;
                while p + 17 <= seg.len() {
                    let (tc, th) = (seg[p] >> 4, (seg[p] & 3) as usize);
                    let mut counts = [0u8; 16];
                    counts.copy_from_slice(&seg[p + 1..p + 17]);
                    let n: usize = counts.iter().map(|&c| c as usize).sum();
                    let syms = seg.get(p + 17..p + 17 + n).ok_or("short DHT")?.to_vec();
                    let h = Huffman::new(&counts, syms);
                    if tc == 0 {
                        dc[th] = h;
                    } else {
                        ac[th] = h;
                    }
                    p += 17 + n;
                }
            }
            0xC0 | 0xC1 => {
                if seg.len() < 9 {
                    return Err("short SOF".into());
                }
                let p = seg[0] as u32;
                let y = u16::from_be_bytes([seg[1], seg[2]]) as usize;
                let x = u16::from_be_bytes([seg[3], seg[4]]) as usize;
                if seg[5] != 1 {
                    return Err(format!("{}-component 12-bit JPEG", seg[5]));
                }
                if (x as u32, y as u32) != (width, height) || !(p == 8 || p == 12) {
                    return Err(format!(
                        "JPEG frame {x}x{y} at {p} bits, header says {width}x{height}"
                    ));
                }
                frame = Some((p, x, y, (seg[8] & 3) as usize));
            }
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err("progressive, lossless or arithmetic JPEG in the 12-bit path".into())
            }
            0xDD => {
                restart = u16::from_be_bytes([
                    *seg.first().ok_or("short DRI")?,
                    *seg.get(1).ok_or("short DRI")?,
                ]) as usize;
            }
            0xDA => {
                let (prec, x, y, tq) = frame.ok_or("scan before frame header")?;
                let tables = *seg.get(2).ok_or("short SOS")?;
                let (td, ta) = ((tables >> 4) as usize & 3, (tables & 3) as usize);
                let mut bits = Bits {
                    data: &data[i + 1 + len..],
                    pos: 0,
                    acc: 0,
                    n: 0,
                };
                return Ok(decode_scan(
                    &mut bits, &dc[td], &ac[ta], &qt[tq], prec, x, y, restart,
                ));
            }
            0xD9 => return Err("end of image before a scan".into()),
            _ => {}
        }
        i += 1 + len;
    }
}

#[allow(clippy::too_many_arguments)]
fn decode_scan(
    bits: &mut Bits,
    dc: &Huffman,
    ac: &Huffman,
    q: &[u16; 64],
    prec: u32,
    x: usize,
    y: usize,
    restart: usize,
) -> Vec<u16> {
    let (bx, by) = (x.div_ceil(8), y.div_ceil(8));
    let mut out = vec![0u16; x * y];
    let mut cos = [[0f32; 8]; 8];
    for (u, row) in cos.iter_mut().enumerate() {
        for (p, c) in row.iter_mut().enumerate() {
            let cu = if u == 0 { 1.0 / 2f32.sqrt() } else { 1.0 };
            *c = cu * ((2 * p + 1) as f32 * u as f32 * PI / 16.0).cos() / 2.0;
        }
    }
    let shift = (1u32 << (prec - 1)) as f32;
    let max = ((1u32 << prec) - 1) as f32;
    let mut pred = 0i32;
    let mut coef = [0f32; 64];
    let mut tmp = [0f32; 64];
    for mcu in 0..bx * by {
        if restart > 0 && mcu > 0 && mcu % restart == 0 {
            bits.restart();
            pred = 0;
        }
        coef.fill(0.0);
        // A bad code ends the image: the rest stays black rather than garbage.
        let Ok(s) = bits.decode(dc) else { break };
        let s = s as u32 & 15;
        pred += extend(bits.bits(s), s);
        coef[0] = pred as f32 * q[0] as f32;
        let mut k = 1;
        while k < 64 {
            let Ok(rs) = bits.decode(ac) else { break };
            let (r, s) = ((rs >> 4) as usize, (rs & 15) as u32);
            if s == 0 {
                if r == 15 {
                    k += 16;
                    continue;
                }
                break;
            }
            k += r;
            if k > 63 {
                break;
            }
            coef[ZIGZAG[k]] = extend(bits.bits(s), s) as f32 * q[k] as f32;
            k += 1;
        }
        // Separable IDCT: rows then columns.
        for v in 0..8 {
            for px in 0..8 {
                let mut sum = 0.0;
                for u in 0..8 {
                    sum += cos[u][px] * coef[v * 8 + u];
                }
                tmp[v * 8 + px] = sum;
            }
        }
        let (ox, oy) = ((mcu % bx) * 8, (mcu / bx) * 8);
        for py in 0..8 {
            if oy + py >= y {
                break;
            }
            for px in 0..8 {
                if ox + px >= x {
                    break;
                }
                let mut sum = 0.0;
                for v in 0..8 {
                    sum += cos[v][py] * tmp[v * 8 + px];
                }
                out[(oy + py) * x + ox + px] = (sum + shift).round().clamp(0.0, max) as u16;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_without_panic() {
        assert!(decode(&[], 8, 8).is_err());
        assert!(decode(&[0xFF, 0xD8, 0xFF, 0xDB, 0xFF, 0xFF], 8, 8).is_err());
        let mut v = vec![0xFF, 0xD8];
        v.extend(std::iter::repeat_n(0xFFu8, 100));
        assert!(decode(&v, 8, 8).is_err());
    }
}
