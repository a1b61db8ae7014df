//! `dicura render` and `dicura view` as a curator types them: outputs, sizes, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn corpus() -> Option<PathBuf> {
    let base = match std::env::var_os("DICURA_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    if base.join("dicom").is_dir() {
        return Some(base);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "corpus missing but CI=true"
    );
    None
}

fn dicura(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dicura"))
        .args(args)
        .env("TERM", "dumb")
        .output()
        .unwrap()
}

fn png_size(p: &Path) -> (u32, u32, image::ColorType) {
    let img = image::open(p).unwrap();
    (img.width(), img.height(), img.color())
}

#[test]
fn render_writes_the_pane_picture() {
    let Some(c) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ct.png");
    let ct = c.join("dicom/CT_small.dcm");
    let o = dicura(&[
        "render",
        ct.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(png_size(&out), (128, 128, image::ColorType::L8));
    let line = String::from_utf8_lossy(&o.stdout);
    assert!(
        line.contains("full range") && line.contains("left R"),
        "{line}"
    );
    // --size fits, keeping the aspect; presets and manual windows are accepted.
    for extra in [
        &["--size", "64x40"][..],
        &["--preset", "bone"],
        &["--window", "-600,1500"],
        &["--auto"],
    ] {
        let mut args = vec![
            "render",
            ct.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = dicura(&args);
        assert!(
            o.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = dicura(&[
        "render",
        ct.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--size",
        "64x40",
    ]);
    assert!(o.status.success());
    assert_eq!(png_size(&out).0, 40);
    // Colour stays colour.
    let rgb = c.join("dicom/examples_rgb_color.dcm");
    let o = dicura(&[
        "render",
        rgb.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert_eq!(png_size(&out), (320, 240, image::ColorType::Rgb8));
    // A 4-D NIfTI, coronal, last time point.
    let nii = c.join("nifti/example4d.nii.gz");
    let o = dicura(&[
        "render",
        nii.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--axis",
        "coronal",
        "--time",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line = String::from_utf8_lossy(&o.stdout);
    assert!(line.contains("top S"), "{line}");
}

#[test]
fn render_errors_exit_2() {
    let Some(c) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.png");
    let o = |args: &[&str]| {
        let mut a = vec!["render"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["--out", out.to_str().unwrap()]);
        dicura(&a)
    };
    for (args, msg) in [
        (vec![c.join("dicom/rtplan.dcm")], "no pixel data"),
        (vec![c.join("dicom/MR_truncated.dcm")], "truncated"),
        (vec![c.join("dicom/test-SR.dcm")], "no pixel data"),
    ] {
        let r = o(&[args[0].to_str().unwrap()]);
        assert_eq!(r.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&r.stderr).contains(msg));
        assert!(!out.exists(), "no picture for a broken file");
    }
    let ct = c.join("dicom/CT_small.dcm");
    let ct = ct.to_str().unwrap();
    for bad in [
        &["--window", "40"][..],
        &["--preset", "kidney"],
        &["--size", "0x3"],
        &["--frame", "1"],
        &["--axis", "axial"],
    ] {
        let mut args = vec![ct];
        args.extend_from_slice(bad);
        assert_eq!(o(&args).status.code(), Some(2), "{bad:?}");
    }
}

#[test]
fn view_prints_sixel_or_nothing() {
    let Some(c) = corpus() else { return };
    let ct = c.join("dicom/CT_small.dcm");
    let o = dicura(&["view", ct.to_str().unwrap(), "--graphics", "sixel"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.starts_with(b"\x1bP"), "sixel DCS");
    assert!(o.stdout.windows(2).any(|w| w == b"\x1b\\"));
    // Half blocks: ANSI colours and U+2584.
    let o = dicura(&["view", ct.to_str().unwrap(), "--graphics", "halfblocks"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains('\u{2584}'));
    let o = dicura(&["view", ct.to_str().unwrap(), "--graphics", "none"]);
    assert!(o.status.success());
    assert!(!o.stdout.contains(&0x1b));
    let o = dicura(&[
        "view",
        c.join("dicom/rtplan.dcm").to_str().unwrap(),
        "--graphics",
        "none",
    ]);
    assert_eq!(o.status.code(), Some(2));
}
