//! Per-bus metrics for RTU buses (serial ports and RTU-over-TCP), pushed by the bus tasks:
//! requests written, unusable frames (per bus and per unit) and bytes discarded while
//! resynchronising. The bus task logs each event with its detail (CRC values, byte counts);
//! these handles only count, with the same labels.

use std::fmt;
use std::sync::Arc;

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

use super::names::{self, MetricDef};

fn counter_vec(registry: &Registry, def: &MetricDef) -> prometheus::Result<IntCounterVec> {
    debug_assert_eq!(def.kind, names::Kind::Counter, "{}", def.name);
    let vec = IntCounterVec::new(Opts::new(def.name, def.help), def.labels)?;
    registry.register(Box::new(vec.clone()))?;
    Ok(vec)
}

/// The labelled families for all buses, registered once per [`super::Metrics`].
#[derive(Clone)]
pub(super) struct BusFamilies {
    requests: IntCounterVec,
    frame_errors: IntCounterVec,
    discarded: IntCounterVec,
    device_frame_errors: IntCounterVec,
}

impl BusFamilies {
    pub(super) fn register(registry: &Registry) -> prometheus::Result<Self> {
        Ok(Self {
            requests: counter_vec(registry, &names::BUS_REQUESTS)?,
            frame_errors: counter_vec(registry, &names::BUS_FRAME_ERRORS)?,
            discarded: counter_vec(registry, &names::BUS_DISCARDED_BYTES)?,
            device_frame_errors: counter_vec(registry, &names::DEVICE_FRAME_ERRORS)?,
        })
    }

    /// The handles for one bus; every fixed-label series of the bus exists at 0 afterwards.
    pub(super) fn bus(&self, name: &str) -> BusMetrics {
        BusMetrics {
            bus: Arc::from(name),
            requests: self.requests.with_label_values(&[name]),
            frame_errors: names::FRAME_ERROR_KINDS
                .map(|kind| self.frame_errors.with_label_values(&[name, kind])),
            discarded: self.discarded.with_label_values(&[name]),
            device_frame_errors: self.device_frame_errors.clone(),
        }
    }
}

/// One bus's metric handles. Cheap to clone.
#[derive(Clone)]
pub struct BusMetrics {
    bus: Arc<str>,
    requests: IntCounter,
    /// Indexed like [`names::FRAME_ERROR_KINDS`].
    frame_errors: [IntCounter; 3],
    discarded: IntCounter,
    device_frame_errors: IntCounterVec,
}

impl fmt::Debug for BusMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusMetrics").field("bus", &self.bus).finish_non_exhaustive()
    }
}

impl BusMetrics {
    /// The bus these handles count for.
    pub fn bus(&self) -> &str {
        &self.bus
    }

    /// Counts one request written to the line.
    pub fn request(&self) {
        self.requests.inc();
    }

    /// Counts one unusable frame on the bus and, when it came from the unit of a `device`,
    /// for that device; `kind` is one of [`names::FRAME_ERROR_KINDS`] (anything else is
    /// ignored).
    pub fn frame_error(&self, device: Option<&str>, kind: &str) {
        let Some(i) = names::FRAME_ERROR_KINDS.iter().position(|k| *k == kind) else {
            debug_assert!(false, "unknown frame error kind {kind:?}");
            return;
        };
        self.frame_errors[i].inc();
        if let Some(device) = device {
            self.device_frame_errors.with_label_values(&[device, kind]).inc();
        }
    }

    /// Counts `bytes` read and thrown away while waiting for the line to fall silent.
    pub fn discarded(&self, bytes: u64) {
        self.discarded.inc_by(bytes);
    }
}
