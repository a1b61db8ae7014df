//! The findings model: rules with stable codes and severities, and findings with a location.
//!
//! A finding's *subject* is what a curator acknowledges it by: a file (`file:<path>`), a series
//! (`series:<uid>`), a study (`study:<uid>`) or a folder (`folder:<path>`). Acknowledgements are
//! stored by rule code + subject (+ optionally a tag), so they survive rescans.

use serde::Serialize;

/// How bad a finding is. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "info" => Severity::Info,
            "warning" => Severity::Warning,
            "error" => Severity::Error,
            _ => return None,
        })
    }
    /// 0 info, 1 warning, 2 error (the catalogue's `rank` column).
    pub fn rank(self) -> i64 {
        self as i64
    }
}

/// A rule: a stable code, its severity and what it means.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rule {
    pub code: &'static str,
    pub severity: Severity,
    /// One line a curator understands.
    pub summary: &'static str,
}

macro_rules! rules {
    ($($code:literal $sev:ident $summary:literal;)*) => {
        /// Every rule dicura has, by family.
        pub const RULES: &[Rule] = &[$(Rule { code: $code, severity: Severity::$sev, summary: $summary }),*];
    };
}

rules! {
    // 1. IOD conformance (PS3.3)
    "dicom.type1.missing" Error "a Type 1 attribute of the IOD is missing";
    "dicom.type1.empty" Error "a Type 1 attribute of the IOD is present but empty";
    "dicom.type2.missing" Error "a Type 2 attribute of the IOD is missing (it may be empty, not absent)";
    "dicom.type1c.missing" Error "a Type 1C attribute is missing although its condition holds";
    "dicom.type1c.empty" Error "a Type 1C attribute is empty although its condition holds";
    "dicom.type2c.missing" Error "a Type 2C attribute is missing although its condition holds";
    "dicom.sop_class.missing" Error "the data set has no SOP Class UID, so its IOD is unknown";
    "dicom.sop_class.unknown" Info "SOP Class not in dicura's IOD tables: conformance not checked";
    "dicom.modality.sop_class_mismatch" Warning "Modality does not match the SOP Class";
    // 2. Values (PS3.5 §6.2, PS3.6)
    "value.vr.invalid" Warning "a value does not follow the syntax of its VR";
    "value.vr.too_long" Warning "a value is longer than its VR allows";
    "value.vm.invalid" Warning "the number of values does not match the data dictionary's VM";
    "value.enum.invalid" Warning "a value is not one of the attribute's enumerated values";
    "value.retired" Info "a retired attribute is present";
    "value.odd_length" Warning "a value has odd length";
    "value.length_vr_mismatch" Warning "a binary value's length is not a multiple of its VR's size";
    "value.vr.invalid_encoding" Warning "an element has an invalid VR in the file";
    "value.un_for_known_vr" Info "a standard attribute is encoded as UN";
    // 3. File and meta information (PS3.10 §7)
    "file.truncated" Error "the file ends before its header or pixel data says it should";
    "file.corrupt" Error "the file is malformed";
    "file.unreadable" Error "the file could not be read";
    "file.not_dicom" Error "a .dcm file that is not DICOM";
    "file.no_preamble" Warning "no 128-byte preamble before DICM";
    "file.no_meta" Warning "no file meta information group";
    "file.trailing_bytes" Warning "bytes after the pixel data that are not data elements";
    "meta.no_transfer_syntax" Error "the meta group has no Transfer Syntax UID";
    "meta.unknown_transfer_syntax" Error "the Transfer Syntax UID is not a known one";
    "meta.transfer_syntax_mismatch" Error "the data set is not encoded as the transfer syntax says";
    "meta.sop_class_mismatch" Error "meta and data set SOP Class UIDs differ";
    "meta.sop_instance_mismatch" Error "meta and data set SOP Instance UIDs differ";
    "meta.deflate" Error "the deflated data set cannot be inflated";
    "encoding.stray_delimiter" Warning "a delimitation item where none belongs";
    // 4. Pixel module (PS3.3 C.7.6.3, PS3.5 A.4)
    "pixel.bits_stored" Error "Bits Stored is greater than Bits Allocated";
    "pixel.high_bit" Warning "High Bit is not Bits Stored - 1";
    "pixel.samples_photometric" Error "Samples per Pixel does not fit the Photometric Interpretation";
    "pixel.length" Error "native Pixel Data length differs from Rows x Columns x Frames x Samples x Bits/8";
    "pixel.fragments" Error "encapsulated Pixel Data has fewer fragments than frames";
    "pixel.missing" Error "an image has no Pixel Data";
    // 5. Duplicates
    "duplicate.identical_files" Warning "byte-identical files";
    "duplicate.uid_conflict" Error "the same SOP Instance UID in files with different content";
    "duplicate.pixel_copy" Warning "identical pixel data under different SOP Instance UIDs (a re-exported copy)";
    "duplicate.study_uid_collision" Error "the same Study Instance UID under different patients";
    "duplicate.series_uid_collision" Error "the same Series Instance UID in different studies";
    "duplicate.volume_data" Warning "NIfTI/Analyze volumes with identical voxel data";
    // 6. Series and study integrity
    "series.slice.gap" Warning "slices missing: a gap along the slice normal larger than the series' spacing";
    "series.slice.duplicate_position" Warning "several slices at the same position";
    "series.instance.gap" Warning "Instance Numbers missing in the series";
    "series.instance.duplicate_number" Warning "the same Instance Number in several files of the series";
    "series.mixed.orientation" Warning "the series mixes image orientations";
    "series.mixed.matrix" Warning "the series mixes Rows x Columns";
    "series.mixed.pixel_spacing" Warning "the series mixes pixel spacings";
    "series.mixed.modality" Warning "the series mixes modalities";
    "series.mixed.frame_of_reference" Warning "the series mixes frames of reference";
    "study.patient_name_mismatch" Warning "one study, one Patient ID, several patient names";
    "series.split_folders" Info "the series is spread over several folders";
    "folder.mixed_series" Info "the folder holds several series";
    // 7. NIfTI / Analyze
    "nifti.xform_code" Error "invalid qform_code or sform_code";
    "nifti.rotation" Error "the qform/sform rotation is not orthonormal";
    "nifti.pixdim" Error "a used pixdim is zero, negative or not a number";
    "nifti.datatype_bitpix" Error "bitpix does not match the datatype";
    "nifti.vox_offset" Error "vox_offset points inside the header";
    "nifti.short_file" Error "the file is shorter than the header implies";
    "nifti.missing_img" Error "the .img of a header/image pair is missing";
    "nifti.dims" Error "dim[] is inconsistent with dim[0]";
    "nifti.header_warning" Warning "the header reader noticed an inconsistency";
    // 8. Protocol deviations
    "protocol.modality" Warning "a modality the protocol does not expect";
    "protocol.slice_thickness" Warning "slice thickness outside the protocol's range";
    "protocol.pixel_spacing" Warning "pixel spacing outside the protocol's range";
    "protocol.matrix" Warning "matrix smaller than the protocol's minimum";
    "protocol.manufacturer" Warning "a manufacturer the protocol does not list";
    "protocol.contrast" Warning "contrast use differs from the protocol";
    "protocol.required_series" Warning "a study lacks a series the protocol requires";
    "protocol.outlier" Info "a series differs from the majority of the dataset's series of its modality";
    // 9. Image content (--deep)
    "image.constant" Warning "the image is blank or constant";
    "image.low_dynamic_range" Info "the image uses a tiny part of its value range";
    "image.lossy_in_lossless_dataset" Warning "a lossy-compressed image in an otherwise lossless dataset";
}

