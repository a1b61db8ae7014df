//! Findings in the catalogue: writing them per pass, paged reading (a pane with a million
//! findings stays responsive: every listing is an indexed keyset page), acknowledgements, and
//! the data the cross-file checks read.

use super::{Catalogue, Result};
use crate::checks::engine::{tag_text, FileFinding, Finding, Severity};
use crate::formats::dicom::keyword;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// One stored finding, as listed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FindingRow {
    pub id: i64,
    pub code: String,
    pub severity: String,
    pub message: String,
    /// The file's path, or for a series/study/folder finding the path shown for it.
    pub path: Option<String>,
    pub file_id: Option<i64>,
    pub subject: String,
    pub tag: Option<String>,
    pub tag_path: Option<String>,
    pub keyword: Option<String>,
    pub series_uid: Option<String>,
    pub study_uid: Option<String>,
    pub group: Option<String>,
    pub acknowledged: bool,
    pub ack_reason: Option<String>,
}

/// Which findings to list or count.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    /// Only findings at or above this severity.
    pub min_severity: Option<Severity>,
    /// Only this rule (exact code: an index range) or, ending in `.`, this family prefix (e.g.
    /// `series.`; a scan of the findings, for exports rather than interactive paging).
    pub code: Option<String>,
    pub file_id: Option<i64>,
    pub series_uid: Option<String>,
    pub study_uid: Option<String>,
    /// Acknowledged findings are listed too (marked), unless this is false.
    pub include_acknowledged: bool,
}

/// Counts per (severity, rule), for a grouped overview.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FindingGroup {
    pub severity: String,
    pub code: String,
    pub count: i64,
    pub acknowledged: i64,
}

/// What the scan left for the cross-file passes.
#[derive(Debug, Clone, Default)]
pub struct Pending {
    pub series: Vec<String>,
    pub studies: Vec<String>,
    /// Something changed: dataset-wide passes (duplicates, outliers) are due.
    pub dataset: bool,
}

/// The attributes the series checks need of one instance.
#[derive(Debug, Clone, Default)]
pub struct SeriesInstance {
    pub file_id: i64,
    pub path: String,
    pub study_uid: String,
    pub sop_class_uid: Option<String>,
    pub instance_number: Option<i64>,
    pub rows: Option<i64>,
    pub columns: Option<i64>,
    pub frames: Option<i64>,
    pub pixel_spacing: Option<String>,
    pub image_position: Option<String>,
    pub image_orientation: Option<String>,
    pub frame_of_reference: Option<String>,
    pub modality: Option<String>,
    pub sop_instance_uid: Option<String>,
}

/// A file that may have a byte-identical or pixel-identical twin.
#[derive(Debug, Clone)]
pub struct HashCandidate {
    pub file_id: i64,
    pub path: String,
    pub kind: String,
    pub scanned_at: f64,
    pub size: i64,
    /// DICOM: pixel data offset and length (length `None` for encapsulated: to end of file).
    pub pixel_offset: Option<i64>,
    pub pixel_length: Option<i64>,
    pub deflated: bool,
    /// NIfTI/Analyze: voxel file, voxel offset, gzipped, expected bytes.
    pub data_path: Option<String>,
    pub vox_offset: Option<f64>,
    pub gzipped: bool,
    pub expected_bytes: Option<i64>,
    /// Whether the stored hashes are still valid.
    pub hashed: bool,
}

/// Hashes of one file, as stored.
#[derive(Debug, Clone)]
pub struct FileHashes {
    pub file_id: i64,
    pub content_hash: Option<String>,
    pub pixel_hash: Option<String>,
    pub pixel_constant: bool,
}

/// What the duplicate pass knows of a hashed or UID-sharing file.
#[derive(Debug, Clone)]
pub struct DuplicateInfo {
    pub file_id: i64,
    pub path: String,
    pub kind: String,
    pub sop_instance_uid: Option<String>,
    pub series_uid: Option<String>,
    pub study_uid: Option<String>,
    pub content_hash: Option<String>,
    pub pixel_hash: Option<String>,
    pub pixel_constant: bool,
    pub image_position: Option<String>,
    /// `ok`, `truncated`, `corrupt`: broken files are not counted as UID conflicts (their
    /// truncation or corruption is the finding).
    pub status: String,
}

