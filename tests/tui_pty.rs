//! End to end: the real binary in a pseudo-terminal, driven by keys, its screen read back
//! through a VT100 emulator (the `vt100` crate). Checks navigation, sequence expansion,
//! filtering, compare, quitting, and that the terminal is restored on quit and on SIGTERM
//! and SIGHUP.

use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Writer = Arc<Mutex<Box<dyn Write + Send>>>;

struct Term {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Writer,
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
}

impl Term {
    fn start(args: &[&str], config: &Path) -> Term {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: 30,
                cols: 110,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_dicura"));
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        cmd.env("XDG_CONFIG_HOME", config);
        cmd.env_remove("NO_COLOR");
        let child = pty.slave.spawn_command(cmd).expect("spawn dicura");
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().expect("pty reader");
        let writer: Writer = Arc::new(Mutex::new(pty.master.take_writer().expect("pty writer")));
        let parser = Arc::new(Mutex::new(vt100::Parser::new(30, 110, 0)));
        let p = parser.clone();
        let answer = writer.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                // Answer the queries a real terminal answers (vt100 parses but never
                // answers): device attributes (a VT220-class terminal without graphics),
                // device status and the cursor position. The console asks them at start to
                // choose how to draw pictures.
                for (q, a) in [
                    (&b"\x1b[c"[..], &b"\x1b[?62;22c"[..]),
                    (b"\x1b[5n", b"\x1b[0n"),
                    (b"\x1b[6n", b"\x1b[1;1R"),
                ] {
                    let k = buf[..n].windows(q.len()).filter(|w| *w == q).count();
                    if k > 0 {
                        if let Ok(mut w) = answer.lock() {
                            for _ in 0..k {
                                let _ = w.write_all(a);
                            }
                            let _ = w.flush();
                        }
                    }
                }
                if let Ok(mut p) = p.lock() {
                    p.process(&buf[..n]);
                }
            }
        });
        Term {
            parser,
            writer,
            child,
            _master: pty.master,
        }
    }

    fn screen(&self) -> String {
        self.parser
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }

    /// Waits until the screen satisfies `cond`, or fails with the screen.
    fn wait(&self, what: &str, cond: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if cond(&s) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    fn send(&mut self, keys: &str) {
        for c in keys.chars() {
            // One key at a time, as a person types.
            let mut w = self.writer.lock().expect("writer");
            write!(w, "{c}").expect("write key");
            w.flush().expect("flush");
            drop(w);
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn exited(&mut self) -> Option<bool> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.success());
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        None
    }

    /// The terminal left the alternate screen and shows the cursor again.
    fn restored(&self) -> bool {
        // Give the reader thread a moment to take the last bytes.
        std::thread::sleep(Duration::from_millis(200));
        self.parser
            .lock()
            .map(|p| !p.screen().alternate_screen() && !p.screen().hide_cursor())
            .unwrap_or(false)
    }
}

fn catalogue() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("catalogue.sqlite");
    let cat = dicura::catalogue::Catalogue::open(&db).unwrap();
    let opts = dicura::scan::ScanOptions {
        roots: vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")],
        jobs: 2,
        follow_links: false,
        progress: false,
        limits: Default::default(),
        counters: None,
    };
    dicura::scan::scan(cat, &opts).unwrap();
    (tmp, db)
}

#[test]
fn keys_drive_the_real_console() {
    let (tmp, db) = catalogue();
    let mut t = Term::start(&["--db", db.to_str().unwrap()], tmp.path());
    t.wait("the overview, the terminal asked", |s| {
        s.contains("Overview") && s.contains("35 files") && !s.contains("asking the terminal")
    });
    // Browser: open PAT000001 → first study → first series, select the first instance.
    t.send("2");
    t.wait("the browser", |s| s.contains("▾ DICOM"));
    t.send("jjljljlj");
    t.wait("the first instance's header", |s| {
        s.contains("IM00001.dcm") && s.contains("(0002,0000) UL")
    });
    // Into the metadata pane; find the procedure code sequence and expand it.
    t.send("\t/ProcedureCode\r");
    t.wait("the sequence", |s| s.contains("(0008,1032) SQ ▸"));
    t.send("\r");
    t.wait("the expanded item", |s| s.contains("Item 1"));
    t.send("jjjj");
    t.wait("the item's elements", |s| s.contains("CodeMeaning"));
    // Compare: mark this instance, select the next, compare.
    t.send("\tmjc");
    t.wait("the comparison", |s| {
        s.contains("Compare") && s.contains("0020,0013")
    });
    // Filter the tree by modality.
    t.send("\x1b");
    std::thread::sleep(Duration::from_millis(150));
    t.send("/modality:MR\r");
    t.wait("the filtered tree", |s| {
        s.contains("filter: modality:MR") && s.contains("2 patients")
    });
    // Help, then quit.
    t.send("?");
    t.wait("the help", |s| s.contains("Help"));
    t.send("x");
    t.send("q");
    assert_eq!(t.exited(), Some(true), "dicura did not exit cleanly on q");
    assert!(t.restored(), "terminal not restored after quit");
}

