//! The SQLite catalogue: schema, migrations, writes and queries. Nothing else in dicura
//! writes SQL.
//!
//! The catalogue holds PHI, so its files are created owner-only (0600) in an owner-only
//! directory; SQLite gives the `-wal` and `-shm` files the database file's mode.

pub mod browse;
pub mod findings;
pub mod labels;
mod phi;
mod rows;
mod schema;
mod stats;
mod write;
pub use phi::{DeidSource, PhiFileRow, PhiSummaryRow, RevealRow};

pub use rows::{FileKind, FileStatus, InstanceRow, VolumeRow};
pub use stats::Stats;
pub use write::{now, KnownFile, Payload, ScannedFile, Writer};

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};

/// Errors of the catalogue, with the catalogue's path for context.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("catalogue {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("catalogue {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "catalogue {path} was written by a newer dicura (schema {found}, this one knows {known})"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("catalogue {0} does not exist")]
    Missing(PathBuf),
    /// A label change refused (unknown set, conflict with another process, scheme mismatch).
    #[error("{0}")]
    Label(String),
}

pub type Result<T> = std::result::Result<T, CatalogueError>;

/// An open catalogue.
pub struct Catalogue {
    conn: Connection,
    path: PathBuf,
}

/// The catalogue used when no `--db` is given: `$DICURA_DB`, else
/// `$XDG_DATA_HOME/dicura/catalogue.sqlite` (`~/.local/share/dicura/...`). It lives outside
/// any dataset, so read-only datasets can be scanned and no dataset is ever written to.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("DICURA_DB").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("dicura").join("catalogue.sqlite")
}

/// The catalogue's own files (database, WAL, shared memory, journal), which a scan skips.
pub fn own_files(db: &Path) -> Vec<PathBuf> {
    let mut out = vec![db.to_path_buf()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut s = db.as_os_str().to_owned();
        s.push(suffix);
        out.push(PathBuf::from(s));
    }
    out
}

impl Catalogue {
    /// Opens (creating if needed, owner-only) and migrates the catalogue for writing.
    pub fn open(path: &Path) -> Result<Catalogue> {
        let io = |source| CatalogueError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                create_private_dir(dir).map_err(io)?;
            }
        }
        if !path.exists() {
            create_private_file(path).map_err(io)?;
        }
        let conn = Connection::open(path).map_err(|source| CatalogueError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cat = Catalogue {
            conn,
            path: path.to_path_buf(),
        };
        cat.configure()?;
        cat.migrate()?;
        for f in own_files(path).iter().skip(1) {
            restrict(f);
        }
        Ok(cat)
    }

    /// Opens an existing catalogue without writing to it (no migration, no WAL checkpoint).
    pub fn open_read_only(path: &Path) -> Result<Catalogue> {
        if !path.exists() {
            return Err(CatalogueError::Missing(path.to_path_buf()));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| CatalogueError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let cat = Catalogue {
            conn,
            path: path.to_path_buf(),
        };
        cat.sql(|c| c.busy_timeout(std::time::Duration::from_secs(10)))?;
        let version = cat.schema_version()?;
        if version > schema::MIGRATIONS.len() as i64 {
            return Err(CatalogueError::TooNew {
                path: path.to_path_buf(),
                found: version,
                known: schema::MIGRATIONS.len() as i64,
            });
        }
        Ok(cat)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` and attaches the catalogue path to an SQLite error.
    pub(crate) fn sql<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        f(&self.conn).map_err(|source| CatalogueError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    fn configure(&self) -> Result<()> {
        self.sql(|c| {
            c.busy_timeout(std::time::Duration::from_secs(30))?;
            // Headers are a few KB each: large pages keep them out of overflow chains.
            // (Only takes effect on a new, empty database.)
            c.pragma_update(None, "page_size", 16384)?;
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "NORMAL")?;
            c.pragma_update(None, "foreign_keys", "ON")?;
            c.pragma_update(None, "temp_store", "MEMORY")?;
            c.pragma_update(None, "cache_size", -32_000)?;
            Ok(())
        })
    }

    pub fn schema_version(&self) -> Result<i64> {
        self.sql(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
    }

    fn migrate(&mut self) -> Result<()> {
        let version = self.schema_version()?;
        let known = schema::MIGRATIONS.len() as i64;
        if version > known {
            return Err(CatalogueError::TooNew {
                path: self.path.clone(),
                found: version,
                known,
            });
        }
        let path = self.path.clone();
        for (i, step) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            // IMMEDIATE, and the version read again inside the transaction: two processes
            // opening an old catalogue at once migrate it once.
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|source| CatalogueError::Sqlite {
                    path: path.clone(),
                    source,
                })?;
            let now: i64 = tx
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(|source| CatalogueError::Sqlite {
                    path: path.clone(),
                    source,
                })?;
            if now > i as i64 {
                continue;
            }
            tx.execute_batch(step)
                .and_then(|_| tx.pragma_update(None, "user_version", (i + 1) as i64))
                .and_then(|_| tx.commit())
                .map_err(|source| CatalogueError::Sqlite {
                    path: path.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Runs a read-only SQL query and returns each row as JSON values (for `dicura query`).
    pub fn query_json(&self, sql: &str) -> Result<(Vec<String>, Vec<Vec<serde_json::Value>>)> {
        self.sql(|c| {
            let mut stmt = c.prepare(sql)?;
            if !stmt.readonly() {
                return Err(rusqlite::Error::InvalidQuery);
            }
            let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
            let n = names.len();
            let rows = stmt
                .query_map([], |row| {
                    (0..n)
                        .map(|i| {
                            use rusqlite::types::ValueRef;
                            Ok(match row.get_ref(i)? {
                                ValueRef::Null => serde_json::Value::Null,
                                ValueRef::Integer(v) => v.into(),
                                ValueRef::Real(v) => v.into(),
                                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
                                ValueRef::Blob(b) => format!("<{} bytes>", b.len()).into(),
                            })
                        })
                        .collect::<rusqlite::Result<Vec<_>>>()
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((names, rows))
        })
    }

    /// The stored DICOM JSON of a file's header, if it is a catalogued DICOM file.
    pub fn header_json(&self, file_id: i64) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        self.sql(|c| {
            c.query_row(
                "SELECT json(elements) FROM headers WHERE file_id = ?1",
                [file_id],
                |r| r.get(0),
            )
            .optional()
        })
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(|_| ())
}

/// Makes an existing file owner-only; best effort (the file may not exist).
fn restrict(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
    }
}
