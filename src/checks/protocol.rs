//! Protocol deviations ("acquisition protocols different from those planned"): a TOML protocol
//! file states what the study expects, and every series or study that deviates is a finding.
//! Without a protocol, series that differ from the majority of the dataset's series of their
//! modality are `info` outliers.
//!
//! ```toml
//! modalities = ["CT", "MR"]             # expected modalities
//! manufacturers = ["SIEMENS*", "GE*"]   # patterns: * any text, ? one character; case-insensitive
//! contrast = false                      # contrast expected (true) or not (false)
//! required_series = ["*AXIAL*"]         # each study needs a series whose description matches
//!
//! [modality.CT]                         # what applies to CT series only (overrides the above)
//! slice_thickness = [0.5, 3.0]          # mm, inclusive
//! pixel_spacing = [0.3, 1.0]            # mm, both in-plane spacings
//! min_matrix = 512                      # smallest acceptable Rows and Columns
//! ```

use super::engine::Finding;
use crate::catalogue::findings::SeriesSummary;
use crate::catalogue::{Catalogue, CatalogueError};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// Expectations, for all series or for one modality.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub slice_thickness: Option<[f64; 2]>,
    pub pixel_spacing: Option<[f64; 2]>,
    pub min_matrix: Option<i64>,
    pub manufacturers: Option<Vec<String>>,
    pub contrast: Option<bool>,
    pub required_series: Option<Vec<String>>,
}

/// A study protocol (see the module documentation for the file format).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    pub modalities: Option<Vec<String>>,
    pub slice_thickness: Option<[f64; 2]>,
    pub pixel_spacing: Option<[f64; 2]>,
    pub min_matrix: Option<i64>,
    pub manufacturers: Option<Vec<String>>,
    pub contrast: Option<bool>,
    pub required_series: Option<Vec<String>>,
    #[serde(default)]
    pub modality: BTreeMap<String, Expect>,
}

impl Protocol {
    /// Parses a protocol file's text.
    pub fn parse(text: &str) -> Result<Protocol, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// What applies to series of `modality`.
    fn expect(&self, modality: &str) -> Expect {
        let m = self.modality.get(modality).cloned().unwrap_or_default();
        Expect {
            slice_thickness: m.slice_thickness.or(self.slice_thickness),
            pixel_spacing: m.pixel_spacing.or(self.pixel_spacing),
            min_matrix: m.min_matrix.or(self.min_matrix),
            manufacturers: m.manufacturers.or_else(|| self.manufacturers.clone()),
            contrast: m.contrast.or(self.contrast),
            required_series: m.required_series,
        }
    }
}

/// `*`/`?` pattern match, ASCII case-insensitive.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_uppercase().chars().collect();
    let t: Vec<char> = text.to_ascii_uppercase().chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn spacing(s: &SeriesSummary) -> Option<Vec<f64>> {
    s.pixel_spacing
        .as_deref()?
        .split('\\')
        .map(|v| v.trim().parse::<f64>().ok())
        .collect()
}

fn series_finding(s: &SeriesSummary, code: &'static str, message: String) -> Finding {
    let mut f = Finding::new(code, format!("series:{}", s.series_uid), message);
    f.path = s.folder.clone();
    f.series_uid = Some(s.series_uid.clone());
    f.study_uid = Some(s.study_uid.clone());
    f
}

fn in_range(x: f64, r: [f64; 2]) -> bool {
    x >= r[0] - 1e-6 && x <= r[1] + 1e-6
}