#[test]
fn terminal_is_restored_on_sigterm_and_sighup() {
    let (tmp, db) = catalogue();
    for sig in ["TERM", "HUP"] {
        let mut t = Term::start(&["--db", db.to_str().unwrap()], tmp.path());
        t.wait("the overview", |s| s.contains("Overview"));
        let pid = t.child.process_id().expect("pid");
        let ok = std::process::Command::new("kill")
            .args([format!("-{sig}"), pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        assert!(t.exited().is_some(), "dicura did not exit on SIG{sig}");
        assert!(t.restored(), "terminal not restored after SIG{sig}");
    }
}

#[test]
fn a_directory_is_scanned_in_the_background_while_browsing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dicura::synth::write_fixtures(&data).unwrap();
    let db = tmp.path().join("cat.sqlite");
    let mut t = Term::start(
        &[data.to_str().unwrap(), "--db", db.to_str().unwrap()],
        tmp.path(),
    );
    t.wait("the scan to finish", |s| {
        s.contains("scan complete: 35 files")
    });
    t.send("2");
    t.wait("the scanned patients", |s| s.contains("3 patients"));
    t.send("q");
    assert_eq!(t.exited(), Some(true));
    assert!(db.exists());
}

/// Labelling end to end: a scheme loaded with --labels, 20 items labelled with hotkeys
/// including an undo, a skip and a note, quit; then the catalogue and the CSV export.
#[test]
fn label_twenty_items_with_undo_skip_and_note() {
    let (tmp, db) = catalogue();
    let scheme = tmp.path().join("labels.toml");
    std::fs::write(
        &scheme,
        r#"
[[set]]
name = "quality"
level = "instance"
[[set.category]]
name = "good"
key = "1"
[[set.category]]
name = "poor"
key = "2"
[[set.category]]
name = "unusable"
key = "3"
"#,
    )
    .unwrap();
    let mut t = Term::start(
        &[
            "--db",
            db.to_str().unwrap(),
            "--labels",
            scheme.to_str().unwrap(),
            "--annotator",
            "tester",
        ],
        tmp.path(),
    );
    t.wait("the overview, the terminal asked", |s| {
        s.contains("Overview") && !s.contains("asking the terminal")
    });
    t.send("6");
    t.wait("the labelling screen", |s| {
        s.contains("Label quality (instance)") && s.contains("0/25 labelled")
    });
    // The help lists the scheme's categories (at its end).
    t.send("?G");
    t.wait("the scheme in the help", |s| {
        s.contains("Label scheme") && s.contains("3  unusable")
    });
    t.send("x");
    t.wait("the help closed", |s| !s.contains("Label scheme"));
    // 11 labels, undo the last, skip the item it was on, a note on the next one.
    t.send("12312312312");
    t.wait("11 labels", |s| s.contains("11/25 labelled"));
    t.send("u");
    t.wait("the undo", |s| s.contains("10/25 labelled"));
    t.send("s");
    t.send("n");
    t.wait("the note prompt", |s| s.contains("note (empty removes it)"));
    t.send("blurry edge\r");
    t.wait("the note", |s| s.contains("note: blurry edge"));
    // Ten more: 20 in all.
    t.send("1111122222");
    t.wait("20 labels", |s| s.contains("20/25 labelled"));
    t.send("q");
    t.wait("the browser again", |s| !s.contains("Label quality"));
    t.send("q");
    assert_eq!(t.exited(), Some(true), "dicura did not exit cleanly");
    assert!(t.restored(), "terminal not restored");

    let cat = dicura::catalogue::Catalogue::open(&db).unwrap();
    let (_, rows) = cat
        .query_json(
            "SELECT count(*), sum(category = 'good'), sum(category = 'poor'), \
             sum(category = 'unusable'), sum(note IS NOT NULL) FROM labels \
             WHERE annotator = 'tester' AND set_name = 'quality' AND category IS NOT NULL",
        )
        .unwrap();
    let r = &rows[0];
    assert_eq!(r[0], serde_json::json!(20), "{rows:?}");
    // 1,2,3 x3, then 1,2 (11), minus the undone 2, plus five 1s and five 2s.
    assert_eq!(
        (r[1].clone(), r[2].clone(), r[3].clone()),
        (
            serde_json::json!(9),
            serde_json::json!(8),
            serde_json::json!(3)
        )
    );
    assert_eq!(r[4], serde_json::json!(1), "one note");
    let (_, hist) = cat
        .query_json("SELECT action, count(*) FROM label_history GROUP BY action ORDER BY action")
        .unwrap();
    let h: Vec<(String, i64)> = hist
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_i64().unwrap()))
        .collect();
    assert_eq!(
        h,
        vec![
            ("assign".to_string(), 21),
            ("note".to_string(), 1),
            ("undo".to_string(), 1)
        ]
    );
    // The CSV export: a header and 20 rows, the note with its label.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dicura"))
        .args([
            "labels",
            "export",
            "--db",
            db.to_str().unwrap(),
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let csv = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 21, "{csv}");
    assert!(lines[0].starts_with("set,level,item,path"), "{csv}");
    assert_eq!(
        lines.iter().filter(|l| l.contains("blurry edge")).count(),
        1
    );
    assert!(lines[1..].iter().all(|l| l.contains(",tester,")), "{csv}");
}
