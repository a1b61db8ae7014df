//! Cross-checks the synthetic generator against independent readers, so that our own DICOM
//! parser is never the only judge of what the generator writes.
//!
//! - `dcmdump` (DCMTK) must read every valid generated DICOM file with no `W:`/`E:` line and
//!   must reject the deliberately bad ones. Without dcmdump the test is skipped with a message,
//!   unless `CI=true`, where it fails.
//! - `dciodvfy` (dicom3tools), pydicom and nibabel are used when present (optional oracles).

use std::path::{Path, PathBuf};
use std::process::Command;

use dicura::synth::{self, SynthSpec};

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn tool_present(tool: &str, probe: &[&str]) -> bool {
    Command::new(tool).args(probe).output().is_ok()
}

/// True if dcmdump is usable; false (after printing why) if the test should be skipped.
fn require_dcmdump() -> bool {
    if tool_present("dcmdump", &["--version"]) {
        return true;
    }
    assert!(
        !on_ci(),
        "dcmdump (DCMTK) is required on CI: install it with `apt-get install -y dcmtk`"
    );
    eprintln!("SKIPPED: dcmdump not found (install dcmtk); oracle checks not run");
    false
}

fn files_with_suffix(root: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Runs dcmdump over `files` in batches; returns (all exit codes zero, combined output).
fn dcmdump(files: &[PathBuf]) -> (bool, String) {
    let mut ok = true;
    let mut text = String::new();
    for chunk in files.chunks(200) {
        let out = Command::new("dcmdump")
            .args(["-M", "-ll", "warn"])
            .args(chunk)
            .output()
            .unwrap();
        ok &= out.status.success();
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        text.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    (ok, text)
}

fn problem_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("W:") || l.starts_with("E:") || l.starts_with("F:"))
        .collect()
}

/// Fixtures plus a 200-file corpus, written once per test.
fn corpus() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = dir.path().join("fixtures");
    let corpus = dir.path().join("corpus");
    let summary = synth::write_fixtures(&fixtures).unwrap();
    assert_eq!(summary.dicom_files, synth::FIXTURE_DICOM_FILES);
    let spec = SynthSpec {
        patients: 2,
        studies_per_patient: 2,
        series_per_study: 2,
        instances_per_series: 25,
        rows: 64,
        columns: 64,
        nifti_volumes: 4,
        seed: 42,
    };
    let summary = synth::generate(&corpus, &spec).unwrap();
    assert_eq!(summary.dicom_files, 200);
    (dir, fixtures, corpus)
}

fn valid_dicom(fixtures: &Path, corpus: &Path) -> Vec<PathBuf> {
    let mut files = files_with_suffix(&fixtures.join("dicom"), ".dcm");
    assert_eq!(files.len(), synth::FIXTURE_DICOM_FILES);
    files.extend(files_with_suffix(corpus, ".dcm"));
    assert_eq!(files.len(), synth::FIXTURE_DICOM_FILES + 200);
    files
}

#[test]
fn dcmdump_reads_every_generated_file_cleanly() {
    if !require_dcmdump() {
        return;
    }
    let (_dir, fixtures, corpus) = corpus();
    let files = valid_dicom(&fixtures, &corpus);
    let (ok, text) = dcmdump(&files);
    let problems = problem_lines(&text);
    assert!(
        ok && problems.is_empty(),
        "dcmdump complained: {problems:#?}"
    );
    // Spot-check that dcmdump sees what we meant to write.
    for needle in [
        "(0002,0010) UI =LittleEndianExplicit",
        "(0008,0016) UI =CTImageStorage",
        "(0008,0016) UI =MRImageStorage",
        "(0008,0005) CS [ISO_IR 100]",
        "(0008,0005) CS [ISO_IR 192]",
        "(0008,1032) SQ (Sequence with undefined length",
        "(0008,1032) SQ (Sequence with explicit length",
        "(0029,0010) LO [DICURA SYNTH]",
        "(0020,0037) DS [1\\0\\0\\0\\1\\0]",
        "(0028,1052) DS [-1024]",
        "(7fe0,0010) OW",
    ] {
        assert!(text.contains(needle), "no {needle:?} in dcmdump output");
    }
}

