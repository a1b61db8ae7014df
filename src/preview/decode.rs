//! DICOM pixel data → one frame of sample values. Reads only the bytes of the wanted frame
//! (native data by seeking, encapsulated data by walking item headers and reading that
//! frame's fragments), so a frame of a long cine costs one frame, and asks the JPEG 2000
//! decoder for a reduced resolution when the caller only needs a small picture.
//!
//! Codecs are pure Rust: jpeg-decoder (baseline, extended, lossless), pure_jpegls
//! (single-component JPEG-LS), jpeg2k over openjp2 (JPEG 2000, HTJ2K), and our own RLE and
//! deflate (flate2) paths.

use super::error::PreviewError;
use super::lut::{Lut, Palette};
use crate::formats::dicom::{tags, DicomHeader, Element, Limits, Value};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Largest frame decoded (samples: rows × columns × samples per pixel); larger images are
/// refused, not allocated (as f32 that is 400 MB).
pub const MAX_FRAME_PIXELS: u64 = 100_000_000;
/// Largest number of frames accepted in one object.
pub const MAX_FRAMES: u64 = 1_000_000;
/// Largest compressed frame read into memory.
const MAX_FRAME_BYTES: u64 = 1 << 30;
/// Encapsulated fragments walked at most.
const MAX_FRAGMENTS: usize = 2_000_000;

/// How the samples of a pixel are to be read (PS3.3 C.7.6.3.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Photometric {
    Monochrome1,
    Monochrome2,
    Rgb,
    YbrFull,
    YbrFull422,
    /// YBR_ICT / YBR_RCT / YBR_PARTIAL_420 in JPEG 2000 or JPEG: the codec returns RGB.
    YbrCodec,
    Palette,
}

impl Photometric {
    fn parse(s: &str) -> Option<Photometric> {
        Some(match s.trim() {
            "MONOCHROME1" => Photometric::Monochrome1,
            "MONOCHROME2" => Photometric::Monochrome2,
            "RGB" => Photometric::Rgb,
            "YBR_FULL" => Photometric::YbrFull,
            "YBR_FULL_422" => Photometric::YbrFull422,
            "YBR_ICT" | "YBR_RCT" | "YBR_PARTIAL_420" | "YBR_PARTIAL_422" => Photometric::YbrCodec,
            "PALETTE COLOR" => Photometric::Palette,
            _ => return None,
        })
    }
    pub fn is_mono(self) -> bool {
        matches!(self, Photometric::Monochrome1 | Photometric::Monochrome2)
    }
    pub fn name(self) -> &'static str {
        match self {
            Photometric::Monochrome1 => "MONOCHROME1",
            Photometric::Monochrome2 => "MONOCHROME2",
            Photometric::Rgb => "RGB",
            Photometric::YbrFull => "YBR_FULL",
            Photometric::YbrFull422 => "YBR_FULL_422",
            Photometric::YbrCodec => "YBR (codec)",
            Photometric::Palette => "PALETTE COLOR",
        }
    }
}

/// The compression of the pixel data, from the transfer syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Native,
    Deflated,
    Rle,
    Jpeg,
    JpegLs,
    Jpeg2000,
}

fn codec_of(ts: &str) -> Result<Codec, String> {
    Ok(match ts {
        "" | "1.2.840.10008.1.2" | "1.2.840.10008.1.2.1" | "1.2.840.10008.1.2.2" => Codec::Native,
        "1.2.840.10008.1.2.1.99" => Codec::Deflated,
        "1.2.840.10008.1.2.5" => Codec::Rle,
        "1.2.840.10008.1.2.4.50"
        | "1.2.840.10008.1.2.4.51"
        | "1.2.840.10008.1.2.4.57"
        | "1.2.840.10008.1.2.4.70" => Codec::Jpeg,
        "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" => Codec::JpegLs,
        "1.2.840.10008.1.2.4.90"
        | "1.2.840.10008.1.2.4.91"
        | "1.2.840.10008.1.2.4.201"
        | "1.2.840.10008.1.2.4.202"
        | "1.2.840.10008.1.2.4.203" => Codec::Jpeg2000,
        other => return Err(format!("transfer syntax {other}")),
    })
}

/// One window from the header (Window Center/Width, PS3.3 C.11.2.1.2).
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderWindow {
    pub center: f64,
    pub width: f64,
    /// Window Center & Width Explanation, if any (e.g. "BONE"); not patient data.
    pub explanation: Option<String>,
}

/// Everything needed to decode and display the frames of one DICOM file, read from its
/// header (by the project's bounded parser) without touching the pixel data.
#[derive(Debug, Clone)]
pub struct DicomImage {
    pub path: PathBuf,
    pub rows: u32,
    pub cols: u32,
    pub frames: u32,
    pub samples_per_pixel: u16,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub high_bit: u16,
    pub signed: bool,
    pub float: bool,
    pub photometric: Photometric,
    pub planar: bool,
    pub codec: Codec,
    pub big_endian: bool,
    pub rescale_slope: f64,
    pub rescale_intercept: f64,
    /// Rescale Type, or "HU" for CT with a rescale.
    pub units: Option<String>,
    pub modality: Option<String>,
    pub modality_lut: Option<Lut>,
    pub voi_luts: Vec<Lut>,
    pub windows: Vec<HeaderWindow>,
    /// VOI LUT Function (LINEAR, LINEAR_EXACT, SIGMOID).
    pub voi_function: super::window::VoiFunction,
    pub palette: Option<Palette>,
    /// (row spacing, column spacing) in mm: Pixel Spacing, else Imager Pixel Spacing.
    pub pixel_spacing: Option<(f64, f64)>,
    /// Pixel Aspect Ratio (vertical, horizontal) when no spacing is given.
    pub aspect_ratio: Option<(f64, f64)>,
    pub orientation: Option<[f64; 6]>,
    pub position: Option<[f64; 3]>,
    pixel_offset: u64,
    pixel_length: Option<u64>,
    /// 8-bit samples in an OW value of a big endian file: bytes swapped in 16-bit words.
    swap_8bit_words: bool,
    /// Start of the deflated data set in the file (deflated transfer syntax only).
    deflate_start: u64,
}

