//! Times the pieces of applying a filter on a catalogue (a profiling aid).
use dicura::catalogue::Catalogue;
use dicura::filter::Filter;
use std::time::Instant;
fn main() {
    let db = std::env::args().nth(1).expect("catalogue path");
    let text = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "modality:MR".into());
    let cat = Catalogue::open_read_only(std::path::Path::new(&db)).expect("open");
    for _ in 0..3 {
        let f = Filter::parse(&text).expect("filter");
        let t = Instant::now();
        let scope = cat.scope(&f).expect("scope");
        let t1 = t.elapsed();
        let totals = cat.group_totals(&scope).expect("totals");
        let t2 = t.elapsed();
        let (n, rows) = cat.patients_page(&scope, 0, 0).expect("page");
        let t3 = t.elapsed();
        println!(
            "scope {t1:?} totals {:?} {totals:?} page {:?} ({n}, {} rows)",
            t2 - t1,
            t3 - t2,
            rows.len()
        );
    }
}
