//! The one error type of the preview library. Messages name the file's problem, never a value
//! of the data set (no PHI): the caller may show them in the console or print them.

use std::path::PathBuf;

/// Why an image cannot be shown. Every decoding failure ends here instead of a panic or a
/// garbage picture.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: not a DICOM, NIfTI or Analyze file")]
    NotAnImage(PathBuf),
    #[error("{path}: no pixel data ({what})")]
    NoPixelData { path: PathBuf, what: String },
    #[error("{path}: unsupported: {what}")]
    Unsupported { path: PathBuf, what: String },
    #[error("{path}: pixel data truncated: {what}")]
    Truncated { path: PathBuf, what: String },
    #[error("{path}: corrupt: {what}")]
    Corrupt { path: PathBuf, what: String },
    #[error("{path}: image too large to preview: {what}")]
    TooLarge { path: PathBuf, what: String },
    #[error("{path}: {codec} decoder failed: {what}")]
    Codec {
        path: PathBuf,
        codec: &'static str,
        what: String,
    },
    #[error("index out of range: {what}")]
    OutOfRange { what: String },
    #[error("series: {0}")]
    Series(String),
    #[error("unknown window preset {0:?} (brain, subdural, stroke, lung, mediastinum, abdomen, liver, bone)")]
    UnknownPreset(String),
}

impl PreviewError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::UnexpectedEof {
            PreviewError::Truncated {
                path: path.to_path_buf(),
                what: "file ends inside the pixel data".into(),
            }
        } else {
            PreviewError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}
