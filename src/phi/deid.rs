//! De-identified export (PS3.15 Annex E): copies of DICOM files with the Basic Profile, its
//! options and the curator's plan applied; pixel data and transfer syntax untouched.
//!
//! Files are read whole with dicom-rs (the scanner's parser keeps only headers), changed in
//! memory and written to a temporary name in the output tree, then renamed: an interrupted
//! run leaves no half files, and a re-run skips outputs that exist. Nothing here prints or
//! stores an attribute value (manifests hold paths, tags and counts).

use super::plan::{Plan, PlanAction};
use super::pseudonym::Mapping;
use super::table::{self, Action, ProfileOption};
use super::uid::{shift_date, Secret};
use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_object::{InMemDicomObject, OpenFileOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

type Elem = dicom_object::mem::InMemElement;

/// The run's configuration, checked before anything is written.
#[derive(Debug, Clone)]
pub struct DeidConfig {
    pub options: Vec<ProfileOption>,
    pub plan: Plan,
    pub secret: Secret,
    /// Give patients pseudonyms (names/IDs from the secret) rather than empty values.
    pub pseudonymise: bool,
    pub dry_run: bool,
}

impl DeidConfig {
    fn has(&self, o: ProfileOption) -> bool {
        self.options.contains(&o)
    }
}

/// Counts of what was done to one file: (keyword or tag, action) → occurrences.
pub type Counts = BTreeMap<(String, String), u64>;

/// The result for one file.
#[derive(Debug, Clone, Default)]
pub struct FileResult {
    /// Relative output path (tree PATIENT/STUDY/SERIES/INSTANCE.dcm).
    pub output: PathBuf,
    pub counts: Counts,
    /// Identifiers replaced by pseudonyms (only with a key file).
    pub mappings: Vec<Mapping>,
}

/// Why a file could not be exported (no values in the message).
#[derive(Debug, thiserror::Error)]
pub enum DeidError {
    #[error("not readable as DICOM: {0}")]
    Read(String),
    #[error("could not write: {0}")]
    Write(String),
}

/// A private block kept: (group, block byte, `None` for all of it or its safe element bytes).
type KeptBlock = (u16, u16, Option<Vec<u8>>);

struct Ctx<'a> {
    cfg: &'a DeidConfig,
    date_shift: i64,
    identifiers: Vec<String>,
    counts: Counts,
    /// The SOP Class, whose IOD decides the X/Z/D alternatives of top-level attributes.
    sop_class: String,
    /// Sequence nesting of the data set being cleaned (0: the top level).
    depth: usize,
}

fn label(tag: Tag) -> String {
    let t = ((tag.group() as u32) << 16) | tag.element() as u32;
    crate::formats::dicom::keyword(t)
        .map(str::to_string)
        .unwrap_or_else(|| format!("({:04X},{:04X})", tag.group(), tag.element()))
}

fn strings(v: &Value<InMemDicomObject, dicom_object::mem::InMemFragment>) -> Vec<String> {
    match v {
        Value::Primitive(p) => p
            .to_multi_str()
            .iter()
            .map(|x| x.trim_end_matches(['\0', ' ']).to_string())
            .collect(),
        _ => Vec::new(),
    }
}

/// A non-empty dummy of the VR (action D).
fn dummy(vr: VR) -> PrimitiveValue {
    match vr {
        VR::DA => PrimitiveValue::from("19000101"),
        VR::TM => PrimitiveValue::from("000000"),
        VR::DT => PrimitiveValue::from("19000101000000"),
        VR::AS => PrimitiveValue::from("000Y"),
        VR::IS | VR::DS => PrimitiveValue::from("0"),
        VR::UI => PrimitiveValue::from("2.25.0"),
        VR::US => PrimitiveValue::from(0_u16),
        VR::SS => PrimitiveValue::from(0_i16),
        VR::UL => PrimitiveValue::from(0_u32),
        VR::SL => PrimitiveValue::from(0_i32),
        VR::FL => PrimitiveValue::from(0_f32),
        VR::FD => PrimitiveValue::from(0_f64),
        VR::OB | VR::OW | VR::UN => PrimitiveValue::from(vec![0_u8, 0]),
        VR::CS => PrimitiveValue::from("ANONYMIZED"),
        VR::AE => PrimitiveValue::from("ANONYMIZED"),
        _ => PrimitiveValue::from("ANONYMIZED"),
    }
}

