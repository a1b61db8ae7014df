//! NIfTI-1/2 and Analyze 7.5 header checks (nifti1.h / nifti2.h field rules).

use super::engine::FileFinding;
use crate::formats::nifti::{VolumeFormat, VolumeHeader};

/// Checks one volume header. `file_size` is the header file's size (uncompressed `.nii`/`.hdr`),
/// `data_size` the voxel file's size when it exists (the same file for `.nii`).
pub fn check(h: &VolumeHeader, file_size: u64, data_size: Option<u64>, out: &mut Vec<FileFinding>) {
    let nifti = h.format != VolumeFormat::Analyze75;
    let before = out.len();
    if !(1..=7).contains(&h.dim[0]) {
        out.push(FileFinding::new(
            "nifti.dims",
            format!("dim[0] is {}, outside 1..7", h.dim[0]),
        ));
    } else {
        let bad: Vec<String> = (1..=h.ndim())
            .filter(|&i| h.dim[i] < 1)
            .map(|i| format!("dim[{i}] = {}", h.dim[i]))
            .collect();
        if !bad.is_empty() {
            out.push(FileFinding::new(
                "nifti.dims",
                format!(
                    "dim[0] is {} but {} (each used dimension must be at least 1)",
                    h.dim[0],
                    bad.join(", ")
                ),
            ));
        }
    }
    let spatial = h.ndim().clamp(0, 3);
    let bad: Vec<String> = (1..=spatial)
        .filter(|&i| !(h.pixdim[i].is_finite() && h.pixdim[i] > 0.0))
        .map(|i| format!("pixdim[{i}] = {}", h.pixdim[i]))
        .collect();
    if !bad.is_empty() {
        out.push(FileFinding::new(
            "nifti.pixdim",
            format!("voxel size is not positive: {}", bad.join(", ")),
        ));
    }
    match h.datatype_bits() {
        Some(bits) if i64::from(bits) == i64::from(h.bitpix) => {}
        Some(bits) => out.push(FileFinding::new(
            "nifti.datatype_bitpix",
            format!(
                "datatype {} ({}) has {bits} bits per voxel but bitpix is {}",
                h.datatype,
                h.datatype_name(),
                h.bitpix
            ),
        )),
        None => out.push(FileFinding::new(
            "nifti.datatype_bitpix",
            format!(
                "datatype {} is not a known NIfTI/Analyze datatype",
                h.datatype
            ),
        )),
    }
    if nifti {
        for (name, code) in [("qform_code", h.qform_code), ("sform_code", h.sform_code)] {
            if !(0..=5).contains(&code) {
                out.push(FileFinding::new(
                    "nifti.xform_code",
                    format!("{name} is {code}, not one of 0..5 (NIFTI_XFORM_*)"),
                ));
            }
        }
        if h.qform_code > 0 {
            let sq = h.quatern_b.powi(2) + h.quatern_c.powi(2) + h.quatern_d.powi(2);
            if !sq.is_finite() || sq > 1.0 + 1e-4 {
                out.push(FileFinding::new(
                    "nifti.rotation",
                    "the qform quaternion (b, c, d) has norm above 1: not a rotation",
                ));
            }
        }
        if h.sform_code > 0 {
            let m = [
                [h.srow_x[0], h.srow_x[1], h.srow_x[2]],
                [h.srow_y[0], h.srow_y[1], h.srow_y[2]],
                [h.srow_z[0], h.srow_z[1], h.srow_z[2]],
            ];
            let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
            if !det.is_finite() || det.abs() < 1e-12 {
                out.push(FileFinding::new(
                    "nifti.rotation",
                    "the sform matrix is singular or not finite: it maps voxels to no valid orientation",
                ));
            }
        }
        if h.single_file {
            let min = match h.format {
                VolumeFormat::Nifti2 => 544.0,
                _ => 352.0,
            };
            if h.vox_offset.is_nan() || h.vox_offset < min {
                out.push(FileFinding::new(
                    "nifti.vox_offset",
                    format!(
                        "vox_offset is {}, inside the header (must be at least {min})",
                        h.vox_offset
                    ),
                ));
            }
        }
    }
    if !h.single_file && data_size.is_none() {
        out.push(FileFinding::new(
            "nifti.missing_img",
            "the .img voxel file of this header is missing",
        ));
    }
    if let Some(expected) = h.expected_data_bytes() {
        if h.single_file && !h.gzipped {
            let need = expected.saturating_add(h.vox_offset.max(0.0) as u64);
            if need > file_size {
                out.push(FileFinding::new(
                    "nifti.short_file",
                    format!("the header implies {need} bytes but the file has {file_size}"),
                ));
            }
        } else if let (false, Some(size)) = (h.single_file, data_size) {
            let need = expected.saturating_add(h.vox_offset.max(0.0) as u64);
            if need > size && !h.gzipped {
                out.push(FileFinding::new(
                    "nifti.short_file",
                    format!("the header implies {need} bytes of voxels but the .img has {size}"),
                ));
            }
        }
    }
    // The header reader's own warnings restate most of the rules above; they are reported
    // only when no specific rule fired, so one defect is one finding.
    if out.len() == before {
        for w in &h.warnings {
            out.push(FileFinding::new("nifti.header_warning", w.clone()));
        }
    }
}
