//! Bounded, panic-free reader of NIfTI-1, NIfTI-2 and Analyze 7.5 headers.
//!
//! Curation scans walk huge, messy trees: files are truncated by failed downloads, renamed,
//! written by old tools in big-endian, or simply not images at all. This module
//! therefore never trusts a single number from the file without bounding it first:
//!
//! * only the fixed header (348 or 540 bytes), the 4-byte extender and the extension blocks
//!   are read, never voxel data; extension payloads are skipped (seeked over for plain files),
//!   only a short printable summary of each is kept;
//! * extension sizes are checked against what remains before `vox_offset` (single-file) or the
//!   end of the file (pair headers), at most [`MAX_EXTENSIONS`] are listed and at most
//!   [`MAX_EXTENSION_REGION`] bytes are walked, so a hostile or gzip-bomb file costs bounded
//!   time and memory;
//! * all arithmetic on header values is checked; odd-but-readable headers come back as a
//!   [`VolumeHeader`] with human-readable [`VolumeHeader::warnings`] rather than an error, because
//!   a curator wants to *see* a bad header, not just learn that it is bad.
//!
//! Layouts follow `nifti1.h` / `nifti2.h` (and the Analyze 7.5 `dsr` struct that NIfTI-1
//! overlays). Byte order is detected from `sizeof_hdr` (348 or 540) read in either order.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

/// Size of the NIfTI-1 / Analyze 7.5 fixed header.
pub const NIFTI1_HEADER_SIZE: usize = 348;
/// Size of the NIfTI-2 fixed header.
pub const NIFTI2_HEADER_SIZE: usize = 540;
/// At most this many extensions are listed; more is almost surely a corrupt or hostile file.
pub const MAX_EXTENSIONS: usize = 1000;
/// At most this many bytes of extension region are walked (CIFTI XML is typically a few MB).
/// Bounds the decompression work for gzipped files whose sizes cannot be known in advance.
pub const MAX_EXTENSION_REGION: u64 = 256 << 20;
/// How many payload bytes of each extension are kept for its printable summary.
const SUMMARY_BYTES: usize = 64;

/// Which header layout a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum VolumeFormat {
    /// NIfTI-1: 348-byte header with magic `n+1` (single file) or `ni1` (pair).
    Nifti1,
    /// NIfTI-2: 540-byte header with magic `n+2` or `ni2`, 64-bit dims and doubles.
    Nifti2,
    /// Analyze 7.5: a 348-byte header without NIfTI magic, always a `.hdr`/`.img` pair.
    Analyze75,
}

/// Byte order of the header (and, by convention, of the voxel data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ByteOrder {
    /// Little-endian (x86 writers; almost everything modern).
    Little,
    /// Big-endian (old SPARC/PowerPC era writers, some SPM/Analyze files).
    Big,
}

/// One NIfTI header extension block (`esize`, `ecode`, payload).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Extension {
    /// `ecode`: who wrote it and how to interpret it (see [`Extension::kind`]).
    pub code: i32,
    /// `esize`: full block size in bytes including the 8-byte size/code prefix.
    pub size: i32,
    /// Byte offset of the block from the start of the (decompressed) file.
    pub offset: u64,
    /// Decoded `ecode` (`"comment"`, `"cifti"`, `"afni"`, `"dicom"`, ..., `"unknown"`).
    pub kind: &'static str,
    /// First bytes of the payload, NULs stripped, non-printables shown as `.`, for a quick look.
    pub summary: String,
}

/// A decoded NIfTI-1, NIfTI-2 or Analyze 7.5 header. Integer and float fields are widened to
/// the NIfTI-2 types so that all three formats share one struct; fields a format lacks are 0 /
/// empty.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VolumeHeader {
    pub format: VolumeFormat,
    pub byte_order: ByteOrder,
    /// The file was gzip-compressed (detected from content, not from the name).
    pub gzipped: bool,
    /// True for `.nii` (`n+1`/`n+2`), false for `.hdr`/`.img` pairs and Analyze.
    pub single_file: bool,
    /// `"n+1"`, `"ni1"`, `"n+2"`, `"ni2"`, or `""` for Analyze.
    pub magic: String,
    pub sizeof_hdr: i32,
    pub dim_info: u8,
    pub dim: [i64; 8],
    pub intent_p1: f64,
    pub intent_p2: f64,
    pub intent_p3: f64,
    pub intent_code: i32,
    pub datatype: i16,
    pub bitpix: i16,
    pub slice_start: i64,
    pub pixdim: [f64; 8],
    pub vox_offset: f64,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub slice_end: i64,
    pub slice_code: u8,
    pub xyzt_units: u8,
    pub cal_max: f64,
    pub cal_min: f64,
    pub slice_duration: f64,
    pub toffset: f64,
    /// NIfTI-1/Analyze only (0 for NIfTI-2).
    pub glmax: i32,
    /// NIfTI-1/Analyze only (0 for NIfTI-2).
    pub glmin: i32,
    pub descrip: String,
    pub aux_file: String,
    pub qform_code: i16,
    pub sform_code: i16,
    pub quatern_b: f64,
    pub quatern_c: f64,
    pub quatern_d: f64,
    pub qoffset_x: f64,
    pub qoffset_y: f64,
    pub qoffset_z: f64,
    pub srow_x: [f64; 4],
    pub srow_y: [f64; 4],
    pub srow_z: [f64; 4],
    pub intent_name: String,
    /// `hk.db_name[18]` of the Analyze header key. NIfTI-1 keeps the (unused) bytes, so
    /// converted-from-Analyze NIfTI-1 files may show it too; always empty for NIfTI-2.
    pub db_name: String,
    /// `hk.data_type[10]` of the Analyze header key (e.g. `"dsr"`); empty for NIfTI-2.
    pub data_type_text: String,
    /// Analyze `dime.vox_units[4]` (e.g. `"mm"`); Analyze only, since NIfTI reuses the bytes.
    pub vox_units: String,
    /// Analyze `hist.orient` byte (0 = transverse unflipped, ...); Analyze only.
    pub analyze_orient: u8,
    pub extensions: Vec<Extension>,
    /// Problems found while decoding that did not prevent reading the header (inconsistent
    /// bitpix, bad extension list, text-mode-damaged NIfTI-2 magic, ...).
    pub warnings: Vec<String>,
}

/// Why a header could not be read. Messages are written for curators, not programmers.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// The file could not be opened or read.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The bytes do not start with a NIfTI-1, NIfTI-2 or Analyze header.
    #[error("not a NIfTI or Analyze header: {0}")]
    NotAVolume(String),
    /// The file ends before the fixed header does.
    #[error("header is truncated: it needs {needed} bytes but only {got} are present")]
    Truncated { needed: usize, got: usize },
    /// The header is recognisable but self-contradictory, or its gzip stream is damaged.
    #[error("header is corrupt: {0}")]
    Corrupt(String),
}

/// Cheap content sniff on the first bytes of a file (pass up to 548; for gzip input pass the
/// *decompressed* bytes).
///
/// NIfTI-2 needs only 12 bytes (size + magic). NIfTI-1 and Analyze need all 348 bytes because
/// the NIfTI-1 magic sits at the very end of the header. Analyze has no magic at all, so it is
/// claimed only when `sizeof_hdr == 348` (either byte order) *and* the caller says the name
/// ends in `.hdr`, which keeps arbitrary 348-prefixed binaries from being misfiled.
pub fn sniff(bytes: &[u8], ext_is_hdr: bool) -> Option<(VolumeFormat, ByteOrder)> {
    let (size, order) = detect_size(bytes)?;
    if size == NIFTI2_HEADER_SIZE {
        let magic = bytes.get(4..8)?;
        return is_nifti2_magic(magic).then_some((VolumeFormat::Nifti2, order));
    }
    let magic = bytes.get(344..348)?;
    if is_nifti1_magic(magic) {
        Some((VolumeFormat::Nifti1, order))
    } else if ext_is_hdr {
        Some((VolumeFormat::Analyze75, order))
    } else {
        None
    }
}

