//! Label schemes: several label sets, each at one level, with categories chosen by one
//! keypress. Parsed from TOML and validated on load; the catalogue stores the TOML text.
//!
//! ```toml
//! [[set]]
//! name = "quality"
//! level = "series"            # instance, series, study, patient, volume
//! choice = "single"           # or "multi" (a keypress toggles a category)
//! description = "Overall image quality"
//!
//! [[set.category]]
//! name = "good"
//! key = "1"
//! description = "Diagnostic"
//!
//! [[set.category]]
//! name = "poor"
//! key = "2"
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;

/// Keys the labelling mode keeps for itself (navigation, undo, notes, ...): no category may
/// use them. Arrows, Enter, Esc, Tab and Space are reserved too but are not characters.
///
/// `q` quit the mode, `?` help, `/` filter, `:` command, `j`/`k` next/previous item, `g`/`G`
/// first/last, `u` undo, `U` redo (Ctrl-r too), `n` note, `N` reserved, `s` skip, `x`
/// uncertain toggle, `e` reserved.
pub const RESERVED_KEYS: &[char] = &[
    'q', '?', '/', ':', 'j', 'k', 'g', 'G', 'u', 'U', 'n', 'N', 's', 'x', 'e',
];

/// The level at which a label set labels items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// One DICOM file (keyed by its path).
    Instance,
    /// A DICOM series (keyed by Series Instance UID).
    Series,
    /// A DICOM study (keyed by Study Instance UID).
    Study,
    /// A patient (keyed by Patient ID).
    Patient,
    /// A NIfTI or Analyze volume (keyed by its header file's path).
    Volume,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Instance,
        Level::Series,
        Level::Study,
        Level::Patient,
        Level::Volume,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Instance => "instance",
            Level::Series => "series",
            Level::Study => "study",
            Level::Patient => "patient",
            Level::Volume => "volume",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether items of this level are single files (keyed by path).
    pub fn is_file(self) -> bool {
        matches!(self, Level::Instance | Level::Volume)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One category of a label set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub name: String,
    pub key: char,
    pub description: Option<String>,
}

/// One label set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSet {
    pub name: String,
    pub level: Level,
    /// Several categories per item (a keypress toggles one) instead of exactly one.
    pub multi: bool,
    pub description: Option<String>,
    pub categories: Vec<Category>,
}

impl LabelSet {
    pub fn category(&self, name: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.name == name)
    }

    /// A multi-choice value in scheme order (`a;c`), from any order of its parts.
    pub fn normalise(&self, parts: &[&str]) -> String {
        self.categories
            .iter()
            .filter(|c| parts.contains(&c.name.as_str()))
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Categories in scheme order, for agreement tables.
    pub fn category_names(&self) -> Vec<&str> {
        self.categories.iter().map(|c| c.name.as_str()).collect()
    }
}

/// A validated scheme: label sets with globally unique hotkeys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scheme {
    pub sets: Vec<LabelSet>,
}

/// One problem found while validating a scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeIssue {
    /// 1-based TOML line, when known.
    pub line: Option<usize>,
    /// `set "quality"`, `set "quality", category "poor"`, or empty for the whole file.
    pub place: String,
    pub message: String,
}

impl fmt::Display for SchemeIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        if !self.place.is_empty() {
            write!(f, "{}: ", self.place)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem of a scheme, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SchemeError(pub Vec<SchemeIssue>);

impl fmt::Display for SchemeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(|i| i.to_string()).collect();
        write!(f, "invalid label scheme:\n  {}", lines.join("\n  "))
    }
}

type Sp<T> = toml::Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    set: Vec<SetToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetToml {
    name: Sp<String>,
    level: Sp<String>,
    #[serde(default)]
    choice: Option<Sp<String>>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    category: Vec<CategoryToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryToml {
    name: Sp<String>,
    key: Sp<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Serialize)]
struct FileOut<'a> {
    set: Vec<SetOut<'a>>,
}

#[derive(Serialize)]
struct SetOut<'a> {
    name: &'a str,
    level: &'a str,
    choice: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    category: Vec<CategoryOut<'a>>,
}

