//! What the collector has done since it started: a few counters, read by the periodic log
//! line, by `/metrics` ([`super::metrics`]) and by tests. Per-gateway figures live in the archive, not here, so memory stays
//! bounded whatever the fleet's size.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::archive::{AnomalyKind, BatchOutcome};

/// Totals since start.
#[derive(Debug, Default)]
pub struct CollectCounters {
    /// MQTT messages received.
    pub messages: AtomicU64,
    /// Batches committed.
    pub batches: AtomicU64,
    /// Records newly stored.
    pub stored: AtomicU64,
    /// Identical re-deliveries.
    pub duplicates: AtomicU64,
    /// Checkpoints stored or given new cosignatures.
    pub checkpoints: AtomicU64,
    /// Anomalies recorded (gaps excluded; they are kept current in the archive).
    pub anomalies: AtomicU64,
    /// [`Self::anomalies`] by kind, indexed like [`AnomalyKind::ALL`].
    pub anomalies_by_kind: [AtomicU64; AnomalyKind::ALL.len()],
    /// Messages acknowledged to the broker (after their batch committed).
    pub acked: AtomicU64,
    /// Commits that failed and were retried.
    pub commit_failures: AtomicU64,
}

impl CollectCounters {
    /// Adds one committed batch.
    pub fn add(&self, o: &BatchOutcome) {
        self.batches.fetch_add(1, Relaxed);
        self.stored.fetch_add(o.stored, Relaxed);
        self.duplicates.fetch_add(o.duplicates, Relaxed);
        self.checkpoints.fetch_add(o.checkpoints, Relaxed);
        self.anomalies.fetch_add(o.anomalies, Relaxed);
        for (kind, n) in &o.anomalies_by_kind {
            if let Some(i) = AnomalyKind::ALL.iter().position(|k| k == kind) {
                self.anomalies_by_kind[i].fetch_add(*n, Relaxed);
            }
        }
    }

    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Relaxed)
    }
}