/// One series row of the dataset overview (outliers and protocol checks).
#[derive(Debug, Clone, Default)]
pub struct SeriesSummary {
    pub series_uid: String,
    pub study_uid: String,
    pub modality: Option<String>,
    pub description: Option<String>,
    pub manufacturer: Option<String>,
    pub rows: Option<i64>,
    pub columns: Option<i64>,
    pub pixel_spacing: Option<String>,
    pub slice_thickness: Option<f64>,
    pub contrast: bool,
    pub folder: Option<String>,
}

/// Something deep checks read: a DICOM instance's pixel layout.
#[derive(Debug, Clone)]
pub struct PixelSource {
    pub file_id: i64,
    pub path: String,
    pub scanned_at: f64,
    pub series_uid: Option<String>,
    pub study_uid: Option<String>,
    pub transfer_syntax: Option<String>,
    pub pixel_offset: Option<i64>,
    pub pixel_length: Option<i64>,
    pub encapsulated: bool,
    pub rows: Option<i64>,
    pub columns: Option<i64>,
    pub frames: Option<i64>,
    pub samples: Option<i64>,
    pub bits_allocated: Option<i64>,
    pub bits_stored: Option<i64>,
    pub pixel_representation: Option<i64>,
    pub lossy_flag: bool,
}

const ACK_LOOKUP: &str = "(SELECT a.id FROM acknowledgements a WHERE a.code = ?1 AND a.subject = ?2
                          AND a.tag IN ('', coalesce(?3, '')) ORDER BY a.tag DESC LIMIT 1)";

/// Writes the per-file findings of one file (inside the scan's transaction).
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_file_findings(
    c: &Connection,
    file_id: i64,
    path: &str,
    series_uid: Option<&str>,
    study_uid: Option<&str>,
    findings: &[FileFinding],
    source: &str,
    t: f64,
) -> rusqlite::Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    let subject = crate::checks::engine::file_subject(path);
    let mut stmt = c.prepare_cached(&format!(
        "INSERT INTO findings(code, severity, rank, message, source, subject, file_id, tag, tag_path,
                              keyword, series_uid, study_uid, ack_id, created)
         VALUES (?1, ?4, ?5, ?6, ?7, ?2, ?8, ?3, ?9, ?10, ?11, ?12, {ACK_LOOKUP}, ?13)"
    ))?;
    for f in findings {
        let tag = f.tag.map(tag_text);
        stmt.execute(params![
            f.code,
            subject,
            tag,
            f.severity.as_str(),
            f.severity.rank(),
            f.message,
            source,
            file_id,
            f.tag_path,
            f.tag.and_then(keyword),
            series_uid,
            study_uid,
            t
        ])?;
    }
    Ok(())
}

/// Marks the series and study of a file's current instance row as due for cross-file checks.
pub(crate) fn mark_pending_of_file(c: &Connection, file_id: i64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT OR IGNORE INTO check_pending(kind, uid)
         SELECT 'series', series_uid FROM instances WHERE file_id = ?1 AND series_uid IS NOT NULL
         UNION ALL SELECT 'study', study_uid FROM instances WHERE file_id = ?1 AND study_uid IS NOT NULL",
    )?
    .execute([file_id])?;
    Ok(())
}

pub(crate) fn mark_pending(c: &Connection, kind: &str, uid: &str) -> rusqlite::Result<()> {
    c.prepare_cached("INSERT OR IGNORE INTO check_pending(kind, uid) VALUES (?1, ?2)")?
        .execute(params![kind, uid])?;
    Ok(())
}

/// Removes a file's own findings (per-file and deep) before it is rewritten or marked removed.
pub(crate) fn clear_file_findings(c: &Connection, file_id: i64) -> rusqlite::Result<()> {
    c.prepare_cached("DELETE FROM findings WHERE file_id = ?1 AND source IN ('file', 'deep')")?
        .execute([file_id])?;
    Ok(())
}

