//! The metadata pane: a file's header as lines with foldable sequences, search, long values
//! expanded on demand, PHI values masked until revealed; or a comparison of two files; or the
//! tags that vary across a series.

use super::jobs::{DiffRow, Loaded};
use crate::filter::parse_tag;
use crate::formats::dicom::{self, text, DicomHeader, Element};
use crate::formats::nifti::VolumeHeader;
use crate::phi;
use std::collections::HashSet;

/// What the pane shows.
#[derive(Debug, Clone, Default)]
pub enum Content {
    #[default]
    Empty,
    Loading(String),
    Header {
        path: String,
        loaded: Loaded,
    },
    Compare {
        a: String,
        b: String,
        rows: Vec<DiffRow>,
    },
    Varying {
        label: String,
        instances: usize,
        rows: Vec<DiffRow>,
    },
    Message(String),
}

/// One line on screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub depth: usize,
    /// `(GGGG,EEEE) VR` or a field name column.
    pub left: String,
    pub name: String,
    pub value: String,
    /// Dimmed detail after the value (length and VM of DICOM elements).
    pub info: String,
    /// Element path for DICOM lines (sequence folding, search).
    pub path: Option<Vec<usize>>,
    pub is_sequence: bool,
    pub expanded: bool,
    /// The value identifies a person: masked until revealed.
    pub phi: bool,
    pub tag: Option<u32>,
}

/// The pane's state.
#[derive(Debug, Default)]
pub struct MetaView {
    pub content: Content,
    /// The catalogue file whose header is shown (to drop stale results).
    pub file: Option<i64>,
    pub expanded: HashSet<Vec<usize>>,
    pub wrapped: HashSet<usize>,
    pub lines: Vec<Shown>,
    pub cursor: usize,
    pub scroll: usize,
    pub revealed: Option<usize>,
    pub search: String,
}

fn dicom_elements(h: &DicomHeader) -> Vec<Element> {
    h.meta.iter().chain(h.elements.iter()).cloned().collect()
}

impl MetaView {
    pub fn set(&mut self, content: Content) {
        self.content = content;
        self.expanded.clear();
        self.wrapped.clear();
        self.cursor = 0;
        self.scroll = 0;
        self.revealed = None;
        self.rebuild();
    }

    /// Rebuilds the lines after a fold or content change.
    pub fn rebuild(&mut self) {
        self.lines = match &self.content {
            Content::Empty => vec![plain("", "Select a file to see its header.")],
            Content::Loading(p) => vec![plain("", &format!("Loading {p} …"))],
            Content::Message(m) => m.lines().map(|l| plain("", l)).collect(),
            Content::Header { loaded, .. } => match loaded {
                Loaded::Dicom(h) => {
                    let elements = dicom_elements(h);
                    let exp = &self.expanded;
                    text::lines(&elements, &|p| exp.contains(p))
                        .into_iter()
                        .map(|l| Shown {
                            depth: l.depth,
                            left: match &l.vr {
                                Some(vr) => format!("{} {vr}", dicom::tag_string(l.tag)),
                                None => String::new(),
                            },
                            name: l.name,
                            info: match l.length {
                                Some(n) if n != u32::MAX && l.vr.is_some() && !l.is_sequence => {
                                    format!("{n} B, VM {}", l.vm)
                                }
                                _ => String::new(),
                            },
                            value: l.value,
                            expanded: l.is_sequence && exp.contains(&l.path),
                            is_sequence: l.is_sequence,
                            phi: phi::is_identifying(l.tag),
                            tag: l.vr.as_ref().map(|_| l.tag),
                            path: Some(l.path),
                        })
                        .collect()
                }
                Loaded::Volume(h) => volume_lines(h),
                Loaded::Other {
                    kind,
                    status,
                    error,
                } => {
                    let mut v = vec![plain("kind", kind), plain("status", status)];
                    if let Some(e) = error {
                        v.push(plain("reason", e));
                    }
                    v
                }
            },
            Content::Compare { a, b, rows } => {
                let mut v = vec![
                    plain("A", a),
                    plain("B", b),
                    plain("", &format!("{} elements differ", rows.len())),
                ];
                for r in rows {
                    v.push(diff_line(r, "A", &r.values[0]));
                    v.push(diff_line(
                        r,
                        "B",
                        r.values.get(1).map(String::as_str).unwrap_or(""),
                    ));
                }
                v
            }
            Content::Varying {
                label,
                instances,
                rows,
            } => {
                let mut v = vec![plain(
                    "",
                    &format!(
                        "{label}: {} elements vary across {instances} instances",
                        rows.len()
                    ),
                )];
                for r in rows {
                    let n = r.values.len();
                    let shown: Vec<&str> = r.values.iter().take(4).map(String::as_str).collect();
                    let more = if n > 4 {
                        format!(" … ({n} values)")
                    } else {
                        String::new()
                    };
                    v.push(Shown {
                        depth: 0,
                        left: r.path.clone(),
                        name: keyword_of(r.tag),
                        value: format!("{} distinct: {}{more}", n, shown.join(" | ")),
                        info: String::new(),
                        path: None,
                        is_sequence: false,
                        expanded: false,
                        phi: phi::is_identifying(r.tag),
                        tag: Some(r.tag),
                    });
                }
                v
            }
        };
        if self.cursor >= self.lines.len() {
            self.cursor = self.lines.len().saturating_sub(1);
        }
    }

