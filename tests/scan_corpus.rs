//! Scanning the real corpus (`../shared/corpus`), checked against dcmdump (dcmtk) and against
//! the NIfTI/Analyze files' own bytes.

mod common;

use common::*;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// The attributes compared with dcmdump.
const TAGS: [(&str, &str); 5] = [
    ("0008,0018", "sop_instance_uid"),
    ("0020,000d", "study_uid"),
    ("0008,0060", "modality"),
    ("0028,0010", "rows"),
    ("0028,0011", "columns"),
];

/// What dcmdump reports for TAGS, or `None` when it cannot read the file.
fn dcmdump_values(path: &Path) -> Option<HashMap<String, String>> {
    let mut cmd = Command::new("dcmdump");
    // +p prefixes nested matches with their sequence path, so only top-level ones are kept.
    cmd.arg("-q").arg("+L").arg("+p");
    for (t, _) in TAGS {
        cmd.arg("+P").arg(t);
    }
    let out = cmd.arg(path).output().expect("run dcmdump");
    if !out.status.success() {
        return None;
    }
    let mut map = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "(0008,0018) UI [1.2.3]   # 6, 1 SOPInstanceUID" or "(0028,0010) US 128 ..."
        if line.as_bytes().get(11) == Some(&b'.') {
            continue;
        }
        let Some(tag) = line.get(1..10) else { continue };
        let vr = line.get(12..14).unwrap_or("");
        let rest = line.get(15..).unwrap_or("");
        let value = rest.split(" #").next().unwrap_or("").trim();
        let value = if vr == "UN" {
            // Hex bytes "31\2e\39": decode them to compare with our dictionary-VR decoding.
            let bytes: Vec<u8> = value
                .split('\\')
                .filter_map(|h| u8::from_str_radix(h, 16).ok())
                .collect();
            String::from_utf8_lossy(&bytes)
                .trim_end_matches(['\0', ' '])
                .to_string()
        } else if value.starts_with('[') {
            value
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string()
        } else if value.starts_with('(') {
            String::new() // "(no value available)"
        } else {
            value.to_string()
        };
        map.entry(tag.to_ascii_lowercase()).or_insert(value);
    }
    Some(map)
}