/// The rule with this code.
pub fn rule(code: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.code == code)
}

/// A finding of one file, before the catalogue knows the file's id (the scanner's per-file
/// checks produce these in the worker threads).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileFinding {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// The innermost tag concerned, `(group << 16) | element`.
    pub tag: Option<u32>,
    /// Where inside sequences, e.g. `(0008,1115)[1]/(0008,1150)`; `None` at the top level.
    pub tag_path: Option<String>,
}

impl FileFinding {
    /// A finding with the rule's default severity.
    pub fn new(code: &'static str, message: impl Into<String>) -> FileFinding {
        FileFinding {
            code,
            severity: rule(code).map(|r| r.severity).unwrap_or(Severity::Warning),
            message: message.into(),
            tag: None,
            tag_path: None,
        }
    }
    pub fn at(mut self, tag: u32, path: Option<String>) -> FileFinding {
        self.tag = Some(tag);
        self.tag_path = path;
        self
    }
}

/// A finding about several files (a series, a study, a duplicate set, a folder).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// The acknowledgement key: `file:<path>`, `series:<uid>`, `study:<uid>`, `folder:<path>`.
    pub subject: String,
    /// The file concerned, when the finding is about one file.
    pub file_id: Option<i64>,
    /// A path to show when the finding is not about one file (the series' folder, ...).
    pub path: Option<String>,
    pub tag: Option<u32>,
    pub series_uid: Option<String>,
    pub study_uid: Option<String>,
    /// Duplicate set id: every member of one set carries the same group.
    pub group: Option<String>,
}

impl Finding {
    pub fn new(code: &'static str, subject: String, message: impl Into<String>) -> Finding {
        Finding {
            code,
            severity: rule(code).map(|r| r.severity).unwrap_or(Severity::Warning),
            message: message.into(),
            subject,
            file_id: None,
            path: None,
            tag: None,
            series_uid: None,
            study_uid: None,
            group: None,
        }
    }
}

/// `GGGG,EEEE` as in `dicura check` output.
pub fn tag_text(tag: u32) -> String {
    format!("{:04X},{:04X}", tag >> 16, tag & 0xFFFF)
}

/// The subject key of a file.
pub fn file_subject(path: &str) -> String {
    format!("file:{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_dotted() {
        let mut seen = std::collections::HashSet::new();
        for r in RULES {
            assert!(seen.insert(r.code), "duplicate rule {}", r.code);
            assert!(r.code.contains('.'), "{}", r.code);
        }
        assert!(Severity::Error > Severity::Warning && Severity::Warning > Severity::Info);
    }
}
