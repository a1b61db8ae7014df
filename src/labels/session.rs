//! A labelling session: one annotator's changes through one process, with undo and redo of
//! the session's own actions and the labelling rate.
//!
//! Undo and redo are compare-and-set: an action is undone only if the label is still what the
//! action made it. If another process (the same annotator elsewhere, or a lead adjudicating)
//! changed it meanwhile, undo is refused with a message instead of silently overwriting.
//! Undo and redo are themselves recorded in the history (actions `undo` and `redo`).

use crate::catalogue::labels::{ItemRef, LabelAction, LabelState, LabelWrite};
use crate::catalogue::{Catalogue, CatalogueError, Result};
use crate::labels::scheme::{LabelSet, Scheme};
use std::time::Duration;

/// One applied change, as the undo log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub set: String,
    pub item: ItemRef,
    pub is_final: bool,
    pub action: LabelAction,
    pub before: LabelState,
    pub after: LabelState,
}

/// Timestamps kept for the rate (assignments in the last this many seconds).
const RATE_WINDOW: f64 = 300.0;

/// A labelling session (see the module docs).
#[derive(Debug)]
pub struct Session {
    annotator: String,
    id: String,
    undo: Vec<Change>,
    redo: Vec<Change>,
    /// When items got a category in this session (for the rate), oldest first.
    times: std::collections::VecDeque<f64>,
}

fn now() -> f64 {
    crate::catalogue::now()
}

fn err(m: String) -> CatalogueError {
    CatalogueError::Label(m)
}

fn checked_set<'a>(scheme: &'a Scheme, set: &str, item: &ItemRef) -> Result<&'a LabelSet> {
    let s = scheme
        .set(set)
        .ok_or_else(|| err(format!("no label set {set:?} in the scheme")))?;
    if s.level != item.level {
        return Err(err(format!(
            "set {set:?} labels {} items, not {}",
            s.level, item.level
        )));
    }
    Ok(s)
}

impl Session {
    /// A session for `annotator`; its id (recorded in the history) is
    /// `annotator@pid:start-time`.
    pub fn new(annotator: &str) -> Session {
        let started = now();
        Session {
            annotator: annotator.to_string(),
            id: format!("{annotator}@{}:{started:.3}", std::process::id()),
            undo: Vec::new(),
            redo: Vec::new(),
            times: Default::default(),
        }
    }

