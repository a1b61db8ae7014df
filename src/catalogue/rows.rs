//! Row types: what the catalogue stores of a parsed header, extracted once by the scanner's
//! workers so the single writer thread only binds values.

use crate::formats::dicom::{self, tags, DicomHeader, SyntaxSource};
use crate::formats::nifti::{VolumeFormat, VolumeHeader};
use serde::Serialize;

/// What a file is, by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Dicom,
    Nifti,
    Analyze,
    /// The `.img` voxel file of a NIfTI or Analyze header/image pair.
    VolumeData,
    Other,
    /// Could not be read at all (permission denied, I/O error, special file).
    Unreadable,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Dicom => "dicom",
            FileKind::Nifti => "nifti",
            FileKind::Analyze => "analyze",
            FileKind::VolumeData => "volume_data",
            FileKind::Other => "other",
            FileKind::Unreadable => "unreadable",
        }
    }
    pub fn parse(s: &str) -> Option<FileKind> {
        Some(match s {
            "dicom" => FileKind::Dicom,
            "nifti" => FileKind::Nifti,
            "analyze" => FileKind::Analyze,
            "volume_data" => FileKind::VolumeData,
            "other" => FileKind::Other,
            "unreadable" => FileKind::Unreadable,
            _ => return None,
        })
    }
}

/// The health of a file's last reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Ok,
    /// The file ends before its header or pixel data says it should.
    Truncated,
    /// The content is malformed (the reason says how).
    Corrupt,
    /// The file could not be opened or read.
    Unreadable,
}

impl FileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Ok => "ok",
            FileStatus::Truncated => "truncated",
            FileStatus::Corrupt => "corrupt",
            FileStatus::Unreadable => "unreadable",
        }
    }
}

/// The key attributes of one DICOM instance (and of its patient, study and series).
#[derive(Debug, Clone, Default, Serialize)]
pub struct InstanceRow {
    pub patient_id: String,
    pub patient_name: String,
    pub birth_date: Option<String>,
    pub sex: Option<String>,
    pub study_uid: String,
    pub study_date: Option<String>,
    pub study_time: Option<String>,
    pub accession: Option<String>,
    pub study_id: Option<String>,
    pub study_description: Option<String>,
    pub series_uid: String,
    pub series_number: Option<i64>,
    pub modality: Option<String>,
    pub series_description: Option<String>,
    pub body_part: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub station: Option<String>,
    pub institution: Option<String>,
    pub protocol_name: Option<String>,
    pub frame_of_reference: Option<String>,
    pub sop_class_uid: Option<String>,
    pub sop_instance_uid: Option<String>,
    pub instance_number: Option<i64>,
    pub transfer_syntax_uid: String,
    pub syntax_inferred: bool,
    pub has_preamble: bool,
    pub has_meta: bool,
    pub meta_sop_class_uid: Option<String>,
    pub meta_sop_instance_uid: Option<String>,
    pub charset: Option<String>,
    pub image_type: Option<String>,
    pub acquisition_date: Option<String>,
    pub rows: Option<i64>,
    pub columns: Option<i64>,
    pub number_of_frames: Option<i64>,
    pub samples_per_pixel: Option<i64>,
    pub bits_allocated: Option<i64>,
    pub bits_stored: Option<i64>,
    pub high_bit: Option<i64>,
    pub pixel_representation: Option<i64>,
    pub photometric: Option<String>,
    pub pixel_spacing: Option<String>,
    pub slice_thickness: Option<f64>,
    pub slice_location: Option<f64>,
    pub image_position: Option<String>,
    pub image_orientation: Option<String>,
    pub pixel_offset: Option<i64>,
    pub pixel_length: Option<i64>,
    pub encapsulated: Option<bool>,
    pub fragments: Option<i64>,
    pub offset_table: Option<i64>,
    pub trailing_bytes: i64,
    /// JSON array of the parse problems.
    pub problems: String,
    /// The whole header in the catalogue's compact JSON form (see `to_compact_json`).
    pub header_json: String,
    /// Top-level groups present, as " 0002 0008 ... " for cheap `tag:GGGG,*` filters.
    pub groups: String,
}

