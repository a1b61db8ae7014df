//! DICOM headers as plain data: a bounded, panic-free reader of everything up to Pixel Data.
//!
//! dicom-rs's object reader trusts declared lengths, so a corrupt length can make it allocate
//! gigabytes or spin for seconds. The scanner needs every file's header in tens of microseconds
//! and bounded memory, so this module parses the encoding itself (PS3.5 §7), checking every
//! declared length against what remains of the file before reading it. It uses dicom-rs for
//! what it is good at: the data dictionary and the specific character sets.

mod json;
mod parse;
pub mod tags;
pub mod text;

pub use json::{to_compact_json, to_dicom_json, write_dicom_json};
pub use parse::{
    looks_like_dicom, read_header, read_header_file, read_header_from, HeaderError, Limits,
};

use serde::Serialize;

/// A value representation, as its two ASCII letters (e.g. `*b"CS"`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vr(pub [u8; 2]);

impl Vr {
    pub const UN: Vr = Vr(*b"UN");
    pub const SQ: Vr = Vr(*b"SQ");
    pub const OB: Vr = Vr(*b"OB");
    pub const OW: Vr = Vr(*b"OW");
    pub const UL: Vr = Vr(*b"UL");
    pub const LO: Vr = Vr(*b"LO");

    /// The two letters as text (`"??"` if they are not ASCII letters).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// Whether this is one of the VRs defined by PS3.5 Table 6.2-1.
    pub fn is_known(&self) -> bool {
        matches!(
            &self.0,
            b"AE"
                | b"AS"
                | b"AT"
                | b"CS"
                | b"DA"
                | b"DS"
                | b"DT"
                | b"FL"
                | b"FD"
                | b"IS"
                | b"LO"
                | b"LT"
                | b"OB"
                | b"OD"
                | b"OF"
                | b"OL"
                | b"OV"
                | b"OW"
                | b"PN"
                | b"SH"
                | b"SL"
                | b"SQ"
                | b"SS"
                | b"ST"
                | b"SV"
                | b"TM"
                | b"UC"
                | b"UI"
                | b"UL"
                | b"UN"
                | b"UR"
                | b"US"
                | b"UT"
                | b"UV"
        )
    }

    /// Explicit VR encodings use a 4-byte length (after 2 reserved bytes) for these VRs.
    pub fn has_long_length(&self) -> bool {
        matches!(
            &self.0,
            b"OB"
                | b"OD"
                | b"OF"
                | b"OL"
                | b"OV"
                | b"OW"
                | b"SQ"
                | b"UC"
                | b"UN"
                | b"UR"
                | b"UT"
                | b"SV"
                | b"UV"
        )
    }

    /// Character-string VRs whose value is text.
    pub fn is_string(&self) -> bool {
        matches!(
            &self.0,
            b"AE"
                | b"AS"
                | b"CS"
                | b"DA"
                | b"DS"
                | b"DT"
                | b"IS"
                | b"LO"
                | b"LT"
                | b"PN"
                | b"SH"
                | b"ST"
                | b"TM"
                | b"UC"
                | b"UI"
                | b"UR"
                | b"UT"
        )
    }

    /// String VRs whose bytes are decoded with the Specific Character Set (PS3.5 §6.1.2.3);
    /// the others are always the default repertoire.
    pub fn uses_charset(&self) -> bool {
        matches!(
            &self.0,
            b"SH" | b"LO" | b"ST" | b"LT" | b"PN" | b"UC" | b"UT"
        )
    }

    /// Texts where leading spaces are significant (PS3.5 Table 6.2-1).
    pub fn keeps_leading_space(&self) -> bool {
        matches!(&self.0, b"ST" | b"LT" | b"UT" | b"UR")
    }

    /// Binary VRs that are not summarised as numbers.
    pub fn is_bulk_binary(&self) -> bool {
        matches!(
            &self.0,
            b"OB" | b"OD" | b"OF" | b"OL" | b"OV" | b"OW" | b"UN"
        )
    }
}

