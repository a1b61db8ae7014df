//! Orientation labels for the four borders of a displayed image, from direction cosines in
//! the DICOM patient coordinate system (LPS: +x left, +y posterior, +z superior; PS3.3
//! C.7.6.2.1.1). NIfTI affines (RAS) are converted to LPS before they get here.

/// Letters for a direction in LPS, strongest component first; components below 0.2 are
/// left out so that a slightly oblique slice still reads "L", not "LAF".
pub fn label(v: [f64; 3]) -> Option<String> {
    let mut parts: Vec<(f64, char)> = Vec::new();
    let letters = [('L', 'R'), ('P', 'A'), ('S', 'I')];
    for (c, (pos, neg)) in v.iter().zip(letters) {
        if !c.is_finite() {
            return None;
        }
        if c.abs() >= 0.2 {
            parts.push((c.abs(), if *c > 0.0 { pos } else { neg }));
        }
    }
    if parts.is_empty() {
        return None;
    }
    parts.sort_by(|a, b| b.0.total_cmp(&a.0));
    Some(parts.into_iter().map(|p| p.1).collect())
}

fn neg(v: [f64; 3]) -> [f64; 3] {
    [-v[0], -v[1], -v[2]]
}

/// `[top, right, bottom, left]` for an image whose columns advance along `right` (screen
/// x) and rows along `down` (screen y).
pub fn border_labels(right: [f64; 3], down: [f64; 3]) -> [Option<String>; 4] {
    [
        label(neg(down)),
        label(right),
        label(down),
        label(neg(right)),
    ]
}

/// Labels of a single DICOM image from Image Orientation (Patient): its first triplet is the
/// direction of the rows (screen right), the second that of the columns (screen down).
pub fn dicom_labels(iop: Option<[f64; 6]>) -> [Option<String>; 4] {
    match iop {
        Some(o) => border_labels([o[0], o[1], o[2]], [o[3], o[4], o[5]]),
        None => [None, None, None, None],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axial_coronal_sagittal() {
        // Standard axial: patient's right on the screen's left, anterior at the top.
        let ax = dicom_labels(Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]));
        assert_eq!(
            ax,
            [
                Some("A".into()),
                Some("L".into()),
                Some("P".into()),
                Some("R".into())
            ]
        );
        // Coronal: superior at the top.
        let co = dicom_labels(Some([1.0, 0.0, 0.0, 0.0, 0.0, -1.0]));
        assert_eq!(
            co,
            [
                Some("S".into()),
                Some("L".into()),
                Some("I".into()),
                Some("R".into())
            ]
        );
        // Sagittal: anterior on the left.
        let sa = dicom_labels(Some([0.0, 1.0, 0.0, 0.0, 0.0, -1.0]));
        assert_eq!(
            sa,
            [
                Some("S".into()),
                Some("P".into()),
                Some("I".into()),
                Some("A".into())
            ]
        );
    }

    #[test]
    fn oblique_lists_strongest_first() {
        let s = 0.5f64.sqrt();
        assert_eq!(label([s * 0.9, -s * 1.1, 0.05]).as_deref(), Some("AL"));
        assert_eq!(label([0.0, 0.0, 0.0]), None);
        assert_eq!(label([f64::NAN, 1.0, 0.0]), None);
    }
}
