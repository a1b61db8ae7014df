//! Value checks: VR syntax and length (PS3.5 §6.2 Table 6.2-1), VM against the data dictionary
//! (PS3.6 §6), enumerated values of core attributes (PS3.3), retired attributes.
//!
//! Messages never quote values, except of the few technical attributes in [`SHOW_VALUE`]
//! (no PHI there): a curator sees which attribute is wrong, not a patient's data.

use super::engine::FileFinding;
use crate::formats::dicom::{
    dictionary_vr, keyword, tag_string, tags, DicomHeader, Element, Value,
};
use std::collections::HashMap;
use std::sync::OnceLock;

const DICTIONARY: &str = include_str!("dictionary.tsv");

/// Attributes whose values may appear in messages.
const SHOW_VALUE: &[u32] = &[
    tags::MODALITY,
    tags::PHOTOMETRIC_INTERPRETATION,
    0x0028_2110, // LossyImageCompression
    0x0008_0064, // ConversionType
    tags::PIXEL_REPRESENTATION,
    0x0028_0006, // PlanarConfiguration
];

/// At most this many value findings per file (a hostile file can have thousands of elements).
const MAX_PER_FILE: usize = 50;

#[derive(Debug, Clone, Copy)]
struct Vm {
    min: usize,
    /// `None` for unbounded (`n`).
    max: Option<usize>,
    /// Values come in multiples of this (`2-2n`).
    step: usize,
}

impl Vm {
    fn parse(s: &str) -> Option<Vm> {
        match s.split_once('-') {
            None => s.parse().ok().map(|n| Vm {
                min: n,
                max: Some(n),
                step: 1,
            }),
            Some((a, b)) => {
                let min: usize = a.parse().ok()?;
                if b == "n" {
                    Some(Vm {
                        min,
                        max: None,
                        step: 1,
                    })
                } else if let Some(k) = b.strip_suffix('n') {
                    Some(Vm {
                        min,
                        max: None,
                        step: k.parse().ok()?,
                    })
                } else {
                    Some(Vm {
                        min,
                        max: Some(b.parse().ok()?),
                        step: 1,
                    })
                }
            }
        }
    }
    fn allows(&self, n: usize) -> bool {
        n >= self.min && self.max.is_none_or(|m| n <= m) && n % self.step.max(1) == 0
    }
}

struct Dict {
    /// Tags whose VM is not 1, and whether they are retired.
    entries: HashMap<u32, (Vm, bool)>,
}

fn dict() -> &'static Dict {
    static D: OnceLock<Dict> = OnceLock::new();
    D.get_or_init(|| {
        let mut entries = HashMap::new();
        for line in DICTIONARY.lines().filter(|l| !l.starts_with('#')) {
            let mut cols = line.split('\t');
            let (Some(tag), Some(vm), Some(r)) = (cols.next(), cols.next(), cols.next()) else {
                continue;
            };
            let (Ok(tag), Some(vm)) = (u32::from_str_radix(tag, 16), Vm::parse(vm)) else {
                continue;
            };
            entries.insert(tag, (vm, r == "R"));
        }
        Dict { entries }
    })
}

thread_local! {
    /// Dictionary VR and whether the tag is in the dictionary, per tag (the dictionary lookups
    /// allocate; a scan meets the same few hundred tags millions of times).
    static DICT_CACHE: std::cell::RefCell<HashMap<u32, (crate::formats::dicom::Vr, bool)>> =
        std::cell::RefCell::new(HashMap::new());
}

fn dict_info(tag: u32) -> (crate::formats::dicom::Vr, bool) {
    DICT_CACHE.with(|c| {
        *c.borrow_mut()
            .entry(tag)
            .or_insert_with(|| (dictionary_vr(tag), keyword(tag).is_some()))
    })
}

