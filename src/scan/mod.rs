//! Parallel walk and parse of a directory tree into the catalogue.
