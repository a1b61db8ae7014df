//! Findings: DICOM conformance, dataset integrity, duplicates and protocol deviations.
//!
//! Three kinds of passes, each writing only its own rows (`findings.source`):
//! * **per-file** (`file`): run by the scanner's workers on the header they already parsed
//!   ([`check_dicom_header`], [`check_volume_header`]) and written with the file, so a rescan
//!   re-checks exactly the files it re-reads;
//! * **cross-file**, after every scan ([`after_scan`]): the series and studies the scan touched
//!   (`series`, `study`), and dataset-wide duplicates and outliers (`duplicates`, `dataset`) when
//!   anything changed; duplicate hashing reuses stored hashes of unchanged files;
//! * **on request** in `dicura check` ([`run`]): the protocol file (`protocol`) and the pixel
//!   content pass (`deep`).
//!
//! Rules and codes are listed in [`engine::RULES`].

pub mod deep;
pub mod duplicates;
pub mod engine;
pub mod iod;
pub mod meta;
pub mod nifti;
pub mod pixel;
pub mod protocol;
pub mod series;
pub mod values;

use crate::catalogue::{Catalogue, CatalogueError, FileKind, FileStatus, Payload, ScannedFile};
use crate::formats::dicom::DicomHeader;
use crate::formats::nifti::VolumeHeader;
use engine::FileFinding;
use serde::Serialize;

/// At most this many findings are kept per file (hostile files can produce thousands).
const MAX_FILE_FINDINGS: usize = 200;

/// Which checks a scan runs.
#[derive(Debug, Clone, Copy)]
pub struct ScanChecks {
    /// Per-file header checks in the workers.
    pub per_file: bool,
    /// Cross-file checks (series, studies, duplicates, outliers) after the scan.
    pub cross_file: bool,
}

impl Default for ScanChecks {
    fn default() -> Self {
        ScanChecks {
            per_file: true,
            cross_file: true,
        }
    }
}

impl ScanChecks {
    /// No checks at all (the scan as it was before findings existed).
    pub fn none() -> Self {
        ScanChecks {
            per_file: false,
            cross_file: false,
        }
    }
}

/// Every per-file check of a parsed DICOM header: file/meta, IOD, values, pixel module.
pub fn check_dicom_header(h: &DicomHeader) -> Vec<FileFinding> {
    let mut out = Vec::new();
    meta::check(h, &mut out);
    // What a truncated or corrupt data set lacks is unknown, not missing: no IOD check then.
    let cut = h.truncated || h.problems.iter().any(|p| p.code == "file.corrupt");
    if !cut {
        iod::check(h, &mut out);
    }
    iod::check_modality(h, &mut out);
    values::check(h, &mut out);
    pixel::check(h, &mut out);
    out.truncate(MAX_FILE_FINDINGS);
    out
}

/// Every per-file check of a NIfTI/Analyze header.
pub fn check_volume_header(
    h: &VolumeHeader,
    file_size: u64,
    data_size: Option<u64>,
) -> Vec<FileFinding> {
    let mut out = Vec::new();
    nifti::check(h, file_size, data_size, &mut out);
    out.truncate(MAX_FILE_FINDINGS);
    out
}

/// Findings for files whose header could not be parsed at all (not DICOM despite the
/// extension, corrupt, unreadable): the file's recorded error becomes the finding.
pub fn unparsed_file_findings(f: &mut ScannedFile) {
    if !matches!(f.payload, Payload::None) || !f.findings.is_empty() {
        return;
    }
    let Some(error) = f.error.clone() else { return };
    let code = match (f.kind, f.status) {
        (_, FileStatus::Unreadable) | (FileKind::Unreadable, _) => "file.unreadable",
        (FileKind::Dicom, _) if error.starts_with("not a DICOM") || error == "empty file" => {
            "file.not_dicom"
        }
        (_, FileStatus::Truncated) => "file.truncated",
        (FileKind::Dicom | FileKind::Nifti | FileKind::Analyze, FileStatus::Corrupt) => {
            "file.corrupt"
        }
        _ => return,
    };
    f.findings.push(FileFinding::new(code, error));
}

/// What the cross-file passes did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CrossSummary {
    pub series_checked: usize,
    pub studies_checked: usize,
    pub files_hashed: usize,
    pub dataset_checked: bool,
}

/// Runs the cross-file checks that a scan made due: the touched series and studies, then the
/// dataset-wide duplicate and outlier passes if anything changed.
pub fn after_scan(cat: &Catalogue) -> Result<CrossSummary, CatalogueError> {
    let pending = cat.take_pending()?;
    let result = run_pending(cat, &pending);
    if result.is_err() {
        // Leave the work for the next scan or check rather than losing it.
        let _ = cat.restore_pending(&pending);
    }
    result
}

fn run_pending(
    cat: &Catalogue,
    pending: &crate::catalogue::findings::Pending,
) -> Result<CrossSummary, CatalogueError> {
    let mut summary = CrossSummary::default();
    for uid in &pending.series {
        let findings = series::check_series(cat, uid)?;
        cat.replace_findings("series", ("series", uid), &findings)?;
        summary.series_checked += 1;
    }
    for uid in &pending.studies {
        let findings = series::check_study(cat, uid)?;
        cat.replace_findings("study", ("study", uid), &findings)?;
        summary.studies_checked += 1;
    }
    if pending.dataset {
        let (findings, hashed) = duplicates::check(cat)?;
        cat.replace_findings("duplicates", ("all", ""), &findings)?;
        summary.files_hashed = hashed;
        let outliers = protocol::outliers(cat)?;
        cat.replace_findings("dataset", ("all", ""), &outliers)?;
        summary.dataset_checked = true;
    }
    Ok(summary)
}

/// What `dicura check` asks for beyond the stored findings.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Read pixel data: blank/constant images, tiny dynamic range, lossy among lossless.
    pub deep: bool,
    /// The study protocol to check against.
    pub protocol: Option<protocol::Protocol>,
}

/// Brings every finding up to date: pending cross-file work, then the protocol (its findings
/// are replaced, or removed when no protocol is given) and the deep pass when asked.
pub fn run(cat: &Catalogue, opts: &CheckOptions) -> Result<CrossSummary, CatalogueError> {
    let summary = after_scan(cat)?;
    let protocol_findings = match &opts.protocol {
        Some(p) => protocol::check(cat, p)?,
        None => Vec::new(),
    };
    cat.replace_findings("protocol", ("all", ""), &protocol_findings)?;
    if opts.deep {
        deep::run(cat)?;
    }
    Ok(summary)
}
