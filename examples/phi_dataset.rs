//! Writes the synthetic dataset full of planted PHI used by the de-identification tests and
//! the comparison in docs/deid.md: `cargo run --example phi_dataset -- OUT [PATIENTS] [SLICES]`.
//! Prints the planted identifiers and UIDs as JSON (for `tests/oracles/deid_check.py`).

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1) else {
        eprintln!("usage: phi_dataset OUT [PATIENTS] [SLICES]");
        std::process::exit(2);
    };
    let patients = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(2);
    let slices = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(4);
    match dicura::synth::write_phi_dataset(std::path::Path::new(out), patients, slices) {
        Ok(p) => println!(
            "{}",
            serde_json::json!({"strings": p.strings, "uids": p.uids})
        ),
        Err(e) => {
            eprintln!("phi_dataset: {e}");
            std::process::exit(2);
        }
    }
}
