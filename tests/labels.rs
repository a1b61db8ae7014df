//! Labelling (issue 7), through the library and the real binary: scheme validation, the
//! labelling session (undo/redo, next unlabelled, progress), filter terms, agreement,
//! all-or-nothing import, export round trips, and two OS processes labelling at once.

mod common;

use common::*;
use dicura::catalogue::labels::{ItemRef, LabelState, LabelledBy};
use dicura::catalogue::Catalogue;
use dicura::filter::Filter;
use dicura::labels::{Level, Scheme, Session};
use dicura::synth::{self, SynthSpec};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const SCHEME: &str = r#"
[[set]]
name = "quality"
level = "series"
description = "Overall quality"

[[set.category]]
name = "good"
key = "1"

[[set.category]]
name = "poor"
key = "2"

[[set]]
name = "finding"
level = "instance"
choice = "multi"

[[set.category]]
name = "nodule"
key = "a"

[[set.category]]
name = "effusion"
key = "b"

[[set]]
name = "volq"
level = "volume"

[[set.category]]
name = "ok"
key = "o"

[[set.category]]
name = "bad"
key = "B"
"#;

const SPEC: SynthSpec = SynthSpec {
    patients: 2,
    studies_per_patient: 1,
    series_per_study: 2,
    instances_per_series: 3,
    rows: 16,
    columns: 16,
    nifti_volumes: 2,
    seed: 11,
};

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    db: PathBuf,
}

fn s(p: &Path) -> String {
    p.to_str().expect("UTF-8 test paths").to_string()
}

