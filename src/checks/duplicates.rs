//! Duplicates: byte-identical files, one SOP Instance UID in several files (an identical copy,
//! or a UID conflict when the content differs), identical pixel data under different UIDs (a
//! re-exported copy), NIfTI/Analyze volumes with identical voxel data. (UID collisions of studies
//! and series are found by the study and series passes.)
//!
//! Only files that can have a twin are ever read (same size and SOP Instance UID; same pixel
//! data length and position; same size or voxel data length for volumes), and a file is hashed
//! once per content: hashes are stored with the scan time of the content they
//! describe. Every member of a duplicate set carries the set's `group` id, so a curator sees each
//! set once.

use super::engine::{file_subject, Finding};
use crate::catalogue::findings::{DuplicateInfo, FileHashes, HashCandidate};
use crate::catalogue::{Catalogue, CatalogueError};
use crate::formats::dicom::tags;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io::Read;
use xxhash_rust::xxh3::Xxh3;

/// Voxel data read at most from one gzipped volume.
const MAX_INFLATED: u64 = 4 << 30;

fn hex128(h: u128) -> String {
    format!("{h:032x}")
}

/// Feeds `[start, end)` of a stream (positions counted by `pos`) to `h`, noting if all bytes
/// are the same.
struct Region {
    start: u64,
    end: u64,
    hasher: Xxh3,
    first: Option<u8>,
    constant: bool,
    seen: u64,
}

impl Region {
    fn new(start: u64, end: u64) -> Region {
        Region {
            start,
            end,
            hasher: Xxh3::new(),
            first: None,
            constant: true,
            seen: 0,
        }
    }
    fn feed(&mut self, pos: u64, chunk: &[u8]) {
        let lo = self.start.max(pos);
        let hi = self.end.min(pos + chunk.len() as u64);
        if lo >= hi {
            return;
        }
        let part = &chunk[(lo - pos) as usize..(hi - pos) as usize];
        self.hasher.update(part);
        self.seen += part.len() as u64;
        if self.constant {
            let first = *self.first.get_or_insert(part[0]);
            self.constant = part.iter().all(|b| *b == first);
        }
    }
}

thread_local! {
    /// One read buffer per hashing thread (not one allocation per file).
    static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 128 * 1024]);
}

fn stream(mut r: impl Read, mut on_chunk: impl FnMut(u64, &[u8])) -> std::io::Result<()> {
    BUF.with(|b| {
        let mut buf = b.borrow_mut();
        let mut pos = 0u64;
        loop {
            let n = match r.read(&mut buf[..]) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            on_chunk(pos, &buf[..n]);
            pos += n as u64;
        }
    })
}

/// Hashes one candidate; `None` if it cannot be read (it changed or vanished since the scan).
fn hash_one(c: &HashCandidate) -> Option<FileHashes> {
    let file = std::fs::File::open(&c.path).ok()?;
    let mut content = Xxh3::new();
    let mut region = match (c.kind.as_str(), c.pixel_offset) {
        ("dicom", Some(off)) if !c.deflated => {
            let start = off.max(0) as u64;
            let end = match c.pixel_length {
                Some(n) => start.saturating_add(n.max(0) as u64),
                None => u64::MAX,
            };
            Some(Region::new(start, end))
        }
        ("nifti", _) if c.data_path.as_deref() == Some(c.path.as_str()) && !c.gzipped => {
            let start = c.vox_offset.unwrap_or(0.0).max(0.0) as u64;
            let end = start.saturating_add(c.expected_bytes.unwrap_or(i64::MAX).max(0) as u64);
            Some(Region::new(start, end))
        }
        _ => None,
    };
    stream(file, |pos, chunk| {
        content.update(chunk);
        if let Some(r) = region.as_mut() {
            r.feed(pos, chunk);
        }
    })
    .ok()?;
    // Voxels that live elsewhere: a gzipped .nii, or the .img of a pair.
    if region.is_none() && matches!(c.kind.as_str(), "nifti" | "analyze") {
        if let (Some(data), Some(expected)) = (&c.data_path, c.expected_bytes) {
            // vox_offset counts in the decompressed .nii, or in the .img of a pair.
            let start = c.vox_offset.unwrap_or(0.0).max(0.0) as u64;
            let end = start.saturating_add(expected.max(0) as u64);
            let mut r = Region::new(start, end);
            let f = std::fs::File::open(data).ok()?;
            let gz = {
                let mut head = [0u8; 2];
                let mut probe = std::fs::File::open(data).ok()?;
                probe.read_exact(&mut head).is_ok() && head == [0x1f, 0x8b]
            };
            let ok = if gz {
                let dec = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f))
                    .take(end.min(MAX_INFLATED));
                stream(dec, |pos, chunk| r.feed(pos, chunk)).is_ok()
            } else {
                stream(std::io::BufReader::new(f).take(end), |pos, chunk| {
                    r.feed(pos, chunk)
                })
                .is_ok()
            };
            if ok && r.seen == expected as u64 {
                region = Some(r);
            }
        }
    }
    let (pixel_hash, pixel_constant) = match region {
        Some(r) if r.seen > 0 => (Some(hex128(r.hasher.digest128())), r.constant),
        _ => (None, false),
    };
    Some(FileHashes {
        file_id: c.file_id,
        content_hash: Some(hex128(content.digest128())),
        pixel_hash,
        pixel_constant,
    })
}