fn name_of(tag: u32) -> String {
    match keyword(tag) {
        Some(k) => format!("{k} {}", tag_string(tag)),
        None => tag_string(tag),
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn valid_da(v: &str) -> bool {
    if v.len() != 8 || !digits(v) {
        return false;
    }
    let y: u32 = v[0..4].parse().unwrap_or(0);
    let m: u32 = v[4..6].parse().unwrap_or(0);
    let d: u32 = v[6..8].parse().unwrap_or(0);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// HH[MM[SS[.F{1,6}]]] (PS3.5 Table 6.2-1).
fn valid_tm(v: &str) -> bool {
    let (main, frac) = match v.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (v, None),
    };
    if !digits(main) || !matches!(main.len(), 2 | 4 | 6) {
        return false;
    }
    if let Some(f) = frac {
        if main.len() != 6 || f.is_empty() || f.len() > 6 || !digits(f) {
            return false;
        }
    }
    let part = |i: usize| main.get(i..i + 2).and_then(|p| p.parse::<u32>().ok());
    part(0).is_some_and(|h| h < 24)
        && part(2).is_none_or(|m| m < 60)
        && part(4).is_none_or(|s| s <= 60)
}

/// YYYY[MM[DD[HH[MM[SS[.F{1,6}]]]]]][&ZZXX]
fn valid_dt(v: &str) -> bool {
    let (main, tz) = match v.find(['+', '-']) {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    if let Some(tz) = tz {
        if tz.len() != 4 || !digits(tz) {
            return false;
        }
    }
    let (date, frac) = match main.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (main, None),
    };
    if !digits(date) || !matches!(date.len(), 4 | 6 | 8 | 10 | 12 | 14) {
        return false;
    }
    if frac.is_some_and(|f| date.len() != 14 || f.is_empty() || f.len() > 6 || !digits(f)) {
        return false;
    }
    let month_ok = date.len() < 6
        || date[4..6]
            .parse::<u32>()
            .is_ok_and(|m| (1..=12).contains(&m));
    let day_ok = date.len() < 8 || valid_da(&date[0..8]);
    let time_ok = date.len() < 10 || valid_tm(&date[8..]);
    month_ok && day_ok && time_ok
}

fn valid_as(v: &str) -> bool {
    v.len() == 4 && digits(&v[0..3]) && matches!(&v[3..], "D" | "W" | "M" | "Y")
}

fn valid_ui(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.split('.')
            .all(|c| digits(c) && (c.len() == 1 || !c.starts_with('0')))
}

fn valid_is(v: &str) -> bool {
    let t = v.trim();
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    digits(body)
        && t.parse::<i64>()
            .is_ok_and(|n| (-(1i64 << 31)..(1i64 << 31)).contains(&n))
}

fn valid_ds(v: &str) -> bool {
    let t = v.trim();
    if t.is_empty() {
        return false;
    }
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mant_ok = match mantissa.split_once('.') {
        Some((a, b)) => {
            (a.is_empty() || digits(a))
                && (b.is_empty() || digits(b))
                && !(a.is_empty() && b.is_empty())
        }
        None => digits(mantissa),
    };
    let exp_ok = exp.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    mant_ok && exp_ok && t.parse::<f64>().is_ok_and(f64::is_finite)
}

fn valid_cs(v: &str) -> bool {
    v.bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'_')
}

fn has_control(v: &str) -> bool {
    v.chars().any(|c| c.is_control() && c != '\u{1b}')
}

/// Maximum length of one value (characters for text VRs), PS3.5 Table 6.2-1.
fn max_len(vr: &[u8; 2]) -> Option<usize> {
    Some(match vr {
        b"AE" | b"CS" | b"SH" | b"DS" => 16,
        b"AS" => 4,
        b"DA" => 8,
        b"DT" => 26,
        b"IS" => 12,
        b"LO" | b"UI" => 64,
        b"LT" => 10240,
        b"ST" => 1024,
        b"TM" => 14,
        _ => return None,
    })
}

/// Enumerated values (and defined terms used as such) of core attributes.
fn enumerated(tag: u32) -> Option<&'static [&'static str]> {
    Some(match tag {
        // PS3.3 C.7.6.3.1.2 (HSV, ARGB, CMYK, YBR_PARTIAL_422 are retired but still legal to meet)
        tags::PHOTOMETRIC_INTERPRETATION => &[
            "MONOCHROME1",
            "MONOCHROME2",
            "PALETTE COLOR",
            "RGB",
            "YBR_FULL",
            "YBR_FULL_422",
            "YBR_PARTIAL_420",
            "YBR_ICT",
            "YBR_RCT",
            "XYB",
            "HSV",
            "ARGB",
            "CMYK",
            "YBR_PARTIAL_422",
        ],
        // PS3.3 C.7.1.1 Patient's Sex
        tags::PATIENT_SEX => &["M", "F", "O"],
        // PS3.3 C.7.3.1.1.1 Modality defined terms (current and retired)
        tags::MODALITY => &[
            "ANN",
            "AR",
            "ASMT",
            "AU",
            "BDUS",
            "BI",
            "BMD",
            "CFM",
            "CR",
            "CT",
            "CTPROTOCOL",
            "DMS",
            "DG",
            "DOC",
            "DX",
            "ECG",
            "EEG",
            "EMG",
            "EOG",
            "EPS",
            "ES",
            "FID",
            "GM",
            "HC",
            "HD",
            "IO",
            "IOL",
            "IVOCT",
            "IVUS",
            "KER",
            "KO",
            "LEN",
            "LS",
            "MG",
            "MR",
            "M3D",
            "NM",
            "OAM",
            "OCT",
            "OP",
            "OPM",
            "OPT",
            "OPTBSV",
            "OPTENF",
            "OPV",
            "OSS",
            "OT",
            "PA",
            "PLAN",
            "POS",
            "PR",
            "PT",
            "PX",
            "REG",
            "RESP",
            "RF",
            "RG",
            "RTDOSE",
            "RTIMAGE",
            "RTINTENT",
            "RTPLAN",
            "RTRAD",
            "RTRECORD",
            "RTSEGANN",
            "RTSTRUCT",
            "RWV",
            "SEG",
            "SM",
            "SMR",
            "SR",
            "SRF",
            "STAIN",
            "TEXTUREMAP",
            "TG",
            "US",
            "VA",
            "XA",
            "XAPROTOCOL",
            "XC",
            "AS",
            "CD",
            "CF",
            "CP",
            "CS",
            "DD",
            "DF",
            "DM",
            "DS",
            "EC",
            "FA",
            "FS",
            "LP",
            "MA",
            "MS",
            "OPR",
            "ST",
            "VF",
        ],
        0x0028_2110 => &["00", "01"], // Lossy Image Compression, C.7.6.1.1.5
        0x0020_0060 => &["R", "L"],   // Laterality, C.7.3.1
        0x0020_0062 => &["R", "L", "U", "B"], // Image Laterality, C.8.11.7
        0x0008_0064 => &["DV", "DI", "DF", "WSD", "SD", "SI", "DRW", "SYN"], // Conversion Type, C.8.6.1
        _ => return None,
    })
}

