//! NIfTI slices against nibabel: the voxel values of every corpus NIfTI file with voxel data
//! (scaled by scl_slope/scl_inter, every time point) and the axial, coronal and sagittal
//! slices the pane shows, rebuilt independently from nibabel's closest canonical (RAS)
//! orientation with the display convention (screen right = patient left, screen up =
//! anterior/superior; slice index toward superior/posterior/left).

use dicura::preview::{self, volume::NiftiVolume, Axis, Source, View, Window};
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> Option<PathBuf> {
    let base = match std::env::var_os("DICURA_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    let dir = base.join("nifti");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "corpus missing but CI=true"
    );
    None
}

fn nibabel() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import nibabel"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok || std::env::var("CI").as_deref() != Ok("true"),
        "nibabel missing but CI=true"
    );
    ok
}

const FILES: &[&str] = &[
    "anatomical.nii",
    "example4d.nii.gz",
    "example_nifti2.nii.gz",
    "functional.nii",
    "standard.nii.gz",
];

/// Writes, for time point `t`: all voxels (Fortran order) and the three middle slices as
/// the pane should show them, as float32 files.
const SCRIPT: &str = r#"
import sys, numpy as np, nibabel as nib
path, out, t = sys.argv[1], sys.argv[2], int(sys.argv[3])
img = nib.load(path)
data = np.asanyarray(img.dataobj).astype(np.float64)
if data.ndim == 3: data = data[..., None]
vol = data[..., t]
vol.astype(np.float32).ravel(order='F').tofile(out + '.vox')
canon = nib.as_closest_canonical(nib.Nifti1Image(vol, img.affine))
c = np.asanyarray(canon.dataobj)
nx, ny, nz = c.shape
ax = c[::-1, ::-1, nz // 2].T            # rows: P<-A flipped so top = anterior; cols: L at right
co = c[::-1, ny - 1 - ny // 2, ::-1].T   # top = superior
sa = c[nx - 1 - nx // 2, ::-1, ::-1].T   # cols: anterior on the left
for name, a in (('axial', ax), ('coronal', co), ('sagittal', sa)):
    np.ascontiguousarray(a).astype(np.float32).tofile(out + '.' + name)
    print(name, a.shape[1], a.shape[0])
"#;

fn floats(p: &Path) -> Vec<f32> {
    std::fs::read(p)
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs()))
}

#[test]
fn nifti_voxels_and_slices_match_nibabel() {
    let Some(dir) = corpus() else { return };
    if !nibabel() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for name in FILES {
        let path = dir.join(name);
        let vol = NiftiVolume::open(&path).unwrap();
        let mut opened = preview::open(&Source::Volume { path: path.clone() }).unwrap();
        for t in [0, vol.time_points - 1] {
            let out = tmp.path().join(format!("{name}.{t}"));
            let o = Command::new("python3")
                .args(["-c", SCRIPT])
                .arg(&path)
                .arg(&out)
                .arg(t.to_string())
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let grid = vol.read(t).unwrap();
            let want = floats(&out.with_extension(format!("{t}.vox")));
            assert!(
                close(&grid.data, &want),
                "{name} t={t}: voxel values differ from nibabel"
            );
            let sizes = String::from_utf8_lossy(&o.stdout).into_owned();
            for line in sizes.lines() {
                let parts: Vec<&str> = line.split_whitespace().collect();
                let axis = Axis::parse(parts[0]).unwrap();
                let (w, h): (u32, u32) = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
                let n = opened.count(Some(axis));
                let slice = grid.slice(axis, n / 2).unwrap();
                assert_eq!((slice.width, slice.height), (w, h), "{name} {axis:?} size");
                let want = floats(&out.with_extension(format!("{t}.{}", parts[0])));
                assert!(
                    close(&slice.data, &want),
                    "{name} t={t} {axis:?}: slice differs"
                );
                // Labels follow the display convention for these axis-aligned files.
                let expect = match axis {
                    Axis::Axial => ["A", "L", "P", "R"],
                    Axis::Coronal => ["S", "L", "I", "R"],
                    Axis::Sagittal => ["S", "P", "I", "A"],
                };
                let got: Vec<String> = slice.labels.iter().map(|l| l.clone().unwrap()).collect();
                assert_eq!(got, expect, "{name} {axis:?} labels");
                // And the rendered picture has that size (pixdim aspect aside) and renders.
                let r = opened
                    .render(&View {
                        index: n / 2,
                        axis: Some(axis),
                        time: t,
                        window: Window::Auto,
                        stored_grid: true,
                        ..View::default()
                    })
                    .unwrap();
                assert_eq!((r.picture.width(), r.picture.height()), (w, h));
                checked += 1;
            }
        }
    }
    assert_eq!(checked, FILES.len() * 2 * 3);
}

#[test]
fn nifti_errors_are_clean() {
    let Some(dir) = corpus() else { return };
    // Header-only pairs: the .img partner is missing.
    for name in ["analyze.hdr", "nifti1.hdr", "nifti2.hdr"] {
        let path = dir.join(name);
        let r = preview::open(&Source::Volume { path: path.clone() })
            .and_then(|mut o| o.render(&View::default()));
        let e = r.expect_err(name).to_string();
        assert!(e.contains("missing"), "{name}: {e}");
    }
    // Time point out of range is an error value.
    let mut o = preview::open(&Source::Volume {
        path: dir.join("functional.nii"),
    })
    .unwrap();
    assert_eq!(o.info().time_points, 20);
    assert!(o
        .render(&View {
            time: 20,
            ..View::default()
        })
        .is_err());
    // CIFTI (row_major.dconn.nii): a picture of its first 2-D plane or a clean error.
    let _ = preview::open(&Source::Volume {
        path: dir.join("row_major.dconn.nii"),
    })
    .and_then(|mut o| o.render(&View::default()));
}
