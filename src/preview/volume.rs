//! Volumes: a voxel grid with its geometry in patient space (LPS), built from a NIfTI/Analyze
//! file (voxels read here, header by `formats::nifti`) or from a DICOM series ordered along
//! its slice normal, and cut into axial, coronal or sagittal slices shown the radiological
//! way (patient's right on the screen's left, anterior or superior at the top).

use super::error::PreviewError;
use crate::formats::nifti::{self, ByteOrder, VolumeHeader};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Voxels of one 3-D volume held at most (f32 each: 512 MiB).
pub const MAX_VOXELS: u64 = 128 << 20;

/// Anatomical plane of a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Axis {
    Axial,
    Coronal,
    Sagittal,
}

impl Axis {
    pub const ALL: [Axis; 3] = [Axis::Axial, Axis::Coronal, Axis::Sagittal];
    /// The LPS world axis normal to this plane.
    fn normal(self) -> usize {
        match self {
            Axis::Axial => 2,
            Axis::Coronal => 1,
            Axis::Sagittal => 0,
        }
    }
    /// (world axis, sign) for screen-right and screen-down.
    fn screen(self) -> ((usize, f64), (usize, f64)) {
        match self {
            Axis::Axial => ((0, 1.0), (1, 1.0)),
            Axis::Coronal => ((0, 1.0), (2, -1.0)),
            Axis::Sagittal => ((1, 1.0), (2, -1.0)),
        }
    }
    pub fn parse(s: &str) -> Option<Axis> {
        match s.to_ascii_lowercase().as_str() {
            "axial" | "ax" | "transverse" => Some(Axis::Axial),
            "coronal" | "cor" => Some(Axis::Coronal),
            "sagittal" | "sag" => Some(Axis::Sagittal),
            _ => None,
        }
    }
}

/// A 3-D grid of modality values; voxel (i, j, k) is `data[i + nx*(j + ny*k)]` (an ndarray of
/// shape (nz, ny, nx) in standard order, which is how slices are cut) and sits at
/// `origin + i*dir[0]*spacing[0] + j*dir[1]*spacing[1] + k*dir[2]*spacing[2]` (LPS, mm).
#[derive(Debug, Clone)]
pub struct Grid {
    pub dims: [usize; 3],
    /// Unit direction of each voxel axis in LPS.
    pub dir: [[f64; 3]; 3],
    pub spacing: [f64; 3],
    /// Whether `dir` is known (false: Analyze or NIfTI without sform/qform; no labels).
    pub oriented: bool,
    pub data: Vec<f32>,
}

/// How a plane maps onto the voxel axes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cut {
    /// Voxel axis across slices, then screen-x and screen-y voxel axes.
    pub normal: usize,
    pub h: usize,
    pub v: usize,
    pub flip_h: bool,
    pub flip_v: bool,
    /// Slice indices count toward +normal in LPS (superior, posterior, left): flip when the
    /// voxel axis runs the other way.
    pub flip_n: bool,
}

