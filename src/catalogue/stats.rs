//! Dataset-level counts for `dicura stats` (and the overview screen later).

use super::{Catalogue, Result};
use serde::Serialize;
use std::collections::BTreeMap;

/// What is in the catalogue (files that were removed from disk are not counted).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stats {
    pub files: i64,
    pub files_by_kind: BTreeMap<String, i64>,
    pub files_by_status: BTreeMap<String, i64>,
    pub removed: i64,
    pub patients: i64,
    pub studies: i64,
    pub series: i64,
    pub instances: i64,
    pub volumes: i64,
    pub instances_by_modality: BTreeMap<String, i64>,
    pub bytes: i64,
}

impl Catalogue {
    pub fn stats(&self) -> Result<Stats> {
        self.sql(|c| {
            let count = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0));
            let grouped = |sql: &str| -> rusqlite::Result<BTreeMap<String, i64>> {
                let mut stmt = c.prepare(sql)?;
                let rows = stmt.query_map([], |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?.unwrap_or_else(|| "(none)".into()),
                        r.get::<_, i64>(1)?,
                    ))
                })?;
                rows.collect()
            };
            Ok(Stats {
                files: count("SELECT count(*) FROM files WHERE removed_at IS NULL")?,
                files_by_kind: grouped(
                    "SELECT kind, count(*) FROM files WHERE removed_at IS NULL GROUP BY kind",
                )?,
                files_by_status: grouped(
                    "SELECT status, count(*) FROM files WHERE removed_at IS NULL GROUP BY status",
                )?,
                removed: count("SELECT count(*) FROM files WHERE removed_at IS NOT NULL")?,
                patients: count("SELECT count(*) FROM patients")?,
                studies: count("SELECT count(*) FROM studies")?,
                series: count("SELECT count(*) FROM series")?,
                instances: count("SELECT count(*) FROM instances")?,
                volumes: count("SELECT count(*) FROM volumes")?,
                instances_by_modality: grouped(
                    "SELECT s.modality, count(*) FROM instances i JOIN series s ON s.id = i.series_ref
                     GROUP BY s.modality",
                )?,
                bytes: count("SELECT coalesce(sum(size), 0) FROM files WHERE removed_at IS NULL")?,
            })
        })
    }
}
