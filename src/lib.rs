//! dicura: a curation console for radiology imaging datasets.
//!
//! Data flows one way: [`formats`] (headers into plain structs) → [`scan`] (parallel walk and
//! parse) → [`catalogue`] (the only owner of SQLite) → analyses and views ([`tui`], [`cli`]).

pub mod catalogue;
pub mod checks;
pub mod cli;
pub mod filter;
pub mod formats;
pub mod labels;
pub mod phi;
pub mod preview;
pub mod scan;
pub mod synth;
pub mod tui;
