//! Human-readable rendering of header elements, shared by `dicura show` and the TUI:
//! names (with private creators), values as text, binary values summarised, and a
//! flattened list of lines with sequence nesting.

use super::{keyword, tag_string, Element, Value};
use std::collections::HashMap;

/// Private creators of one data set: (group, block) → creator string (PS3.5 §7.8.1).
pub fn private_creators(elements: &[Element]) -> HashMap<(u16, u8), String> {
    let mut map = HashMap::new();
    for e in elements {
        let (g, el) = (e.group(), e.elem());
        if g & 1 == 1 && (0x0010..=0x00FF).contains(&el) {
            if let Some(t) = e.text() {
                map.insert((g, el as u8), t.to_string());
            }
        }
    }
    map
}

/// The name to show for a tag: its dictionary keyword, or for private elements the creator.
pub fn element_name(tag: u32, creators: &HashMap<(u16, u8), String>) -> String {
    let g = (tag >> 16) as u16;
    let e = tag as u16;
    if g & 1 == 1 {
        if e == 0 {
            return "PrivateGroupLength".into();
        }
        if (0x0010..=0x00FF).contains(&e) {
            return "PrivateCreator".into();
        }
        let block = (e >> 8) as u8;
        return match creators.get(&(g, block)) {
            Some(c) => format!("[{c}] private"),
            None => "private (no creator)".into(),
        };
    }
    keyword(tag).unwrap_or("unknown").to_string()
}

/// The value as one line of text; binary values are summarised, not dumped.
pub fn value_text(e: &Element) -> String {
    match &e.value {
        Value::Empty => String::new(),
        Value::Text(s) => s.clone(),
        Value::Ints(v) => join(v.iter().map(|x| x.to_string())),
        Value::Floats(v) => join(v.iter().map(|x| x.to_string())),
        Value::Tags(v) => join(v.iter().map(|t| tag_string(*t))),
        Value::Bytes(b) if b.len() <= 16 => join(b.iter().map(|x| format!("{x:02x}"))),
        Value::Bytes(b) => format!("<binary, {} bytes>", b.len()),
        Value::Bulk if e.length == u32::MAX => "<encapsulated, undefined length>".into(),
        Value::Bulk => format!("<binary, {} bytes>", e.length),
        Value::Items(items) => format!(
            "<{} item{}>",
            items.len(),
            if items.len() == 1 { "" } else { "s" }
        ),
    }
}

fn join(it: impl Iterator<Item = String>) -> String {
    it.collect::<Vec<_>>().join("\\")
}

/// One displayable line of a header.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub depth: usize,
    /// Element path: indices alternating element, item, element, ... from the top level.
    pub path: Vec<usize>,
    pub tag: u32,
    /// `None` for item marker lines.
    pub vr: Option<String>,
    pub vm: usize,
    pub length: Option<u32>,
    pub name: String,
    pub value: String,
    pub is_sequence: bool,
    pub items: usize,
}

/// Flattens elements into lines; a sequence's items are listed when `expanded(path)` says so
/// (the path is the sequence element's path).
pub fn lines(elements: &[Element], expanded: &dyn Fn(&[usize]) -> bool) -> Vec<Line> {
    let mut out = Vec::new();
    walk(elements, 0, &mut Vec::new(), expanded, &mut out);
    out
}

fn walk(
    elements: &[Element],
    depth: usize,
    prefix: &mut Vec<usize>,
    expanded: &dyn Fn(&[usize]) -> bool,
    out: &mut Vec<Line>,
) {
    let creators = private_creators(elements);
    for (i, e) in elements.iter().enumerate() {
        prefix.push(i);
        let items = match &e.value {
            Value::Items(items) => Some(items),
            _ => None,
        };
        out.push(Line {
            depth,
            path: prefix.clone(),
            tag: e.tag,
            vr: Some(e.vr.as_str().to_string()),
            vm: e.vm(),
            length: Some(e.length),
            name: element_name(e.tag, &creators),
            value: value_text(e),
            is_sequence: items.is_some(),
            items: items.map(|v| v.len()).unwrap_or(0),
        });
        if let Some(items) = items {
            if expanded(prefix) {
                for (k, item) in items.iter().enumerate() {
                    prefix.push(k);
                    out.push(Line {
                        depth: depth + 1,
                        path: prefix.clone(),
                        tag: 0xFFFE_E000,
                        vr: None,
                        vm: 0,
                        length: None,
                        name: format!("Item {}", k + 1),
                        value: format!("{} elements", item.len()),
                        is_sequence: false,
                        items: 0,
                    });
                    walk(item, depth + 2, prefix, expanded, out);
                    prefix.pop();
                }
            }
        }
        prefix.pop();
    }
}

