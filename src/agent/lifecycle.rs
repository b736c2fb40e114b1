//! Start and stop: the order of both is the module docs of [`super`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::journal::{
    HandleOptions, Journal, JournalCounters, JournalError, JournalHandle, JournalOptions,
};
use crate::metrics::Metrics;
use crate::publish::{PublishCounters, PublishError};
use crate::service::{PipelineProbe, PollProgress};
use crate::source::{BatchSink, PollObserver};

use super::evidence::EvidenceTask;
use super::intake::Intake;
use super::observers::MetricsObserver;
use super::tasks::{DeviceTasks, DEVICE_STOP_BOUND};

/// How long shutdown waits for in-flight PUBACKs by default.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the agent could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The journal could not be opened or closed.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// The MQTT settings are unusable (TLS files, password file, protocol).
    #[error("mqtt: {0}")]
    Publish(#[from] PublishError),
    /// The metrics endpoint could not listen.
    #[error("{0}")]
    Http(#[from] crate::http::HttpError),
    /// Usage evidence could not be started (no key where one is required, a log enrolled
    /// with another key, …).
    #[error("evidence: {0}")]
    Evidence(#[from] crate::evidence::recorder::RecorderError),
    /// A stage's task died.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Knobs that are not in the config file (tests and `demo` set them).
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Bound on waiting for PUBACKs at shutdown.
    pub shutdown_grace: Duration,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions { shutdown_grace: DEFAULT_SHUTDOWN_GRACE }
    }
}

/// A started agent. Call [`RunningAgent::stop`] to shut it down cleanly.
pub struct RunningAgent {
    /// Journal counters (entries, bytes, dropped …), for status lines.
    pub journal: Arc<JournalCounters>,
    /// Publisher counters, when `[mqtt]` is configured.
    pub publish: Option<Arc<PublishCounters>>,
    /// The registry behind `/metrics`.
    pub metrics: Metrics,
    /// Where `/metrics` is served, if it is.
    pub metrics_addr: Option<SocketAddr>,
    /// The journal file.
    pub journal_path: PathBuf,
    options: AgentOptions,
    /// The running config (device map as of the last reload); see `reload.rs`.
    pub(super) config: Config,
    /// One task per device, keyed by name, each with its own cancel token.
    pub(super) devices: DeviceTasks,
    polls: Arc<PollProgress>,
    publisher_cancel: CancellationToken,
    publisher: Option<JoinHandle<Result<(), PublishError>>>,
    http_cancel: CancellationToken,
    http: Option<JoinHandle<()>>,
    handle: JournalHandle,
    writer: Option<std::thread::JoinHandle<()>>,
    /// The evidence recorder, when evidence is on.
    pub(super) evidence: Option<EvidenceTask>,
}

/// The journal file inside the data directory.
pub fn journal_path(cfg: &Config) -> PathBuf {
    cfg.gateway.data_dir.join(crate::journal::JOURNAL_FILE_NAME)
}

/// Starts every stage. Returns once polling has begun.
pub async fn start(cfg: &Config, options: AgentOptions) -> Result<RunningAgent, AgentError> {
    let path = journal_path(cfg);
    let jopts = JournalOptions { max_bytes: cfg.journal.max_bytes };
    let open_path = path.clone();
    let (journal, report) = tokio::task::spawn_blocking(move || Journal::open(open_path, jopts))
        .await
        .map_err(|e| AgentError::Internal(format!("journal open task: {e}")))??;
    info!(
        path = %path.display(),
        resumed_entries = report.resumed_entries,
        next_seq = report.next_seq,
        "journal open"
    );
    let (handle, sender, writer) =
        JournalHandle::start(journal, HandleOptions::new(cfg.journal.flush_interval))?;
    let journal_counters = handle.counters();
    let metrics = Metrics::new();
    let evidence = EvidenceTask::start(cfg, &handle, &metrics).await?;

    metrics.attach_journal(journal_counters.clone());

    let http_cancel = CancellationToken::new();
    let (http, metrics_addr) = match cfg.metrics.listen {
        Some(addr) => {
            let listener = crate::http::bind(addr).await?;
            let local = listener.local_addr().ok();
            let health_journal = journal_counters.clone();
            let health: crate::http::HealthCheck = Arc::new(move || {
                let snap = health_journal.snapshot();
                if snap.commit_errors > 0 && snap.queued_samples > 0 {
                    Err(format!("journal commits failing ({} errors)", snap.commit_errors))
                } else {
                    Ok(())
                }
            });
            let task = tokio::spawn(crate::http::serve(
                listener,
                Arc::new(metrics.clone()),
                health,
                http_cancel.clone(),
            ));
            info!(addr = ?local, "serving /metrics and /healthz");
            (Some(task), local)
        }
        None => (None, None),
    };

    let publisher_cancel = CancellationToken::new();
    let (publisher, publish_counters) = match &cfg.mqtt {
        Some(mqtt) => {
            let counters = Arc::new(PublishCounters::default());
            metrics.attach_publish(counters.clone());
            // Built here so that config errors (TLS files, password file) stop the start.
            let publisher = crate::publish::Publisher::new(
                mqtt.clone(),
                cfg.gateway.id.clone(),
                handle.clone(),
                counters.clone(),
            )?
            .with_drain_timeout(options.shutdown_grace);
            let publisher = match &evidence {
                Some(e) => publisher.with_evidence(e.feed()),
                None => publisher,
            };
            let cancel = publisher_cancel.clone();
            let task = tokio::spawn(async move {
                publisher.run(cancel).await;
                Ok(())
            });
            (Some(task), Some(counters))
        }
        None => {
            warn!("no [mqtt] section: polling and journaling only, nothing is published");
            (None, None)
        }
    };

    let sink: Arc<dyn BatchSink> =
        Arc::new(Intake::new(sender, evidence.as_ref().map(EvidenceTask::book)));
    let observer: Arc<dyn PollObserver> = Arc::new(MetricsObserver(metrics.clone()));
    let observer = match &evidence {
        Some(e) => e.wrap(observer),
        None => observer,
    };
    for device in &cfg.devices {
        metrics.device(&device.name);
    }
    let polls = Arc::new(PollProgress::new());
    let mut devices = DeviceTasks::new(sink, observer, polls.clone());
    devices.start(&cfg.devices);
    info!(gateway = %cfg.gateway.id, devices = cfg.devices.len(), "agent running");
    Ok(RunningAgent {
        journal: journal_counters,
        publish: publish_counters,
        metrics,
        metrics_addr,
        journal_path: path,
        options,
        config: cfg.clone(),
        devices,
        polls,
        publisher_cancel,
        publisher,
        http_cancel,
        http,
        handle,
        writer: Some(writer),
        evidence,
    })
}

impl RunningAgent {
    /// What the watchdog reads to judge whether the pipeline is alive.
    pub fn probe(&self) -> PipelineProbe {
        PipelineProbe {
            journal: self.journal.clone(),
            publish: self.publish.clone(),
            polls: self.polls.clone(),
        }
    }

    /// Stops every stage in the order that loses nothing (see the module docs).
    pub async fn stop(self) -> Result<(), AgentError> {
        self.stop_because("stop").await
    }

    /// [`RunningAgent::stop`], saying why in the `shutdown` evidence record (e.g. `SIGTERM`).
    pub async fn stop_because(mut self, reason: &str) -> Result<(), AgentError> {
        info!("stopping: polling first");
        self.devices.stop_all(DEVICE_STOP_BOUND).await;
        if let Err(e) = self.handle.flush().await {
            error!(error = %e, "final journal commit failed; the last cycle may be lost");
        }
        if let Some(evidence) = self.evidence.take() {
            evidence.finish(reason).await;
        }
        if let Some(task) = self.publisher.take() {
            info!(grace = ?self.options.shutdown_grace, "waiting for in-flight acknowledgements");
            self.publisher_cancel.cancel();
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => error!(error = %e, "publisher ended with an error"),
                Err(e) => error!(error = %e, "publisher task panicked"),
            }
        }
        self.http_cancel.cancel();
        if let Some(task) = self.http.take() {
            let _ = task.await;
        }
        self.handle.shutdown().await?;
        if let Some(writer) = self.writer.take() {
            tokio::task::spawn_blocking(move || writer.join())
                .await
                .map_err(|e| AgentError::Internal(format!("journal writer join: {e}")))?
                .map_err(|_| AgentError::Internal("journal writer thread panicked".into()))?;
        }
        info!("stopped cleanly");
        Ok(())
    }
}

/// Gives memory freed after start-up back to the operating system.
///
/// Loading a large device map (the `config` crate builds a whole value tree before serde sees
/// it) peaks at several times the memory the compiled config needs; glibc keeps those freed
/// pages mapped. On a gateway with little RAM the difference matters, so trim once the
/// agent is running. No-op on other C libraries.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own heap bookkeeping; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