impl InstanceRow {
    /// Extracts the row from a parsed header.
    pub fn from_header(h: &DicomHeader) -> InstanceRow {
        let s = |t| h.str(t).map(str::to_string);
        let mut groups = String::from(" ");
        let mut last = u16::MAX;
        for e in h.all_top_level() {
            if e.group() != last {
                last = e.group();
                groups.push_str(&format!("{last:04X} "));
            }
        }
        let problems = serde_json::to_string(&h.problems).unwrap_or_else(|_| "[]".into());
        InstanceRow {
            patient_id: s(tags::PATIENT_ID).unwrap_or_default(),
            patient_name: s(tags::PATIENT_NAME).unwrap_or_default(),
            birth_date: s(tags::PATIENT_BIRTH_DATE),
            sex: s(tags::PATIENT_SEX),
            study_uid: s(tags::STUDY_INSTANCE_UID).unwrap_or_default(),
            study_date: s(tags::STUDY_DATE),
            study_time: s(tags::STUDY_TIME),
            accession: s(tags::ACCESSION_NUMBER),
            study_id: s(tags::STUDY_ID),
            study_description: s(tags::STUDY_DESCRIPTION),
            series_uid: s(tags::SERIES_INSTANCE_UID).unwrap_or_default(),
            series_number: h.int(tags::SERIES_NUMBER),
            modality: s(tags::MODALITY),
            series_description: s(tags::SERIES_DESCRIPTION),
            body_part: s(tags::BODY_PART_EXAMINED),
            manufacturer: s(tags::MANUFACTURER),
            model: s(tags::MANUFACTURER_MODEL_NAME),
            station: s(tags::STATION_NAME),
            institution: s(tags::INSTITUTION_NAME),
            protocol_name: s(tags::PROTOCOL_NAME),
            frame_of_reference: s(tags::FRAME_OF_REFERENCE_UID),
            sop_class_uid: s(tags::SOP_CLASS_UID),
            sop_instance_uid: s(tags::SOP_INSTANCE_UID),
            instance_number: h.int(tags::INSTANCE_NUMBER),
            transfer_syntax_uid: h.transfer_syntax.clone(),
            syntax_inferred: h.syntax_source == SyntaxSource::Inferred,
            has_preamble: h.preamble,
            has_meta: !h.meta.is_empty(),
            meta_sop_class_uid: s(tags::MEDIA_STORAGE_SOP_CLASS_UID),
            meta_sop_instance_uid: s(tags::MEDIA_STORAGE_SOP_INSTANCE_UID),
            charset: s(tags::SPECIFIC_CHARACTER_SET),
            image_type: s(tags::IMAGE_TYPE),
            acquisition_date: s(tags::ACQUISITION_DATE),
            rows: h.int(tags::ROWS),
            columns: h.int(tags::COLUMNS),
            number_of_frames: h.int(tags::NUMBER_OF_FRAMES),
            samples_per_pixel: h.int(tags::SAMPLES_PER_PIXEL),
            bits_allocated: h.int(tags::BITS_ALLOCATED),
            bits_stored: h.int(tags::BITS_STORED),
            high_bit: h.int(tags::HIGH_BIT),
            pixel_representation: h.int(tags::PIXEL_REPRESENTATION),
            photometric: s(tags::PHOTOMETRIC_INTERPRETATION),
            pixel_spacing: s(tags::PIXEL_SPACING),
            slice_thickness: h.number(tags::SLICE_THICKNESS),
            slice_location: h.number(tags::SLICE_LOCATION),
            image_position: s(tags::IMAGE_POSITION_PATIENT),
            image_orientation: s(tags::IMAGE_ORIENTATION_PATIENT),
            pixel_offset: h.pixel_data.as_ref().map(|p| p.offset as i64),
            pixel_length: h
                .pixel_data
                .as_ref()
                .and_then(|p| p.length)
                .map(|l| l as i64),
            encapsulated: h.pixel_data.as_ref().map(|p| p.encapsulated),
            fragments: h
                .pixel_data
                .as_ref()
                .and_then(|p| p.fragments)
                .map(i64::from),
            offset_table: h
                .pixel_data
                .as_ref()
                .and_then(|p| p.offset_table)
                .map(i64::from),
            trailing_bytes: h.trailing_bytes as i64,
            problems,
            header_json: dicom::to_compact_json(h.all_top_level()),
            groups,
        }
    }
}

