//! The adapters between stages: sources' batches into the journal, poll cycles into metrics.

use std::time::Duration;

use tracing::warn;

use crate::journal::{JournalSender, TrySendError};
use crate::metrics::{Metrics, PollCycle};
use crate::model::Batch;
use crate::source::modbus::rtu::BusEvent;
use crate::source::modbus::CycleStats;
use crate::source::{BatchSink, PollObserver};

/// Sources hand batches to the journal's bounded queue; a full queue drops and counts (the
/// journal counts and logs it), it never blocks a poll loop.
pub(super) struct JournalSink(pub(super) JournalSender);

impl BatchSink for JournalSink {
    fn send(&self, batch: Batch) {
        match self.0.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {} // counted and logged once per episode by the journal
            Err(TrySendError::Closed(b)) => {
                warn!(device = %b.device, "journal closed; batch from a late poll cycle dropped")
            }
        }
    }
}

/// Feeds every poll cycle into the metrics.
pub(super) struct MetricsObserver(pub(super) Metrics);

impl PollObserver for MetricsObserver {
    fn cycle(&self, device: &str, stats: &CycleStats, elapsed: Duration) {
        self.0.poll_cycle(
            device,
            &PollCycle {
                requests: stats.requests,
                ok: stats.ok,
                timeouts: stats.timeouts,
                connection_errors: stats.connection_errors,
                malformed: stats.malformed,
                exceptions: &stats.exceptions,
                duration: elapsed,
                good: stats.good,
                bad: stats.bad,
            },
        );
        self.0.device_connected(device, stats.connected);
    }

    fn overrun(&self, device: &str, n: u64) {
        self.0.overrun(device, n);
    }

    fn bus(&self, bus: &str, event: &BusEvent<'_>) {
        let metrics = self.0.bus(bus);
        match *event {
            BusEvent::Request { .. } => metrics.request(),
            BusEvent::FrameError { device, kind } => metrics.frame_error(device, kind.as_str()),
            BusEvent::Discarded { bytes } => metrics.discarded(bytes),
        }
    }
}
