//! Per-device metrics, pushed by the poll scheduler: one [`PollCycle`] summary per cycle,
//! overruns, and the connection state. Each method counts and logs the same event, so the
//! scheduler does not log these summaries itself.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge};
use prometheus::{IntGaugeVec, Opts, Registry};
use tracing::{debug, warn};

use super::names::{self, MetricDef};

/// What one poll cycle of one device did. Plain numbers, so any source (Modbus, OPC UA) can
/// fill it in; fields not relevant to a protocol stay 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollCycle<'a> {
    /// Requests sent in this cycle.
    pub requests: u32,
    /// Requests answered with usable data.
    pub ok: u32,
    /// Requests the device did not answer in time.
    pub timeouts: u32,
    /// Requests lost because the connection could not be opened or broke.
    pub connection_errors: u32,
    /// Answers that could not be parsed or did not match the request.
    pub malformed: u32,
    /// The exception code of each request answered with a Modbus exception (one entry per
    /// failed request, repeats allowed).
    pub exceptions: &'a [u8],
    /// Wall time of the whole cycle.
    pub duration: Duration,
    /// Samples produced with good quality.
    pub good: u32,
    /// Samples produced with bad quality.
    pub bad: u32,
}

/// The labelled families for all devices, registered once per [`super::Metrics`].
#[derive(Clone)]
pub(super) struct DeviceFamilies {
    polls: IntCounterVec,
    requests: IntCounterVec,
    errors: IntCounterVec,
    duration: HistogramVec,
    points: IntCounterVec,
    exceptions: IntCounterVec,
    overruns: IntCounterVec,
    connected: IntGaugeVec,
}

fn counter_vec(registry: &Registry, def: &MetricDef) -> prometheus::Result<IntCounterVec> {
    debug_assert_eq!(def.kind, names::Kind::Counter, "{}", def.name);
    let vec = IntCounterVec::new(Opts::new(def.name, def.help), def.labels)?;
    registry.register(Box::new(vec.clone()))?;
    Ok(vec)
}

fn gauge_vec(registry: &Registry, def: &MetricDef) -> prometheus::Result<IntGaugeVec> {
    debug_assert_eq!(def.kind, names::Kind::Gauge, "{}", def.name);
    let vec = IntGaugeVec::new(Opts::new(def.name, def.help), def.labels)?;
    registry.register(Box::new(vec.clone()))?;
    Ok(vec)
}

fn histogram_vec(
    registry: &Registry,
    def: &MetricDef,
    buckets: &[f64],
) -> prometheus::Result<HistogramVec> {
    debug_assert_eq!(def.kind, names::Kind::Histogram, "{}", def.name);
    let opts = HistogramOpts::new(def.name, def.help).buckets(buckets.to_vec());
    let vec = HistogramVec::new(opts, def.labels)?;
    registry.register(Box::new(vec.clone()))?;
    Ok(vec)
}

impl DeviceFamilies {
    pub(super) fn register(registry: &Registry) -> prometheus::Result<Self> {
        Ok(Self {
            polls: counter_vec(registry, &names::DEVICE_POLLS)?,
            requests: counter_vec(registry, &names::DEVICE_REQUESTS)?,
            errors: counter_vec(registry, &names::DEVICE_POLL_ERRORS)?,
            duration: histogram_vec(
                registry,
                &names::DEVICE_POLL_DURATION,
                &names::POLL_DURATION_BUCKETS,
            )?,
            points: counter_vec(registry, &names::DEVICE_POINTS_READ)?,
            exceptions: counter_vec(registry, &names::DEVICE_MODBUS_EXCEPTIONS)?,
            overruns: counter_vec(registry, &names::DEVICE_OVERRUNS)?,
            connected: gauge_vec(registry, &names::DEVICE_CONNECTED)?,
        })
    }

