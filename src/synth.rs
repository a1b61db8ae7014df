//! Synthetic dataset generator (fixtures, benchmarks, tests).
//!
//! Everything here is written by hand, byte by byte, so that tests control exactly what lands on
//! disk (including deliberate defects) and so that a million-file benchmark corpus is cheap to
//! make. Output depends only on the [`SynthSpec`] (its `seed` included): the same spec always
//! yields byte-identical files, whatever the thread count or file order.
//!
//! DICOM files are Part 10 (preamble, `DICM`, meta group) in Explicit VR Little Endian, CT Image
//! Storage or MR Image Storage, carrying every Type 1 and Type 2 attribute of the mandatory
//! modules of those IODs plus realistic PHI, so that PHI, conformance and geometry analyses have
//! something real to chew on. NIfTI-1 (`.nii`, `.nii.gz`) and Analyze 7.5 (`.hdr`/`.img`)
//! writers cover the other formats dicura reads.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

/// CT Image Storage SOP Class.
pub const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
/// MR Image Storage SOP Class.
pub const MR_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.4";
/// Explicit VR Little Endian, the only encoding [`DicomWriter`] produces.
pub const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";
/// Our implementation class UID (a fixed 2.25 UUID-derived UID).
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.183738220913592734186927150396618253729";
/// Our implementation version name (SH, at most 16 characters).
pub const IMPLEMENTATION_VERSION_NAME: &str = "DICURA_SYNTH_1";
/// Private creator written at (0029,0010) in series that carry a private block.
pub const PRIVATE_CREATOR: &str = "DICURA SYNTH";
/// Coding scheme of the synthetic procedure codes (a private "99" scheme, as the standard asks).
pub const CODING_SCHEME: &str = "99DICURA";

/// Seed used by [`write_fixtures`]; fixture UIDs are derived from it and so never change.
pub const FIXTURE_SEED: u64 = 20_240_601;
/// Rows and columns of every fixture image (small, so the committed set stays tiny).
pub const FIXTURE_IMAGE_SIZE: u16 = 32;
/// Patients in the fixture DICOM tree.
pub const FIXTURE_PATIENTS: usize = 2;
/// Studies in the fixture DICOM tree.
pub const FIXTURE_STUDIES: usize = 3;
/// Series in the fixture DICOM tree.
pub const FIXTURE_SERIES: usize = 5;
/// CT series among [`FIXTURE_SERIES`].
pub const FIXTURE_CT_SERIES: usize = 3;
/// MR series among [`FIXTURE_SERIES`].
pub const FIXTURE_MR_SERIES: usize = 2;
/// Valid DICOM files under `dicom/` (the bad ones are counted in [`FIXTURE_BAD_FILES`]).
pub const FIXTURE_DICOM_FILES: usize = 24;
/// CT files among [`FIXTURE_DICOM_FILES`].
pub const FIXTURE_CT_FILES: usize = 15;
/// MR files among [`FIXTURE_DICOM_FILES`].
pub const FIXTURE_MR_FILES: usize = 9;
/// Valid NIfTI-1 files (`nifti/volume.nii`, `nifti/volume4d.nii.gz`).
pub const FIXTURE_NIFTI_FILES: usize = 2;
/// Valid Analyze 7.5 pairs (`analyze/brain.hdr` + `.img`).
pub const FIXTURE_ANALYZE_PAIRS: usize = 1;
/// Valid Analyze files on disk (each pair is two files).
pub const FIXTURE_ANALYZE_FILES: usize = 2 * FIXTURE_ANALYZE_PAIRS;
/// Deliberately bad files under `bad/`.
pub const FIXTURE_BAD_FILES: usize = 4;
/// Plain other files: `other/README.txt`, `other/notes.csv` and the top-level `FIXTURES.md`.
pub const FIXTURE_OTHER_FILES: usize = 3;
/// Every file [`write_fixtures`] writes.
pub const FIXTURE_TOTAL_FILES: usize = FIXTURE_DICOM_FILES
    + FIXTURE_NIFTI_FILES
    + FIXTURE_ANALYZE_FILES
    + FIXTURE_BAD_FILES
    + FIXTURE_OTHER_FILES;
/// Series (by fixture series order, 0-based) that carry the `DICURA SYNTH` private block.
pub const FIXTURE_PRIVATE_SERIES: &[usize] = &[1, 3];
/// Shape of `nifti/volume.nii` (x, y, z), int16.
pub const FIXTURE_NIFTI_SHAPE: [u16; 3] = [16, 16, 8];
/// Shape of `nifti/volume4d.nii.gz` (x, y, z, t), int16.
pub const FIXTURE_NIFTI4D_SHAPE: [u16; 4] = [16, 16, 8, 3];
/// Shape of `analyze/brain.img` (x, y, z), int16.
pub const FIXTURE_ANALYZE_SHAPE: [u16; 3] = [16, 16, 8];

/// Fixture DICOM layout: (patient, study, modality, instances, private block, procedure code).
/// Study indices are global; series are numbered in order within their study.
const FIXTURE_LAYOUT: &[(usize, usize, Modality, usize, bool, bool)] = &[
    (0, 0, Modality::Ct, 6, false, true),
    (0, 0, Modality::Mr, 4, true, true),
    (0, 1, Modality::Ct, 5, false, false),
    (1, 2, Modality::Ct, 4, true, true),
    (1, 2, Modality::Mr, 5, false, true),
];

/// Standard tags used by the generator, as `(group << 16) | element`.
#[allow(missing_docs)]
pub mod tags {
    pub const FILE_META_GROUP_LENGTH: u32 = 0x0002_0000;
    pub const FILE_META_VERSION: u32 = 0x0002_0001;
    pub const MEDIA_STORAGE_SOP_CLASS_UID: u32 = 0x0002_0002;
    pub const MEDIA_STORAGE_SOP_INSTANCE_UID: u32 = 0x0002_0003;
    pub const TRANSFER_SYNTAX_UID: u32 = 0x0002_0010;
    pub const IMPLEMENTATION_CLASS_UID: u32 = 0x0002_0012;
    pub const IMPLEMENTATION_VERSION_NAME: u32 = 0x0002_0013;
    pub const SPECIFIC_CHARACTER_SET: u32 = 0x0008_0005;
    pub const IMAGE_TYPE: u32 = 0x0008_0008;
    pub const INSTANCE_CREATION_DATE: u32 = 0x0008_0012;
    pub const INSTANCE_CREATION_TIME: u32 = 0x0008_0013;
    pub const SOP_CLASS_UID: u32 = 0x0008_0016;
    pub const SOP_INSTANCE_UID: u32 = 0x0008_0018;
    pub const STUDY_DATE: u32 = 0x0008_0020;
    pub const SERIES_DATE: u32 = 0x0008_0021;
    pub const ACQUISITION_DATE: u32 = 0x0008_0022;
    pub const CONTENT_DATE: u32 = 0x0008_0023;
    pub const STUDY_TIME: u32 = 0x0008_0030;
    pub const SERIES_TIME: u32 = 0x0008_0031;
    pub const ACQUISITION_TIME: u32 = 0x0008_0032;
    pub const CONTENT_TIME: u32 = 0x0008_0033;
    pub const ACCESSION_NUMBER: u32 = 0x0008_0050;
    pub const MODALITY: u32 = 0x0008_0060;
    pub const MANUFACTURER: u32 = 0x0008_0070;
    pub const INSTITUTION_NAME: u32 = 0x0008_0080;
    pub const REFERRING_PHYSICIAN_NAME: u32 = 0x0008_0090;
    pub const CODE_VALUE: u32 = 0x0008_0100;
    pub const CODING_SCHEME_DESIGNATOR: u32 = 0x0008_0102;
    pub const CODE_MEANING: u32 = 0x0008_0104;
    pub const STATION_NAME: u32 = 0x0008_1010;
    pub const STUDY_DESCRIPTION: u32 = 0x0008_1030;
    pub const PROCEDURE_CODE_SEQUENCE: u32 = 0x0008_1032;
    pub const SERIES_DESCRIPTION: u32 = 0x0008_103E;
    pub const OPERATORS_NAME: u32 = 0x0008_1070;
    pub const MANUFACTURER_MODEL_NAME: u32 = 0x0008_1090;
    pub const PATIENT_NAME: u32 = 0x0010_0010;
    pub const PATIENT_ID: u32 = 0x0010_0020;
    pub const PATIENT_BIRTH_DATE: u32 = 0x0010_0030;
    pub const PATIENT_SEX: u32 = 0x0010_0040;
    pub const PATIENT_AGE: u32 = 0x0010_1010;
    pub const PATIENT_WEIGHT: u32 = 0x0010_1030;
    pub const BODY_PART_EXAMINED: u32 = 0x0018_0015;
    pub const SCANNING_SEQUENCE: u32 = 0x0018_0020;
    pub const SEQUENCE_VARIANT: u32 = 0x0018_0021;
    pub const SCAN_OPTIONS: u32 = 0x0018_0022;
    pub const MR_ACQUISITION_TYPE: u32 = 0x0018_0023;
    pub const SEQUENCE_NAME: u32 = 0x0018_0024;
    pub const SLICE_THICKNESS: u32 = 0x0018_0050;
    pub const KVP: u32 = 0x0018_0060;
    pub const REPETITION_TIME: u32 = 0x0018_0080;
    pub const ECHO_TIME: u32 = 0x0018_0081;
    pub const NUMBER_OF_AVERAGES: u32 = 0x0018_0083;
    pub const IMAGING_FREQUENCY: u32 = 0x0018_0084;
    pub const IMAGED_NUCLEUS: u32 = 0x0018_0085;
    pub const ECHO_NUMBERS: u32 = 0x0018_0086;
    pub const MAGNETIC_FIELD_STRENGTH: u32 = 0x0018_0087;
    pub const SPACING_BETWEEN_SLICES: u32 = 0x0018_0088;
    pub const ECHO_TRAIN_LENGTH: u32 = 0x0018_0091;
    pub const SOFTWARE_VERSIONS: u32 = 0x0018_1020;
    pub const PROTOCOL_NAME: u32 = 0x0018_1030;
    pub const RECONSTRUCTION_DIAMETER: u32 = 0x0018_1100;
    pub const GANTRY_DETECTOR_TILT: u32 = 0x0018_1120;
    pub const EXPOSURE_TIME: u32 = 0x0018_1150;
    pub const X_RAY_TUBE_CURRENT: u32 = 0x0018_1151;
    pub const CONVOLUTION_KERNEL: u32 = 0x0018_1210;
    pub const PATIENT_POSITION: u32 = 0x0018_5100;
    pub const STUDY_INSTANCE_UID: u32 = 0x0020_000D;
    pub const SERIES_INSTANCE_UID: u32 = 0x0020_000E;
    pub const STUDY_ID: u32 = 0x0020_0010;
    pub const SERIES_NUMBER: u32 = 0x0020_0011;
    pub const ACQUISITION_NUMBER: u32 = 0x0020_0012;
    pub const INSTANCE_NUMBER: u32 = 0x0020_0013;
    pub const PATIENT_ORIENTATION: u32 = 0x0020_0020;
    pub const IMAGE_POSITION_PATIENT: u32 = 0x0020_0032;
    pub const IMAGE_ORIENTATION_PATIENT: u32 = 0x0020_0037;
    pub const FRAME_OF_REFERENCE_UID: u32 = 0x0020_0052;
    pub const POSITION_REFERENCE_INDICATOR: u32 = 0x0020_1040;
    pub const SLICE_LOCATION: u32 = 0x0020_1041;
    pub const SAMPLES_PER_PIXEL: u32 = 0x0028_0002;
    pub const PHOTOMETRIC_INTERPRETATION: u32 = 0x0028_0004;
    pub const ROWS: u32 = 0x0028_0010;
    pub const COLUMNS: u32 = 0x0028_0011;
    pub const PIXEL_SPACING: u32 = 0x0028_0030;
    pub const BITS_ALLOCATED: u32 = 0x0028_0100;
    pub const BITS_STORED: u32 = 0x0028_0101;
    pub const HIGH_BIT: u32 = 0x0028_0102;
    pub const PIXEL_REPRESENTATION: u32 = 0x0028_0103;
    pub const WINDOW_CENTER: u32 = 0x0028_1050;
    pub const WINDOW_WIDTH: u32 = 0x0028_1051;
    pub const RESCALE_INTERCEPT: u32 = 0x0028_1052;
    pub const RESCALE_SLOPE: u32 = 0x0028_1053;
    pub const RESCALE_TYPE: u32 = 0x0028_1054;
    pub const LOSSY_IMAGE_COMPRESSION: u32 = 0x0028_2110;
    pub const PRIVATE_CREATOR_0029: u32 = 0x0029_0010;
    pub const PRIVATE_SERIES_NOTE: u32 = 0x0029_1010;
    pub const PRIVATE_GENERATOR: u32 = 0x0029_1011;
    pub const PIXEL_DATA: u32 = 0x7FE0_0010;
    pub const ITEM: u32 = 0xFFFE_E000;
    pub const ITEM_DELIMITATION: u32 = 0xFFFE_E00D;
    pub const SEQUENCE_DELIMITATION: u32 = 0xFFFE_E0DD;
}

