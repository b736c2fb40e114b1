//! Watching the wall clock while running: a step since the last record (NTP, an operator,
//! an RTC reset) is recorded as a `clock` record and the interval being collected moves onto
//! the new clock.

use tracing::warn;

use super::clock;
use super::error::RecorderError;
use super::writer::Recorder;
use crate::evidence::record::{Body, ClockStep, Stamp};

impl Recorder {
    /// At start, right after the `boot` record: when the last stored record was written in
    /// this same kernel boot, its clocks and the `boot` record's must move together; if the
    /// wall clock was stepped while the agent was stopped (an NTP step at service restart on
    /// a gateway without an RTC), a `clock` record says so as record 1 of the run, its
    /// step measured from that last record. `verify` matches it with the jump it sees at the
    /// `boot` record. Across a reboot CLOCK_BOOTTIME restarts and nothing can be measured.
    pub(super) async fn record_step_while_stopped(
        &mut self,
        last: Option<&(String, Stamp)>,
    ) -> Result<(), RecorderError> {
        let (Some((boot_id, before)), Some(at_boot)) = (last, self.clock_ref) else {
            return Ok(());
        };
        if *boot_id != clock::boot_id() {
            return Ok(());
        }
        let Some(step_ms) = clock::step(*before, at_boot) else { return Ok(()) };
        warn!(
            step_ms,
            "the wall clock was stepped while the agent was stopped; recording it in the \
             evidence log"
        );
        self.append(Body::Clock(ClockStep { step_ms })).await
    }

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
