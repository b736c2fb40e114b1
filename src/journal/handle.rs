//! The async face of the journal: a dedicated thread owns the [`Journal`] (SQLite never runs
//! on the async runtime), sources hand it batches through a bounded in-memory queue that
//! never blocks, and it appends them in one group commit per flush interval.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use super::counters::JournalCounters;
use super::error::JournalError;
use super::store::{Journal, JournalStats, StoredBatch};
use crate::model::Batch;

/// Default group-commit interval.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(200);

/// Default pending sample count that triggers a commit before the interval is up.
pub const DEFAULT_FLUSH_SAMPLES: usize = 20_000;

/// Default bound on samples held in memory (queued plus awaiting commit): about 6 MB.
pub const DEFAULT_MAX_QUEUED_SAMPLES: usize = 100_000;

/// How often the writer gives free space back to the file system, when there is any.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(10);

/// Least time between retries of a failed commit.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// How the writer thread batches commits and bounds memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandleOptions {
    /// Group-commit interval: a batch waits at most this long before its commit starts.
    pub flush_interval: Duration,
    /// Commit early once this many samples are pending.
    pub flush_samples: usize,
    /// Most samples held in memory, queued or awaiting commit. Beyond it
    /// [`JournalSender::try_send`] refuses batches (an empty batch counts as one sample).
    /// Should be several times `flush_samples`, so sources keep going during a commit.
    pub max_queued_samples: usize,
}

impl HandleOptions {
    /// Defaults with the given flush interval (the `[journal] flush_interval` setting).
    pub fn new(flush_interval: Duration) -> Self {
        HandleOptions { flush_interval, ..HandleOptions::default() }
    }
}

impl Default for HandleOptions {
    fn default() -> Self {
        HandleOptions {
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            flush_samples: DEFAULT_FLUSH_SAMPLES,
            max_queued_samples: DEFAULT_MAX_QUEUED_SAMPLES,
        }
    }
}

pub(super) type Reply<T> = oneshot::Sender<Result<T, JournalError>>;

/// What the writer thread is asked to do, in arrival order.
pub(super) enum Request {
    Batch(Batch),
    Evidence(super::evidence_handle::EvidenceRequest),
    Read { after: Option<u64>, limit: usize, reply: Reply<Vec<StoredBatch>> },
    Ack { seqs: Vec<u64>, reply: Reply<usize> },
    Stats { reply: Reply<JournalStats> },
    Flush { reply: Reply<()> },
    Shutdown { reply: Reply<()> },
}

/// The publisher's and the agent's side of the journal: read, ack, stats, shutdown.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct JournalHandle {
    requests: mpsc::Sender<Request>,
    committed: watch::Receiver<u64>,
    counters: Arc<JournalCounters>,
}

/// The sources' side of the journal. Cheap to clone, one per poll task.
#[derive(Debug, Clone)]
pub struct JournalSender {
    requests: mpsc::Sender<Request>,
    queue: Arc<Queue>,
}

/// Memory accounting shared by all senders and the writer.
#[derive(Debug)]
struct Queue {
    counters: Arc<JournalCounters>,
    max_samples: u64,
    /// True during a queue-full episode: from the first refused batch until the queue is
    /// back below half its bound.
    full: AtomicBool,
    episode_entries: AtomicU64,
    episode_samples: AtomicU64,
}

/// Why [`JournalSender::try_send`] did not take a batch. The batch is handed back; the
/// journal has already counted and (once per episode) logged the drop.
#[derive(Debug, thiserror::Error)]
pub enum TrySendError {
    /// The in-memory queue is at its bound: the writer is behind (slow disk).
    #[error("journal queue is full; batch from device {} dropped", .0.device)]
    Full(Batch),
    /// The writer thread has stopped.
    #[error("journal has stopped; batch from device {} dropped", .0.device)]
    Closed(Batch),
}

impl TrySendError {
    /// The batch that was not taken.
    pub fn into_batch(self) -> Batch {
        match self {
            TrySendError::Full(b) | TrySendError::Closed(b) => b,
        }
    }
}

/// Memory cost of a batch in the queue's accounting.
fn units(batch: &Batch) -> u64 {
    batch.samples.len().max(1) as u64
}

impl JournalSender {
    /// Hands a batch to the journal without blocking. When the in-memory queue is full the
    /// batch is refused (the newest data is what gets dropped: memory is bounded, a slow
    /// disk must not grow it), counted, and logged once per episode.
    pub fn try_send(&self, batch: Batch) -> Result<(), TrySendError> {
        self.try_send_with(batch, |_| {})
    }

