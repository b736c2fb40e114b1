//! The reviewer's commands moved to their own binary, `edgeproof-review`, so that the gateway
//! carries no PostgreSQL client, witness server or HTML reports. Scripts written for
//! `edgeproof witness|collect|report|fleet …` keep working: those words are handed to the
//! `edgeproof-review` found next to this binary (or on `PATH`) with the same arguments.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use super::EXIT_CANNOT_RUN;

/// The subcommands that live in `edgeproof-review`.
const REVIEW_COMMANDS: [&str; 4] = ["witness", "collect", "report", "fleet"];

/// If the first argument is a reviewer's command, runs `edgeproof-review` in this process's
/// place and returns only if that failed.
pub fn forward() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    let first = args.next()?;
    if !REVIEW_COMMANDS.iter().any(|c| first == *c) {
        return None;
    }
    let program = sibling().unwrap_or_else(|| PathBuf::from("edgeproof-review"));
    let err = Command::new(&program).arg(&first).args(args).exec();
    eprintln!(
        "error: `{}` is a reviewer's command, run by edgeproof-review, which could not be \
         started ({}: {err}); install the edgeproof-review package or put it on PATH",
        first.to_string_lossy(),
        program.display()
    );
    Some(ExitCode::from(EXIT_CANNOT_RUN))
}

/// `edgeproof-review` in the directory of this executable, when it is there.
fn sibling() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let candidate = exe.parent()?.join("edgeproof-review");
    candidate.is_file().then_some(candidate)
}