// ---------------------------------------------------------------------------------------------
// Deterministic randomness and UIDs
// ---------------------------------------------------------------------------------------------

/// splitmix64: tiny, fast, and good enough to make plausible values reproducibly.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// A generator keyed by several numbers (seed, kind, indices), so each entity draws its
    /// values independently of generation order.
    pub fn keyed(parts: &[u64]) -> Self {
        Rng(mix(parts))
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        finalize(self.0)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo))
    }

    /// Uniform float in `[lo, hi)`.
    pub fn float(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + unit * (hi - lo)
    }

    /// A uniformly chosen element; `None` only for an empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }
}

fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn mix(parts: &[u64]) -> u64 {
    parts.iter().fold(0x243F_6A88_85A3_08D3, |acc, &p| {
        finalize(acc ^ finalize(p.wrapping_add(0x9E37_79B9_7F4A_7C15)))
    })
}

/// Entity kinds mixed into keys, so that e.g. study 3 and series 3 never share randomness.
mod kind {
    pub const PATIENT: u64 = 1;
    pub const STUDY: u64 = 2;
    pub const SERIES: u64 = 3;
    pub const SOP: u64 = 4;
    pub const FRAME: u64 = 5;
    pub const STUDY_UID: u64 = 6;
    pub const SERIES_UID: u64 = 7;
}

/// A `2.25.<decimal>` UID from a 127-bit hash of `parts`: valid (digits and dots, no leading
/// zero, 43–44 characters) and, for distinct keys, unique for all practical purposes.
pub fn uid_from(parts: &[u64]) -> String {
    let hi = mix(parts);
    let mut with_salt = parts.to_vec();
    with_salt.push(0xD1C0_5A17);
    let lo = mix(&with_salt);
    let n = ((u128::from(hi) << 64) | u128::from(lo)) >> 1 | (1u128 << 126);
    format!("2.25.{n}")
}

/// True when `uid` is a syntactically valid DICOM UID (≤64 chars, numeric components separated
/// by single dots, no leading zeros except a lone "0").
pub fn is_valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 64
        && uid.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))
        })
}

// ---------------------------------------------------------------------------------------------
// DICOM element model and writer
// ---------------------------------------------------------------------------------------------

/// Character repertoire of a file; decides (0008,0005) and how text is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    /// No Specific Character Set element; non-ASCII characters become `?`.
    Default,
    /// `ISO_IR 100`: Latin-1, one byte per character.
    Latin1,
    /// `ISO_IR 192`: UTF-8.
    Utf8,
}

impl Charset {
    /// The (0008,0005) value, if any.
    pub fn term(self) -> Option<&'static str> {
        match self {
            Charset::Default => None,
            Charset::Latin1 => Some("ISO_IR 100"),
            Charset::Utf8 => Some("ISO_IR 192"),
        }
    }

    /// Encodes text in this repertoire (unrepresentable characters become `?`).
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Charset::Utf8 => text.as_bytes().to_vec(),
            Charset::Latin1 => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect(),
            Charset::Default => text
                .chars()
                .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
                .collect(),
        }
    }
}

/// A value: raw bytes (already padded) or a sequence of items.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Encoded value bytes, written as they are.
    Bytes(Vec<u8>),
    /// Sequence items; `undefined_length` selects delimiter-terminated encoding for the
    /// sequence and each item (both forms occur in the wild, so readers must handle both).
    Items {
        /// Each item is a list of elements (sorted by tag when encoded).
        items: Vec<Vec<Element>>,
        /// Use 0xFFFFFFFF lengths and delimitation items instead of explicit lengths.
        undefined_length: bool,
    },
}

/// One data element, before encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct Element {
    /// `(group << 16) | element`.
    pub tag: u32,
    /// Two-letter VR as written in the file.
    pub vr: [u8; 2],
    /// Its value.
    pub value: Value,
}

fn vr_bytes(vr: &str) -> [u8; 2] {
    let b = vr.as_bytes();
    [
        b.first().copied().unwrap_or(b' '),
        b.get(1).copied().unwrap_or(b' '),
    ]
}

/// VRs whose explicit-VR header has 2 reserved bytes and a 32-bit length.
fn is_long_vr(vr: [u8; 2]) -> bool {
    matches!(
        &vr,
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

/// Pads `bytes` to even length with the byte the standard prescribes for `vr`.
fn pad_even(mut bytes: Vec<u8>, vr: [u8; 2]) -> Vec<u8> {
    if bytes.len() % 2 == 1 {
        let pad = match &vr {
            b"UI" | b"OB" | b"OW" | b"UN" | b"OD" | b"OF" | b"OL" | b"OV" => 0u8,
            _ => b' ',
        };
        bytes.push(pad);
    }
    bytes
}

impl Element {
    /// A text element (values joined with `\` by the caller), encoded as ASCII/UTF-8 and padded.
    pub fn str(tag: u32, vr: &str, value: &str) -> Element {
        Element::text(tag, vr, value, Charset::Utf8)
    }

    /// A text element encoded in `charset` and padded.
    pub fn text(tag: u32, vr: &str, value: &str, charset: Charset) -> Element {
        let vr = vr_bytes(vr);
        Element {
            tag,
            vr,
            value: Value::Bytes(pad_even(charset.encode(value), vr)),
        }
    }

    /// An element from raw bytes, padded to even length according to its VR.
    pub fn bytes(tag: u32, vr: &str, value: &[u8]) -> Element {
        let vr = vr_bytes(vr);
        Element {
            tag,
            vr,
            value: Value::Bytes(pad_even(value.to_vec(), vr)),
        }
    }

    /// An element from raw bytes written exactly as given (odd lengths included): for planting
    /// defects.
    pub fn raw(tag: u32, vr: &str, value: &[u8]) -> Element {
        Element {
            tag,
            vr: vr_bytes(vr),
            value: Value::Bytes(value.to_vec()),
        }
    }

    /// A US element (one or more values).
    pub fn us(tag: u32, values: &[u16]) -> Element {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Element::raw(tag, "US", &bytes)
    }

    /// A UL element.
    pub fn ul(tag: u32, value: u32) -> Element {
        Element::raw(tag, "UL", &value.to_le_bytes())
    }

    /// A DS element from numbers (each formatted to at most 16 characters).
    pub fn ds(tag: u32, values: &[f64]) -> Element {
        let joined: Vec<String> = values.iter().map(|&v| fmt_ds(v)).collect();
        Element::str(tag, "DS", &joined.join("\\"))
    }

    /// An IS element.
    pub fn is(tag: u32, value: i64) -> Element {
        Element::str(tag, "IS", &value.to_string())
    }

    /// A sequence element.
    pub fn sequence(tag: u32, items: Vec<Vec<Element>>, undefined_length: bool) -> Element {
        Element {
            tag,
            vr: *b"SQ",
            value: Value::Items {
                items,
                undefined_length,
            },
        }
    }
}

/// Formats a decimal string of at most 16 characters, dropping needless zeros.
pub fn fmt_ds(v: f64) -> String {
    if !v.is_finite() {
        return "0".to_string();
    }
    for precision in (0..=6).rev() {
        let mut s = format!("{v:.precision$}");
        if s.contains('.') {
            while s.ends_with('0') {
                s.pop();
            }
            if s.ends_with('.') {
                s.pop();
            }
        }
        if s == "-0" {
            s = "0".to_string();
        }
        if s.len() <= 16 {
            return s;
        }
    }
    format!("{v:.3e}")
}

fn put_tag(out: &mut Vec<u8>, tag: u32) {
    out.extend_from_slice(&((tag >> 16) as u16).to_le_bytes());
    out.extend_from_slice(&(tag as u16).to_le_bytes());
}

/// Encodes one element in Explicit VR Little Endian. A short-VR value longer than 65535 bytes
/// cannot be represented and is truncated (only a defect-planting caller could ask for that).
fn encode_element(out: &mut Vec<u8>, e: &Element) {
    put_tag(out, e.tag);
    out.extend_from_slice(&e.vr);
    match &e.value {
        Value::Bytes(b) => {
            if is_long_vr(e.vr) {
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                out.extend_from_slice(b);
            } else {
                let n = b.len().min(usize::from(u16::MAX));
                out.extend_from_slice(&(n as u16).to_le_bytes());
                out.extend_from_slice(&b[..n]);
            }
        }
        Value::Items {
            items,
            undefined_length,
        } => {
            out.extend_from_slice(&[0, 0]);
            if *undefined_length {
                out.extend_from_slice(&u32::MAX.to_le_bytes());
                for item in items {
                    put_tag(out, tags::ITEM);
                    out.extend_from_slice(&u32::MAX.to_le_bytes());
                    encode_sorted(out, item);
                    put_tag(out, tags::ITEM_DELIMITATION);
                    out.extend_from_slice(&0u32.to_le_bytes());
                }
                put_tag(out, tags::SEQUENCE_DELIMITATION);
                out.extend_from_slice(&0u32.to_le_bytes());
            } else {
                let mut body = Vec::new();
                for item in items {
                    let mut content = Vec::new();
                    encode_sorted(&mut content, item);
                    put_tag(&mut body, tags::ITEM);
                    body.extend_from_slice(&(content.len() as u32).to_le_bytes());
                    body.extend_from_slice(&content);
                }
                out.extend_from_slice(&(body.len() as u32).to_le_bytes());
                out.extend_from_slice(&body);
            }
        }
    }
}

fn encode_sorted(out: &mut Vec<u8>, elements: &[Element]) {
    let mut refs: Vec<&Element> = elements.iter().collect();
    refs.sort_by_key(|e| e.tag);
    for e in refs {
        encode_element(out, e);
    }
}

/// Builds one DICOM Part 10 file in memory (Explicit VR Little Endian).
///
/// Adding an element whose tag is already present replaces it, so tests can start from a
/// complete file ([`slice_writer`]) and change or [`remove`](DicomWriter::remove) single
/// attributes to plant defects. [`finish`](DicomWriter::finish) sorts elements by tag, as the
/// standard requires; [`finish_in_insertion_order`](DicomWriter::finish_in_insertion_order)
/// does not, for planting ordering defects.
#[derive(Clone, Debug)]
pub struct DicomWriter {
    sop_class_uid: String,
    sop_instance_uid: String,
    transfer_syntax_uid: String,
    charset: Charset,
    elements: Vec<Element>,
}

impl DicomWriter {
    /// A writer whose meta group names this SOP class and instance. (0008,0016)/(0008,0018)
    /// are not added automatically: callers add them (or deliberately do not).
    pub fn new(sop_class_uid: &str, sop_instance_uid: &str) -> Self {
        DicomWriter {
            sop_class_uid: sop_class_uid.to_string(),
            sop_instance_uid: sop_instance_uid.to_string(),
            transfer_syntax_uid: EXPLICIT_VR_LITTLE_ENDIAN.to_string(),
            charset: Charset::Default,
            elements: Vec::with_capacity(96),
        }
    }

    /// Overrides (0002,0010). The body is still Explicit VR LE, so any other value makes a
    /// mislabelled file: only for planting defects.
    pub fn transfer_syntax(&mut self, uid: &str) -> &mut Self {
        self.transfer_syntax_uid = uid.to_string();
        self
    }

    /// Overrides the meta (0002,0003) alone, e.g. to plant a meta/dataset UID mismatch.
    pub fn media_storage_sop_instance_uid(&mut self, uid: &str) -> &mut Self {
        self.sop_instance_uid = uid.to_string();
        self
    }

    /// Sets (0008,0005) and the encoding used by later [`str`](Self::str) calls.
    pub fn charset(&mut self, charset: Charset) -> &mut Self {
        self.charset = charset;
        match charset.term() {
            Some(term) => self.put(Element::str(tags::SPECIFIC_CHARACTER_SET, "CS", term)),
            None => self.remove(tags::SPECIFIC_CHARACTER_SET),
        }
    }

    /// Adds (or replaces) an element.
    pub fn put(&mut self, element: Element) -> &mut Self {
        match self.elements.iter_mut().find(|e| e.tag == element.tag) {
            Some(slot) => *slot = element,
            None => self.elements.push(element),
        }
        self
    }

    /// Removes an element if present.
    pub fn remove(&mut self, tag: u32) -> &mut Self {
        self.elements.retain(|e| e.tag != tag);
        self
    }

    /// The element with this tag, if present.
    pub fn get(&self, tag: u32) -> Option<&Element> {
        self.elements.iter().find(|e| e.tag == tag)
    }

    /// A text element in the writer's character set, padded to even length.
    pub fn str(&mut self, tag: u32, vr: &str, value: &str) -> &mut Self {
        let e = Element::text(tag, vr, value, self.charset);
        self.put(e)
    }

    /// A US element with one value.
    pub fn u16(&mut self, tag: u32, value: u16) -> &mut Self {
        self.put(Element::us(tag, &[value]))
    }

    /// A UL element.
    pub fn u32(&mut self, tag: u32, value: u32) -> &mut Self {
        self.put(Element::ul(tag, value))
    }

    /// A DS element from numbers.
    pub fn ds(&mut self, tag: u32, values: &[f64]) -> &mut Self {
        self.put(Element::ds(tag, values))
    }

    /// An IS element.
    pub fn is(&mut self, tag: u32, value: i64) -> &mut Self {
        self.put(Element::is(tag, value))
    }

    /// An element from raw bytes, padded to even length.
    pub fn bytes(&mut self, tag: u32, vr: &str, value: &[u8]) -> &mut Self {
        self.put(Element::bytes(tag, vr, value))
    }

    /// An element written exactly as given (no padding), for planting defects.
    pub fn raw(&mut self, tag: u32, vr: &str, value: &[u8]) -> &mut Self {
        self.put(Element::raw(tag, vr, value))
    }

    /// A sequence of items, each a list of elements.
    pub fn sequence(
        &mut self,
        tag: u32,
        items: Vec<Vec<Element>>,
        undefined_length: bool,
    ) -> &mut Self {
        self.put(Element::sequence(tag, items, undefined_length))
    }

    /// Native (uncompressed) Pixel Data as OW.
    pub fn pixel_data_native(&mut self, pixels: &[u8]) -> &mut Self {
        self.put(Element::bytes(tags::PIXEL_DATA, "OW", pixels))
    }

    fn meta(&self, out: &mut Vec<u8>) {
        let mut meta = Vec::with_capacity(256);
        encode_element(
            &mut meta,
            &Element::raw(tags::FILE_META_VERSION, "OB", &[0, 1]),
        );
        for (tag, value) in [
            (
                tags::MEDIA_STORAGE_SOP_CLASS_UID,
                self.sop_class_uid.as_str(),
            ),
            (
                tags::MEDIA_STORAGE_SOP_INSTANCE_UID,
                self.sop_instance_uid.as_str(),
            ),
            (tags::TRANSFER_SYNTAX_UID, self.transfer_syntax_uid.as_str()),
            (tags::IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_CLASS_UID),
        ] {
            encode_element(&mut meta, &Element::str(tag, "UI", value));
        }
        encode_element(
            &mut meta,
            &Element::str(
                tags::IMPLEMENTATION_VERSION_NAME,
                "SH",
                IMPLEMENTATION_VERSION_NAME,
            ),
        );
        out.extend_from_slice(&[0u8; 128]);
        out.extend_from_slice(b"DICM");
        encode_element(
            out,
            &Element::ul(tags::FILE_META_GROUP_LENGTH, meta.len() as u32),
        );
        out.extend_from_slice(&meta);
    }

    fn capacity(&self) -> usize {
        let payload: usize = self
            .elements
            .iter()
            .map(|e| match &e.value {
                Value::Bytes(b) => b.len() + 12,
                Value::Items { .. } => 256,
            })
            .sum();
        payload + 512
    }

    /// The complete file, dataset elements in ascending tag order.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.capacity());
        self.meta(&mut out);
        encode_sorted(&mut out, &self.elements);
        out
    }

    /// The complete file with dataset elements in the order they were first added (a defect
    /// unless they happened to be added in order).
    pub fn finish_in_insertion_order(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.capacity());
        self.meta(&mut out);
        for e in &self.elements {
            encode_element(&mut out, e);
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Synthetic entities
// ---------------------------------------------------------------------------------------------

const FAMILY_NAMES: &[&str] = &[
    "SMITH",
    "JOHNSON",
    "WILLIAMS",
    "BROWN",
    "JONES",
    "GARCIA",
    "MILLER",
    "DAVIS",
    "WILSON",
    "TAYLOR",
    "NGUYEN",
    "KOWALSKI",
    "ROSSI",
    "DUBOIS",
    "TANAKA",
    "SILVA",
    "Müller",
    "Peña",
    "Ødegård",
    "Lefèvre",
];
const GIVEN_NAMES: &[&str] = &[
    "JOHN", "MARY", "JAMES", "PATRICIA", "ROBERT", "JENNIFER", "MICHAEL", "LINDA", "WEI", "AIKO",
    "LUCA", "ANNA", "OMAR", "FATIMA", "Jürgen", "José", "Åse", "Zoë", "Hélène",
];
const INSTITUTIONS: &[&str] = &[
    "St. Elsewhere General Hospital",
    "Mercy Imaging Center",
    "Riverside University Clinic",
    "Klinikum Süd",
];
const CT_SCANNERS: &[(&str, &str, &str)] = &[
    ("GE MEDICAL SYSTEMS", "LightSpeed VCT", "LightSpeedverrel"),
    ("SIEMENS", "SOMATOM Definition AS", "syngo CT VA48A"),
    ("Philips", "Ingenuity CT", "4.1.3"),
];
const MR_SCANNERS: &[(&str, &str, &str)] = &[
    (
        "GE MEDICAL SYSTEMS",
        "SIGNA Premier",
        "28\\LX\\MR Software release:RX28.0",
    ),
    ("SIEMENS", "MAGNETOM Skyra", "syngo MR E11"),
    ("Philips", "Ingenia", "5.6.1\\5.6.1.2"),
];
const BODY_PARTS: &[&str] = &["HEAD", "CHEST", "ABDOMEN"];
/// MR sequences: (ScanningSequence, SequenceVariant, description, TR range, TE range).
type MrSequence = (
    &'static str,
    &'static str,
    &'static str,
    (f64, f64),
    (f64, f64),
);
const MR_SEQUENCES: &[MrSequence] = &[
    ("SE", "NONE", "T1 SE", (400.0, 700.0), (8.0, 15.0)),
    ("SE", "SK\\SP", "T2 TSE", (3000.0, 6000.0), (80.0, 110.0)),
    ("GR", "SP", "T1 GRE", (150.0, 300.0), (2.0, 5.0)),
];

/// Imaging modality of a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modality {
    /// Computed tomography, CT Image Storage.
    Ct,
    /// Magnetic resonance, MR Image Storage.
    Mr,
}

impl Modality {
    /// The (0008,0060) code.
    pub fn code(self) -> &'static str {
        match self {
            Modality::Ct => "CT",
            Modality::Mr => "MR",
        }
    }

    /// The storage SOP class UID.
    pub fn sop_class_uid(self) -> &'static str {
        match self {
            Modality::Ct => CT_IMAGE_STORAGE,
            Modality::Mr => MR_IMAGE_STORAGE,
        }
    }
}