/// Assigns each voxel axis its dominant LPS axis, one each (largest components first).
fn dominant_axes(dir: &[[f64; 3]; 3]) -> [usize; 3] {
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (v, d) in dir.iter().enumerate() {
        for (w, c) in d.iter().enumerate() {
            pairs.push((c.abs(), v, w));
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut world_of = [usize::MAX; 3];
    let mut taken = [false; 3];
    for (_, v, w) in pairs {
        if world_of[v] == usize::MAX && !taken[w] {
            world_of[v] = w;
            taken[w] = true;
        }
    }
    world_of
}

impl Grid {
    pub fn cut(&self, axis: Axis) -> Cut {
        let world_of = dominant_axes(&self.dir);
        let voxel_for = |w: usize| world_of.iter().position(|&x| x == w).unwrap_or(w);
        let ((wh, sh), (wv, sv)) = axis.screen();
        let (h, v) = (voxel_for(wh), voxel_for(wv));
        let normal = voxel_for(axis.normal());
        Cut {
            normal,
            flip_n: self.dir[normal][axis.normal()] < 0.0,
            h,
            v,
            flip_h: self.dir[h][wh] * sh < 0.0,
            flip_v: self.dir[v][wv] * sv < 0.0,
        }
    }

    pub fn count(&self, axis: Axis) -> usize {
        self.dims[self.cut(axis).normal]
    }

    /// Slice `index` of `axis` (counted toward superior, posterior or left).
    pub fn slice(&self, axis: Axis, index: usize) -> Result<Slice, PreviewError> {
        let c = self.cut(axis);
        let n = self.dims[c.normal];
        if index >= n {
            return Err(PreviewError::OutOfRange {
                what: format!("slice {index} of {n}"),
            });
        }
        let (w, h) = (self.dims[c.h], self.dims[c.v]);
        let index = if c.flip_n { n - 1 - index } else { index };
        // The grid as an ndarray view, axes (k, j, i): voxel axis `a` is array axis 2 - a.
        let vol =
            ndarray::ArrayView3::from_shape((self.dims[2], self.dims[1], self.dims[0]), &self.data)
                .map_err(|e| PreviewError::OutOfRange {
                    what: format!("volume of {:?} voxels: {e}", self.dims),
                })?;
        let mut plane = vol.index_axis(ndarray::Axis(2 - c.normal), index);
        // The plane keeps the other two axes in (k, j, i) order: rows must be `v`, columns `h`.
        if 2 - c.v > 2 - c.h {
            plane = plane.reversed_axes();
        }
        if c.flip_v {
            plane.invert_axis(ndarray::Axis(0));
        }
        if c.flip_h {
            plane.invert_axis(ndarray::Axis(1));
        }
        let data: Vec<f32> = plane.iter().copied().collect();
        let sign = |f: bool, d: [f64; 3]| if f { [-d[0], -d[1], -d[2]] } else { d };
        let labels = if self.oriented {
            super::orient::border_labels(
                sign(c.flip_h, self.dir[c.h]),
                sign(c.flip_v, self.dir[c.v]),
            )
        } else {
            [None, None, None, None]
        };
        Ok(Slice {
            width: w as u32,
            height: h as u32,
            data,
            aspect: self.spacing[c.v] / self.spacing[c.h],
            labels,
        })
    }
}

/// A 2-D cut of a grid.
#[derive(Debug, Clone)]
pub struct Slice {
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
    pub aspect: f64,
    pub labels: [Option<String>; 4],
}

// ---------------------------------------------------------------------------------------------
// NIfTI / Analyze
// ---------------------------------------------------------------------------------------------

/// A NIfTI-1/2 or Analyze 7.5 file: header plus the geometry its voxels will get.
#[derive(Debug, Clone)]
pub struct NiftiVolume {
    pub path: PathBuf,
    pub header: VolumeHeader,
    pub dims: [usize; 3],
    pub time_points: usize,
    pub dir: [[f64; 3]; 3],
    pub spacing: [f64; 3],
    pub oriented: bool,
    bytes_per_voxel: usize,
}

fn vol_err(path: &Path, e: impl std::fmt::Display) -> PreviewError {
    PreviewError::Corrupt {
        path: path.to_path_buf(),
        what: e.to_string(),
    }
}

impl NiftiVolume {
    pub fn open(path: &Path) -> Result<NiftiVolume, PreviewError> {
        let header = nifti::read_header(path).map_err(|e| match e {
            nifti::VolumeError::Io {
                source, path: p, ..
            } => PreviewError::io(&p, source),
            nifti::VolumeError::NotAVolume(_) => PreviewError::NotAnImage(path.to_path_buf()),
            other => vol_err(path, other),
        })?;
        let d = header.dim;
        let nd = d[0].clamp(0, 7) as usize;
        if nd < 2 {
            return Err(vol_err(path, format!("{nd}-D volume")));
        }
        let dim = |i: usize| if i <= nd { d[i].max(1) as usize } else { 1 };
        let dims = [dim(1), dim(2), dim(3)];
        // Dimensions 5..7 (vectors, CIFTI) are not shown: only the first of each.
        let time_points = dim(4);
        let voxels = dims
            .iter()
            .try_fold(1u64, |acc, &x| acc.checked_mul(x as u64))
            .unwrap_or(u64::MAX);
        if voxels > MAX_VOXELS || dims.contains(&0) {
            return Err(PreviewError::TooLarge {
                path: path.to_path_buf(),
                what: format!("{}x{}x{} voxels", dims[0], dims[1], dims[2]),
            });
        }
        let bytes_per_voxel = match header.datatype {
            2 | 256 => 1,
            4 | 512 => 2,
            8 | 16 | 768 => 4,
            64 | 1024 | 1280 => 8,
            128 => 3,
            2304 => 4,
            32 => 8,
            1792 => 16,
            dt => {
                return Err(PreviewError::Unsupported {
                    path: path.to_path_buf(),
                    what: format!("NIfTI datatype {dt} ({})", header.datatype_name()),
                })
            }
        };
        let m = header.sform_matrix().or_else(|| header.qform_matrix());
        let (dir, spacing, oriented) = match m {
            Some(m) => {
                let mut dir = [[0.0; 3]; 3];
                let mut spacing = [1.0; 3];
                for i in 0..3 {
                    // RAS → LPS: negate x and y.
                    let col = [-m[0][i], -m[1][i], m[2][i]];
                    let norm = (col[0] * col[0] + col[1] * col[1] + col[2] * col[2]).sqrt();
                    if norm > 0.0 && norm.is_finite() {
                        dir[i] = [col[0] / norm, col[1] / norm, col[2] / norm];
                        spacing[i] = norm;
                    } else {
                        dir[i][i] = 1.0;
                    }
                }
                (dir, spacing, true)
            }
            None => {
                let pd = |i: usize| {
                    let p = header.pixdim[i].abs();
                    if p > 0.0 && p.is_finite() {
                        p
                    } else {
                        1.0
                    }
                };
                // No trustworthy orientation: show voxel order as RAS, without labels.
                (
                    [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]],
                    [pd(1), pd(2), pd(3)],
                    false,
                )
            }
        };
        Ok(NiftiVolume {
            path: path.to_path_buf(),
            header,
            dims,
            time_points,
            dir,
            spacing,
            oriented,
            bytes_per_voxel,
        })
    }

    /// Reads time point `t` and applies `scl_slope`/`scl_inter` (when the slope is non-zero).
    pub fn read(&self, t: usize) -> Result<Grid, PreviewError> {
        if t >= self.time_points {
            return Err(PreviewError::OutOfRange {
                what: format!("time point {t} of {}", self.time_points),
            });
        }
        let path = &self.path;
        let h = &self.header;
        let n: usize = self.dims.iter().product();
        let vol_bytes = n * self.bytes_per_voxel;
        let data_path = h.data_path(path);
        let start = (t as u64)
            .checked_mul(vol_bytes as u64)
            .and_then(|o| {
                o.checked_add(if h.single_file {
                    h.vox_offset.max(0.0) as u64
                } else {
                    0
                })
            })
            .ok_or_else(|| vol_err(path, "time point offset overflows"))?;
        let mut buf = vec![0u8; vol_bytes];
        let f = std::fs::File::open(&data_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                PreviewError::NoPixelData {
                    path: path.clone(),
                    what: format!("voxel file {} is missing", data_path.display()),
                }
            } else {
                PreviewError::io(&data_path, e)
            }
        })?;
        let gz = data_path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        if gz {
            let mut z = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f));
            std::io::copy(&mut (&mut z).take(start), &mut std::io::sink())
                .map_err(|e| PreviewError::io(&data_path, e))?;
            z.read_exact(&mut buf)
                .map_err(|e| PreviewError::io(&data_path, e))?;
        } else {
            let mut f = f;
            let size = f
                .metadata()
                .map_err(|e| PreviewError::io(&data_path, e))?
                .len();
            if start.saturating_add(vol_bytes as u64) > size {
                return Err(PreviewError::Truncated {
                    path: data_path.clone(),
                    what: format!(
                        "voxels need {} bytes, file has {size}",
                        start + vol_bytes as u64
                    ),
                });
            }
            f.seek(SeekFrom::Start(start))
                .map_err(|e| PreviewError::io(&data_path, e))?;
            f.read_exact(&mut buf)
                .map_err(|e| PreviewError::io(&data_path, e))?;
        }
        let be = h.byte_order == ByteOrder::Big;
        let data = convert_voxels(&buf, h.datatype, be);
        let (slope, inter) = (h.scl_slope, h.scl_inter);
        let data = if slope != 0.0
            && slope.is_finite()
            && inter.is_finite()
            && (slope, inter) != (1.0, 0.0)
        {
            data.into_iter()
                .map(|v| (v as f64 * slope + inter) as f32)
                .collect()
        } else {
            data
        };
        Ok(Grid {
            dims: self.dims,
            dir: self.dir,
            spacing: self.spacing,
            oriented: self.oriented,
            data,
        })
    }
}

