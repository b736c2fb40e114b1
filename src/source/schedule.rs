//! The poll scheduler: one task per device, fixed-rate ticks per poll interval.
//!
//! Each plan group (points sharing a poll interval) has its own due time on a fixed grid
//! (`start + n × interval`). When a cycle overruns its interval the missed ticks are
//! **skipped**, not burst: the next due time moves to the first grid point in the future, and
//! each skipped tick is counted. A device task only ever waits on its own device, so a device
//! that is down or slow never delays another.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::modbus::reader::{CycleStats, DeviceReader};
use super::modbus::rtu::BusEvent;
use super::modbus::{DeviceIdentity, ModbusLink};
use super::sink::BatchSink;
use crate::model::{now_ms, Batch};

/// Observes every cycle of every device (metrics, evidence). Cheap and non-blocking.
pub trait PollObserver: Send + Sync + 'static {
    /// What a Modbus device said about itself (FC 43/14, asked once per connection), seen
    /// after each wake-up that read it. Ignored unless the observer cares (evidence does:
    /// the device fingerprint).
    fn identified(&self, device: &str, identity: &DeviceIdentity) {
        let _ = (device, identity);
    }
    /// Who an OPC UA server said it is, taken each time a session comes up. Ignored unless
    /// the observer cares (evidence does: the device fingerprint).
    fn opcua_identified(
        &self,
        device: &str,
        fingerprint: &crate::source::opcua::DeviceFingerprint,
    ) {
        let _ = (device, fingerprint);
    }
    /// One group of a device was read.
    fn cycle(&self, device: &str, stats: &CycleStats, elapsed: Duration);
    /// `n` ticks of a device were skipped because a cycle overran.
    fn overrun(&self, device: &str, n: u64);
    /// Something happened on the RTU bus named `bus` (a request, a bad frame, discarded
    /// bytes). Ignored unless the observer cares about buses.
    fn bus(&self, bus: &str, event: &BusEvent<'_>) {
        let _ = (bus, event);
    }
}

/// An observer that does nothing.
pub struct NoObserver;

impl PollObserver for NoObserver {
    fn cycle(&self, _: &str, _: &CycleStats, _: Duration) {}
    fn overrun(&self, _: &str, _: u64) {}
}

/// Advances `due` past `now` on the grid of `interval`; returns how many ticks were skipped.
pub fn next_due(due: Instant, interval: Duration, now: Instant) -> (Instant, u64) {
    let mut next = due + interval;
    if next > now {
        return (next, 0);
    }
    let behind = now.duration_since(next);
    let skipped = (behind.as_nanos() / interval.as_nanos().max(1)) as u64 + 1;
    next += interval * (skipped as u32);
    (next, skipped)
}

/// Polls one device until `cancel` fires: reads each plan group when it is due and sends one
/// [`Batch`] per wake-up with everything read.
pub async fn run_device<L: ModbusLink>(
    mut reader: DeviceReader<L>,
    sink: Arc<dyn BatchSink>,
    observer: Arc<dyn PollObserver>,
    cancel: CancellationToken,
) {
    let device = reader.device().clone();
    let start = Instant::now();
    let mut due: Vec<(Instant, Duration)> =
        reader.plan().groups.iter().map(|g| (start, g.poll)).collect();
    if due.is_empty() {
        info!(device = %device, "device has no points; not polling it");
        return;
    }
    info!(device = %device, groups = due.len(), requests = reader.plan().requests_per_cycle(), "polling device");
    let mut readings = Vec::new();
    loop {
        let Some(wake) = due.iter().map(|(t, _)| *t).min() else { return };
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep_until(wake) => {}
        }
        let tick_ms = now_ms();
        readings.clear();
        for (g, (at, interval)) in due.iter_mut().enumerate() {
            if *at > Instant::now() {
                continue;
            }
            let began = std::time::Instant::now();
            let stats = reader.read_group(g, &mut readings).await;
            observer.cycle(&device, &stats, began.elapsed());
            let (next, skipped) = next_due(*at, *interval, Instant::now());
            if skipped > 0 {
                debug!(device = %device, skipped, interval = ?interval, "poll overran its interval; skipping ticks");
                observer.overrun(&device, skipped);
            }
            *at = next;
        }
        if let Some(identity) = reader.link().identity() {
            observer.identified(&device, identity);
        }
        if !readings.is_empty() {
            let samples = readings.drain(..).map(|r| r.sample).collect();
            sink.send(Batch { device: device.clone(), ts_ms: tick_ms, samples });
        }
    }
    info!(device = %device, "stopped polling device");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_due_stays_on_the_grid_and_counts_skips() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        assert_eq!(next_due(t0, s, t0 + Duration::from_millis(300)), (t0 + s, 0));
        assert_eq!(next_due(t0, s, t0 + Duration::from_millis(1000)), (t0 + 2 * s, 1));
        assert_eq!(next_due(t0, s, t0 + Duration::from_millis(3500)), (t0 + 4 * s, 3));
    }
}