    pub fn annotator(&self) -> &str {
        &self.annotator
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn write(
        &mut self,
        cat: &Catalogue,
        set: &str,
        item: &ItemRef,
        is_final: bool,
        action: LabelAction,
        make: impl Fn(&LabelState) -> LabelState,
    ) -> Result<Change> {
        // Read, compute, then compare-and-set: a concurrent change between the two is caught
        // and retried once with the fresh state.
        for _ in 0..3 {
            let before = cat.label_state(set, item, &self.annotator, is_final)?;
            let after = make(&before);
            let w = LabelWrite {
                set,
                item,
                annotator: &self.annotator,
                is_final,
                state: &after,
                action,
                session: Some(&self.id),
                expect: Some(&before),
                at: None,
            };
            match cat.label_write(&w) {
                Ok(_) => {
                    let change = Change {
                        set: set.to_string(),
                        item: item.clone(),
                        is_final,
                        action,
                        before,
                        after,
                    };
                    if change.before != change.after {
                        if change.after.category.is_some() && change.before.category.is_none() {
                            self.times.push_back(now());
                        }
                        self.undo.push(change.clone());
                        self.redo.clear();
                    }
                    return Ok(change);
                }
                Err(CatalogueError::Label(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(err(format!(
            "the label of {} in set {set:?} keeps changing in another process; try again",
            item.shown()
        )))
    }

    /// Assigns `category`. Single-choice: replaces the category (keeping the note and the
    /// uncertain flag). Multi-choice: toggles the category.
    pub fn assign(
        &mut self,
        cat: &Catalogue,
        scheme: &Scheme,
        set: &str,
        item: &ItemRef,
        category: &str,
    ) -> Result<Change> {
        let s = checked_set(scheme, set, item)?;
        scheme.check(set, category).map_err(err)?;
        let s = s.clone();
        let category = category.to_string();
        self.write(cat, set, item, false, LabelAction::Assign, move |b| {
            let mut a = b.clone();
            a.category = Some(if s.multi {
                let mut parts: Vec<&str> = b
                    .category
                    .as_deref()
                    .map(|c| c.split(';').filter(|p| !p.is_empty()).collect())
                    .unwrap_or_default();
                if let Some(i) = parts.iter().position(|p| *p == category) {
                    parts.remove(i);
                } else {
                    parts.push(&category);
                }
                s.normalise(&parts)
            } else {
                category.clone()
            })
            .filter(|c| !c.is_empty());
            a
        })
    }

    /// Removes this annotator's label of the item (category, flag and note).
    pub fn clear(
        &mut self,
        cat: &Catalogue,
        scheme: &Scheme,
        set: &str,
        item: &ItemRef,
    ) -> Result<Change> {
        checked_set(scheme, set, item)?;
        self.write(cat, set, item, false, LabelAction::Clear, |_| {
            LabelState::default()
        })
    }

    /// Toggles the "uncertain" flag.
    pub fn toggle_uncertain(
        &mut self,
        cat: &Catalogue,
        scheme: &Scheme,
        set: &str,
        item: &ItemRef,
    ) -> Result<Change> {
        checked_set(scheme, set, item)?;
        self.write(cat, set, item, false, LabelAction::Uncertain, |b| {
            LabelState {
                uncertain: !b.uncertain,
                ..b.clone()
            }
        })
    }

    /// Sets (or with `None` or empty text removes) the free-text note.
    pub fn set_note(
        &mut self,
        cat: &Catalogue,
        scheme: &Scheme,
        set: &str,
        item: &ItemRef,
        note: Option<&str>,
    ) -> Result<Change> {
        checked_set(scheme, set, item)?;
        let note = note
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        self.write(cat, set, item, false, LabelAction::Note, move |b| {
            LabelState {
                note: note.clone(),
                ..b.clone()
            }
        })
    }

    /// Sets the item's final (adjudicated) label, recorded with this session's annotator as
    /// the adjudicator; `None` removes it.
    pub fn adjudicate(
        &mut self,
        cat: &Catalogue,
        scheme: &Scheme,
        set: &str,
        item: &ItemRef,
        category: Option<&str>,
    ) -> Result<Change> {
        checked_set(scheme, set, item)?;
        if let Some(c) = category {
            scheme.check(set, c).map_err(err)?;
        }
        let category = category.map(str::to_string);
        self.write(cat, set, item, true, LabelAction::Adjudicate, move |b| {
            LabelState {
                category: category.clone(),
                ..b.clone()
            }
        })
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// The session's changes that undo would revert, oldest first.
    pub fn changes(&self) -> &[Change] {
        &self.undo
    }

    fn revert(
        &self,
        cat: &Catalogue,
        c: &Change,
        to: &LabelState,
        from: &LabelState,
        action: LabelAction,
    ) -> Result<()> {
        cat.label_write(&LabelWrite {
            set: &c.set,
            item: &c.item,
            annotator: &self.annotator,
            is_final: c.is_final,
            state: to,
            action,
            session: Some(&self.id),
            expect: Some(from),
            at: None,
        })
        .map(|_| ())
    }

    /// Undoes the session's last change; `None` when there is nothing to undo. Refused (and
    /// kept on the stack) when the label changed since in another process.
    pub fn undo(&mut self, cat: &Catalogue) -> Result<Option<Change>> {
        let Some(c) = self.undo.last().cloned() else {
            return Ok(None);
        };
        self.revert(cat, &c, &c.before, &c.after, LabelAction::Undo)?;
        self.undo.pop();
        if c.after.category.is_some() && c.before.category.is_none() {
            self.times.pop_back();
        }
        self.redo.push(c.clone());
        Ok(Some(c))
    }

    /// Redoes the last undone change; `None` when there is nothing to redo.
    pub fn redo(&mut self, cat: &Catalogue) -> Result<Option<Change>> {
        let Some(c) = self.redo.last().cloned() else {
            return Ok(None);
        };
        self.revert(cat, &c, &c.after, &c.before, LabelAction::Redo)?;
        self.redo.pop();
        if c.after.category.is_some() && c.before.category.is_none() {
            self.times.push_back(now());
        }
        self.undo.push(c.clone());
        Ok(Some(c))
    }

    /// Items labelled per minute over the last five minutes of the session (or since it
    /// started, if shorter); `None` before the first label.
    pub fn rate_per_minute(&self, now: f64) -> Option<f64> {
        rate(&self.times, now)
    }

    /// Time left for `remaining` items at the current rate.
    pub fn eta(&self, remaining: usize, now: f64) -> Option<Duration> {
        let r = self.rate_per_minute(now)?;
        (r > 0.0).then(|| Duration::from_secs_f64(remaining as f64 / r * 60.0))
    }
}

/// Items per minute from assignment times (see [`Session::rate_per_minute`]).
pub fn rate(times: &std::collections::VecDeque<f64>, now: f64) -> Option<f64> {
    let first = *times.front()?;
    let from = (now - RATE_WINDOW).max(first);
    let n = times.iter().filter(|t| **t >= from).count();
    let span = (now - from).max(1.0);
    Some(n as f64 * 60.0 / span)
}

#[cfg(test)]
mod tests {
    use super::rate;

    #[test]
    fn rate_over_the_last_five_minutes() {
        let now = 10_000.0;
        // One label every 6 s for the last minute: 10 per minute.
        let t: std::collections::VecDeque<f64> =
            (0..10).map(|i| now - 60.0 + 6.0 * i as f64).collect();
        let r = rate(&t, now).unwrap();
        assert!((r - 10.0).abs() < 1e-9, "{r}");
        // Labels older than five minutes no longer count.
        let mut old = t.clone();
        old.push_front(now - 3600.0);
        let r_old = rate(&old, now).unwrap();
        assert!(
            (r_old - 2.0).abs() < 1e-9,
            "{r_old}: 10 labels in the 5-minute window"
        );
        assert_eq!(rate(&Default::default(), now), None);
    }
}
