//! The watchdog task: every half `WatchdogSec` it reads the pipeline's progress and sends
//! `WATCHDOG=1` only if [`Liveness`] finds no stalled stage. A wedged device task, journal
//! writer or publisher therefore stops the pings, and the service manager restarts the agent
//! one `WatchdogSec` later (`Restart=on-failure`). A wedged runtime stops them too: the task
//! runs on the same threads as the stages.
//!
//! While the agent stops (after `STOPPING=1`), it pings without judging: polling has ended on
//! purpose, and the stop itself is bounded by `edgeproof run`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::liveness::{Allowances, Liveness, PipelineProbe, Stall};
use super::notify::Notifier;

/// A running watchdog task.
#[derive(Debug)]
pub struct Watchdog {
    cancel: CancellationToken,
    task: JoinHandle<()>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    stopping: AtomicBool,
    allowances: Mutex<Allowances>,
}

impl Watchdog {
    /// Starts pinging `notifier` every `period / 2` while `probe` shows progress.
    pub fn spawn(
        notifier: Arc<Notifier>,
        period: Duration,
        probe: PipelineProbe,
        allowances: Allowances,
    ) -> Watchdog {
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            allowances: Mutex::new(allowances),
        });
        let task = tokio::spawn(run(notifier, period, probe, shared.clone(), cancel.clone()));
        Watchdog { cancel, task, shared }
    }

    /// New allowances, after a reload changed the config.
    pub fn set_allowances(&self, allowances: Allowances) {
        *self.shared.allowances.lock().unwrap_or_else(|e| e.into_inner()) = allowances;
    }

    /// From now on ping without judging progress: the agent is stopping on purpose.
    pub fn stopping(&self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
    }

    /// Ends the task.
    pub async fn close(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

async fn run(
    notifier: Arc<Notifier>,
    period: Duration,
    probe: PipelineProbe,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    let every = (period / 2).max(Duration::from_millis(10));
    info!(period = ?period, ping_every = ?every, "watchdog: pinging the service manager while the pipeline makes progress");
    let initial = *shared.allowances.lock().unwrap_or_else(|e| e.into_inner());
    let mut liveness = Liveness::new(initial);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stalled = false;
    let mut send_failed = false;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let stalls = if shared.stopping.load(Ordering::Relaxed) {
            Vec::new()
        } else {
            liveness.set_allowances(*shared.allowances.lock().unwrap_or_else(|e| e.into_inner()));
            // tokio's clock (paused in tests), as std time for the pure judgement.
            liveness.observe(tokio::time::Instant::now().into_std(), &probe.read())
        };
        if !stalls.is_empty() {
            if !stalled {
                error!(
                    stalls = %describe(&stalls),
                    "watchdog: pipeline stalled; no longer pinging the service manager, which \
                     restarts the agent when WatchdogSec passes without a ping: {}",
                    describe(&stalls)
                );
            }
            stalled = true;
            continue;
        }
        if stalled {
            info!("watchdog: pipeline moving again; pinging the service manager again");
            stalled = false;
        }
        match notifier.send("WATCHDOG=1") {
            Ok(()) => send_failed = false,
            Err(e) if !send_failed => {
                warn!("watchdog: {e}");
                send_failed = true;
            }
            Err(_) => {}
        }
    }
}

fn describe(stalls: &[Stall]) -> String {
    stalls.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram;
    use std::sync::atomic::Ordering::Relaxed;
    use tokio::time::Instant;

    use super::*;
    use crate::journal::JournalCounters;
    use crate::service::liveness::PollProgress;

    const PERIOD: Duration = Duration::from_millis(100);
    const ALLOW: Duration = Duration::from_millis(300);

    /// A fake service manager: the socket `$NOTIFY_SOCKET` would name, bound by the test.
    struct FakeManager {
        _dir: tempfile::TempDir,
        socket: UnixDatagram,
        notifier: Arc<Notifier>,
    }

    impl FakeManager {
        fn bind() -> FakeManager {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("notify");
            let socket = UnixDatagram::bind(&path).unwrap();
            socket.set_nonblocking(true).unwrap();
            let notifier = Arc::new(Notifier::new(path.to_str().unwrap()).unwrap());
            FakeManager { _dir: dir, socket, notifier }
        }

        /// Pings received within `window` (the socket is drained first).
        async fn pings_within(&self, window: Duration) -> usize {
            self.drain();
            tokio::time::sleep(window).await;
            self.drain()
        }

        fn drain(&self) -> usize {
            let mut n = 0;
            let mut buf = [0u8; 64];
            while let Ok(len) = self.socket.recv(&mut buf) {
                assert_eq!(&buf[..len], b"WATCHDOG=1");
                n += 1;
            }
            n
        }
    }

    /// Waits (bounded, in the test's virtual time) until `cond`, re-checking every 20 ms.
    async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// On a paused clock: the watchdog, the moving pipeline and the fake manager's windows
    /// all run in tokio's virtual time, so the verdicts do not depend on how loaded the
    /// machine is.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_pipeline_stops_the_pings_and_a_moving_one_resumes_them() {
        let manager = FakeManager::bind();
        let journal = Arc::new(JournalCounters::default());
        let polls = Arc::new(PollProgress::new());
        let cycles = polls.register("press-01".into(), ALLOW);
        let probe = PipelineProbe { journal: journal.clone(), publish: None, polls };
        let allow = Allowances { journal: ALLOW, publish: ALLOW };
        let watchdog = Watchdog::spawn(manager.notifier.clone(), PERIOD, probe, allow);

        // A moving pipeline: the device task finishes cycles, the journal commits.
        let pipeline = CancellationToken::new();
        let mover = {
            let (cycles, journal, stop) = (cycles.clone(), journal.clone(), pipeline.clone());
            tokio::spawn(async move {
                while !stop.is_cancelled() {
                    cycles.fetch_add(1, Relaxed);
                    journal.queued_samples.store(10, Relaxed);
                    journal.appended_entries.fetch_add(1, Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let mut pings = 0;
        wait_until("pings from a moving pipeline", || {
            pings += manager.drain();
            pings >= 3
        })
        .await;

        // Deliberately stall it: the poll task stops finishing cycles and the journal keeps
        // samples queued without committing.
        pipeline.cancel();
        mover.await.unwrap();
        // Once the allowance (plus a tick either side) has passed, silence: two whole watchdog
        // periods without a ping.
        tokio::time::sleep(ALLOW + PERIOD * 2).await;
        assert_eq!(manager.pings_within(PERIOD * 2).await, 0, "a stalled pipeline got pings");

        // Moving again: pings resume.
        cycles.fetch_add(1, Relaxed);
        journal.appended_entries.fetch_add(1, Relaxed);
        wait_until("pings after recovery", || manager.drain() >= 1).await;

        // Stopping on purpose: pings go on although nothing moves.
        watchdog.stopping();
        tokio::time::sleep(ALLOW + PERIOD).await;
        assert!(manager.pings_within(PERIOD * 2).await >= 1, "pings while stopping");
        watchdog.close().await;
    }
}
