//! The scanner's single writer: batches of scanned files go in one transaction each, so a
//! scan killed at any moment leaves every batch either fully in or fully out.

use super::rows::{FileKind, FileStatus, InstanceRow, VolumeRow};
use super::{Catalogue, CatalogueError, Result};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a rescan needs to know of a file already in the catalogue to skip it unopened.
#[derive(Debug, Clone)]
pub struct KnownFile {
    pub id: i64,
    pub size: u64,
    pub mtime_s: i64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub dev: u64,
    pub ino: u64,
    pub kind: FileKind,
    pub status: String,
    pub removed: bool,
}

/// The parsed part of a scanned file.
#[derive(Debug, Clone)]
pub enum Payload {
    None,
    Dicom(Box<InstanceRow>),
    Volume(Box<VolumeRow>),
}

/// One file as the scanner saw it.
#[derive(Debug, Clone)]
pub struct ScannedFile {
    pub path: String,
    pub path_raw: Option<Vec<u8>>,
    pub root: usize,
    pub size: u64,
    pub mtime_s: i64,
    pub mtime_ns: i64,
    /// Inode change time in ns: a chmod that makes a file readable changes it.
    pub ctime_ns: i64,
    pub dev: u64,
    pub ino: u64,
    pub kind: FileKind,
    pub status: FileStatus,
    pub error: Option<String>,
    pub ext: Option<String>,
    /// The catalogue's row for this path, when it had one.
    pub previous: Option<i64>,
    /// `changed` or `restored` for a file seen before; `None` for a first sighting.
    pub event: Option<&'static str>,
    pub payload: Payload,
    /// Per-file findings of the checks run on the parsed header (see [`crate::checks`]).
    pub findings: Vec<crate::checks::engine::FileFinding>,
}

/// Writes one scan into the catalogue.
pub struct Writer {
    cat: Catalogue,
    scan_id: i64,
    root_ids: Vec<i64>,
    patients: HashMap<(String, String), i64>,
    studies: HashMap<(i64, String), i64>,
    series: HashMap<(i64, String), i64>,
}

/// Seconds since the Unix epoch, as SQLite REAL timestamps.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Catalogue {
    /// The files the catalogue knows under `root` (including removed ones), by path.
    pub fn known_files(&self, root: &Path) -> Result<HashMap<String, KnownFile>> {
        let root = root.to_string_lossy();
        let lo = format!("{}/", root.trim_end_matches('/'));
        let hi = format!("{}0", root.trim_end_matches('/'));
        self.sql(|c| {
            let mut stmt = c.prepare(
                "SELECT id, path, size, mtime_s, mtime_ns, dev, ino, kind, status, removed_at, ctime_ns
                 FROM files WHERE path = ?1 OR (path >= ?2 AND path < ?3)",
            )?;
            let rows = stmt.query_map(params![root.as_ref(), lo, hi], |r| {
                let kind: String = r.get(7)?;
                Ok((
                    r.get::<_, String>(1)?,
                    KnownFile {
                        id: r.get(0)?,
                        size: r.get::<_, i64>(2)? as u64,
                        mtime_s: r.get(3)?,
                        mtime_ns: r.get(4)?,
                        ctime_ns: r.get(10)?,
                        dev: r.get::<_, i64>(5)? as u64,
                        ino: r.get::<_, i64>(6)? as u64,
                        kind: FileKind::parse(&kind).unwrap_or(FileKind::Other),
                        status: r.get(8)?,
                        removed: r.get::<_, Option<f64>>(9)?.is_some(),
                    },
                ))
            })?;
            rows.collect()
        })
    }
}

impl Writer {
    /// Starts a scan of `roots` (absolute paths): records it as running, and marks scans that
    /// were left running by a killed process as interrupted.
    pub fn begin(cat: Catalogue, roots: &[PathBuf]) -> Result<Writer> {
        let t = now();
        let roots_json = serde_json::to_string(
            &roots
                .iter()
                .map(|r| r.to_string_lossy().into_owned())
                .collect::<Vec<_>>(),
        )
        .unwrap_or_else(|_| "[]".into());
        let (scan_id, root_ids) = cat.sql(|c| {
            c.execute(
                "UPDATE scans SET status = 'interrupted' WHERE status = 'running'",
                [],
            )?;
            // Fewer, larger checkpoints while bulk-writing (the WAL is truncated at the end).
            c.pragma_update(None, "wal_autocheckpoint", 8192)?;
            c.execute(
                "INSERT INTO scans(started, status, roots) VALUES (?1, 'running', ?2)",
                params![t, roots_json],
            )?;
            let scan_id = c.last_insert_rowid();
            let mut ids = Vec::new();
            for r in roots {
                let id: i64 = c.query_row(
                    "INSERT INTO roots(path, first_scan, last_scan) VALUES (?1, ?2, ?2)
                     ON CONFLICT(path) DO UPDATE SET last_scan = excluded.last_scan
                     RETURNING id",
                    params![r.to_string_lossy(), t],
                    |row| row.get(0),
                )?;
                ids.push(id);
            }
            Ok((scan_id, ids))
        })?;
        Ok(Writer {
            cat,
            scan_id,
            root_ids,
            patients: HashMap::new(),
            studies: HashMap::new(),
            series: HashMap::new(),
        })
    }