#[test]
fn dcmdump_rejects_the_bad_fixtures() {
    if !require_dcmdump() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    synth::write_fixtures(dir.path()).unwrap();
    for name in ["truncated.dcm", "not_dicom.dcm", "empty.dcm"] {
        let path = dir.path().join("bad").join(name);
        let (ok, text) = dcmdump(&[path]);
        assert!(
            !ok || !problem_lines(&text).is_empty(),
            "dcmdump accepted bad/{name}: {text}"
        );
    }
}

#[test]
fn dciodvfy_finds_no_iod_errors() {
    if !tool_present("dciodvfy", &["-help"]) {
        eprintln!("SKIPPED: dciodvfy (dicom3tools) not found; optional IOD check not run");
        return;
    }
    let (_dir, fixtures, corpus) = corpus();
    let files = valid_dicom(&fixtures, &corpus);
    // One file per series is enough: the other slices differ only in position and pixels.
    let firsts: Vec<_> = files
        .iter()
        .filter(|f| f.ends_with("IM00001.dcm"))
        .collect();
    assert!(firsts.len() >= synth::FIXTURE_SERIES + 8);
    for f in firsts {
        let out = Command::new("dciodvfy").arg(f).output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        let errors: Vec<_> = text.lines().filter(|l| l.contains("Error")).collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", f.display());
        // Only expected warnings: our private tags and our private coding scheme.
        let unexpected: Vec<_> = text
            .lines()
            .filter(|l| l.contains("Warning"))
            .filter(|l| !l.contains("Unrecognized tag") && !l.contains(synth::CODING_SCHEME))
            .collect();
        assert!(unexpected.is_empty(), "{}: {unexpected:#?}", f.display());
    }
}

const PY_CHECK: &str = r#"
import sys, glob, os
from collections import defaultdict
import pydicom, nibabel as nib
fixtures, corpus = sys.argv[1], sys.argv[2]
series = defaultdict(list)
sops = set()
files = sorted(glob.glob(fixtures + '/dicom/**/*.dcm', recursive=True)) + \
        sorted(glob.glob(corpus + '/**/*.dcm', recursive=True))
for f in files:
    ds = pydicom.dcmread(f)
    assert ds.file_meta.TransferSyntaxUID == '1.2.840.10008.1.2.1'
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID, f
    assert ds.SOPInstanceUID not in sops, f
    sops.add(ds.SOPInstanceUID)
    assert ds.pixel_array.shape == (ds.Rows, ds.Columns), f
    series[ds.SeriesInstanceUID].append(
        (int(ds.InstanceNumber), [float(v) for v in ds.ImagePositionPatient],
         float(ds.SliceThickness)))
for uid, inst in series.items():
    inst.sort()
    assert [i[0] for i in inst] == list(range(1, len(inst) + 1)), uid
    for a, b in zip(inst, inst[1:]):
        assert abs(b[1][2] - a[1][2] - a[2]) < 1e-6, (uid, a, b)
names = {}
for f in glob.glob(fixtures + '/dicom/**/IM00001.dcm', recursive=True):
    ds = pydicom.dcmread(f)
    names[str(ds.PatientName)] = ds.SpecificCharacterSet
assert names == {'Müller^Jürgen': 'ISO_IR 100', 'Peña^José': 'ISO_IR 192'}, names
shapes = {
    'nifti/volume.nii': ((16, 16, 8), 'int16'),
    'nifti/volume4d.nii.gz': ((16, 16, 8, 3), 'int16'),
    'analyze/brain.hdr': ((16, 16, 8), 'int16'),
}
for rel, (shape, dtype) in shapes.items():
    img = nib.load(os.path.join(fixtures, rel))
    assert img.shape == shape and str(img.get_data_dtype()) == dtype, (rel, img.shape)
    assert img.get_fdata().max() > 0, rel
for f in glob.glob(corpus + '/nifti/*') + glob.glob(corpus + '/analyze/*.hdr'):
    nib.load(f).get_fdata()
print('pydicom/nibabel: %d DICOM files, %d series OK' % (len(files), len(series)))
"#;

#[test]
fn pydicom_and_nibabel_round_trip() {
    let has_py = Command::new("python3")
        .args(["-c", "import pydicom, nibabel"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_py {
        eprintln!("SKIPPED: python3 with pydicom and nibabel not found; optional check not run");
        return;
    }
    let (_dir, fixtures, corpus) = corpus();
    let out = Command::new("python3")
        .args(["-c", PY_CHECK])
        .arg(&fixtures)
        .arg(&corpus)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{}", String::from_utf8_lossy(&out.stdout));
}