#[derive(Serialize)]
struct CategoryOut<'a> {
    name: &'a str,
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Why a key cannot be a category hotkey, if it cannot.
pub fn hotkey_problem(key: &str) -> Option<String> {
    let mut chars = key.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return Some(format!(
            "hotkey {key:?} must be exactly one character (a digit or letter)"
        ));
    };
    if !c.is_ascii_alphanumeric() {
        return Some(format!(
            "hotkey {key:?} must be an ASCII digit or letter (no modifiers, no symbols)"
        ));
    }
    if RESERVED_KEYS.contains(&c) {
        return Some(format!(
            "hotkey {key:?} is reserved for navigation in labelling mode (reserved: {})",
            RESERVED_KEYS.iter().collect::<String>()
        ));
    }
    None
}

impl Scheme {
    /// Parses and validates a scheme; every problem is reported, with its TOML line.
    pub fn from_toml(text: &str) -> Result<Scheme, SchemeError> {
        let file: FileToml = toml::from_str(text).map_err(|e| {
            SchemeError(vec![SchemeIssue {
                line: e.span().map(|s| line_of(text, s.start)),
                place: String::new(),
                message: e.message().trim().to_string(),
            }])
        })?;
        let mut issues = Vec::new();
        let mut sets = Vec::new();
        // hotkey -> (set, category) that took it first
        let mut keys: Vec<(char, String, String)> = Vec::new();
        if file.set.is_empty() {
            issues.push(SchemeIssue {
                line: None,
                place: String::new(),
                message: "no label sets (add a [[set]] table)".into(),
            });
        }
        for s in &file.set {
            let name = s.name.get_ref().trim().to_string();
            let set_line = Some(line_of(text, s.name.span().start));
            let place = format!("set {name:?}");
            if name.is_empty() {
                issues.push(SchemeIssue {
                    line: set_line,
                    place: "set".into(),
                    message: "empty name".into(),
                });
            } else if name.contains([';', '=', ':', '"']) || name.chars().any(char::is_whitespace) {
                issues.push(SchemeIssue {
                    line: set_line,
                    place: place.clone(),
                    message: "a set name cannot contain spaces or ; = : \"".into(),
                });
            }
            if sets.iter().any(|x: &LabelSet| x.name == name) {
                issues.push(SchemeIssue {
                    line: set_line,
                    place: place.clone(),
                    message: "duplicate set name".into(),
                });
            }
            let level = Level::parse(s.level.get_ref());
            if level.is_none() {
                issues.push(SchemeIssue {
                    line: Some(line_of(text, s.level.span().start)),
                    place: place.clone(),
                    message: format!(
                        "unknown level {:?} (instance, series, study, patient or volume)",
                        s.level.get_ref()
                    ),
                });
            }
            let multi = match &s.choice {
                None => false,
                Some(c) => match c.get_ref().as_str() {
                    "single" => false,
                    "multi" | "multiple" => true,
                    other => {
                        issues.push(SchemeIssue {
                            line: Some(line_of(text, c.span().start)),
                            place: place.clone(),
                            message: format!("choice {other:?}: expected \"single\" or \"multi\""),
                        });
                        false
                    }
                },
            };
            if s.category.is_empty() {
                issues.push(SchemeIssue {
                    line: set_line,
                    place: place.clone(),
                    message: "no categories (add [[set.category]] tables)".into(),
                });
            }
            let mut cats: Vec<Category> = Vec::new();
            for c in &s.category {
                let cname = c.name.get_ref().trim().to_string();
                let cplace = format!("set {name:?}, category {cname:?}");
                let cline = Some(line_of(text, c.name.span().start));
                if cname.is_empty() {
                    issues.push(SchemeIssue {
                        line: cline,
                        place: place.clone(),
                        message: "category with an empty name".into(),
                    });
                } else if cname.contains([';', '"']) || cname.eq_ignore_ascii_case("none") {
                    issues.push(SchemeIssue {
                        line: cline,
                        place: cplace.clone(),
                        message: "a category name cannot contain ; or \" nor be \"none\"".into(),
                    });
                }
                if cats.iter().any(|x| x.name == cname) {
                    issues.push(SchemeIssue {
                        line: cline,
                        place: cplace.clone(),
                        message: "duplicate category name in this set".into(),
                    });
                }
                let kline = Some(line_of(text, c.key.span().start));
                let key = c.key.get_ref();
                let mut ch = None;
                if let Some(problem) = hotkey_problem(key) {
                    issues.push(SchemeIssue {
                        line: kline,
                        place: cplace.clone(),
                        message: problem,
                    });
                } else if let Some(k) = key.chars().next() {
                    if let Some((_, s2, c2)) = keys.iter().find(|(x, _, _)| *x == k) {
                        issues.push(SchemeIssue {
                            line: kline,
                            place: cplace.clone(),
                            message: format!(
                                "hotkey {key:?} is already used by set {s2:?}, category {c2:?} \
                                 (hotkeys are unique across all sets)"
                            ),
                        });
                    } else {
                        keys.push((k, name.clone(), cname.clone()));
                        ch = Some(k);
                    }
                }
                cats.push(Category {
                    name: cname,
                    key: ch.unwrap_or('\0'),
                    description: c.description.clone(),
                });
            }
            sets.push(LabelSet {
                name,
                level: level.unwrap_or(Level::Instance),
                multi,
                description: s.description.clone(),
                categories: cats,
            });
        }
        if issues.is_empty() {
            Ok(Scheme { sets })
        } else {
            Err(SchemeError(issues))
        }
    }

