//! Readers for imaging file headers (and later pixels). Knows nothing of SQLite or terminals.

pub mod dicom;
pub mod nifti;