impl std::fmt::Debug for Vr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Vr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Vr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A data element's value, decoded as far as is cheap and useful.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value (length 0).
    Empty,
    /// Text of a string VR, decoded with the character set, padding removed; values
    /// separated by `\` as in the encoding.
    Text(String),
    /// US, SS, UL, SL, UV, SV.
    Ints(Vec<i64>),
    /// FL, FD.
    Floats(Vec<f64>),
    /// AT: tags as `0xGGGGEEEE`.
    Tags(Vec<u32>),
    /// Small binary value kept whole (OB/OW/UN/... up to [`Limits::inline_binary`] bytes).
    Bytes(Vec<u8>),
    /// Binary or oversized value not kept; the length is in [`Element::length`].
    Bulk,
    /// Sequence items, each a list of elements.
    Items(Vec<Vec<Element>>),
}

/// One data element as found in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    /// `(group << 16) | element`.
    pub tag: u32,
    pub vr: Vr,
    /// Declared value length; `u32::MAX` for undefined length.
    pub length: u32,
    /// Byte offset of the element's tag in the file (in the inflated stream for deflated files).
    pub offset: u64,
    pub value: Value,
}

impl Element {
    pub fn group(&self) -> u16 {
        (self.tag >> 16) as u16
    }
    pub fn elem(&self) -> u16 {
        (self.tag & 0xFFFF) as u16
    }
    /// The value as text, if it is a string VR with a value.
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            Value::Text(s) => Some(s.as_str()),
            _ => None,
        }
    }
    /// Value multiplicity as stored.
    pub fn vm(&self) -> usize {
        match &self.value {
            Value::Empty | Value::Bulk => 0,
            Value::Text(s) => {
                if self.vr.keeps_leading_space() {
                    1
                } else {
                    s.split('\\').count()
                }
            }
            Value::Ints(v) => v.len(),
            Value::Floats(v) => v.len(),
            Value::Tags(v) => v.len(),
            Value::Bytes(_) => 1,
            Value::Items(items) => items.len(),
        }
    }
}

/// Where the transfer syntax came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyntaxSource {
    /// (0002,0010) in the file meta group.
    Meta,
    /// Inferred from the first bytes of the data set (no meta group, or no transfer syntax in it).
    Inferred,
}

/// How the data set is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    pub explicit_vr: bool,
    pub big_endian: bool,
    pub deflated: bool,
}

/// Where the pixel data sits, so later readers can seek to it without parsing again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PixelDataInfo {
    pub tag: u32,
    /// Offset of the value's first byte (in the inflated stream for deflated files).
    pub offset: u64,
    /// Declared length; `None` when undefined (encapsulated pixel data).
    pub length: Option<u64>,
    pub encapsulated: bool,
    /// Encapsulated data: length of the Basic Offset Table (0 when empty).
    pub offset_table: Option<u32>,
    /// Encapsulated data: number of fragments after the offset table.
    pub fragments: Option<u32>,
}

/// Something wrong with the file that did not stop the header from being read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// Stable code (e.g. `file.truncated`), used by the findings engine.
    pub code: &'static str,
    pub message: String,
}

/// Everything the scanner keeps of a DICOM file's header.
#[derive(Debug, Clone)]
pub struct DicomHeader {
    pub file_size: u64,
    /// 128-byte preamble followed by `DICM`.
    pub preamble: bool,
    /// File meta information group (0002,xxxx) elements, empty when absent.
    pub meta: Vec<Element>,
    /// The data set's elements up to (and including, as [`Value::Bulk`]) the pixel data.
    pub elements: Vec<Element>,
    pub transfer_syntax: String,
    pub syntax_source: SyntaxSource,
    pub encoding: Encoding,
    pub pixel_data: Option<PixelDataInfo>,
    /// Bytes after the end of a defined-length Pixel Data element (elements or garbage; a
    /// `file.trailing_bytes` problem says when they are not elements).
    pub trailing_bytes: u64,
    /// The header ended before it should have (file shorter than a declared length).
    pub truncated: bool,
    pub problems: Vec<Problem>,
}

impl DicomHeader {
    /// A top-level element of the data set or of the meta group.
    pub fn get(&self, tag: u32) -> Option<&Element> {
        let list = if tag >> 16 == 0x0002 {
            &self.meta
        } else {
            &self.elements
        };
        // Elements are in file order, normally ascending: binary search first, then fall
        // back to a linear scan for files with elements out of order.
        match list.binary_search_by_key(&tag, |e| e.tag) {
            Ok(i) => list.get(i),
            Err(_) => list.iter().find(|e| e.tag == tag),
        }
    }

