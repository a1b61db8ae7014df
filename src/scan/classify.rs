//! What one file is, by its content: DICOM, NIfTI, Analyze, the voxel half of a pair, or
//! other. Files are opened read-only, once, and only their headers are read.

use crate::catalogue::{
    FileKind, FileStatus, InstanceRow, KnownFile, Payload, ScannedFile, VolumeRow,
};
use crate::formats::dicom::{self, HeaderError, Limits};
use crate::formats::nifti;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Extensions under which a file that fails to parse is still reported as broken DICOM
/// rather than as some other file.
const DICOM_EXTENSIONS: &[&str] = &["dcm", "dicom", "dic", "ima"];

/// Lower-case extension; `nii.gz`-style double extensions are kept whole.
pub fn extension_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let mut parts = name.rsplitn(3, '.');
    let last = parts.next()?;
    let before = parts.next()?;
    if last == "gz" && parts.next().is_some() {
        Some(format!("{before}.gz"))
    } else {
        Some(last.to_string())
    }
}

/// Reads and classifies one file, running the per-file checks on its parsed header.
pub fn classify(
    path: &Path,
    root: usize,
    meta: &std::fs::Metadata,
    previous: Option<&KnownFile>,
    limits: &Limits,
) -> ScannedFile {
    classify_with(path, root, meta, previous, limits, true)
}