fn enumerated_numeric(tag: u32) -> Option<&'static [i64]> {
    Some(match tag {
        tags::PIXEL_REPRESENTATION => &[0, 1], // C.7.6.3
        0x0028_0006 => &[0, 1],                // Planar Configuration
        _ => return None,
    })
}

struct Walker<'a> {
    out: &'a mut Vec<FileFinding>,
    count: usize,
}

impl Walker<'_> {
    fn push(&mut self, f: FileFinding) {
        if self.count < MAX_PER_FILE {
            self.out.push(f);
        }
        self.count += 1;
    }

    fn element(&mut self, e: &Element, path: &str, top: bool) {
        let tag = e.tag;
        let private = (tag >> 16) & 1 == 1;
        let at = |p: &str| {
            if p.is_empty() {
                None
            } else {
                Some(format!("{p}{}", tag_string(tag)))
            }
        };
        if let Value::Items(items) = &e.value {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}{}[{}]/", tag_string(tag), i + 1);
                for child in item {
                    self.element(child, &p, false);
                }
            }
            return;
        }
        if private || tag & 0xFFFF == 0 {
            return;
        }
        let (dict_vr, known) = dict_info(tag);
        let entry = dict().entries.get(&tag).copied();
        if top && entry.is_some_and(|(_, retired)| retired) {
            self.push(
                FileFinding::new(
                    "value.retired",
                    format!("{} is a retired attribute (PS3.6)", name_of(tag)),
                )
                .at(tag, None),
            );
        }
        let show = SHOW_VALUE.contains(&tag);
        // VM against the dictionary (only when the element has the dictionary's VR).
        if e.vr == dict_vr && !e.vr.is_bulk_binary() && dict_vr.0 != *b"UN" {
            let vm = entry.map(|(vm, _)| vm).unwrap_or(Vm {
                min: 1,
                max: Some(1),
                step: 1,
            });
            let n = e.vm();
            let measurable = !matches!(e.value, Value::Bulk | Value::Empty | Value::Bytes(_));
            if known && measurable && n > 0 && !vm.allows(n) {
                self.push(
                    FileFinding::new(
                        "value.vm.invalid",
                        format!(
                            "{} has {n} values; the data dictionary allows {}",
                            name_of(tag),
                            describe_vm(vm)
                        ),
                    )
                    .at(tag, at(path)),
                );
            }
        }
        if let Some(allowed) = enumerated_numeric(tag) {
            if let Value::Ints(v) = &e.value {
                if v.iter().any(|x| !allowed.contains(x)) {
                    self.push(
                        FileFinding::new(
                            "value.enum.invalid",
                            format!(
                                "{} has a value that is not one of {:?}",
                                name_of(tag),
                                allowed
                            ),
                        )
                        .at(tag, at(path)),
                    );
                }
            }
        }
        let Value::Text(text) = &e.value else {
            return;
        };
        if text.ends_with('…') {
            return; // cut by the parser's limits: not the real value
        }
        let vr = e.vr.0;
        let values: Vec<&str> = if e.vr.keeps_leading_space() {
            vec![text.as_str()]
        } else {
            text.split('\\').collect()
        };
        let mut invalid = false;
        let mut too_long = false;
        for v in &values {
            let v = if matches!(
                &vr,
                b"DS" | b"IS" | b"DA" | b"TM" | b"DT" | b"AS" | b"UI" | b"CS" | b"AE"
            ) {
                v.trim_matches(' ')
            } else {
                v
            };
            if v.is_empty() {
                continue;
            }
            if let Some(max) = max_len(&vr) {
                let n = if e.vr.uses_charset() {
                    v.chars().count()
                } else {
                    v.len()
                };
                if n > max {
                    too_long = true;
                }
            }
            let ok = match &vr {
                b"DA" => valid_da(v),
                b"TM" => valid_tm(v),
                b"DT" => valid_dt(v),
                b"AS" => valid_as(v),
                b"UI" => valid_ui(v),
                b"IS" => valid_is(v),
                b"DS" => valid_ds(v),
                b"CS" => valid_cs(v),
                b"AE" | b"SH" | b"LO" => !has_control(v),
                b"PN" => {
                    let groups: Vec<&str> = v.split('=').collect();
                    groups.len() <= 3
                        && groups
                            .iter()
                            .all(|g| g.chars().count() <= 64 && g.split('^').count() <= 5)
                        && !has_control(v)
                }
                _ => true,
            };
            if !ok {
                invalid = true;
            }
        }
        if invalid {
            let value = if show {
                format!(" ({text:?})")
            } else {
                String::new()
            };
            self.push(
                FileFinding::new(
                    "value.vr.invalid",
                    format!("{}{value} is not a valid {} value", name_of(tag), e.vr),
                )
                .at(tag, at(path)),
            );
        }
        if too_long {
            self.push(
                FileFinding::new(
                    "value.vr.too_long",
                    format!(
                        "{} is longer than {} allows ({} characters)",
                        name_of(tag),
                        e.vr,
                        max_len(&vr).unwrap_or(0)
                    ),
                )
                .at(tag, at(path)),
            );
        }
        if let Some(allowed) = enumerated(tag) {
            let bad: Vec<&str> = values
                .iter()
                .map(|v| v.trim())
                .filter(|v| !v.is_empty() && !allowed.contains(v))
                .collect();
            if !bad.is_empty() {
                let detail = if show {
                    format!(" ({})", bad.join("\\"))
                } else {
                    String::new()
                };
                self.push(
                    FileFinding::new(
                        "value.enum.invalid",
                        format!(
                            "{}{detail} is not one of the values PS3.3 defines for it",
                            name_of(tag)
                        ),
                    )
                    .at(tag, at(path)),
                );
            }
        }
    }
}

