//! Labelling benchmark on a catalogue of 1,000,000 instances: the labelling keypress's
//! database part (assign the category to the current item, then find the next unlabelled item
//! after it in the filter and order), at instance and series level, with and without a filter,
//! and after a run of already labelled items; progress counts; export rate.
//!
//! `cargo bench --bench labels -- [--instances N] [--keys N]`
//!
//! The catalogue is generated once into `target/bench-data/labels-N.sqlite` exactly as
//! `benches/tui.rs` does (synthetic headers parsed by dicura's reader, written by the scanner's
//! writer, no files on disk); the labels tables are emptied at the start of each run.

use dicura::catalogue::labels::{LabelAction, LabelState, LabelWrite, LabelledBy};
use dicura::catalogue::{
    Catalogue, FileKind, FileStatus, InstanceRow, Payload, ScannedFile, Writer,
};
use dicura::filter::Filter;
use dicura::formats::dicom::{read_header_from, Limits};
use dicura::labels::{Level, Scheme, Session};
use dicura::synth::{slice_writer, Patient, Series, Study};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const STUDIES: usize = 2;
const SERIES: usize = 4;
const INSTANCES: usize = 50;

fn catalogue(instances: usize) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let db = dir.join(format!("labels-{instances}.sqlite"));
    let marker = dir.join(format!("labels-{instances}.complete"));
    if marker.exists() && db.exists() {
        return db;
    }
    for s in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{s}", db.display()));
    }
    let patients = instances.div_ceil(STUDIES * SERIES * INSTANCES);
    let t = Instant::now();
    let (tx, rx) = crossbeam_channel::bounded::<Vec<ScannedFile>>(8);
    let threads = 2;
    std::thread::scope(|s| {
        for k in 0..threads {
            let tx = tx.clone();
            s.spawn(move || {
                for p in (k..patients).step_by(threads) {
                    let pat = Patient::synthetic(7, p);
                    let mut batch = Vec::new();
                    for st in 0..STUDIES {
                        let study = Study::synthetic(7, p, st);
                        for se in 0..SERIES {
                            let series = Series::synthetic(7, p, &study, se, 8, 8, INSTANCES);
                            for i in 0..INSTANCES {
                                let bytes = slice_writer(&pat, &study, &series, i).finish();
                                let Ok(h) = read_header_from(&bytes, &Limits::default()) else {
                                    continue;
                                };
                                batch.push(ScannedFile {
                                    path: format!("/bench/PAT{p:07}/ST{st}/SE{se}/IM{i:05}.dcm"),
                                    path_raw: None,
                                    root: 0,
                                    size: bytes.len() as u64,
                                    mtime_s: 0,
                                    mtime_ns: 0,
                                    ctime_ns: 0,
                                    dev: 0,
                                    ino: 0,
                                    kind: FileKind::Dicom,
                                    status: FileStatus::Ok,
                                    error: None,
                                    ext: Some("dcm".into()),
                                    previous: None,
                                    event: None,
                                    payload: Payload::Dicom(Box::new(InstanceRow::from_header(&h))),
                                    findings: Vec::new(),
                                });
                            }
                        }
                    }
                    if tx.send(batch).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let cat = Catalogue::open(&db).expect("open the bench catalogue");
        let mut w = Writer::begin(cat, &[PathBuf::from("/bench")]).expect("writer");
        let mut n = 0;
        for batch in rx {
            n += batch.len();
            w.write_batch(&batch).expect("write");
            if n % 100_000 < batch.len() {
                eprintln!("  {n} instances ({:.0} s)", t.elapsed().as_secs_f64());
            }
        }
        w.finish("{}").expect("finish");
    });
    std::fs::write(&marker, b"").expect("marker");
    eprintln!(
        "generated {} in {:.0} s",
        db.display(),
        t.elapsed().as_secs_f64()
    );
    db
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

const SCHEME: &str = r#"
[[set]]
name = "quality"
level = "instance"
[[set.category]]
name = "good"
key = "1"
[[set.category]]
name = "poor"
key = "2"

[[set]]
name = "series_quality"
level = "series"
[[set.category]]
name = "usable"
key = "a"
[[set.category]]
name = "unusable"
key = "b"
"#;

/// One labelling keypress, as the TUI does it: assign the current item, find the next
/// unlabelled one after it. Returns the per-keypress times.
fn keypresses(
    cat: &Catalogue,
    scheme: &Scheme,
    session: &mut Session,
    set: &str,
    level: Level,
    filter: &str,
    n: usize,
) -> Vec<Duration> {
    let scope = cat
        .scope(&Filter::parse(filter).expect("filter"))
        .expect("scope");
    let by = session.annotator().to_string();
    let mut current = cat
        .next_unlabelled(set, level, &scope, None, LabelledBy::Annotator(&by))
        .expect("next")
        .expect("an unlabelled item");
    let mut times = Vec::with_capacity(n);
    for k in 0..n {
        let t = Instant::now();
        let c = if k % 3 == 0 { "poor" } else { "good" };
        let c = if level == Level::Series {
            if k % 3 == 0 {
                "unusable"
            } else {
                "usable"
            }
        } else {
            c
        };
        session
            .assign(cat, scheme, set, &current.item, c)
            .expect("assign");
        let next = cat
            .next_unlabelled(
                set,
                level,
                &scope,
                Some(&current.item.key),
                LabelledBy::Annotator(&by),
            )
            .expect("next");
        times.push(t.elapsed());
        match next {
            Some(x) => current = x,
            None => break,
        }
    }
    times
}

fn main() {
    let mut instances = 1_000_000;
    let mut keys = 2000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--instances" => {
                instances = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(instances)
            }
            "--keys" => keys = args.next().and_then(|v| v.parse().ok()).unwrap_or(keys),
            _ => {}
        }
    }
    let db = catalogue(instances);
    let cat = Catalogue::open(&db).expect("open");
    cat.query_json("SELECT 1").expect("query");
    {
        let c = rusqlite::Connection::open(&db).expect("reset");
        c.busy_timeout(Duration::from_secs(30)).expect("timeout");
        c.execute_batch("DELETE FROM labels; DELETE FROM label_history;")
            .expect("reset labels");
    }
    let scheme = Scheme::from_toml(SCHEME).expect("scheme");
    cat.label_scheme_save(&scheme, "bench")
        .expect("save scheme");
    let mut alice = Session::new("alice");
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut report = |what: &str, v: Vec<Duration>| {
        rows.push((
            format!("{what} (n = {})", v.len()),
            format!("{} | {}", ms(pct(v.clone(), 0.5)), ms(pct(v, 0.95))),
        ));
    };

    // Warm the cache the way a session does (the first screen has read the catalogue).
    keypresses(
        &cat,
        &scheme,
        &mut alice,
        "quality",
        Level::Instance,
        "",
        20,
    );
    let v = keypresses(
        &cat,
        &scheme,
        &mut alice,
        "quality",
        Level::Instance,
        "",
        keys,
    );
    report("instance level, no filter: assign + next unlabelled", v);
    let v = keypresses(
        &cat,
        &scheme,
        &mut alice,
        "quality",
        Level::Instance,
        "modality:MR",
        keys,
    );
    report("instance level, filter modality:MR", v);
    let v = keypresses(
        &cat,
        &scheme,
        &mut alice,
        "series_quality",
        Level::Series,
        "",
        keys.min(2000),
    );
    report("series level, no filter", v);

    // Bob starts at the top of what alice labelled: "next unlabelled by bob" is immediate,
    // but "next unlabelled by anyone" has to step over alice's run of labelled items.
    let scope = cat.scope(&Filter::default()).expect("scope");
    let mut over_run = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let n = cat
            .next_unlabelled("quality", Level::Instance, &scope, None, LabelledBy::Anyone)
            .expect("next");
        over_run.push(t.elapsed());
        assert!(n.is_some());
    }
    let run = alice.changes().len();
    report(
        &format!("next unlabelled by anyone after a run of ~{run} labelled items"),
        over_run,
    );

    let mut progress = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let p = cat
            .label_progress(
                "quality",
                Level::Instance,
                &scope,
                LabelledBy::Annotator("alice"),
            )
            .expect("progress");
        progress.push(t.elapsed());
        assert!(p.labelled > 0 && p.total >= instances.min(p.total));
    }
    report("progress (labelled / total), no filter", progress);
    let mut undo = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        alice.undo(&cat).expect("undo");
        undo.push(t.elapsed());
    }
    report("undo", undo);

    // Export: label 100,000 instances in bulk (one transaction), then export them.
    let items = cat
        .label_items(Level::Instance, &scope, None, 100_000)
        .expect("items");
    let states = [
        LabelState {
            category: Some("good".into()),
            ..Default::default()
        },
        LabelState {
            category: Some("poor".into()),
            ..Default::default()
        },
    ];
    let writes: Vec<LabelWrite<'_>> = items
        .iter()
        .enumerate()
        .map(|(i, it)| LabelWrite {
            set: "quality",
            item: &it.item,
            annotator: "bob",
            is_final: false,
            state: &states[i % 2],
            action: LabelAction::Import,
            session: None,
            expect: None,
            at: None,
        })
        .collect();
    let t = Instant::now();
    cat.label_write_all(&writes).expect("bulk");
    let import = t.elapsed();
    let t = Instant::now();
    let out = cat
        .label_export(Some("quality"), Some("bob"), false)
        .expect("export");
    let export = t.elapsed();
    let n = out.len();
    let t = Instant::now();
    let mut buf = Vec::new();
    for r in &out {
        use std::io::Write;
        let _ = writeln!(
            buf,
            "{},{},{},{},{}",
            r.label.set,
            r.path,
            r.sop_instance_uid.as_deref().unwrap_or(""),
            r.label.state.category.as_deref().unwrap_or(""),
            r.label.annotator
        );
    }
    let format = t.elapsed();
    let mut filters = Vec::new();
    for f in [
        "label:quality=poor",
        "annotator:alice",
        "label:none",
        "disagreement",
    ] {
        let t = Instant::now();
        let s = cat
            .scope(&Filter::parse(f).expect("filter"))
            .expect("scope");
        let first = cat
            .label_items(Level::Instance, &s, None, 200)
            .expect("page");
        filters.push((f, t.elapsed(), first.len()));
    }

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nCatalogue: {instances} instances; load average at the end: {}",
        load.trim()
    );
    println!("\n| what | median | p95 |");
    println!("|---|---:|---:|");
    for (w, t) in &rows {
        println!("| {w} | {t} |");
    }
    println!(
        "\nimport (one transaction): {n} labels in {:.2} s = {:.0} labels/s",
        import.as_secs_f64(),
        n as f64 / import.as_secs_f64()
    );
    println!(
        "export: {n} labels with paths and UIDs in {:.2} s + {:.2} s formatting = {:.0} labels/s",
        export.as_secs_f64(),
        format.as_secs_f64(),
        n as f64 / (export + format).as_secs_f64()
    );
    for (f, t, k) in filters {
        println!(
            "filter {f}: scope + first page ({k} items): {:.0} ms",
            t.as_secs_f64() * 1e3
        );
    }
}