/// Reads and decodes the header of `path` (`.nii`, `.nii.gz`, `.hdr`, `.hdr.gz`).
///
/// Gzip is detected from the content (`1f 8b`), not the name, because misnamed files are
/// common. Reads only the header, the extender and the extension region (payloads of plain
/// files are seeked over), never voxel data.
pub fn read_header(path: &Path) -> Result<VolumeHeader, VolumeError> {
    let io_err = |action: &'static str| {
        let path = path.to_path_buf();
        move |source: io::Error| VolumeError::Io {
            action,
            path,
            source,
        }
    };
    // `read_fixed` cannot know the path; give its I/O errors the context curators need.
    let with_path = |e: VolumeError| match e {
        VolumeError::Io { action, source, .. } => VolumeError::Io {
            action,
            path: path.to_path_buf(),
            source,
        },
        other => other,
    };
    let file = File::open(path).map_err(io_err("open"))?;
    let file_len = file.metadata().map_err(io_err("stat"))?.len();
    let mut reader = BufReader::with_capacity(8 * 1024, file);
    let head = reader.fill_buf().map_err(io_err("read"))?;
    let gzipped = head.starts_with(&[0x1f, 0x8b]);
    if gzipped {
        let mut src = GzSource(MultiGzDecoder::new(reader));
        let (mut header, extender) = read_fixed(&mut src, true).map_err(with_path)?;
        let start = header.sizeof_hdr_usize() as u64 + 4;
        let limit = header.extension_limit(None);
        if let Err(e) = walk_extensions(&mut src, &mut header, extender, start, limit) {
            header.warnings.push(format!(
                "gzip stream damaged inside the extension region: {e}"
            ));
        }
        Ok(header)
    } else {
        let mut src = PlainSource { inner: reader };
        let (mut header, extender) = read_fixed(&mut src, false).map_err(with_path)?;
        let start = header.sizeof_hdr_usize() as u64 + 4;
        let limit = header.extension_limit(Some(file_len));
        if header.single_file && header.vox_offset > file_len as f64 {
            header.warnings.push(format!(
                "file is {file_len} bytes, shorter than vox_offset {}: voxel data is missing",
                header.vox_offset
            ));
        }
        walk_extensions(&mut src, &mut header, extender, start, limit).map_err(io_err("read"))?;
        Ok(header)
    }
}

/// Pure variant of [`read_header`] over bytes already in memory (decompressed). `gzipped` only
/// sets [`VolumeHeader::gzipped`]. Extensions are walked up to `vox_offset` or the end of
/// `bytes`, whichever comes first.
pub fn parse_header(bytes: &[u8], gzipped: bool) -> Result<VolumeHeader, VolumeError> {
    let mut header = decode_fixed(bytes, gzipped)?;
    let size = header.sizeof_hdr_usize();
    let extender = bytes
        .get(size..size + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok());
    let start = size as u64 + 4;
    let limit = header.extension_limit(Some(bytes.len() as u64));
    let mut src = io::Cursor::new(bytes);
    src.set_position(start.min(bytes.len() as u64));
    // Reading from memory cannot fail.
    let _ = walk_extensions(&mut src, &mut header, extender, start, limit);
    Ok(header)
}

impl VolumeHeader {
    /// Number of dimensions: `dim[0]` clamped to `0..=7` (hostile files put anything there).
    pub fn ndim(&self) -> usize {
        self.dim[0].clamp(0, 7) as usize
    }

