//! `edgeproof run -c FILE`: the daemon. Runs until SIGTERM or SIGINT, then stops in the
//! order that loses nothing (see `edgeproof::agent`), within [`STOP_BOUND`]. SIGHUP reloads
//! the device map (see `edgeproof::agent::RunningAgent::reload`). Under systemd it reports
//! readiness, reloads and stops, and pings the watchdog while the pipeline moves (see
//! `edgeproof::service`).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use edgeproof::agent::{self, AgentOptions, RunningAgent, DEVICE_STOP_BOUND};
use edgeproof::config::{self, ConfigError};
use edgeproof::service::{Allowances, Supervisor};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};

/// The longest a clean stop may take: device tasks finish their cycle (5 s), in-flight
/// PUBACKs are awaited (the shutdown grace, 5 s), the journal commits and closes (10 s more).
/// Past it the process exits anyway with code 2: everything committed is in the journal
/// (SQLite WAL, synchronous=FULL) and unacknowledged entries go out at the next start. The
/// systemd unit's `TimeoutStopSec=` is longer, so systemd never has to SIGKILL a clean stop.
pub const STOP_BOUND: Duration = Duration::from_secs(20);

/// Runs the agent until a signal.
pub async fn run(file: &Path) -> ExitCode {
    // SIGHUP's default action ends the process: take it over before anything else.
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!("cannot listen for SIGHUP ({e}); reload needs a restart");
            None
        }
    };
    let mut signals = edgeproof::service::ShutdownSignals::install();
    let mut supervisor = Supervisor::from_env();
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
    for exposed in config::secret_files::exposed_secret_files(&cfg) {
        warn!(file = %exposed.path.display(), "secret file readable by other users: {exposed}");
    }
    if let Some(warning) = cfg.mqtt.as_ref().and_then(|m| m.plain_text_warning()) {
        warn!("{warning}");
    }
    let options = AgentOptions::default();
    debug_assert!(DEVICE_STOP_BOUND + options.shutdown_grace < STOP_BOUND);
    let mut running = match agent::start(&cfg, options).await {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start: {e}");
            return ExitCode::from(super::EXIT_CANNOT_RUN);
        }
    };
    drop(cfg);
    agent::release_freed_memory();
    supervisor.ready(&status(&running), running.probe(), Allowances::for_config(running.config()));

    let signal = loop {
        tokio::select! {
            s = signals.recv() => break s,
            hup = recv(&mut hangup) => {
                if hup.is_none() {
                    hangup = None;
                    continue;
                }
                info!(signal = "SIGHUP", "reloading {}", file.display());
                supervisor.reloading();
                // Refused reloads have logged every problem; the old config runs on.
                let _ = running.reload(file).await;
                supervisor.reloaded(&status(&running), Allowances::for_config(running.config()));
            }
        }
    };
    info!(signal, "shutting down");
    supervisor.stopping();
    let code = match tokio::time::timeout(STOP_BOUND, running.stop_because(signal)).await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            error!("unclean stop: {e}");
            ExitCode::from(super::EXIT_CANNOT_RUN)
        }
        Err(_) => {
            error!(
                bound = ?STOP_BOUND,
                "stop did not finish within {STOP_BOUND:?}; exiting anyway: everything committed \
                 stays in the journal and unacknowledged entries are published at the next start"
            );
            // Not a return: dropping the runtime would wait for whatever blocking task (a
            // journal commit, a thread join) wedged the stop. SQLite recovers the file at the
            // next start like after a power cut.
            std::process::exit(i32::from(super::EXIT_CANNOT_RUN));
        }
    };
    supervisor.close().await;
    code
}

/// The next SIGHUP, or never when SIGHUP could not be taken over.
async fn recv(hangup: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match hangup {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// The one-line status systemd shows (`systemctl status edgeproof`).
fn status(running: &RunningAgent) -> String {
    let cfg = running.config();
    let broker = cfg
        .mqtt
        .as_ref()
        .map_or_else(|| "no broker".to_string(), |m| format!("broker {}:{}", m.host, m.port));
    format!(
        "polling {} device(s); journal {}; {broker}",
        cfg.devices.len(),
        running.journal_path.display()
    )
}