fn bad(path: &Path, what: impl Into<String>) -> PreviewError {
    PreviewError::Corrupt {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

fn unsupported(path: &Path, what: impl Into<String>) -> PreviewError {
    PreviewError::Unsupported {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// Header limits for previews: LUT data and palettes are kept (up to 1 MiB each).
pub fn header_limits() -> Limits {
    Limits {
        inline_binary: 1 << 20,
        max_numeric_bytes: 1 << 20,
        ..Limits::default()
    }
}

fn num(e: &Element) -> Vec<f64> {
    match &e.value {
        Value::Text(s) => s
            .split('\\')
            .filter_map(|p| p.trim().parse::<f64>().ok())
            .collect(),
        Value::Ints(v) => v.iter().map(|&i| i as f64).collect(),
        Value::Floats(v) => v.clone(),
        _ => Vec::new(),
    }
}

fn find(list: &[Element], tag: u32) -> Option<&Element> {
    list.iter().find(|e| e.tag == tag)
}

/// LUT data as unsigned 16-bit words: US values, or OW bytes in the file's byte order.
pub(crate) fn words(e: &Element, big_endian: bool) -> Vec<u16> {
    match &e.value {
        Value::Ints(v) => v.iter().map(|&i| i as u16).collect(),
        Value::Bytes(b) => b
            .chunks_exact(2)
            .map(|c| {
                if big_endian {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from_le_bytes([c[0], c[1]])
                }
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A LUT from an item of the Modality or VOI LUT Sequence (PS3.3 C.11.1 / C.11.2).
fn lut_from_item(item: &[Element], big_endian: bool) -> Option<Lut> {
    let desc = find(item, 0x0028_3002).map(|e| match &e.value {
        Value::Ints(v) => v.iter().map(|&i| i as f64).collect(),
        Value::Bytes(_) => words(e, big_endian).iter().map(|&w| w as f64).collect(),
        _ => num(e),
    })?;
    let data = words(find(item, 0x0028_3006)?, big_endian);
    if desc.len() < 3 {
        return None;
    }
    let mut n = desc[0] as usize;
    if n == 0 {
        n = 65536;
    }
    let first = desc[1];
    let mut bits = desc[2] as u32;
    // 8-bit entries may be packed two per word (OW); unpack them.
    let data = if bits == 8 && data.len() * 2 >= n && data.len() < n {
        data.iter()
            .flat_map(|w| [w & 0xff, w >> 8])
            .take(n)
            .collect()
    } else {
        data
    };
    if data.is_empty() {
        return None;
    }
    if !(1..=16).contains(&bits) {
        bits = 16;
    }
    let values: Vec<f64> = data.iter().take(n).map(|&w| w as f64).collect();
    Some(Lut {
        first: first as i64,
        bits,
        values,
    })
}

impl DicomImage {
    /// Reads the header of `path` (read-only) and checks that a frame can be decoded.
    pub fn open(path: &Path) -> Result<DicomImage, PreviewError> {
        let header = crate::formats::dicom::read_header(path, &header_limits()).map_err(|e| {
            use crate::formats::dicom::HeaderError;
            match e {
                HeaderError::Io(io) => PreviewError::io(path, io),
                HeaderError::NotDicom => PreviewError::NotAnImage(path.to_path_buf()),
                HeaderError::Corrupt(what) => bad(path, what),
            }
        })?;
        Self::from_header(path, &header)
    }

    /// Builds the decoding plan from a parsed header.
    pub fn from_header(path: &Path, h: &DicomHeader) -> Result<DicomImage, PreviewError> {
        let Some(px) = h.pixel_data.clone() else {
            let what = match h.str(tags::MODALITY).unwrap_or("") {
                "SR" => "structured report".to_string(),
                "RTPLAN" => "RT plan".to_string(),
                "RTSTRUCT" => "RT structure set".to_string(),
                "ECG" | "HD" => "waveform".to_string(),
                m if !m.is_empty() => format!("{m} object"),
                _ => "no Pixel Data element".to_string(),
            };
            return Err(PreviewError::NoPixelData {
                path: path.to_path_buf(),
                what,
            });
        };
        let int = |tag| h.int(tag);
        let need = |tag, name: &str| -> Result<i64, PreviewError> {
            int(tag).ok_or_else(|| bad(path, format!("missing {name}")))
        };
        let rows = need(tags::ROWS, "Rows")?;
        let cols = need(tags::COLUMNS, "Columns")?;
        if rows <= 0 || cols <= 0 || rows > 65535 || cols > 65535 {
            return Err(bad(path, format!("image size {cols}x{rows}")));
        }
        let frames = h
            .number(tags::NUMBER_OF_FRAMES)
            .map(|f| f.round() as i64)
            .unwrap_or(1)
            .max(1);
        if frames as u64 > MAX_FRAMES {
            return Err(PreviewError::TooLarge {
                path: path.to_path_buf(),
                what: format!("{frames} frames"),
            });
        }
        let spp_for_size = int(tags::SAMPLES_PER_PIXEL).unwrap_or(1).clamp(1, 4);
        if (rows * cols * spp_for_size) as u64 > MAX_FRAME_PIXELS {
            return Err(PreviewError::TooLarge {
                path: path.to_path_buf(),
                what: format!("{cols}x{rows} pixels"),
            });
        }
        let float = px.tag == tags::FLOAT_PIXEL_DATA || px.tag == tags::DOUBLE_FLOAT_PIXEL_DATA;
        let spp = int(tags::SAMPLES_PER_PIXEL).unwrap_or(1);
        let ba = match px.tag {
            tags::FLOAT_PIXEL_DATA => 32,
            tags::DOUBLE_FLOAT_PIXEL_DATA => 64,
            _ => need(tags::BITS_ALLOCATED, "Bits Allocated")?,
        };
        if !matches!(ba, 1 | 8 | 16 | 32 | 64) || (ba == 64 && !float) {
            return Err(unsupported(path, format!("Bits Allocated {ba}")));
        }
        let bs = int(tags::BITS_STORED).unwrap_or(ba).clamp(1, ba);
        let hb = int(tags::HIGH_BIT).unwrap_or(bs - 1).clamp(bs - 1, ba - 1);
        let signed = int(tags::PIXEL_REPRESENTATION).unwrap_or(0) == 1;
        let pm_text = h.str(tags::PHOTOMETRIC_INTERPRETATION).unwrap_or("");
        let photometric = match Photometric::parse(pm_text) {
            Some(p) => p,
            None if pm_text.trim().is_empty() && spp == 1 => Photometric::Monochrome2,
            None if pm_text.trim().is_empty() && spp == 3 => Photometric::Rgb,
            None => {
                return Err(unsupported(
                    path,
                    format!("Photometric Interpretation {:?}", pm_text.trim()),
                ))
            }
        };
        let spp_ok = match photometric {
            Photometric::Monochrome1 | Photometric::Monochrome2 | Photometric::Palette => spp == 1,
            _ => spp == 3,
        };
        if !spp_ok {
            return Err(bad(
                path,
                format!("{} with {spp} samples per pixel", photometric.name()),
            ));
        }
        let codec = codec_of(&h.transfer_syntax).map_err(|w| unsupported(path, w))?;
        if px.encapsulated
            != matches!(
                codec,
                Codec::Rle | Codec::Jpeg | Codec::JpegLs | Codec::Jpeg2000
            )
        {
            return Err(bad(
                path,
                "pixel data encapsulation does not match the transfer syntax",
            ));
        }
        let slope = h.number(0x0028_1053).filter(|s| s.is_finite() && *s != 0.0);
        let intercept = h.number(0x0028_1052).filter(|s| s.is_finite());
        let modality = h.str(tags::MODALITY).map(|s| s.trim().to_string());
        let mut units = h
            .str(0x0028_1054)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if units.is_none() && modality.as_deref() == Some("CT") && slope.is_some() {
            units = Some("HU".into());
        }
        let big_endian = h.encoding.big_endian;
        let seq_items = |tag| match h.get(tag).map(|e| &e.value) {
            Some(Value::Items(items)) => items.clone(),
            _ => Vec::new(),
        };
        let modality_lut = seq_items(0x0028_3000)
            .first()
            .and_then(|i| lut_from_item(i, big_endian));
        let voi_luts: Vec<Lut> = seq_items(0x0028_3010)
            .iter()
            .filter_map(|i| lut_from_item(i, big_endian))
            .collect();
        let centers = h.get(0x0028_1050).map(num).unwrap_or_default();
        let widths = h.get(0x0028_1051).map(num).unwrap_or_default();
        let explanations: Vec<String> = h
            .str(0x0028_1055)
            .map(|s| s.split('\\').map(|p| p.trim().to_string()).collect())
            .unwrap_or_default();
        let windows = centers
            .iter()
            .zip(widths.iter())
            .enumerate()
            .filter(|(_, (c, w))| c.is_finite() && w.is_finite() && **w >= 1.0)
            .map(|(i, (&center, &width))| HeaderWindow {
                center,
                width,
                explanation: explanations.get(i).filter(|s| !s.is_empty()).cloned(),
            })
            .collect();
        let voi_function = super::window::VoiFunction::parse(h.str(0x0028_1056).unwrap_or(""));
        let palette = if photometric == Photometric::Palette {
            Some(Palette::from_header(h).map_err(|w| bad(path, w))?)
        } else {
            None
        };
        let pair = |tag| {
            let v = h.get(tag).map(num).unwrap_or_default();
            (v.len() >= 2 && v[0] > 0.0 && v[1] > 0.0 && v[0].is_finite() && v[1].is_finite())
                .then(|| (v[0], v[1]))
        };
        let pixel_spacing = pair(tags::PIXEL_SPACING).or_else(|| pair(0x0018_1164));
        let aspect_ratio = pair(0x0028_0034);
        let orientation = h
            .get(tags::IMAGE_ORIENTATION_PATIENT)
            .map(num)
            .and_then(|v| {
                (v.len() == 6 && v.iter().all(|x| x.is_finite()))
                    .then(|| [v[0], v[1], v[2], v[3], v[4], v[5]])
            });
        let position = h.get(tags::IMAGE_POSITION_PATIENT).map(num).and_then(|v| {
            (v.len() == 3 && v.iter().all(|x| x.is_finite())).then(|| [v[0], v[1], v[2]])
        });
        let deflate_start = if codec == Codec::Deflated {
            let gl = h
                .get(tags::FILE_META_GROUP_LENGTH)
                .ok_or_else(|| bad(path, "deflated file without meta group length"))?;
            let len = match &gl.value {
                Value::Ints(v) => v.first().copied().unwrap_or(0).max(0) as u64,
                _ => 0,
            };
            gl.offset + 12 + len
        } else {
            0
        };
        Ok(DicomImage {
            path: path.to_path_buf(),
            rows: rows as u32,
            cols: cols as u32,
            frames: frames as u32,
            samples_per_pixel: spp as u16,
            bits_allocated: ba as u16,
            bits_stored: bs as u16,
            high_bit: hb as u16,
            signed,
            float,
            photometric,
            planar: int(0x0028_0006).unwrap_or(0) == 1,
            codec,
            big_endian,
            rescale_slope: slope.unwrap_or(1.0),
            rescale_intercept: intercept.unwrap_or(0.0),
            units,
            modality,
            modality_lut,
            voi_luts,
            windows,
            voi_function,
            palette,
            pixel_spacing,
            aspect_ratio,
            orientation,
            position,
            swap_8bit_words: big_endian
                && ba == 8
                && h.get(px.tag)
                    .is_some_and(|e| e.vr == crate::formats::dicom::Vr::OW),
            pixel_offset: px.offset,
            pixel_length: px.length,
            deflate_start,
        })
    }

    fn pixels(&self) -> usize {
        self.rows as usize * self.cols as usize
    }

    /// Bytes of one native frame (YBR_FULL_422 is stored subsampled: 2 samples per pixel).
    fn native_frame_bits(&self) -> u64 {
        let samples = if self.photometric == Photometric::YbrFull422 {
            2
        } else {
            self.samples_per_pixel as u64
        };
        self.pixels() as u64 * samples * self.bits_allocated as u64
    }

    /// The largest resolution reduction (halvings) whose picture still covers `target` (the
    /// size the pane will show): JPEG 2000 decodes fewer resolution levels, native greyscale
    /// data is box-averaged while it is converted (no full-size frame is built).
    pub fn reduce_for(&self, target: Option<(u32, u32)>) -> u32 {
        let Some((tw, th)) = target else { return 0 };
        let native_grey = matches!(self.codec, Codec::Native | Codec::Deflated)
            && self.samples_per_pixel == 1
            && matches!(self.bits_allocated, 8 | 16)
            && !self.float;
        if !(self.codec == Codec::Jpeg2000 || native_grey) || tw == 0 || th == 0 {
            return 0;
        }
        let mut r = 0;
        while r < 5 && (self.cols >> (r + 1)) >= tw && (self.rows >> (r + 1)) >= th {
            r += 1;
        }
        r
    }

    /// Decodes frame `index` (0-based). `reduce` halves the resolution that many times where
    /// the codec can do so cheaply (JPEG 2000); other codecs ignore it. The result says which
    /// size it has.
    pub fn decode_frame(&self, index: u32, reduce: u32) -> Result<RawFrame, PreviewError> {
        if index >= self.frames {
            return Err(PreviewError::OutOfRange {
                what: format!("frame {index} of {}", self.frames),
            });
        }
        match self.codec {
            Codec::Native | Codec::Deflated if reduce > 0 => {
                self.decode_native_reduced(index, reduce)
            }
            Codec::Native | Codec::Deflated => self.decode_native(index),
            _ => {
                let data = self.frame_fragments(index)?;
                match self.codec {
                    Codec::Rle => self.decode_rle(&data),
                    Codec::Jpeg => self.decode_jpeg(&data),
                    Codec::JpegLs => self.decode_jpegls(&data),
                    _ => self.decode_j2k(&data, reduce),
                }
            }
        }
    }

    fn read_range(&self, start: u64, len: u64) -> Result<Vec<u8>, PreviewError> {
        let path = &self.path;
        if len > MAX_FRAME_BYTES {
            return Err(PreviewError::TooLarge {
                path: path.clone(),
                what: format!("{len} bytes per frame"),
            });
        }
        let mut buf = vec![0u8; len as usize];
        if self.codec == Codec::Deflated {
            let mut f = File::open(path).map_err(|e| PreviewError::io(path, e))?;
            f.seek(SeekFrom::Start(self.deflate_start))
                .map_err(|e| PreviewError::io(path, e))?;
            let mut z = flate2::read::DeflateDecoder::new(BufReader::new(f));
            let skip = start.saturating_sub(self.deflate_start);
            std::io::copy(&mut (&mut z).take(skip), &mut std::io::sink())
                .map_err(|e| PreviewError::io(path, e))?;
            z.read_exact(&mut buf)
                .map_err(|e| PreviewError::io(path, e))?;
        } else {
            let mut f = File::open(path).map_err(|e| PreviewError::io(path, e))?;
            let size = f.metadata().map_err(|e| PreviewError::io(path, e))?.len();
            if start.saturating_add(len) > size {
                return Err(PreviewError::Truncated {
                    path: path.clone(),
                    what: format!(
                        "frame needs bytes up to {} but the file has {size}",
                        start.saturating_add(len)
                    ),
                });
            }
            f.seek(SeekFrom::Start(start))
                .map_err(|e| PreviewError::io(path, e))?;
            f.read_exact(&mut buf)
                .map_err(|e| PreviewError::io(path, e))?;
        }
        Ok(buf)
    }

    fn decode_native(&self, index: u32) -> Result<RawFrame, PreviewError> {
        let bits = self.native_frame_bits();
        let start_bit = bits * index as u64;
        let total_bits = bits * self.frames as u64;
        if let Some(len) = self.pixel_length {
            if len * 8 < total_bits && len * 8 < start_bit + bits {
                return Err(PreviewError::Truncated {
                    path: self.path.clone(),
                    what: format!("Pixel Data has {len} bytes, frame {index} needs more"),
                });
            }
        }
        let mut first_byte = start_bit / 8;
        let mut end_byte = (start_bit + bits).div_ceil(8);
        let mut skip = 0;
        if self.swap_8bit_words {
            // Read whole 16-bit words, swap, then drop the extra leading byte.
            skip = (first_byte % 2) as usize;
            first_byte -= skip as u64;
            end_byte += end_byte % 2;
        }
        let mut bytes = self.read_range(self.pixel_offset + first_byte, end_byte - first_byte)?;
        if self.swap_8bit_words {
            for w in bytes.chunks_exact_mut(2) {
                w.swap(0, 1);
            }
            bytes.drain(..skip);
        }
        let n = self.pixels();
        let spp = self.samples_per_pixel as usize;
        if self.bits_allocated == 1 {
            let shift = (start_bit % 8) as usize;
            let data = (0..n)
                .map(|i| {
                    let b = i + shift;
                    ((bytes[b / 8] >> (b % 8)) & 1) as f32
                })
                .collect();
            return Ok(self.raw(data, 1, Photometric::Monochrome2.min_for(self.photometric)));
        }
        if self.photometric == Photometric::YbrFull422 {
            return self.native_422(&bytes);
        }
        let bps = self.bits_allocated as usize / 8;
        let count = n * spp;
        let le = !self.big_endian;
        if bytes.len() < count * bps {
            return Err(PreviewError::Truncated {
                path: self.path.clone(),
                what: "frame shorter than rows x columns".into(),
            });
        }
        let bytes = &bytes[..count * bps];
        // One tight loop per sample layout (the per-sample `match` was the cost on large
        // radiographs).
        let data: Vec<f32> = match (bps, self.float, le) {
            (1, _, _) => bytes.iter().map(|&b| self.stored(b as u32)).collect(),
            (2, _, true) => bytes
                .chunks_exact(2)
                .map(|c| self.stored(u16::from_le_bytes([c[0], c[1]]) as u32))
                .collect(),
            (2, _, false) => bytes
                .chunks_exact(2)
                .map(|c| self.stored(u16::from_be_bytes([c[0], c[1]]) as u32))
                .collect(),
            (4, false, _) => bytes
                .chunks_exact(4)
                .map(|c| {
                    let a = [c[0], c[1], c[2], c[3]];
                    self.stored(if le {
                        u32::from_le_bytes(a)
                    } else {
                        u32::from_be_bytes(a)
                    })
                })
                .collect(),
            (4, true, _) => bytes
                .chunks_exact(4)
                .map(|c| {
                    let a = [c[0], c[1], c[2], c[3]];
                    let f = if le {
                        f32::from_le_bytes(a)
                    } else {
                        f32::from_be_bytes(a)
                    };
                    if f.is_finite() {
                        f
                    } else {
                        0.0
                    }
                })
                .collect(),
            _ => bytes
                .chunks_exact(8)
                .map(|c| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    let f = if le {
                        f64::from_le_bytes(a)
                    } else {
                        f64::from_be_bytes(a)
                    } as f32;
                    if f.is_finite() {
                        f
                    } else {
                        0.0
                    }
                })
                .collect(),
        };
        if data.len() < count {
            return Err(PreviewError::Truncated {
                path: self.path.clone(),
                what: "frame shorter than rows x columns".into(),
            });
        }
        let data = if spp > 1 && self.planar {
            planar_to_interleaved(&data, spp)
        } else {
            data
        };
        Ok(self.raw(data, spp, self.photometric))
    }

    /// Native greyscale (8/16-bit) frame averaged over 2^`reduce` square blocks as it is
    /// converted: a 3000×3000 radiograph for a 600×600 pane never exists as 9M floats.
    fn decode_native_reduced(&self, index: u32, reduce: u32) -> Result<RawFrame, PreviewError> {
        let bits = self.native_frame_bits();
        let start = bits * index as u64 / 8;
        let len = bits / 8;
        if let Some(l) = self.pixel_length {
            if l < start + len {
                return Err(PreviewError::Truncated {
                    path: self.path.clone(),
                    what: format!("Pixel Data has {l} bytes, frame {index} needs more"),
                });
            }
        }
        let mut bytes = self.read_range(self.pixel_offset + start, len)?;
        if self.swap_8bit_words {
            // Frames of 8-bit OW data in big endian files start on word boundaries only when
            // the frame size is even; fall back to the exact path otherwise.
            if start % 2 == 1 {
                return self.decode_native(index);
            }
            for w in bytes.chunks_exact_mut(2) {
                w.swap(0, 1);
            }
        }
        let (w, h) = (self.cols as usize, self.rows as usize);
        let k = 1usize << reduce;
        let (ow, oh) = (w.div_ceil(k), h.div_ceil(k));
        let mut out = Vec::with_capacity(ow * oh);
        let mut acc = vec![0f32; ow];
        let bps = self.bits_allocated as usize / 8;
        let le = !self.big_endian;
        for by in 0..oh {
            acc.fill(0.0);
            let (y0, y1) = (by * k, ((by + 1) * k).min(h));
            for y in y0..y1 {
                let row = &bytes[y * w * bps..(y + 1) * w * bps];
                match (bps, le) {
                    (1, _) => {
                        for (x, &b) in row.iter().enumerate() {
                            acc[x >> reduce] += self.stored(b as u32);
                        }
                    }
                    (_, true) => {
                        for (x, c) in row.chunks_exact(2).enumerate() {
                            acc[x >> reduce] +=
                                self.stored(u16::from_le_bytes([c[0], c[1]]) as u32);
                        }
                    }
                    (_, false) => {
                        for (x, c) in row.chunks_exact(2).enumerate() {
                            acc[x >> reduce] +=
                                self.stored(u16::from_be_bytes([c[0], c[1]]) as u32);
                        }
                    }
                }
            }
            let rows = (y1 - y0) as f32;
            for (bx, a) in acc.iter().enumerate() {
                let cols = ((bx + 1) * k).min(w) - bx * k;
                out.push(a / (rows * cols as f32));
            }
        }
        Ok(RawFrame {
            width: ow as u32,
            height: oh as u32,
            samples: 1,
            photometric: self.photometric,
            data: out,
        })
    }

    /// Native YBR_FULL_422: pairs of pixels stored as Y1 Y2 Cb Cr (PS3.3 C.7.6.3.1.2).
    fn native_422(&self, bytes: &[u8]) -> Result<RawFrame, PreviewError> {
        if self.bits_allocated != 8 {
            return Err(unsupported(&self.path, "16-bit native YBR_FULL_422"));
        }
        let (w, h) = (self.cols as usize, self.rows as usize);
        let mut data = Vec::with_capacity(w * h * 3);
        let stride = w.div_ceil(2) * 4;
        for y in 0..h {
            let row = &bytes[(y * stride).min(bytes.len())..((y + 1) * stride).min(bytes.len())];
            for x in 0..w {
                let q = &row.get((x / 2) * 4..(x / 2) * 4 + 4);
                let Some(q) = q else {
                    return Err(PreviewError::Truncated {
                        path: self.path.clone(),
                        what: "YBR_FULL_422 frame shorter than expected".into(),
                    });
                };
                data.extend_from_slice(&[q[x % 2] as f32, q[2] as f32, q[3] as f32]);
            }
        }
        Ok(self.raw(data, 3, Photometric::YbrFull))
    }

    /// The stored value of a sample: Bits Stored bits ending at High Bit, sign-extended for
    /// Pixel Representation 1.
    #[inline]
    fn stored(&self, raw: u32) -> f32 {
        let bs = self.bits_stored as u32;
        let shift = (self.high_bit as u32 + 1).saturating_sub(bs);
        let v = raw >> shift;
        let mask = if bs >= 32 { u32::MAX } else { (1u32 << bs) - 1 };
        let v = v & mask;
        if self.signed && bs < 32 && v & (1 << (bs - 1)) != 0 {
            (v as i64 - (1i64 << bs)) as f32
        } else if self.signed && bs == 32 {
            v as i32 as f32
        } else {
            v as f32
        }
    }

    fn raw(&self, data: Vec<f32>, spp: usize, photometric: Photometric) -> RawFrame {
        RawFrame {
            width: self.cols,
            height: self.rows,
            samples: spp as u8,
            photometric,
            data,
        }
    }

    /// The bytes of frame `index` of encapsulated pixel data (PS3.5 A.4): its fragments,
    /// found through the Basic Offset Table, one fragment per frame, or codec start markers.
    fn frame_fragments(&self, index: u32) -> Result<Vec<u8>, PreviewError> {
        let path = &self.path;
        let f = File::open(path).map_err(|e| PreviewError::io(path, e))?;
        let size = f.metadata().map_err(|e| PreviewError::io(path, e))?.len();
        let mut r = BufReader::with_capacity(64 * 1024, f);
        r.seek(SeekFrom::Start(self.pixel_offset))
            .map_err(|e| PreviewError::io(path, e))?;
        let item = |r: &mut BufReader<File>| -> Result<Option<(u64, u32)>, PreviewError> {
            let mut h = [0u8; 8];
            let pos = r.stream_position().map_err(|e| PreviewError::io(path, e))?;
            if pos + 8 > size {
                return Err(PreviewError::Truncated {
                    path: path.clone(),
                    what: "encapsulated pixel data ends without a sequence delimiter".into(),
                });
            }
            r.read_exact(&mut h)
                .map_err(|e| PreviewError::io(path, e))?;
            let tag = (u16::from_le_bytes([h[0], h[1]]) as u32) << 16
                | u16::from_le_bytes([h[2], h[3]]) as u32;
            let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
            match tag {
                tags::SEQUENCE_DELIMITATION => Ok(None),
                tags::ITEM if len != u32::MAX => {
                    if pos + 8 + len as u64 > size {
                        return Err(PreviewError::Truncated {
                            path: path.clone(),
                            what: "a pixel data fragment runs past the end of the file".into(),
                        });
                    }
                    Ok(Some((pos + 8, len)))
                }
                _ => Err(bad(
                    path,
                    "unexpected element inside encapsulated pixel data",
                )),
            }
        };
        let Some((bot_pos, bot_len)) = item(&mut r)? else {
            return Err(bad(path, "encapsulated pixel data without offset table"));
        };
        let mut bot = vec![0u8; bot_len as usize];
        r.read_exact(&mut bot)
            .map_err(|e| PreviewError::io(path, e))?;
        let first_item = bot_pos + bot_len as u64;
        // Fragment positions and their first bytes (to find frame starts without a table).
        let mut frags: Vec<(u64, u32, [u8; 4])> = Vec::new();
        while let Some((pos, len)) = item(&mut r)? {
            let mut head = [0u8; 4];
            let n = (len as usize).min(4);
            r.read_exact(&mut head[..n])
                .map_err(|e| PreviewError::io(path, e))?;
            r.seek_relative(len as i64 - n as i64)
                .map_err(|e| PreviewError::io(path, e))?;
            frags.push((pos, len, head));
            if frags.len() > MAX_FRAGMENTS {
                return Err(PreviewError::TooLarge {
                    path: path.clone(),
                    what: "too many pixel data fragments".into(),
                });
            }
        }
        if frags.is_empty() {
            return Err(PreviewError::NoPixelData {
                path: path.clone(),
                what: "encapsulated pixel data has no fragments".into(),
            });
        }
        let frames = self.frames as usize;
        let idx = index as usize;
        let offsets: Vec<u64> = bot
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u64)
            .collect();
        let range: (usize, usize) = if frames == 1 {
            (0, frags.len())
        } else if offsets.len() == frames && offsets.windows(2).all(|w| w[0] < w[1]) {
            // Offsets are to the item tag, relative to the first fragment's item tag.
            let start_of = |o: u64| frags.iter().position(|f| f.0 - 8 - first_item == o);
            let s = start_of(offsets[idx])
                .ok_or_else(|| bad(path, "Basic Offset Table points between fragments"))?;
            let e = if idx + 1 < frames {
                start_of(offsets[idx + 1])
                    .ok_or_else(|| bad(path, "Basic Offset Table points between fragments"))?
            } else {
                frags.len()
            };
            (s, e)
        } else if frags.len() == frames {
            (idx, idx + 1)
        } else {
            let starts: Vec<usize> = frags
                .iter()
                .enumerate()
                .filter(|(_, f)| is_frame_start(self.codec, &f.2))
                .map(|(i, _)| i)
                .collect();
            if starts.len() != frames {
                return Err(bad(
                    path,
                    format!(
                        "{} fragments for {frames} frames and no usable offset table",
                        frags.len()
                    ),
                ));
            }
            (
                starts[idx],
                starts.get(idx + 1).copied().unwrap_or(frags.len()),
            )
        };
        let total: u64 = frags[range.0..range.1].iter().map(|f| f.1 as u64).sum();
        if total > MAX_FRAME_BYTES {
            return Err(PreviewError::TooLarge {
                path: path.clone(),
                what: format!("{total} compressed bytes in one frame"),
            });
        }
        let mut out = Vec::with_capacity(total as usize);
        for &(pos, len, _) in &frags[range.0..range.1] {
            r.seek(SeekFrom::Start(pos))
                .map_err(|e| PreviewError::io(path, e))?;
            let start = out.len();
            out.resize(start + len as usize, 0);
            r.read_exact(&mut out[start..])
                .map_err(|e| PreviewError::io(path, e))?;
        }
        Ok(out)
    }

    /// RLE Lossless (PS3.5 Annex G): one segment per byte plane of each sample.
    fn decode_rle(&self, data: &[u8]) -> Result<RawFrame, PreviewError> {
        let path = &self.path;
        if data.len() < 64 {
            return Err(bad(path, "RLE frame shorter than its header"));
        }
        let word = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        let nseg = word(0) as usize;
        let bps = (self.bits_allocated as usize).div_ceil(8);
        let spp = self.samples_per_pixel as usize;
        if nseg != bps * spp || nseg > 15 {
            return Err(bad(
                path,
                format!("RLE frame has {nseg} segments, expected {}", bps * spp),
            ));
        }
        let n = self.pixels();
        let mut values = vec![0u32; n * spp];
        for s in 0..nseg {
            let start = word(4 + 4 * s) as usize;
            let end = if s + 1 < nseg {
                word(8 + 4 * s) as usize
            } else {
                data.len()
            };
            if start < 64 || start > end || end > data.len() {
                return Err(bad(path, "RLE segment offsets out of range"));
            }
            let plane = unpack_bits(&data[start..end], n);
            if plane.len() < n {
                return Err(PreviewError::Truncated {
                    path: path.clone(),
                    what: "RLE segment decodes to fewer bytes than the image".into(),
                });
            }
            let sample = s / bps;
            let shift = 8 * (bps - 1 - s % bps);
            for (i, &b) in plane.iter().take(n).enumerate() {
                values[i * spp + sample] |= (b as u32) << shift;
            }
        }
        let data = values.into_iter().map(|v| self.stored(v)).collect();
        Ok(self.raw(data, spp, self.photometric))
    }

    fn decode_jpeg(&self, data: &[u8]) -> Result<RawFrame, PreviewError> {
        let codec_err = |e: String| PreviewError::Codec {
            path: self.path.clone(),
            codec: "JPEG",
            what: e,
        };
        // Refuse a codestream larger than the header says before the decoder allocates it.
        if let Some((w, h)) = sof_size(data) {
            if w > self.cols || h > self.rows {
                return Err(bad(
                    &self.path,
                    format!("JPEG is {w}x{h}, header says {}x{}", self.cols, self.rows),
                ));
            }
        }
        if matches!(sof(data), Some((0xC0 | 0xC1, 12))) {
            let px = super::jpeg12::decode(data, self.cols, self.rows).map_err(codec_err)?;
            let data = px.iter().map(|&v| self.stored(v as u32)).collect();
            return Ok(self.raw(data, 1, self.photometric));
        }
        let mut d = jpeg_decoder::Decoder::new(data);
        d.set_max_decoding_buffer_size(MAX_FRAME_BYTES as usize);
        // Photometric RGB means the codestream holds RGB: no YCbCr → RGB conversion
        // (the pydicom SC_jpeg_no_color_transform files); YBR_* means it must be converted.
        if self.photometric == Photometric::Rgb && !has_marker(data, 0xE0) {
            d.set_color_transform(jpeg_decoder::ColorTransform::RGB);
        }
        let pixels = d.decode().map_err(|e| codec_err(e.to_string()))?;
        let info = d
            .info()
            .ok_or_else(|| codec_err("no image information".into()))?;
        let (w, h) = (info.width as u32, info.height as u32);
        if (w, h) != (self.cols, self.rows) {
            return Err(bad(
                &self.path,
                format!("JPEG is {w}x{h}, header says {}x{}", self.cols, self.rows),
            ));
        }
        use jpeg_decoder::PixelFormat;
        let (spp, data): (usize, Vec<f32>) = match info.pixel_format {
            PixelFormat::L8 => (1, pixels.iter().map(|&b| self.stored(b as u32)).collect()),
            PixelFormat::L16 => (
                1,
                pixels
                    .chunks_exact(2)
                    .map(|c| self.stored(u16::from_ne_bytes([c[0], c[1]]) as u32))
                    .collect(),
            ),
            PixelFormat::RGB24 => (3, pixels.iter().map(|&b| b as f32).collect()),
            PixelFormat::CMYK32 => return Err(unsupported(&self.path, "CMYK JPEG")),
        };
        if spp != self.samples_per_pixel as usize {
            return Err(bad(
                &self.path,
                "JPEG component count differs from the header",
            ));
        }
        let pm = if spp == 3 {
            Photometric::Rgb
        } else {
            self.photometric
        };
        let mut f = self.raw(data, spp, pm);
        // 8-bit colour from the decoder is already 0..255.
        if spp == 3 {
            f.photometric = Photometric::Rgb;
        }
        Ok(f)
    }

    fn decode_jpegls(&self, data: &[u8]) -> Result<RawFrame, PreviewError> {
        if self.samples_per_pixel != 1 {
            return self.decode_jpegls_color(data);
        }
        let (px, w, h) =
            jpegls::decode(data, self.cols, self.rows).map_err(|e| PreviewError::Codec {
                path: self.path.clone(),
                codec: "JPEG-LS",
                what: e.to_string(),
            })?;
        if (w, h) != (self.cols, self.rows) || px.len() < self.pixels() {
            return Err(bad(&self.path, "JPEG-LS size differs from the header"));
        }
        let data = px.iter().map(|&v| self.stored(v as u32)).collect();
        Ok(self.raw(data, 1, self.photometric))
    }

    #[cfg(not(feature = "charls"))]
    fn decode_jpegls_color(&self, _data: &[u8]) -> Result<RawFrame, PreviewError> {
        Err(unsupported(
            &self.path,
            "multi-component JPEG-LS (pure_jpegls reads one component; build with --features charls)",
        ))
    }

    /// Colour JPEG-LS through CharLS: pixel-interleaved output for line/sample interleave,
    /// planes for ILV=0.
    #[cfg(feature = "charls")]
    fn decode_jpegls_color(&self, data: &[u8]) -> Result<RawFrame, PreviewError> {
        let out = charls::CharLS::default()
            .decode(data)
            .map_err(|e| PreviewError::Codec {
                path: self.path.clone(),
                codec: "JPEG-LS (CharLS)",
                what: e.to_string(),
            })?;
        let spp = self.samples_per_pixel as usize;
        let n = self.pixels() * spp;
        let values: Vec<f32> = if self.bits_allocated <= 8 {
            out.iter().take(n).map(|&b| self.stored(b as u32)).collect()
        } else {
            out.chunks_exact(2)
                .take(n)
                .map(|c| self.stored(u16::from_le_bytes([c[0], c[1]]) as u32))
                .collect()
        };
        if values.len() < n {
            return Err(bad(&self.path, "JPEG-LS output shorter than the image"));
        }
        let values = if jpegls_ilv(data) == Some(0) {
            planar_to_interleaved(&values, spp)
        } else {
            values
        };
        Ok(self.raw(values, spp, self.photometric))
    }

    fn decode_j2k(&self, data: &[u8], reduce: u32) -> Result<RawFrame, PreviewError> {
        let codec_err = |e: String| PreviewError::Codec {
            path: self.path.clone(),
            codec: "JPEG 2000",
            what: e,
        };
        if let Some((w, h)) = j2k_size(data) {
            if w > self.cols || h > self.rows {
                return Err(bad(
                    &self.path,
                    format!(
                        "JPEG 2000 is {w}x{h}, header says {}x{}",
                        self.cols, self.rows
                    ),
                ));
            }
        }
        let params = jpeg2k::DecodeParameters::new().reduce(reduce);
        let img = match jpeg2k::Image::from_bytes_with(data, params) {
            Ok(i) => i,
            // The codestream may have fewer resolution levels than asked for.
            Err(_) if reduce > 0 => {
                jpeg2k::Image::from_bytes_with(data, jpeg2k::DecodeParameters::new())
                    .map_err(|e| codec_err(e.to_string()))?
            }
            Err(e) => return Err(codec_err(e.to_string())),
        };
        let comps = img.components();
        let spp = self.samples_per_pixel as usize;
        if comps.len() < spp {
            return Err(bad(
                &self.path,
                "JPEG 2000 component count differs from the header",
            ));
        }
        let (w, h) = (comps[0].width(), comps[0].height());
        let n = w as usize * h as usize;
        if w == 0
            || h == 0
            || comps
                .iter()
                .take(spp)
                .any(|c| c.width() != w || c.height() != h || c.data().len() < n)
        {
            return Err(bad(&self.path, "JPEG 2000 components of different sizes"));
        }
        if w > self.cols || h > self.rows {
            return Err(bad(
                &self.path,
                "JPEG 2000 image larger than the header says",
            ));
        }
        let mut data = vec![0f32; n * spp];
        for (s, c) in comps.iter().take(spp).enumerate() {
            // The codestream's own precision and sign win over the header (pydicom does the
            // same for J2K_pixelrep_mismatch-style files).
            let prec = c.precision().clamp(1, 32);
            let signed = c.is_signed();
            for (i, &v) in c.data().iter().take(n).enumerate() {
                let v = if spp == 1 && !signed && self.signed && prec < 32 {
                    // Header says signed, codestream unsigned: reinterpret per Bits Stored.
                    self.stored(v as u32)
                } else {
                    v as f32
                };
                data[i * spp + s] = v;
            }
        }
        let pm = match self.photometric {
            Photometric::YbrCodec => Photometric::Rgb,
            p => p,
        };
        Ok(RawFrame {
            width: w,
            height: h,
            samples: spp as u8,
            photometric: pm,
            data,
        })
    }
}

impl Photometric {
    fn min_for(self, header: Photometric) -> Photometric {
        if header.is_mono() {
            header
        } else {
            self
        }
    }
}

fn is_frame_start(codec: Codec, head: &[u8; 4]) -> bool {
    match codec {
        Codec::Jpeg | Codec::JpegLs => head[0] == 0xFF && head[1] == 0xD8,
        Codec::Jpeg2000 => (head[0] == 0xFF && head[1] == 0x4F) || head == &[0, 0, 0, 0x0C],
        _ => false,
    }
}

/// The interleave mode (ILV) of the first JPEG-LS scan.
#[cfg_attr(not(feature = "charls"), allow(dead_code))]
fn jpegls_ilv(data: &[u8]) -> Option<u8> {
    let mut i = 2;
    while i + 4 < data.len() {
        if data[i] != 0xFF {
            return None;
        }
        let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
        if data[i + 1] == 0xDA {
            let ns = *data.get(i + 4)? as usize;
            return data.get(i + 4 + 1 + 2 * ns + 1).copied();
        }
        i += 2 + len;
    }
    None
}

/// Width and height from a JPEG frame header.
fn sof_size(data: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    while i + 9 < data.len() {
        if data[i] != 0xFF {
            return None;
        }
        let m = data[i + 1];
        if (0xC0..=0xCF).contains(&m) && !matches!(m, 0xC4 | 0xC8 | 0xCC) || m == 0xF7 {
            let h = u16::from_be_bytes([data[i + 5], data[i + 6]]) as u32;
            let w = u16::from_be_bytes([data[i + 7], data[i + 8]]) as u32;
            return Some((w, h));
        }
        if m == 0xDA {
            return None;
        }
        i += 2 + u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
    }
    None
}

/// Image size from a JPEG 2000 SIZ marker (Xsiz − XOsiz, Ysiz − YOsiz), in a raw codestream
/// or inside a JP2 file's first kilobytes.
fn j2k_size(data: &[u8]) -> Option<(u32, u32)> {
    let head = &data[..data.len().min(4096)];
    let at = head
        .windows(4)
        .position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])?;
    let siz = data.get(at + 4..at + 4 + 2 + 2 + 16)?;
    let be = |o: usize| u32::from_be_bytes([siz[o], siz[o + 1], siz[o + 2], siz[o + 3]]);
    let (x, y, xo, yo) = (be(4), be(8), be(12), be(16));
    Some((x.saturating_sub(xo), y.saturating_sub(yo)))
}

/// The frame header marker (SOFn) of a JPEG stream and its sample precision.
fn sof(data: &[u8]) -> Option<(u8, u8)> {
    let mut i = 2;
    while i + 4 < data.len() {
        if data[i] != 0xFF {
            return None;
        }
        let m = data[i + 1];
        if (0xC0..=0xCF).contains(&m) && !matches!(m, 0xC4 | 0xC8 | 0xCC) {
            return Some((m, data[i + 4]));
        }
        if m == 0xDA {
            return None;
        }
        i += 2 + u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
    }
    None
}

/// Whether a JPEG stream has an `FF xx` marker segment among its header markers (before SOS).
fn has_marker(data: &[u8], marker: u8) -> bool {
    let mut i = 2;
    while i + 4 <= data.len() {
        if data[i] != 0xFF {
            return false;
        }
        let m = data[i + 1];
        if m == marker {
            return true;
        }
        if m == 0xDA {
            return false;
        }
        let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
        i += 2 + len;
    }
    false
}

/// PackBits decoding of one RLE segment, stopping at `limit` bytes.
fn unpack_bits(src: &[u8], limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(limit);
    let mut i = 0;
    while i < src.len() && out.len() < limit {
        let n = src[i] as i8;
        i += 1;
        if n >= 0 {
            let k = n as usize + 1;
            let end = (i + k).min(src.len());
            out.extend_from_slice(&src[i..end]);
            i = end;
        } else if n != -128 {
            let k = 1 - n as isize;
            if let Some(&b) = src.get(i) {
                out.extend(std::iter::repeat_n(b, k as usize));
            }
            i += 1;
        }
    }
    out.truncate(limit);
    out
}

fn planar_to_interleaved(data: &[f32], spp: usize) -> Vec<f32> {
    let n = data.len() / spp;
    let mut out = vec![0f32; n * spp];
    for s in 0..spp {
        for i in 0..n {
            out[i * spp + s] = data[s * n + i];
        }
    }
    out
}

/// One decoded frame: stored sample values (signed as stored), interleaved.
#[derive(Debug, Clone)]
pub struct RawFrame {
    pub width: u32,
    pub height: u32,
    pub samples: u8,
    /// How to read the samples now (a codec may already have converted YBR to RGB).
    pub photometric: Photometric,
    pub data: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_literal_and_run() {
        // 2 literals, then a run of 3 x 7.
        assert_eq!(unpack_bits(&[1, 5, 6, 0xFE, 7], 10), vec![5, 6, 7, 7, 7]);
        // -128 is a no-op; output stops at the limit.
        assert_eq!(unpack_bits(&[0x80, 0xFD, 1], 2), vec![1, 1]);
    }

    #[test]
    fn planar_conversion() {
        let p = [1.0, 2.0, 10.0, 20.0, 100.0, 200.0];
        assert_eq!(
            planar_to_interleaved(&p, 3),
            vec![1.0, 10.0, 100.0, 2.0, 20.0, 200.0]
        );
    }
}
