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

    /// The same end to end: a recorder over a journal whose queue refuses (nothing commits
    /// until asked, room for 2 samples), fed as the agent's intake feeds it. The `usage`
    /// record counts the accepted samples per device and the refused ones in its totals.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_usage_record_counts_what_the_journal_accepted_and_totals_what_it_refused() {
        use std::sync::Arc;

        use crate::evidence::record::Body;
        use crate::evidence::recorder::writer::tests::{config, open, records};
        use crate::journal::{HandleOptions, Journal, JournalHandle, JournalOptions};
        use crate::model::{now_ms, Batch, Sample, Value};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite3");
        let cfg = config(dir.path(), "");
        let (journal, _) = Journal::open(&path, JournalOptions::default()).unwrap();
        let options = HandleOptions {
            flush_interval: Duration::from_secs(3600),
            flush_samples: usize::MAX,
            max_queued_samples: 2,
        };
        let (handle, sender, thread) = JournalHandle::start(journal, options).unwrap();
        let (rec, book) = open(&cfg, &handle).await;
        let (mut accepted, mut refused) = (0, 0);
        for i in 0..6u64 {
            let ts = now_ms();
            let batch = Batch {
                device: Arc::from("press"),
                ts_ms: ts,
                samples: vec![Sample::good(Arc::from("rpm"), ts, Value::UInt(i))],
            };
            match sender.try_send_with(batch, |b| book.on_batch(b)) {
                Ok(()) => accepted += 1,
                Err(_) => refused += 1,
            }
        }
        assert_eq!((accepted, refused), (2, 4));
        handle.flush().await.unwrap();
        rec.finish("SIGTERM").await;
        handle.shutdown().await.unwrap();
        thread.join().unwrap();
        let usage: Vec<_> = records(&path)
            .into_iter()
            .filter_map(|r| match r.record.body {
                Body::Usage(u) => Some(u),
                _ => None,
            })
            .collect();
        let read: u64 = usage.iter().map(|u| u.devices[0].points_read).sum();
        let totals_refused: u64 = usage.iter().map(|u| u.totals.refused).sum();
        let journaled: u64 = usage.iter().map(|u| u.totals.journaled).sum();
        assert_eq!((read, journaled, totals_refused), (2, 2, 4));
    }
}