/// A calendar date (no validation beyond keeping days ≤ 28 when generated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date {
    /// Year.
    pub year: u16,
    /// Month 1–12.
    pub month: u8,
    /// Day 1–31.
    pub day: u8,
}

impl Date {
    fn random(rng: &mut Rng, from_year: u16, to_year: u16) -> Date {
        Date {
            year: rng.range(u64::from(from_year), u64::from(to_year) + 1) as u16,
            month: rng.range(1, 13) as u8,
            day: rng.range(1, 29) as u8,
        }
    }

    /// DA form, `YYYYMMDD`.
    pub fn da(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// Whole years from `self` to `later`.
    pub fn years_until(self, later: Date) -> u16 {
        let mut years = later.year.saturating_sub(self.year);
        if (later.month, later.day) < (self.month, self.day) {
            years = years.saturating_sub(1);
        }
        years
    }
}

/// TM form, `HHMMSS`, from seconds after midnight (clamped to the day).
pub fn tm(seconds: u32) -> String {
    let s = seconds.min(86_399);
    format!("{:02}{:02}{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// One synthetic patient.
#[derive(Clone, Debug)]
pub struct Patient {
    /// 0-based index in the dataset.
    pub index: usize,
    /// PN in "FAMILY^GIVEN" form (may contain non-ASCII letters).
    pub name: String,
    /// Like `PAT000123`.
    pub id: String,
    /// Birth date.
    pub birth_date: Date,
    /// `M`, `F` or `O`.
    pub sex: &'static str,
    /// Weight in kg.
    pub weight_kg: f64,
    /// Character set of all this patient's files.
    pub charset: Charset,
}

impl Patient {
    /// The `index`-th patient of a dataset with this seed.
    pub fn synthetic(seed: u64, index: usize) -> Patient {
        let mut rng = Rng::keyed(&[seed, kind::PATIENT, index as u64]);
        let family = rng.pick(FAMILY_NAMES).copied().unwrap_or("DOE");
        let given = rng.pick(GIVEN_NAMES).copied().unwrap_or("JANE");
        let sex = match rng.below(100) {
            0..=47 => "M",
            48..=95 => "F",
            _ => "O",
        };
        Patient {
            index,
            name: format!("{family}^{given}"),
            id: format!("PAT{:06}", index + 1),
            birth_date: Date::random(&mut rng, 1935, 2012),
            sex,
            weight_kg: (rng.float(45.0, 110.0) * 10.0).round() / 10.0,
            charset: if index % 2 == 0 {
                Charset::Latin1
            } else {
                Charset::Utf8
            },
        }
    }

    /// Folder name under the dataset root.
    pub fn folder(&self) -> String {
        self.id.clone()
    }
}

/// One synthetic study.
#[derive(Clone, Debug)]
pub struct Study {
    /// 0-based index within its patient.
    pub index: usize,
    /// Study Instance UID.
    pub uid: String,
    /// Study date (all series and instances share it).
    pub date: Date,
    /// Study time, seconds after midnight.
    pub time_s: u32,
    /// Accession number (SH).
    pub accession: String,
    /// Study ID (SH).
    pub study_id: String,
    /// Study description.
    pub description: String,
    /// Referring physician (PN).
    pub referring_physician: String,
    /// Institution name.
    pub institution: String,
    /// Body part examined.
    pub body_part: &'static str,
    /// Whether files carry a Procedure Code Sequence.
    pub procedure_code: bool,
}

impl Study {
    /// Study `index` of patient `patient` in a dataset with this seed.
    pub fn synthetic(seed: u64, patient: usize, index: usize) -> Study {
        let mut rng = Rng::keyed(&[seed, kind::STUDY, patient as u64, index as u64]);
        let body_part = rng.pick(BODY_PARTS).copied().unwrap_or("HEAD");
        let family = rng.pick(FAMILY_NAMES).copied().unwrap_or("HOUSE");
        let given = rng.pick(GIVEN_NAMES).copied().unwrap_or("GREGORY");
        Study {
            index,
            uid: uid_from(&[seed, kind::STUDY_UID, patient as u64, index as u64]),
            date: Date::random(&mut rng, 2015, 2024),
            time_s: rng.range(7 * 3600, 17 * 3600) as u32,
            accession: format!("ACC{:08}", rng.below(100_000_000)),
            study_id: format!("{}", rng.range(1000, 10_000)),
            description: format!("{body_part} IMAGING"),
            referring_physician: format!("{family}^{given}"),
            institution: rng.pick(INSTITUTIONS).copied().unwrap_or("").to_string(),
            body_part,
            procedure_code: index % 2 == 0,
        }
    }

    /// Folder name under the patient folder.
    pub fn folder(&self) -> String {
        format!("ST{:03}_{}", self.index + 1, self.date.da())
    }
}

/// One synthetic series, including its geometry.
#[derive(Clone, Debug)]
pub struct Series {
    /// 0-based index within its study.
    pub index: usize,
    /// Series number (IS), 1-based.
    pub number: u32,
    /// CT or MR.
    pub modality: Modality,
    /// Series Instance UID.
    pub uid: String,
    /// Frame of Reference UID.
    pub frame_of_reference_uid: String,
    /// Key from which the SOP Instance UIDs of this series are derived.
    pub uid_key: u64,
    /// Series time, seconds after midnight (same date as the study).
    pub time_s: u32,
    /// Series description.
    pub description: String,
    /// Protocol name.
    pub protocol: String,
    /// Operator (PN).
    pub operator: String,
    /// Station name.
    pub station: String,
    /// Manufacturer.
    pub manufacturer: &'static str,
    /// Manufacturer's model name.
    pub model: &'static str,
    /// Software versions (may be multi-valued).
    pub software: &'static str,
    /// Image rows.
    pub rows: u16,
    /// Image columns.
    pub columns: u16,
    /// Pixel spacing (row spacing, column spacing) in mm.
    pub pixel_spacing: [f64; 2],
    /// Slice thickness, also the spacing between slices, in mm.
    pub slice_thickness: f64,
    /// Image Orientation (Patient): row then column direction cosines.
    pub orientation: [f64; 6],
    /// Image Position (Patient) of the first slice.
    pub origin: [f64; 3],
    /// Number of instances.
    pub instances: usize,
    /// Whether files carry the `DICURA SYNTH` private block.
    pub private_block: bool,
    /// CT tube voltage (kV).
    pub kvp: f64,
    /// CT window centre and width.
    pub window: (f64, f64),
    /// MR field strength in tesla.
    pub field_strength: f64,
    /// MR repetition and echo time in ms.
    pub tr_te: (f64, f64),
    /// MR scanning sequence and variant.
    pub mr_sequence: (&'static str, &'static str),
}

impl Series {
    /// Series `index` of study `study` of patient `patient`; CT and MR alternate by index.
    #[allow(clippy::too_many_arguments)]
    pub fn synthetic(
        seed: u64,
        patient: usize,
        study: &Study,
        index: usize,
        rows: u16,
        columns: u16,
        instances: usize,
    ) -> Series {
        let key = [seed, patient as u64, study.index as u64, index as u64];
        let mut rng = Rng::keyed(&[seed, kind::SERIES, key[1], key[2], key[3]]);
        let modality = if index % 2 == 0 {
            Modality::Ct
        } else {
            Modality::Mr
        };
        let scanners = match modality {
            Modality::Ct => CT_SCANNERS,
            Modality::Mr => MR_SCANNERS,
        };
        let (manufacturer, model, software) = rng.pick(scanners).copied().unwrap_or(("", "", ""));
        let fov = match (modality, study.body_part) {
            (_, "HEAD") => 240.0,
            (Modality::Ct, _) => 360.0,
            (Modality::Mr, _) => 320.0,
        };
        let spacing = fov / f64::from(columns.max(1));
        let row_spacing = fov / f64::from(rows.max(1));
        let thickness = match modality {
            Modality::Ct => *rng.pick(&[1.25, 2.5, 5.0]).unwrap_or(&5.0),
            Modality::Mr => *rng.pick(&[3.0, 4.0, 5.0]).unwrap_or(&5.0),
        };
        let z0 = (rng.float(-180.0, 40.0) * 100.0).round() / 100.0;
        let window = match study.body_part {
            "HEAD" => (40.0, 80.0),
            "CHEST" => (-600.0, 1500.0),
            _ => (40.0, 400.0),
        };
        let seq = rng.pick(MR_SEQUENCES).copied().unwrap_or(MR_SEQUENCES[0]);
        let tr = (rng.float(seq.3 .0, seq.3 .1)).round();
        let te = (rng.float(seq.4 .0, seq.4 .1) * 10.0).round() / 10.0;
        let family = rng.pick(FAMILY_NAMES).copied().unwrap_or("OPERATOR");
        let given = rng.pick(GIVEN_NAMES).copied().unwrap_or("A");
        let (description, protocol) = match modality {
            Modality::Ct => (
                format!("AXIAL {}MM", fmt_ds(thickness)),
                format!("{} ROUTINE", study.body_part),
            ),
            Modality::Mr => (
                format!("{} AX", seq.2),
                format!("{} {}", study.body_part, seq.2),
            ),
        };
        Series {
            index,
            number: index as u32 + 1,
            modality,
            uid: uid_from(&[seed, kind::SERIES_UID, key[1], key[2], key[3]]),
            frame_of_reference_uid: uid_from(&[seed, kind::FRAME, key[1], key[2], key[3]]),
            uid_key: mix(&key),
            time_s: study.time_s + 300 * index as u32 + rng.below(120) as u32,
            description,
            protocol,
            operator: format!("{family}^{given}"),
            station: format!("{}{:02}", modality.code(), rng.range(1, 20)),
            manufacturer,
            model,
            software,
            rows,
            columns,
            pixel_spacing: [row_spacing, spacing],
            slice_thickness: thickness,
            orientation: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            origin: [-fov / 2.0, -fov / 2.0, z0],
            instances,
            private_block: index % 3 == 1,
            kvp: *rng.pick(&[100.0, 120.0, 140.0]).unwrap_or(&120.0),
            window,
            field_strength: *rng.pick(&[1.5, 3.0]).unwrap_or(&1.5),
            tr_te: (tr, te),
            mr_sequence: (seq.0, seq.1),
        }
    }

    /// Folder name under the study folder.
    pub fn folder(&self) -> String {
        format!("SE{:03}_{}", self.number, self.modality.code())
    }

    /// SOP Instance UID of instance `instance` (0-based).
    pub fn sop_instance_uid(&self, instance: usize) -> String {
        uid_from(&[self.uid_key, kind::SOP, instance as u64])
    }

    /// Slice normal (row × column direction cosines).
    pub fn normal(&self) -> [f64; 3] {
        let o = &self.orientation;
        [
            o[1] * o[5] - o[2] * o[4],
            o[2] * o[3] - o[0] * o[5],
            o[0] * o[4] - o[1] * o[3],
        ]
    }

    /// Image Position (Patient) of instance `instance` (0-based): the origin advanced by
    /// `instance × slice_thickness` along the normal.
    pub fn position(&self, instance: usize) -> [f64; 3] {
        let n = self.normal();
        let d = instance as f64 * self.slice_thickness;
        [
            self.origin[0] + d * n[0],
            self.origin[1] + d * n[1],
            self.origin[2] + d * n[2],
        ]
    }

    /// File name of instance `instance` (0-based).
    pub fn file_name(instance: usize) -> String {
        format!("IM{:05}.dcm", instance + 1)
    }
}

/// A phantom slice: body disc with a left-right gradient and a sphere whose cross-section
/// grows and shrinks through the series (so slices differ, and geometry is visible).
fn phantom_pixels(se: &Series, instance: usize, modality: Modality) -> Vec<u8> {
    let rows = usize::from(se.rows);
    let cols = usize::from(se.columns);
    let mut out = Vec::with_capacity(rows * cols * 2);
    let t = if se.instances > 1 {
        instance as f64 / (se.instances - 1) as f64
    } else {
        0.5
    };
    let sphere = (1.0 - (2.0 * t - 1.0).powi(2)).max(0.0).sqrt() * 0.45;
    let sphere2 = sphere * sphere;
    let (background, body, bright) = match modality {
        Modality::Ct => (0.0, 1064.0, 1724.0),
        Modality::Mr => (8.0, 600.0, 1500.0),
    };
    let cy = rows as f64 / 2.0;
    let cx = cols as f64 / 2.0;
    for r in 0..rows {
        let dy = (r as f64 + 0.5 - cy) / cy.max(1.0);
        for c in 0..cols {
            let dx = (c as f64 + 0.5 - cx) / cx.max(1.0);
            let r2 = dx * dx + dy * dy;
            let v = if r2 < sphere2 {
                bright
            } else if r2 < 0.81 {
                body + 60.0 * dx
            } else {
                background
            };
            let v = v.clamp(0.0, 4095.0) as u16;
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

fn procedure_item(study: &Study, charset: Charset) -> Vec<Element> {
    vec![
        Element::str(
            tags::CODE_VALUE,
            "SH",
            &format!("P-{}", study.body_part.chars().take(4).collect::<String>()),
        ),
        Element::str(tags::CODING_SCHEME_DESIGNATOR, "SH", CODING_SCHEME),
        Element::text(tags::CODE_MEANING, "LO", &study.description, charset),
    ]
}

/// A writer holding one complete, conformant image of `se`'s modality (CT or MR Image
/// Storage): start here to plant defects, then call [`DicomWriter::finish`].
pub fn slice_writer(p: &Patient, st: &Study, se: &Series, instance: usize) -> DicomWriter {
    let modality = se.modality;
    let sop_uid = se.sop_instance_uid(instance);
    let mut w = DicomWriter::new(modality.sop_class_uid(), &sop_uid);
    w.charset(p.charset);
    let study_date = st.date.da();
    let acq_time = tm(se.time_s + 30 + instance as u32);
    let position = se.position(instance);
    let slice_location = {
        let n = se.normal();
        position[0] * n[0] + position[1] * n[1] + position[2] * n[2]
    };
    let image_type = match modality {
        Modality::Ct => "ORIGINAL\\PRIMARY\\AXIAL",
        Modality::Mr => "ORIGINAL\\PRIMARY\\OTHER",
    };

    // SOP Common
    w.str(tags::SOP_CLASS_UID, "UI", modality.sop_class_uid())
        .str(tags::SOP_INSTANCE_UID, "UI", &sop_uid)
        .str(tags::INSTANCE_CREATION_DATE, "DA", &study_date)
        .str(tags::INSTANCE_CREATION_TIME, "TM", &acq_time);
    // Patient
    w.str(tags::PATIENT_NAME, "PN", &p.name)
        .str(tags::PATIENT_ID, "LO", &p.id)
        .str(tags::PATIENT_BIRTH_DATE, "DA", &p.birth_date.da())
        .str(tags::PATIENT_SEX, "CS", p.sex)
        .str(
            tags::PATIENT_AGE,
            "AS",
            &format!("{:03}Y", p.birth_date.years_until(st.date).min(999)),
        )
        .ds(tags::PATIENT_WEIGHT, &[p.weight_kg]);
    // General Study
    w.str(tags::STUDY_INSTANCE_UID, "UI", &st.uid)
        .str(tags::STUDY_DATE, "DA", &study_date)
        .str(tags::STUDY_TIME, "TM", &tm(st.time_s))
        .str(
            tags::REFERRING_PHYSICIAN_NAME,
            "PN",
            &st.referring_physician,
        )
        .str(tags::STUDY_ID, "SH", &st.study_id)
        .str(tags::ACCESSION_NUMBER, "SH", &st.accession)
        .str(tags::STUDY_DESCRIPTION, "LO", &st.description);
    if st.procedure_code {
        // Both encodings of sequences occur in the wild; readers must cope with either.
        let item = procedure_item(st, p.charset);
        w.sequence(
            tags::PROCEDURE_CODE_SEQUENCE,
            vec![item],
            modality == Modality::Mr,
        );
    }
    // General Series
    w.str(tags::MODALITY, "CS", modality.code())
        .str(tags::SERIES_INSTANCE_UID, "UI", &se.uid)
        .is(tags::SERIES_NUMBER, i64::from(se.number))
        .str(tags::SERIES_DATE, "DA", &study_date)
        .str(tags::SERIES_TIME, "TM", &tm(se.time_s))
        .str(tags::SERIES_DESCRIPTION, "LO", &se.description)
        .str(tags::PROTOCOL_NAME, "LO", &se.protocol)
        .str(tags::OPERATORS_NAME, "PN", &se.operator)
        .str(tags::BODY_PART_EXAMINED, "CS", st.body_part)
        .str(tags::PATIENT_POSITION, "CS", "HFS");
    // Frame of Reference
    w.str(
        tags::FRAME_OF_REFERENCE_UID,
        "UI",
        &se.frame_of_reference_uid,
    )
    .str(tags::POSITION_REFERENCE_INDICATOR, "LO", "");
    // General Equipment
    w.str(tags::MANUFACTURER, "LO", se.manufacturer)
        .str(tags::INSTITUTION_NAME, "LO", &st.institution)
        .str(tags::STATION_NAME, "SH", &se.station)
        .str(tags::MANUFACTURER_MODEL_NAME, "LO", se.model)
        .str(tags::SOFTWARE_VERSIONS, "LO", se.software);
    // General Image
    w.is(tags::INSTANCE_NUMBER, instance as i64 + 1)
        .str(tags::PATIENT_ORIENTATION, "CS", "L\\P")
        .str(tags::CONTENT_DATE, "DA", &study_date)
        .str(tags::CONTENT_TIME, "TM", &acq_time)
        .str(tags::ACQUISITION_DATE, "DA", &study_date)
        .str(tags::ACQUISITION_TIME, "TM", &acq_time)
        .is(tags::ACQUISITION_NUMBER, 1)
        .str(tags::IMAGE_TYPE, "CS", image_type)
        .str(tags::LOSSY_IMAGE_COMPRESSION, "CS", "00");
    // Image Plane
    w.ds(tags::PIXEL_SPACING, &se.pixel_spacing)
        .ds(tags::IMAGE_ORIENTATION_PATIENT, &se.orientation)
        .ds(tags::IMAGE_POSITION_PATIENT, &position)
        .ds(tags::SLICE_THICKNESS, &[se.slice_thickness])
        .ds(tags::SLICE_LOCATION, &[slice_location]);
    // Image Pixel
    w.u16(tags::SAMPLES_PER_PIXEL, 1)
        .str(tags::PHOTOMETRIC_INTERPRETATION, "CS", "MONOCHROME2")
        .u16(tags::ROWS, se.rows)
        .u16(tags::COLUMNS, se.columns)
        .u16(tags::BITS_ALLOCATED, 16)
        .u16(tags::BITS_STORED, 12)
        .u16(tags::HIGH_BIT, 11)
        .u16(tags::PIXEL_REPRESENTATION, 0)
        .pixel_data_native(&phantom_pixels(se, instance, modality));
    match modality {
        Modality::Ct => {
            w.ds(tags::KVP, &[se.kvp])
                .ds(tags::RESCALE_INTERCEPT, &[-1024.0])
                .ds(tags::RESCALE_SLOPE, &[1.0])
                .str(tags::RESCALE_TYPE, "LO", "HU")
                .ds(tags::WINDOW_CENTER, &[se.window.0])
                .ds(tags::WINDOW_WIDTH, &[se.window.1])
                .str(tags::CONVOLUTION_KERNEL, "SH", "STANDARD")
                .ds(
                    tags::RECONSTRUCTION_DIAMETER,
                    &[se.pixel_spacing[1] * f64::from(se.columns)],
                )
                .ds(tags::GANTRY_DETECTOR_TILT, &[0.0])
                .is(tags::EXPOSURE_TIME, 1000)
                .is(tags::X_RAY_TUBE_CURRENT, 200);
        }
        Modality::Mr => {
            let b0 = se.field_strength;
            w.str(tags::SCANNING_SEQUENCE, "CS", se.mr_sequence.0)
                .str(tags::SEQUENCE_VARIANT, "CS", se.mr_sequence.1)
                .str(tags::SCAN_OPTIONS, "CS", "")
                .str(tags::MR_ACQUISITION_TYPE, "CS", "2D")
                .str(tags::SEQUENCE_NAME, "SH", se.mr_sequence.0)
                .ds(tags::REPETITION_TIME, &[se.tr_te.0])
                .ds(tags::ECHO_TIME, &[se.tr_te.1])
                .is(tags::ECHO_TRAIN_LENGTH, 1)
                .ds(tags::NUMBER_OF_AVERAGES, &[1.0])
                .ds(
                    tags::IMAGING_FREQUENCY,
                    &[(42.577_478 * b0 * 1e4).round() / 1e4],
                )
                .str(tags::IMAGED_NUCLEUS, "SH", "1H")
                .is(tags::ECHO_NUMBERS, 1)
                .ds(tags::MAGNETIC_FIELD_STRENGTH, &[b0])
                .ds(tags::SPACING_BETWEEN_SLICES, &[se.slice_thickness]);
        }
    }
    if se.private_block {
        w.str(tags::PRIVATE_CREATOR_0029, "LO", PRIVATE_CREATOR)
            .str(tags::PRIVATE_SERIES_NOTE, "LO", "synthetic series")
            .str(tags::PRIVATE_GENERATOR, "LO", IMPLEMENTATION_VERSION_NAME);
    }
    w
}

/// One complete CT Image Storage file for instance `instance` (0-based) of `se`, whatever
/// `se.modality` says.
pub fn ct_slice(p: &Patient, st: &Study, se: &Series, instance: usize) -> Vec<u8> {
    let mut ct = se.clone();
    ct.modality = Modality::Ct;
    slice_writer(p, st, &ct, instance).finish()
}

/// One complete MR Image Storage file for instance `instance` (0-based) of `se`, whatever
/// `se.modality` says.
pub fn mr_slice(p: &Patient, st: &Study, se: &Series, instance: usize) -> Vec<u8> {
    let mut mr = se.clone();
    mr.modality = Modality::Mr;
    slice_writer(p, st, &mr, instance).finish()
}

// ---------------------------------------------------------------------------------------------
// NIfTI-1 and Analyze 7.5
// ---------------------------------------------------------------------------------------------

/// Voxel type of a NIfTI/Analyze volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoxelType {
    /// Unsigned 8-bit (datatype 2).
    U8,
    /// Signed 16-bit (datatype 4), the default.
    I16,
    /// 32-bit float (datatype 16).
    F32,
}

impl VoxelType {
    /// NIfTI/Analyze datatype code.
    pub fn code(self) -> i16 {
        match self {
            VoxelType::U8 => 2,
            VoxelType::I16 => 4,
            VoxelType::F32 => 16,
        }
    }

    /// Bits per voxel.
    pub fn bitpix(self) -> i16 {
        match self {
            VoxelType::U8 => 8,
            VoxelType::I16 => 16,
            VoxelType::F32 => 32,
        }
    }
}

/// Size of a NIfTI-1 / Analyze 7.5 header.
pub const NIFTI1_HEADER_SIZE: usize = 348;
/// NIfTI-1 single-file data offset (header + 4-byte extender).
pub const NIFTI1_VOX_OFFSET: usize = 352;

fn put_i16(h: &mut [u8], at: usize, v: i16) {
    h[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_i32(h: &mut [u8], at: usize, v: i32) {
    h[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_f32(h: &mut [u8], at: usize, v: f32) {
    h[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_text(h: &mut [u8], at: usize, len: usize, text: &str) {
    let b = text.as_bytes();
    let n = b.len().min(len - 1);
    h[at..at + n].copy_from_slice(&b[..n]);
}

/// dim[] from x, y, z, t: 3-D when t ≤ 1.
fn dim_array(dims: [u16; 4]) -> [i16; 8] {
    let ndim = if dims[3] > 1 { 4 } else { 3 };
    let d = |v: u16| i16::try_from(v.max(1)).unwrap_or(i16::MAX);
    [
        ndim,
        d(dims[0]),
        d(dims[1]),
        d(dims[2]),
        d(dims[3]),
        1,
        1,
        1,
    ]
}

/// The fields NIfTI-1 and Analyze 7.5 share (sizeof_hdr, dims, datatype, pixdim, descrip).
fn common_header(dims: [u16; 4], dtype: VoxelType, pixdim: [f32; 4], descrip: &str) -> Vec<u8> {
    let mut h = vec![0u8; NIFTI1_HEADER_SIZE];
    put_i32(&mut h, 0, NIFTI1_HEADER_SIZE as i32);
    h[38] = b'r';
    for (i, v) in dim_array(dims).iter().enumerate() {
        put_i16(&mut h, 40 + 2 * i, *v);
    }
    put_i16(&mut h, 70, dtype.code());
    put_i16(&mut h, 72, dtype.bitpix());
    put_f32(&mut h, 76, 1.0); // pixdim[0]: qfac for NIfTI, unused by Analyze
    for (i, v) in pixdim.iter().enumerate() {
        put_f32(&mut h, 80 + 4 * i, *v);
    }
    put_text(&mut h, 148, 80, descrip);
    h
}

/// Phantom voxels: a sphere in a box, brighter with each volume in time, little endian.
fn phantom_voxels(dims: [u16; 4], dtype: VoxelType) -> Vec<u8> {
    let [nx, ny, nz, nt] = dims.map(|d| usize::from(d.max(1)));
    let mut out = Vec::with_capacity(nx * ny * nz * nt * 4);
    for t in 0..nt {
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let f = |i: usize, n: usize| (i as f64 + 0.5) / n as f64 * 2.0 - 1.0;
                    let r2 = f(x, nx).powi(2) + f(y, ny).powi(2) + f(z, nz).powi(2);
                    let v = if r2 < 0.5 {
                        100.0 + 10.0 * t as f64
                    } else {
                        0.0
                    } + x as f64;
                    match dtype {
                        VoxelType::U8 => out.push(v.min(255.0) as u8),
                        VoxelType::I16 => out.extend_from_slice(&(v as i16).to_le_bytes()),
                        VoxelType::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
                    }
                }
            }
        }
    }
    out
}

/// A complete NIfTI-1 single file (`.nii`, or `.nii.gz` when `gz`): dims are x, y, z, t
/// (t ≤ 1 means 3-D), pixdim the voxel sizes in mm plus TR in s, `origin` the world position
/// of voxel (0,0,0). qform and sform (both code 1, scanner) encode the same axis-aligned affine:
/// diag(pixdim) plus origin.
pub fn nifti1_volume(
    dims: [u16; 4],
    dtype: VoxelType,
    pixdim: [f32; 4],
    origin: [f32; 3],
    descrip: &str,
    gz: bool,
) -> io::Result<Vec<u8>> {
    let mut h = common_header(dims, dtype, pixdim, descrip);
    put_f32(&mut h, 108, NIFTI1_VOX_OFFSET as f32);
    put_f32(&mut h, 112, 1.0); // scl_slope
    h[123] = 2 | 8; // xyzt_units: mm, s
    put_i16(&mut h, 252, 1); // qform_code
    put_i16(&mut h, 254, 1); // sform_code
                             // quatern_b/c/d stay 0: identity rotation.
    put_f32(&mut h, 268, origin[0]);
    put_f32(&mut h, 272, origin[1]);
    put_f32(&mut h, 276, origin[2]);
    for row in 0..3 {
        let base = 280 + 16 * row;
        put_f32(&mut h, base + 4 * row, pixdim[row]);
        put_f32(&mut h, base + 12, origin[row]);
    }
    h[344..348].copy_from_slice(b"n+1\0");
    let mut file = h;
    file.extend_from_slice(&[0u8; 4]); // extender: no extensions
    file.extend_from_slice(&phantom_voxels(dims, dtype));
    if !gz {
        return Ok(file);
    }
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(file.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(&file)?;
    enc.finish()
}

/// An Analyze 7.5 pair: (348-byte `.hdr` without NIfTI magic, raw `.img` voxels).
pub fn analyze75_pair(
    dims: [u16; 4],
    dtype: VoxelType,
    pixdim: [f32; 4],
    descrip: &str,
) -> (Vec<u8>, Vec<u8>) {
    let mut h = common_header(dims, dtype, pixdim, descrip);
    put_i32(&mut h, 32, 16_384); // extents, as Analyze writers set it
    h[56..58].copy_from_slice(b"mm"); // vox_units
    let img = phantom_voxels(dims, dtype);
    let max = match dtype {
        VoxelType::U8 => 255,
        _ => 200 + i32::from(dims[0]),
    };
    put_i32(&mut h, 140, max); // glmax
    (h, img)
}

// ---------------------------------------------------------------------------------------------
// Datasets
// ---------------------------------------------------------------------------------------------

/// Shape of a synthetic dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthSpec {
    /// Number of patients.
    pub patients: usize,
    /// Studies per patient.
    pub studies_per_patient: usize,
    /// Series per study (CT and MR alternate).
    pub series_per_study: usize,
    /// Instances (slices) per series.
    pub instances_per_series: usize,
    /// Image rows.
    pub rows: u16,
    /// Image columns.
    pub columns: u16,
    /// Extra NIfTI-1 volumes (odd-numbered ones gzipped), plus one Analyze pair per 4.
    pub nifti_volumes: usize,
    /// Seed of every value and UID.
    pub seed: u64,
}

impl SynthSpec {
    /// A tiny dataset (2×1×2×3 = 12 DICOM files, 2 NIfTI volumes), for quick tests.
    pub fn small() -> Self {
        SynthSpec {
            patients: 2,
            studies_per_patient: 1,
            series_per_study: 2,
            instances_per_series: 3,
            rows: 64,
            columns: 64,
            nifti_volumes: 2,
            seed: 1,
        }
    }

    /// DICOM files [`generate`] writes.
    pub fn total_dicom(&self) -> usize {
        self.patients
            .saturating_mul(self.studies_per_patient)
            .saturating_mul(self.series_per_study)
            .saturating_mul(self.instances_per_series)
    }

    /// Analyze pairs [`generate`] writes.
    pub fn analyze_pairs(&self) -> usize {
        self.nifti_volumes / 4
    }
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec::small()
    }
}

/// What a generator wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SynthSummary {
    /// Valid DICOM files.
    pub dicom_files: usize,
    /// Valid NIfTI-1 files (`.nii` and `.nii.gz`).
    pub nifti_files: usize,
    /// Valid Analyze files (`.hdr` and `.img` each count).
    pub analyze_files: usize,
    /// Plain non-imaging files (text, CSV, Markdown).
    pub other_files: usize,
    /// Deliberately broken files (fixtures only).
    pub bad_files: usize,
    /// Total bytes written.
    pub bytes: u64,
}

impl SynthSummary {
    /// Every file written.
    pub fn total_files(&self) -> usize {
        self.dicom_files + self.nifti_files + self.analyze_files + self.other_files + self.bad_files
    }

    fn add(&mut self, other: &SynthSummary) {
        self.dicom_files += other.dicom_files;
        self.nifti_files += other.nifti_files;
        self.analyze_files += other.analyze_files;
        self.other_files += other.other_files;
        self.bad_files += other.bad_files;
        self.bytes += other.bytes;
    }
}

fn write_file(path: &Path, bytes: &[u8], count: &mut usize, sum_bytes: &mut u64) -> io::Result<()> {
    std::fs::write(path, bytes)?;
    *count += 1;
    *sum_bytes += bytes.len() as u64;
    Ok(())
}

/// Writes all instances of one series under `root/<patient>/<study>/<series>/`.
fn write_series(
    root: &Path,
    p: &Patient,
    st: &Study,
    se: &Series,
    summary: &mut SynthSummary,
) -> io::Result<PathBuf> {
    let dir = root.join(p.folder()).join(st.folder()).join(se.folder());
    std::fs::create_dir_all(&dir)?;
    for i in 0..se.instances {
        let bytes = slice_writer(p, st, se, i).finish();
        write_file(
            &dir.join(Series::file_name(i)),
            &bytes,
            &mut summary.dicom_files,
            &mut summary.bytes,
        )?;
    }
    Ok(dir)
}

fn worker_count(jobs: usize) -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs)
        .max(1)
}

/// Writes a realistic dataset under `out`:
/// `out/<PatientID>/<STnnn_date>/<SEnnn_MOD>/IM00001.dcm`, then `out/nifti/volNNNNN.nii[.gz]`,
/// `out/analyze/subjNNNNN.hdr|.img` and `out/README.txt`. Series are written in parallel; the
/// bytes of every file depend only on `spec`.
pub fn generate(out: &Path, spec: &SynthSpec) -> io::Result<SynthSummary> {
    std::fs::create_dir_all(out)?;
    let jobs: Vec<(usize, usize, usize)> = (0..spec.patients)
        .flat_map(|p| {
            (0..spec.studies_per_patient)
                .flat_map(move |s| (0..spec.series_per_study).map(move |r| (p, s, r)))
        })
        .collect();
    let next = AtomicUsize::new(0);
    let run = || -> io::Result<SynthSummary> {
        let mut summary = SynthSummary::default();
        loop {
            let j = next.fetch_add(1, Ordering::Relaxed);
            let Some(&(p, s, r)) = jobs.get(j) else {
                return Ok(summary);
            };
            let patient = Patient::synthetic(spec.seed, p);
            let study = Study::synthetic(spec.seed, p, s);
            let series = Series::synthetic(
                spec.seed,
                p,
                &study,
                r,
                spec.rows,
                spec.columns,
                spec.instances_per_series,
            );
            write_series(out, &patient, &study, &series, &mut summary)?;
        }
    };
    let mut summary = SynthSummary::default();
    std::thread::scope(|scope| -> io::Result<()> {
        let handles: Vec<_> = (0..worker_count(jobs.len()))
            .map(|_| scope.spawn(run))
            .collect();
        for h in handles {
            let part = h
                .join()
                .map_err(|_| io::Error::other("synth worker panicked"))??;
            summary.add(&part);
        }
        Ok(())
    })?;

    if spec.nifti_volumes > 0 {
        let dir = out.join("nifti");
        std::fs::create_dir_all(&dir)?;
        for i in 0..spec.nifti_volumes {
            let gz = i % 2 == 1;
            let dims = [
                spec.columns.min(64),
                spec.rows.min(64),
                16,
                if i % 3 == 2 { 3 } else { 1 },
            ];
            let dtype = if i % 5 == 4 {
                VoxelType::F32
            } else {
                VoxelType::I16
            };
            let bytes = nifti1_volume(
                dims,
                dtype,
                [1.5, 1.5, 3.0, 2.0],
                [-48.0, -48.0, -24.0],
                &format!("dicura synth volume {}", i + 1),
                gz,
            )?;
            let name = format!("vol{:05}.{}", i + 1, if gz { "nii.gz" } else { "nii" });
            write_file(
                &dir.join(name),
                &bytes,
                &mut summary.nifti_files,
                &mut summary.bytes,
            )?;
        }
    }
    if spec.analyze_pairs() > 0 {
        let dir = out.join("analyze");
        std::fs::create_dir_all(&dir)?;
        for i in 0..spec.analyze_pairs() {
            let (hdr, img) = analyze75_pair(
                [spec.columns.min(64), spec.rows.min(64), 16, 1],
                VoxelType::I16,
                [1.5, 1.5, 3.0, 0.0],
                &format!("dicura synth analyze {}", i + 1),
            );
            let stem = format!("subj{:05}", i + 1);
            write_file(
                &dir.join(format!("{stem}.hdr")),
                &hdr,
                &mut summary.analyze_files,
                &mut summary.bytes,
            )?;
            write_file(
                &dir.join(format!("{stem}.img")),
                &img,
                &mut summary.analyze_files,
                &mut summary.bytes,
            )?;
        }
    }
    let readme = format!(
        "Synthetic dataset written by dicura synth (seed {}).\nAll names, dates and UIDs are fictitious.\n",
        spec.seed
    );
    write_file(
        &out.join("README.txt"),
        readme.as_bytes(),
        &mut summary.other_files,
        &mut summary.bytes,
    )?;
    Ok(summary)
}

/// The fixture patients: the first has a Latin-1 (ISO_IR 100) name, the second a UTF-8
/// (ISO_IR 192) one, so both encodings of non-ASCII PN values are covered.
pub fn fixture_patients() -> Vec<Patient> {
    let mut a = Patient::synthetic(FIXTURE_SEED, 0);
    a.name = "Müller^Jürgen".to_string();
    a.sex = "M";
    a.charset = Charset::Latin1;
    let mut b = Patient::synthetic(FIXTURE_SEED, 1);
    b.name = "Peña^José".to_string();
    b.sex = "F";
    b.charset = Charset::Utf8;
    vec![a, b]
}

/// The fixture DICOM series as (patient, study, series), in [`FIXTURE_LAYOUT`] order.
pub fn fixture_series() -> Vec<(Patient, Study, Series)> {
    let patients = fixture_patients();
    let mut out = Vec::new();
    let mut series_in_study = 0usize;
    let mut last_study = usize::MAX;
    for &(p, s, modality, instances, private, procedure) in FIXTURE_LAYOUT {
        if s != last_study {
            series_in_study = 0;
            last_study = s;
        }
        let Some(patient) = patients.get(p) else {
            continue;
        };
        // Study index within the patient: fixture study numbers are global.
        let local = FIXTURE_LAYOUT
            .iter()
            .filter(|l| l.0 == p && l.1 < s)
            .map(|l| l.1)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let mut study = Study::synthetic(FIXTURE_SEED, p, local);
        study.procedure_code = procedure;
        let mut series = Series::synthetic(
            FIXTURE_SEED,
            p,
            &study,
            series_in_study,
            FIXTURE_IMAGE_SIZE,
            FIXTURE_IMAGE_SIZE,
            instances,
        );
        series.private_block = private;
        if series.modality != modality {
            // Keep the layout table authoritative even if alternation rules change.
            series.modality = modality;
        }
        out.push((patient.clone(), study, series));
        series_in_study += 1;
    }
    out
}

/// Writes the committed fixture set into `out` (see `FIXTURES.md`, written alongside):
/// `dicom/` (valid CT/MR tree), `nifti/`, `analyze/`, `bad/` (deliberately broken files) and
/// `other/` (plain files).
pub fn write_fixtures(out: &Path) -> io::Result<SynthSummary> {
    let mut summary = SynthSummary::default();
    let dicom_root = out.join("dicom");
    let series = fixture_series();
    let mut md_series = String::new();
    for (n, (p, st, se)) in series.iter().enumerate() {
        let dir = write_series(&dicom_root, p, st, se, &mut summary)?;
        let rel = dir.strip_prefix(out).unwrap_or(&dir).display().to_string();
        let _ = writeln!(
            md_series,
            "| {n} | {} | {} | {} | {} | {} | {} | {} | {} | `{}` | `{}` |",
            rel,
            p.id,
            p.name,
            p.charset.term().unwrap_or("-"),
            se.modality.code(),
            se.instances,
            if se.private_block { "yes" } else { "no" },
            if st.procedure_code { "yes" } else { "no" },
            st.uid,
            se.uid,
        );
    }

    let nifti = out.join("nifti");
    std::fs::create_dir_all(&nifti)?;
    let [x, y, z] = FIXTURE_NIFTI_SHAPE;
    let vol = nifti1_volume(
        [x, y, z, 1],
        VoxelType::I16,
        [2.0, 2.0, 4.0, 0.0],
        [-16.0, -16.0, -16.0],
        "dicura fixture volume",
        false,
    )?;
    write_file(
        &nifti.join("volume.nii"),
        &vol,
        &mut summary.nifti_files,
        &mut summary.bytes,
    )?;
    let vol4 = nifti1_volume(
        FIXTURE_NIFTI4D_SHAPE,
        VoxelType::I16,
        [2.0, 2.0, 4.0, 2.5],
        [-16.0, -16.0, -16.0],
        "dicura fixture 4d volume",
        true,
    )?;
    write_file(
        &nifti.join("volume4d.nii.gz"),
        &vol4,
        &mut summary.nifti_files,
        &mut summary.bytes,
    )?;

    let analyze = out.join("analyze");
    std::fs::create_dir_all(&analyze)?;
    let [ax, ay, az] = FIXTURE_ANALYZE_SHAPE;
    let (hdr, img) = analyze75_pair(
        [ax, ay, az, 1],
        VoxelType::I16,
        [2.0, 2.0, 4.0, 0.0],
        "dicura fixture brain",
    );
    write_file(
        &analyze.join("brain.hdr"),
        &hdr,
        &mut summary.analyze_files,
        &mut summary.bytes,
    )?;
    write_file(
        &analyze.join("brain.img"),
        &img,
        &mut summary.analyze_files,
        &mut summary.bytes,
    )?;

    let bad = out.join("bad");
    std::fs::create_dir_all(&bad)?;
    let truncated = truncated_ct(&series)?;
    write_file(
        &bad.join("truncated.dcm"),
        &truncated,
        &mut summary.bad_files,
        &mut summary.bytes,
    )?;
    write_file(
        &bad.join("not_dicom.dcm"),
        b"This is not a DICOM file, despite its extension.\n",
        &mut summary.bad_files,
        &mut summary.bytes,
    )?;
    write_file(
        &bad.join("orphan.hdr"),
        &hdr,
        &mut summary.bad_files,
        &mut summary.bytes,
    )?;
    write_file(
        &bad.join("empty.dcm"),
        b"",
        &mut summary.bad_files,
        &mut summary.bytes,
    )?;

    let other = out.join("other");
    std::fs::create_dir_all(&other)?;
    write_file(
        &other.join("README.txt"),
        b"Plain text next to imaging data; a scanner must skip it.\n",
        &mut summary.other_files,
        &mut summary.bytes,
    )?;
    write_file(
        &other.join("notes.csv"),
        b"patient_id,note\nPAT000001,synthetic\nPAT000002,synthetic\n",
        &mut summary.other_files,
        &mut summary.bytes,
    )?;

    let md = fixtures_markdown(&md_series, truncated.len());
    // FIXTURES.md counts itself among the other files.
    summary.other_files += 1;
    summary.bytes += md.len() as u64;
    std::fs::write(out.join("FIXTURES.md"), md)?;
    Ok(summary)
}

/// One planted defect of [`write_defects`]: the file or folder it is in and the rule code that
/// must find it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlantedDefect {
    /// Path relative to the output directory.
    pub path: String,
    /// The rule that finds it (see `dicura::checks::engine::RULES`).
    pub code: &'static str,
    /// Findings the rule reports for it (a duplicate set reports one per member).
    pub findings: usize,
}

/// Writes a tree of DICOM and NIfTI files in which each defect of the returned list is planted
/// once (everything else is as conformant as [`slice_writer`] and [`nifti1_volume`] make it):
/// `dicom/<case>/...` and `nifti/<case>.nii`. Deterministic.
pub fn write_defects(out: &Path) -> io::Result<Vec<PlantedDefect>> {
    const SEED: u64 = 4_040_404;
    let mut planted = Vec::new();
    let mut plant = |path: &str, code: &'static str, findings: usize| {
        planted.push(PlantedDefect {
            path: path.to_string(),
            code,
            findings,
        })
    };
    let put = |rel: &str, bytes: &[u8]| -> io::Result<()> {
        let p = out.join(rel);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(p, bytes)
    };
    let patient = Patient::synthetic(SEED, 0);
    let study = Study::synthetic(SEED, 0, 0);
    let series = |index: usize, n: usize| {
        let mut se = Series::synthetic(SEED, 0, &study, index, 16, 16, n);
        se.modality = Modality::Ct;
        se.slice_thickness = 2.5;
        se
    };
    let slice = |se: &Series, i: usize| slice_writer(&patient, &study, se, i);

    // Missing slice: instance 4 of 8 is not there (a gap in position and in Instance Number).
    let se = series(0, 8);
    for i in (0..8).filter(|i| *i != 3) {
        put(
            &format!("dicom/gap/{}", Series::file_name(i)),
            &slice(&se, i).finish(),
        )?;
    }
    plant("dicom/gap", "series.slice.gap", 1);
    plant("dicom/gap", "series.instance.gap", 1);

    // Two slices at one position: instance 7 repeats instance 2's position (other pixels).
    let se = series(1, 6);
    for i in 0..6 {
        put(
            &format!("dicom/dup_position/{}", Series::file_name(i)),
            &slice(&se, i).finish(),
        )?;
    }
    let mut w = slice(&se, 1);
    w.str(tags::SOP_INSTANCE_UID, "UI", &se.sop_instance_uid(6))
        .media_storage_sop_instance_uid(&se.sop_instance_uid(6))
        .is(tags::INSTANCE_NUMBER, 7)
        .pixel_data_native(&vec![7u8; 16 * 16 * 2]);
    put("dicom/dup_position/IM00007.dcm", &w.finish())?;
    plant("dicom/dup_position", "series.slice.duplicate_position", 1);

    // A byte-identical copy, a UID conflict, and a re-exported copy (same pixels, new UIDs).
    let se = series(2, 4);
    for i in 0..4 {
        put(
            &format!("dicom/copies/{}", Series::file_name(i)),
            &slice(&se, i).finish(),
        )?;
    }
    put("dicom/copies/IM00002 copy.dcm", &slice(&se, 1).finish())?;
    plant(
        "dicom/copies/IM00002 copy.dcm",
        "duplicate.identical_files",
        2,
    );
    let mut w = slice(&se, 2);
    w.pixel_data_native(&vec![3u8; 16 * 16 * 2]);
    put("dicom/copies/IM00003_conflict.dcm", &w.finish())?;
    plant(
        "dicom/copies/IM00003_conflict.dcm",
        "duplicate.uid_conflict",
        2,
    );
    let mut export = series(3, 1);
    export.uid = uid_from(&[SEED, 77, 1]);
    let mut w = slice(&se, 3);
    let new_uid = uid_from(&[SEED, 77, 2]);
    w.str(tags::SOP_INSTANCE_UID, "UI", &new_uid)
        .media_storage_sop_instance_uid(&new_uid)
        .str(tags::SERIES_INSTANCE_UID, "UI", &export.uid)
        .is(tags::SERIES_NUMBER, 99);
    put("dicom/export/IM00001.dcm", &w.finish())?;
    plant("dicom/export/IM00001.dcm", "duplicate.pixel_copy", 2);

    // Mixed matrix: one slice of a 16x16 series is 32x32.
    let se = series(4, 3);
    for i in 0..3 {
        let mut w = slice(&se, i);
        if i == 2 {
            w.u16(tags::ROWS, 32)
                .u16(tags::COLUMNS, 32)
                .pixel_data_native(&vec![9u8; 32 * 32 * 2]);
        }
        put(
            &format!("dicom/mixed/{}", Series::file_name(i)),
            &w.finish(),
        )?;
    }
    plant("dicom/mixed", "series.mixed.matrix", 1);

    // Another patient's series under the same Study Instance UID (a UID collision), and the same
    // Patient ID under another name in one study.
    let other = Patient::synthetic(SEED, 1);
    let se = series(5, 1);
    put(
        "dicom/collision/IM00001.dcm",
        &slice_writer(&other, &study, &se, 0).finish(),
    )?;
    plant("dicom/collision", "duplicate.study_uid_collision", 1);
    let study2 = Study::synthetic(SEED, 0, 1);
    let se = series(6, 2);
    for i in 0..2 {
        let mut p = patient.clone();
        if i == 1 {
            p.name = "OTHER^NAME".to_string();
        }
        put(
            &format!("dicom/names/{}", Series::file_name(i)),
            &slice_writer(&p, &study2, &se, i).finish(),
        )?;
    }
    plant("dicom/names", "study.patient_name_mismatch", 1);

    // Per-file defects, each in a series of its own.
    let mut one =
        |name: &str, code: &'static str, edit: &dyn Fn(&mut DicomWriter)| -> io::Result<()> {
            let idx = 10 + planted_len(name);
            let se = series(idx, 1);
            let mut w = slice(&se, 0);
            edit(&mut w);
            put(&format!("dicom/{name}/IM00001.dcm"), &w.finish())?;
            plant(&format!("dicom/{name}"), code, 1);
            Ok(())
        };
    one("type1", "dicom.type1.missing", &|w| {
        w.remove(tags::RESCALE_SLOPE);
    })?;
    one("type2", "dicom.type2.missing", &|w| {
        w.remove(tags::KVP);
    })?;
    one("meta_mismatch", "meta.sop_instance_mismatch", &|w| {
        w.media_storage_sop_instance_uid("1.2.3.4");
    })?;
    one("bits", "pixel.bits_stored", &|w| {
        w.u16(tags::BITS_STORED, 17).u16(tags::HIGH_BIT, 16);
    })?;
    one("bad_date", "value.vr.invalid", &|w| {
        w.str(tags::ACQUISITION_DATE, "DA", "20201301");
    })?;
    one("modality", "dicom.modality.sop_class_mismatch", &|w| {
        w.str(tags::MODALITY, "CS", "MR");
    })?;
    one("pixel_length", "pixel.length", &|w| {
        w.pixel_data_native(&[0u8; 100]);
    })?;

    // NIfTI faults (byte offsets from nifti1.h).
    let base = || {
        nifti1_volume(
            [8, 8, 4, 1],
            VoxelType::I16,
            [2.0, 2.0, 3.0, 0.0],
            [0.0, 0.0, 0.0],
            "dicura defect",
            false,
        )
    };
    let mut nii = |name: &str, code: &'static str, edit: &dyn Fn(&mut Vec<u8>)| -> io::Result<()> {
        let mut b = base()?;
        // Distinct voxels per file, so only the planted pair shares its voxel data.
        let tweak = name
            .bytes()
            .fold(1u8, |a, c| a.wrapping_mul(31).wrapping_add(c));
        if let Some(last) = b.last_mut() {
            *last = tweak;
        }
        edit(&mut b);
        put(&format!("nifti/{name}.nii"), &b)?;
        plant(&format!("nifti/{name}.nii"), code, 1);
        Ok(())
    };
    nii("pixdim", "nifti.pixdim", &|b| put_f32(b, 84, 0.0))?;
    nii("bitpix", "nifti.datatype_bitpix", &|b| put_i16(b, 72, 8))?;
    nii("vox_offset", "nifti.vox_offset", &|b| {
        put_f32(b, 108, 100.0)
    })?;
    nii("dims", "nifti.dims", &|b| put_i16(b, 46, 0))?;
    nii("qform_code", "nifti.xform_code", &|b| put_i16(b, 252, 9))?;
    nii("quaternion", "nifti.rotation", &|b| {
        put_f32(b, 256, 0.9);
        put_f32(b, 260, 0.9);
    })?;
    nii("short", "nifti.short_file", &|b| b.truncate(400))?;
    let (hdr, _img) = analyze75_pair([8, 8, 4, 1], VoxelType::I16, [2.0, 2.0, 3.0, 0.0], "no img");
    put("nifti/orphan.hdr", &hdr)?;
    plant("nifti/orphan.hdr", "nifti.missing_img", 1);
    // Identical voxels in two NIfTI files whose headers differ (descrip).
    let a = base()?;
    let mut b = a.clone();
    put_text(&mut b, 148, 80, "dicura defect copy");
    put("nifti/same_a.nii", &a)?;
    put("nifti/same_b.nii", &b)?;
    plant("nifti/same_a.nii", "duplicate.volume_data", 2);
    Ok(planted)
}