/// Every deviation of the catalogued series and studies from the protocol.
pub fn check(cat: &Catalogue, p: &Protocol) -> Result<Vec<Finding>, CatalogueError> {
    let all = cat.series_summaries()?;
    let mut out = Vec::new();
    for s in &all {
        let modality = s.modality.clone().unwrap_or_default();
        if let Some(list) = &p.modalities {
            if !list.iter().any(|m| m.eq_ignore_ascii_case(&modality)) {
                out.push(series_finding(
                    s,
                    "protocol.modality",
                    format!(
                        "modality {} is not one the protocol expects ({})",
                        if modality.is_empty() {
                            "(none)"
                        } else {
                            &modality
                        },
                        list.join(", ")
                    ),
                ));
                continue;
            }
        }
        let e = p.expect(&modality);
        if let (Some(r), Some(t)) = (e.slice_thickness, s.slice_thickness) {
            if !in_range(t, r) {
                out.push(series_finding(
                    s,
                    "protocol.slice_thickness",
                    format!(
                        "slice thickness {t} mm is outside the protocol's {}-{} mm",
                        r[0], r[1]
                    ),
                ));
            }
        }
        if let (Some(r), Some(v)) = (e.pixel_spacing, spacing(s)) {
            if v.iter().any(|x| !in_range(*x, r)) {
                out.push(series_finding(
                    s,
                    "protocol.pixel_spacing",
                    format!(
                        "pixel spacing {} mm is outside the protocol's {}-{} mm",
                        v.iter()
                            .map(|x| x.to_string())
                            .collect::<Vec<_>>()
                            .join("\\"),
                        r[0],
                        r[1]
                    ),
                ));
            }
        }
        if let (Some(min), Some(rows), Some(cols)) = (e.min_matrix, s.rows, s.columns) {
            if rows.min(cols) < min {
                out.push(series_finding(
                    s,
                    "protocol.matrix",
                    format!("matrix {rows}x{cols} is smaller than the protocol's minimum {min}"),
                ));
            }
        }
        if let Some(list) = &e.manufacturers {
            let m = s.manufacturer.clone().unwrap_or_default();
            if !list.iter().any(|pat| glob(pat, m.trim())) {
                out.push(series_finding(
                    s,
                    "protocol.manufacturer",
                    format!(
                        "manufacturer {} is not in the protocol's list",
                        if m.is_empty() {
                            "(none)".to_string()
                        } else {
                            format!("{m:?}")
                        }
                    ),
                ));
            }
        }
        if let Some(want) = e.contrast {
            if want != s.contrast {
                out.push(series_finding(
                    s,
                    "protocol.contrast",
                    if want {
                        "the protocol expects contrast but the series has no contrast agent"
                            .to_string()
                    } else {
                        "the series names a contrast agent but the protocol expects none"
                            .to_string()
                    },
                ));
            }
        }
    }
    // Required series, per study.
    let mut studies: BTreeMap<&str, Vec<&SeriesSummary>> = BTreeMap::new();
    for s in &all {
        studies.entry(s.study_uid.as_str()).or_default().push(s);
    }
    for (study, series) in studies {
        let mut patterns: Vec<(String, &str)> = p
            .required_series
            .iter()
            .flatten()
            .map(|pat| (pat.clone(), ""))
            .collect();
        for (m, e) in &p.modality {
            if series
                .iter()
                .any(|s| s.modality.as_deref() == Some(m.as_str()))
            {
                for pat in e.required_series.iter().flatten() {
                    patterns.push((pat.clone(), m.as_str()));
                }
            }
        }
        for (pat, modality) in patterns {
            let found = series.iter().any(|s| {
                (modality.is_empty() || s.modality.as_deref() == Some(modality))
                    && glob(&pat, s.description.as_deref().unwrap_or("").trim())
            });
            if !found {
                let mut f = Finding::new(
                    "protocol.required_series",
                    format!("study:{study}"),
                    format!(
                        "no {}series whose description matches the protocol's {pat:?}",
                        if modality.is_empty() {
                            String::new()
                        } else {
                            format!("{modality} ")
                        }
                    ),
                );
                f.study_uid = Some(study.to_string());
                f.path = series.first().and_then(|s| s.folder.clone()).and_then(|p| {
                    std::path::Path::new(&p)
                        .parent()
                        .map(|x| x.to_string_lossy().into_owned())
                });
                out.push(f);
            }
        }
    }
    Ok(out)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Series that differ from the majority of the dataset's series of their modality (only for
/// modalities with at least 5 series): matrix, slice thickness, pixel spacing, manufacturer.
pub fn outliers(cat: &Catalogue) -> Result<Vec<Finding>, CatalogueError> {
    let all = cat.series_summaries()?;
    let mut by_modality: BTreeMap<String, Vec<&SeriesSummary>> = BTreeMap::new();
    for s in &all {
        if let Some(m) = &s.modality {
            by_modality.entry(m.clone()).or_default().push(s);
        }
    }
    let mut out = Vec::new();
    for (modality, series) in by_modality {
        let n = series.len();
        if n < 5 {
            continue;
        }
        // Matrix and manufacturer: a clear majority (80%) and a series that differs.
        let mut mode = |key: &dyn Fn(&SeriesSummary) -> Option<String>, what: &str| {
            let mut counts: HashMap<String, usize> = HashMap::new();
            for s in &series {
                if let Some(k) = key(s) {
                    *counts.entry(k).or_default() += 1;
                }
            }
            let Some((top, c)) = counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            else {
                return;
            };
            if *c * 5 < n * 4 {
                return;
            }
            for s in &series {
                if let Some(k) = key(s) {
                    if &k != top {
                        out.push(series_finding(
                            s,
                            "protocol.outlier",
                            format!("{what} {k} differs from the {top} of {c} of the dataset's {n} {modality} series"),
                        ));
                    }
                }
            }
        };
        mode(&|s| Some(format!("{}x{}", s.rows?, s.columns?)), "matrix");
        mode(
            &|s| s.manufacturer.clone().map(|m| format!("{m:?}")),
            "manufacturer",
        );
        // Slice thickness and pixel spacing: more than 2.5x away from the median.
        type Key<'a> = &'a dyn Fn(&SeriesSummary) -> Option<f64>;
        let numeric: [(&str, Key<'_>); 2] = [
            ("slice thickness (mm)", &|s| s.slice_thickness),
            ("pixel spacing (mm)", &|s| {
                spacing(s).and_then(|v| v.first().copied())
            }),
        ];
        for (what, key) in numeric {
            let Some(m) = median(series.iter().filter_map(|s| key(s)).collect()) else {
                continue;
            };
            if m <= 0.0 {
                continue;
            }
            for s in &series {
                if let Some(x) = key(s) {
                    if x > m * 2.5 || x < m / 2.5 {
                        out.push(series_finding(
                            s,
                            "protocol.outlier",
                            format!("{what} {x} is far from the median {m} of the dataset's {n} {modality} series"),
                        ));
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("SIEMENS*", "Siemens Healthineers"));
        assert!(glob("*axial*", "AX T1 AXIAL 5MM"));
        assert!(glob("T?", "T1") && !glob("T?", "T12"));
        assert!(!glob("GE*", "SIEMENS"));
    }

    #[test]
    fn parses_and_rejects_typos() {
        let p = Protocol::parse(
            "modalities = [\"CT\"]\ncontrast = false\n[modality.CT]\nslice_thickness = [0.5, 3.0]\nmin_matrix = 512\n",
        )
        .expect("valid");
        assert_eq!(p.expect("CT").min_matrix, Some(512));
        assert_eq!(p.expect("CT").contrast, Some(false));
        assert!(Protocol::parse("slice_thicknes = [1.0, 2.0]").is_err());
    }
}
