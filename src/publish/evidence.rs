//! What the publisher needs from the evidence recorder: the stored records not yet
//! acknowledged, a way to mark them acknowledged, a wake-up when a record is appended, and the
//! latest signed checkpoint.
//!
//! Evidence is a second backlog beside the journal's telemetry. Records go to
//! `<prefix>/evidence` (QoS 1, not retained), one message per record, its payload exactly the
//! stored canonical bytes, in seq order; the latest checkpoint goes to `<prefix>/checkpoint`
//! (QoS 1, retained; payload the signed note text). Both travel through the same in-flight
//! FIFO as data, so the PUBACK correlation argument of the module docs covers them unchanged.
//!
//! The trait is object-safe (boxed futures): evidence is a few records per interval, and the
//! publisher need not become generic over a second type.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::watch;

/// An error from the evidence store, already described for a log line.
pub type FeedError = Box<dyn std::error::Error + Send + Sync>;

/// One stored evidence record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceEntry {
    /// The record's seq (gap-free from 0).
    pub seq: u64,
    /// Its canonical bytes, published as they are.
    pub payload: Vec<u8>,
}

/// A signed checkpoint ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointNote {
    /// Tree size (records covered).
    pub size: u64,
    /// The C2SP signed note, as published.
    pub text: String,
}

/// The evidence side of what the publisher drains.
///
/// Contract, as for [`super::Backlog`]: `read_unpublished(after, limit)` returns up to `limit`
/// records not acknowledged with `seq > after` in increasing seq order; a record is not
/// returned again after `ack` with its seq has completed; `appended()` changes whenever a
/// record is stored; `checkpoint()` holds the latest checkpoint, if any.
pub trait EvidenceFeed: Send + Sync + 'static {
    /// The oldest unacknowledged records after `after`.
    fn read_unpublished(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<EvidenceEntry>, FeedError>>;

    /// The broker acknowledged these records.
    fn ack(&self, seqs: Vec<u64>) -> BoxFuture<'_, Result<(), FeedError>>;

    /// Records stored so far (the next seq); changes on every append.
    fn appended(&self) -> watch::Receiver<u64>;

    /// The latest signed checkpoint.
    fn checkpoint(&self) -> watch::Receiver<Option<Arc<CheckpointNote>>>;
}

/// An in-memory [`EvidenceFeed`] for tests: `push` stores a record, `set_checkpoint` replaces
/// the checkpoint, and every ack is recorded.
#[derive(Debug, Clone)]
pub struct MemoryEvidence {
    inner: Arc<std::sync::Mutex<MemoryInner>>,
    appended: Arc<watch::Sender<u64>>,
    checkpoint: Arc<watch::Sender<Option<Arc<CheckpointNote>>>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    records: Vec<(Vec<u8>, bool)>,
    acked: Vec<u64>,
}

impl Default for MemoryEvidence {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryEvidence {
    /// Empty.
    pub fn new() -> Self {
        MemoryEvidence {
            inner: Arc::default(),
            appended: Arc::new(watch::channel(0).0),
            checkpoint: Arc::new(watch::channel(None).0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores the next record; returns its seq.
    pub fn push(&self, payload: &[u8]) -> u64 {
        let n = {
            let mut inner = self.lock();
            inner.records.push((payload.to_vec(), false));
            inner.records.len() as u64
        };
        self.appended.send_replace(n);
        n - 1
    }

    /// Replaces the latest checkpoint.
    pub fn set_checkpoint(&self, size: u64, text: &str) {
        self.checkpoint.send_replace(Some(Arc::new(CheckpointNote { size, text: text.into() })));
    }

    /// Every seq acknowledged, in call order.
    pub fn acked(&self) -> Vec<u64> {
        self.lock().acked.clone()
    }
}

impl EvidenceFeed for MemoryEvidence {
    fn read_unpublished(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<EvidenceEntry>, FeedError>> {
        let entries = self
            .lock()
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| (i as u64, r))
            .filter(|(seq, (_, acked))| !acked && after.is_none_or(|a| *seq > a))
            .take(limit)
            .map(|(seq, (payload, _))| EvidenceEntry { seq, payload: payload.clone() })
            .collect();
        Box::pin(async move { Ok(entries) })
    }

    fn ack(&self, seqs: Vec<u64>) -> BoxFuture<'_, Result<(), FeedError>> {
        {
            let mut inner = self.lock();
            for &seq in &seqs {
                if let Some(r) = usize::try_from(seq).ok().and_then(|i| inner.records.get_mut(i)) {
                    r.1 = true;
                }
            }
            inner.acked.extend(seqs);
        }
        Box::pin(async { Ok(()) })
    }

    fn appended(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    fn checkpoint(&self) -> watch::Receiver<Option<Arc<CheckpointNote>>> {
        self.checkpoint.subscribe()
    }
}