/// A scanned synthetic dataset with the scheme loaded.
fn fixture(spec: &SynthSpec) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    synth::generate(&root, spec).unwrap();
    let root = root.canonicalize().unwrap();
    let db = tmp.path().join("cat.sqlite");
    scan_json(&root, &db, &[]);
    let scheme = tmp.path().join("labels.toml");
    std::fs::write(&scheme, SCHEME).unwrap();
    let out = run(&["labels", "--db", &s(&db), "load", &s(&scheme)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Fixture {
        _tmp: tmp,
        root,
        db,
    }
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "dicura {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn all(cat: &Catalogue, level: Level, filter: &str) -> Vec<String> {
    let scope = cat.scope(&Filter::parse(filter).unwrap()).unwrap();
    cat.label_items(level, &scope, None, 100_000)
        .unwrap()
        .into_iter()
        .map(|i| i.item.key)
        .collect()
}

#[test]
fn scheme_errors_are_reported_with_lines_and_nothing_is_stored() {
    let f = fixture(&SPEC);
    let bad = f.root.parent().unwrap().join("bad.toml");
    std::fs::write(
        &bad,
        "[[set]]\nname = \"a\"\nlevel = \"series\"\n[[set.category]]\nname = \"x\"\nkey = \"j\"\n\
         [[set.category]]\nname = \"y\"\nkey = \"1\"\n[[set]]\nname = \"b\"\nlevel = \"study\"\n\
         [[set.category]]\nname = \"z\"\nkey = \"1\"\n",
    )
    .unwrap();
    let out = run(&["labels", "--db", &s(&f.db), "load", &s(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 6: set \"a\", category \"x\": hotkey \"j\" is reserved"),
        "{err}"
    );
    assert!(
        err.contains("line 15: set \"b\", category \"z\": hotkey \"1\" is already used by set \"a\", category \"y\""),
        "{err}"
    );
    // The stored scheme is still the good one.
    let printed = ok(&["labels", "--db", &s(&f.db), "scheme"]);
    assert_eq!(
        Scheme::from_toml(&printed).unwrap(),
        Scheme::from_toml(SCHEME).unwrap()
    );
}

#[test]
fn session_assign_undo_redo_next_unlabelled_and_progress() {
    let f = fixture(&SPEC);
    let cat = Catalogue::open(&f.db).unwrap();
    let scheme = cat.label_scheme().unwrap().unwrap();
    let scope = cat.scope(&Filter::default()).unwrap();
    let items = cat
        .label_items(Level::Instance, &scope, None, 1000)
        .unwrap();
    assert_eq!(items.len(), SPEC.total_dicom());
    let keys: Vec<&str> = items.iter().map(|i| i.item.key.as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "key (path) order");

    let mut alice = Session::new("alice");
    let by = LabelledBy::Annotator("alice");
    let first = cat
        .next_unlabelled("finding", Level::Instance, &scope, None, by)
        .unwrap()
        .unwrap();
    assert_eq!(first.item, items[0].item);
    // Label the first two, then the next unlabelled after the first is the third.
    alice
        .assign(&cat, &scheme, "finding", &items[0].item, "nodule")
        .unwrap();
    alice
        .assign(&cat, &scheme, "finding", &items[1].item, "effusion")
        .unwrap();
    let next = cat
        .next_unlabelled(
            "finding",
            Level::Instance,
            &scope,
            Some(&items[0].item.key),
            by,
        )
        .unwrap()
        .unwrap();
    assert_eq!(next.item, items[2].item);
    // Bob has labelled nothing: for him the first item is still next.
    let next_bob = cat
        .next_unlabelled(
            "finding",
            Level::Instance,
            &scope,
            None,
            LabelledBy::Annotator("bob"),
        )
        .unwrap()
        .unwrap();
    assert_eq!(next_bob.item, items[0].item);
    let p = cat
        .label_progress("finding", Level::Instance, &scope, by)
        .unwrap();
    assert_eq!((p.labelled, p.total), (2, SPEC.total_dicom()));
    // The same through the filtered path (a filter every DICOM file matches).
    let all_dicom = cat.scope(&Filter::parse("kind:dicom").unwrap()).unwrap();
    let p2 = cat
        .label_progress("finding", Level::Instance, &all_dicom, by)
        .unwrap();
    assert_eq!(p2, p);
    let p3 = cat
        .label_progress(
            "finding",
            Level::Instance,
            &all_dicom,
            LabelledBy::Annotator("bob"),
        )
        .unwrap();
    assert_eq!((p3.labelled, p3.total), (0, SPEC.total_dicom()));
    // Multi-choice: a second category toggles on, in scheme order; again toggles off.
    alice
        .assign(&cat, &scheme, "finding", &items[1].item, "nodule")
        .unwrap();
    let st = cat
        .label_state("finding", &items[1].item, "alice", false)
        .unwrap();
    assert_eq!(st.category.as_deref(), Some("nodule;effusion"));
    alice
        .toggle_uncertain(&cat, &scheme, "finding", &items[1].item)
        .unwrap();
    alice
        .set_note(&cat, &scheme, "finding", &items[1].item, Some("check apex"))
        .unwrap();
    let st = cat
        .label_state("finding", &items[1].item, "alice", false)
        .unwrap();
    assert_eq!(
        st,
        LabelState {
            category: Some("nodule;effusion".into()),
            uncertain: true,
            note: Some("check apex".into())
        }
    );
    // Undo three times: back to "effusion" only; redo once: nodule again.
    for _ in 0..3 {
        alice.undo(&cat).unwrap().unwrap();
    }
    let st = cat
        .label_state("finding", &items[1].item, "alice", false)
        .unwrap();
    assert_eq!(
        st,
        LabelState {
            category: Some("effusion".into()),
            ..Default::default()
        }
    );
    alice.redo(&cat).unwrap().unwrap();
    let st = cat
        .label_state("finding", &items[1].item, "alice", false)
        .unwrap();
    assert_eq!(st.category.as_deref(), Some("nodule;effusion"));
    // A new action clears the redo stack.
    alice
        .clear(&cat, &scheme, "finding", &items[0].item)
        .unwrap();
    assert!(!alice.can_redo());
    assert!(cat
        .label_state("finding", &items[0].item, "alice", false)
        .unwrap()
        .is_empty());
    // Undo refuses to overwrite a change made meanwhile by another process.
    let other = Catalogue::open(&f.db).unwrap();
    let mut alice2 = Session::new("alice");
    alice2
        .assign(&other, &scheme, "finding", &items[0].item, "effusion")
        .unwrap();
    let e = alice.undo(&cat).unwrap_err().to_string();
    assert!(e.contains("changed meanwhile"), "{e}");
    assert!(alice.can_undo(), "the refused undo stays on the stack");
    // Level mismatch and unknown categories are refused.
    assert!(alice
        .assign(&cat, &scheme, "quality", &items[0].item, "good")
        .is_err());
    assert!(alice
        .assign(&cat, &scheme, "finding", &items[0].item, "good")
        .is_err());
    // History: every change, including undo/redo, in order.
    let h = cat
        .label_history(std::slice::from_ref(&items[1].item))
        .unwrap();
    let actions: Vec<&str> = h.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "assign",
            "assign",
            "uncertain",
            "note",
            "undo",
            "undo",
            "undo",
            "redo"
        ]
    );
    assert!(alice.rate_per_minute(dicura::catalogue::now()).unwrap() > 0.0);
    // Paging: after/before keys.
    let page2 = cat
        .label_items(Level::Instance, &scope, Some(&items[4].item.key), 3)
        .unwrap();
    assert_eq!(
        page2.iter().map(|i| &i.item).collect::<Vec<_>>(),
        items[5..8].iter().map(|i| &i.item).collect::<Vec<_>>()
    );
    let back = cat
        .label_items_before(Level::Instance, &scope, &items[4].item.key, 2)
        .unwrap();
    assert_eq!(
        back.iter().map(|i| &i.item).collect::<Vec<_>>(),
        items[2..4].iter().map(|i| &i.item).collect::<Vec<_>>()
    );
    // A series-level filter gives the same files as the browser's scope.
    for filter in [
        "modality:CT",
        "modality:MR",
        "-modality:CT",
        "kind:dicom modality:MR",
    ] {
        let sc = cat.scope(&Filter::parse(filter).unwrap()).unwrap();
        let mut ids: Vec<i64> = cat
            .label_items(Level::Instance, &sc, None, 1000)
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect();
        // scope_files also lists the volumes that match (a negated DICOM term matches them).
        let vols: Vec<i64> = cat
            .label_items(Level::Volume, &sc, None, 1000)
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect();
        let mut expected: Vec<i64> = cat
            .scope_files(&sc)
            .unwrap()
            .into_iter()
            .filter(|i| !vols.contains(i))
            .collect();
        ids.sort();
        expected.sort();
        assert!(!ids.is_empty(), "{filter}");
        assert_eq!(ids, expected, "{filter}");
    }
    // Other levels list their items.
    assert_eq!(
        cat.label_items(Level::Series, &scope, None, 100)
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        cat.label_items(Level::Study, &scope, None, 100)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        cat.label_items(Level::Patient, &scope, None, 100)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        cat.label_items(Level::Volume, &scope, None, 100)
            .unwrap()
            .len(),
        SPEC.nifti_volumes
    );
}