    /// Name of the `datatype` code (NIFTI_TYPE_* without the prefix), `"UNKNOWN"` otherwise.
    pub fn datatype_name(&self) -> &'static str {
        match self.datatype {
            1 => "BINARY",
            2 => "UINT8",
            4 => "INT16",
            8 => "INT32",
            16 => "FLOAT32",
            32 => "COMPLEX64",
            64 => "FLOAT64",
            128 => "RGB24",
            256 => "INT8",
            512 => "UINT16",
            768 => "UINT32",
            1024 => "INT64",
            1280 => "UINT64",
            1536 => "FLOAT128",
            1792 => "COMPLEX128",
            2048 => "COMPLEX256",
            2304 => "RGBA32",
            _ => "UNKNOWN",
        }
    }

    /// Bits per voxel implied by `datatype` (independent of the possibly wrong `bitpix`).
    pub fn datatype_bits(&self) -> Option<u16> {
        Some(match self.datatype {
            1 => 1,
            2 | 256 => 8,
            4 | 512 => 16,
            8 | 16 | 768 | 2304 => 32,
            128 => 24,
            32 | 64 | 1024 | 1280 => 64,
            1536 | 1792 => 128,
            2048 => 256,
            _ => return None,
        })
    }

    /// Spatial unit from `xyzt_units & 0x07`.
    pub fn space_units(&self) -> &'static str {
        match self.xyzt_units & 0x07 {
            1 => "meter",
            2 => "mm",
            3 => "micron",
            _ => "unknown",
        }
    }

    /// Temporal unit from `xyzt_units & 0x38`.
    pub fn time_units(&self) -> &'static str {
        match self.xyzt_units & 0x38 {
            8 => "sec",
            16 => "msec",
            24 => "usec",
            32 => "hz",
            40 => "ppm",
            48 => "rad/s",
            _ => "unknown",
        }
    }

    /// Name of a qform/sform code. Codes outside the standard's 0..=5 are reported as
    /// `"invalid"` (rather than `"unknown"`, which is the legitimate code 0) so curators can
    /// spot them.
    pub fn xform_name(code: i16) -> &'static str {
        match code {
            0 => "unknown",
            1 => "scanner_anat",
            2 => "aligned_anat",
            3 => "talairach",
            4 => "mni_152",
            5 => "template_other",
            _ => "invalid",
        }
    }

    /// Decoded `intent_code`: NIFTI_INTENT_* names lower-cased without the prefix, FSL's
    /// FNIRT/TOPUP codes, and CIFTI-2's 3000-range connectivity codes; `"unknown"` otherwise.
    pub fn intent_name_of_code(&self) -> &'static str {
        match self.intent_code {
            0 => "none",
            2 => "correl",
            3 => "ttest",
            4 => "ftest",
            5 => "zscore",
            6 => "chisq",
            7 => "beta",
            8 => "binom",
            9 => "gamma",
            10 => "poisson",
            11 => "normal",
            12 => "ftest_nonc",
            13 => "chisq_nonc",
            14 => "logistic",
            15 => "laplace",
            16 => "uniform",
            17 => "ttest_nonc",
            18 => "weibull",
            19 => "chi",
            20 => "invgauss",
            21 => "extval",
            22 => "pval",
            23 => "logpval",
            24 => "log10pval",
            1001 => "estimate",
            1002 => "label",
            1003 => "neuroname",
            1004 => "genmatrix",
            1005 => "symmatrix",
            1006 => "dispvect",
            1007 => "vector",
            1008 => "pointset",
            1009 => "triangle",
            1010 => "quaternion",
            1011 => "dimless",
            2001 => "time_series",
            2002 => "node_index",
            2003 => "rgb_vector",
            2004 => "rgba_vector",
            2005 => "shape",
            2006 => "fsl_fnirt_displacement_field",
            2007 => "fsl_cubic_spline_coefficients",
            2008 => "fsl_dct_coefficients",
            2009 => "fsl_quadratic_spline_coefficients",
            2016 => "fsl_topup_cubic_spline_coefficients",
            2017 => "fsl_topup_quadratic_spline_coefficients",
            2018 => "fsl_topup_field",
            3000 => "connectivity unknown",
            3001 => "connectivity dense",
            3002 => "connectivity dense series",
            3003 => "connectivity parcellated",
            3004 => "connectivity parcellated series",
            3006 => "connectivity dense scalars",
            3007 => "connectivity dense labels",
            3008 => "connectivity parcellated scalar",
            3009 => "connectivity parcellated dense",
            3010 => "connectivity dense parcellated",
            3011 => "connectivity parcellated parcellated series",
            3012 => "connectivity parcellated parcellated scalar",
            _ => "unknown",
        }
    }

    /// Product of `dim[1..=ndim]` with checked arithmetic. `None` when `ndim` is 0, any used
    /// dimension is negative, or the product overflows `u64` (all signs of a broken header).
    pub fn voxel_count(&self) -> Option<u64> {
        let n = self.ndim();
        if n == 0 {
            return None;
        }
        self.dim
            .get(1..=n)?
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(u64::try_from(d).ok()?))
    }

    /// `voxel_count * bitpix / 8`, rounded up (so 1-bit data works), checked. `None` for a
    /// non-positive `bitpix` or overflow.
    pub fn expected_data_bytes(&self) -> Option<u64> {
        let bits = u64::try_from(self.bitpix).ok().filter(|&b| b > 0)?;
        Some(self.voxel_count()?.checked_mul(bits)?.div_ceil(8))
    }

    /// Path of the voxel data: `header_path` itself for single files; for pairs the sibling
    /// `.img`, preserving the case of the `.hdr` (`.HDR` -> `.IMG`) and a trailing `.gz`.
    pub fn data_path(&self, header_path: &Path) -> PathBuf {
        if self.single_file {
            return header_path.to_path_buf();
        }
        let Some(name) = header_path.file_name().and_then(|n| n.to_str()) else {
            return header_path.with_extension("img");
        };
        let (stem, gz) = match split_suffix(name, ".gz") {
            Some((stem, gz)) => (stem, gz),
            None => (name, ""),
        };
        let new_name = match split_suffix(stem, ".hdr") {
            Some((base, hdr)) => {
                let img: String = hdr
                    .chars()
                    .map(|c| match c {
                        'h' => 'i',
                        'H' => 'I',
                        'd' => 'm',
                        'D' => 'M',
                        'r' => 'g',
                        'R' => 'G',
                        other => other,
                    })
                    .collect();
                format!("{base}{img}{gz}")
            }
            None => format!("{stem}.img{gz}"),
        };
        header_path.with_file_name(new_name)
    }

    /// The qform affine (voxel -> world), computed from the quaternion, `qoffset_*`, `pixdim`
    /// and `qfac = pixdim[0] < 0 ? -1 : 1` exactly as `nifti1_io.c`'s `quatern_to_mat44`
    /// (including its rule that a quaternion with `a^2 < 1e-7` is renormalised with `a = 0`).
    /// `None` when `qform_code <= 0` (the standard says the qform is then meaningless) or the
    /// result is not finite.
    pub fn qform_matrix(&self) -> Option<[[f64; 4]; 4]> {
        if self.qform_code <= 0 {
            return None;
        }
        let (mut b, mut c, mut d) = (self.quatern_b, self.quatern_c, self.quatern_d);
        let sq = b * b + c * c + d * d;
        let mut a = 1.0 - sq;
        if a < 1.0e-7 {
            let norm = 1.0 / sq.sqrt();
            b *= norm;
            c *= norm;
            d *= norm;
            a = 0.0;
        } else {
            a = a.sqrt();
        }
        let pos = |v: f64| if v > 0.0 { v } else { 1.0 };
        let xd = pos(self.pixdim[1]);
        let yd = pos(self.pixdim[2]);
        let mut zd = pos(self.pixdim[3]);
        if self.pixdim[0] < 0.0 {
            zd = -zd;
        }
        let m = [
            [
                (a * a + b * b - c * c - d * d) * xd,
                2.0 * (b * c - a * d) * yd,
                2.0 * (b * d + a * c) * zd,
                self.qoffset_x,
            ],
            [
                2.0 * (b * c + a * d) * xd,
                (a * a + c * c - b * b - d * d) * yd,
                2.0 * (c * d - a * b) * zd,
                self.qoffset_y,
            ],
            [
                2.0 * (b * d - a * c) * xd,
                2.0 * (c * d + a * b) * yd,
                (a * a + d * d - c * c - b * b) * zd,
                self.qoffset_z,
            ],
            [0.0, 0.0, 0.0, 1.0],
        ];
        all_finite(&m).then_some(m)
    }

    /// The sform affine from `srow_x/y/z`. `None` when `sform_code <= 0` or not finite.
    pub fn sform_matrix(&self) -> Option<[[f64; 4]; 4]> {
        if self.sform_code <= 0 {
            return None;
        }
        let m = [self.srow_x, self.srow_y, self.srow_z, [0.0, 0.0, 0.0, 1.0]];
        all_finite(&m).then_some(m)
    }

    /// Axis codes (the world direction each voxel axis points to, like nibabel's
    /// `aff2axcodes`), e.g. `"RAS"` or `"LAS"`. Uses the sform when `sform_code > 0`, else the
    /// qform when `qform_code > 0` (also when a coded sform is not finite), else `None`:
    /// Analyze and uncoded files have no trustworthy orientation, and guessing one is exactly
    /// the kind of left/right error curation must not introduce.
    pub fn orientation(&self) -> Option<String> {
        let m = self.sform_matrix().or_else(|| self.qform_matrix())?;
        axis_codes(&m)
    }

    fn sizeof_hdr_usize(&self) -> usize {
        match self.format {
            VolumeFormat::Nifti2 => NIFTI2_HEADER_SIZE,
            _ => NIFTI1_HEADER_SIZE,
        }
    }

    /// Where the extension region ends (exclusive): `vox_offset` for single files, the end of
    /// the file for pair headers, capped by `file_len` when known. `None` = unknown (gzipped
    /// pair header; walk until EOF).
    fn extension_limit(&self, file_len: Option<u64>) -> Option<u64> {
        if self.single_file {
            // `as` saturates and maps NaN to 0, which is what we want for hostile floats.
            let vox = self.vox_offset.max(0.0) as u64;
            Some(file_len.map_or(vox, |l| l.min(vox)))
        } else {
            file_len
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed header decoding
// ---------------------------------------------------------------------------------------------

/// Returns the header size implied by `sizeof_hdr` and the byte order it was read in.
fn detect_size(bytes: &[u8]) -> Option<(usize, ByteOrder)> {
    let raw: [u8; 4] = bytes.get(0..4)?.try_into().ok()?;
    let le = i32::from_le_bytes(raw);
    let be = i32::from_be_bytes(raw);
    match (le, be) {
        (348, _) => Some((NIFTI1_HEADER_SIZE, ByteOrder::Little)),
        (_, 348) => Some((NIFTI1_HEADER_SIZE, ByteOrder::Big)),
        (540, _) => Some((NIFTI2_HEADER_SIZE, ByteOrder::Little)),
        (_, 540) => Some((NIFTI2_HEADER_SIZE, ByteOrder::Big)),
        _ => None,
    }
}

/// `n+1\0` or `ni1\0` (nifti1_io accepts '1'..'9' as version, but only '1' makes sense in a
/// 348-byte header).
fn is_nifti1_magic(m: &[u8]) -> bool {
    matches!(m, [b'n', b'+' | b'i', b'1', 0])
}

/// `n+2\0` or `ni2\0`; the following 4 "eol_check" bytes are validated separately (with a
/// warning) because they only detect text-mode transfer damage.
fn is_nifti2_magic(m: &[u8]) -> bool {
    matches!(m, [b'n', b'+' | b'i', b'2', 0, ..])
}

/// Bounds-checked field access; out-of-range reads yield zeros instead of panicking (callers
/// have already checked the length, this is belt and braces).
struct Fields<'a> {
    b: &'a [u8],
    order: ByteOrder,
}

impl Fields<'_> {
    fn raw<const N: usize>(&self, off: usize) -> [u8; N] {
        off.checked_add(N)
            .and_then(|end| self.b.get(off..end))
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .unwrap_or([0; N])
    }
    fn u8(&self, off: usize) -> u8 {
        self.b.get(off).copied().unwrap_or(0)
    }
    fn i16(&self, off: usize) -> i16 {
        let r = self.raw::<2>(off);
        match self.order {
            ByteOrder::Little => i16::from_le_bytes(r),
            ByteOrder::Big => i16::from_be_bytes(r),
        }
    }
    fn i32(&self, off: usize) -> i32 {
        let r = self.raw::<4>(off);
        match self.order {
            ByteOrder::Little => i32::from_le_bytes(r),
            ByteOrder::Big => i32::from_be_bytes(r),
        }
    }
    fn i64(&self, off: usize) -> i64 {
        let r = self.raw::<8>(off);
        match self.order {
            ByteOrder::Little => i64::from_le_bytes(r),
            ByteOrder::Big => i64::from_be_bytes(r),
        }
    }
    fn f32(&self, off: usize) -> f64 {
        let r = self.raw::<4>(off);
        f64::from(match self.order {
            ByteOrder::Little => f32::from_le_bytes(r),
            ByteOrder::Big => f32::from_be_bytes(r),
        })
    }
    fn f64(&self, off: usize) -> f64 {
        let r = self.raw::<8>(off);
        match self.order {
            ByteOrder::Little => f64::from_le_bytes(r),
            ByteOrder::Big => f64::from_be_bytes(r),
        }
    }
    /// Fixed-size C string: stops at the first NUL, lossy UTF-8, trimmed.
    fn string(&self, off: usize, len: usize) -> String {
        let s = off
            .checked_add(len)
            .and_then(|end| self.b.get(off..end))
            .unwrap_or(&[]);
        let s = s.split(|&c| c == 0).next().unwrap_or(&[]);
        String::from_utf8_lossy(s).trim().to_string()
    }
    fn i16_array8(&self, off: usize) -> [i64; 8] {
        std::array::from_fn(|i| i64::from(self.i16(off + 2 * i)))
    }
}

