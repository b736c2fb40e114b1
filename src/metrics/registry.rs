//! [`Metrics`]: the one registry and every handle, and the text exposition.

use std::fmt;
use std::sync::Arc;

use prometheus::{IntGaugeVec, Opts, Registry, TextEncoder};
use tracing::error;

use super::bus::{BusFamilies, BusMetrics};
use super::device::{DeviceFamilies, DeviceMetrics, PollCycle};
use super::names;
use super::scrape::{lock, Attached, ScrapeCollector};
use super::witness::{WitnessFamilies, WitnessMetrics};
use crate::journal::JournalCounters;
use crate::publish::counters::PublishCounters;

/// The agent's metrics: one prometheus [`Registry`] and all handles. Cheap to clone (every
/// clone shares the same registry); share it as is or in an `Arc`.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    devices: DeviceFamilies,
    buses: BusFamilies,
    witnesses: WitnessFamilies,
    attached: Arc<Attached>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The build's git commit, if the build set `EDGEPROOF_GIT_COMMIT`.
const GIT_COMMIT: &str = match option_env!("EDGEPROOF_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

impl Metrics {
    /// A fresh registry with every family registered and `edgeproof_build_info` set.
    pub fn new() -> Self {
        // Registration fails only for an invalid or duplicate name in `names.rs`: a bug in
        // this module that the unit tests catch, not something input can cause.
        Self::try_new().expect("metric definitions in metrics/names.rs are valid and unique")
    }

    fn try_new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let build = IntGaugeVec::new(
            Opts::new(names::BUILD_INFO.name, names::BUILD_INFO.help),
            names::BUILD_INFO.labels,
        )?;
        registry.register(Box::new(build.clone()))?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION"), GIT_COMMIT]).set(1);
        let devices = DeviceFamilies::register(&registry)?;
        let buses = BusFamilies::register(&registry)?;
        let witnesses = WitnessFamilies::register(&registry)?;
        let attached = Arc::new(Attached::default());
        registry.register(Box::new(ScrapeCollector::new(attached.clone())?))?;
        Ok(Self { inner: Arc::new(Inner { registry, devices, buses, witnesses, attached }) })
    }

    /// The handles for the device named `device` (a config name: labels stay bounded). Call
    /// it once per device when its poll task starts; all its series then exist at 0.
    pub fn device(&self, device: &str) -> DeviceMetrics {
        self.inner.devices.device(device)
    }

    /// Counts one finished poll cycle of `device`; see [`DeviceMetrics::poll_cycle`].
    pub fn poll_cycle(&self, device: &str, cycle: &PollCycle<'_>) {
        self.device(device).poll_cycle(cycle);
    }

    /// Counts `skipped` poll ticks of `device` lost to overruns; see
    /// [`DeviceMetrics::overrun`].
    pub fn overrun(&self, device: &str, skipped: u64) {
        self.device(device).overrun(skipped);
    }

    /// Records whether the connection to `device` is open; see
    /// [`DeviceMetrics::set_connected`].
    pub fn device_connected(&self, device: &str, connected: bool) {
        self.device(device).set_connected(connected);
    }

    /// The handles for the RTU bus named `bus` (a port path or `host:port` from the config);
    /// all its series then exist at 0.
    pub fn bus(&self, bus: &str) -> BusMetrics {
        self.inner.buses.bus(bus)
    }

    /// The handles for the witness at `url` (a config value: labels stay bounded); all its
    /// series then exist at 0.
    pub fn witness(&self, url: &str) -> WitnessMetrics {
        self.inner.witnesses.witness(url)
    }

    /// Exports the journal's counters from now on (replacing any attached before, e.g. after
    /// the journal was reopened).
    pub fn attach_journal(&self, counters: Arc<JournalCounters>) {
        *lock(&self.inner.attached.journal) = Some(counters);
    }

    /// Exports the publisher's counters from now on (replacing any attached before, e.g.
    /// after the publisher was restarted).
    pub fn attach_publish(&self, counters: Arc<PublishCounters>) {
        *lock(&self.inner.attached.publish) = Some(counters);
    }

    /// The text exposition format (version 0.0.4) of every metric, for `GET /metrics`.
    pub fn render(&self) -> String {
        let encoder = TextEncoder::new();
        let mut out = String::new();
        // Family by family, so one malformed family (a bug) costs only itself, not the scrape.
        // The encoder checks a family before it writes any of it.
        for mf in self.inner.registry.gather() {
            if let Err(e) = encoder.encode_utf8(std::slice::from_ref(&mf), &mut out) {
                error!(metric = mf.name(), "metrics: cannot encode {}: {e}", mf.name());
            }
        }
        out
    }
}
