//! `edgeproof run -c FILE`: the daemon. Runs until SIGTERM or SIGINT, then stops in the
//! order that loses nothing (see `edgeproof::agent`).

use std::path::Path;
use std::process::ExitCode;

use edgeproof::agent::{self, AgentOptions};
use edgeproof::config::{self, ConfigError};
use tracing::{error, info};

/// Runs the agent until a signal.
pub async fn run(file: &Path) -> ExitCode {
    let cfg = match config::load(file) {
        Ok(c) => c,
        Err(e @ ConfigError::Read { .. }) => {
            error!("{e}");
            return ExitCode::from(super::EXIT_CANNOT_RUN);
        }
        Err(e) => {
            error!("invalid config: {e}");
            return ExitCode::from(super::EXIT_NEGATIVE);
        }
    };
    let running = match agent::start(&cfg, AgentOptions::default()).await {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start: {e}");
            return ExitCode::from(super::EXIT_CANNOT_RUN);
        }
    };
    agent::release_freed_memory();
    let signal = super::shutdown_signal().await;
    info!(signal, "shutting down");
    match running.stop().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("unclean stop: {e}");
            ExitCode::from(super::EXIT_CANNOT_RUN)
        }
    }
}