/// Narrows a NIfTI-2 `int` code into the NIfTI-1-sized field, saturating (and warning) so a
/// hostile value cannot wrap into a valid-looking one.
fn narrow_i16(v: i32, name: &str, warnings: &mut Vec<String>) -> i16 {
    i16::try_from(v).unwrap_or_else(|_| {
        warnings.push(format!("{name} {v} does not fit the NIfTI-1 range"));
        if v < 0 {
            i16::MIN
        } else {
            i16::MAX
        }
    })
}

fn narrow_u8(v: i32, name: &str, warnings: &mut Vec<String>) -> u8 {
    u8::try_from(v).unwrap_or_else(|_| {
        warnings.push(format!("{name} {v} is outside 0..=255"));
        if v < 0 {
            0
        } else {
            u8::MAX
        }
    })
}

/// Decodes the fixed header at the start of `bytes` (no extensions).
fn decode_fixed(bytes: &[u8], gzipped: bool) -> Result<VolumeHeader, VolumeError> {
    if bytes.len() < 4 {
        return Err(VolumeError::Truncated {
            needed: NIFTI1_HEADER_SIZE,
            got: bytes.len(),
        });
    }
    let Some((size, order)) = detect_size(bytes) else {
        return Err(not_a_volume(bytes));
    };
    if bytes.len() < size {
        return Err(VolumeError::Truncated {
            needed: size,
            got: bytes.len(),
        });
    }
    let f = Fields { b: bytes, order };
    let mut h = if size == NIFTI2_HEADER_SIZE {
        decode_nifti2(&f)?
    } else {
        decode_nifti1_or_analyze(&f)
    };
    h.gzipped = gzipped;
    h.check(bytes);
    Ok(h)
}

fn not_a_volume(bytes: &[u8]) -> VolumeError {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return VolumeError::NotAVolume(
            "the bytes are still gzip-compressed (decompress before parsing)".into(),
        );
    }
    let raw: [u8; 4] = bytes
        .get(0..4)
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; 4]);
    VolumeError::NotAVolume(format!(
        "sizeof_hdr is {} (little-endian) / {} (big-endian); NIfTI-1 and Analyze need 348, \
         NIfTI-2 needs 540",
        i32::from_le_bytes(raw),
        i32::from_be_bytes(raw)
    ))
}

fn decode_nifti1_or_analyze(f: &Fields<'_>) -> VolumeHeader {
    let magic_bytes = f.raw::<4>(344);
    let analyze = !is_nifti1_magic(&magic_bytes);
    // Fields that Analyze 7.5 uses for something else (vox_units, funused*, compressed,
    // verified, orient/originator, ...) are zeroed rather than misreported as NIfTI values.
    let nifti = |v: f64| if analyze { 0.0 } else { v };
    let mut h = VolumeHeader {
        format: if analyze {
            VolumeFormat::Analyze75
        } else {
            VolumeFormat::Nifti1
        },
        byte_order: f.order,
        gzipped: false,
        single_file: !analyze && magic_bytes[1] == b'+',
        magic: if analyze {
            String::new()
        } else {
            f.string(344, 4)
        },
        sizeof_hdr: f.i32(0),
        dim_info: if analyze { 0 } else { f.u8(39) },
        dim: f.i16_array8(40),
        intent_p1: nifti(f.f32(56)),
        intent_p2: nifti(f.f32(60)),
        intent_p3: nifti(f.f32(64)),
        intent_code: if analyze { 0 } else { i32::from(f.i16(68)) },
        datatype: f.i16(70),
        bitpix: f.i16(72),
        slice_start: if analyze { 0 } else { i64::from(f.i16(74)) },
        pixdim: std::array::from_fn(|i| f.f32(76 + 4 * i)),
        vox_offset: f.f32(108),
        scl_slope: nifti(f.f32(112)),
        scl_inter: nifti(f.f32(116)),
        slice_end: if analyze { 0 } else { i64::from(f.i16(120)) },
        slice_code: if analyze { 0 } else { f.u8(122) },
        xyzt_units: if analyze { 0 } else { f.u8(123) },
        cal_max: f.f32(124),
        cal_min: f.f32(128),
        slice_duration: nifti(f.f32(132)),
        toffset: nifti(f.f32(136)),
        glmax: f.i32(140),
        glmin: f.i32(144),
        descrip: f.string(148, 80),
        aux_file: f.string(228, 24),
        qform_code: if analyze { 0 } else { f.i16(252) },
        sform_code: if analyze { 0 } else { f.i16(254) },
        quatern_b: nifti(f.f32(256)),
        quatern_c: nifti(f.f32(260)),
        quatern_d: nifti(f.f32(264)),
        qoffset_x: nifti(f.f32(268)),
        qoffset_y: nifti(f.f32(272)),
        qoffset_z: nifti(f.f32(276)),
        srow_x: std::array::from_fn(|i| nifti(f.f32(280 + 4 * i))),
        srow_y: std::array::from_fn(|i| nifti(f.f32(296 + 4 * i))),
        srow_z: std::array::from_fn(|i| nifti(f.f32(312 + 4 * i))),
        intent_name: if analyze {
            String::new()
        } else {
            f.string(328, 16)
        },
        db_name: f.string(14, 18),
        data_type_text: f.string(4, 10),
        vox_units: if analyze {
            f.string(56, 4)
        } else {
            String::new()
        },
        analyze_orient: if analyze { f.u8(252) } else { 0 },
        extensions: Vec::new(),
        warnings: Vec::new(),
    };
    if analyze && magic_bytes.first() == Some(&b'n') && magic_bytes != [0; 4] {
        h.warnings.push(format!(
            "magic {:?} is not a valid NIfTI-1 magic; read as Analyze 7.5",
            String::from_utf8_lossy(&magic_bytes)
        ));
    }
    h
}