    /// Expands (or, with `open == false`, collapses) the sequence under the cursor; on a line
    /// inside a sequence, collapsing goes to the enclosing sequence.
    pub fn fold(&mut self, open: bool) {
        let Some(line) = self.lines.get(self.cursor) else {
            return;
        };
        let Some(path) = line.path.clone() else {
            return;
        };
        if open {
            if line.is_sequence {
                self.expanded.insert(path);
                self.rebuild();
            }
            return;
        }
        if line.is_sequence && self.expanded.contains(&path) {
            self.expanded.remove(&path);
            self.rebuild();
            return;
        }
        // Inside a sequence: the enclosing sequence element's path drops the last item/element
        // pair (or the item index on an item marker line).
        let parent: Vec<usize> = if path.len() % 2 == 0 {
            path[..path.len() - 1].to_vec()
        } else if path.len() >= 3 {
            path[..path.len() - 2].to_vec()
        } else {
            return;
        };
        self.expanded.remove(&parent);
        self.rebuild();
        if let Some(i) = self
            .lines
            .iter()
            .position(|l| l.path.as_ref() == Some(&parent))
        {
            self.cursor = i;
        }
    }

    /// Expands or collapses every sequence.
    pub fn fold_all(&mut self, open: bool) {
        if !open {
            self.expanded.clear();
        } else if let Content::Header {
            loaded: Loaded::Dicom(h),
            ..
        } = &self.content
        {
            let all = text::lines(&dicom_elements(h), &|_| true);
            self.expanded = all
                .into_iter()
                .filter(|l| l.is_sequence)
                .map(|l| l.path)
                .collect();
        }
        self.rebuild();
    }

    /// Moves to the next line (after the cursor, wrapping) whose tag, keyword or value matches
    /// `query`, opening the sequences around it. Returns whether something matched.
    pub fn find(&mut self, query: &str) -> bool {
        let q = query.trim().to_ascii_lowercase();
        if q.is_empty() {
            return false;
        }
        let tag = parse_tag(&q);
        let matches = |tag_str: &str, name: &str, t: Option<u32>| {
            tag.map(|x| Some(x) == t).unwrap_or(false)
                || tag_str.to_ascii_lowercase().contains(&q)
                || name.to_ascii_lowercase().contains(&q)
        };
        if let Content::Header {
            loaded: Loaded::Dicom(h),
            ..
        } = &self.content
        {
            let all = text::lines(&dicom_elements(h), &|_| true);
            let current = self.lines.get(self.cursor).and_then(|l| l.path.clone());
            let start = current
                .and_then(|p| all.iter().position(|l| l.path == p))
                .map(|i| i + 1)
                .unwrap_or(0);
            let n = all.len();
            for k in 0..n {
                let l = &all[(start + k) % n];
                if l.vr.is_some() && matches(&dicom::tag_string(l.tag), &l.name, Some(l.tag)) {
                    // Open every enclosing sequence: odd-length prefixes of the path.
                    let path = l.path.clone();
                    let mut len = 1;
                    while len < path.len() {
                        self.expanded.insert(path[..len].to_vec());
                        len += 2;
                    }
                    self.rebuild();
                    if let Some(i) = self
                        .lines
                        .iter()
                        .position(|s| s.path.as_ref() == Some(&path))
                    {
                        self.cursor = i;
                    }
                    return true;
                }
            }
            return false;
        }
        let n = self.lines.len();
        for k in 1..=n {
            let i = (self.cursor + k) % n;
            let l = &self.lines[i];
            if matches(&l.left, &l.name, l.tag) || l.value.to_ascii_lowercase().contains(&q) {
                self.cursor = i;
                return true;
            }
        }
        false
    }

    /// The unmasked value under the cursor (for copying).
    pub fn value_at_cursor(&self) -> Option<String> {
        self.lines.get(self.cursor).map(|l| l.value.clone())
    }
}

fn keyword_of(tag: u32) -> String {
    if (tag >> 16) & 1 == 1 {
        "private".into()
    } else {
        dicom::keyword(tag).unwrap_or("unknown").to_string()
    }
}

fn diff_line(r: &DiffRow, side: &str, value: &str) -> Shown {
    Shown {
        depth: 0,
        left: format!("{} {side}", r.path),
        name: keyword_of(r.tag),
        value: value.to_string(),
        info: String::new(),
        path: None,
        is_sequence: false,
        expanded: false,
        phi: phi::is_identifying(r.tag),
        tag: Some(r.tag),
    }
}

