//! Usage evidence in the running agent: the adapter that feeds the recorder's usage book from
//! the sources' poll cycles and device identities (batches reach the book through
//! [`super::intake`], once the journal accepted them), and the recorder's task from start to
//! its `shutdown` record.
//!
//! Start (after the journal opened, before the publisher and the device tasks): load the key
//! (or find evidence off), open the recorder — it writes `enroll`/`boot`/`config` and a
//! checkpoint before any device is polled — and spawn its loop.
//! Stop (after the device tasks stopped and their last cycle was committed, before the
//! publisher is told to stop): end the loop, write the last `usage`, `shutdown` and the final
//! checkpoint, so the publisher's final sweep sends them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::error;

use crate::config::Config;
use crate::evidence::recorder::{load_key, CheckpointFile, Recorder, RecorderError};
use crate::evidence::usage::UsageBook;
use crate::journal::JournalHandle;
use crate::metrics::Metrics;
use crate::publish::EvidenceFeed;
use crate::source::modbus::rtu::BusEvent;
use crate::source::modbus::{CycleStats, DeviceIdentity};
use crate::source::opcua::DeviceFingerprint;
use crate::source::PollObserver;

/// Counts every poll cycle and identity in the usage book, and forwards everything to the
/// observer it wraps (metrics).
pub(super) struct EvidenceObserver {
    pub(super) book: Arc<UsageBook>,
    pub(super) inner: Arc<dyn PollObserver>,
}

impl PollObserver for EvidenceObserver {
    fn identified(&self, device: &str, identity: &DeviceIdentity) {
        self.book.on_identity(device, identity);
        self.inner.identified(device, identity);
    }

    fn opcua_identified(&self, device: &str, fingerprint: &DeviceFingerprint) {
        self.book.on_opcua_identity(device, fingerprint);
        self.inner.opcua_identified(device, fingerprint);
    }

    fn cycle(&self, device: &str, stats: &CycleStats, elapsed: Duration) {
        self.book.on_cycle(device, stats);
        self.inner.cycle(device, stats, elapsed);
    }

    fn overrun(&self, device: &str, n: u64) {
        self.inner.overrun(device, n);
    }

    fn bus(&self, bus: &str, event: &BusEvent<'_>) {
        self.inner.bus(bus, event);
    }
}

/// The running recorder.
pub(super) struct EvidenceTask {
    book: Arc<UsageBook>,
    feed: Arc<dyn EvidenceFeed>,
    cancel: CancellationToken,
    task: JoinHandle<Recorder>,
    configs: mpsc::UnboundedSender<Config>,
    witnesses: Vec<JoinHandle<()>>,
}

impl EvidenceTask {
    /// Opens the log and starts the recorder, or `None` when evidence is off. Errors stop the
    /// agent's start (no key where one is required, a log enrolled with another key, …).
    pub(super) async fn start(
        cfg: &Config,
        journal: &JournalHandle,
        metrics: &Metrics,
    ) -> Result<Option<EvidenceTask>, RecorderError> {
        let Some(key) = load_key(cfg)? else { return Ok(None) };
        let (recorder, book) = Recorder::open(
            cfg,
            key,
            journal.clone(),
            journal.counters(),
            CheckpointFile::in_dir(&cfg.gateway.data_dir),
        )
        .await?;
        let feed: Arc<dyn EvidenceFeed> = Arc::new(recorder.feed());
        let cancel = CancellationToken::new();
        let witnesses = recorder.spawn_witnesses(metrics, &cancel)?;
        let (configs, inbox) = mpsc::unbounded_channel();
        let task = tokio::spawn(recorder.run(cancel.clone(), inbox));
        Ok(Some(EvidenceTask { book, feed, cancel, task, configs, witnesses }))
    }

    /// What the publisher drains.
    pub(super) fn feed(&self) -> Arc<dyn EvidenceFeed> {
        self.feed.clone()
    }

    /// The usage book, for the intake step.
    pub(super) fn book(&self) -> Arc<UsageBook> {
        self.book.clone()
    }

    /// Wraps the sources' observer so that the usage book sees every cycle and identity.
    pub(super) fn wrap(&self, observer: Arc<dyn PollObserver>) -> Arc<dyn PollObserver> {
        Arc::new(EvidenceObserver { book: self.book.clone(), inner: observer })
    }

    /// A reload applied a new device map: the recorder writes a `config` record if it differs
    /// from the one last recorded.
    pub(super) fn config_changed(&self, cfg: &Config) {
        if self.configs.send(cfg.clone()).is_err() {
            error!("evidence recorder has stopped; the device map change is not recorded");
        }
    }

    /// Ends the loop and the witness submissions, and writes the last `usage`, `shutdown`
    /// and the final checkpoint (submitted to the witnesses at the next start).
    pub(super) async fn finish(self, reason: &str) {
        self.cancel.cancel();
        for w in self.witnesses {
            if let Err(e) = w.await {
                error!(error = %e, "witness submission task panicked");
            }
        }
        match self.task.await {
            Ok(recorder) => recorder.finish(reason).await,
            Err(e) => error!(error = %e, "evidence recorder task panicked; no shutdown record"),
        }
    }
}