    /// The scheme as TOML (what `dicura labels scheme` prints; parses back to the same scheme).
    pub fn to_toml(&self) -> String {
        let out = FileOut {
            set: self
                .sets
                .iter()
                .map(|s| SetOut {
                    name: &s.name,
                    level: s.level.as_str(),
                    choice: if s.multi { "multi" } else { "single" },
                    description: s.description.as_deref(),
                    category: s
                        .categories
                        .iter()
                        .map(|c| CategoryOut {
                            name: &c.name,
                            key: c.key.to_string(),
                            description: c.description.as_deref(),
                        })
                        .collect(),
                })
                .collect(),
        };
        toml::to_string(&out).unwrap_or_default()
    }

    /// Validates a scheme built or edited in code (the TUI's scheme editor) with the same
    /// rules and messages as [`Scheme::from_toml`]; returns it as parsed back.
    pub fn validated(&self) -> Result<Scheme, SchemeError> {
        Scheme::from_toml(&self.to_toml())
    }

    pub fn set(&self, name: &str) -> Option<&LabelSet> {
        self.sets.iter().find(|s| s.name == name)
    }

    /// The set and category a keypress chooses.
    pub fn by_key(&self, key: char) -> Option<(&LabelSet, &Category)> {
        self.sets
            .iter()
            .find_map(|s| s.categories.iter().find(|c| c.key == key).map(|c| (s, c)))
    }