/// Voxel bytes → f32 values. RGB/RGBA voxels become their mean (a grey preview); complex
/// voxels their magnitude.
fn convert_voxels(b: &[u8], datatype: i16, be: bool) -> Vec<f32> {
    macro_rules! conv {
        ($t:ty, $n:expr) => {
            b.chunks_exact($n)
                .map(|c| {
                    let mut a = [0u8; $n];
                    a.copy_from_slice(c);
                    let v = if be {
                        <$t>::from_be_bytes(a)
                    } else {
                        <$t>::from_le_bytes(a)
                    };
                    v as f32
                })
                .collect()
        };
    }
    let finite = |v: Vec<f32>| {
        v.into_iter()
            .map(|x| if x.is_finite() { x } else { 0.0 })
            .collect()
    };
    match datatype {
        2 => b.iter().map(|&x| x as f32).collect(),
        256 => b.iter().map(|&x| x as i8 as f32).collect(),
        4 => conv!(i16, 2),
        512 => conv!(u16, 2),
        8 => conv!(i32, 4),
        768 => conv!(u32, 4),
        1024 => conv!(i64, 8),
        1280 => conv!(u64, 8),
        16 => finite(conv!(f32, 4)),
        64 => finite(conv!(f64, 8)),
        128 => b
            .chunks_exact(3)
            .map(|c| (c[0] as f32 + c[1] as f32 + c[2] as f32) / 3.0)
            .collect(),
        2304 => b
            .chunks_exact(4)
            .map(|c| (c[0] as f32 + c[1] as f32 + c[2] as f32) / 3.0)
            .collect(),
        32 => {
            let f: Vec<f32> = conv!(f32, 4);
            finite(f.chunks_exact(2).map(|c| c[0].hypot(c[1])).collect())
        }
        1792 => {
            let f: Vec<f32> = conv!(f64, 8);
            finite(f.chunks_exact(2).map(|c| c[0].hypot(c[1])).collect())
        }
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// DICOM series
// ---------------------------------------------------------------------------------------------

/// Geometry of one instance, as far as ordering needs it.
#[derive(Debug, Clone)]
pub struct SliceGeometry {
    pub orientation: Option<[f64; 6]>,
    pub position: Option<[f64; 3]>,
    pub instance_number: Option<i64>,
    pub rows: u32,
    pub cols: u32,
    pub spacing: Option<(f64, f64)>,
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Slice order of a series: instances sorted along the normal (row × column cosines) of the
/// first oriented instance by their position's projection on it; without geometry, by
/// Instance Number, then by input order. Returns the order and, when every instance shares
/// orientation, size and pixel spacing, the volume geometry (normal, slice spacing).
pub fn order_series(geo: &[SliceGeometry]) -> (Vec<usize>, Option<([f64; 3], f64)>) {
    let mut idx: Vec<usize> = (0..geo.len()).collect();
    let normal = geo.iter().find_map(|g| {
        let o = g.orientation?;
        let n = cross([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
        let len = dot(n, n).sqrt();
        (len > 1e-6).then(|| [n[0] / len, n[1] / len, n[2] / len])
    });
    let all_positioned = geo.iter().all(|g| g.position.is_some());
    match normal {
        Some(n) if all_positioned => {
            let key = |i: usize| geo[i].position.map(|p| dot(p, n)).unwrap_or(0.0);
            idx.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
            let first = &geo[idx[0]];
            let consistent = geo.iter().all(|g| {
                g.rows == first.rows
                    && g.cols == first.cols
                    && match (g.orientation, first.orientation) {
                        (Some(a), Some(b)) => a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-3),
                        _ => false,
                    }
                    && match (g.spacing, first.spacing) {
                        (Some(a), Some(b)) => (a.0 - b.0).abs() < 1e-3 && (a.1 - b.1).abs() < 1e-3,
                        (None, None) => true,
                        _ => false,
                    }
            });
            let gaps: Vec<f64> = idx.windows(2).map(|w| key(w[1]) - key(w[0])).collect();
            let mut sorted = gaps.clone();
            sorted.sort_by(|a, b| a.total_cmp(b));
            let spacing = sorted.get(sorted.len() / 2).copied().unwrap_or(1.0);
            let geometry = (consistent && geo.len() > 1 && spacing > 1e-6).then_some((n, spacing));
            (idx, geometry)
        }
        _ => {
            idx.sort_by_key(|&i| (geo[i].instance_number.unwrap_or(i64::MAX), i));
            (idx, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(z: f64, n: i64) -> SliceGeometry {
        SliceGeometry {
            orientation: Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
            position: Some([-100.0, -100.0, z]),
            instance_number: Some(n),
            rows: 4,
            cols: 4,
            spacing: Some((0.5, 0.5)),
        }
    }

    #[test]
    fn series_sorted_along_normal_not_instance_number() {
        // Shuffled input, instance numbers deliberately misleading.
        let geo = vec![g(10.0, 1), g(-5.0, 7), g(0.0, 3), g(5.0, 2), g(-10.0, 9)];
        let (order, geom) = order_series(&geo);
        assert_eq!(order, vec![4, 1, 2, 3, 0]);
        let (n, spacing) = geom.unwrap();
        assert_eq!(n, [0.0, 0.0, 1.0]);
        assert!((spacing - 5.0).abs() < 1e-9);
        // A sagittal stack (normal along x) sorts by x.
        let sag = |x: f64| SliceGeometry {
            orientation: Some([0.0, 1.0, 0.0, 0.0, 0.0, -1.0]),
            position: Some([x, 0.0, 0.0]),
            ..g(0.0, 0)
        };
        // normal = (0,1,0) x (0,0,-1) = (-1, 0, 0): decreasing x first.
        let (order, _) = order_series(&[sag(1.0), sag(3.0), sag(2.0)]);
        assert_eq!(order, vec![1, 2, 0]);
        // Mixed sizes: ordered, but no volume.
        let mut odd = g(20.0, 4);
        odd.rows = 8;
        assert!(order_series(&[g(0.0, 1), odd]).1.is_none());
        // No geometry: instance number.
        let bare = |n| SliceGeometry {
            orientation: None,
            position: None,
            instance_number: Some(n),
            ..g(0.0, 0)
        };
        assert_eq!(order_series(&[bare(3), bare(1), bare(2)]).0, vec![1, 2, 0]);
    }

    #[test]
    fn cuts_follow_radiological_convention() {
        // RAS-identity NIfTI converted to LPS: x axis points to R (-x in LPS).
        let grid = Grid {
            dims: [2, 3, 4],
            dir: [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]],
            spacing: [1.0, 2.0, 3.0],
            oriented: true,
            data: (0..24).map(|v| v as f32).collect(),
        };
        let c = grid.cut(Axis::Axial);
        assert_eq!(
            (c.normal, c.h, c.v, c.flip_h, c.flip_v, c.flip_n),
            (2, 0, 1, true, true, false)
        );
        let s = grid.slice(Axis::Axial, 0).unwrap();
        assert_eq!((s.width, s.height), (2, 3));
        // Top-left of the screen is the voxel with the largest i and j (right, anterior).
        assert_eq!(s.data[0], 5.0);
        assert_eq!(
            s.labels,
            [
                Some("A".into()),
                Some("L".into()),
                Some("P".into()),
                Some("R".into())
            ]
        );
        assert_eq!(s.aspect, 2.0);
        let cor = grid.slice(Axis::Coronal, 1).unwrap();
        assert_eq!((cor.width, cor.height), (2, 4));
        assert_eq!(cor.labels[0].as_deref(), Some("S"));
        assert_eq!(grid.count(Axis::Sagittal), 2);
        assert!(grid.slice(Axis::Sagittal, 2).is_err());
    }
}
