//! Counters and gauges the journal keeps for metrics. Atomics, so a metrics module can read
//! them at scrape time from any thread without asking the writer thread.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live journal figures, shared as `Arc<JournalCounters>`. Counters only grow while the
/// process runs; gauges follow the journal. Read them with [`JournalCounters::snapshot`].
#[derive(Debug, Default)]
pub struct JournalCounters {
    pub(crate) appended_entries: AtomicU64,
    pub(crate) appended_samples: AtomicU64,
    pub(crate) acked_entries: AtomicU64,
    pub(crate) acked_samples: AtomicU64,
    pub(crate) dropped_entries_total: AtomicU64,
    pub(crate) dropped_samples_total: AtomicU64,
    pub(crate) queue_full_entries: AtomicU64,
    pub(crate) queue_full_samples: AtomicU64,
    pub(crate) undecodable_entries: AtomicU64,
    pub(crate) commit_errors: AtomicU64,
    pub(crate) disk_full: AtomicU64,
    pub(crate) committed_seq: AtomicU64,
    pub(crate) entries: AtomicU64,
    pub(crate) samples: AtomicU64,
    pub(crate) used_bytes: AtomicU64,
    pub(crate) file_bytes: AtomicU64,
    pub(crate) oldest_ts_ms: AtomicU64,
    pub(crate) queued_samples: AtomicU64,
}

/// A copy of [`JournalCounters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// Counter: telemetry entries committed to disk by this process.
    pub appended_entries: u64,
    /// Counter: samples in those entries.
    pub appended_samples: u64,
    /// Counter: entries deleted because the broker acknowledged them.
    pub acked_entries: u64,
    /// Counter: samples in those entries.
    pub acked_samples: u64,
    /// Counter: entries dropped by the size bound since the journal file was created
    /// (persisted, so it survives restarts).
    pub dropped_entries_total: u64,
    /// Counter: samples in those entries.
    pub dropped_samples_total: u64,
    /// Counter: batches refused because the in-memory queue in front of the writer was full.
    pub queue_full_entries: u64,
    /// Counter: samples in those batches.
    pub queue_full_samples: u64,
    /// Counter: stored entries that could not be decoded and were deleted.
    pub undecodable_entries: u64,
    /// Counter: group commits that failed (the batches stay queued and are retried).
    pub commit_errors: u64,
    /// Counter: writes SQLite refused with `SQLITE_FULL` (each answered by dropping old
    /// telemetry and one retry).
    pub disk_full: u64,
    /// Gauge: the highest seq committed so far (0 before the first).
    pub committed_seq: u64,
    /// Gauge: unacknowledged telemetry entries on disk.
    pub entries: u64,
    /// Gauge: samples in those entries.
    pub samples: u64,
    /// Gauge: bytes the size bound counts (pages in use × page size).
    pub used_bytes: u64,
    /// Gauge: bytes on disk (main file + WAL).
    pub file_bytes: u64,
    /// Gauge: timestamp of the oldest unacknowledged entry (Unix ms; 0 when empty).
    pub oldest_ts_ms: u64,
    /// Gauge: samples accepted into memory but not yet committed.
    pub queued_samples: u64,
}

impl JournalCounters {
    /// Reads every figure (each atomically; not all at the same instant).
    pub fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            appended_entries: self.appended_entries.load(Relaxed),
            appended_samples: self.appended_samples.load(Relaxed),
            acked_entries: self.acked_entries.load(Relaxed),
            acked_samples: self.acked_samples.load(Relaxed),
            dropped_entries_total: self.dropped_entries_total.load(Relaxed),
            dropped_samples_total: self.dropped_samples_total.load(Relaxed),
            queue_full_entries: self.queue_full_entries.load(Relaxed),
            queue_full_samples: self.queue_full_samples.load(Relaxed),
            undecodable_entries: self.undecodable_entries.load(Relaxed),
            commit_errors: self.commit_errors.load(Relaxed),
            disk_full: self.disk_full.load(Relaxed),
            committed_seq: self.committed_seq.load(Relaxed),
            entries: self.entries.load(Relaxed),
            samples: self.samples.load(Relaxed),
            used_bytes: self.used_bytes.load(Relaxed),
            file_bytes: self.file_bytes.load(Relaxed),
            oldest_ts_ms: self.oldest_ts_ms.load(Relaxed),
            queued_samples: self.queued_samples.load(Relaxed),
        }
    }
}