/// [`classify`], with the per-file checks ([`crate::checks`]) on or off.
pub fn classify_with(
    path: &Path,
    root: usize,
    meta: &std::fs::Metadata,
    previous: Option<&KnownFile>,
    limits: &Limits,
    checks: bool,
) -> ScannedFile {
    let (text, raw) = super::path_text(path);
    let ext = extension_of(path);
    let mut out = ScannedFile {
        path: text,
        path_raw: raw,
        root,
        size: meta.len(),
        mtime_s: meta.mtime(),
        mtime_ns: meta.mtime_nsec(),
        ctime_ns: meta.ctime().saturating_mul(1_000_000_000) + meta.ctime_nsec(),
        dev: meta.dev(),
        ino: meta.ino(),
        kind: FileKind::Other,
        status: FileStatus::Ok,
        error: None,
        ext,
        previous: previous.map(|k| k.id),
        event: previous.map(|k| if k.removed { "restored" } else { "changed" }),
        payload: Payload::None,
        findings: Vec::new(),
    };
    let ft = meta.file_type();
    if !ft.is_file() {
        // Never open FIFOs, sockets or devices: opening a FIFO blocks.
        let what = if ft.is_fifo() {
            "a named pipe (FIFO)"
        } else if ft.is_socket() {
            "a socket"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_char_device() {
            "a character device"
        } else {
            "not a regular file"
        };
        out.kind = FileKind::Unreadable;
        out.status = FileStatus::Unreadable;
        out.error = Some(format!("special file: {what}, not read"));
        return out;
    }
    if let Err(reason) = read_into(path, meta.len(), limits, &mut out, checks) {
        out.kind = FileKind::Unreadable;
        out.status = FileStatus::Unreadable;
        out.error = Some(reason);
        out.payload = Payload::None;
        out.findings.clear();
    }
    if checks {
        crate::checks::unparsed_file_findings(&mut out);
    }
    out
}

/// Fills in kind, status and payload; `Err` only when the file cannot be read at all.
fn read_into(
    path: &Path,
    size: u64,
    limits: &Limits,
    out: &mut ScannedFile,
    checks: bool,
) -> Result<(), String> {
    let mut file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut head = [0u8; 560];
    let n = read_up_to(&mut file, &mut head).map_err(|e| format!("cannot read: {e}"))?;
    let head = &head[..n];
    let ext = out.ext.as_deref().unwrap_or("");
    let dicom_ext = DICOM_EXTENSIONS.contains(&ext);

    let part10 = (n >= 132 && &head[128..132] == b"DICM") || (n >= 4 && &head[0..4] == b"DICM");
    if part10 || dicom::looks_like_dicom(head) {
        file.seek(SeekFrom::Start(0))
            .map_err(|e| format!("cannot read: {e}"))?;
        return match dicom::read_header_file(file, size, limits) {
            Ok(h) => {
                set_dicom(out, &h);
                if checks {
                    out.findings = crate::checks::check_dicom_header(&h);
                }
                Ok(())
            }
            Err(HeaderError::Io(e)) => Err(format!("cannot read: {e}")),
            Err(HeaderError::NotDicom) if !part10 && !dicom_ext => {
                out.kind = FileKind::Other;
                Ok(())
            }
            Err(e) => {
                out.kind = FileKind::Dicom;
                out.status = FileStatus::Corrupt;
                out.error = Some(e.to_string());
                Ok(())
            }
        };
    }

    let gz = n >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    let hdr_ext = matches!(ext, "hdr" | "hdr.gz");
    let volume_ext = matches!(ext, "nii" | "nii.gz" | "hdr" | "hdr.gz");
    if (gz && volume_ext) || nifti::sniff(head, hdr_ext).is_some() {
        drop(file);
        match nifti::read_header(path) {
            Ok(h) => {
                let data_size = set_volume(out, path, &h);
                if checks {
                    out.findings = crate::checks::check_volume_header(&h, out.size, data_size);
                }
                return Ok(());
            }
            Err(nifti::VolumeError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                return Err(format!("cannot read: {source}"));
            }
            Err(e) => {
                if volume_ext {
                    out.kind = if ext.starts_with("hdr") && !gz {
                        FileKind::Analyze
                    } else {
                        FileKind::Nifti
                    };
                    out.status = match e {
                        nifti::VolumeError::Truncated { .. } => FileStatus::Truncated,
                        _ => FileStatus::Corrupt,
                    };
                    out.error = Some(e.to_string());
                    return Ok(());
                }
            }
        }
    }

    if dicom_ext {
        out.kind = FileKind::Dicom;
        out.status = FileStatus::Corrupt;
        out.error = Some(if n == 0 {
            "empty file".to_string()
        } else {
            "not a DICOM file: no DICM marker and no recognisable data set".to_string()
        });
        return Ok(());
    }
    if matches!(ext, "img" | "img.gz") && has_header_partner(path) {
        out.kind = FileKind::VolumeData;
        return Ok(());
    }
    out.kind = FileKind::Other;
    Ok(())
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Whether an `.img` has its `.hdr` beside it (any case of the extension).
fn has_header_partner(img: &Path) -> bool {
    let Some(name) = img.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return false;
    };
    let lower = name.to_ascii_lowercase();
    let stem_len = if lower.ends_with(".img.gz") {
        name.len() - 7
    } else {
        name.len() - 4
    };
    let stem = &name[..stem_len];
    ["hdr", "HDR", "Hdr", "hdr.gz", "HDR.gz"]
        .iter()
        .any(|e| img.with_file_name(format!("{stem}.{e}")).exists())
}

fn set_dicom(out: &mut ScannedFile, h: &dicom::DicomHeader) {
    out.kind = FileKind::Dicom;
    let first = |code: &str| h.problems.iter().find(|p| p.code == code);
    if let Some(p) = first("file.truncated") {
        out.status = FileStatus::Truncated;
        out.error = Some(p.message.clone());
    } else if let Some(p) = first("file.corrupt") {
        out.status = FileStatus::Corrupt;
        out.error = Some(p.message.clone());
    }
    out.payload = Payload::Dicom(Box::new(InstanceRow::from_header(h)));
}

/// Fills in the volume payload; returns the voxel file's size when it exists.
fn set_volume(out: &mut ScannedFile, path: &Path, h: &nifti::VolumeHeader) -> Option<u64> {
    out.kind = match h.format {
        nifti::VolumeFormat::Analyze75 => FileKind::Analyze,
        _ => FileKind::Nifti,
    };
    let data_path = h.data_path(path);
    let data_size = if h.single_file {
        Some(out.size)
    } else {
        std::fs::metadata(&data_path).ok().map(|m| m.len())
    };
    if h.expected_data_bytes().is_none() {
        // Negative, zero-rank or overflowing dimensions: no volume has this shape.
        out.status = FileStatus::Corrupt;
        out.error = Some(format!(
            "dim {:?} with bitpix {} describes no valid voxel data size",
            &h.dim[..=h.ndim()],
            h.bitpix
        ));
    } else if !h.single_file && data_size.is_none() {
        out.error = Some(format!(
            "voxel file {} is missing",
            data_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
    } else if h.single_file && !h.gzipped {
        // An uncompressed .nii must hold vox_offset + the voxels its header describes.
        if let Some(need) = h
            .expected_data_bytes()
            .and_then(|b| b.checked_add(h.vox_offset.max(0.0) as u64))
        {
            if need > out.size {
                out.status = FileStatus::Truncated;
                out.error = Some(format!(
                    "header describes {need} bytes of header and voxels but the file has {}",
                    out.size
                ));
            }
        }
    }
    out.payload = Payload::Volume(Box::new(VolumeRow::from_header(h, &data_path, data_size)));
    data_size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        assert_eq!(
            extension_of(Path::new("/a/b.nii.gz")).as_deref(),
            Some("nii.gz")
        );
        assert_eq!(extension_of(Path::new("/a/b.DCM")).as_deref(), Some("dcm"));
        assert_eq!(extension_of(Path::new("/a/b.gz")).as_deref(), Some("gz"));
        assert_eq!(extension_of(Path::new("/a/IM0001")), None);
    }
}