fn plain(left: &str, value: &str) -> Shown {
    Shown {
        depth: 0,
        left: left.to_string(),
        name: String::new(),
        value: value.to_string(),
        info: String::new(),
        path: None,
        is_sequence: false,
        expanded: false,
        phi: false,
        tag: None,
    }
}

fn field(name: &str, value: String) -> Shown {
    plain(name, &value)
}

fn matrix_lines(name: &str, m: Option<[[f64; 4]; 4]>) -> Vec<Shown> {
    match m {
        None => vec![field(name, "(not set)".into())],
        Some(m) => m
            .iter()
            .take(3)
            .enumerate()
            .map(|(i, r)| {
                field(
                    // A blank (not empty) label keeps continuation rows in the value column.
                    if i == 0 { name } else { " " },
                    format!("[{:>9.3} {:>9.3} {:>9.3} {:>9.3}]", r[0], r[1], r[2], r[3]),
                )
            })
            .collect(),
    }
}

/// Every NIfTI/Analyze header field, with decoded meanings.
fn volume_lines(h: &VolumeHeader) -> Vec<Shown> {
    let n = h.ndim();
    let dims: Vec<String> = h
        .dim
        .iter()
        .skip(1)
        .take(n)
        .map(|d| d.to_string())
        .collect();
    let pix: Vec<String> = h
        .pixdim
        .iter()
        .skip(1)
        .take(n)
        .map(|d| format!("{d}"))
        .collect();
    let mut v = vec![
        field(
            "format",
            format!("{:?}{}", h.format, if h.gzipped { " (gzip)" } else { "" }),
        ),
        field("byte order", format!("{:?}", h.byte_order)),
        field("magic", format!("{:?}", h.magic)),
        field("sizeof_hdr", h.sizeof_hdr.to_string()),
        field("dim", format!("{} dims: {}", n, dims.join(" × "))),
        field(
            "datatype",
            format!("{} ({})", h.datatype, h.datatype_name()),
        ),
        field("bitpix", h.bitpix.to_string()),
        field(
            "pixdim",
            format!("qfac {}; {}", h.pixdim[0], pix.join(" × ")),
        ),
        field(
            "xyzt_units",
            format!(
                "{} (space {}, time {})",
                h.xyzt_units,
                h.space_units(),
                h.time_units()
            ),
        ),
        field("vox_offset", h.vox_offset.to_string()),
        field(
            "scl_slope / inter",
            format!("{} / {}", h.scl_slope, h.scl_inter),
        ),
        field("cal_min / max", format!("{} / {}", h.cal_min, h.cal_max)),
        field(
            "qform_code",
            format!(
                "{} ({})",
                h.qform_code,
                VolumeHeader::xform_name(h.qform_code)
            ),
        ),
        field(
            "sform_code",
            format!(
                "{} ({})",
                h.sform_code,
                VolumeHeader::xform_name(h.sform_code)
            ),
        ),
        field(
            "quatern b c d",
            format!("{} {} {}", h.quatern_b, h.quatern_c, h.quatern_d),
        ),
        field(
            "qoffset x y z",
            format!("{} {} {}", h.qoffset_x, h.qoffset_y, h.qoffset_z),
        ),
    ];
    v.extend(matrix_lines("qform affine", h.qform_matrix()));
    v.extend(matrix_lines("sform affine", h.sform_matrix()));
    v.push(field(
        "orientation",
        h.orientation()
            .unwrap_or_else(|| "(no coded transform)".into()),
    ));
    v.push(field(
        "intent",
        format!(
            "{} ({}) name {:?} p {} {} {}",
            h.intent_code,
            h.intent_name_of_code(),
            h.intent_name,
            h.intent_p1,
            h.intent_p2,
            h.intent_p3
        ),
    ));
    v.push(field(
        "slice",
        format!(
            "code {} start {} end {} duration {}",
            h.slice_code, h.slice_start, h.slice_end, h.slice_duration
        ),
    ));
    v.push(field("toffset", h.toffset.to_string()));
    let mut d = field("descrip", h.descrip.clone());
    d.phi = true; // free text: may name the patient
    v.push(d);
    let mut a = field("aux_file", h.aux_file.clone());
    a.phi = true;
    v.push(a);
    if !h.db_name.is_empty() {
        let mut db = field("db_name", h.db_name.clone());
        db.phi = true;
        v.push(db);
    }
    v.push(field("extensions", h.extensions.len().to_string()));
    for e in &h.extensions {
        v.push(field(
            "",
            format!(
                "code {} ({}) {} bytes: {}",
                e.code, e.kind, e.size, e.summary
            ),
        ));
    }
    for w in &h.warnings {
        v.push(field("warning", w.clone()));
    }
    v
}
