//! PHI detection over a DICOM header (the catalogue's compact JSON form, see
//! docs/catalogue.md) or a NIfTI/Analyze header's text fields.
//!
//! Findings name the attribute, where it is, why it matters and the profile's action — never
//! the value. Values stay in the catalogue's headers and are read only on explicit request
//! ([`crate::catalogue::Catalogue::phi_reveal`]).

use super::table::{self, Action};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

/// Why a finding was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A PS3.15 Table E.1-1 attribute with a non-empty value.
    Attribute,
    /// A private block (odd group), grouped by its private creator.
    Private,
    /// The patient's name or ID (or part of it) inside another text attribute.
    TextLeak,
    /// The patient's name or ID (or part of it) in the file's path.
    PathLeak,
    /// Pixel data may carry burned-in text.
    BurnedIn,
    /// A head CT/MR volume: the face may be reconstructable.
    Face,
    /// Text in a NIfTI/Analyze header field or extension.
    VolumeText,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Attribute => "attribute",
            Reason::Private => "private",
            Reason::TextLeak => "text_leak",
            Reason::PathLeak => "path_leak",
            Reason::BurnedIn => "burned_in",
            Reason::Face => "face",
            Reason::VolumeText => "volume_text",
        }
    }
}

/// One finding in one file. Holds no PHI value: `value_hash` is a SHA-256 prefix of the
/// value, used only to count distinct values (the catalogue holds the values themselves).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Finding {
    /// The attribute's tag (for a private block, its creator element; 0 when not an element).
    pub tag: u32,
    /// Keyword, `private:CREATOR`, or a NIfTI field name.
    pub keyword: String,
    /// Enclosing sequences, as `GGGG,EEEE[i].GGGG,EEEE[j]`; None at the top level.
    pub sequence_path: Option<String>,
    pub reason: Reason,
    /// The Basic Profile action (decided as in [`table`]); `X` for private blocks; `-` for
    /// risks that are not attributes (burned-in text, faces).
    pub action: String,
    /// The action as Table E.1-1 gives it (e.g. `X/Z/D`).
    pub table_action: String,
    /// The private creator, for private blocks.
    pub creator: Option<String>,
    /// What was found, without values (e.g. "patient name part in SeriesDescription").
    pub detail: String,
    pub value_hash: Option<String>,
}

