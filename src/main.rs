//! The `edgeproof` binary: parse arguments, hand over to [`cli`], turn the outcome into an
//! exit code (0 ok, 1 negative result, 2 could not run).

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
