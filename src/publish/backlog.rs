//! What the publisher needs from the journal, as a small trait: read the oldest
//! unacknowledged entries, release entries the broker acknowledged, and wake up when new
//! entries are committed. The journal implements it; [`MemoryBacklog`] implements it in
//! memory for tests and benches.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::model::Batch;

/// One stored batch and its journal sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct BacklogEntry {
    /// The journal's sequence number: unique, increasing in commit order.
    pub seq: u64,
    /// The batch as it was journaled.
    pub batch: Batch,
}

/// The durable store the publisher drains.
///
/// Contract the publisher relies on:
/// - `read_after(after, limit)` returns up to `limit` entries that are not acknowledged, with
///   `seq > after` (all of them for `None`), in increasing seq order;
/// - an entry is never returned again after `ack` with its seq has completed;
/// - `committed()` holds the highest committed seq and changes whenever entries are committed.
///
/// Entries the store evicts on its own (a full journal drops the oldest) simply stop being
/// returned; that loss is the store's to count, not the publisher's.
pub trait Backlog: Send + Sync + 'static {
    /// Why a read or an ack failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The oldest unacknowledged entries after `after`.
    fn read_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<BacklogEntry>, Self::Error>> + Send;

    /// The broker acknowledged these entries; release them.
    fn ack(&self, seqs: Vec<u64>) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The highest committed seq, updated on every commit.
    fn committed(&self) -> watch::Receiver<u64>;
}

/// An in-memory [`Backlog`] for tests and benches: `push` commits a batch, and it records every
/// `ack` call so a test can check exactly what was released.
#[derive(Debug, Clone)]
pub struct MemoryBacklog {
    inner: Arc<Mutex<MemoryInner>>,
    committed: Arc<watch::Sender<u64>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    entries: BTreeMap<u64, Batch>,
    last_seq: u64,
    acked: Vec<u64>,
}

impl Default for MemoryBacklog {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBacklog {
    /// Empty; the first pushed batch gets seq 1.
    pub fn new() -> Self {
        MemoryBacklog {
            inner: Arc::new(Mutex::new(MemoryInner::default())),
            committed: Arc::new(watch::channel(0).0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemoryInner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters to a test; keep going with the data.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Commits a batch and returns its seq.
    pub fn push(&self, batch: Batch) -> u64 {
        let seq = {
            let mut inner = self.lock();
            inner.last_seq += 1;
            let seq = inner.last_seq;
            inner.entries.insert(seq, batch);
            seq
        };
        self.committed.send_replace(seq);
        seq
    }

    /// Seqs still waiting for acknowledgement, oldest first.
    pub fn pending(&self) -> Vec<u64> {
        self.lock().entries.keys().copied().collect()
    }

    /// Every seq passed to `ack`, in call order (duplicates kept).
    pub fn acked(&self) -> Vec<u64> {
        self.lock().acked.clone()
    }
}

impl Backlog for MemoryBacklog {
    type Error = Infallible;

    async fn read_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<BacklogEntry>, Infallible> {
        let inner = self.lock();
        let from = after.map_or(0, |a| a.saturating_add(1));
        let entries = if after == Some(u64::MAX) {
            Vec::new()
        } else {
            inner
                .entries
                .range(from..)
                .take(limit)
                .map(|(seq, batch)| BacklogEntry { seq: *seq, batch: batch.clone() })
                .collect()
        };
        Ok(entries)
    }

    async fn ack(&self, seqs: Vec<u64>) -> Result<(), Infallible> {
        let mut inner = self.lock();
        for seq in &seqs {
            inner.entries.remove(seq);
        }
        inner.acked.extend(seqs);
        Ok(())
    }

    fn committed(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(device: &str) -> Batch {
        Batch { device: Arc::from(device), ts_ms: 1, samples: vec![] }
    }

    #[tokio::test]
    async fn memory_backlog_follows_the_contract() {
        let b = MemoryBacklog::new();
        let mut committed = b.committed();
        assert_eq!(*committed.borrow_and_update(), 0);
        for d in ["a", "b", "c", "d"] {
            b.push(batch(d));
        }
        assert!(committed.has_changed().unwrap());
        assert_eq!(*committed.borrow_and_update(), 4);

        let seqs = |v: Vec<BacklogEntry>| v.into_iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs(b.read_after(None, 2).await.unwrap()), vec![1, 2]);
        assert_eq!(seqs(b.read_after(Some(2), 10).await.unwrap()), vec![3, 4]);
        assert_eq!(seqs(b.read_after(Some(u64::MAX), 10).await.unwrap()), Vec::<u64>::new());

        b.ack(vec![3, 1]).await.unwrap();
        assert_eq!(seqs(b.read_after(None, 10).await.unwrap()), vec![2, 4]);
        assert_eq!(b.pending(), vec![2, 4]);
        assert_eq!(b.acked(), vec![3, 1]);
    }
}
