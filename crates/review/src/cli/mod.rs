//! Subcommands of `edgeproof-review`, one file each.

pub mod collect;
pub mod fleet;
pub mod report;
pub mod witness;

pub use edgeproof::service::ShutdownSignals;

/// Exit code for a negative result (evidence that fails verification).
pub const EXIT_NEGATIVE: u8 = 1;
/// Exit code for "could not run".
pub const EXIT_CANNOT_RUN: u8 = 2;

/// The async runtime for the servers and database clients. Two worker threads.
pub fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(i32::from(EXIT_CANNOT_RUN));
        }
    }
}
