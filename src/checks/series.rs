//! Series and study integrity, the part other validators skip: missing slices (gaps along the
//! slice normal relative to the series' modal spacing, gaps in Instance Number), duplicate slice
//! positions and instance numbers, series that mix orientation, matrix, pixel spacing, modality
//! or frame of reference, studies under several patient names, series split across folders and
//! folders mixing series.

use super::engine::Finding;
use crate::catalogue::findings::SeriesInstance;
use crate::catalogue::{Catalogue, CatalogueError};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

fn parse_numbers(s: &str) -> Option<Vec<f64>> {
    s.split('\\')
        .map(|v| v.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect()
}

fn folder_of(path: &str) -> String {
    Path::new(path)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The common folder of a set of paths (what a series finding shows as its path).
fn common_folder(paths: &[&str]) -> Option<String> {
    let mut it = paths.iter().map(|p| folder_of(p));
    let mut common = it.next()?;
    for f in it {
        while !(f == common || f.starts_with(&format!("{common}/"))) {
            match Path::new(&common).parent() {
                Some(p) => common = p.to_string_lossy().into_owned(),
                None => return None,
            }
        }
    }
    Some(common)
}

/// Counts of distinct values, most frequent first, described as `a (n files), b (m files)`.
fn describe_counts(counts: &BTreeMap<String, usize>) -> String {
    let mut v: Vec<(&String, &usize)> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .take(4)
        .map(|(k, n)| format!("{k} ({n} file{})", if **n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ")
}

fn fmt_mm(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Checks one series (all its live instances).
pub fn check_series(cat: &Catalogue, series_uid: &str) -> Result<Vec<Finding>, CatalogueError> {
    let mut instances = cat.series_instances(series_uid)?;
    // Several files with one SOP Instance UID are one instance here (copies and UID conflicts
    // are the duplicate pass's findings, not gaps or duplicate slices).
    let mut seen_uids = std::collections::HashSet::new();
    instances.retain(|i| match &i.sop_instance_uid {
        Some(u) => seen_uids.insert(u.clone()),
        None => true,
    });
    let mut out = Vec::new();
    if instances.is_empty() {
        return Ok(out);
    }
    let subject = format!("series:{series_uid}");
    let paths: Vec<&str> = instances.iter().map(|i| i.path.as_str()).collect();
    let folder = common_folder(&paths);
    let study_uid = instances.first().map(|i| i.study_uid.clone());
    let mk = |code: &'static str, message: String| {
        let mut f = Finding::new(code, subject.clone(), message);
        f.path = folder.clone();
        f.series_uid = Some(series_uid.to_string());
        f.study_uid = study_uid.clone().filter(|s| !s.is_empty());
        f
    };

    // Mixed attributes.
    let mut mixed =
        |code: &'static str, what: &str, key: &dyn Fn(&SeriesInstance) -> Option<String>| {
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for i in &instances {
                if let Some(k) = key(i) {
                    *counts.entry(k).or_default() += 1;
                }
            }
            if counts.len() > 1 {
                out.push(mk(
                    code,
                    format!(
                        "the series has {} different {what}: {}",
                        counts.len(),
                        describe_counts(&counts)
                    ),
                ));
            }
        };
    mixed("series.mixed.matrix", "Rows x Columns", &|i| {
        Some(format!("{}x{}", i.rows?, i.columns?))
    });
    mixed("series.mixed.pixel_spacing", "pixel spacings", &|i| {
        let v = parse_numbers(i.pixel_spacing.as_deref()?)?;
        Some(v.iter().map(|x| fmt_mm(*x)).collect::<Vec<_>>().join("\\"))
    });
    mixed("series.mixed.orientation", "image orientations", &|i| {
        let v = parse_numbers(i.image_orientation.as_deref()?)?;
        // Rounded so that floating-point noise in the cosines is not a "different" orientation.
        Some(
            v.iter()
                .map(|x| format!("{:.2}", x + 0.0))
                .collect::<Vec<_>>()
                .join("\\")
                .replace("-0.00", "0.00"),
        )
    });
    mixed("series.mixed.modality", "modalities", &|i| {
        i.modality.clone().filter(|m| !m.is_empty())
    });
    // Frame of reference UIDs are not PHI, but long: count them, do not list them.
    {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for i in &instances {
            if let Some(f) = &i.frame_of_reference {
                *counts.entry(f.clone()).or_default() += 1;
            }
        }
        if counts.len() > 1 {
            out.push(mk(
                "series.mixed.frame_of_reference",
                format!(
                    "the series has {} different Frame of Reference UIDs",
                    counts.len()
                ),
            ));
        }
    }

    let studies = cat.series_study_uids(series_uid)?;
    if studies.len() > 1 {
        let mut f = mk(
            "duplicate.series_uid_collision",
            format!(
                "the Series Instance UID is used in {} different studies: a UID collision",
                studies.len()
            ),
        );
        f.group = Some(format!("series-uid:{}", short_hash(series_uid)));
        out.push(f);
    }

    slice_geometry(&instances, &mut out, &mk);
    instance_numbers(&instances, &mut out, &mk);

    // Folders.
    let mut folders: BTreeMap<String, usize> = BTreeMap::new();
    for i in &instances {
        *folders.entry(folder_of(&i.path)).or_default() += 1;
    }
    if folders.len() > 1 {
        out.push(mk(
            "series.split_folders",
            format!(
                "the series' {} files are in {} folders",
                instances.len(),
                folders.len()
            ),
        ));
    }
    for dir in folders.keys() {
        let series = cat.folder_series(dir)?;
        // Reported once per folder: by the folder's first series.
        if series.len() > 1 && series.first().map(String::as_str) == Some(series_uid) {
            let mut f = Finding::new(
                "folder.mixed_series",
                format!("folder:{dir}"),
                format!("the folder holds files of {} series", series.len()),
            );
            f.path = Some(dir.clone());
            f.series_uid = Some(series_uid.to_string());
            out.push(f);
        }
    }
    Ok(out)
}

/// Gaps and duplicates along the slice normal, for single-frame images of one orientation.
fn slice_geometry(
    instances: &[SeriesInstance],
    out: &mut Vec<Finding>,
    mk: &dyn Fn(&'static str, String) -> Finding,
) {
    let mut orientation: Option<Vec<f64>> = None;
    let mut positions: Vec<(f64, Option<i64>)> = Vec::new();
    for i in instances {
        if i.frames.unwrap_or(1) > 1 {
            return; // multi-frame: geometry is per frame, in functional groups
        }
        let (Some(o), Some(p)) = (
            i.image_orientation.as_deref().and_then(parse_numbers),
            i.image_position.as_deref().and_then(parse_numbers),
        ) else {
            continue;
        };
        if o.len() != 6 || p.len() != 3 {
            continue;
        }
        match &orientation {
            None => orientation = Some(o.clone()),
            Some(first) if first.iter().zip(&o).any(|(a, b)| (a - b).abs() > 1e-3) => return,
            Some(_) => {}
        }
        let n = [
            o[1] * o[5] - o[2] * o[4],
            o[2] * o[3] - o[0] * o[5],
            o[0] * o[4] - o[1] * o[3],
        ];
        positions.push((p[0] * n[0] + p[1] * n[1] + p[2] * n[2], i.instance_number));
    }
    if positions.len() < 3 {
        return;
    }
    positions.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Distinct positions (within 1 µm) and how many slices sit at each.
    let mut distinct: Vec<(f64, Vec<Option<i64>>)> = Vec::new();
    for (d, n) in positions {
        match distinct.last_mut() {
            Some((last, list)) if (d - *last).abs() < 1e-3 => list.push(n),
            _ => distinct.push((d, vec![n])),
        }
    }
    // Several slices per position are normal for multi-echo or dynamic series, when every
    // position has the same number: only positions above the usual count are duplicates.
    let mut count_freq: HashMap<usize, usize> = HashMap::new();
    for (_, list) in &distinct {
        *count_freq.entry(list.len()).or_default() += 1;
    }
    let usual = count_freq
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(k, _)| *k)
        .unwrap_or(1);
    let numbers = |list: &[Option<i64>]| {
        list.iter()
            .map(|n| n.map(|n| n.to_string()).unwrap_or_else(|| "?".into()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (d, list) in &distinct {
        if list.len() > usual {
            out.push(mk(
                "series.slice.duplicate_position",
                format!(
                    "{} slices at position {} mm along the normal (instances {}); the series has {usual} per position",
                    list.len(),
                    fmt_mm(*d),
                    numbers(list)
                ),
            ));
        }
    }
    if distinct.len() < 3 {
        return;
    }
    // Modal spacing, in 0.01 mm bins.
    let diffs: Vec<f64> = distinct.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let mut bins: HashMap<i64, usize> = HashMap::new();
    for d in &diffs {
        *bins.entry((d * 100.0).round() as i64).or_default() += 1;
    }
    let Some((&bin, &freq)) = bins.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))) else {
        return;
    };
    let modal = bin as f64 / 100.0;
    // Irregular series (no dominant spacing) are not judged.
    if modal <= 0.0 || freq * 2 < diffs.len() {
        return;
    }
    for (k, d) in diffs.iter().enumerate() {
        if *d > modal * 1.5 {
            let missing = (d / modal).round() as i64 - 1;
            out.push(mk(
                "series.slice.gap",
                format!(
                    "gap of {} mm between slices at {} and {} mm along the normal (instances {} and {}); the series' spacing is {} mm: about {} slice{} missing",
                    fmt_mm(*d),
                    fmt_mm(distinct[k].0),
                    fmt_mm(distinct[k + 1].0),
                    numbers(&distinct[k].1),
                    numbers(&distinct[k + 1].1),
                    fmt_mm(modal),
                    missing.max(1),
                    if missing > 1 { "s" } else { "" }
                ),
            ));
        }
    }
}

/// Gaps and duplicates in Instance Number.
fn instance_numbers(
    instances: &[SeriesInstance],
    out: &mut Vec<Finding>,
    mk: &dyn Fn(&'static str, String) -> Finding,
) {
    let mut numbers: BTreeMap<i64, usize> = BTreeMap::new();
    for i in instances {
        if let Some(n) = i.instance_number {
            *numbers.entry(n).or_default() += 1;
        }
    }
    let dups: Vec<String> = numbers
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, c)| format!("{n} ({c} files)"))
        .collect();
    if !dups.is_empty() {
        out.push(mk(
            "series.instance.duplicate_number",
            format!(
                "Instance Number used more than once in the series: {}",
                dups.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let (Some((&lo, _)), Some((&hi, _))) = (numbers.first_key_value(), numbers.last_key_value())
    else {
        return;
    };
    if numbers.len() < 2 || hi - lo > 1_000_000 {
        return;
    }
    let mut ranges: Vec<String> = Vec::new();
    let mut missing = 0i64;
    let keys: Vec<i64> = numbers.keys().copied().collect();
    for w in keys.windows(2) {
        if w[1] - w[0] > 1 {
            missing += w[1] - w[0] - 1;
            ranges.push(if w[1] - w[0] == 2 {
                format!("{}", w[0] + 1)
            } else {
                format!("{}-{}", w[0] + 1, w[1] - 1)
            });
        }
    }
    if missing > 0 {
        out.push(mk(
            "series.instance.gap",
            format!(
                "{missing} Instance Number{} missing between {lo} and {hi}: {}",
                if missing == 1 { " is" } else { "s are" },
                ranges
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
}

/// Checks one study: several patient names under one Patient ID, and UID collisions (the same
/// Study Instance UID under different patients; series UIDs reused in other studies).
pub fn check_study(cat: &Catalogue, study_uid: &str) -> Result<Vec<Finding>, CatalogueError> {
    let ids = cat.study_identities(study_uid)?;
    let mut out = Vec::new();
    let subject = format!("study:{study_uid}");
    let mut by_id: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, _) in &ids {
        *by_id.entry(id.as_str()).or_default() += 1;
    }
    if by_id.len() > 1 {
        let mut f = Finding::new(
            "duplicate.study_uid_collision",
            subject.clone(),
            format!(
                "the Study Instance UID is used by {} different patients (Patient IDs): a UID collision",
                by_id.len()
            ),
        );
        f.study_uid = Some(study_uid.to_string());
        f.group = Some(format!("study-uid:{}", short_hash(study_uid)));
        out.push(f);
    }
    for (_, names) in by_id.iter().filter(|(_, n)| **n > 1) {
        let mut f = Finding::new(
            "study.patient_name_mismatch",
            subject.clone(),
            format!("one Patient ID appears with {names} different patient names in this study"),
        );
        f.study_uid = Some(study_uid.to_string());
        out.push(f);
    }
    Ok(out)
}

/// A short stable id for grouping (not a security hash).
pub(crate) fn short_hash(s: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_folders() {
        assert_eq!(
            common_folder(&["/a/b/c/1.dcm", "/a/b/c/2.dcm"]).as_deref(),
            Some("/a/b/c")
        );
        assert_eq!(
            common_folder(&["/a/b/c/1.dcm", "/a/b/d/2.dcm"]).as_deref(),
            Some("/a/b")
        );
    }
}
