//! Watching the wall clock while running: a step since the last record (NTP, an operator,
//! an RTC reset) is recorded as a `clock` record and the interval being collected moves onto
//! the new clock.

use tracing::warn;

use super::clock;
use super::writer::Recorder;
use crate::evidence::record::{Body, ClockStep};

impl Recorder {
    /// Records a wall-clock step since the last record (NTP, an operator, an RTC reset) in a
    /// `clock` record, so the step is explained in the log rather than found by `verify`,
    /// and moves the interval being collected onto the new clock.
    pub(super) async fn watch_clock(&mut self) {
        let Some(from) = self.clock_ref else { return };
        let now = clock::now();
        let Some(step_ms) = clock::step(from, now) else { return };
        warn!(
            step_ms,
            since_seq = self.last.as_ref().map(|l| l.seq),
            "the wall clock was stepped while running; recording it in the evidence log"
        );
        if self.append_logged(Body::Clock(ClockStep { step_ms })).await {
            let start = i64::try_from(self.interval_start.wall_ms).unwrap_or(i64::MAX);
            self.interval_start.wall_ms = u64::try_from(start.saturating_add(step_ms)).unwrap_or(0);
            self.book.restart_grid(now.wall_ms);
        }
    }
}