/// PS3.15's X/Z, X/D, Z/D and X/Z/D alternatives decided by the attribute's type in this
/// file's IOD (PS3.15 E.1.1: Z when the IOD makes it Type 2, D when Type 1, else the first).
/// `None` when the row has no such alternative or the IOD is unknown (then the table's
/// conservative choice, from the strongest type anywhere, stands).
fn per_iod(rule: &table::Rule, sop_class: &str, tag: u32) -> Option<Action> {
    let alts: Vec<&str> = rule.basic_text.split('/').collect();
    if alts.len() < 2 || alts.iter().any(|a| a.starts_with('U')) {
        return None;
    }
    let ty = crate::checks::iod::required_type(sop_class, tag)?;
    let has = |a: &str| alts.contains(&a);
    let pick = match ty {
        1 if has("D") => "D",
        1 | 2 if has("Z") => "Z",
        1 | 2 if has("D") => "D",
        _ => alts[0],
    };
    Action::parse(pick)
}

fn empty_like(tag: Tag, vr: VR) -> Elem {
    if vr == VR::SQ {
        DataElement::new(tag, vr, DataSetSequence::<InMemDicomObject>::empty())
    } else {
        DataElement::empty(tag, vr)
    }
}

fn prim(tag: Tag, vr: VR, v: PrimitiveValue) -> Elem {
    DataElement::new(tag, vr, Value::Primitive(v))
}

