//! The DICOM JSON model (PS3.18 Annex F) of a parsed header.
//!
//! The catalogue stores every header in this form (as SQLite JSONB), so any element of any
//! file can be queried with SQLite's JSON functions without reading the file again; `show`
//! prints it. Written by hand into a `String` because the scanner does it for every file.

use super::{Element, Value, Vr};
use base64::Engine;
use std::fmt::Write;

/// The header's elements (meta group first) as a DICOM JSON object.
pub fn to_dicom_json<'a>(elements: impl IntoIterator<Item = &'a Element>) -> String {
    let mut out = String::with_capacity(4096);
    write_dicom_json(&mut out, elements);
    out
}

/// Appends the DICOM JSON object of `elements` to `out`.
pub fn write_dicom_json<'a>(out: &mut String, elements: impl IntoIterator<Item = &'a Element>) {
    out.push('{');
    let mut first = true;
    for e in elements {
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "\"{:08X}\":{{\"vr\":\"{}\"", e.tag, json_vr(e.vr));
        write_value(out, e);
        out.push('}');
    }
    out.push('}');
}

/// The JSON model only knows standard VRs; anything else is reported as UN.
fn json_vr(vr: Vr) -> &'static str {
    if vr.is_known() {
        // Known VRs are ASCII letters; map through a static table to get a 'static str.
        const ALL: [&str; 34] = [
            "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "OB", "OD",
            "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI",
            "UL", "UN", "UR", "US", "UT", "UV",
        ];
        ALL.iter()
            .copied()
            .find(|s| s.as_bytes() == vr.0)
            .unwrap_or("UN")
    } else {
        "UN"
    }
}

fn write_value(out: &mut String, e: &Element) {
    match &e.value {
        Value::Empty | Value::Bulk => {}
        Value::Text(s) => {
            out.push_str(",\"Value\":[");
            let parts: Box<dyn Iterator<Item = &str>> = if e.vr.keeps_leading_space() {
                Box::new(std::iter::once(s.as_str()))
            } else {
                Box::new(s.split('\\'))
            };
            for (i, part) in parts.enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match &e.vr.0 {
                    b"PN" => {
                        if part.is_empty() {
                            out.push_str("null");
                        } else {
                            out.push('{');
                            let groups = ["Alphabetic", "Ideographic", "Phonetic"];
                            let mut wrote = false;
                            for (name, comp) in groups.iter().zip(part.split('=')) {
                                if comp.is_empty() {
                                    continue;
                                }
                                if wrote {
                                    out.push(',');
                                }
                                wrote = true;
                                let _ = write!(out, "\"{name}\":");
                                push_str(out, comp);
                            }
                            out.push('}');
                        }
                    }
                    b"IS" | b"DS" => {
                        let t = part.trim();
                        match t.parse::<f64>() {
                            Ok(v) if v.is_finite() && !t.is_empty() => {
                                if e.vr.0 == *b"IS" {
                                    if let Ok(i) = t.parse::<i64>() {
                                        let _ = write!(out, "{i}");
                                        continue;
                                    }
                                }
                                push_number(out, v)
                            }
                            _ if t.is_empty() => out.push_str("null"),
                            _ => push_str(out, t),
                        }
                    }
                    _ => {
                        if part.is_empty() {
                            out.push_str("null");
                        } else {
                            push_str(out, part);
                        }
                    }
                }
            }
            out.push(']');
        }
        Value::Ints(v) => {
            out.push_str(",\"Value\":[");
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{x}");
            }
            out.push(']');
        }
        Value::Floats(v) => {
            out.push_str(",\"Value\":[");
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if x.is_finite() {
                    push_number(out, *x);
                } else {
                    push_str(out, &x.to_string());
                }
            }
            out.push(']');
        }
        Value::Tags(v) => {
            out.push_str(",\"Value\":[");
            for (i, t) in v.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "\"{t:08X}\"");
            }
            out.push(']');
        }
        Value::Bytes(b) => {
            out.push_str(",\"InlineBinary\":\"");
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
            out.push('"');
        }
        Value::Items(items) => {
            out.push_str(",\"Value\":[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_dicom_json(out, item.iter());
            }
            out.push(']');
        }
    }
}