/// What the catalogue stores of a NIfTI/Analyze header.
#[derive(Debug, Clone, Serialize)]
pub struct VolumeRow {
    pub format: &'static str,
    pub byte_order: &'static str,
    pub gzipped: bool,
    pub single_file: bool,
    pub data_path: String,
    pub data_present: bool,
    pub data_size: Option<i64>,
    pub expected_bytes: Option<i64>,
    pub ndim: i64,
    pub dims: String,
    pub nxyzt: [Option<i64>; 4],
    pub pixdim: String,
    pub datatype: i64,
    pub datatype_name: &'static str,
    pub bitpix: i64,
    pub vox_offset: f64,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub space_units: &'static str,
    pub time_units: &'static str,
    pub qform_code: i64,
    pub sform_code: i64,
    pub qform: Option<String>,
    pub sform: Option<String>,
    pub orientation: Option<String>,
    pub descrip: String,
    pub aux_file: String,
    pub intent_code: i64,
    pub intent_name: String,
    pub db_name: String,
    pub extensions: i64,
    pub header: String,
}

impl VolumeRow {
    /// Extracts the row; `data_size` is the size of the voxel file when it exists.
    pub fn from_header(
        h: &VolumeHeader,
        data_path: &std::path::Path,
        data_size: Option<u64>,
    ) -> VolumeRow {
        let ndim = h.ndim();
        let dims: Vec<i64> = h.dim.iter().skip(1).take(ndim).copied().collect();
        let pixdim: Vec<f64> = h.pixdim.iter().take(ndim + 1).copied().collect();
        let d = |i: usize| {
            if i <= ndim {
                h.dim.get(i).copied()
            } else {
                None
            }
        };
        let finite = |v: Vec<f64>| {
            v.into_iter()
                .map(|x| if x.is_finite() { x } else { 0.0 })
                .collect::<Vec<_>>()
        };
        VolumeRow {
            format: match h.format {
                VolumeFormat::Nifti1 => "nifti1",
                VolumeFormat::Nifti2 => "nifti2",
                VolumeFormat::Analyze75 => "analyze75",
            },
            byte_order: match h.byte_order {
                crate::formats::nifti::ByteOrder::Little => "little",
                crate::formats::nifti::ByteOrder::Big => "big",
            },
            gzipped: h.gzipped,
            single_file: h.single_file,
            data_path: data_path.to_string_lossy().into_owned(),
            data_present: data_size.is_some(),
            data_size: data_size.map(|s| s as i64),
            expected_bytes: h.expected_data_bytes().and_then(|b| i64::try_from(b).ok()),
            ndim: ndim as i64,
            dims: serde_json::to_string(&dims).unwrap_or_default(),
            nxyzt: [d(1), d(2), d(3), d(4)],
            pixdim: serde_json::to_string(&finite(pixdim)).unwrap_or_default(),
            datatype: h.datatype as i64,
            datatype_name: h.datatype_name(),
            bitpix: h.bitpix as i64,
            vox_offset: h.vox_offset,
            scl_slope: h.scl_slope,
            scl_inter: h.scl_inter,
            space_units: h.space_units(),
            time_units: h.time_units(),
            qform_code: h.qform_code as i64,
            sform_code: h.sform_code as i64,
            qform: h
                .qform_matrix()
                .and_then(|m| serde_json::to_string(&m).ok()),
            sform: h
                .sform_matrix()
                .and_then(|m| serde_json::to_string(&m).ok()),
            orientation: h.orientation(),
            descrip: h.descrip.clone(),
            aux_file: h.aux_file.clone(),
            intent_code: h.intent_code as i64,
            intent_name: h.intent_name.clone(),
            db_name: h.db_name.clone(),
            extensions: h.extensions.len() as i64,
            header: header_json(h),
        }
    }
}

/// The volume header as JSON (serde_json writes NaN and infinities as null).
fn header_json(h: &VolumeHeader) -> String {
    serde_json::to_string(h).unwrap_or_else(|_| "{}".into())
}
