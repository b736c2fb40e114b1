//! Stopping on SIGTERM or Ctrl-C, for every long-running command of both binaries.

/// SIGTERM and SIGINT (Ctrl-C), taken over as soon as this is made: a signal that arrives
/// while the agent is still starting (opening a large journal) is kept and answered with a
/// clean stop right after start-up, instead of killing the process.
pub struct ShutdownSignals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    /// Installs the handlers now. Must be called inside the runtime.
    pub fn install() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        ShutdownSignals {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }

    /// Waits for the next SIGTERM or SIGINT and says which.
    pub async fn recv(&mut self) -> &'static str {
        async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        if self.term.is_none() && self.int.is_none() {
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
        tokio::select! {
            _ = next(&mut self.term) => "SIGTERM",
            _ = next(&mut self.int) => "SIGINT",
        }
    }
}