fn severity_of(rank: i64) -> &'static str {
    match rank {
        2 => "error",
        1 => "warning",
        _ => "info",
    }
}

impl Catalogue {
    /// Replaces the findings one pass wrote for one scope. `scope` is `("series", uid)`,
    /// `("study", uid)` or `("all", "")`; `source` names the pass.
    pub fn replace_findings(
        &self,
        source: &str,
        scope: (&str, &str),
        findings: &[Finding],
    ) -> Result<()> {
        let t = super::write::now();
        self.sql(|c| {
            let tx = c.unchecked_transaction()?;
            match scope.0 {
                "series" => tx
                    .prepare_cached("DELETE FROM findings WHERE source = ?1 AND series_uid = ?2")?
                    .execute(params![source, scope.1])?,
                "study" => tx
                    .prepare_cached("DELETE FROM findings WHERE source = ?1 AND study_uid = ?2")?
                    .execute(params![source, scope.1])?,
                _ => tx
                    .prepare_cached("DELETE FROM findings WHERE source = ?1")?
                    .execute([source])?,
            };
            insert_findings(&tx, source, findings, t)?;
            tx.commit()
        })
    }

    /// Takes the pending work list (and clears it).
    pub fn take_pending(&self) -> Result<Pending> {
        self.sql(|c| {
            let tx = c.unchecked_transaction()?;
            let mut p = Pending::default();
            {
                let mut stmt = tx.prepare("SELECT kind, uid FROM check_pending")?;
                let rows =
                    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
                for row in rows {
                    let (kind, uid) = row?;
                    match kind.as_str() {
                        "series" => p.series.push(uid),
                        "study" => p.studies.push(uid),
                        _ => p.dataset = true,
                    }
                }
            }
            tx.execute("DELETE FROM check_pending", [])?;
            tx.commit()?;
            Ok(p)
        })
    }

    /// Puts work back (when a pass failed half-way).
    pub fn restore_pending(&self, p: &Pending) -> Result<()> {
        self.sql(|c| {
            let tx = c.unchecked_transaction()?;
            for s in &p.series {
                mark_pending(&tx, "series", s)?;
            }
            for s in &p.studies {
                mark_pending(&tx, "study", s)?;
            }
            if p.dataset {
                mark_pending(&tx, "dataset", "")?;
            }
            tx.commit()
        })
    }

