//! Command line: clap arguments → checked configuration → headless subcommands with exit codes.

/// Entry point of the binary; returns the process exit code.
pub fn main() -> i32 {
    0
}