#[test]
fn filter_terms_select_the_right_files() {
    let f = fixture(&SPEC);
    let db = s(&f.db);
    let cat = Catalogue::open_read_only(&f.db).unwrap();
    let series = all(&cat, Level::Series, "");
    let files = all(&cat, Level::Instance, "");
    assert_eq!(series.len(), 4);
    let files_of = |uid: &str| -> BTreeSet<String> {
        cat.item_files(&ItemRef {
            level: Level::Series,
            key: uid.to_string(),
        })
        .unwrap()
        .into_iter()
        .collect()
    };
    // alice: series 0 good, series 1 poor; bob: series 0 poor (a disagreement), series 2 good.
    for (who, uid, c) in [
        ("alice", &series[0], "good"),
        ("alice", &series[1], "poor"),
        ("bob", &series[0], "poor"),
        ("bob", &series[2], "good"),
    ] {
        ok(&[
            "labels",
            "--db",
            &db,
            "set",
            "--set",
            "quality",
            "--category",
            c,
            "--uid",
            uid,
            "--annotator",
            who,
        ]);
    }
    // One instance of series 3 gets a finding from carol (by path).
    let f3: Vec<String> = files_of(&series[3]).into_iter().collect();
    ok(&[
        "labels",
        "--db",
        &db,
        "set",
        "--set",
        "finding",
        "--category",
        "nodule",
        "--path",
        &f3[0],
        "--annotator",
        "carol",
    ]);

    let cat = Catalogue::open_read_only(&f.db).unwrap();
    let set = |filter: &str| -> BTreeSet<String> {
        all(&cat, Level::Instance, filter).into_iter().collect()
    };
    let union =
        |a: &[&String]| -> BTreeSet<String> { a.iter().flat_map(|u| files_of(u)).collect() };

    assert_eq!(set("label:quality=poor"), union(&[&series[0], &series[1]]));
    assert_eq!(set("label:quality=good"), union(&[&series[0], &series[2]]));
    assert_eq!(
        set("label:quality"),
        union(&[&series[0], &series[1], &series[2]])
    );
    assert_eq!(set("label:quality=none"), files_of(&series[3]));
    assert_eq!(set("annotator:alice"), union(&[&series[0], &series[1]]));
    assert_eq!(set("annotator:carol"), BTreeSet::from([f3[0].clone()]));
    assert_eq!(set("disagreement"), files_of(&series[0]));
    assert_eq!(set("label:finding=nodule"), BTreeSet::from([f3[0].clone()]));
    let mut none = files_of(&series[3]);
    none.remove(&f3[0]);
    assert_eq!(set("label:none"), none);
    let all_files: BTreeSet<String> = files.iter().cloned().collect();
    let not_poor: BTreeSet<String> = all_files
        .difference(&union(&[&series[0], &series[1]]))
        .cloned()
        .collect();
    assert_eq!(set("-label:quality=poor"), not_poor);
    assert_eq!(
        set("label:quality=poor -disagreement"),
        files_of(&series[1])
    );
    // Series-level items within a label filter, and progress within it.
    let scope = cat
        .scope(&Filter::parse("label:quality=poor").unwrap())
        .unwrap();
    let in_scope: BTreeSet<String> = cat
        .label_items(Level::Series, &scope, None, 100)
        .unwrap()
        .into_iter()
        .map(|i| i.item.key)
        .collect();
    assert_eq!(
        in_scope,
        BTreeSet::from([series[0].clone(), series[1].clone()])
    );
    let p = cat
        .label_progress(
            "quality",
            Level::Series,
            &cat.scope(&Filter::default()).unwrap(),
            LabelledBy::Anyone,
        )
        .unwrap();
    assert_eq!((p.labelled, p.total), (3, 4));
    // Volumes: a volume label shows up through the file conditions.
    let vols = all(&cat, Level::Volume, "");
    ok(&[
        "labels",
        "--db",
        &db,
        "set",
        "--set",
        "volq",
        "--category",
        "bad",
        "--path",
        &vols[0],
        "--annotator",
        "alice",
    ]);
    let cat = Catalogue::open_read_only(&f.db).unwrap();
    assert_eq!(
        all(&cat, Level::Volume, "label:volq=bad"),
        vec![vols[0].clone()]
    );
    assert_eq!(
        all(&cat, Level::Volume, "label:volq=none").len(),
        vols.len() - 1
    );
    // Adjudication lists the disagreement until a final label is set.
    let list = ok(&[
        "labels",
        "--db",
        &db,
        "disagreements",
        "--set",
        "quality",
        "--json",
    ]);
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.contains(&series[0]));
    ok(&[
        "labels",
        "--db",
        &db,
        "adjudicate",
        "--set",
        "quality",
        "--uid",
        &series[0],
        "--category",
        "poor",
        "--annotator",
        "lead",
    ]);
    let list = ok(&[
        "labels",
        "--db",
        &db,
        "disagreements",
        "--set",
        "quality",
        "--json",
    ]);
    assert_eq!(list.trim(), "");
    let hist = ok(&["labels", "--db", &db, "history", &series[0], "--json"]);
    let actions: Vec<serde_json::Value> = hist
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(actions.len(), 3);
    assert_eq!(actions[2]["action"], "adjudicate");
    assert_eq!(actions[2]["is_final"], true);
    assert_eq!(actions[2]["annotator"], "lead");
    // History by a file's path includes its series' labels.
    let hist = ok(&["labels", "--db", &db, "history", &f3[0], "--json"]);
    assert_eq!(
        hist.lines().count(),
        1,
        "series 3 has no quality label, the file one finding"
    );
}

