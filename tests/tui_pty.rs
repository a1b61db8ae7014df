//! End to end: the real binary in a pseudo-terminal, driven by keys, its screen read back
//! through a VT100 emulator (the `vt100` crate). Checks navigation, sequence expansion,
//! filtering, compare, quitting, and that the terminal is restored on quit and on SIGTERM
//! and SIGHUP.

use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Term {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
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
        let writer = pty.master.take_writer().expect("pty writer");
        let parser = Arc::new(Mutex::new(vt100::Parser::new(30, 110, 0)));
        let p = parser.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
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
            write!(self.writer, "{c}").expect("write key");
            self.writer.flush().expect("flush");
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
    t.wait("the overview", |s| {
        s.contains("Overview") && s.contains("35 files")
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
