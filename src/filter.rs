//! The browser's filter language, parsed into terms the catalogue turns into SQL.
//!
//! A filter is terms separated by spaces, all of which must hold:
//!
//! | term | matches |
//! |---|---|
//! | `modality:CT` | series modality (also `manufacturer:`, `model:`, `station:`, `body:`, `desc:` series description, `study:` study description, `institution:`, `protocol:`) |
//! | `Manufacturer=GE*` | any DICOM keyword (or `GGGG,EEEE`) equal to the value; `*` and `?` are wildcards |
//! | `tag:0029,*` | files that have an element of group 0029 (or `tag:0029,1010` for one element) |
//! | `kind:nifti` | files of a kind (`dicom`, `nifti`, `analyze`, `volume_data`, `other`, `unreadable`) |
//! | `status:corrupt` | files by status (`ok`, `truncated`, `corrupt`, `unreadable`) |
//! | `findings:error` | files with unacknowledged findings at or above a severity (`error`, `warning`, `info`) |
//! | `sop:1.2.840.10008.5.1.4.1.1.2` | SOP Class UID (wildcards allowed); `ts:` transfer syntax UID |
//! | `rows:512`, `cols:512` | matrix size |
//! | `date:2021*` | study date (`YYYYMMDD`, wildcards) |
//! | `path:*/sub/*` | file path (wildcards) |
//! | `label:quality=poor` | items labelled `poor` in set `quality` by anyone (or as final label); for series/study/patient sets, the files of labelled series/studies/patients |
//! | `label:quality` | items with any category in set `quality`; `label:quality=none` those without |
//! | `label:none` | items without a category in any label set |
//! | `annotator:alice` | items alice labelled (any set) |
//! | `disagreement` | items whose annotators chose different categories in some set |
//! | `-term` | negation of any term |
//! | anything else | free text: path, descriptions, patient ID or name contain it (case-insensitive) |
//!
//! Quote values with spaces: `desc:"T1 AX"`.

/// One condition of a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// A key attribute the catalogue has as a column.
    Column {
        column: Column,
        pattern: String,
    },
    /// Any element of the header, by tag, compared with a pattern.
    Element {
        tag: u32,
        pattern: String,
    },
    /// Presence of an element, or of any element of a group (`element: None`).
    HasTag {
        group: u16,
        element: Option<u16>,
    },
    Kind(String),
    Status(String),
    /// Files with unacknowledged findings at or above a severity (0 info, 1 warning, 2 error).
    Findings(i64),
    /// Items with a category in `set` (any, or `category`), by any annotator or final.
    Label {
        set: String,
        category: Option<String>,
    },
    /// Items without a category in `set` (`None`: in any set).
    LabelNone(Option<String>),
    /// Items with a label by this annotator.
    Annotator(String),
    /// Items whose annotators disagree in some set.
    Disagreement,
    Text(String),
    Not(Box<Term>),
}

/// Catalogue columns the filter knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Modality,
    Manufacturer,
    Model,
    Station,
    BodyPart,
    SeriesDescription,
    StudyDescription,
    Institution,
    Protocol,
    SopClass,
    TransferSyntax,
    Rows,
    Columns,
    StudyDate,
    Path,
    Extension,
}

impl Column {
    /// True when the column belongs to the series (or its study/patient), so a filter made of
    /// such terms can be answered from the small series table alone.
    pub fn is_series_level(self) -> bool {
        matches!(
            self,
            Column::Modality
                | Column::Manufacturer
                | Column::Model
                | Column::Station
                | Column::BodyPart
                | Column::SeriesDescription
                | Column::StudyDescription
                | Column::Institution
                | Column::Protocol
                | Column::StudyDate
        )
    }
}

/// A parsed filter: all terms must hold. Empty means everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    pub terms: Vec<Term>,
    pub text: String,
}

