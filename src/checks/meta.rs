//! File and meta information checks (PS3.10 §7.1): the parser's problems (truncation, missing
//! preamble or meta group, unknown or missing transfer syntax, deflate failures, trailing bytes,
//! encoding errors) become findings, and the meta group's SOP UIDs are compared with the data
//! set's.

use super::engine::FileFinding;
use crate::formats::dicom::{tags, DicomHeader};

/// The `(GGGG,EEEE)` a parser message names, if any.
fn tag_in(message: &str) -> Option<u32> {
    let start = message.find('(')?;
    let s = message.get(start + 1..start + 11)?;
    if s.as_bytes().get(4) != Some(&b',') || !s.ends_with(')') {
        return None;
    }
    let g = u32::from_str_radix(&s[0..4], 16).ok()?;
    let e = u32::from_str_radix(&s[5..9], 16).ok()?;
    Some((g << 16) | e)
}

pub fn check(h: &DicomHeader, out: &mut Vec<FileFinding>) {
    for p in &h.problems {
        let code = match p.code {
            "file.truncated" => "file.truncated",
            "file.corrupt" | "file.read_error" if h.encoding.deflated => "meta.deflate",
            "file.corrupt" => "file.corrupt",
            "file.read_error" => "file.unreadable",
            "file.no_preamble" => "file.no_preamble",
            "file.no_meta" => "file.no_meta",
            "file.trailing_bytes" => "file.trailing_bytes",
            "meta.no_transfer_syntax" => "meta.no_transfer_syntax",
            "meta.unknown_transfer_syntax" => "meta.unknown_transfer_syntax",
            "meta.transfer_syntax_mismatch" => "meta.transfer_syntax_mismatch",
            "encoding.invalid_vr" => "value.vr.invalid_encoding",
            "encoding.un_for_known_vr" => "value.un_for_known_vr",
            "encoding.stray_delimiter" => "encoding.stray_delimiter",
            "value.odd_length" => "value.odd_length",
            "value.length_vr_mismatch" => "value.length_vr_mismatch",
            _ => continue,
        };
        let mut f = FileFinding::new(code, p.message.clone());
        if let Some(t) = tag_in(&p.message) {
            f = f.at(t, None);
        }
        out.push(f);
    }
    if h.meta.is_empty() {
        return;
    }
    let pairs = [
        (
            tags::MEDIA_STORAGE_SOP_CLASS_UID,
            tags::SOP_CLASS_UID,
            "meta.sop_class_mismatch",
            "MediaStorageSOPClassUID (0002,0002) differs from SOPClassUID (0008,0016)",
        ),
        (
            tags::MEDIA_STORAGE_SOP_INSTANCE_UID,
            tags::SOP_INSTANCE_UID,
            "meta.sop_instance_mismatch",
            "MediaStorageSOPInstanceUID (0002,0003) differs from SOPInstanceUID (0008,0018)",
        ),
    ];
    for (meta_tag, ds_tag, code, message) in pairs {
        if let (Some(a), Some(b)) = (h.str(meta_tag), h.str(ds_tag)) {
            if a.trim_end_matches('\0').trim() != b.trim_end_matches('\0').trim() {
                out.push(FileFinding::new(code, message).at(ds_tag, None));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_in_messages() {
        assert_eq!(
            super::tag_in("element (0010,0010) has odd length 7"),
            Some(0x0010_0010)
        );
        assert_eq!(super::tag_in("no tag here (really)"), None);
    }
}