fn decode_nifti2(f: &Fields<'_>) -> Result<VolumeHeader, VolumeError> {
    let magic_bytes = f.raw::<8>(4);
    if !is_nifti2_magic(&magic_bytes) {
        return Err(VolumeError::Corrupt(format!(
            "sizeof_hdr says NIfTI-2 (540) but the magic is {:?} instead of \"n+2\" or \"ni2\"",
            String::from_utf8_lossy(magic_bytes.get(..4).unwrap_or(&[]))
        )));
    }
    let mut warnings = Vec::new();
    if magic_bytes.get(4..8) != Some(&[0x0d, 0x0a, 0x1a, 0x0a][..]) {
        warnings.push(
            "NIfTI-2 eol_check bytes are not \\r\\n\\x1a\\n: the file was probably damaged by a \
             text-mode transfer (line-ending conversion)"
                .to_string(),
        );
    }
    let qform_code = narrow_i16(f.i32(344), "qform_code", &mut warnings);
    let sform_code = narrow_i16(f.i32(348), "sform_code", &mut warnings);
    let slice_code = narrow_u8(f.i32(496), "slice_code", &mut warnings);
    let xyzt_units = narrow_u8(f.i32(500), "xyzt_units", &mut warnings);
    let vox_offset_raw = f.i64(168);
    Ok(VolumeHeader {
        format: VolumeFormat::Nifti2,
        byte_order: f.order,
        gzipped: false,
        single_file: magic_bytes[1] == b'+',
        magic: f.string(4, 4),
        sizeof_hdr: f.i32(0),
        dim_info: f.u8(524),
        dim: std::array::from_fn(|i| f.i64(16 + 8 * i)),
        intent_p1: f.f64(80),
        intent_p2: f.f64(88),
        intent_p3: f.f64(96),
        intent_code: f.i32(504),
        datatype: f.i16(12),
        bitpix: f.i16(14),
        slice_start: f.i64(224),
        pixdim: std::array::from_fn(|i| f.f64(104 + 8 * i)),
        // Exact for any offset below 2^53; beyond that the file is absurd anyway.
        vox_offset: vox_offset_raw as f64,
        scl_slope: f.f64(176),
        scl_inter: f.f64(184),
        slice_end: f.i64(232),
        slice_code,
        xyzt_units,
        cal_max: f.f64(192),
        cal_min: f.f64(200),
        slice_duration: f.f64(208),
        toffset: f.f64(216),
        glmax: 0,
        glmin: 0,
        descrip: f.string(240, 80),
        aux_file: f.string(320, 24),
        qform_code,
        sform_code,
        quatern_b: f.f64(352),
        quatern_c: f.f64(360),
        quatern_d: f.f64(368),
        qoffset_x: f.f64(376),
        qoffset_y: f.f64(384),
        qoffset_z: f.f64(392),
        srow_x: std::array::from_fn(|i| f.f64(400 + 8 * i)),
        srow_y: std::array::from_fn(|i| f.f64(432 + 8 * i)),
        srow_z: std::array::from_fn(|i| f.f64(464 + 8 * i)),
        intent_name: f.string(508, 16),
        db_name: String::new(),
        data_type_text: String::new(),
        vox_units: String::new(),
        analyze_orient: 0,
        extensions: Vec::new(),
        warnings,
    })
}

impl VolumeHeader {
    /// Sanity checks that produce warnings (never errors): the header is still worth showing.
    fn check(&mut self, bytes: &[u8]) {
        let mut w = Vec::new();
        let d0 = self.dim[0];
        if !(1..=7).contains(&d0) {
            w.push(format!("dim[0] is {d0}, outside 1..=7"));
        }
        let n = self.ndim();
        for (i, &d) in self.dim.iter().enumerate().skip(1).take(n) {
            if d < 0 {
                w.push(format!("dim[{i}] is negative ({d})"));
            } else if d == 0 {
                w.push(format!("dim[{i}] is 0"));
            }
        }
        for (i, &p) in self.pixdim.iter().enumerate().take(n + 1) {
            if !p.is_finite() {
                w.push(format!("pixdim[{i}] is not finite ({p})"));
            }
        }
        // dim_info bits 4-5 name the slice axis; slice_end must index into it.
        let slice_dim = usize::from((self.dim_info >> 4) & 0x03);
        if slice_dim >= 1 && slice_dim <= n {
            let extent = self.dim[slice_dim];
            if self.slice_end >= extent && extent > 0 {
                w.push(format!(
                    "slice_end {} is beyond dim[{slice_dim}] = {extent} (the slice axis)",
                    self.slice_end
                ));
            }
        }
        match self.datatype_bits() {
            None => w.push(format!("datatype {} is not a known code", self.datatype)),
            Some(bits) if i32::from(bits) != i32::from(self.bitpix) => w.push(format!(
                "bitpix {} disagrees with datatype {} ({} bits)",
                self.bitpix,
                self.datatype_name(),
                bits
            )),
            Some(_) => {}
        }
        if !self.vox_offset.is_finite() || self.vox_offset < 0.0 {
            w.push(format!("vox_offset {} is invalid", self.vox_offset));
        } else if self.single_file {
            let min = self.sizeof_hdr_usize() as f64 + 4.0;
            if self.vox_offset < min {
                w.push(format!(
                    "vox_offset {} lies inside the header (a single file needs at least {min})",
                    self.vox_offset
                ));
            }
            if self.vox_offset.fract() != 0.0 {
                w.push(format!(
                    "vox_offset {} is not a whole number",
                    self.vox_offset
                ));
            }
        }
        for (name, code) in [
            ("qform_code", self.qform_code),
            ("sform_code", self.sform_code),
        ] {
            if Self::xform_name(code) == "invalid" {
                w.push(format!("{name} {code} is not a valid xform code"));
            }
        }
        if self.format == VolumeFormat::Nifti1 && bytes.len() < NIFTI1_HEADER_SIZE + 4 {
            // Pair headers may legally omit the extender; single files cannot (vox_offset >= 352).
            if self.single_file {
                w.push("file ends right after the header (no extender, no voxel data)".into());
            }
        }
        self.warnings.extend(w);
    }
}

// ---------------------------------------------------------------------------------------------
// Reading from files and walking extensions
// ---------------------------------------------------------------------------------------------

/// A byte source that can skip forward cheaply: plain files seek, gzip streams decompress and
/// discard, memory just moves the cursor.
trait Source: Read {
    fn skip(&mut self, n: u64) -> io::Result<()>;
}

struct PlainSource {
    inner: BufReader<File>,
}

impl Read for PlainSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Source for PlainSource {
    fn skip(&mut self, n: u64) -> io::Result<()> {
        // Callers bound `n` by the file length, so it fits in i64.
        let n = i64::try_from(n).map_err(|_| io::Error::other("skip distance too large"))?;
        self.inner.seek_relative(n)
    }
}

struct GzSource(MultiGzDecoder<BufReader<File>>);

impl Read for GzSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Source for GzSource {
    fn skip(&mut self, n: u64) -> io::Result<()> {
        io::copy(&mut self.0.by_ref().take(n), &mut io::sink()).map(|_| ())
    }
}

impl Source for io::Cursor<&[u8]> {
    fn skip(&mut self, n: u64) -> io::Result<()> {
        let len = self.get_ref().len() as u64;
        let pos = self.position().saturating_add(n).min(len);
        self.set_position(pos);
        Ok(())
    }
}

/// Fills `buf` as far as the source allows. Returns how much was read and the error that
/// stopped it, if any, so callers can tell "file too short" from "stream damaged".
fn read_up_to<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut filled = 0;
    while filled < buf.len() {
        let Some(rest) = buf.get_mut(filled..) else {
            break;
        };
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return (filled, Some(e)),
        }
    }
    (filled, None)
}

/// Reads exactly the fixed header plus the 4-byte extender (if present) and decodes it.
fn read_fixed<R: Source>(
    src: &mut R,
    gzipped: bool,
) -> Result<(VolumeHeader, Option<[u8; 4]>), VolumeError> {
    let mut buf = [0u8; NIFTI2_HEADER_SIZE + 4];
    let stream_err = |e: io::Error, got: usize, needed: usize| {
        if gzipped && e.kind() == io::ErrorKind::UnexpectedEof {
            VolumeError::Truncated { needed, got }
        } else if gzipped {
            VolumeError::Corrupt(format!("gzip stream is damaged: {e}"))
        } else {
            VolumeError::Io {
                action: "read",
                path: PathBuf::new(),
                source: e,
            }
        }
    };
    // Read sizeof_hdr first so that a NIfTI-1 read stops at byte 352 and never touches voxels.
    let (got, err) = read_up_to(src, buf.get_mut(..4).unwrap_or(&mut []));
    if let Some(e) = err {
        return Err(stream_err(e, got, NIFTI1_HEADER_SIZE));
    }
    let head = buf.get(..got).unwrap_or(&[]);
    let size = match detect_size(head) {
        Some((size, _)) => size,
        None if got < 4 => {
            return Err(VolumeError::Truncated {
                needed: NIFTI1_HEADER_SIZE,
                got,
            })
        }
        None => return Err(not_a_volume(head)),
    };
    let want = size + 4;
    let (more, err) = read_up_to(src, buf.get_mut(4..want).unwrap_or(&mut []));
    let total = 4 + more;
    if let Some(e) = err {
        if total < size {
            return Err(stream_err(e, total, size));
        }
        // The header itself is complete; a damaged stream right after it only loses the
        // extender, which decode + walk report as "no extensions".
    }
    let bytes = buf.get(..total).unwrap_or(&[]);
    let header = decode_fixed(bytes, gzipped)?;
    let extender = bytes
        .get(size..size + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok());
    Ok((header, extender))
}