#[test]
fn agreement_figures_in_stats() {
    let f = fixture(&SPEC);
    let db = s(&f.db);
    let cat = Catalogue::open_read_only(&f.db).unwrap();
    let series = all(&cat, Level::Series, "");
    // alice: good good poor poor; bob: good poor poor poor → 3/4 agree.
    // Matrix (alice rows): good: [1, 1], poor: [0, 2]; po = 0.75,
    // pe = 0.5*0.25 + 0.5*0.75 = 0.5 → kappa = 0.5.
    for (i, uid) in series.iter().enumerate() {
        let a = if i < 2 { "good" } else { "poor" };
        let b = if i < 1 { "good" } else { "poor" };
        ok(&[
            "labels",
            "--db",
            &db,
            "set",
            "--set",
            "quality",
            "--category",
            a,
            "--uid",
            uid,
            "--annotator",
            "alice",
        ]);
        ok(&[
            "labels",
            "--db",
            &db,
            "set",
            "--set",
            "quality",
            "--category",
            b,
            "--uid",
            uid,
            "--annotator",
            "bob",
        ]);
    }
    let out = ok(&["labels", "--db", &db, "stats", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let q = v["agreement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["set"] == "quality")
        .unwrap();
    assert_eq!(q["items_compared"], 4);
    assert!((q["percent_agreement"].as_f64().unwrap() - 0.75).abs() < 1e-12);
    assert!((q["cohen_kappa"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert_eq!(q["confusion"], serde_json::json!([[1, 1], [0, 2]]));
    let counts = v["counts"].as_array().unwrap();
    let n = |c: &str, who: &str| {
        counts
            .iter()
            .find(|x| x["category"] == c && x["annotator"] == who)
            .map(|x| x["count"].as_i64().unwrap())
    };
    assert_eq!((n("good", "alice"), n("poor", "bob")), (Some(2), Some(3)));
    let table = ok(&["labels", "--db", &db, "stats"]);
    assert!(table.contains("Cohen's kappa 0.500"), "{table}");
    // `set` keeps what it is not given.
    let set = |extra: &[&str]| {
        let mut a = vec![
            "labels",
            "--db",
            &db,
            "set",
            "--set",
            "quality",
            "--uid",
            &series[0],
            "--annotator",
            "alice",
        ];
        a.extend(extra);
        ok(&a);
        cat.label_state(
            "quality",
            &ItemRef {
                level: Level::Series,
                key: series[0].clone(),
            },
            "alice",
            false,
        )
        .unwrap()
    };
    let good = Some("good".to_string());
    assert_eq!(
        set(&["--note", "check"]),
        LabelState {
            category: good.clone(),
            uncertain: false,
            note: Some("check".into())
        }
    );
    assert_eq!(
        set(&["--uncertain"]),
        LabelState {
            category: good.clone(),
            uncertain: true,
            note: Some("check".into())
        }
    );
    assert_eq!(
        set(&["--category", "poor", "--note", ""]),
        LabelState {
            category: Some("poor".into()),
            uncertain: true,
            note: None
        }
    );
    assert_eq!(
        set(&["--uncertain", "false"]),
        LabelState {
            category: Some("poor".into()),
            uncertain: false,
            note: None
        }
    );
    assert_eq!(set(&["--clear"]), LabelState::default());
}

#[test]
fn import_with_one_bad_line_imports_nothing() {
    let f = fixture(&SPEC);
    let db = s(&f.db);
    let cat = Catalogue::open_read_only(&f.db).unwrap();
    let series = all(&cat, Level::Series, "");
    let files = all(&cat, Level::Instance, "");
    let csv = f.root.parent().unwrap().join("in.csv");
    std::fs::write(
        &csv,
        format!(
            "set,series_uid,path,category,annotator,note\n\
             quality,{},,good,alice,\"fine, really\"\n\
             finding,,{},nodule,alice,\n\
             quality,{},,excellent,alice,\n\
             quality,{},,poor,bob,\n",
            series[0], files[0], series[1], series[2]
        ),
    )
    .unwrap();
    let out = run(&["labels", "--db", &db, "import", &s(&csv)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing imported"), "{err}");
    assert!(
        err.contains("line 4, column category: set \"quality\" has no category \"excellent\""),
        "{err}"
    );
    assert_eq!(
        err.matches("line ").count(),
        1,
        "only the bad line is reported: {err}"
    );
    let c = open_db(&f.db);
    let n: i64 = c
        .query_row("SELECT count(*) FROM labels", [], |r| r.get(0))
        .unwrap();
    let h: i64 = c
        .query_row("SELECT count(*) FROM label_history", [], |r| r.get(0))
        .unwrap();
    assert_eq!((n, h), (0, 0));
    // Unknown item and bad flag are reported with their columns too.
    std::fs::write(
        &csv,
        "set,path,category,uncertain\nquality,/no/such/file.dcm,good,\nquality,,good,maybe\n",
    )
    .unwrap();
    let err = String::from_utf8_lossy(&run(&["labels", "--db", &db, "import", &s(&csv)]).stderr)
        .into_owned();
    assert!(
        err.contains("line 2, column path: /no/such/file.dcm is not a catalogued series item"),
        "{err}"
    );
    assert!(err.contains("line 3, column item: no item"), "{err}");
    // Fixed, it imports everything.
    std::fs::write(
        &csv,
        format!(
            "set,series_uid,path,category,annotator,note\n\
             quality,{},,good,alice,\"fine, really\"\n\
             finding,,{},nodule,alice,\n\
             quality,{},,poor,bob,\n",
            series[0], files[0], series[2]
        ),
    )
    .unwrap();
    ok(&["labels", "--db", &db, "import", &s(&csv)]);
    let n: i64 = c
        .query_row("SELECT count(*) FROM labels", [], |r| r.get(0))
        .unwrap();
    let note: String = c
        .query_row(
            "SELECT note FROM labels WHERE item = ?1",
            [&series[0]],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!((n, note.as_str()), (3, "fine, really"));
}

/// Exports as sorted (set, item, category, annotator, final) tuples.
fn tuples(csv: &str) -> BTreeSet<Vec<String>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let idx = [
        col("set"),
        col("item"),
        col("category"),
        col("annotator"),
        col("final"),
    ];
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            idx.iter().map(|&i| cells[i].to_string()).collect()
        })
        .collect()
}

#[test]
fn export_round_trips_csv_jsonl_and_folders() {
    let f = fixture(&SPEC);
    let db = s(&f.db);
    let cat = Catalogue::open_read_only(&f.db).unwrap();
    let series = all(&cat, Level::Series, "");
    let files = all(&cat, Level::Instance, "");
    let vols = all(&cat, Level::Volume, "");
    for (args, who) in [
        (
            vec![
                "--set",
                "quality",
                "--category",
                "good",
                "--uid",
                &series[0],
            ],
            "alice",
        ),
        (
            vec![
                "--set",
                "quality",
                "--category",
                "poor",
                "--uid",
                &series[1],
                "--uncertain",
                "--note",
                "motion; \"blur\"",
            ],
            "alice",
        ),
        (
            vec![
                "--set",
                "quality",
                "--category",
                "poor",
                "--uid",
                &series[0],
            ],
            "bob",
        ),
        (
            vec![
                "--set",
                "finding",
                "--category",
                "effusion;nodule",
                "--path",
                &files[3],
            ],
            "alice",
        ),
        (
            vec!["--set", "volq", "--category", "ok", "--path", &vols[0]],
            "alice",
        ),
    ] {
        let mut a = vec!["labels", "--db", &db, "set", "--annotator", who];
        a.extend(args);
        ok(&a);
    }
    ok(&[
        "labels",
        "--db",
        &db,
        "adjudicate",
        "--set",
        "quality",
        "--uid",
        &series[0],
        "--category",
        "good",
        "--annotator",
        "lead",
    ]);
    let csv = ok(&["labels", "--db", &db, "export", "--format", "csv"]);
    assert_eq!(csv.lines().count(), 7, "{csv}");
    assert!(csv.contains("effusion;nodule") || csv.contains("nodule;effusion"));
    let jsonl = ok(&["labels", "--db", &db, "export", "--format", "jsonl"]);
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    for k in [
        "set",
        "level",
        "item",
        "path",
        "series_uid",
        "category",
        "annotator",
        "final",
        "time",
        "uncertain",
        "note",
    ] {
        assert!(first.get(k).is_some(), "{k} missing in {first}");
    }
    let series_row = jsonl
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["level"] == "series")
        .unwrap();
    assert_eq!(series_row["series_uid"], series_row["item"]);
    assert!(series_row["path"]
        .as_str()
        .unwrap()
        .starts_with(&s(&f.root)));

    // Import each export into a fresh catalogue of the same files: the same export comes out.
    for (name, text) in [("labels.csv", &csv), ("labels.jsonl", &jsonl)] {
        let dir = tempfile::tempdir().unwrap();
        let db2 = dir.path().join("b.sqlite");
        scan_json(&f.root, &db2, &[]);
        let scheme = dir.path().join("labels.toml");
        std::fs::write(&scheme, SCHEME).unwrap();
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        ok(&[
            "labels",
            "--db",
            &s(&db2),
            "--labels",
            &s(&scheme),
            "import",
            &s(&file),
        ]);
        let again = ok(&[
            "labels",
            "--db",
            &s(&db2),
            "export",
            "--format",
            if name.ends_with("csv") {
                "csv"
            } else {
                "jsonl"
            },
        ]);
        assert_eq!(&again, text, "{name} round trip");
        // Importing again changes nothing and adds no history.
        let before: i64 = open_db(&db2)
            .query_row("SELECT count(*) FROM label_history", [], |r| r.get(0))
            .unwrap();
        let msg = ok(&["labels", "--db", &s(&db2), "import", &s(&file)]);
        assert!(msg.contains("(0 changed)"), "{msg}");
        let after: i64 = open_db(&db2)
            .query_row("SELECT count(*) FROM label_history", [], |r| r.get(0))
            .unwrap();
        assert_eq!(before, after);
    }

    // Folders: alice's labels as a class-per-folder tree of symlinks, imported back.
    let out_dir = f.root.parent().unwrap().join("folders");
    ok(&[
        "labels",
        "--db",
        &db,
        "export",
        "--format",
        "folders",
        "--annotator",
        "alice",
        "--out",
        &s(&out_dir),
    ]);
    let file_link = std::fs::read_dir(out_dir.join("volq/ok"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        std::fs::read_link(&file_link).unwrap(),
        PathBuf::from(&vols[0])
    );
    let series_dir = out_dir.join("quality/poor").join(&series[1]);
    assert_eq!(
        std::fs::read_dir(&series_dir).unwrap().count(),
        SPEC.instances_per_series
    );
    for cat_dir in ["finding/nodule", "finding/effusion"] {
        assert_eq!(
            std::fs::read_dir(out_dir.join(cat_dir)).unwrap().count(),
            1,
            "{cat_dir}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let db3 = dir.path().join("c.sqlite");
    scan_json(&f.root, &db3, &[]);
    let scheme = dir.path().join("labels.toml");
    std::fs::write(&scheme, SCHEME).unwrap();
    ok(&[
        "labels",
        "--db",
        &s(&db3),
        "--labels",
        &s(&scheme),
        "import",
        &s(&out_dir),
        "--annotator",
        "alice",
    ]);
    let back = ok(&["labels", "--db", &s(&db3), "export", "--format", "csv"]);
    // The multi-choice item is in two category folders and comes back as one label.
    let alice_only = ok(&[
        "labels",
        "--db",
        &db,
        "export",
        "--format",
        "csv",
        "--annotator",
        "alice",
    ]);
    assert_eq!(tuples(&back), tuples(&alice_only));
}

/// The child of the concurrency test: labels every instance as `$DICURA_LABEL_CHILD`, and
/// toggles a shared label many times, through the library in its own process.
#[test]
fn concurrency_child() {
    let Ok(who) = std::env::var("DICURA_LABEL_CHILD") else {
        return;
    };
    let db = PathBuf::from(std::env::var("DICURA_LABEL_DB").unwrap());
    let cat = Catalogue::open(&db).unwrap();
    let scheme = cat.label_scheme().unwrap().unwrap();
    let scope = cat.scope(&Filter::default()).unwrap();
    let mut me = Session::new(&who);
    let mut shared = Session::new("shared");
    let by = LabelledBy::Annotator(&who);
    let mut after: Option<String> = None;
    let mut n = 0;
    while let Some(item) = cat
        .next_unlabelled("finding", Level::Instance, &scope, after.as_deref(), by)
        .unwrap()
    {
        let c = if n % 2 == 0 { "nodule" } else { "effusion" };
        me.assign(&cat, &scheme, "finding", &item.item, c).unwrap();
        if n % 4 == 0 {
            shared
                .toggle_uncertain(
                    &cat,
                    &scheme,
                    "quality",
                    &ItemRef {
                        level: Level::Series,
                        key: std::env::var("DICURA_LABEL_SERIES").unwrap(),
                    },
                )
                .unwrap();
        }
        after = Some(item.item.key);
        n += 1;
    }
    println!("labelled {n}");
}

#[test]
fn two_processes_label_the_same_catalogue_concurrently() {
    let spec = SynthSpec {
        patients: 2,
        studies_per_patient: 1,
        series_per_study: 2,
        instances_per_series: 100,
        rows: 8,
        columns: 8,
        nifti_volumes: 0,
        seed: 5,
    };
    let f = fixture(&spec);
    let cat = Catalogue::open_read_only(&f.db).unwrap();
    let series = all(&cat, Level::Series, "");

    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = ["alice", "bob"]
        .iter()
        .map(|who| {
            std::process::Command::new(&exe)
                .args([
                    "concurrency_child",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("DICURA_LABEL_CHILD", who)
                .env("DICURA_LABEL_DB", &f.db)
                .env("DICURA_LABEL_SERIES", &series[0])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "child failed: {text}");
        assert!(text.contains("labelled 400"), "{text}");
        assert!(!text.contains("locked") && !text.contains("busy"), "{text}");
    }
    let c = open_db(&f.db);
    let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT count(*) FROM labels WHERE set_name = 'finding' AND annotator = 'alice'"),
        400
    );
    assert_eq!(
        count("SELECT count(*) FROM labels WHERE set_name = 'finding' AND annotator = 'bob'"),
        400
    );
    assert_eq!(
        count("SELECT count(*) FROM label_history WHERE set_name = 'finding'"),
        800
    );
    // 100 toggles from each process on one shared label: none lost, so the flag is back off
    // (its row deleted) and the history has all 200.
    assert_eq!(
        count("SELECT count(*) FROM label_history WHERE annotator = 'shared'"),
        200
    );
    assert_eq!(
        count("SELECT count(*) FROM labels WHERE annotator = 'shared'"),
        0
    );
    let alternating: i64 = count(
        "SELECT count(*) FROM (SELECT uncertain, lag(uncertain) OVER (ORDER BY id) AS prev
         FROM label_history WHERE annotator = 'shared') WHERE uncertain = prev",
    );
    assert_eq!(alternating, 0, "every toggle saw the previous one");
}
