//! What the archive tells about each gateway for the fleet view, as stored (no judgement:
//! [`crate::archive::fleet`] turns these into red flags and an order).

use std::collections::BTreeMap;

use super::model::{AnomalyKind, Registration};

/// The latest checkpoint of a gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastCheckpoint {
    /// Tree size.
    pub size: u64,
    /// Signature lines in its note (1 = the gateway's only; more = cosignatures).
    pub signatures: u64,
    /// When the collector received it (or its last cosignature), Unix ms.
    pub received_ms: u64,
    /// 0 records incomplete, 1 root matches the records, 2 mismatch.
    pub root_checked: i64,
    /// The note, with every signature line collected.
    pub note: String,
}

/// One gateway's stored figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayRow {
    /// Registration.
    pub reg: Registration,
    /// Records stored.
    pub records: u64,
    /// Highest seq known to exist.
    pub horizon: Option<u64>,
    /// Wall time of the earliest stored record.
    pub first_wall_ms: Option<u64>,
    /// Wall time of the latest stored record.
    pub last_wall_ms: Option<u64>,
    /// When the collector last stored something for it.
    pub last_received_ms: Option<u64>,
    /// Usage time with successful polls per UTC day (days since 1970-01-01), last 90 days.
    pub covered_by_day: BTreeMap<i64, u64>,
    /// The latest checkpoint.
    pub last_checkpoint: Option<LastCheckpoint>,
    /// Open anomalies by kind: (rows, seqs involved).
    pub anomalies: BTreeMap<AnomalyKind, (u64, u64)>,
}