/// The catalogue's compact form of a header: `{"GGGGEEEE": [VR, value, value, ...], ...}`.
///
/// Half the size of the DICOM JSON model, and still queryable with SQLite's JSON functions
/// (`elements ->> '$."00080070"[1]'` is the first Manufacturer value). Values of string VRs
/// are the text as stored (split at `\`), binary numbers are numbers, AT values are
/// `"GGGGEEEE"`, small binary values one base64 string, bulk values are left out, and a
/// sequence's values are its items, each an object of the same form.
pub fn to_compact_json<'a>(elements: impl IntoIterator<Item = &'a Element>) -> String {
    let mut out = String::with_capacity(2048);
    write_compact(&mut out, elements);
    out
}

fn write_compact<'a>(out: &mut String, elements: impl IntoIterator<Item = &'a Element>) {
    out.push('{');
    let mut first = true;
    for e in elements {
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "\"{:08X}\":[\"{}\"", e.tag, json_vr(e.vr));
        match &e.value {
            Value::Empty | Value::Bulk => {}
            Value::Text(s) => {
                if e.vr.keeps_leading_space() {
                    out.push(',');
                    push_str(out, s);
                } else {
                    for part in s.split('\\') {
                        out.push(',');
                        push_str(out, part);
                    }
                }
            }
            Value::Ints(v) => {
                for x in v {
                    let _ = write!(out, ",{x}");
                }
            }
            Value::Floats(v) => {
                for x in v {
                    out.push(',');
                    if x.is_finite() {
                        let _ = write!(out, "{x}");
                    } else {
                        push_str(out, &x.to_string());
                    }
                }
            }
            Value::Tags(v) => {
                for t in v {
                    let _ = write!(out, ",\"{t:08X}\"");
                }
            }
            Value::Bytes(b) => {
                out.push_str(",\"");
                out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
                out.push('"');
            }
            Value::Items(items) => {
                for item in items {
                    out.push(',');
                    write_compact(out, item.iter());
                }
            }
        }
        out.push(']');
    }
    out.push('}');
}

fn push_number(out: &mut String, v: f64) {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Writes `s` as a JSON string literal.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(tag: u32, vr: &[u8; 2], value: Value) -> Element {
        Element {
            tag,
            vr: Vr(*vr),
            length: 0,
            offset: 0,
            value,
        }
    }

    #[test]
    fn json_model_shapes() {
        let items = vec![vec![el(0x0008_1150, b"UI", Value::Text("1.2.3".into()))]];
        let list = [
            el(0x0008_0060, b"CS", Value::Text("CT".into())),
            el(0x0010_0010, b"PN", Value::Text("Doe^John=ド^ジ".into())),
            el(0x0020_0013, b"IS", Value::Text("7".into())),
            el(0x0028_0030, b"DS", Value::Text("0.5\\0.5".into())),
            el(0x0028_0010, b"US", Value::Ints(vec![512])),
            el(0x0008_1140, b"SQ", Value::Items(items)),
            el(0x0002_0001, b"OB", Value::Bytes(vec![0, 1])),
            el(0x7FE0_0010, b"OW", Value::Bulk),
            el(0x0010_4000, b"LT", Value::Text("a \"q\"\\b".into())),
        ];
        let s = to_dicom_json(list.iter());
        let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(v["00080060"]["Value"][0], "CT");
        assert_eq!(v["00100010"]["Value"][0]["Alphabetic"], "Doe^John");
        assert_eq!(v["00100010"]["Value"][0]["Ideographic"], "ド^ジ");
        assert_eq!(v["00200013"]["Value"][0], 7);
        assert_eq!(v["00280030"]["Value"][1], 0.5);
        assert_eq!(v["00280010"]["Value"][0], 512);
        assert_eq!(v["00081140"]["Value"][0]["00081150"]["Value"][0], "1.2.3");
        assert_eq!(v["00020001"]["InlineBinary"], "AAE=");
        assert!(v["7FE00010"].get("Value").is_none());
        assert_eq!(v["7FE00010"]["vr"], "OW");
        assert_eq!(v["00104000"]["Value"][0], "a \"q\"\\b");

        let c: serde_json::Value =
            serde_json::from_str(&to_compact_json(list.iter())).expect("valid JSON");
        assert_eq!(c["00080060"], serde_json::json!(["CS", "CT"]));
        assert_eq!(c["00280030"], serde_json::json!(["DS", "0.5", "0.5"]));
        assert_eq!(c["00280010"], serde_json::json!(["US", 512]));
        assert_eq!(
            c["00081140"][1]["00081150"],
            serde_json::json!(["UI", "1.2.3"])
        );
        assert_eq!(c["7FE00010"], serde_json::json!(["OW"]));
        assert_eq!(c["00104000"][1], "a \"q\"\\b");
    }
}