/// Walks the extension list that starts at byte `start` (just after the extender) and ends at
/// `limit` (exclusive; `None` = until EOF). The source must be positioned at `start`.
/// Extension problems become warnings; only I/O errors of the source are returned.
fn walk_extensions<R: Source>(
    src: &mut R,
    header: &mut VolumeHeader,
    extender: Option<[u8; 4]>,
    start: u64,
    limit: Option<u64>,
) -> io::Result<()> {
    if header.format == VolumeFormat::Analyze75 {
        return Ok(()); // Analyze has no extender/extension concept.
    }
    let Some(ext) = extender else {
        return Ok(());
    };
    if ext[0] == 0 {
        return Ok(());
    }
    let what = if header.single_file {
        "vox_offset"
    } else {
        "the end of the file"
    };
    if limit.is_some_and(|l| l < start) {
        header.warnings.push(format!(
            "extender announces extensions but {what} leaves no room for them"
        ));
        return Ok(());
    }
    let order = header.byte_order;
    let cap = start.saturating_add(MAX_EXTENSION_REGION);
    let mut pos = start;
    loop {
        if let Some(l) = limit {
            if pos >= l {
                break;
            }
            if l - pos < 8 {
                header.warnings.push(format!(
                    "{} stray bytes after the last extension before {what}",
                    l - pos
                ));
                break;
            }
        }
        let mut head = [0u8; 8];
        let (got, err) = read_up_to(src, &mut head);
        if let Some(e) = err {
            return Err(e);
        }
        if got == 0 {
            if limit.is_some() && header.single_file {
                header
                    .warnings
                    .push(format!("file ends at byte {pos}, before {what}"));
            }
            break;
        }
        if got < 8 {
            header.warnings.push(format!(
                "extension list ends mid-block at byte {}",
                pos + got as u64
            ));
            break;
        }
        if header.extensions.len() >= MAX_EXTENSIONS {
            header.warnings.push(format!(
                "more than {MAX_EXTENSIONS} extensions; the rest are not listed"
            ));
            break;
        }
        let (size_raw, code_raw) = head.split_at(4);
        let rd = |s: &[u8]| {
            let a = <[u8; 4]>::try_from(s).unwrap_or([0; 4]);
            match order {
                ByteOrder::Little => i32::from_le_bytes(a),
                ByteOrder::Big => i32::from_be_bytes(a),
            }
        };
        let (esize, ecode) = (rd(size_raw), rd(code_raw));
        let n = header.extensions.len() + 1;
        if esize < 8 {
            header.warnings.push(format!(
                "extension #{n} at byte {pos} has impossible size {esize}; list not read further"
            ));
            break;
        }
        let esize_u = esize.unsigned_abs() as u64;
        if let Some(l) = limit {
            if esize_u > l - pos {
                header.warnings.push(format!(
                    "extension #{n} at byte {pos} claims {esize} bytes but only {} remain \
                     before {what}; list not read further",
                    l - pos
                ));
                break;
            }
        }
        if pos.saturating_add(esize_u) > cap {
            header.warnings.push(format!(
                "extension region exceeds {MAX_EXTENSION_REGION} bytes; not walked further"
            ));
            break;
        }
        if esize % 16 != 0 {
            header.warnings.push(format!(
                "extension #{n} size {esize} is not a multiple of 16 as the standard requires"
            ));
        }
        let data_len = esize_u - 8;
        let keep = data_len.min(SUMMARY_BYTES as u64) as usize;
        let mut data = [0u8; SUMMARY_BYTES];
        let (got, err) = read_up_to(src, data.get_mut(..keep).unwrap_or(&mut []));
        if let Some(e) = err {
            return Err(e);
        }
        if got < keep {
            header.warnings.push(format!(
                "extension #{n} at byte {pos} is cut off by end of file"
            ));
            break;
        }
        src.skip(data_len - keep as u64)?;
        header.extensions.push(Extension {
            code: ecode,
            size: esize,
            offset: pos,
            kind: ecode_name(ecode),
            summary: summarize(data.get(..keep).unwrap_or(&[])),
        });
        pos += esize_u;
    }
    Ok(())
}

/// NIFTI_ECODE_* names (as used by nibabel and the NIfTI registry).
fn ecode_name(code: i32) -> &'static str {
    match code {
        0 => "ignore",
        2 => "dicom",
        4 => "afni",
        6 => "comment",
        8 => "xcede",
        10 => "jimdiminfo",
        12 => "workflow_fwds",
        14 => "freesurfer",
        16 => "pypickle",
        18 => "mind_ident",
        20 => "b_value",
        22 => "spherical_direction",
        24 => "dt_component",
        26 => "shc_degreeorder",
        28 => "voxbo",
        30 => "caret",
        32 => "cifti",
        34 => "variable_frame_timing",
        36 => "unassigned",
        38 => "eval",
        40 => "matlab",
        42 => "quantiphyse",
        44 => "mrs",
        _ => "unknown",
    }
}

/// Short printable preview of an extension payload: stops at the first NUL, collapses
/// whitespace, shows other non-printables as `.` so terminals are never messed up.
fn summarize(data: &[u8]) -> String {
    let data = data.split(|&c| c == 0).next().unwrap_or(&[]);
    let mut out = String::with_capacity(data.len());
    let mut last_space = true;
    for &b in data {
        let c = match b {
            b' ' | b'\t' | b'\n' | b'\r' => ' ',
            0x21..=0x7e => b as char,
            _ => '.',
        };
        if c == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        out.push(c);
    }
    out.trim_end().to_string()
}

// ---------------------------------------------------------------------------------------------
// Geometry helpers
// ---------------------------------------------------------------------------------------------

fn all_finite(m: &[[f64; 4]; 4]) -> bool {
    m.iter().flatten().all(|v| v.is_finite())
}

/// Splits a case-insensitive ASCII `suffix` off `name`, returning (base, suffix as written).
fn split_suffix<'a>(name: &'a str, suffix: &str) -> Option<(&'a str, &'a str)> {
    let cut = name.len().checked_sub(suffix.len())?;
    let tail = name.get(cut..)?;
    if cut > 0 && tail.eq_ignore_ascii_case(suffix) {
        Some((name.get(..cut)?, tail))
    } else {
        None
    }
}

type M3 = [[f64; 3]; 3];

fn det3(m: &M3) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// Inverse-transpose of a 3x3 matrix (cofactor matrix / det); `None` if (nearly) singular.
fn inv_transpose(m: &M3) -> Option<M3> {
    let det = det3(m);
    if !det.is_finite() || det.abs() < 1e-12 {
        return None;
    }
    let c =
        |r0: usize, r1: usize, c0: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    Some([
        [
            c(1, 2, 1, 2) / det,
            -c(1, 2, 0, 2) / det,
            c(1, 2, 0, 1) / det,
        ],
        [
            -c(0, 2, 1, 2) / det,
            c(0, 2, 0, 2) / det,
            -c(0, 2, 0, 1) / det,
        ],
        [
            c(0, 1, 1, 2) / det,
            -c(0, 1, 0, 2) / det,
            c(0, 1, 0, 1) / det,
        ],
    ])
}

/// Orthogonal factor of the polar decomposition (the nearest rotation/reflection), via the
/// Newton iteration `X <- (X + X^-T) / 2`. This is what nibabel's `io_orientation` gets from
/// its SVD, so sheared/oblique affines get the same axis codes as nibabel reports.
fn nearest_orthogonal(m: &M3) -> Option<M3> {
    let mut x = *m;
    for _ in 0..100 {
        let it = inv_transpose(&x)?;
        let mut next = [[0.0; 3]; 3];
        let mut delta: f64 = 0.0;
        for i in 0..3 {
            for j in 0..3 {
                next[i][j] = 0.5 * (x[i][j] + it[i][j]);
                delta = delta.max((next[i][j] - x[i][j]).abs());
            }
        }
        x = next;
        if delta < 1e-12 {
            break;
        }
    }
    x.iter().flatten().all(|v| v.is_finite()).then_some(x)
}