    /// [`JournalSender::try_send`], calling `accepted` with the batch once the journal has
    /// taken it and before it is queued to the writer — so that whoever counts what the
    /// journal holds (the usage book) counts exactly the batches it accepted, in the order
    /// it accepted them. `accepted` is not called for a refused batch. The one exception: a
    /// writer that stops between the two steps (only at shutdown, after the sources were
    /// told to stop) refuses a batch `accepted` has seen; it is logged as lost.
    pub fn try_send_with(
        &self,
        batch: Batch,
        accepted: impl FnOnce(&Batch),
    ) -> Result<(), TrySendError> {
        let q = &*self.queue;
        let units = units(&batch);
        let before = q.counters.queued_samples.fetch_add(units, Relaxed);
        // An empty queue takes any batch, however large, so a huge batch is not refused
        // forever.
        if before > 0 && before + units > q.max_samples {
            q.counters.queued_samples.fetch_sub(units, Relaxed);
            let samples = batch.samples.len() as u64;
            q.counters.queue_full_entries.fetch_add(1, Relaxed);
            q.counters.queue_full_samples.fetch_add(samples, Relaxed);
            q.episode_entries.fetch_add(1, Relaxed);
            q.episode_samples.fetch_add(samples, Relaxed);
            if !q.full.swap(true, Relaxed) {
                tracing::warn!(
                    device = %batch.device,
                    max_queued_samples = q.max_samples,
                    "journal queue is full (the disk is slower than the devices): dropping new \
                     batches until the journal writer catches up; logged once per episode"
                );
            }
            return Err(TrySendError::Full(batch));
        }
        accepted(&batch);
        if let Err(mpsc::SendError(request)) = self.requests.send(Request::Batch(batch)) {
            q.counters.queued_samples.fetch_sub(units, Relaxed);
            return match request {
                Request::Batch(batch) => Err(TrySendError::Closed(batch)),
                _ => Ok(()),
            };
        }
        if q.full.load(Relaxed)
            && before + units <= q.max_samples / 2
            && q.full.swap(false, Relaxed)
        {
            tracing::info!(
                dropped_entries = q.episode_entries.swap(0, Relaxed),
                dropped_samples = q.episode_samples.swap(0, Relaxed),
                "journal queue has room again; batches dropped while it was full are counted here"
            );
        }
        Ok(())
    }
}

impl JournalHandle {
    /// Starts the writer thread, which owns `journal` until shutdown. Returns the handle,
    /// the sender for sources, and the thread to join after [`JournalHandle::shutdown`].
    pub fn start(
        journal: Journal,
        options: HandleOptions,
    ) -> Result<(JournalHandle, JournalSender, JoinHandle<()>), JournalError> {
        let counters = journal.counters();
        let (requests, inbox) = mpsc::channel();
        let (committed_tx, committed) = watch::channel(journal.next_seq() - 1);
        let writer = Writer {
            journal,
            options,
            committed: committed_tx,
            counters: Arc::clone(&counters),
            pending: Vec::new(),
            pending_units: 0,
            pending_samples: 0,
            flush_at: None,
            failing: false,
        };
        let thread = std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || writer.run(inbox))
            .map_err(JournalError::Spawn)?;
        let queue = Arc::new(Queue {
            counters: Arc::clone(&counters),
            max_samples: options.max_queued_samples.max(1) as u64,
            full: AtomicBool::new(false),
            episode_entries: AtomicU64::new(0),
            episode_samples: AtomicU64::new(0),
        });
        let sender = JournalSender { requests: requests.clone(), queue };
        Ok((JournalHandle { requests, committed, counters }, sender, thread))
    }

    pub(super) async fn call<T>(
        &self,
        request: impl FnOnce(Reply<T>) -> Request,
    ) -> Result<T, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(request(reply)).map_err(|_| JournalError::Closed)?;
        answer.await.map_err(|_| JournalError::Closed)?
    }

    /// Up to `limit` committed entries with seq greater than `after`, oldest first.
    pub async fn read_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredBatch>, JournalError> {
        self.call(|reply| Request::Read { after, limit, reply }).await
    }

    /// Deletes entries the broker acknowledged; returns how many were deleted.
    pub async fn ack(&self, seqs: Vec<u64>) -> Result<usize, JournalError> {
        self.call(|reply| Request::Ack { seqs, reply }).await
    }

    /// The journal's state now.
    pub async fn stats(&self) -> Result<JournalStats, JournalError> {
        self.call(|reply| Request::Stats { reply }).await
    }

    /// Commits everything handed over so far now, without waiting for the interval.
    pub async fn flush(&self) -> Result<(), JournalError> {
        self.call(|reply| Request::Flush { reply }).await
    }

    /// Watches the highest committed seq (0 before the first commit), so the publisher
    /// wakes when there is new data.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    /// The shared counters, for metrics.
    pub fn counters(&self) -> Arc<JournalCounters> {
        Arc::clone(&self.counters)
    }

    /// Commits the batches handed over so far in one last transaction and stops the writer
    /// thread, which closes the file. Stop the sources first: a batch sent after this is
    /// refused with [`TrySendError::Closed`].
    pub async fn shutdown(&self) -> Result<(), JournalError> {
        self.call(|reply| Request::Shutdown { reply }).await
    }
}

