//! The pseudonym key file: the secret and the original ↔ pseudonym mapping, so later
//! batches give the same patient the same pseudonym and the key holder can re-identify.
//!
//! The file is JSON, created owner-only (0600) and replaced atomically. Without it nothing
//! links output to input: the secret of a run is discarded when the run ends.

use super::uid::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One mapping: the kind of identifier (PatientID, PatientName, AccessionNumber,
/// StudyInstanceUID ...), the original and its pseudonym.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub kind: String,
    pub original: String,
    pub pseudonym: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct KeyFile {
    secret: String,
    /// kind → original → pseudonym.
    map: BTreeMap<String, BTreeMap<String, String>>,
}

/// An open key file.
#[derive(Debug)]
pub struct Pseudonyms {
    pub secret: Secret,
    map: BTreeMap<String, BTreeMap<String, String>>,
}

/// Errors reading or writing the key file (messages never include identifiers).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("pseudonym file {0}: {1}")]
    Io(String, std::io::Error),
    #[error("pseudonym file {0} is not a dicura key file")]
    Format(String),
}

impl Pseudonyms {
    /// Opens the key file, or starts a new one with a fresh secret if it does not exist.
    pub fn open_or_create(path: &Path) -> Result<Pseudonyms, KeyError> {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let f: KeyFile =
                    serde_json::from_str(&text).map_err(|_| KeyError::Format(name.clone()))?;
                let secret = Secret::from_hex(&f.secret).ok_or(KeyError::Format(name))?;
                Ok(Pseudonyms { secret, map: f.map })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Pseudonyms {
                secret: Secret::random().map_err(|e| KeyError::Io(name, e))?,
                map: BTreeMap::new(),
            }),
            Err(e) => Err(KeyError::Io(name, e)),
        }
    }

    /// The pseudonym of `original` as `kind`, if known.
    pub fn get(&self, kind: &str, original: &str) -> Option<&str> {
        self.map.get(kind)?.get(original).map(String::as_str)
    }

    /// Records a mapping (the first pseudonym given to an original stays).
    pub fn record(&mut self, m: Mapping) {
        self.map
            .entry(m.kind)
            .or_default()
            .entry(m.original)
            .or_insert(m.pseudonym);
    }

    /// Every original whose pseudonym is `pseudonym`, with its kind.
    pub fn reidentify(&self, pseudonym: &str) -> Vec<Mapping> {
        let mut out = Vec::new();
        for (kind, m) in &self.map {
            for (orig, p) in m {
                if p == pseudonym {
                    out.push(Mapping {
                        kind: kind.clone(),
                        original: orig.clone(),
                        pseudonym: p.clone(),
                    });
                }
            }
        }
        out
    }

    pub fn len(&self) -> usize {
        self.map.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the key file owner-only, via a temporary file and a rename.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let name = path.display().to_string();
        let io = |e| KeyError::Io(name.clone(), e);
        let f = KeyFile {
            secret: self.secret.to_hex(),
            map: self.map.clone(),
        };
        let text = serde_json::to_string_pretty(&f).map_err(|_| KeyError::Format(name.clone()))?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let _ = std::fs::remove_file(&tmp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}