/// A dcmdump-like text dump (`dicura show --format text`).
pub fn dump(elements: &[Element]) -> String {
    let mut s = String::new();
    for l in lines(elements, &|_| true) {
        let indent = "  ".repeat(l.depth);
        match &l.vr {
            None => s.push_str(&format!("{indent}{} ({})\n", l.name, l.value)),
            Some(vr) => {
                let len = match l.length {
                    Some(u32::MAX) => "u/l".to_string(),
                    Some(n) => n.to_string(),
                    None => String::new(),
                };
                let value = if l.is_sequence {
                    l.value.clone()
                } else if l.value.is_empty() {
                    "(no value)".into()
                } else {
                    format!("[{}]", l.value)
                };
                s.push_str(&format!(
                    "{indent}{} {vr} {value}  # {len}, {} {}\n",
                    tag_string(l.tag),
                    l.vm,
                    l.name
                ));
            }
        }
    }
    s
}

/// Every element of a stored (compact JSON) header as `path → value text`, sequences
/// flattened as `GGGG,EEEE[i].GGGG,EEEE`. For comparing files and finding varying tags.
pub fn flatten_compact(json: &str) -> Vec<(String, u32, String)> {
    let mut out = Vec::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(json) {
        flatten_obj(&map, "", &mut out);
    }
    out
}

fn flatten_obj(
    map: &serde_json::Map<String, serde_json::Value>,
    prefix: &str,
    out: &mut Vec<(String, u32, String)>,
) {
    for (key, v) in map {
        let Ok(tag) = u32::from_str_radix(key, 16) else {
            continue;
        };
        let path = format!("{prefix}{:04X},{:04X}", tag >> 16, tag & 0xFFFF);
        let Some(arr) = v.as_array() else { continue };
        let vr = arr.first().and_then(|x| x.as_str()).unwrap_or("");
        if vr == "SQ" {
            out.push((
                path.clone(),
                tag,
                format!("<{} items>", arr.len().saturating_sub(1)),
            ));
            for (i, item) in arr.iter().skip(1).enumerate() {
                if let Some(obj) = item.as_object() {
                    flatten_obj(obj, &format!("{path}[{i}]."), out);
                }
            }
        } else {
            let vals: Vec<String> = arr
                .iter()
                .skip(1)
                .map(|x| match x {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            out.push((path, tag, vals.join("\\")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::dicom::Vr;

    fn el(tag: u32, vr: &[u8; 2], value: Value) -> Element {
        Element {
            tag,
            vr: Vr(*vr),
            length: 4,
            offset: 0,
            value,
        }
    }

    #[test]
    fn private_elements_are_named_by_creator_and_sequences_nest() {
        let list = vec![
            el(0x0008_0060, b"CS", Value::Text("CT".into())),
            el(0x0029_0010, b"LO", Value::Text("ACME 1.0".into())),
            el(0x0029_1001, b"LO", Value::Text("x".into())),
            el(
                0x0008_1140,
                b"SQ",
                Value::Items(vec![vec![el(
                    0x0008_1150,
                    b"UI",
                    Value::Text("1.2".into()),
                )]]),
            ),
        ];
        let collapsed = lines(&list, &|_| false);
        assert_eq!(collapsed.len(), 4);
        assert_eq!(collapsed[2].name, "[ACME 1.0] private");
        assert_eq!(collapsed[3].value, "<1 item>");
        let open = lines(&list, &|_| true);
        assert_eq!(open.len(), 6);
        assert_eq!(open[4].name, "Item 1");
        assert_eq!(open[5].name, "ReferencedSOPClassUID");
        assert_eq!(open[5].path, vec![3, 0, 0]);
        let text = dump(&list);
        assert!(text.contains("(0008,0060) CS [CT]"));
        let flat = flatten_compact(
            r#"{"00080060":["CS","CT"],"00081140":["SQ",{"00081150":["UI","1.2"]}]}"#,
        );
        assert!(flat.contains(&("0008,1140[0].0008,1150".into(), 0x0008_1150, "1.2".into())));
    }
}