/// nibabel-style `aff2axcodes`: normalise voxel-axis columns, take the nearest orthogonal
/// matrix, then greedily assign each voxel axis to the world axis it points along most.
fn axis_codes(aff: &[[f64; 4]; 4]) -> Option<String> {
    let mut r: M3 = [[0.0; 3]; 3];
    for (i, row) in r.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = aff[i][j];
        }
    }
    for j in 0..3 {
        let norm = (0..3).map(|i| r[i][j] * r[i][j]).sum::<f64>().sqrt();
        if norm > 0.0 {
            for row in r.iter_mut() {
                row[j] /= norm;
            }
        }
    }
    let mut q = nearest_orthogonal(&r).unwrap_or(r);
    const LABELS: [[char; 2]; 3] = [['L', 'R'], ['P', 'A'], ['I', 'S']];
    let mut out = String::with_capacity(3);
    for j in 0..3 {
        if (0..3).all(|i| q[i][j].abs() <= 1e-8) {
            return None;
        }
        let mut best = 0;
        for i in 1..3 {
            if q[i][j].abs() > q[best][j].abs() {
                best = i;
            }
        }
        let positive = q[best][j] > 0.0;
        out.push(LABELS[best][usize::from(positive)]);
        q[best] = [0.0; 3];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus_dir() -> Option<PathBuf> {
        let dir = match std::env::var_os("DICURA_CORPUS") {
            Some(d) => PathBuf::from(d),
            None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
        };
        let dir = dir.join("nifti");
        if dir.is_dir() {
            Some(dir)
        } else if std::env::var("CI").as_deref() == Ok("true") {
            panic!("corpus not found at {} but CI=true", dir.display());
        } else {
            eprintln!("skipping: corpus not found at {}", dir.display());
            None
        }
    }

    /// A minimal valid little-endian NIfTI-1 single-file header (+ zero extender).
    fn nifti1_bytes() -> Vec<u8> {
        let mut b = vec![0u8; 352];
        b[0..4].copy_from_slice(&348i32.to_le_bytes());
        let dims: [i16; 8] = [3, 4, 5, 6, 1, 1, 1, 1];
        for (i, d) in dims.iter().enumerate() {
            b[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
        }
        b[70..72].copy_from_slice(&2i16.to_le_bytes());
        b[72..74].copy_from_slice(&8i16.to_le_bytes());
        for i in 0..8 {
            b[76 + 4 * i..80 + 4 * i].copy_from_slice(&1.0f32.to_le_bytes());
        }
        b[108..112].copy_from_slice(&352.0f32.to_le_bytes());
        b[344..348].copy_from_slice(b"n+1\0");
        b
    }

    #[test]
    fn sniff_recognises_formats() {
        let b = nifti1_bytes();
        assert_eq!(
            sniff(&b, false),
            Some((VolumeFormat::Nifti1, ByteOrder::Little))
        );
        let mut a = b.clone();
        a[344..348].copy_from_slice(&[0; 4]);
        assert_eq!(sniff(&a, false), None);
        assert_eq!(
            sniff(&a, true),
            Some((VolumeFormat::Analyze75, ByteOrder::Little))
        );
        assert_eq!(sniff(&b[..100], true), None);
        assert_eq!(sniff(b"hello world", true), None);
        assert_eq!(sniff(&[], true), None);
        let mut n2 = vec![0u8; 12];
        n2[0..4].copy_from_slice(&540i32.to_be_bytes());
        n2[4..12].copy_from_slice(b"n+2\0\r\n\x1a\n");
        assert_eq!(
            sniff(&n2, false),
            Some((VolumeFormat::Nifti2, ByteOrder::Big))
        );
    }

    #[test]
    fn synthetic_nifti1_decodes() {
        let h = parse_header(&nifti1_bytes(), false).unwrap();
        assert_eq!(h.format, VolumeFormat::Nifti1);
        assert!(h.single_file);
        assert_eq!(h.magic, "n+1");
        assert_eq!(h.ndim(), 3);
        assert_eq!(h.voxel_count(), Some(120));
        assert_eq!(h.expected_data_bytes(), Some(120));
        assert_eq!(h.datatype_name(), "UINT8");
        assert!(h.warnings.is_empty(), "{:?}", h.warnings);
        assert_eq!(h.orientation(), None);
    }

    #[test]
    fn extensions_are_bounded() {
        let mut b = nifti1_bytes();
        b[348] = 1;
        b[108..112].copy_from_slice(&400.0f32.to_le_bytes());
        // one good 16-byte comment, then one claiming 2^31-16 bytes
        b.extend_from_slice(&16i32.to_le_bytes());
        b.extend_from_slice(&6i32.to_le_bytes());
        b.extend_from_slice(b"hi there");
        b.extend_from_slice(&(i32::MAX - 15).to_le_bytes());
        b.extend_from_slice(&4i32.to_le_bytes());
        b.resize(400, 0);
        let h = parse_header(&b, false).unwrap();
        assert_eq!(h.extensions.len(), 1);
        assert_eq!(h.extensions[0].kind, "comment");
        assert_eq!(h.extensions[0].summary, "hi there");
        assert!(h.warnings.iter().any(|w| w.contains("claims")));
        // Negative and tiny sizes stop the walk too.
        let mut c = b.clone();
        c[368..372].copy_from_slice(&(-16i32).to_le_bytes());
        let h = parse_header(&c, false).unwrap();
        assert_eq!(h.extensions.len(), 1);
        assert!(h.warnings.iter().any(|w| w.contains("impossible size")));
    }

    #[test]
    fn many_tiny_extensions_are_capped() {
        let mut b = nifti1_bytes();
        b[348] = 1;
        let n = MAX_EXTENSIONS + 10;
        let vox = 352 + 16 * n;
        b[108..112].copy_from_slice(&(vox as f32).to_le_bytes());
        for _ in 0..n {
            b.extend_from_slice(&16i32.to_le_bytes());
            b.extend_from_slice(&0i32.to_le_bytes());
            b.extend_from_slice(&[0u8; 8]);
        }
        let h = parse_header(&b, false).unwrap();
        assert_eq!(h.extensions.len(), MAX_EXTENSIONS);
        assert!(h.warnings.iter().any(|w| w.contains("more than")));
    }

    #[test]
    fn truncation_at_every_length_never_panics() {
        let mut full = nifti1_bytes();
        full[348] = 1;
        full.extend_from_slice(&32i32.to_le_bytes());
        full.extend_from_slice(&6i32.to_le_bytes());
        full.resize(560, b'x');
        for len in 0..=full.len() {
            let r = parse_header(&full[..len], false);
            if len < 348 {
                assert!(
                    matches!(r, Err(VolumeError::Truncated { .. })),
                    "len {len}: {r:?}"
                );
            } else {
                assert!(r.is_ok(), "len {len}: {r:?}");
            }
        }
    }

    #[test]
    fn hostile_field_values_do_not_panic() {
        let mut b = nifti1_bytes();
        b[40..42].copy_from_slice(&200i16.to_le_bytes());
        for i in 1..8 {
            b[40 + 2 * i..42 + 2 * i].copy_from_slice(&(-7i16).to_le_bytes());
        }
        for i in 0..8 {
            b[76 + 4 * i..80 + 4 * i].copy_from_slice(&f32::NAN.to_le_bytes());
        }
        b[108..112].copy_from_slice(&f32::INFINITY.to_le_bytes());
        b[252..254].copy_from_slice(&1i16.to_le_bytes());
        b[254..256].copy_from_slice(&1i16.to_le_bytes());
        for off in (256..328).step_by(4) {
            b[off..off + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        }
        b[348] = 1;
        let h = parse_header(&b, false).unwrap();
        assert_eq!(h.ndim(), 7);
        assert_eq!(h.voxel_count(), None);
        assert_eq!(h.expected_data_bytes(), None);
        assert_eq!(h.qform_matrix(), None);
        assert_eq!(h.sform_matrix(), None);
        assert_eq!(h.orientation(), None);
        assert!(!h.warnings.is_empty());
        let _ = serde_json::to_string(&h).unwrap();
    }

    #[test]
    fn huge_dims_overflow_to_none() {
        let mut b = vec![0u8; 544];
        b[0..4].copy_from_slice(&540i32.to_le_bytes());
        b[4..12].copy_from_slice(b"n+2\0\r\n\x1a\n");
        b[16..24].copy_from_slice(&7i64.to_le_bytes());
        for i in 1..8 {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&i64::MAX.to_le_bytes());
        }
        b[14..16].copy_from_slice(&i16::MAX.to_le_bytes());
        b[168..176].copy_from_slice(&i64::MAX.to_le_bytes());
        b[344..348].copy_from_slice(&i32::MAX.to_le_bytes());
        b[540] = 1;
        let h = parse_header(&b, false).unwrap();
        assert_eq!(h.voxel_count(), None);
        assert_eq!(h.qform_code, i16::MAX);
        assert_eq!(VolumeHeader::xform_name(h.qform_code), "invalid");
    }

    #[test]
    fn random_bytes_never_panic() {
        // xorshift so the test is deterministic without a rand dependency
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for round in 0..3000 {
            let len = (next() % 700) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Force a recognised sizeof_hdr in most rounds so the decoders get exercised.
            if b.len() >= 4 {
                let size: i32 = if round % 2 == 0 { 348 } else { 540 };
                let raw = if round % 3 == 0 {
                    size.to_be_bytes()
                } else {
                    size.to_le_bytes()
                };
                b[0..4].copy_from_slice(&raw);
                if size == 540 && b.len() >= 8 && round % 5 != 0 {
                    b[4..8].copy_from_slice(b"n+2\0");
                }
                if size == 348 && b.len() >= 348 && round % 4 != 0 {
                    b[344..348].copy_from_slice(b"n+1\0");
                }
            }
            if let Ok(h) = parse_header(&b, false) {
                let _ = (h.voxel_count(), h.expected_data_bytes(), h.orientation());
                let _ = (h.qform_matrix(), h.data_path(Path::new("x.hdr")));
            }
            let _ = sniff(&b, true);
        }
    }

    #[test]
    fn data_path_handles_pairs() {
        let mut h = parse_header(&nifti1_bytes(), false).unwrap();
        assert_eq!(
            h.data_path(Path::new("/a/b.nii")),
            PathBuf::from("/a/b.nii")
        );
        h.single_file = false;
        assert_eq!(
            h.data_path(Path::new("/a/b.hdr")),
            PathBuf::from("/a/b.img")
        );
        assert_eq!(
            h.data_path(Path::new("/a/B.HDR")),
            PathBuf::from("/a/B.IMG")
        );
        assert_eq!(
            h.data_path(Path::new("/a/b.Hdr.GZ")),
            PathBuf::from("/a/b.Img.GZ")
        );
        assert_eq!(
            h.data_path(Path::new("/a/hdr")),
            PathBuf::from("/a/hdr.img")
        );
    }

    #[test]
    fn orientation_of_oblique_and_flipped_affines() {
        let mut h = parse_header(&nifti1_bytes(), false).unwrap();
        h.sform_code = 1;
        h.srow_x = [0.0, 0.0, -1.0, 0.0];
        h.srow_y = [-1.0, 0.0, 0.0, 0.0];
        h.srow_z = [0.0, 1.0, 0.0, 0.0];
        assert_eq!(h.orientation().as_deref(), Some("PSL"));
        // 30-degree rotation about z: still nearest to RAS
        let (s, c) = (30f64.to_radians().sin(), 30f64.to_radians().cos());
        h.srow_x = [c, -s, 0.0, 0.0];
        h.srow_y = [s, c, 0.0, 0.0];
        h.srow_z = [0.0, 0.0, 1.0, 0.0];
        assert_eq!(h.orientation().as_deref(), Some("RAS"));
        // Singular sform with qform fallback not coded -> None
        h.srow_x = [0.0; 4];
        assert_eq!(h.orientation(), None);
    }

    #[test]
    fn gz_and_plain_files_read_the_same() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut b = nifti1_bytes();
        b[348] = 1;
        b[108..112].copy_from_slice(&384.0f32.to_le_bytes());
        b.extend_from_slice(&32i32.to_le_bytes());
        b.extend_from_slice(&4i32.to_le_bytes());
        b.extend_from_slice(b"afni stuff\0");
        b.resize(384 + 120, 7);
        let plain = dir.path().join("x.nii");
        std::fs::write(&plain, &b).unwrap();
        let gz = dir.path().join("x.nii.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&b).unwrap();
        let gzb = enc.finish().unwrap();
        std::fs::write(&gz, &gzb).unwrap();
        let hp = read_header(&plain).unwrap();
        let hg = read_header(&gz).unwrap();
        assert!(!hp.gzipped && hg.gzipped);
        for h in [&hp, &hg] {
            assert_eq!(h.extensions.len(), 1, "{:?}", h.warnings);
            assert_eq!(h.extensions[0].kind, "afni");
            assert_eq!(h.extensions[0].summary, "afni stuff");
            assert!(h.warnings.is_empty(), "{:?}", h.warnings);
        }
        // A gzip stream cut inside the header is Truncated or Corrupt, never a panic.
        for cut in [0usize, 5, 10, 20, gzb.len() / 2] {
            let p = dir.path().join(format!("cut{cut}.nii.gz"));
            std::fs::write(&p, &gzb[..cut]).unwrap();
            let r = read_header(&p);
            if cut < 20 {
                assert!(
                    matches!(
                        r,
                        Err(VolumeError::Truncated { .. } | VolumeError::Corrupt(_))
                    ),
                    "cut {cut}: {r:?}"
                );
            }
        }
        let empty = dir.path().join("empty.nii");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(
            read_header(&empty),
            Err(VolumeError::Truncated { got: 0, .. })
        ));
        assert!(matches!(
            read_header(&dir.path().join("missing.nii")),
            Err(VolumeError::Io { .. })
        ));
        // Raw gzip bytes handed to the pure parser get a helpful message.
        let e = parse_header(&gzb, true).unwrap_err().to_string();
        assert!(e.contains("gzip"), "{e}");
    }

    #[test]
    fn corpus_formats() {
        let Some(dir) = corpus_dir() else { return };
        let cases = [
            (
                "analyze.hdr",
                VolumeFormat::Analyze75,
                ByteOrder::Big,
                false,
                0,
            ),
            (
                "anatomical.nii",
                VolumeFormat::Nifti1,
                ByteOrder::Big,
                true,
                0,
            ),
            (
                "functional.nii",
                VolumeFormat::Nifti1,
                ByteOrder::Little,
                true,
                0,
            ),
            (
                "example4d.nii.gz",
                VolumeFormat::Nifti1,
                ByteOrder::Little,
                true,
                2,
            ),
            (
                "example_nifti2.nii.gz",
                VolumeFormat::Nifti2,
                ByteOrder::Little,
                true,
                2,
            ),
            (
                "nifti1.hdr",
                VolumeFormat::Nifti1,
                ByteOrder::Little,
                false,
                0,
            ),
            (
                "nifti2.hdr",
                VolumeFormat::Nifti2,
                ByteOrder::Little,
                false,
                0,
            ),
            (
                "row_major.dconn.nii",
                VolumeFormat::Nifti2,
                ByteOrder::Little,
                true,
                1,
            ),
            (
                "standard.nii.gz",
                VolumeFormat::Nifti1,
                ByteOrder::Little,
                true,
                0,
            ),
        ];
        for (name, format, order, single, n_ext) in cases {
            let h = read_header(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(h.format, format, "{name}");
            assert_eq!(h.byte_order, order, "{name}");
            assert_eq!(h.single_file, single, "{name}");
            assert_eq!(h.gzipped, name.ends_with(".gz"), "{name}");
            assert_eq!(h.extensions.len(), n_ext, "{name}: {:?}", h.warnings);
        }
    }
}