/// Hashes what needs hashing, then groups duplicates. Returns the findings and how many files
/// were read.
pub fn check(cat: &Catalogue) -> Result<(Vec<Finding>, usize), CatalogueError> {
    let candidates = cat.hash_candidates()?;
    let stale: Vec<&HashCandidate> = candidates.iter().filter(|c| !c.hashed).collect();
    let hashed: Vec<(i64, f64, FileHashes)> = stale
        .par_iter()
        .filter_map(|c| hash_one(c).map(|h| (c.file_id, c.scanned_at, h)))
        .collect();
    cat.store_hashes(&hashed)?;
    let infos = cat.duplicate_infos()?;
    let g = group(&infos);
    Ok((g, hashed.len()))
}

fn member(code: &'static str, i: &DuplicateInfo, group: &str, message: String) -> Finding {
    let mut f = Finding::new(code, file_subject(&i.path), message);
    f.file_id = Some(i.file_id);
    f.series_uid = i.series_uid.clone();
    f.study_uid = i.study_uid.clone();
    f.group = Some(group.to_string());
    f
}

fn others(n: usize) -> String {
    format!("{} other file{}", n - 1, if n == 2 { "" } else { "s" })
}

/// Groups files into duplicate sets (pure: unit-testable without files).
pub fn group(infos: &[DuplicateInfo]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut by_content: BTreeMap<&str, Vec<&DuplicateInfo>> = BTreeMap::new();
    let mut by_uid: BTreeMap<&str, Vec<&DuplicateInfo>> = BTreeMap::new();
    // A re-exported copy keeps the image: the same pixels at the same position (images that
    // merely look alike, e.g. blank-ish end slices of different series, are at other positions).
    // Volumes are compared within one format.
    let mut by_pixels: BTreeMap<(&str, &str, &str), Vec<&DuplicateInfo>> = BTreeMap::new();
    for i in infos {
        if let Some(h) = &i.content_hash {
            by_content.entry(h).or_default().push(i);
        }
        if let (Some(u), "ok") = (&i.sop_instance_uid, i.status.as_str()) {
            by_uid.entry(u).or_default().push(i);
        }
        if let (Some(h), false) = (&i.pixel_hash, i.pixel_constant) {
            let position = i.image_position.as_deref().unwrap_or("");
            by_pixels
                .entry((h, i.kind.as_str(), position))
                .or_default()
                .push(i);
        }
    }
    for (hash, set) in &by_content {
        if set.len() < 2 {
            continue;
        }
        let g = format!("identical:{}", &hash[..16.min(hash.len())]);
        let same_uid = set[0].sop_instance_uid.is_some()
            && set
                .iter()
                .all(|i| i.sop_instance_uid == set[0].sop_instance_uid);
        let note = if same_uid {
            " (same SOP Instance UID: a duplicate copy)"
        } else {
            ""
        };
        for i in set {
            out.push(member(
                "duplicate.identical_files",
                i,
                &g,
                format!("byte-identical to {}{note}", others(set.len())),
            ));
        }
    }
    for (uid, set) in &by_uid {
        if set.len() < 2 {
            continue;
        }
        let first = &set[0].content_hash;
        if first.is_some() && set.iter().all(|i| &i.content_hash == first) {
            continue; // identical copies, reported above
        }
        let g = format!("uid:{}", super::series::short_hash(uid));
        for i in set {
            let mut f = member(
                "duplicate.uid_conflict",
                i,
                &g,
                format!(
                    "SOPInstanceUID (0008,0018) is shared with {} whose content differs: a UID conflict",
                    others(set.len())
                ),
            );
            f.tag = Some(tags::SOP_INSTANCE_UID);
            out.push(f);
        }
    }
    for ((hash, _, position), set) in &by_pixels {
        if set.len() < 2 {
            continue;
        }
        let first = &set[0].content_hash;
        if first.is_some() && set.iter().all(|i| &i.content_hash == first) {
            continue; // byte-identical, reported above
        }
        let g = format!(
            "pixels:{}",
            super::series::short_hash(&format!("{hash} {position}"))
        );
        let dicom = set.iter().all(|i| i.kind == "dicom");
        if dicom {
            let mut uids: Vec<&str> = set
                .iter()
                .filter_map(|i| i.sop_instance_uid.as_deref())
                .collect();
            uids.sort_unstable();
            uids.dedup();
            if uids.len() < 2 {
                continue; // same UID: a UID conflict or copy, reported above
            }
            for i in set {
                out.push(member(
                    "duplicate.pixel_copy",
                    i,
                    &g,
                    format!(
                        "pixel data identical to {} with a different SOP Instance UID (a re-exported copy)",
                        others(set.len())
                    ),
                ));
            }
        } else if set.iter().all(|i| i.kind != "dicom") {
            for i in set {
                out.push(member(
                    "duplicate.volume_data",
                    i,
                    &g,
                    format!("voxel data identical to {}", others(set.len())),
                ));
            }
        }
    }
    out
}