impl Ctx<'_> {
    fn count(&mut self, tag: Tag, action: &str) {
        *self
            .counts
            .entry((label(tag), action.to_string()))
            .or_insert(0) += 1;
    }

    /// Replaces every UID value of a UI element.
    fn replace_uids(&self, e: &Elem) -> PrimitiveValue {
        let new: Vec<String> = strings(e.value())
            .iter()
            .map(|u| self.cfg.secret.uid(u))
            .collect();
        if new.len() == 1 {
            PrimitiveValue::from(new.into_iter().next().unwrap_or_default())
        } else {
            PrimitiveValue::Strs(new.into())
        }
    }

    fn shift_dates(&self, e: &Elem) -> Option<PrimitiveValue> {
        let vals: Vec<String> = strings(e.value());
        let shifted: Option<Vec<String>> = vals
            .iter()
            .map(|v| shift_date(v, self.date_shift))
            .collect();
        shifted.map(|s| PrimitiveValue::Strs(s.into()))
    }

    /// Applies the profile to a data set (recursively into sequence items).
    fn clean(&mut self, obj: InMemDicomObject) -> InMemDicomObject {
        // Private blocks kept: (group, block, None for all of it or the safe elements).
        let mut kept_blocks: Vec<KeptBlock> = Vec::new();
        for e in obj.iter() {
            let t = e.tag();
            if t.group() % 2 == 1 && (0x10..=0xFF).contains(&t.element()) {
                let creator = strings(e.value()).join("\\");
                match self.cfg.plan.for_creator(&creator) {
                    Some(r) if r.action == PlanAction::Keep => {
                        kept_blocks.push((t.group(), t.element(), None));
                    }
                    // The safe-private list, with the Retain Safe Private option (E.3.10).
                    Some(r)
                        if r.action == PlanAction::Safe
                            && self.cfg.has(ProfileOption::RetainSafePrivate) =>
                    {
                        let safe = r.value.as_deref().and_then(super::plan::safe_elements);
                        if let Some(safe) = safe {
                            kept_blocks.push((t.group(), t.element(), Some(safe)));
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        for e in obj {
            if let Some(e) = self.clean_element(e, &kept_blocks) {
                out.push(e);
            }
        }
        InMemDicomObject::from_element_iter(out)
    }

    fn clean_element(&mut self, e: Elem, kept_blocks: &[KeptBlock]) -> Option<Elem> {
        let tag = e.tag();
        let vr = e.vr();
        let (g, el) = (tag.group(), tag.element());
        if g % 2 == 1 {
            let block = if el < 0x100 { el } else { el >> 8 };
            let kept = kept_blocks.iter().any(|(kg, kb, safe)| {
                *kg == g
                    && *kb == block
                    && (el < 0x100
                        || safe
                            .as_ref()
                            .is_none_or(|s| s.contains(&((el & 0xFF) as u8))))
            });
            if el >= 0x10 && kept {
                return Some(e);
            }
            if el >= 0x10 {
                self.count(Tag(g, 0x0010), "X private");
            }
            return None;
        }
        let t32 = ((g as u32) << 16) | el as u32;
        if g == 0x7FE0 || g == 0xFFFE {
            return Some(e);
        }
        // A standard attribute written as UN: decoded with its dictionary VR when that is a
        // string VR, so the profile's UID and date actions apply to it (and it is written
        // back with its proper VR).
        let (e, vr) = if vr == VR::UN {
            let e = retype_un(e);
            let vr = e.vr();
            (e, vr)
        } else {
            (e, vr)
        };
        // The curator's plan first.
        if let Some(rule) = self.cfg.plan.for_tag(t32) {
            let action = rule.action;
            let value = rule.value.clone();
            self.count(tag, action.as_str());
            return match action {
                PlanAction::Keep => Some(e),
                PlanAction::Remove => None,
                PlanAction::Empty => Some(empty_like(tag, vr)),
                PlanAction::Replace => Some(prim(
                    tag,
                    vr,
                    PrimitiveValue::from(value.unwrap_or_default()),
                )),
                PlanAction::ShiftDate => match self.shift_dates(&e) {
                    Some(v) => Some(prim(tag, vr, v)),
                    None => Some(empty_like(tag, vr)),
                },
                // Only private creators take `safe` (the plan refuses it elsewhere).
                PlanAction::Safe => None,
            };
        }
        let Some(rule) = table::rule(t32) else {
            return Some(self.not_listed(e));
        };
        let mut action = rule.action(&self.cfg.options);
        if self.depth == 0 && action == rule.basic {
            action = per_iod(rule, &self.sop_class, t32).unwrap_or(action);
        }
        // With pseudonyms, the patient's name and ID get their pseudonym.
        if self.cfg.pseudonymise && (t32 == 0x0010_0010 || t32 == 0x0010_0020) {
            let orig = strings(e.value()).join("\\");
            let p = self.cfg.secret.token(
                "patient",
                &self.identifiers.first().cloned().unwrap_or_default(),
                12,
            );
            let p = format!("P{p}");
            self.count(tag, "pseudonym");
            let _ = orig;
            return Some(prim(tag, vr, PrimitiveValue::from(p)));
        }
        if self.cfg.pseudonymise && t32 == 0x0008_0050 {
            let orig = strings(e.value()).join("\\");
            if orig.is_empty() {
                return Some(e);
            }
            let p = format!("A{}", self.cfg.secret.token("accession", &orig, 15));
            self.count(tag, "pseudonym");
            return Some(prim(tag, vr, PrimitiveValue::from(p)));
        }
        if vr == VR::SQ && matches!(action, Action::D | Action::U | Action::K | Action::C) {
            action = Action::K; // keep the sequence, clean its items
        }
        match action {
            Action::X => {
                if e.value().primitive().is_none_or(|p| p.multiplicity() != 0) {
                    self.count(tag, "X");
                }
                None
            }
            Action::Z => {
                self.count(tag, "Z");
                Some(empty_like(tag, vr))
            }
            Action::D => {
                self.count(tag, "D");
                if vr == VR::UI {
                    Some(prim(tag, vr, self.replace_uids(&e)))
                } else {
                    Some(prim(tag, vr, dummy(vr)))
                }
            }
            Action::U => {
                if vr == VR::UI {
                    self.count(tag, "U");
                    Some(prim(tag, vr, self.replace_uids(&e)))
                } else {
                    Some(e)
                }
            }
            Action::C => {
                if matches!(vr, VR::DA | VR::DT) {
                    self.count(tag, "C shift");
                    match self.shift_dates(&e) {
                        Some(v) => Some(prim(tag, vr, v)),
                        None => Some(empty_like(tag, vr)),
                    }
                } else if vr == VR::TM {
                    Some(e)
                } else {
                    self.count(tag, "C");
                    Some(empty_like(tag, vr))
                }
            }
            Action::K => Some(self.recurse(e)),
        }
    }

    /// An element Table E.1-1 does not list: kept, unless it is text quoting the patient's
    /// identifiers (then emptied); sequences are cleaned item by item.
    fn not_listed(&mut self, e: Elem) -> Elem {
        let vr = e.vr();
        if matches!(
            vr,
            VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC | VR::PN
        ) {
            let text = strings(e.value()).join("\\").to_uppercase();
            if self.identifiers.iter().any(|p| text.contains(p.as_str())) {
                let tag = e.tag();
                self.count(tag, "Z leak");
                return empty_like(tag, vr);
            }
        }
        self.recurse(e)
    }

    fn recurse(&mut self, e: Elem) -> Elem {
        if e.vr() != VR::SQ {
            return e;
        }
        let (header, value) = e.into_parts();
        match value {
            Value::Sequence(seq) => {
                let len = seq.length();
                let items: Vec<InMemDicomObject> = seq
                    .into_items()
                    .into_iter()
                    .map(|i| {
                        self.depth += 1;
                        let c = self.clean(i);
                        self.depth -= 1;
                        c
                    })
                    .collect();
                let _ = len;
                DataElement::new(
                    header.tag,
                    VR::SQ,
                    DataSetSequence::new(items, Length::UNDEFINED),
                )
            }
            other => DataElement::new(header.tag, header.vr, other),
        }
    }
}

/// Re-types a UN element of a standard string attribute (PS3.5 §6.2.2: its bytes are the
/// value as the dictionary VR would encode it, here always little endian text).
fn retype_un(e: Elem) -> Elem {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
    static DICT: dicom_dictionary_std::StandardDataDictionary =
        dicom_dictionary_std::StandardDataDictionary;
    let tag = e.tag();
    let Some(entry) = DICT.by_tag(tag) else {
        return e;
    };
    let vr = match entry.vr() {
        VirtualVr::Exact(vr) => vr,
        _ => return e,
    };
    let is_text = matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::ST
            | VR::TM
            | VR::UC
            | VR::UI
            | VR::UR
            | VR::UT
    );
    if !is_text {
        return e;
    }
    let bytes = match e.value() {
        Value::Primitive(p) => p.to_bytes().into_owned(),
        _ => return e,
    };
    let text = String::from_utf8_lossy(&bytes)
        .trim_end_matches(['\0', ' '])
        .to_string();
    let parts: Vec<String> = text.split('\\').map(str::to_string).collect();
    prim(tag, vr, PrimitiveValue::Strs(parts.into()))
}

fn identifier_parts(obj: &InMemDicomObject) -> Vec<String> {
    let mut out = Vec::new();
    let get = |t: Tag| {
        obj.get(t)
            .map(|e| strings(retype_un(e.clone()).value()).join("\\"))
    };
    if let Some(id) = get(Tag(0x0010, 0x0020)) {
        out.push(id.trim().to_uppercase());
    }
    if let Some(name) = get(Tag(0x0010, 0x0010)) {
        for p in name.split(['^', ' ', '=', '\\', ',']) {
            if p.trim().chars().count() >= 3 {
                out.push(p.trim().to_uppercase());
            }
        }
    }
    if let Some(acc) = get(Tag(0x0008, 0x0050)) {
        out.push(acc.trim().to_uppercase());
    }
    out.retain(|p| p.chars().count() >= 3);
    out
}

fn put_str(obj: &mut InMemDicomObject, tag: Tag, vr: VR, v: &str) {
    obj.put(prim(tag, vr, PrimitiveValue::from(v)));
}

fn code_item(code: (&str, &str)) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    put_str(&mut o, Tag(0x0008, 0x0100), VR::SH, code.0);
    put_str(&mut o, Tag(0x0008, 0x0102), VR::SH, "DCM");
    put_str(&mut o, Tag(0x0008, 0x0104), VR::LO, code.1);
    o
}

/// Opens a DICOM file with dicom-object; when its meta group cannot be read (absent, as in
/// files written without one, or without its group length), the data set is read from where
/// dicura's own header parser found it, in the transfer syntax it detected, and a new meta
/// group is made for the output.
fn open_lenient(src: &Path) -> Result<dicom_object::DefaultDicomObject, DeidError> {
    use dicom_encoding::TransferSyntaxIndex;
    let first = match OpenFileOptions::new().open_file(src) {
        Ok(o) => return Ok(o),
        Err(e) => DeidError::Read(e.to_string()),
    };
    let file = std::fs::File::open(src).map_err(|_| first_clone(&first))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let h = crate::formats::dicom::read_header_file(file, size, &Default::default())
        .map_err(|_| first_clone(&first))?;
    if h.truncated || h.encoding.deflated {
        return Err(first);
    }
    let Some(start) = h.elements.first().map(|e| e.offset) else {
        return Err(first);
    };
    let Some(ts) =
        dicom_transfer_syntax_registry::TransferSyntaxRegistry.get(h.transfer_syntax.as_str())
    else {
        return Err(first);
    };
    let bytes = std::fs::read(src).map_err(|_| first_clone(&first))?;
    let Some(data) = usize::try_from(start).ok().and_then(|s| bytes.get(s..)) else {
        return Err(first);
    };
    let obj = InMemDicomObject::read_dataset_with_ts(data, ts)
        .map_err(|e| DeidError::Read(format!("data set without a readable meta group: {e}")))?;
    obj.with_meta(dicom_object::meta::FileMetaTableBuilder::new().transfer_syntax(ts.uid()))
        .map_err(|e| DeidError::Read(format!("no meta group, and none can be made: {e}")))
}

fn first_clone(e: &DeidError) -> DeidError {
    DeidError::Read(e.to_string())
}

/// De-identifies one DICOM file. Writes `out_root/<tree path>` (via a temporary file)
/// unless `cfg.dry_run`; returns what was done. An existing output is left as it is.
pub fn deidentify_dicom(
    src: &Path,
    out_root: &Path,
    keep_layout: Option<&Path>,
    cfg: &DeidConfig,
) -> Result<FileResult, DeidError> {
    let mut obj = open_lenient(src)?;
    let get = |o: &InMemDicomObject, t: Tag| {
        o.get(t)
            .map(|e| strings(retype_un(e.clone()).value()).join("\\"))
    };
    let patient_id = get(&obj, Tag(0x0010, 0x0020)).unwrap_or_default();
    let patient_name = get(&obj, Tag(0x0010, 0x0010)).unwrap_or_default();
    let accession = get(&obj, Tag(0x0008, 0x0050)).unwrap_or_default();
    let study = get(&obj, Tag(0x0020, 0x000D)).unwrap_or_default();
    let series = get(&obj, Tag(0x0020, 0x000E)).unwrap_or_default();
    let sop = get(&obj, Tag(0x0008, 0x0018))
        .unwrap_or_else(|| obj.meta().media_storage_sop_instance_uid().to_string());
    let patient_key = format!("{patient_id}\u{1}{patient_name}");
    let mut ids = identifier_parts(&obj);
    ids.insert(0, patient_key.clone());
    let mut ctx = Ctx {
        cfg,
        date_shift: cfg.secret.date_shift_days(&patient_key),
        identifiers: ids,
        counts: Counts::new(),
        sop_class: get(&obj, Tag(0x0008, 0x0016))
            .unwrap_or_else(|| obj.meta().media_storage_sop_class_uid().to_string()),
        depth: 0,
    };
    let data: InMemDicomObject = std::mem::replace(&mut *obj, InMemDicomObject::new_empty());
    let mut cleaned = ctx.clean(data);
    // Marks of de-identification (PS3.15 E.1.1, PS3.16 CID 7050).
    put_str(&mut cleaned, Tag(0x0012, 0x0062), VR::CS, "YES");
    let mut methods = vec![table::BASIC_PROFILE_CODE];
    methods.extend(cfg.options.iter().map(|o| o.code()));
    let method_text: Vec<String> = methods
        .iter()
        .map(|m| m.1.chars().take(64).collect())
        .collect();
    cleaned.put(prim(
        Tag(0x0012, 0x0063),
        VR::LO,
        PrimitiveValue::Strs(method_text.into()),
    ));
    cleaned.put(DataElement::new(
        Tag(0x0012, 0x0064),
        VR::SQ,
        DataSetSequence::new(
            methods.iter().map(|m| code_item(*m)).collect::<Vec<_>>(),
            Length::UNDEFINED,
        ),
    ));
    let longitudinal = if cfg.has(ProfileOption::RetainLongitudinalFullDates) {
        "UNMODIFIED"
    } else if cfg.has(ProfileOption::RetainLongitudinalModifiedDates) {
        "MODIFIED"
    } else {
        "REMOVED"
    };
    put_str(&mut cleaned, Tag(0x0028, 0x0303), VR::CS, longitudinal);
    *obj = cleaned;
    // File meta group.
    let retain_uids = cfg.has(ProfileOption::RetainUids);
    let new_sop = if retain_uids {
        sop.clone()
    } else {
        cfg.secret.uid(&sop)
    };
    {
        let meta = obj.meta_mut();
        meta.media_storage_sop_instance_uid = new_sop.clone();
        meta.source_application_entity_title = None;
        meta.sending_application_entity_title = None;
        meta.receiving_application_entity_title = None;
        meta.private_information_creator_uid = None;
        meta.private_information = None;
        meta.update_information_group_length();
    }
    let mut mappings = Vec::new();
    if cfg.pseudonymise {
        let p = format!("P{}", cfg.secret.token("patient", &patient_key, 12));
        mappings.push(Mapping {
            kind: "PatientID".into(),
            original: patient_id.clone(),
            pseudonym: p.clone(),
        });
        mappings.push(Mapping {
            kind: "PatientName".into(),
            original: patient_name.clone(),
            pseudonym: p,
        });
        if !accession.is_empty() {
            mappings.push(Mapping {
                kind: "AccessionNumber".into(),
                original: accession.clone(),
                pseudonym: format!("A{}", cfg.secret.token("accession", &accession, 15)),
            });
        }
        if !retain_uids {
            for (kind, uid) in [
                ("StudyInstanceUID", &study),
                ("SeriesInstanceUID", &series),
                ("SOPInstanceUID", &sop),
            ] {
                if !uid.is_empty() {
                    mappings.push(Mapping {
                        kind: kind.into(),
                        original: uid.clone(),
                        pseudonym: cfg.secret.uid(uid),
                    });
                }
            }
        }
    }
    let output = match keep_layout {
        Some(root) => src
            .strip_prefix(root)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| PathBuf::from(src.file_name().unwrap_or_default())),
        None => PathBuf::from(format!(
            "P{}",
            cfg.secret.token("patient", &patient_key, 12)
        ))
        .join(format!("ST{}", cfg.secret.token("study", &study, 12)))
        .join(format!("SE{}", cfg.secret.token("series", &series, 12)))
        // Two source files may hold the same instance (e.g. in two transfer syntaxes): the
        // name also depends on the source path, so neither overwrites the other.
        .join(format!(
            "{}.dcm",
            cfg.secret
                .token("sop", &format!("{sop}\u{1}{}", src.display()), 16)
        )),
    };
    if !cfg.dry_run {
        let dest = out_root.join(&output);
        if !dest.exists() {
            write_atomically(&dest, |tmp| {
                obj.write_to_file(tmp)
                    .map_err(|e| DeidError::Write(e.to_string()))
            })?;
        }
    }
    Ok(FileResult {
        output,
        counts: ctx.counts,
        mappings,
    })
}

/// Suffix of temporary files in the output tree; a run removes stale ones.
pub const TMP_SUFFIX: &str = ".dicura-tmp";

/// Writes through `write` to a temporary sibling of `dest`, then renames it into place.
pub fn write_atomically(
    dest: &Path,
    write: impl FnOnce(&Path) -> Result<(), DeidError>,
) -> Result<(), DeidError> {
    let io = |e: std::io::Error| DeidError::Write(e.to_string());
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut tmp = dest.as_os_str().to_owned();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tmp.push(format!(".{}-{n}{TMP_SUFFIX}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let r = write(&tmp);
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return r;
    }
    std::fs::rename(&tmp, dest).map_err(io)
}

/// NIfTI-1/Analyze and NIfTI-2 text fields: (offset, length) of descrip, aux_file,
/// intent_name (NIfTI only) and db_name (NIfTI-1/Analyze only), and where extensions start.
/// Text fields as (name, offset, length), where the fixed header ends, whether it is NIfTI.
type VolumeLayout = (Vec<(&'static str, usize, usize)>, usize, bool);

fn volume_layout(header: &[u8]) -> Option<VolumeLayout> {
    let le = header.get(..4)?;
    let n = u32::from_le_bytes([le[0], le[1], le[2], le[3]]);
    let nb = u32::from_be_bytes([le[0], le[1], le[2], le[3]]);
    if n == 348 || nb == 348 {
        let is_nifti = header
            .get(344..347)
            .is_some_and(|m| m == b"n+1" || m == b"ni1");
        let mut f = vec![
            ("db_name", 4, 18),
            ("descrip", 148, 80),
            ("aux_file", 228, 24),
        ];
        if is_nifti {
            f.push(("intent_name", 328, 16));
        }
        Some((f, 348, is_nifti))
    } else if n == 540 || nb == 540 {
        Some((
            vec![
                ("descrip", 240, 80),
                ("aux_file", 320, 24),
                ("intent_name", 508, 16),
            ],
            540,
            true,
        ))
    } else {
        None
    }
}

/// De-identifies a NIfTI/Analyze header in place in `bytes` (the uncompressed file or
/// `.hdr`): text fields cleared and extensions blanked (their bytes zeroed, so the voxel
/// offset and voxel data are untouched), unless the plan keeps them.
pub fn clean_volume_header(bytes: &mut [u8], plan: &Plan, counts: &mut Counts) -> bool {
    let Some((fields, end, is_nifti)) = volume_layout(bytes) else {
        return false;
    };
    for (name, off, len) in fields {
        if plan
            .for_field(name)
            .is_some_and(|r| r.action == PlanAction::Keep)
        {
            continue;
        }
        if let Some(slice) = bytes.get_mut(off..off + len) {
            if slice.iter().any(|b| *b != 0) {
                *counts.entry((name.to_string(), "Z".into())).or_insert(0) += 1;
            }
            slice.fill(0);
        }
    }
    let keep_ext = plan
        .for_field("extensions")
        .is_some_and(|r| r.action == PlanAction::Keep);
    if is_nifti && !keep_ext && bytes.get(end).is_some_and(|b| *b != 0) {
        *counts.entry(("extensions".into(), "X".into())).or_insert(0) += 1;
        // Extensions run from end+4 up to vox_offset (single file) or the end of the .hdr.
        let vox = if end == 348 {
            bytes.get(108..112).map(|b| {
                let le = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                let be = f32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                let v = if (352.0..1e9).contains(&le) { le } else { be };
                v as usize
            })
        } else {
            bytes.get(168..176).map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let le = f64::from_le_bytes(a);
                let v = if (544.0..1e12).contains(&le) {
                    le
                } else {
                    f64::from_be_bytes(a)
                };
                v as usize
            })
        };
        let stop = match vox {
            Some(v) if v > end + 4 && v <= bytes.len() => v,
            _ => bytes.len(),
        };
        bytes[end] = 0;
        if let Some(s) = bytes.get_mut(end + 4..stop) {
            s.fill(0);
        }
    }
    true
}