    /// Sets with their hotkeys, for the help overlay and the status bar.
    pub fn hotkeys(&self) -> Vec<(&str, Vec<(char, &str)>)> {
        self.sets
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.categories
                        .iter()
                        .map(|c| (c.key, c.name.as_str()))
                        .collect(),
                )
            })
            .collect()
    }

    /// Checks that `category` exists in `set`; the error names what is known.
    pub fn check(&self, set: &str, category: &str) -> Result<&LabelSet, String> {
        let s = self.set(set).ok_or_else(|| {
            format!(
                "no label set {set:?} in the scheme (sets: {})",
                self.sets
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        for part in category.split(';').filter(|p| !p.is_empty()) {
            if s.category(part).is_none() {
                return Err(format!(
                    "set {set:?} has no category {part:?} (categories: {})",
                    s.category_names().join(", ")
                ));
            }
        }
        if !s.multi && category.contains(';') {
            return Err(format!(
                "set {set:?} is single-choice: one category per item"
            ));
        }
        Ok(s)
    }
}

/// A starting scheme for `:scheme edit` when the catalogue has none.
pub const TEMPLATE: &str = r#"# dicura label scheme: one [[set]] per question; hotkeys are single letters or digits
# (not q ? / : j k g G u U n N s x e, which the labelling screen uses).

[[set]]
name = "quality"
level = "series"          # instance, series, study, patient or volume
choice = "single"         # or "multi": several categories per item
description = "Is the series usable for training?"

[[set.category]]
name = "good"
key = "1"

[[set.category]]
name = "poor"
key = "2"

[[set.category]]
name = "unusable"
key = "3"
description = "artefacts, wrong body part, corrupt"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[set]]
name = "quality"
level = "series"
description = "Image quality"

[[set.category]]
name = "good"
key = "1"

[[set.category]]
name = "poor"
key = "2"
description = "Not diagnostic"

[[set]]
name = "findings"
level = "instance"
choice = "multi"

[[set.category]]
name = "nodule"
key = "a"

[[set.category]]
name = "effusion"
key = "b"
"#;

    #[test]
    fn parses_and_round_trips() {
        let s = Scheme::from_toml(GOOD).unwrap();
        assert_eq!(s.sets.len(), 2);
        assert_eq!(s.sets[0].level, Level::Series);
        assert!(!s.sets[0].multi);
        assert!(s.sets[1].multi);
        assert_eq!(
            s.by_key('2')
                .map(|(s, c)| (s.name.as_str(), c.name.as_str())),
            Some(("quality", "poor"))
        );
        assert_eq!(s.by_key('j'), None);
        let again = Scheme::from_toml(&s.to_toml()).unwrap();
        assert_eq!(again, s);
        assert_eq!(s.validated().unwrap(), s);
        let mut edited = s.clone();
        edited.sets[1].categories[0].key = '1';
        let e = edited.validated().unwrap_err().to_string();
        assert!(
            e.contains("hotkey \"1\" is already used by set \"quality\", category \"good\""),
            "{e}"
        );
        let f = &s.sets[1];
        assert_eq!(f.normalise(&["effusion", "nodule"]), "nodule;effusion");
        assert!(s.check("quality", "poor").is_ok());
        assert!(s.check("quality", "good;poor").is_err());
        assert!(s.check("findings", "nodule;effusion").is_ok());
        assert!(s
            .check("quality", "meh")
            .unwrap_err()
            .contains("good, poor"));
        assert!(s.check("nosuch", "good").is_err());
    }

    fn errors(text: &str) -> Vec<String> {
        Scheme::from_toml(text)
            .unwrap_err()
            .0
            .iter()
            .map(|i| i.to_string())
            .collect()
    }

    #[test]
    fn reserved_key_is_reported_with_line_and_place() {
        let text = "[[set]]\nname = \"q\"\nlevel = \"instance\"\n[[set.category]]\nname = \"a\"\nkey = \"j\"\n";
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("line 6: set \"q\", category \"a\": hotkey \"j\" is reserved"),
            "{e:?}"
        );
    }

    #[test]
    fn duplicate_hotkeys_across_sets_and_other_mistakes() {
        let text = r#"
[[set]]
name = "a"
level = "series"
[[set.category]]
name = "x1"
key = "1"
[[set.category]]
name = "x1"
key = "%"

[[set]]
name = "a"
level = "frame"
[[set.category]]
name = "y"
key = "1"

[[set]]
name = "empty"
level = "study"
"#;
        let e = errors(text).join("\n");
        assert!(e.contains("line 10: set \"a\", category \"x1\": hotkey \"%\" must be an ASCII digit or letter"), "{e}");
        assert!(
            e.contains("line 9: set \"a\", category \"x1\": duplicate category name"),
            "{e}"
        );
        assert!(e.contains("line 13: set \"a\": duplicate set name"), "{e}");
        assert!(
            e.contains("line 14: set \"a\": unknown level \"frame\""),
            "{e}"
        );
        assert!(e.contains("line 17: set \"a\", category \"y\": hotkey \"1\" is already used by set \"a\", category \"x1\""), "{e}");
        assert!(e.contains("set \"empty\": no categories"), "{e}");
        assert!(errors("[[set]]\nname = 3\n")[0].starts_with("line 2"));
        assert!(
            errors("[[set]]\nname = \"a\"\nlevel = \"study\"\nbogus = 1\n")[0].contains("bogus")
        );
        assert!(errors("")[0].contains("no label sets"));
        assert!(errors(
            "[[set]]\nname=\"a\"\nlevel=\"study\"\n[[set.category]]\nname=\"b\"\nkey=\"ab\"\n"
        )[0]
        .contains("exactly one character"));
    }

    #[test]
    fn every_reserved_key_is_refused() {
        for k in RESERVED_KEYS {
            assert!(hotkey_problem(&k.to_string()).is_some(), "{k}");
        }
        for k in ['0', '9', 'a', 'z', 'A', 'Z', 'b', 'y'] {
            assert_eq!(hotkey_problem(&k.to_string()), None, "{k}");
        }
    }
}
