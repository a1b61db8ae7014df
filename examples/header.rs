//! Prints what the bounded header reader makes of each file given (a debugging aid).
use dicura::formats::dicom::{read_header, tags, to_dicom_json, Limits};

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    for arg in std::env::args().skip(1).filter(|a| a != "--json") {
        let t = std::time::Instant::now();
        match read_header(std::path::Path::new(&arg), &Limits::default()) {
            Ok(h) => {
                println!(
                    "{arg}: ts={} {:?} elems={} sop={:?} mod={:?} rows={:?} px={:?} trunc={} problems={:?} ({:?})",
                    h.transfer_syntax,
                    h.syntax_source,
                    h.elements.len(),
                    h.str(tags::SOP_INSTANCE_UID),
                    h.str(tags::MODALITY),
                    h.int(tags::ROWS),
                    h.pixel_data,
                    h.truncated,
                    h.problems.iter().map(|p| p.code).collect::<Vec<_>>(),
                    t.elapsed()
                );
                if json {
                    println!("{}", to_dicom_json(h.all_top_level()));
                }
            }
            Err(e) => println!("{arg}: ERROR {e} ({:?})", t.elapsed()),
        }
    }
}