fn describe_vm(vm: Vm) -> String {
    match (vm.max, vm.step) {
        (Some(m), _) if m == vm.min => format!("{m}"),
        (Some(m), _) => format!("{}-{m}", vm.min),
        (None, 1) => format!("{} or more", vm.min),
        (None, k) => format!("a multiple of {k}, at least {}", vm.min),
    }
}

/// Runs the value checks over every element (meta group and data set, at any depth).
pub fn check(h: &DicomHeader, out: &mut Vec<FileFinding>) {
    let mut w = Walker { out, count: 0 };
    for e in h.all_top_level() {
        w.element(e, "", true);
    }
    if w.count > MAX_PER_FILE {
        let n = w.count - MAX_PER_FILE;
        w.out.push(FileFinding::new(
            "value.vr.invalid",
            format!("{n} more value problems in this file are not listed"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vr_syntax() {
        assert!(valid_da("20240229") && !valid_da("20230229") && !valid_da("1997.04.24"));
        assert!(valid_tm("140438") && valid_tm("1404") && valid_tm("140438.123456"));
        assert!(!valid_tm("14:04:38") && !valid_tm("250000"));
        assert!(valid_dt("20240101120000.5+0100") && !valid_dt("2024-01-01"));
        assert!(valid_as("045Y") && !valid_as("45Y"));
        assert!(valid_ui("1.2.840.10008.1.2") && !valid_ui("1.02.3") && !valid_ui("1..2"));
        assert!(valid_is("-12") && !valid_is("1.5") && !valid_is("99999999999"));
        assert!(valid_ds("1.5e3") && valid_ds("-.5") && !valid_ds("1,5") && !valid_ds("."));
        assert!(valid_cs("ORIGINAL") && !valid_cs("original"));
    }

    #[test]
    fn vm_specs() {
        let vm = Vm::parse("2-2n").expect("parses");
        assert!(vm.allows(2) && vm.allows(4) && !vm.allows(3) && !vm.allows(0));
        assert!(Vm::parse("1-3").is_some_and(|v| v.allows(3) && !v.allows(4)));
        assert!(Vm::parse("6").is_some_and(|v| v.allows(6) && !v.allows(5)));
        assert!(dict()
            .entries
            .get(&0x0028_0030)
            .is_some_and(|(v, r)| v.allows(2) && !*r));
    }
}