    /// The handles for one device. Creating them makes every fixed-label series exist at 0,
    /// so `rate()` and alerts work from the first scrape.
    pub(super) fn device(&self, name: &str) -> DeviceMetrics {
        let errors = names::ERROR_KINDS.map(|kind| self.errors.with_label_values(&[name, kind]));
        DeviceMetrics {
            device: Arc::from(name),
            polls: self.polls.with_label_values(&[name]),
            requests: self.requests.with_label_values(&[name]),
            errors,
            duration: self.duration.with_label_values(&[name]),
            good: self.points.with_label_values(&[name, names::QUALITY_GOOD]),
            bad: self.points.with_label_values(&[name, names::QUALITY_BAD]),
            exceptions: self.exceptions.clone(),
            overruns: self.overruns.with_label_values(&[name]),
            connected: self.connected.with_label_values(&[name]),
        }
    }
}

/// One device's metric handles. Cheap to clone; a poll task keeps one for its lifetime so the
/// hot path does no label lookups (except per exception code, which is rare).
#[derive(Clone)]
pub struct DeviceMetrics {
    device: Arc<str>,
    polls: IntCounter,
    requests: IntCounter,
    /// Indexed like [`names::ERROR_KINDS`].
    errors: [IntCounter; 4],
    duration: Histogram,
    good: IntCounter,
    bad: IntCounter,
    exceptions: IntCounterVec,
    overruns: IntCounter,
    connected: IntGauge,
}

impl fmt::Debug for DeviceMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceMetrics").field("device", &self.device).finish_non_exhaustive()
    }
}

/// Upper-case two-digit hex, as Modbus documentation writes exception codes.
fn exception_label(code: u8) -> String {
    format!("{code:02X}")
}

impl DeviceMetrics {
    /// The device name these handles count for.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Counts one finished poll cycle and logs its summary at debug level.
    pub fn poll_cycle(&self, cycle: &PollCycle<'_>) {
        self.polls.inc();
        self.requests.inc_by(u64::from(cycle.requests));
        let [timeouts, exceptions, connection, malformed] = &self.errors;
        timeouts.inc_by(u64::from(cycle.timeouts));
        exceptions.inc_by(cycle.exceptions.len() as u64);
        connection.inc_by(u64::from(cycle.connection_errors));
        malformed.inc_by(u64::from(cycle.malformed));
        for &code in cycle.exceptions {
            self.exceptions.with_label_values(&[&*self.device, &exception_label(code)]).inc();
        }
        self.duration.observe(cycle.duration.as_secs_f64());
        self.good.inc_by(u64::from(cycle.good));
        self.bad.inc_by(u64::from(cycle.bad));
        debug!(
            device = %self.device,
            requests = cycle.requests,
            ok = cycle.ok,
            timeouts = cycle.timeouts,
            connection_errors = cycle.connection_errors,
            malformed = cycle.malformed,
            exceptions = ?cycle.exceptions.iter().map(|&c| exception_label(c)).collect::<Vec<_>>(),
            duration_ms = cycle.duration.as_millis() as u64,
            good = cycle.good,
            bad = cycle.bad,
            "device {}: poll cycle finished",
            self.device
        );
    }

    /// Counts `skipped` poll ticks that were dropped because the previous cycle was still
    /// running, and warns: the device (or bus) is slower than its poll interval.
    pub fn overrun(&self, skipped: u64) {
        if skipped == 0 {
            return;
        }
        self.overruns.inc_by(skipped);
        warn!(
            device = %self.device,
            skipped,
            "device {}: skipped {skipped} poll tick(s) because the previous poll cycle outlasted \
             the poll interval",
            self.device
        );
    }

    /// Records whether the connection to the device is open; logs only when that changes.
    pub fn set_connected(&self, connected: bool) {
        let now = i64::from(connected);
        let before = self.connected.get();
        self.connected.set(now);
        if before == now {
            return;
        }
        if connected {
            debug!(device = %self.device, "device {}: connected", self.device);
        } else {
            debug!(device = %self.device, "device {}: disconnected", self.device);
        }
    }
}
