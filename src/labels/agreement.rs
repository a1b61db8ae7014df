//! Inter-annotator agreement: percent agreement, Cohen's kappa (two annotators), Fleiss'
//! kappa (any number of annotators, each item rated by the same number), confusion matrix.
//!
//! Multi-choice sets are compared on the whole combination of categories (an item labelled
//! `a;b` by one annotator and `a` by another is a disagreement).

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Cohen's kappa from a k×k confusion matrix (rows: annotator A, columns: annotator B).
/// `None` when the matrix is empty or chance agreement is 1 (kappa undefined).
pub fn cohen_kappa(matrix: &[Vec<u64>]) -> Option<f64> {
    let k = matrix.len();
    let n: u64 = matrix.iter().flatten().sum();
    if n == 0 || matrix.iter().any(|r| r.len() != k) {
        return None;
    }
    let n = n as f64;
    let po = (0..k).map(|i| matrix[i][i]).sum::<u64>() as f64 / n;
    let pe: f64 = (0..k)
        .map(|i| {
            let row: u64 = matrix[i].iter().sum();
            let col: u64 = matrix.iter().map(|r| r[i]).sum();
            (row as f64 / n) * (col as f64 / n)
        })
        .sum();
    if (1.0 - pe).abs() < 1e-12 {
        return None;
    }
    Some((po - pe) / (1.0 - pe))
}

/// Fleiss' kappa from an N×k table: `counts[i][j]` raters put item i in category j. Every
/// item must have the same number of raters (≥ 2). `None` when undefined.
pub fn fleiss_kappa(counts: &[Vec<u64>]) -> Option<f64> {
    let first = counts.first()?;
    let k = first.len();
    let n: u64 = first.iter().sum();
    if n < 2
        || counts
            .iter()
            .any(|r| r.len() != k || r.iter().sum::<u64>() != n)
    {
        return None;
    }
    let big_n = counts.len() as f64;
    let nf = n as f64;
    let p_bar = counts
        .iter()
        .map(|r| {
            let s: f64 = r.iter().map(|&x| (x * x) as f64).sum();
            (s - nf) / (nf * (nf - 1.0))
        })
        .sum::<f64>()
        / big_n;
    let pe: f64 = (0..k)
        .map(|j| {
            let pj = counts.iter().map(|r| r[j]).sum::<u64>() as f64 / (big_n * nf);
            pj * pj
        })
        .sum();
    if (1.0 - pe).abs() < 1e-12 {
        return None;
    }
    Some((p_bar - pe) / (1.0 - pe))
}

/// Agreement figures of one label set.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SetAgreement {
    pub set: String,
    pub annotators: Vec<String>,
    /// Items labelled by at least two annotators.
    pub items_compared: usize,
    /// Share of those items on which every annotator chose the same category.
    pub percent_agreement: Option<f64>,
    /// Two annotators: Cohen's kappa over the items both labelled.
    pub cohen_kappa: Option<f64>,
    /// More than two annotators: Fleiss' kappa over the items all of them labelled.
    pub fleiss_kappa: Option<f64>,
    /// Items in the Fleiss computation.
    pub fleiss_items: usize,
    /// Categories (rows and columns of the confusion matrix), in scheme order then others.
    pub categories: Vec<String>,
    /// Two annotators: rows the first annotator, columns the second.
    pub confusion: Option<Vec<Vec<u64>>>,
    /// Every pair of annotators: (a, b, items both labelled, Cohen's kappa).
    pub pairwise: Vec<(String, String, usize, Option<f64>)>,
}