#[test]
fn every_corpus_dicom_file_is_catalogued_like_dcmdump_reads_it() {
    let Some(corpus) = corpus() else { return };
    if !have_tool("dcmdump") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("cat.sqlite");
    let summary = scan_json(&corpus, &db, &[]);
    assert_eq!(summary["dicom"].as_u64(), Some(78), "{summary}");
    let conn = open_db(&db);

    let mut files: Vec<_> = std::fs::read_dir(corpus.join("dicom"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    files.sort();
    // shared/README.md says 79 files: 78 DICOM files plus SOURCES.txt.
    assert_eq!(files.len(), 78);

    let mut compared = 0;
    let mut unreadable_by_dcmdump = Vec::new();
    for path in &files {
        let abs = std::fs::canonicalize(path).unwrap();
        let (kind, status, error): (String, String, Option<String>) = conn
            .query_row(
                "SELECT kind, status, error FROM files WHERE path = ?1",
                [abs.to_str().unwrap()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap_or_else(|e| panic!("{} not catalogued: {e}", path.display()));
        assert_eq!(kind, "dicom", "{}", path.display());
        let Some(oracle) = dcmdump_values(path) else {
            // dcmdump cannot read it: we must have it either parsed or with a reason.
            assert!(
                status == "ok" || error.is_some(),
                "{} has status {status} and no reason",
                path.display()
            );
            unreadable_by_dcmdump.push(path.file_name().unwrap().to_string_lossy().to_string());
            continue;
        };
        // dcmdump reads it: so must we, with the same values.
        let row: Option<HashMap<&str, Option<String>>> = conn
            .query_row(
                "SELECT i.sop_instance_uid, i.study_uid, s.modality, i.rows, i.columns
                 FROM instances i JOIN files f ON f.id = i.file_id
                 JOIN series s ON s.id = i.series_ref WHERE f.path = ?1",
                [abs.to_str().unwrap()],
                |r| {
                    let mut m = HashMap::new();
                    for (i, (_, col)) in TAGS.iter().enumerate() {
                        let v: Option<rusqlite::types::Value> = r.get(i)?;
                        let s = match v {
                            Some(rusqlite::types::Value::Text(t)) => Some(t),
                            Some(rusqlite::types::Value::Integer(n)) => Some(n.to_string()),
                            _ => None,
                        };
                        m.insert(*col, s);
                    }
                    Ok(m)
                },
            )
            .ok();
        let row = row.unwrap_or_else(|| {
            panic!(
                "{}: dcmdump reads it but it has no instance row",
                path.display()
            )
        });
        for (tag, col) in TAGS {
            let ours = row[col].clone().unwrap_or_default();
            let theirs = oracle.get(tag).cloned().unwrap_or_default();
            assert_eq!(
                ours,
                theirs,
                "{}: {col} ({tag}) differs from dcmdump",
                path.display()
            );
        }
        compared += 1;
    }
    // The corpus's broken files that dcmdump rejects (it reads the rest).
    unreadable_by_dcmdump.sort();
    assert_eq!(
        unreadable_by_dcmdump,
        [
            "MR_truncated.dcm",
            "SC_rgb_jpeg.dcm",
            "no_meta.dcm",
            "rtplan_truncated.dcm"
        ],
        "files dcmdump cannot read"
    );
    assert_eq!(compared, 74);
}

/// Decodes the NIfTI-1/2 or Analyze header fields the test checks, straight from bytes.
fn raw_dims(bytes: &[u8]) -> (Vec<i64>, i64) {
    let le348 = i32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let be348 = i32::from_be_bytes(bytes[0..4].try_into().unwrap());
    let (nifti2, le) = match (le348, be348) {
        (348, _) => (false, true),
        (_, 348) => (false, false),
        (540, _) => (true, true),
        (_, 540) => (true, false),
        _ => panic!("not a volume header"),
    };
    let i16_at = |o: usize| {
        let b: [u8; 2] = bytes[o..o + 2].try_into().unwrap();
        (if le {
            i16::from_le_bytes(b)
        } else {
            i16::from_be_bytes(b)
        }) as i64
    };
    let i64_at = |o: usize| {
        let b: [u8; 8] = bytes[o..o + 8].try_into().unwrap();
        if le {
            i64::from_le_bytes(b)
        } else {
            i64::from_be_bytes(b)
        }
    };
    if nifti2 {
        let n = i64_at(16) as usize;
        ((1..=n).map(|i| i64_at(16 + 8 * i)).collect(), i16_at(12))
    } else {
        let n = i16_at(40) as usize;
        ((1..=n).map(|i| i16_at(40 + 2 * i)).collect(), i16_at(70))
    }
}

#[test]
fn every_corpus_volume_header_matches_its_bytes() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("cat.sqlite");
    scan_json(&corpus.join("nifti"), &db, &[]);
    let conn = open_db(&db);
    let mut seen = 0;
    for e in std::fs::read_dir(corpus.join("nifti")).unwrap() {
        let path = e.unwrap().path();
        let raw = std::fs::read(&path).unwrap();
        let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
            use std::io::Read;
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&raw[..])
                .take(4096)
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            raw
        };
        let (dims, datatype) = raw_dims(&bytes);
        let abs = std::fs::canonicalize(&path).unwrap();
        let (db_dims, db_type, present): (String, i64, bool) = conn
            .query_row(
                "SELECT v.dims, v.datatype, v.data_present FROM volumes v JOIN files f ON f.id = v.file_id
                 WHERE f.path = ?1",
                [abs.to_str().unwrap()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap_or_else(|e| panic!("{}: no volume row: {e}", path.display()));
        let db_dims: Vec<i64> = serde_json::from_str(&db_dims).unwrap();
        assert_eq!(db_dims, dims, "{}", path.display());
        assert_eq!(db_type, datatype, "{}", path.display());
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        // The three .hdr files have no .img partner: recorded, not an error.
        assert_eq!(present, !name.ends_with(".hdr"), "{name}");
        seen += 1;
    }
    assert_eq!(seen, 9);
    let missing: i64 = conn
        .query_row(
            "SELECT count(*) FROM files WHERE error LIKE 'voxel file % is missing'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(missing, 3);
}

#[test]
fn catalogue_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("sub/dir/cat.sqlite");
    scan_json(&corpus.join("nifti"), &db, &[]);
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", db.display());
        if let Ok(m) = std::fs::metadata(&p) {
            assert_eq!(m.permissions().mode() & 0o777, 0o600, "{p}");
        } else {
            assert!(!suffix.is_empty(), "{p} missing");
        }
    }
    let dir = std::fs::metadata(db.parent().unwrap()).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o700);
}

#[test]
fn every_header_element_is_queryable() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("cat.sqlite");
    scan_json(&corpus.join("dicom"), &db, &[]);
    let conn = open_db(&db);
    // Manufacturer = X, straight from the JSON model of every header.
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM headers WHERE elements ->> '$.\"00080070\"[1]' = 'GE MEDICAL SYSTEMS'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let expected = std::fs::read_dir(corpus.join("dicom"))
        .unwrap()
        .filter(|e| {
            let p = e.as_ref().unwrap().path();
            p.extension().is_some_and(|x| x == "dcm") && {
                let out = Command::new("dcmdump")
                    .args(["-q", "+P", "0008,0070"])
                    .arg(&p)
                    .output();
                out.map(|o| String::from_utf8_lossy(&o.stdout).contains("[GE MEDICAL SYSTEMS]"))
                    .unwrap_or(false)
            }
        })
        .count() as i64;
    if have_tool("dcmdump") {
        assert_eq!(n, expected);
    }
    assert!(n > 0);
    // Files carrying private group 0029 ... and nested elements inside sequences.
    let private: i64 = conn
        .query_row(
            "SELECT count(*) FROM headers WHERE groups LIKE '% 0029 %'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(private > 0);
    let nested: i64 = conn
        .query_row(
            "SELECT count(*) FROM headers, json_tree(headers.elements) t WHERE t.key = '00081150'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        nested > 0,
        "ReferencedSOPClassUID inside sequences is queryable"
    );
}
