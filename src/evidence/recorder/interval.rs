//! Closing `usage` intervals: the pipeline counter deltas of an interval ([`Baseline`]), the
//! `endpoint_local` lookups its devices carry, and the `usage` record written when the
//! interval ends (or at a stop).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::clock;
use super::endpoint::endpoint_is_local;
use super::writer::Recorder;
use crate::evidence::record::{Body, Totals, Usage};
use crate::journal::CountersSnapshot;

/// Longest wait after an interval's end before it is closed.
pub(super) const MAX_GRACE: Duration = Duration::from_secs(5);

/// How often `endpoint_local` is looked up again (names may resolve differently).
const ENDPOINT_REFRESH: Duration = Duration::from_secs(3600);

/// The pipeline counters at one moment, to take interval deltas from.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Baseline {
    journaled: u64,
    acked: u64,
    dropped: u64,
    refused: u64,
}

impl Baseline {
    pub(super) fn of(s: &CountersSnapshot) -> Self {
        Baseline {
            journaled: s.appended_samples,
            acked: s.acked_samples,
            dropped: s.dropped_samples_total,
            refused: s.queue_full_samples,
        }
    }

    pub(super) fn totals_since(&self, now: &CountersSnapshot) -> Totals {
        Totals {
            journaled: now.appended_samples.saturating_sub(self.journaled),
            acked: now.acked_samples.saturating_sub(self.acked),
            backlog: now.samples,
            dropped: now.dropped_samples_total.saturating_sub(self.dropped),
            refused: now.queue_full_samples.saturating_sub(self.refused),
        }
    }
}

impl Recorder {
    /// Closes the interval being collected; `last` at a stop (ends now, not at the boundary).
    pub(super) async fn close_interval(&mut self, last: bool) {
        self.watch_clock().await;
        let now = clock::now();
        let split = self.book.split_ms();
        let end = if last && now.wall_ms < split { now } else { clock::at_wall(now, split) };
        if end.wall_ms <= self.interval_start.wall_ms {
            return;
        }
        if self.local_at.is_none_or(|at| at.elapsed() >= ENDPOINT_REFRESH) {
            self.refresh_endpoints().await;
        }
        let mut devices = self.book.rotate(now.wall_ms);
        for d in &mut devices {
            d.endpoint_local = self.local.get(&d.endpoint).copied().unwrap_or(false);
        }
        let snapshot = self.counters.snapshot();
        let totals = self.interval_base.totals_since(&snapshot);
        let usage = Usage { start: self.interval_start, end, devices, totals };
        self.append_logged(Body::Usage(usage)).await;
        self.interval_start = end;
        self.interval_base = Baseline::of(&snapshot);
    }

    pub(super) async fn refresh_endpoints(&mut self) {
        let endpoints = self.book.endpoints();
        let mut local = HashMap::with_capacity(endpoints.len());
        for e in endpoints {
            let is_local = endpoint_is_local(&e).await;
            local.insert(e, is_local);
        }
        self.local = local;
        self.local_at = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14, finding 8: samples the journal refused appear in the interval's totals.
    #[test]
    fn refusals_are_in_the_interval_totals() {
        let at = |appended, queue_full| CountersSnapshot {
            appended_samples: appended,
            queue_full_samples: queue_full,
            ..CountersSnapshot::default()
        };
        let base = Baseline::of(&at(100, 7));
        let t = base.totals_since(&at(150, 19));
        assert_eq!((t.journaled, t.refused), (50, 12));
    }
}