    /// The instances of a series (files not removed), for the series checks.
    pub fn series_instances(&self, series_uid: &str) -> Result<Vec<SeriesInstance>> {
        self.sql(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT i.file_id, f.path, coalesce(i.study_uid, ''), i.sop_class_uid, i.instance_number,
                        i.rows, i.columns, i.number_of_frames, i.pixel_spacing, i.image_position,
                        i.image_orientation, i.frame_of_reference, h.elements ->> '$.\"00080060\"[1]',
                        i.sop_instance_uid
                 FROM instances i JOIN files f ON f.id = i.file_id
                 LEFT JOIN headers h ON h.file_id = i.file_id
                 WHERE i.series_uid = ?1 AND f.status != 'removed'
                 ORDER BY f.path",
            )?;
            let rows = stmt.query_map([series_uid], |r| {
                Ok(SeriesInstance {
                    file_id: r.get(0)?,
                    path: r.get(1)?,
                    study_uid: r.get(2)?,
                    sop_class_uid: r.get(3)?,
                    instance_number: r.get(4)?,
                    rows: r.get(5)?,
                    columns: r.get(6)?,
                    frames: r.get(7)?,
                    pixel_spacing: r.get(8)?,
                    image_position: r.get(9)?,
                    image_orientation: r.get(10)?,
                    frame_of_reference: r.get(11)?,
                    modality: r.get(12)?,
                    sop_instance_uid: r.get(13)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The (PatientID, PatientName) pairs a Study Instance UID is catalogued under.
    pub fn study_identities(&self, study_uid: &str) -> Result<Vec<(String, String)>> {
        self.sql(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT p.patient_id, p.patient_name FROM studies s
                 JOIN patients p ON p.id = s.patient_ref
                 WHERE s.study_uid = ?1 AND EXISTS (SELECT 1 FROM series se JOIN instances i ON i.series_ref = se.id
                     JOIN files f ON f.id = i.file_id WHERE se.study_ref = s.id AND f.status != 'removed')
                 ORDER BY 1, 2",
            )?;
            let rows = stmt.query_map([study_uid], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// The distinct study UIDs the files of a series name.
    pub fn series_study_uids(&self, series_uid: &str) -> Result<Vec<String>> {
        self.sql(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT coalesce(i.study_uid, '') FROM instances i JOIN files f ON f.id = i.file_id
                 WHERE i.series_uid = ?1 AND f.status != 'removed' ORDER BY 1",
            )?;
            let rows = stmt.query_map([series_uid], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// The series UIDs of the DICOM files directly inside a folder.
    pub fn folder_series(&self, folder: &str) -> Result<Vec<String>> {
        let lo = format!("{}/", folder.trim_end_matches('/'));
        let hi = format!("{}0", folder.trim_end_matches('/'));
        self.sql(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT f.path, coalesce(i.series_uid, '') FROM files f JOIN instances i ON i.file_id = f.id
                 WHERE f.path >= ?1 AND f.path < ?2 AND f.status != 'removed'",
            )?;
            let rows = stmt.query_map(params![lo, hi], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            let mut out: Vec<String> = Vec::new();
            for row in rows {
                let (path, uid) = row?;
                if !path[lo.len()..].contains('/') && !out.contains(&uid) {
                    out.push(uid);
                }
            }
            out.sort();
            Ok(out)
        })
    }

    /// Files that may have a twin, with whether their stored hashes are current: only these are
    /// ever hashed. A DICOM file can only be byte-identical to a file of the same size *and* SOP
    /// Instance UID (the UID is in its bytes), and a re-exported copy has the same pixel data
    /// length and position; other files need the same size, or the same voxel data length.
    pub fn hash_candidates(&self) -> Result<Vec<HashCandidate>> {
        self.sql(|c| {
            let mut stmt = c.prepare(
                "WITH live AS (SELECT * FROM files WHERE status != 'removed' AND kind IN ('dicom', 'nifti', 'analyze')),
                 same_size AS (SELECT size FROM live WHERE kind != 'dicom' GROUP BY size HAVING count(*) > 1),
                 same_uid_size AS (SELECT i.sop_instance_uid AS u, l.size AS s FROM instances i JOIN live l ON l.id = i.file_id
                                   WHERE i.sop_instance_uid IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1),
                 same_pixels AS (SELECT coalesce(i.pixel_length, l.size - i.pixel_offset) AS n, coalesce(i.image_position, '') AS p
                                 FROM instances i JOIN live l ON l.id = i.file_id
                                 WHERE i.pixel_offset IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1),
                 same_voxels AS (SELECT v.expected_bytes AS n FROM volumes v JOIN live l ON l.id = v.file_id
                                 WHERE v.expected_bytes IS NOT NULL AND v.data_present GROUP BY v.expected_bytes HAVING count(*) > 1)
                 SELECT l.id, l.path, l.kind, l.scanned_at, l.size, i.pixel_offset, i.pixel_length,
                        i.transfer_syntax_uid IN ('1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.8.1'),
                        v.data_path, v.vox_offset, v.gzipped, v.expected_bytes,
                        h.scanned_at IS NOT NULL AND h.scanned_at = l.scanned_at
                 FROM live l
                 LEFT JOIN instances i ON i.file_id = l.id
                 LEFT JOIN volumes v ON v.file_id = l.id
                 LEFT JOIN file_hashes h ON h.file_id = l.id
                 WHERE (l.kind != 'dicom' AND l.size IN (SELECT size FROM same_size))
                    OR (i.sop_instance_uid, l.size) IN (SELECT u, s FROM same_uid_size)
                    OR (coalesce(i.pixel_length, l.size - i.pixel_offset), coalesce(i.image_position, '')) IN (SELECT n, p FROM same_pixels)
                    OR v.expected_bytes IN (SELECT n FROM same_voxels)
                 ORDER BY l.id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(HashCandidate {
                    file_id: r.get(0)?,
                    path: r.get(1)?,
                    kind: r.get(2)?,
                    scanned_at: r.get(3)?,
                    size: r.get(4)?,
                    pixel_offset: r.get(5)?,
                    pixel_length: r.get(6)?,
                    deflated: r.get::<_, Option<bool>>(7)?.unwrap_or(false),
                    data_path: r.get(8)?,
                    vox_offset: r.get(9)?,
                    gzipped: r.get::<_, Option<bool>>(10)?.unwrap_or(false),
                    expected_bytes: r.get(11)?,
                    hashed: r.get::<_, Option<bool>>(12)?.unwrap_or(false),
                })
            })?;
            rows.collect()
        })
    }

    /// Stores hashes computed for files (keyed to the scan that read them).
    pub fn store_hashes(&self, hashes: &[(i64, f64, FileHashes)]) -> Result<()> {
        self.sql(|c| {
            let tx = c.unchecked_transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO file_hashes(file_id, scanned_at, content_hash, pixel_hash, pixel_constant)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(file_id) DO UPDATE SET scanned_at = excluded.scanned_at,
                        content_hash = excluded.content_hash, pixel_hash = excluded.pixel_hash,
                        pixel_constant = excluded.pixel_constant",
                )?;
                for (id, at, h) in hashes {
                    stmt.execute(params![id, at, h.content_hash, h.pixel_hash, h.pixel_constant])?;
                }
            }
            tx.commit()
        })
    }

    /// Live imaging files with their current hashes and SOP Instance UID, for the duplicate
    /// pass to group.
    pub fn duplicate_infos(&self) -> Result<Vec<DuplicateInfo>> {
        self.sql(|c| {
            // Every live imaging file with current hashes or a SOP Instance UID; grouping is
            // done by the caller (one sequential read is cheaper than GROUP BY subqueries).
            let mut stmt = c.prepare(
                "SELECT f.id, f.path, f.kind, i.sop_instance_uid, i.series_uid, i.study_uid,
                        h.content_hash, h.pixel_hash, coalesce(h.pixel_constant, 0), i.image_position, f.status
                 FROM files f LEFT JOIN instances i ON i.file_id = f.id
                 LEFT JOIN file_hashes h ON h.file_id = f.id AND h.scanned_at = f.scanned_at
                 WHERE f.status != 'removed' AND f.kind IN ('dicom', 'nifti', 'analyze')
                   AND (h.file_id IS NOT NULL OR i.sop_instance_uid IS NOT NULL)
                 ORDER BY f.path",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(DuplicateInfo {
                    file_id: r.get(0)?,
                    path: r.get(1)?,
                    kind: r.get(2)?,
                    sop_instance_uid: r.get(3)?,
                    series_uid: r.get(4)?,
                    study_uid: r.get(5)?,
                    content_hash: r.get(6)?,
                    pixel_hash: r.get(7)?,
                    pixel_constant: r.get::<_, i64>(8)? != 0,
                    image_position: r.get(9)?,
                    status: r.get(10)?,
                })
            })?;
            rows.collect()
        })
    }

    /// One row per live series, with its first instance's geometry and contrast use.
    pub fn series_summaries(&self) -> Result<Vec<SeriesSummary>> {
        self.sql(|c| {
            let mut stmt = c.prepare(
                "SELECT se.series_uid, st.study_uid, se.modality, se.description, se.manufacturer,
                        i.rows, i.columns, i.pixel_spacing, i.slice_thickness,
                        coalesce(h.elements ->> '$.\"00180010\"[1]', '') != '' OR h.elements -> '$.\"00180012\"[1]' IS NOT NULL,
                        f.path
                 FROM series se JOIN studies st ON st.id = se.study_ref
                 JOIN instances i ON i.file_id = (SELECT i2.file_id FROM instances i2 JOIN files f2 ON f2.id = i2.file_id
                                                  WHERE i2.series_ref = se.id AND f2.status != 'removed'
                                                  ORDER BY i2.instance_number, f2.path LIMIT 1)
                 JOIN files f ON f.id = i.file_id
                 LEFT JOIN headers h ON h.file_id = i.file_id
                 ORDER BY se.series_uid",
            )?;
            let rows = stmt.query_map([], |r| {
                let path: String = r.get(10)?;
                Ok(SeriesSummary {
                    series_uid: r.get(0)?,
                    study_uid: r.get(1)?,
                    modality: r.get(2)?,
                    description: r.get(3)?,
                    manufacturer: r.get(4)?,
                    rows: r.get(5)?,
                    columns: r.get(6)?,
                    pixel_spacing: r.get(7)?,
                    slice_thickness: r.get(8)?,
                    contrast: r.get::<_, Option<bool>>(9)?.unwrap_or(false),
                    folder: std::path::Path::new(&path)
                        .parent()
                        .map(|p| p.to_string_lossy().into_owned()),
                })
            })?;
            rows.collect()
        })
    }

    /// DICOM files with pixel data, and whether the deep pass has seen their current content.
    pub fn pixel_sources(&self, only_unchecked: bool) -> Result<Vec<PixelSource>> {
        self.sql(|c| {
            let mut stmt = c.prepare(
                "SELECT f.id, f.path, f.scanned_at, i.series_uid, i.study_uid, i.transfer_syntax_uid,
                        i.pixel_offset, i.pixel_length, coalesce(i.encapsulated, 0), i.rows, i.columns,
                        i.number_of_frames, i.samples_per_pixel, i.bits_allocated, i.bits_stored,
                        i.pixel_representation, coalesce(h.elements ->> '$.\"00282110\"[1]', '') = '01',
                        d.scanned_at IS NOT NULL AND d.scanned_at = f.scanned_at
                 FROM files f JOIN instances i ON i.file_id = f.id
                 LEFT JOIN headers h ON h.file_id = f.id
                 LEFT JOIN deep_checked d ON d.file_id = f.id
                 WHERE f.status = 'ok' AND i.pixel_offset IS NOT NULL ORDER BY f.id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    PixelSource {
                        file_id: r.get(0)?,
                        path: r.get(1)?,
                        scanned_at: r.get(2)?,
                        series_uid: r.get(3)?,
                        study_uid: r.get(4)?,
                        transfer_syntax: r.get(5)?,
                        pixel_offset: r.get(6)?,
                        pixel_length: r.get(7)?,
                        encapsulated: r.get::<_, i64>(8)? != 0,
                        rows: r.get(9)?,
                        columns: r.get(10)?,
                        frames: r.get(11)?,
                        samples: r.get(12)?,
                        bits_allocated: r.get(13)?,
                        bits_stored: r.get(14)?,
                        pixel_representation: r.get(15)?,
                        lossy_flag: r.get::<_, Option<bool>>(16)?.unwrap_or(false),
                    },
                    r.get::<_, Option<bool>>(17)?.unwrap_or(false),
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (src, checked) = row?;
                if !(only_unchecked && checked) {
                    out.push(src);
                }
            }
            Ok(out)
        })
    }

    /// Stores the deep pass's findings for the files it read (replacing their earlier deep
    /// findings) and records that their current content has been seen.
    pub fn store_deep(&self, files: &[(i64, f64)], findings: &[Finding]) -> Result<()> {
        let t = super::write::now();
        self.sql(|c| {
            let tx = c.unchecked_transaction()?;
            {
                let mut del = tx.prepare_cached(
                    "DELETE FROM findings WHERE source = 'deep' AND file_id = ?1",
                )?;
                let mut mark = tx.prepare_cached(
                    "INSERT INTO deep_checked(file_id, scanned_at) VALUES (?1, ?2)
                     ON CONFLICT(file_id) DO UPDATE SET scanned_at = excluded.scanned_at",
                )?;
                for (id, at) in files {
                    del.execute([id])?;
                    mark.execute(params![id, at])?;
                }
            }
            insert_findings(&tx, "deep", findings, t)?;
            tx.commit()
        })
    }

    /// Counts per severity and rule, most severe first (the pane's overview).
    pub fn finding_groups(&self, filter: &FindingFilter) -> Result<Vec<FindingGroup>> {
        let (where_sql, args) = filter_sql(filter);
        self.sql(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT rank, code, count(*), count(ack_id) FROM findings f WHERE {where_sql}
                 GROUP BY rank, code ORDER BY rank DESC, code"
            ))?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok(FindingGroup {
                    severity: severity_of(r.get(0)?).to_string(),
                    code: r.get(1)?,
                    count: r.get(2)?,
                    acknowledged: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// One page of findings, most severe first, then by rule and id. Pass the last row's
    /// `(rank, code, id)` ([`FindingRow::cursor`]) as `after` to get the next page; each page is
    /// an indexed range scan however many findings there are.
    pub fn findings_page(
        &self,
        filter: &FindingFilter,
        after: Option<(i64, &str, i64)>,
        limit: usize,
    ) -> Result<Vec<FindingRow>> {
        let (mut where_sql, mut args) = filter_sql(filter);
        if let Some((rank, code, id)) = after {
            where_sql.push_str(
                " AND (f.rank < ? OR (f.rank = ? AND (f.code > ? OR (f.code = ? AND f.id > ?))))",
            );
            args.push(rank.into());
            args.push(rank.into());
            args.push(code.to_string().into());
            args.push(code.to_string().into());
            args.push(id.into());
        }
        args.push((limit as i64).into());
        self.sql(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT f.id, f.code, f.rank, f.message, coalesce(fi.path, f.path), f.file_id, f.subject,
                        f.tag, f.tag_path, f.keyword, f.series_uid, f.study_uid, f.grp, a.id, a.reason
                 FROM findings f LEFT JOIN files fi ON fi.id = f.file_id
                 LEFT JOIN acknowledgements a ON a.id = f.ack_id
                 WHERE {where_sql} ORDER BY f.rank DESC, f.code, f.id LIMIT ?"
            ))?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), read_row)?;
            rows.collect()
        })
    }

    /// Every finding of one file (per-file, series, duplicate and deep ones).
    pub fn findings_of_file(&self, file_id: i64) -> Result<Vec<FindingRow>> {
        let filter = FindingFilter {
            file_id: Some(file_id),
            include_acknowledged: true,
            ..Default::default()
        };
        self.findings_page(&filter, None, 100_000)
    }

    /// Acknowledges a rule at a subject (`file:<path>`, `series:<uid>`, `study:<uid>`,
    /// `folder:<path>`), optionally only for one tag (`GGGG,EEEE`). Returns how many current
    /// findings it covers. Acknowledgements are never deleted; acknowledging again updates the
    /// reason.
    pub fn acknowledge(
        &self,
        code: &str,
        subject: &str,
        tag: Option<&str>,
        reason: &str,
    ) -> Result<usize> {
        let t = super::write::now();
        let user = std::env::var("USER").ok();
        self.sql(|c| {
            let tx = c.unchecked_transaction()?;
            let id: i64 = tx.query_row(
                "INSERT INTO acknowledgements(code, subject, tag, reason, at, user) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(code, subject, tag) DO UPDATE SET reason = excluded.reason, at = excluded.at,
                    user = excluded.user
                 RETURNING id",
                params![code, subject, tag.unwrap_or(""), reason, t, user],
                |r| r.get(0),
            )?;
            let n = tx.execute(
                "UPDATE findings SET ack_id = ?1 WHERE code = ?2 AND subject = ?3 AND (?4 = '' OR tag = ?4)",
                params![id, code, subject, tag.unwrap_or("")],
            )?;
            tx.commit()?;
            Ok(n)
        })
    }

    /// The subject key of a catalogued file path (`None` if the catalogue does not know it).
    pub fn file_subject_of(&self, path: &str) -> Result<Option<String>> {
        self.sql(|c| {
            c.query_row("SELECT path FROM files WHERE path = ?1", [path], |r| {
                r.get::<_, String>(0)
            })
            .optional()
        })
        .map(|p| p.map(|p| crate::checks::engine::file_subject(&p)))
    }

    /// Whether any unacknowledged finding at or above `severity` exists.
    pub fn has_findings_at(&self, severity: Severity) -> Result<bool> {
        self.sql(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM findings WHERE rank >= ?1 AND ack_id IS NULL)",
                [severity.rank()],
                |r| r.get(0),
            )
        })
    }
}

