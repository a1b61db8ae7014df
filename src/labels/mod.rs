//! Labelling (issue 7): schemes of label sets chosen by one keypress ([`scheme`]), a
//! labelling session with undo/redo and rate ([`session`]), and inter-annotator agreement
//! ([`agreement`]). Pure logic: the SQL lives in [`crate::catalogue::labels`].
//!
//! The TUI's labelling mode uses, in order:
//! - [`Scheme::from_toml`] / [`Catalogue::label_scheme`] and [`Scheme::hotkeys`], [`Scheme::by_key`];
//! - [`Catalogue::scope`] (the browser's filter, with the label terms of [`crate::filter`]),
//!   then [`Catalogue::label_items`] / [`Catalogue::label_items_before`] (pages in key order)
//!   and [`Catalogue::next_unlabelled`];
//! - a [`Session`] for assign / clear / uncertain / note / adjudicate, undo and redo, and
//!   [`Session::rate_per_minute`] / [`Session::eta`];
//! - [`Catalogue::label_progress`], [`Catalogue::item_labels`], [`Catalogue::label_history`],
//!   [`Catalogue::label_disagreements`], [`agreement::agreement`] over
//!   [`Catalogue::label_ratings`].
//!
//! [`Catalogue::label_scheme`]: crate::catalogue::Catalogue::label_scheme
//! [`Catalogue::scope`]: crate::catalogue::Catalogue::scope
//! [`Catalogue::label_items`]: crate::catalogue::Catalogue::label_items
//! [`Catalogue::label_items_before`]: crate::catalogue::Catalogue::label_items_before
//! [`Catalogue::next_unlabelled`]: crate::catalogue::Catalogue::next_unlabelled
//! [`Catalogue::label_progress`]: crate::catalogue::Catalogue::label_progress
//! [`Catalogue::item_labels`]: crate::catalogue::Catalogue::item_labels
//! [`Catalogue::label_history`]: crate::catalogue::Catalogue::label_history
//! [`Catalogue::label_disagreements`]: crate::catalogue::Catalogue::label_disagreements
//! [`Catalogue::label_ratings`]: crate::catalogue::Catalogue::label_ratings

pub mod agreement;
pub mod scheme;
pub mod session;

pub use crate::catalogue::labels::{
    Disagreement, ExportRow, HistoryRow, ItemRef, LabelAction, LabelCount, LabelItem, LabelRow,
    LabelState, LabelledBy, Progress,
};
pub use scheme::{Category, LabelSet, Level, Scheme, SchemeError, SchemeIssue, RESERVED_KEYS};
pub use session::{Change, Session};