    /// A top-level string value, `None` when absent or empty.
    pub fn str(&self, tag: u32) -> Option<&str> {
        self.get(tag)
            .and_then(|e| e.text())
            .filter(|s| !s.is_empty())
    }

    /// First value of a numeric element (binary or IS/DS text).
    pub fn number(&self, tag: u32) -> Option<f64> {
        let e = self.get(tag)?;
        match &e.value {
            Value::Ints(v) => v.first().map(|x| *x as f64),
            Value::Floats(v) => v.first().copied(),
            Value::Text(s) => s.split('\\').next()?.trim().parse().ok(),
            _ => None,
        }
    }

    /// First value as an integer.
    pub fn int(&self, tag: u32) -> Option<i64> {
        let e = self.get(tag)?;
        match &e.value {
            Value::Ints(v) => v.first().copied(),
            Value::Text(s) => {
                let first = s.split('\\').next()?.trim();
                first
                    .parse::<i64>()
                    .ok()
                    .or_else(|| first.parse::<f64>().ok().map(|f| f as i64))
            }
            _ => None,
        }
    }

    /// All elements, meta group first.
    pub fn all_top_level(&self) -> impl Iterator<Item = &Element> {
        self.meta.iter().chain(self.elements.iter())
    }
}

static DICT: dicom_dictionary_std::StandardDataDictionary =
    dicom_dictionary_std::StandardDataDictionary;

/// Formats a tag as `(GGGG,EEEE)`.
pub fn tag_string(tag: u32) -> String {
    format!("({:04X},{:04X})", tag >> 16, tag & 0xFFFF)
}

/// The keyword of a tag from the standard data dictionary, if it is known.
pub fn keyword(tag: u32) -> Option<&'static str> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    DICT.by_tag(dicom_core::Tag((tag >> 16) as u16, tag as u16))
        .map(|e| e.alias())
}

/// The VR the dictionary gives a tag (for implicit VR encodings); `UN` when unknown.
pub fn dictionary_vr(tag: u32) -> Vr {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    let group = (tag >> 16) as u16;
    let elem = tag as u16;
    if elem == 0 {
        return Vr::UL;
    }
    if group & 1 == 1 {
        // Private creators are LO; other private elements are unknown without a private dictionary.
        return if (0x0010..=0x00FF).contains(&elem) {
            Vr::LO
        } else {
            Vr::UN
        };
    }
    match DICT.by_tag(dicom_core::Tag(group, elem)) {
        Some(entry) => {
            let vr = entry.vr().relaxed();
            let s = vr.to_string().as_bytes();
            if s.len() == 2 {
                Vr([s[0], s[1]])
            } else {
                Vr::UN
            }
        }
        None => Vr::UN,
    }
}

/// A short name for a transfer syntax UID (PS3.6 Annex A), or the UID itself.
pub fn syntax_label(uid: &str) -> &str {
    match uid {
        "1.2.840.10008.1.2" => "Implicit VR LE",
        "1.2.840.10008.1.2.1" => "Explicit VR LE",
        "1.2.840.10008.1.2.1.99" => "Deflated Explicit LE",
        "1.2.840.10008.1.2.2" => "Explicit VR BE",
        "1.2.840.10008.1.2.4.50" => "JPEG Baseline",
        "1.2.840.10008.1.2.4.51" => "JPEG Extended",
        "1.2.840.10008.1.2.4.57" => "JPEG Lossless",
        "1.2.840.10008.1.2.4.70" => "JPEG Lossless SV1",
        "1.2.840.10008.1.2.4.80" => "JPEG-LS Lossless",
        "1.2.840.10008.1.2.4.81" => "JPEG-LS Near-lossless",
        "1.2.840.10008.1.2.4.90" => "JPEG 2000 Lossless",
        "1.2.840.10008.1.2.4.91" => "JPEG 2000",
        "1.2.840.10008.1.2.4.100" | "1.2.840.10008.1.2.4.101" => "MPEG-2",
        "1.2.840.10008.1.2.4.102" | "1.2.840.10008.1.2.4.103" => "MPEG-4",
        "1.2.840.10008.1.2.4.201" => "HTJ2K Lossless",
        "1.2.840.10008.1.2.4.203" => "HTJ2K",
        "1.2.840.10008.1.2.5" => "RLE Lossless",
        other => other,
    }
}