impl FindingRow {
    /// Where this row sits in the listing order, for [`Catalogue::findings_page`]'s `after`.
    pub fn cursor(&self) -> (i64, &str, i64) {
        let rank = Severity::parse(&self.severity)
            .map(Severity::rank)
            .unwrap_or(0);
        (rank, self.code.as_str(), self.id)
    }
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FindingRow> {
    let ack: Option<i64> = r.get(13)?;
    Ok(FindingRow {
        id: r.get(0)?,
        code: r.get(1)?,
        severity: severity_of(r.get(2)?).to_string(),
        message: r.get(3)?,
        path: r.get(4)?,
        file_id: r.get(5)?,
        subject: r.get(6)?,
        tag: r.get(7)?,
        tag_path: r.get(8)?,
        keyword: r.get(9)?,
        series_uid: r.get(10)?,
        study_uid: r.get(11)?,
        group: r.get(12)?,
        acknowledged: ack.is_some(),
        ack_reason: r.get(14)?,
    })
}

fn filter_sql(filter: &FindingFilter) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value as V;
    let mut w = vec!["1".to_string()];
    let mut args: Vec<V> = Vec::new();
    if let Some(s) = filter.min_severity {
        w.push("f.rank >= ?".into());
        args.push(V::Integer(s.rank()));
    }
    if let Some(code) = &filter.code {
        if let Some(prefix) = code.strip_suffix('.') {
            w.push("f.code >= ? AND f.code < ?".into());
            args.push(V::Text(format!("{prefix}.")));
            args.push(V::Text(format!("{prefix}/")));
        } else {
            w.push("f.code = ?".into());
            args.push(V::Text(code.clone()));
        }
    }
    if let Some(id) = filter.file_id {
        w.push("f.file_id = ?".into());
        args.push(V::Integer(id));
    }
    if let Some(s) = &filter.series_uid {
        w.push("f.series_uid = ?".into());
        args.push(V::Text(s.clone()));
    }
    if let Some(s) = &filter.study_uid {
        w.push("f.study_uid = ?".into());
        args.push(V::Text(s.clone()));
    }
    if !filter.include_acknowledged {
        w.push("f.ack_id IS NULL".into());
    }
    (w.join(" AND "), args)
}

fn insert_findings(
    c: &Connection,
    source: &str,
    findings: &[Finding],
    t: f64,
) -> rusqlite::Result<()> {
    let mut stmt = c.prepare_cached(&format!(
        "INSERT INTO findings(code, severity, rank, message, source, subject, file_id, path, tag,
                              keyword, series_uid, study_uid, grp, ack_id, created)
         VALUES (?1, ?4, ?5, ?6, ?7, ?2, ?8, ?9, ?3, ?10, ?11, ?12, ?13, {ACK_LOOKUP}, ?14)"
    ))?;
    for f in findings {
        stmt.execute(params![
            f.code,
            f.subject,
            f.tag.map(tag_text),
            f.severity.as_str(),
            f.severity.rank(),
            f.message,
            source,
            f.file_id,
            f.path,
            f.tag.and_then(keyword),
            f.series_uid,
            f.study_uid,
            f.group,
            t
        ])?;
    }
    Ok(())
}