    pub fn scan_id(&self) -> i64 {
        self.scan_id
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.cat
    }

    fn err(&self, source: rusqlite::Error) -> CatalogueError {
        CatalogueError::Sqlite {
            path: self.cat.path.clone(),
            source,
        }
    }

    /// Writes a batch of files in one transaction.
    pub fn write_batch(&mut self, files: &[ScannedFile]) -> Result<()> {
        let t = now();
        let scan_id = self.scan_id;
        let tx = self
            .cat
            .conn
            .transaction()
            .map_err(|e| CatalogueError::Sqlite {
                path: self.cat.path.clone(),
                source: e,
            })?;
        let mut caches = Caches {
            patients: &mut self.patients,
            studies: &mut self.studies,
            series: &mut self.series,
        };
        let r = write_files(&tx, files, t, scan_id, &self.root_ids, &mut caches)
            .and_then(|_| tx.commit());
        if let Err(e) = r {
            // The transaction rolled back: cached hierarchy ids may name rows that are gone.
            self.patients.clear();
            self.studies.clear();
            self.series.clear();
            return Err(self.err(e));
        }
        Ok(())
    }

    /// Marks files that are no longer on disk as removed, keeping their rows and history.
    pub fn mark_removed(&mut self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let t = now();
        let scan_id = self.scan_id;
        let tx = self
            .cat
            .conn
            .transaction()
            .map_err(|e| CatalogueError::Sqlite {
                path: self.cat.path.clone(),
                source: e,
            })?;
        let r = (|| {
            super::findings::mark_pending(&tx, "dataset", "")?;
            for id in ids {
                clear_derived(&tx, *id)?;
                tx.prepare_cached(
                    "UPDATE files SET status = 'removed', removed_at = ?2, scan_id = ?3 WHERE id = ?1",
                )?
                .execute(params![id, t, scan_id])?;
                tx.prepare_cached(
                    "INSERT INTO file_events(file_id, scan_id, at, event, size, mtime_s)
                     SELECT id, ?2, ?3, 'removed', size, mtime_s FROM files WHERE id = ?1",
                )?
                .execute(params![id, scan_id, t])?;
            }
            Ok(())
        })()
        .and_then(|_| tx.commit());
        r.map_err(|e| self.err(e))
    }

    /// Completes the scan: prunes hierarchy rows left without instances, stores the summary.
    pub fn finish(self, summary_json: &str) -> Result<Catalogue> {
        let t = now();
        self.cat.sql(|c| {
            c.execute_batch(
                "DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM instances i WHERE i.series_ref = series.id);
                 DELETE FROM studies WHERE NOT EXISTS (SELECT 1 FROM series s WHERE s.study_ref = studies.id);
                 DELETE FROM patients WHERE NOT EXISTS (SELECT 1 FROM studies s WHERE s.patient_ref = patients.id);",
            )?;
            c.execute(
                "UPDATE scans SET status = 'complete', finished = ?2, summary = ?3 WHERE id = ?1",
                params![self.scan_id, t, summary_json],
            )?;
            // Give the query planner statistics (bounded work), so browsing picks good plans.
            c.execute_batch("PRAGMA analysis_limit = 1000; PRAGMA optimize;")?;
            // Keep the WAL from growing without bound across large scans.
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })?;
        Ok(self.cat)
    }
}

struct Caches<'a> {
    patients: &'a mut HashMap<(String, String), i64>,
    studies: &'a mut HashMap<(i64, String), i64>,
    series: &'a mut HashMap<(i64, String), i64>,
}

fn clear_derived(c: &Connection, id: i64) -> rusqlite::Result<()> {
    // The series and study the file belonged to need their cross-file findings recomputed.
    super::findings::mark_pending_of_file(c, id)?;
    super::findings::clear_file_findings(c, id)?;
    c.prepare_cached("DELETE FROM instances WHERE file_id = ?1")?
        .execute([id])?;
    c.prepare_cached("DELETE FROM headers WHERE file_id = ?1")?
        .execute([id])?;
    c.prepare_cached("DELETE FROM volumes WHERE file_id = ?1")?
        .execute([id])?;
    Ok(())
}