/// The writer thread's state.
struct Writer {
    journal: Journal,
    options: HandleOptions,
    committed: watch::Sender<u64>,
    counters: Arc<JournalCounters>,
    pending: Vec<Batch>,
    /// Queue units of `pending`, released when they commit.
    pending_units: u64,
    pending_samples: usize,
    /// When the pending batches must be committed; `None` while there are none.
    flush_at: Option<Instant>,
    /// A commit failed and has not succeeded since: retry on the timer only.
    failing: bool,
}

impl Writer {
    fn run(mut self, inbox: mpsc::Receiver<Request>) {
        let mut maintain_at = Instant::now() + MAINTENANCE_INTERVAL;
        loop {
            let wake = self.flush_at.map_or(maintain_at, |f| f.min(maintain_at));
            match inbox.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                Ok(Request::Shutdown { reply }) => {
                    // Batches already in the channel were accepted by try_send: keep them.
                    while let Ok(request) = inbox.try_recv() {
                        self.handle(request);
                    }
                    let result = self.flush();
                    if let Err(error) = &result {
                        tracing::error!(
                            path = %self.journal.path().display(),
                            lost_batches = self.pending.len(),
                            %error,
                            "journal shutdown: the last batches could not be committed and are lost"
                        );
                    }
                    let _ = reply.send(result);
                    return;
                }
                Ok(request) => self.handle(request),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let now = Instant::now();
                    if self.flush_at.is_some_and(|at| at <= now) {
                        let _ = self.flush();
                    }
                    if maintain_at <= now {
                        if let Err(error) = self.journal.reclaim() {
                            tracing::warn!(%error, "journal could not give free space back");
                        }
                        maintain_at = now + MAINTENANCE_INTERVAL;
                    }
                }
                // Every handle and sender is gone: nobody can ask for shutdown any more.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = self.flush();
                    return;
                }
            }
        }
    }

    fn handle(&mut self, request: Request) {
        match request {
            Request::Batch(batch) => {
                self.pending_units += units(&batch);
                self.pending_samples += batch.samples.len();
                self.pending.push(batch);
                if self.flush_at.is_none() {
                    self.flush_at = Some(Instant::now() + self.options.flush_interval);
                }
                if !self.failing && self.pending_samples >= self.options.flush_samples {
                    let _ = self.flush();
                }
            }
            Request::Read { after, limit, reply } => {
                let _ = reply.send(self.journal.read_after(after, limit));
            }
            Request::Ack { seqs, reply } => {
                let _ = reply.send(self.journal.ack(&seqs));
            }
            Request::Stats { reply } => {
                let _ = reply.send(self.journal.stats());
            }
            Request::Evidence(request) => request.run(&mut self.journal),
            Request::Flush { reply } => {
                let _ = reply.send(self.flush());
            }
            Request::Shutdown { reply } => {
                // Only reached while draining after a first shutdown.
                let _ = reply.send(Ok(()));
            }
        }
    }

    /// Appends the pending batches in one transaction. On failure they stay pending and
    /// are retried on the timer; memory stays bounded because their queue units are only
    /// released on success.
    fn flush(&mut self) -> Result<(), JournalError> {
        self.flush_at = None;
        if self.pending.is_empty() {
            return Ok(());
        }
        match self.journal.append(&self.pending) {
            Ok(seqs) => {
                if self.failing {
                    tracing::info!(
                        path = %self.journal.path().display(),
                        "journal commits succeed again"
                    );
                    self.failing = false;
                }
                self.counters.queued_samples.fetch_sub(self.pending_units, Relaxed);
                self.pending.clear();
                self.pending_units = 0;
                self.pending_samples = 0;
                if let Some(&last) = seqs.last() {
                    self.committed.send_replace(last);
                }
                Ok(())
            }
            Err(error) => {
                self.counters.commit_errors.fetch_add(1, Relaxed);
                if !self.failing {
                    tracing::error!(
                        path = %self.journal.path().display(),
                        pending_batches = self.pending.len(),
                        %error,
                        "journal commit failed: keeping the batches in memory and retrying \
                         (new batches are refused once the queue is full)"
                    );
                    self.failing = true;
                }
                let retry = self.options.flush_interval.max(RETRY_INTERVAL);
                self.flush_at = Some(Instant::now() + retry);
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::test_support::{batch, open};

    const WAIT: Duration = Duration::from_secs(20);

    /// Options under which nothing commits until asked: no timer, no size trigger.
    fn manual(max_queued_samples: usize) -> HandleOptions {
        HandleOptions {
            flush_interval: Duration::from_secs(3600),
            flush_samples: usize::MAX,
            max_queued_samples,
        }
    }

    #[tokio::test]
    async fn sent_batches_commit_in_order_and_the_committed_watch_follows() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(dir.path(), 1 << 30);
        let options = HandleOptions {
            flush_interval: Duration::from_millis(20),
            flush_samples: 500,
            max_queued_samples: 1_000_000,
        };
        let (handle, sender, thread) = JournalHandle::start(journal, options).unwrap();
        let mut committed = handle.committed();
        assert_eq!(*committed.borrow(), 0);

        for i in 1..=1000 {
            sender.try_send(batch(i, 5)).unwrap();
        }
        tokio::time::timeout(WAIT, committed.wait_for(|&seq| seq >= 1000)).await.unwrap().unwrap();

        let read = handle.read_after(None, 2000).await.unwrap();
        assert_eq!(read.len(), 1000);
        for (i, entry) in (1..).zip(&read) {
            assert_eq!((entry.seq, &entry.batch), (i, &batch(i, 5)));
        }
        assert_eq!(handle.ack((1..=500).collect()).await.unwrap(), 500);
        let stats = handle.stats().await.unwrap();
        assert_eq!((stats.entries, stats.samples, stats.oldest_seq), (500, 2500, Some(501)));
        let c = handle.counters().snapshot();
        assert_eq!((c.appended_entries, c.acked_entries, c.queued_samples), (1000, 500, 0));

        handle.shutdown().await.unwrap();
        thread.join().unwrap();
        assert!(matches!(sender.try_send(batch(0, 1)), Err(TrySendError::Closed(_))));
        assert!(matches!(handle.stats().await, Err(JournalError::Closed)));

        let (_, report) = open(dir.path(), 1 << 30);
        assert_eq!((report.resumed_entries, report.oldest_seq), (500, Some(501)));
    }

    #[tokio::test]
    async fn shutdown_commits_what_is_pending() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(dir.path(), 1 << 30);
        let (handle, sender, thread) = JournalHandle::start(journal, manual(1000)).unwrap();
        for i in 1..=5 {
            sender.try_send(batch(i, 3)).unwrap();
        }
        handle.shutdown().await.unwrap();
        thread.join().unwrap();
        assert_eq!(*handle.committed().borrow(), 5);
        let (mut journal, report) = open(dir.path(), 1 << 30);
        assert_eq!(report.resumed_entries, 5);
        assert_eq!(journal.read_after(None, 10).unwrap()[4].batch, batch(5, 3));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_counts_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(dir.path(), 1 << 30);
        let (handle, sender, thread) = JournalHandle::start(journal, manual(100)).unwrap();
        for i in 1..=10 {
            sender.try_send(batch(i, 10)).unwrap();
        }
        for i in 11..=13 {
            match sender.try_send(batch(i, 10)) {
                Err(TrySendError::Full(b)) => assert_eq!(b, batch(i, 10)),
                other => panic!("batch {i}: {other:?}"),
            }
        }
        let c = handle.counters().snapshot();
        assert_eq!((c.queue_full_entries, c.queue_full_samples, c.queued_samples), (3, 30, 100));

        // A commit frees the memory, and the queue takes batches again.
        handle.flush().await.unwrap();
        assert_eq!(handle.counters().snapshot().queued_samples, 0);
        sender.try_send(batch(14, 10)).unwrap();

        handle.shutdown().await.unwrap();
        thread.join().unwrap();
        let c = handle.counters().snapshot();
        assert_eq!((c.appended_entries, c.committed_seq, c.queue_full_entries), (11, 11, 3));
    }

    #[tokio::test]
    async fn a_batch_larger_than_the_queue_is_taken_when_the_queue_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(dir.path(), 1 << 30);
        let (handle, sender, thread) = JournalHandle::start(journal, manual(10)).unwrap();
        sender.try_send(batch(1, 50)).unwrap();
        assert!(matches!(sender.try_send(batch(2, 1)), Err(TrySendError::Full(_))));
        handle.shutdown().await.unwrap();
        thread.join().unwrap();
        assert_eq!(handle.counters().snapshot().appended_samples, 50);
    }

    #[test]
    fn dropping_every_handle_and_sender_commits_and_stops_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(dir.path(), 1 << 30);
        let (handle, sender, thread) = JournalHandle::start(journal, manual(1000)).unwrap();
        sender.try_send(batch(1, 1)).unwrap();
        drop((handle, sender));
        thread.join().unwrap();
        let (_, report) = open(dir.path(), 1 << 30);
        assert_eq!(report.resumed_entries, 1);
    }
}