fn hash(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The values of a compact element `[VR, v1, v2, ...]` joined with `\` (items excluded).
fn text_of(e: &Json) -> Option<String> {
    let arr = e.as_array()?;
    if arr.len() < 2 || arr.get(1).is_some_and(|v| v.is_object()) {
        return None;
    }
    let parts: Vec<String> = arr[1..]
        .iter()
        .map(|v| match v {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    let joined = parts.join("\\");
    if joined.trim().is_empty() {
        None
    } else {
        Some(joined)
    }
}

fn vr_of(e: &Json) -> &str {
    e.as_array()
        .and_then(|a| a.first())
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

fn has_value(e: &Json) -> bool {
    match e.as_array() {
        Some(a) if a.len() >= 2 => a[1..].iter().any(|v| match v {
            Json::String(s) => !s.trim().is_empty(),
            Json::Object(o) => !o.is_empty(),
            Json::Null => false,
            _ => true,
        }),
        _ => false,
    }
}

/// Looks an element up by tag in a compact data set, then its value as text.
pub fn top_text(obj: &serde_json::Map<String, Json>, tag: u32) -> Option<String> {
    obj.get(&format!("{tag:08X}")).and_then(text_of)
}

/// Finds an element's value by tag and sequence path in a compact header (for reveals).
pub fn value_at(root: &Json, tag: u32, sequence_path: Option<&str>) -> Option<String> {
    let mut obj = root.as_object()?;
    if let Some(path) = sequence_path.filter(|p| !p.is_empty()) {
        for step in path.split('.') {
            let (t, idx) = step.split_once('[')?;
            let idx: usize = idx.trim_end_matches(']').parse().ok()?;
            let key = t.replace(',', "");
            let seq = obj.get(&key)?.as_array()?;
            obj = seq.get(idx + 1)?.as_object()?;
        }
    }
    let e = obj.get(&format!("{tag:08X}"))?;
    if vr_of(e) == "SQ" {
        let n = e.as_array().map_or(0, |a| a.len().saturating_sub(1));
        return Some(format!("{n} item(s)"));
    }
    text_of(e)
}

fn tag_text(tag: u32) -> String {
    format!("{:04X},{:04X}", tag >> 16, tag & 0xFFFF)
}

/// The patient's identifiers split into the parts worth looking for in other text: name
/// components and IDs of at least 3 characters, upper-cased.
fn identifier_parts(obj: &serde_json::Map<String, Json>) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    if let Some(name) = top_text(obj, 0x0010_0010) {
        for p in name.split(['^', ' ', '=', '\\', ',']) {
            let p = p.trim();
            if p.chars().count() >= 3 {
                out.push((p.to_uppercase(), "patient name part"));
            }
        }
    }
    for (tag, what) in [
        (0x0010_0020, "patient ID"),
        (0x0008_0050, "accession number"),
    ] {
        if let Some(id) = top_text(obj, tag) {
            let id = id.trim().to_uppercase();
            if id.chars().count() >= 3 {
                out.push((id, what));
            }
        }
    }
    out
}

/// Attributes whose text is the identifier itself (not a leak of it).
const IDENTIFIER_TAGS: &[u32] = &[
    0x0010_0010,
    0x0010_0020,
    0x0008_0050,
    0x0010_1000,
    0x0010_1001,
    0x0010_1005,
];

/// SOP classes whose pixel data often carries burned-in text (PS3.15 E.3.1 discussion):
/// ultrasound, secondary capture, X-ray angiography and fluoroscopy, documents, video and
/// photographs.
fn burned_in_prone(sop_class: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "1.2.840.10008.5.1.4.1.1.6.",    // US image / multi-frame
        "1.2.840.10008.5.1.4.1.1.3.1",   // US multi-frame (retired)
        "1.2.840.10008.5.1.4.1.1.7",     // secondary capture (all)
        "1.2.840.10008.5.1.4.1.1.12.",   // XA, RF
        "1.2.840.10008.5.1.4.1.1.104.",  // encapsulated documents
        "1.2.840.10008.5.1.4.1.1.77.1.", // VL (photographs, video)
    ];
    PREFIXES.iter().any(|p| sop_class.starts_with(p))
}

const HEAD_WORDS: &[&str] = &[
    "HEAD", "BRAIN", "SKULL", "NEURO", "CRAN", "FACE", "ORBIT", "SINUS", "IAC", "PITUIT", "CEREB",
];

fn mentions_head(s: &str) -> bool {
    let u = s.to_uppercase();
    HEAD_WORDS.iter().any(|w| u.contains(w))
}

struct Walker<'a> {
    out: Vec<Finding>,
    parts: &'a [(String, &'static str)],
}

impl Walker<'_> {
    fn walk(&mut self, obj: &serde_json::Map<String, Json>, path: &str) {
        // Private creators of this data set, by (group, block).
        let mut creators: Vec<(u32, String, usize)> = Vec::new();
        for (key, e) in obj {
            let Ok(tag) = u32::from_str_radix(key, 16) else {
                continue;
            };
            let group = tag >> 16;
            let seq_path = if path.is_empty() {
                None
            } else {
                Some(path.to_string())
            };
            if group % 2 == 1 {
                let elem = tag & 0xFFFF;
                if (0x10..=0xFF).contains(&elem) {
                    let creator = text_of(e).unwrap_or_default();
                    creators.push((tag, creator, 0));
                } else if elem > 0xFF {
                    let block = (group << 16) | (elem >> 8);
                    if let Some(c) = creators.iter_mut().find(|c| c.0 == block) {
                        c.2 += 1;
                    } else {
                        creators.push((block, String::new(), 1));
                    }
                }
                // Items of private sequences are removed with the block; not walked.
                continue;
            }
            let vr = vr_of(e);
            if let Some(rule) = table::rule(tag) {
                if has_value(e) {
                    self.out.push(Finding {
                        tag,
                        keyword: rule.keyword.to_string(),
                        sequence_path: seq_path.clone(),
                        reason: Reason::Attribute,
                        action: rule.basic.as_str().to_string(),
                        table_action: rule.basic_text.to_string(),
                        creator: None,
                        detail: String::new(),
                        value_hash: text_of(e).map(|v| hash(&v)),
                    });
                }
            }
            if vr == "SQ" {
                if let Some(items) = e.as_array() {
                    for (i, item) in items.iter().skip(1).enumerate() {
                        if let Some(o) = item.as_object() {
                            let step = format!("{}[{i}]", tag_text(tag));
                            let p = if path.is_empty() {
                                step
                            } else {
                                format!("{path}.{step}")
                            };
                            self.walk(o, &p);
                        }
                    }
                }
                continue;
            }
            if matches!(vr, "LO" | "SH" | "ST" | "LT" | "UT" | "UC" | "PN")
                && !IDENTIFIER_TAGS.contains(&tag)
            {
                if let Some(text) = text_of(e) {
                    let upper = text.to_uppercase();
                    if let Some((_, what)) =
                        self.parts.iter().find(|(p, _)| upper.contains(p.as_str()))
                    {
                        let kw = crate::formats::dicom::keyword(tag).unwrap_or("");
                        self.out.push(Finding {
                            tag,
                            keyword: kw.to_string(),
                            sequence_path: seq_path,
                            reason: Reason::TextLeak,
                            action: table::rule(tag)
                                .map_or(Action::X, |r| {
                                    if r.basic == Action::K {
                                        Action::X
                                    } else {
                                        r.basic
                                    }
                                })
                                .as_str()
                                .to_string(),
                            table_action: table::rule(tag).map_or("", |r| r.basic_text).to_string(),
                            creator: None,
                            detail: format!(
                                "{what} in {}",
                                if kw.is_empty() { "text" } else { kw }
                            ),
                            value_hash: None,
                        });
                    }
                }
            }
        }
        for (tag, creator, count) in creators {
            let seq_path = if path.is_empty() {
                None
            } else {
                Some(path.to_string())
            };
            self.out.push(Finding {
                tag,
                keyword: format!("private:{creator}"),
                sequence_path: seq_path,
                reason: Reason::Private,
                action: "X".to_string(),
                table_action: "X".to_string(),
                creator: Some(creator),
                detail: format!("{count} private element(s)"),
                value_hash: None,
            });
        }
    }
}

/// The identifier parts (upper-cased name components, patient ID, accession number) that
/// [`detect_dicom`] looks for in other text, so a view can show where a leak is.
pub fn leak_needles(header: &Json) -> Vec<String> {
    header
        .as_object()
        .map(|o| identifier_parts(o).into_iter().map(|(p, _)| p).collect())
        .unwrap_or_default()
}

/// Splits `text` into pieces, each flagged when it is an occurrence of one of `needles`
/// (compared case-insensitively), so the leak can be highlighted in its context.
pub fn leak_segments(text: &str, needles: &[String]) -> Vec<(String, bool)> {
    let chars: Vec<char> = text.chars().collect();
    let upper: Vec<char> = chars
        .iter()
        .map(|c| c.to_uppercase().next().unwrap_or(*c))
        .collect();
    let mut hit = vec![false; chars.len()];
    for n in needles {
        let n: Vec<char> = n.chars().collect();
        if n.is_empty() || n.len() > upper.len() {
            continue;
        }
        for i in 0..=upper.len() - n.len() {
            if upper[i..i + n.len()] == n[..] {
                hit[i..i + n.len()].iter_mut().for_each(|h| *h = true);
            }
        }
    }
    let mut out: Vec<(String, bool)> = Vec::new();
    for (c, h) in chars.into_iter().zip(hit) {
        match out.last_mut() {
            Some((s, last)) if *last == h => s.push(c),
            _ => out.push((c.to_string(), h)),
        }
    }
    out
}

/// Every finding in one DICOM file, from its compact header and its path.
pub fn detect_dicom(header: &Json, path: &str) -> Vec<Finding> {
    let Some(obj) = header.as_object() else {
        return Vec::new();
    };
    let parts = identifier_parts(obj);
    let mut w = Walker {
        out: Vec::new(),
        parts: &parts,
    };
    w.walk(obj, "");
    let mut out = w.out;
    let upper_path = path.to_uppercase();
    if let Some((_, what)) = parts.iter().find(|(p, _)| upper_path.contains(p.as_str())) {
        out.push(risk(
            Reason::PathLeak,
            "path",
            format!("{what} in the file path"),
        ));
    }
    // Burned-in text.
    let sop_class = top_text(obj, 0x0008_0016).unwrap_or_default();
    match top_text(obj, 0x0028_0301).map(|s| s.trim().to_uppercase()) {
        Some(ref v) if v == "YES" => out.push(risk(
            Reason::BurnedIn,
            "BurnedInAnnotation",
            "BurnedInAnnotation is YES".to_string(),
        )),
        None if burned_in_prone(&sop_class) => out.push(risk(
            Reason::BurnedIn,
            "BurnedInAnnotation",
            "BurnedInAnnotation absent on a SOP class that often carries burned-in text"
                .to_string(),
        )),
        _ => {}
    }
    if obj.keys().any(|k| {
        u32::from_str_radix(k, 16).is_ok_and(|t| {
            (0x6000..=0x601E).contains(&(t >> 16)) && (t >> 16) % 2 == 0 && t & 0xFFFF == 0x3000
        })
    }) {
        out.push(risk(
            Reason::BurnedIn,
            "OverlayData",
            "overlay planes (60xx) present".to_string(),
        ));
    }
    // Faces in head CT/MR.
    let modality = top_text(obj, 0x0008_0060).unwrap_or_default();
    if matches!(modality.trim(), "CT" | "MR" | "PT") {
        let head = [0x0018_0015, 0x0008_103E, 0x0008_1030, 0x0018_1030]
            .iter()
            .filter_map(|t| top_text(obj, *t))
            .any(|s| mentions_head(&s));
        if head {
            out.push(risk(
                Reason::Face,
                "BodyPartExamined",
                "head CT/MR series: the face may be reconstructable from this volume".to_string(),
            ));
        }
    }
    out
}

fn risk(reason: Reason, keyword: &str, detail: String) -> Finding {
    Finding {
        tag: 0,
        keyword: keyword.to_string(),
        sequence_path: None,
        reason,
        action: "-".to_string(),
        table_action: String::new(),
        creator: None,
        detail,
        value_hash: None,
    }
}

/// Text header fields of a NIfTI/Analyze volume, and its geometry (for the face check).
#[derive(Debug, Clone, Default)]
pub struct VolumeText {
    pub descrip: Option<String>,
    pub aux_file: Option<String>,
    pub intent_name: Option<String>,
    pub db_name: Option<String>,
    pub extensions: i64,
    /// Extent in mm of the first three axes.
    pub extent_mm: [f64; 3],
}

/// Findings in one NIfTI/Analyze volume.
pub fn detect_volume(v: &VolumeText, path: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, value) in [
        ("descrip", &v.descrip),
        ("aux_file", &v.aux_file),
        ("intent_name", &v.intent_name),
        ("db_name", &v.db_name),
    ] {
        if let Some(s) = value.as_deref().filter(|s| !s.trim().is_empty()) {
            out.push(Finding {
                tag: 0,
                keyword: name.to_string(),
                sequence_path: None,
                reason: Reason::VolumeText,
                action: "Z".to_string(),
                table_action: String::new(),
                creator: None,
                detail: format!("text in the {name} header field"),
                value_hash: Some(hash(s)),
            });
        }
    }
    if v.extensions > 0 {
        out.push(Finding {
            tag: 0,
            keyword: "extensions".to_string(),
            sequence_path: None,
            reason: Reason::VolumeText,
            action: "X".to_string(),
            table_action: String::new(),
            creator: None,
            detail: format!("{} header extension(s)", v.extensions),
            value_hash: None,
        });
    }
    // A head-sized 3D volume (every axis between 120 and 300 mm).
    if v.extent_mm.iter().all(|e| (120.0..=300.0).contains(e)) || mentions_head(path) {
        out.push(risk(
            Reason::Face,
            "volume",
            "volume of head extent: the face may be reconstructable from this volume".to_string(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_attributes_nested_private_and_leaks_without_values() {
        let h: Json = serde_json::json!({
            "00080016": ["UI", "1.2.840.10008.5.1.4.1.1.7"],
            "00080060": ["CS", "CT"],
            "00100010": ["PN", "DOE^JOHNATHAN"],
            "00100020": ["LO", "PAT0042"],
            "0008103E": ["LO", "Head DOE follow-up"],
            "00081140": ["SQ", {"00081155": ["UI", "1.2.3.4"]}],
            "00080090": ["PN"],
            "00291010": ["LO", "x"],
            "00290010": ["LO", "ACME 1.0"],
            "00291011": ["LO", "y"]
        });
        let f = detect_dicom(&h, "/data/PAT0042/x.dcm");
        let find = |r: Reason| f.iter().filter(move |x| x.reason == r);
        assert!(find(Reason::Attribute).any(|x| x.keyword == "PatientName" && x.action == "Z"));
        assert!(find(Reason::Attribute).any(|x| x.tag == 0x0008_1155
            && x.sequence_path.as_deref() == Some("0008,1140[0]")
            && x.action == "U"));
        // Empty Type 2 elements are not findings.
        assert!(!f.iter().any(|x| x.tag == 0x0008_0090));
        assert_eq!(find(Reason::Private).count(), 1);
        assert!(find(Reason::Private).any(|x| x.creator.as_deref() == Some("ACME 1.0")));
        assert!(find(Reason::TextLeak).any(|x| x.keyword == "SeriesDescription"));
        assert_eq!(find(Reason::PathLeak).count(), 1);
        assert_eq!(find(Reason::BurnedIn).count(), 1);
        assert_eq!(find(Reason::Face).count(), 1);
        let text = serde_json::to_string(&f).unwrap_or_default();
        assert!(!text.contains("DOE") && !text.contains("PAT0042"));
        assert_eq!(
            value_at(&h, 0x0008_1155, Some("0008,1140[0]")).as_deref(),
            Some("1.2.3.4")
        );
    }

    #[test]
    fn leak_segments_flag_each_occurrence() {
        let segs = leak_segments("knee doe left DOE", &["DOE".to_string()]);
        assert_eq!(
            segs,
            vec![
                ("knee ".to_string(), false),
                ("doe".to_string(), true),
                (" left ".to_string(), false),
                ("DOE".to_string(), true),
            ]
        );
        assert_eq!(leak_segments("", &["X".into()]), vec![]);
        assert_eq!(
            leak_segments("ab", &["ABC".into()]),
            vec![("ab".to_string(), false)]
        );
    }
}