fn write_files(
    tx: &Transaction<'_>,
    files: &[ScannedFile],
    t: f64,
    scan_id: i64,
    root_ids: &[i64],
    caches: &mut Caches<'_>,
) -> rusqlite::Result<()> {
    if !files.is_empty() {
        super::findings::mark_pending(tx, "dataset", "")?;
    }
    // Series and studies marked due in this batch (a batch holds few of them).
    let mut marked: std::collections::HashSet<(&str, &str)> = std::collections::HashSet::new();
    for f in files {
        let root_id = root_ids.get(f.root).copied();
        let id: i64 = tx
            .prepare_cached(
                "INSERT INTO files(path, path_raw, root_id, size, mtime_s, mtime_ns, dev, ino, kind,
                                   status, error, ext, first_seen, scanned_at, scan_id, removed_at, ctime_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14, NULL, ?15)
                 ON CONFLICT(path) DO UPDATE SET
                    path_raw = excluded.path_raw, root_id = excluded.root_id, size = excluded.size,
                    mtime_s = excluded.mtime_s, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, dev = excluded.dev,
                    ino = excluded.ino, kind = excluded.kind, status = excluded.status,
                    error = excluded.error, ext = excluded.ext, scanned_at = excluded.scanned_at,
                    scan_id = excluded.scan_id, removed_at = NULL
                 RETURNING id",
            )?
            .query_row(
                params![
                    f.path,
                    f.path_raw,
                    root_id,
                    f.size as i64,
                    f.mtime_s,
                    f.mtime_ns,
                    f.dev as i64,
                    f.ino as i64,
                    f.kind.as_str(),
                    f.status.as_str(),
                    f.error,
                    f.ext,
                    t,
                    scan_id,
                    f.ctime_ns
                ],
                |r| r.get(0),
            )?;
        if f.previous.is_some() {
            clear_derived(tx, id)?;
        }
        if let Some(event) = f.event {
            tx.prepare_cached(
                "INSERT INTO file_events(file_id, scan_id, at, event, size, mtime_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![id, scan_id, t, event, f.size as i64, f.mtime_s])?;
        }
        let (series_uid, study_uid) = match &f.payload {
            Payload::None => (None, None),
            Payload::Dicom(row) => {
                write_instance(tx, id, row, caches)?;
                if marked.insert(("series", row.series_uid.as_str())) {
                    super::findings::mark_pending(tx, "series", &row.series_uid)?;
                }
                if marked.insert(("study", row.study_uid.as_str())) {
                    super::findings::mark_pending(tx, "study", &row.study_uid)?;
                }
                (Some(row.series_uid.as_str()), Some(row.study_uid.as_str()))
            }
            Payload::Volume(v) => {
                write_volume(tx, id, v)?;
                (None, None)
            }
        };
        super::findings::insert_file_findings(
            tx,
            id,
            &f.path,
            series_uid,
            study_uid,
            &f.findings,
            "file",
            t,
        )?;
    }
    Ok(())
}

