//! [`Supervisor`]: what `edgeproof run` tells the service manager that started it, at each
//! step of its life. Without `$NOTIFY_SOCKET` (a shell, a container, `Type=simple`) every
//! call is a no-op.
//!
//! | when | state sent |
//! |---|---|
//! | journal open, publisher and device tasks started | `READY=1`, `STATUS=…` |
//! | SIGHUP received | `RELOADING=1`, `MONOTONIC_USEC=…` |
//! | reload applied or refused | `READY=1`, `STATUS=…` |
//! | SIGTERM / SIGINT received | `STOPPING=1` |
//! | every `WatchdogSec / 2` while the pipeline moves | `WATCHDOG=1` (see [`super::watchdog`]) |

use std::sync::Arc;

use tracing::{info, warn};

use super::liveness::{Allowances, PipelineProbe};
use super::notify::{watchdog_period_from_env, Notifier};
use super::watchdog::Watchdog;

/// The link to the service manager, if one started us.
#[derive(Debug, Default)]
pub struct Supervisor {
    notifier: Option<Arc<Notifier>>,
    watchdog: Option<Watchdog>,
}

impl Supervisor {
    /// Reads `$NOTIFY_SOCKET`. An unusable value is logged and treated as absent: the agent
    /// runs either way (the service manager will time the start out and say so).
    pub fn from_env() -> Supervisor {
        match Notifier::from_env() {
            Ok(Some(n)) => {
                info!(socket = n.socket_name(), "started by a service manager; notifying it");
                Supervisor { notifier: Some(Arc::new(n)), watchdog: None }
            }
            Ok(None) => Supervisor::default(),
            Err(e) => {
                warn!("cannot notify the service manager: {e}");
                Supervisor::default()
            }
        }
    }

    /// Whether a service manager listens.
    pub fn is_supervised(&self) -> bool {
        self.notifier.is_some()
    }

    /// The agent is up: `READY=1`, and the watchdog task starts when `$WATCHDOG_USEC` asks
    /// for one.
    pub fn ready(&mut self, status: &str, probe: PipelineProbe, allowances: Allowances) {
        let Some(n) = &self.notifier else { return };
        self.send(&format!("READY=1\nSTATUS={status}"));
        if let Some(period) = watchdog_period_from_env() {
            self.watchdog = Some(Watchdog::spawn(n.clone(), period, probe, allowances));
        }
    }

    /// A reload starts (`systemctl reload` waits for the next `READY=1` with `Type=notify-reload`).
    pub fn reloading(&self) {
        if self.notifier.is_some() {
            self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
        }
    }

    /// A reload ended (applied or refused): `READY=1` again, with new allowances.
    pub fn reloaded(&self, status: &str, allowances: Allowances) {
        if let Some(w) = &self.watchdog {
            w.set_allowances(allowances);
        }
        if self.notifier.is_some() {
            self.send(&format!("READY=1\nSTATUS={status}"));
        }
    }

    /// The agent is stopping: `STOPPING=1`; the watchdog pings on without judging.
    pub fn stopping(&self) {
        if let Some(w) = &self.watchdog {
            w.stopping();
        }
        if self.notifier.is_some() {
            self.send(
                "STOPPING=1\nSTATUS=stopping: committing the journal, waiting for acknowledgements",
            );
        }
    }

    /// Ends the watchdog task.
    pub async fn close(mut self) {
        if let Some(w) = self.watchdog.take() {
            w.close().await;
        }
    }

    fn send(&self, state: &str) {
        if let Some(n) = &self.notifier {
            if let Err(e) = n.send(state) {
                warn!("{e}");
            }
        }
    }
}

/// CLOCK_MONOTONIC in µs, which `RELOADING=1` carries so the manager can order the messages.
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec to the valid pointer it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000
        + u64::try_from(ts.tv_nsec).unwrap_or(0) / 1000
}