/// Index of a per-file defect case, so each gets its own series.
fn planted_len(name: &str) -> usize {
    [
        "type1",
        "type2",
        "meta_mismatch",
        "bits",
        "bad_date",
        "modality",
        "pixel_length",
    ]
    .iter()
    .position(|n| *n == name)
    .unwrap_or(0)
}

/// The first fixture CT file cut in the middle of its Patient Name value (inside the dataset
/// header, long before Pixel Data).
fn truncated_ct(series: &[(Patient, Study, Series)]) -> io::Result<Vec<u8>> {
    let (p, st, se) = series
        .iter()
        .find(|(_, _, se)| se.modality == Modality::Ct)
        .ok_or_else(|| io::Error::other("fixture layout has no CT series"))?;
    let full = ct_slice(p, st, se, 0);
    let needle = [0x10, 0x00, 0x10, 0x00, b'P', b'N'];
    let at = full
        .windows(needle.len())
        .position(|w| w == needle)
        .ok_or_else(|| io::Error::other("PatientName not found in CT file"))?;
    let mut cut = full;
    cut.truncate(at + 8 + 3);
    Ok(cut)
}

fn fixtures_markdown(series_rows: &str, truncated_len: usize) -> String {
    format!(
        "# dicura test fixtures\n\n\
Generated by `dicura::synth::write_fixtures` (run `cargo run --release --example gen_corpus -- \
tests/fixtures --fixtures`). Everything is synthetic and deterministic (seed {seed}): \
regenerating yields byte-identical files, UIDs included. Constants named below live in \
`src/synth.rs`.\n\n\
## Counts\n\n\
| kind | files | constant |\n|---|---|---|\n\
| valid DICOM (`dicom/`) | {dicom} ({ct} CT in {cts} series, {mr} MR in {mrs} series) | `FIXTURE_DICOM_FILES` |\n\
| patients / studies / series | {pat} / {stu} / {ser} | `FIXTURE_PATIENTS`, `FIXTURE_STUDIES`, `FIXTURE_SERIES` |\n\
| NIfTI-1 (`nifti/`) | {nii} | `FIXTURE_NIFTI_FILES` |\n\
| Analyze 7.5 (`analyze/`) | {ana} files = {pairs} pair | `FIXTURE_ANALYZE_FILES` |\n\
| deliberately bad (`bad/`) | {bad} | `FIXTURE_BAD_FILES` |\n\
| other plain files (`other/` + this file) | {other} | `FIXTURE_OTHER_FILES` |\n\
| total | {total} | `FIXTURE_TOTAL_FILES` |\n\n\
## DICOM (`dicom/<PatientID>/<STnnn_StudyDate>/<SEnnn_Modality>/IMnnnnn.dcm`)\n\n\
All files: Part 10, Explicit VR Little Endian ({ts}), CT Image Storage ({ct_uid}) or MR Image \
Storage ({mr_uid}), {size}x{size} pixels, 16 bits allocated, 12 stored, MONOCHROME2, \
ImageOrientationPatient `1\\0\\0\\0\\1\\0`, ImagePositionPatient advancing by SliceThickness \
along +z, InstanceNumber 1..n. UIDs are `2.25.` UIDs. Private block = (0029,0010) `{creator}` \
with (0029,1010) and (0029,1011) LO. Procedure code = (0008,1032) with one item \
(defined length in CT files, undefined length in MR files).\n\n\
| # | folder | PatientID | PatientName | SpecificCharacterSet | modality | instances | private block | procedure code | StudyInstanceUID | SeriesInstanceUID |\n\
|---|---|---|---|---|---|---|---|---|---|---|\n{series_rows}\n\
## NIfTI / Analyze\n\n\
- `nifti/volume.nii`: NIfTI-1 single file, {nx}x{ny}x{nz}, int16 (datatype 4), pixdim 2x2x4 mm, \
vox_offset 352, qform_code = sform_code = 1, xyzt_units 10 (mm, s).\n\
- `nifti/volume4d.nii.gz`: gzipped NIfTI-1, {qx}x{qy}x{qz}x{qt}, int16, TR 2.5 s.\n\
- `analyze/brain.hdr` + `analyze/brain.img`: Analyze 7.5 pair, {ax}x{ay}x{az}, int16 \
(no NIfTI magic).\n\n\
## Bad files (`bad/`)\n\n\
- `truncated.dcm`: the first CT fixture file cut after {truncated_len} bytes, in the middle of \
the Patient Name value.\n\
- `not_dicom.dcm`: one line of text.\n\
- `orphan.hdr`: a valid Analyze header whose `.img` does not exist.\n\
- `empty.dcm`: 0 bytes.\n\n\
## Other (`other/`)\n\n\
- `README.txt` (text), `notes.csv` (CSV), plus this `FIXTURES.md`.\n",
        seed = FIXTURE_SEED,
        dicom = FIXTURE_DICOM_FILES,
        ct = FIXTURE_CT_FILES,
        cts = FIXTURE_CT_SERIES,
        mr = FIXTURE_MR_FILES,
        mrs = FIXTURE_MR_SERIES,
        pat = FIXTURE_PATIENTS,
        stu = FIXTURE_STUDIES,
        ser = FIXTURE_SERIES,
        nii = FIXTURE_NIFTI_FILES,
        ana = FIXTURE_ANALYZE_FILES,
        pairs = FIXTURE_ANALYZE_PAIRS,
        bad = FIXTURE_BAD_FILES,
        other = FIXTURE_OTHER_FILES,
        total = FIXTURE_TOTAL_FILES,
        ts = EXPLICIT_VR_LITTLE_ENDIAN,
        ct_uid = CT_IMAGE_STORAGE,
        mr_uid = MR_IMAGE_STORAGE,
        size = FIXTURE_IMAGE_SIZE,
        creator = PRIVATE_CREATOR,
        nx = FIXTURE_NIFTI_SHAPE[0],
        ny = FIXTURE_NIFTI_SHAPE[1],
        nz = FIXTURE_NIFTI_SHAPE[2],
        qx = FIXTURE_NIFTI4D_SHAPE[0],
        qy = FIXTURE_NIFTI4D_SHAPE[1],
        qz = FIXTURE_NIFTI4D_SHAPE[2],
        qt = FIXTURE_NIFTI4D_SHAPE[3],
        ax = FIXTURE_ANALYZE_SHAPE[0],
        ay = FIXTURE_ANALYZE_SHAPE[1],
        az = FIXTURE_ANALYZE_SHAPE[2],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn read_tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let bytes = std::fs::read(&path).unwrap();
                    out.push((path.strip_prefix(root).unwrap().to_path_buf(), bytes));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn same_seed_gives_identical_bytes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let mut spec = SynthSpec::small();
        spec.nifti_volumes = 4;
        let sa = generate(a.path(), &spec).unwrap();
        let sb = generate(b.path(), &spec).unwrap();
        assert_eq!(sa, sb);
        assert_eq!(sa.dicom_files, spec.total_dicom());
        assert_eq!(sa.nifti_files, 4);
        assert_eq!(sa.analyze_files, 2);
        let ta = read_tree(a.path());
        assert_eq!(ta, read_tree(b.path()));
        assert_eq!(ta.len(), sa.total_files());

        let c = tempfile::tempdir().unwrap();
        spec.seed += 1;
        generate(c.path(), &spec).unwrap();
        assert_ne!(
            ta,
            read_tree(c.path()),
            "a different seed must change the data"
        );
    }

    #[test]
    fn fixtures_are_deterministic_and_counted() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let s = write_fixtures(a.path()).unwrap();
        write_fixtures(b.path()).unwrap();
        let ta = read_tree(a.path());
        assert_eq!(ta, read_tree(b.path()));
        assert_eq!(ta.len(), FIXTURE_TOTAL_FILES);
        assert_eq!(s.total_files(), FIXTURE_TOTAL_FILES);
        assert_eq!(s.dicom_files, FIXTURE_DICOM_FILES);
        assert_eq!(s.nifti_files, FIXTURE_NIFTI_FILES);
        assert_eq!(s.analyze_files, FIXTURE_ANALYZE_FILES);
        assert_eq!(s.bad_files, FIXTURE_BAD_FILES);
        assert_eq!(s.other_files, FIXTURE_OTHER_FILES);
        assert!(s.bytes < 2 * 1024 * 1024, "fixtures too big: {}", s.bytes);
        let series = fixture_series();
        assert_eq!(series.len(), FIXTURE_SERIES);
        let count = |m: Modality| {
            series
                .iter()
                .filter(|x| x.2.modality == m)
                .map(|x| x.2.instances)
                .sum::<usize>()
        };
        assert_eq!(count(Modality::Ct), FIXTURE_CT_FILES);
        assert_eq!(count(Modality::Mr), FIXTURE_MR_FILES);
        let studies: HashSet<_> = series.iter().map(|x| x.1.uid.clone()).collect();
        assert_eq!(studies.len(), FIXTURE_STUDIES);
        let patients: HashSet<_> = series.iter().map(|x| x.0.id.clone()).collect();
        assert_eq!(patients.len(), FIXTURE_PATIENTS);
        for (n, (_, _, se)) in series.iter().enumerate() {
            assert_eq!(se.private_block, FIXTURE_PRIVATE_SERIES.contains(&n));
        }
    }

    #[test]
    fn uids_are_valid_and_unique() {
        let spec = SynthSpec {
            patients: 3,
            studies_per_patient: 2,
            series_per_study: 3,
            instances_per_series: 20,
            ..SynthSpec::small()
        };
        let mut seen = HashSet::new();
        for p in 0..spec.patients {
            for s in 0..spec.studies_per_patient {
                let st = Study::synthetic(spec.seed, p, s);
                assert!(is_valid_uid(&st.uid), "{}", st.uid);
                assert!(seen.insert(st.uid.clone()));
                for r in 0..spec.series_per_study {
                    let se = Series::synthetic(spec.seed, p, &st, r, 8, 8, 20);
                    for uid in [&se.uid, &se.frame_of_reference_uid] {
                        assert!(is_valid_uid(uid), "{uid}");
                        assert!(seen.insert(uid.clone()));
                    }
                    for i in 0..se.instances {
                        let uid = se.sop_instance_uid(i);
                        assert!(is_valid_uid(&uid), "{uid}");
                        assert!(seen.insert(uid));
                    }
                }
            }
        }
        assert!(is_valid_uid(IMPLEMENTATION_CLASS_UID));
        assert!(!is_valid_uid("1.02.3"));
        assert!(!is_valid_uid("1..2"));
        assert!(!is_valid_uid(&format!("1.{}", "2".repeat(63))));
    }

    #[test]
    fn part10_layout() {
        let p = Patient::synthetic(7, 0);
        let st = Study::synthetic(7, 0, 0);
        let se = Series::synthetic(7, 0, &st, 0, 16, 16, 4);
        let f = ct_slice(&p, &st, &se, 2);
        assert!(f[..128].iter().all(|&b| b == 0));
        assert_eq!(&f[128..132], b"DICM");
        assert_eq!(&f[132..138], &[2, 0, 0, 0, b'U', b'L']);
        let group_len = u32::from_le_bytes([f[140], f[141], f[142], f[143]]) as usize;
        // The first dataset element follows the meta group exactly.
        assert_eq!(&f[144 + group_len..144 + group_len + 4], &[8, 0, 5, 0]);
        let sop = se.sop_instance_uid(2);
        let count = f
            .windows(sop.len())
            .filter(|w| *w == sop.as_bytes())
            .count();
        assert_eq!(count, 2, "SOP Instance UID in meta and dataset");
        assert_eq!(f.len() % 2, 0);
        assert!(f.ends_with(&phantom_pixels(&se, 2, Modality::Ct)));
    }

    #[test]
    fn charset_encoding() {
        assert_eq!(Charset::Latin1.encode("Müller"), b"M\xfcller");
        assert_eq!(Charset::Utf8.encode("Müller"), "Müller".as_bytes());
        assert_eq!(Charset::Default.encode("Müller"), b"M?ller");
    }

    #[test]
    fn ds_fits() {
        for v in [0.0, -0.0, 1.0 / 3.0, -123456.789_012_3, 1e20, -1024.0] {
            let s = fmt_ds(v);
            assert!(s.len() <= 16, "{s}");
        }
        assert_eq!(fmt_ds(-1024.0), "-1024");
        assert_eq!(fmt_ds(0.5), "0.5");
    }

    #[test]
    fn sequences_encode_both_ways() {
        let item = vec![Element::str(tags::CODE_VALUE, "SH", "X")];
        let mut defined = Vec::new();
        encode_element(
            &mut defined,
            &Element::sequence(tags::PROCEDURE_CODE_SEQUENCE, vec![item.clone()], false),
        );
        // Defined length = item header (8) + element header (8) + "X " (2).
        assert_eq!(&defined[8..12], &18u32.to_le_bytes());
        let mut undefined = Vec::new();
        encode_element(
            &mut undefined,
            &Element::sequence(tags::PROCEDURE_CODE_SEQUENCE, vec![item], true),
        );
        assert_eq!(&undefined[8..12], &u32::MAX.to_le_bytes());
        assert!(undefined.ends_with(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]));
    }

    #[test]
    fn nifti_header_fields() {
        let v = nifti1_volume(
            [4, 3, 2, 1],
            VoxelType::I16,
            [1.0, 2.0, 3.0, 0.0],
            [0.0; 3],
            "x",
            false,
        )
        .unwrap();
        assert_eq!(v.len(), NIFTI1_VOX_OFFSET + 4 * 3 * 2 * 2);
        assert_eq!(&v[0..4], &348i32.to_le_bytes());
        assert_eq!(&v[344..348], b"n+1\0");
        assert_eq!(&v[40..42], &3i16.to_le_bytes());
        let (h, img) = analyze75_pair([4, 3, 2, 1], VoxelType::I16, [1.0; 4], "y");
        assert_eq!(h.len(), 348);
        assert_eq!(&h[344..348], &[0, 0, 0, 0]);
        assert_eq!(img.len(), 4 * 3 * 2 * 2);
    }
}