fn write_instance(
    tx: &Transaction<'_>,
    file_id: i64,
    r: &InstanceRow,
    caches: &mut Caches<'_>,
) -> rusqlite::Result<()> {
    let pkey = (r.patient_id.clone(), r.patient_name.clone());
    let patient = match caches.patients.get(&pkey) {
        Some(id) => *id,
        None => {
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO patients(patient_id, patient_name, birth_date, sex) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(patient_id, patient_name) DO UPDATE SET
                        birth_date = coalesce(patients.birth_date, excluded.birth_date),
                        sex = coalesce(patients.sex, excluded.sex)
                     RETURNING id",
                )?
                .query_row(
                    params![r.patient_id, r.patient_name, r.birth_date, r.sex],
                    |row| row.get(0),
                )?;
            caches.patients.insert(pkey, id);
            id
        }
    };
    let skey = (patient, r.study_uid.clone());
    let study = match caches.studies.get(&skey) {
        Some(id) => *id,
        None => {
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO studies(patient_ref, study_uid, study_date, study_time, accession, study_id, description)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT(patient_ref, study_uid) DO UPDATE SET
                        study_date = coalesce(studies.study_date, excluded.study_date),
                        description = coalesce(studies.description, excluded.description)
                     RETURNING id",
                )?
                .query_row(
                    params![
                        patient,
                        r.study_uid,
                        r.study_date,
                        r.study_time,
                        r.accession,
                        r.study_id,
                        r.study_description
                    ],
                    |row| row.get(0),
                )?;
            caches.studies.insert(skey, id);
            id
        }
    };
    let sekey = (study, r.series_uid.clone());
    let series = match caches.series.get(&sekey) {
        Some(id) => *id,
        None => {
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO series(study_ref, series_uid, series_number, modality, description, body_part,
                                        manufacturer, model, station, institution, protocol_name, frame_of_reference)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT(study_ref, series_uid) DO UPDATE SET
                        modality = coalesce(series.modality, excluded.modality),
                        description = coalesce(series.description, excluded.description)
                     RETURNING id",
                )?
                .query_row(
                    params![
                        study,
                        r.series_uid,
                        r.series_number,
                        r.modality,
                        r.series_description,
                        r.body_part,
                        r.manufacturer,
                        r.model,
                        r.station,
                        r.institution,
                        r.protocol_name,
                        r.frame_of_reference
                    ],
                    |row| row.get(0),
                )?;
            caches.series.insert(sekey, id);
            id
        }
    };
    tx.prepare_cached(
        "INSERT INTO instances(file_id, series_ref, patient_id, study_uid, series_uid, sop_class_uid,
            sop_instance_uid, instance_number, transfer_syntax_uid, syntax_inferred, has_preamble,
            has_meta, meta_sop_class_uid, meta_sop_instance_uid, charset, image_type, acquisition_date,
            rows, columns, number_of_frames, samples_per_pixel, bits_allocated, bits_stored, high_bit,
            pixel_representation, photometric, pixel_spacing, slice_thickness, slice_location,
            image_position, image_orientation, frame_of_reference, pixel_offset, pixel_length,
            encapsulated, trailing_bytes, problems, fragments, offset_table)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
                 ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37,
                 ?38, ?39)",
    )?
    .execute(params![
        file_id,
        series,
        r.patient_id,
        r.study_uid,
        r.series_uid,
        r.sop_class_uid,
        r.sop_instance_uid,
        r.instance_number,
        r.transfer_syntax_uid,
        r.syntax_inferred,
        r.has_preamble,
        r.has_meta,
        r.meta_sop_class_uid,
        r.meta_sop_instance_uid,
        r.charset,
        r.image_type,
        r.acquisition_date,
        r.rows,
        r.columns,
        r.number_of_frames,
        r.samples_per_pixel,
        r.bits_allocated,
        r.bits_stored,
        r.high_bit,
        r.pixel_representation,
        r.photometric,
        r.pixel_spacing,
        r.slice_thickness,
        r.slice_location,
        r.image_position,
        r.image_orientation,
        r.frame_of_reference,
        r.pixel_offset,
        r.pixel_length,
        r.encapsulated,
        r.trailing_bytes,
        r.problems,
        r.fragments,
        r.offset_table,
    ])?;
    tx.prepare_cached("INSERT INTO headers(file_id, groups, elements) VALUES (?1, ?2, jsonb(?3))")?
        .execute(params![file_id, r.groups, r.header_json])?;
    Ok(())
}

fn write_volume(tx: &Transaction<'_>, file_id: i64, v: &VolumeRow) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO volumes(file_id, format, byte_order, gzipped, single_file, data_path, data_present,
            data_size, expected_bytes, ndim, dims, nx, ny, nz, nt, pixdim, datatype, datatype_name,
            bitpix, vox_offset, scl_slope, scl_inter, space_units, time_units, qform_code, sform_code,
            qform, sform, orientation, descrip, aux_file, intent_code, intent_name, db_name,
            extensions, header)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
                 ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36)",
    )?
    .execute(params![
        file_id,
        v.format,
        v.byte_order,
        v.gzipped,
        v.single_file,
        v.data_path,
        v.data_present,
        v.data_size,
        v.expected_bytes,
        v.ndim,
        v.dims,
        v.nxyzt[0],
        v.nxyzt[1],
        v.nxyzt[2],
        v.nxyzt[3],
        v.pixdim,
        v.datatype,
        v.datatype_name,
        v.bitpix,
        finite(v.vox_offset),
        finite(v.scl_slope),
        finite(v.scl_inter),
        v.space_units,
        v.time_units,
        v.qform_code,
        v.sform_code,
        v.qform,
        v.sform,
        v.orientation,
        v.descrip,
        v.aux_file,
        v.intent_code,
        v.intent_name,
        v.db_name,
        v.extensions,
        v.header,
    ])?;
    Ok(())
}

/// SQLite stores NaN as NULL anyway; make it explicit.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl Catalogue {
    /// The id of a catalogued file by path.
    pub fn file_id(&self, path: &str) -> Result<Option<i64>> {
        self.sql(|c| {
            c.query_row("SELECT id FROM files WHERE path = ?1", [path], |r| r.get(0))
                .optional()
        })
    }
}
