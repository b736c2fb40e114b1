//! The adapter from the sources' poll cycles into the metrics (batches go through
//! [`super::intake`]).

use std::time::Duration;

use crate::metrics::{Metrics, PollCycle};
use crate::source::modbus::rtu::BusEvent;
use crate::source::modbus::CycleStats;
use crate::source::PollObserver;

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
