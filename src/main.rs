fn main() {
    std::process::exit(dicura::cli::main());
}