/// Computes agreement from `(item, annotator, category)` ratings of one set (one rating per
/// item and annotator; adjudicated final labels are not ratings). `categories` gives the
/// order of the matrix; categories seen but not listed are appended.
pub fn agreement(
    set: &str,
    categories: &[&str],
    ratings: &[(String, String, String)],
) -> SetAgreement {
    let mut cats: Vec<String> = categories.iter().map(|s| s.to_string()).collect();
    for (_, _, c) in ratings {
        if !cats.contains(c) {
            cats.push(c.clone());
        }
    }
    let idx = |c: &str| cats.iter().position(|x| x == c).unwrap_or(0);
    let annotators: Vec<String> = ratings
        .iter()
        .map(|r| r.1.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut by_item: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for (item, who, c) in ratings {
        by_item
            .entry(item.as_str())
            .or_default()
            .insert(who.as_str(), idx(c));
    }
    let compared: Vec<&BTreeMap<&str, usize>> = by_item.values().filter(|m| m.len() >= 2).collect();
    let agree = compared
        .iter()
        .filter(|m| {
            let mut v = m.values();
            let first = v.next();
            v.all(|x| Some(x) == first)
        })
        .count();
    let percent_agreement = (!compared.is_empty()).then(|| agree as f64 / compared.len() as f64);
    let k = cats.len();
    let matrix_of = |a: &str, b: &str| {
        let mut m = vec![vec![0u64; k]; k];
        let mut n = 0;
        for item in by_item.values() {
            if let (Some(&x), Some(&y)) = (item.get(a), item.get(b)) {
                m[x][y] += 1;
                n += 1;
            }
        }
        (m, n)
    };
    let mut pairwise = Vec::new();
    for (i, a) in annotators.iter().enumerate() {
        for b in annotators.iter().skip(i + 1) {
            let (m, n) = matrix_of(a, b);
            pairwise.push((a.clone(), b.clone(), n, cohen_kappa(&m)));
        }
    }
    let (cohen, confusion) = if annotators.len() == 2 {
        let (m, _) = matrix_of(&annotators[0], &annotators[1]);
        (cohen_kappa(&m), Some(m))
    } else {
        (None, None)
    };
    let (fleiss, fleiss_items) = if annotators.len() > 2 {
        let table: Vec<Vec<u64>> = by_item
            .values()
            .filter(|m| m.len() == annotators.len())
            .map(|m| {
                let mut row = vec![0u64; k];
                for &c in m.values() {
                    row[c] += 1;
                }
                row
            })
            .collect();
        (fleiss_kappa(&table), table.len())
    } else {
        (None, 0)
    };
    SetAgreement {
        set: set.to_string(),
        annotators,
        items_compared: compared.len(),
        percent_agreement,
        cohen_kappa: cohen,
        fleiss_kappa: fleiss,
        fleiss_items,
        categories: cats,
        confusion,
        pairwise,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wikipedia, "Cohen's kappa", simple example: 50 proposals, yes/yes 20, yes/no 5,
    /// no/yes 10, no/no 15 → po = 0.7, pe = 0.5, κ = 0.4.
    #[test]
    fn cohen_wikipedia_example() {
        let k = cohen_kappa(&[vec![20, 5], vec![10, 15]]).unwrap();
        assert!((k - 0.4).abs() < 1e-12, "{k}");
        // The same through ratings: A says yes on rows, B on columns.
        let mut r = Vec::new();
        let mut n = 0;
        for (a, b, count) in [
            ("yes", "yes", 20),
            ("yes", "no", 5),
            ("no", "yes", 10),
            ("no", "no", 15),
        ] {
            for _ in 0..count {
                r.push((format!("i{n}"), "A".to_string(), a.to_string()));
                r.push((format!("i{n}"), "B".to_string(), b.to_string()));
                n += 1;
            }
        }
        let ag = agreement("s", &["yes", "no"], &r);
        assert_eq!(ag.items_compared, 50);
        assert!((ag.cohen_kappa.unwrap() - 0.4).abs() < 1e-12);
        assert!((ag.percent_agreement.unwrap() - 0.7).abs() < 1e-12);
        assert_eq!(ag.confusion, Some(vec![vec![20, 5], vec![10, 15]]));
        assert_eq!(ag.fleiss_kappa, None);
    }

    /// Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories,
    /// P̄ = 0.378, P̄e = 0.213, κ = 0.210.
    const FLEISS: [[u64; 5]; 10] = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ];

    #[test]
    fn fleiss_wikipedia_example() {
        let t: Vec<Vec<u64>> = FLEISS.iter().map(|r| r.to_vec()).collect();
        let k = fleiss_kappa(&t).unwrap();
        assert!((k - 0.210).abs() < 0.0005, "{k}");
        // Through ratings: 14 annotators, each subject's counts dealt out in order.
        let cats = ["1", "2", "3", "4", "5"];
        let mut r = Vec::new();
        for (i, row) in FLEISS.iter().enumerate() {
            let mut rater = 0;
            for (j, &n) in row.iter().enumerate() {
                for _ in 0..n {
                    r.push((format!("s{i}"), format!("r{rater:02}"), cats[j].to_string()));
                    rater += 1;
                }
            }
        }
        let ag = agreement("s", &cats, &r);
        assert_eq!(ag.annotators.len(), 14);
        assert_eq!(ag.fleiss_items, 10);
        assert!((ag.fleiss_kappa.unwrap() - k).abs() < 1e-12);
        // Only subject 1 has every rater agreeing.
        assert!((ag.percent_agreement.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(ag.pairwise.len(), 14 * 13 / 2);
    }

    #[test]
    fn degenerate_cases() {
        assert_eq!(cohen_kappa(&[]), None);
        // Everyone always says the same category: chance agreement is 1.
        assert_eq!(cohen_kappa(&[vec![5, 0], vec![0, 0]]), None);
        assert_eq!(
            fleiss_kappa(&[vec![1, 1], vec![2, 1]]),
            None,
            "unequal raters"
        );
        let perfect = cohen_kappa(&[vec![3, 0], vec![0, 4]]).unwrap();
        assert!((perfect - 1.0).abs() < 1e-12);
        let ag = agreement("s", &["a"], &[("x".into(), "A".into(), "a".into())]);
        assert_eq!(ag.items_compared, 0);
        assert_eq!(ag.percent_agreement, None);
    }
}