/// What [`write_phi_dataset`] planted, for tests to look for.
#[derive(Debug, Clone, Default)]
pub struct PlantedPhi {
    /// Identifying strings written into the files (names, IDs, addresses, phone numbers,
    /// institutions, birth dates, accession numbers); none may survive de-identification.
    pub strings: Vec<String>,
    /// Every UID written (study, series, SOP instance, frame of reference).
    pub uids: Vec<String>,
    /// Files written, and the one that has a burned-in text risk (ultrasound without
    /// BurnedInAnnotation).
    pub files: Vec<PathBuf>,
    pub burned_in: PathBuf,
}

/// A dataset full of PHI for de-identification tests: `patients` patients with one head CT
/// series of `instances` slices each, where every slice also carries addresses, phone
/// numbers, other IDs, nested request attributes, a reference to the previous slice, a
/// private block quoting the patient's name, and the patient's name/ID inside free text
/// (Window Center & Width Explanation, Image Comments) and in the path; plus one ultrasound
/// image without BurnedInAnnotation, and an overlay on the last slice of each series (both
/// burned-in text risks).
pub fn write_phi_dataset(out: &Path, patients: usize, instances: usize) -> io::Result<PlantedPhi> {
    let mut planted = PlantedPhi::default();
    let seed = 0x0005_eed0_f9b1;
    for pi in 0..patients {
        let p = Patient::synthetic(seed, pi);
        let st = Study::synthetic(seed, pi, 0);
        let mut se = Series::synthetic(seed, pi, &st, 0, 32, 32, instances);
        se.description = format!("HEAD {} routine", p.id);
        se.private_block = false;
        let family = p.name.split('^').next().unwrap_or("DOE").to_string();
        planted.strings.extend([
            p.name.clone(),
            p.id.clone(),
            p.birth_date.da(),
            st.accession.clone(),
            st.institution.clone(),
            st.referring_physician.clone(),
            format!("{} Hospital Road", 10 + pi),
            format!("+44 20 7946 {:04}", pi),
            format!("OTHER{:05}", pi),
        ]);
        planted.uids.extend([
            st.uid.clone(),
            se.uid.clone(),
            se.frame_of_reference_uid.clone(),
        ]);
        let dir = out
            .join(format!("{}_{}", p.id, family))
            .join(st.folder())
            .join(se.folder());
        std::fs::create_dir_all(&dir)?;
        for i in 0..instances {
            let mut w = slice_writer(&p, &st, &se, i);
            w.str(0x0010_1040, "LO", &format!("{} Hospital Road", 10 + pi))
                .str(0x0010_2154, "SH", &format!("+44 20 7946 {:04}", pi))
                .str(0x0010_1000, "LO", &format!("OTHER{:05}", pi))
                .str(0x0008_0081, "ST", &format!("{} Hospital Road", 10 + pi))
                .str(
                    0x0010_21B0,
                    "LT",
                    &format!("Seen by {}", st.referring_physician),
                )
                .str(0x0020_4000, "LT", &format!("patient {} moved", p.name))
                .str(0x0028_1055, "LO", &format!("{family} window"))
                .str(tags::BODY_PART_EXAMINED, "CS", "HEAD");
            w.sequence(
                0x0040_0275,
                vec![vec![
                    Element::str(0x0008_0050, "SH", &st.accession),
                    Element::str(0x0032_1060, "LO", "CT HEAD"),
                    Element::str(0x0040_1001, "SH", &format!("RP{}", p.id)),
                    Element::str(0x0040_0009, "SH", &format!("SPS{}", p.id)),
                ]],
                true,
            );
            w.sequence(
                0x0010_1002,
                vec![vec![
                    Element::str(0x0010_0020, "LO", &format!("OTHER{:05}", pi)),
                    Element::str(0x0010_0021, "LO", &st.institution),
                ]],
                false,
            );
            if i > 0 {
                w.sequence(
                    0x0008_1140,
                    vec![vec![
                        Element::str(0x0008_1150, "UI", se.modality.sop_class_uid()),
                        Element::str(0x0008_1155, "UI", &se.sop_instance_uid(i - 1)),
                    ]],
                    true,
                );
            }
            w.str(0x0009_0010, "LO", "ACME PHI")
                .str(0x0009_1001, "LO", &p.name)
                .str(0x0009_1002, "LO", &p.id);
            if i + 1 == instances {
                w.u16(0x6000_0010, 32)
                    .u16(0x6000_0011, 32)
                    .str(0x6000_0040, "CS", "G")
                    .raw(0x6000_0050, "SS", &[1, 0, 1, 0])
                    .u16(0x6000_0100, 1)
                    .u16(0x6000_0102, 0)
                    .bytes(0x6000_3000, "OW", &[0u8; 128]);
            }
            planted.uids.push(se.sop_instance_uid(i));
            let path = dir.join(Series::file_name(i));
            std::fs::write(&path, w.finish())?;
            planted.files.push(path);
        }
    }
    // An ultrasound image without BurnedInAnnotation: a burned-in text risk.
    let p = Patient::synthetic(seed, patients);
    let st = Study::synthetic(seed, patients, 0);
    let se = Series::synthetic(seed, patients, &st, 0, 32, 32, 1);
    let us_uid = uid_from(&[seed, 0x0055]);
    let mut w = slice_writer(&p, &st, &se, 0);
    w.str(tags::SOP_CLASS_UID, "UI", "1.2.840.10008.5.1.4.1.1.6.1")
        .str(tags::SOP_INSTANCE_UID, "UI", &us_uid)
        .str(tags::MODALITY, "CS", "US");
    // Same module: the meta group's SOP class follows the data set's.
    w.sop_class_uid = "1.2.840.10008.5.1.4.1.1.6.1".to_string();
    w.sop_instance_uid = us_uid;
    w.remove(tags::KVP);
    let us = w;
    let dir = out.join("us");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("us1.dcm");
    std::fs::write(&path, us.finish())?;
    planted.files.push(path.clone());
    planted.burned_in = path;
    Ok(planted)
}