/// A filter that does not parse, with a message for the status bar.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether every term can be answered at series level (fast on any catalogue).
    pub fn series_level(&self) -> bool {
        fn ok(t: &Term) -> bool {
            match t {
                Term::Column { column, .. } => column.is_series_level(),
                Term::Not(inner) => ok(inner),
                _ => false,
            }
        }
        self.terms.iter().all(ok)
    }

    /// Kinds the filter restricts files to (`kind:` terms), if any.
    pub fn kinds(&self) -> Vec<&str> {
        self.terms
            .iter()
            .filter_map(|t| match t {
                Term::Kind(k) => Some(k.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let mut terms = Vec::new();
        for token in tokens(text)? {
            terms.push(parse_term(&token)?);
        }
        Ok(Filter {
            terms,
            text: text.trim().to_string(),
        })
    }
}

/// Splits on spaces, keeping quoted values together (`desc:"T1 AX"`).
fn tokens(text: &str) -> Result<Vec<String>, FilterError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err(FilterError("unclosed quote".into()));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

fn parse_term(token: &str) -> Result<Term, FilterError> {
    if token.eq_ignore_ascii_case("disagreement") || token.eq_ignore_ascii_case("disagreements") {
        return Ok(Term::Disagreement);
    }
    if let Some(rest) = token.strip_prefix('-').or_else(|| token.strip_prefix('!')) {
        if rest.is_empty() {
            return Ok(Term::Text(token.to_string()));
        }
        return Ok(Term::Not(Box::new(parse_term(rest)?)));
    }
    if let Some((key, value)) = token.split_once(':') {
        let lkey = key.to_ascii_lowercase();
        let column = match lkey.as_str() {
            "modality" | "mod" => Some(Column::Modality),
            "manufacturer" | "vendor" => Some(Column::Manufacturer),
            "model" => Some(Column::Model),
            "station" => Some(Column::Station),
            "body" | "bodypart" => Some(Column::BodyPart),
            "desc" | "series" => Some(Column::SeriesDescription),
            "study" => Some(Column::StudyDescription),
            "institution" => Some(Column::Institution),
            "protocol" => Some(Column::Protocol),
            "sop" => Some(Column::SopClass),
            "ts" | "syntax" => Some(Column::TransferSyntax),
            "rows" => Some(Column::Rows),
            "cols" | "columns" => Some(Column::Columns),
            "date" => Some(Column::StudyDate),
            "path" => Some(Column::Path),
            "ext" => Some(Column::Extension),
            _ => None,
        };
        if let Some(column) = column {
            return Ok(Term::Column {
                column,
                pattern: value.to_string(),
            });
        }
        match lkey.as_str() {
            "kind" => return Ok(Term::Kind(value.to_ascii_lowercase())),
            "findings" | "finding" => {
                return match value.to_ascii_lowercase().as_str() {
                    "error" | "errors" => Ok(Term::Findings(2)),
                    "warning" | "warnings" => Ok(Term::Findings(1)),
                    "info" | "any" | "" => Ok(Term::Findings(0)),
                    other => Err(FilterError(format!(
                        "findings:{other}: expected error, warning or info"
                    ))),
                }
            }
            "status" => return Ok(Term::Status(value.to_ascii_lowercase())),
            "label" | "labels" => return parse_label(value),
            "annotator" | "by" => {
                if value.is_empty() {
                    return Err(FilterError("annotator: needs a name".into()));
                }
                return Ok(Term::Annotator(value.to_string()));
            }
            "tag" => return parse_has_tag(value),
            _ => {}
        }
        // `0010,0010:...`-style keys are tags with a colon: fall through to '=' handling.
    }
    if let Some((key, value)) = token.split_once('=') {
        let tag = parse_tag(key)
            .or_else(|| tag_by_keyword(key))
            .ok_or_else(|| {
                FilterError(format!(
                    "unknown attribute {key:?} (a DICOM keyword or GGGG,EEEE)"
                ))
            })?;
        return Ok(Term::Element {
            tag,
            pattern: value.to_string(),
        });
    }
    if token.contains(':') && !token.contains('/') {
        let key = token.split(':').next().unwrap_or("");
        return Err(FilterError(format!(
            "unknown filter key {key:?}: try modality:, kind:, tag:, Keyword=value (see ?)"
        )));
    }
    Ok(Term::Text(token.to_string()))
}

/// `label:none`, `label:SET`, `label:SET=CATEGORY`, `label:SET=none`.
fn parse_label(value: &str) -> Result<Term, FilterError> {
    let (set, category) = match value.split_once('=') {
        Some((s, c)) => (s, Some(c)),
        None => (value, None),
    };
    if set.is_empty() {
        return Err(FilterError(
            "label: expected label:none, label:SET or label:SET=CATEGORY".into(),
        ));
    }
    if category.is_none() && set.eq_ignore_ascii_case("none") {
        return Ok(Term::LabelNone(None));
    }
    Ok(match category {
        Some(c) if c.eq_ignore_ascii_case("none") => Term::LabelNone(Some(set.to_string())),
        Some("") => {
            return Err(FilterError(format!(
                "label:{set}=: expected a category after ="
            )))
        }
        Some(c) => Term::Label {
            set: set.to_string(),
            category: Some(c.to_string()),
        },
        None => Term::Label {
            set: set.to_string(),
            category: None,
        },
    })
}

fn parse_has_tag(value: &str) -> Result<Term, FilterError> {
    let bad = || FilterError(format!("tag:{value}: expected GGGG,EEEE or GGGG,*"));
    let v = value.trim_start_matches('(').trim_end_matches(')');
    let (g, e) = v.split_once(',').ok_or_else(bad)?;
    let group = u16::from_str_radix(g, 16).map_err(|_| bad())?;
    let element = if e == "*" || e.eq_ignore_ascii_case("xxxx") {
        None
    } else {
        Some(u16::from_str_radix(e, 16).map_err(|_| bad())?)
    };
    Ok(Term::HasTag { group, element })
}

/// `GGGG,EEEE`, `(GGGG,EEEE)` or `GGGGEEEE`.
pub fn parse_tag(s: &str) -> Option<u32> {
    let s = s.trim().trim_start_matches('(').trim_end_matches(')');
    let (g, e) = match s.split_once(',') {
        Some(p) => p,
        None if s.len() == 8 => s.split_at(4),
        None => return None,
    };
    if g.len() != 4 || e.len() != 4 {
        return None;
    }
    let g = u16::from_str_radix(g, 16).ok()?;
    let e = u16::from_str_radix(e, 16).ok()?;
    Some(((g as u32) << 16) | e as u32)
}

/// A standard keyword (e.g. `Manufacturer`) to its tag.
pub fn tag_by_keyword(keyword: &str) -> Option<u32> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    static DICT: dicom_dictionary_std::StandardDataDictionary =
        dicom_dictionary_std::StandardDataDictionary;
    DICT.by_name(keyword).map(|e| {
        let t = e.tag();
        ((t.group() as u32) << 16) | t.element() as u32
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_examples() {
        let f = Filter::parse("modality:CT Manufacturer=GE* tag:0029,* kind:nifti liver").unwrap();
        assert_eq!(
            f.terms,
            vec![
                Term::Column {
                    column: Column::Modality,
                    pattern: "CT".into()
                },
                Term::Element {
                    tag: 0x0008_0070,
                    pattern: "GE*".into()
                },
                Term::HasTag {
                    group: 0x0029,
                    element: None
                },
                Term::Kind("nifti".into()),
                Term::Text("liver".into()),
            ]
        );
        assert!(!f.series_level());
        assert!(Filter::parse("modality:MR -desc:*LOC*")
            .unwrap()
            .series_level());
    }

    #[test]
    fn quotes_tags_and_errors() {
        let f = Filter::parse("desc:\"T1 AX\" 0018,0050=5").unwrap();
        assert_eq!(
            f.terms[0],
            Term::Column {
                column: Column::SeriesDescription,
                pattern: "T1 AX".into()
            }
        );
        assert_eq!(
            f.terms[1],
            Term::Element {
                tag: 0x0018_0050,
                pattern: "5".into()
            }
        );
        assert!(Filter::parse("NoSuchKeyword=1").is_err());
        assert!(Filter::parse("frobnicate:1").is_err());
        assert!(Filter::parse("desc:\"open").is_err());
        assert!(Filter::parse("tag:zz,*").is_err());
        assert!(Filter::parse("").unwrap().is_empty());
    }

    #[test]
    fn label_terms() {
        let f = Filter::parse("label:none label:quality=poor label:quality label:q=none annotator:alice disagreement -label:x=y")
            .unwrap();
        assert_eq!(
            f.terms,
            vec![
                Term::LabelNone(None),
                Term::Label {
                    set: "quality".into(),
                    category: Some("poor".into())
                },
                Term::Label {
                    set: "quality".into(),
                    category: None
                },
                Term::LabelNone(Some("q".into())),
                Term::Annotator("alice".into()),
                Term::Disagreement,
                Term::Not(Box::new(Term::Label {
                    set: "x".into(),
                    category: Some("y".into())
                })),
            ]
        );
        assert!(!f.series_level());
        assert!(Filter::parse("label:").is_err());
        assert!(Filter::parse("label:q=").is_err());
        assert!(Filter::parse("annotator:").is_err());
    }
}
