//! What the archive tells about each gateway for the fleet view, as stored (no judgement:
//! [`crate::archive::fleet`] turns these into red flags and an order).

use std::collections::BTreeMap;

use super::model::{AnomalyKind, Registration, Span};

/// Most anomaly rows per gateway and kind the fleet view lists with their ranges (the
/// counts in [`GatewayRow::anomalies`] cover all of them).
pub const SPANS_PER_KIND: usize = 10;

/// Where and when one stored anomaly lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnomalySpan {
    /// The records involved.
    pub seqs: Option<Span>,
    /// Start of its time range, Unix ms: for a gap, the wall time of the stored record just
    /// before it (the gateway's clock); otherwise when the collector first saw it.
    pub from_ms: Option<u64>,
    /// End of its time range: for a gap, the wall time of the stored record just after it;
    /// otherwise when the collector last saw it.
    pub to_ms: Option<u64>,
}

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
    /// The note, with the signature lines the collector verified.
    pub note: String,
    /// The lines it kept apart as unverified, one per line: they count only if they verify
    /// under a witness key the reader trusts ([`crate::archive::cosigned_by`]).
    pub unverified: String,
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
    /// The first [`SPANS_PER_KIND`] anomaly rows of each kind, by seq, with their ranges.
    pub spans: BTreeMap<AnomalyKind, Vec<AnomalySpan>>,
}

/// The query both backends run for [`GatewayRow::spans`]: every anomaly row with the wall
/// times of the stored records around it. Columns: origin, kind, first_seq, last_seq,
/// first_seen_ms, last_seen_ms, wall time before, wall time after.
pub const SPANS_SQL: &str =
    "SELECT a.origin, a.kind, a.first_seq, a.last_seq, a.first_seen_ms, a.last_seen_ms,
        b.wall_ms, n.wall_ms
 FROM anomalies a
 LEFT JOIN records b ON a.kind = 'gap' AND b.origin = a.origin AND b.seq = a.first_seq - 1
 LEFT JOIN records n ON a.kind = 'gap' AND n.origin = a.origin AND n.seq = a.last_seq + 1
 ORDER BY a.origin, a.kind, a.first_seq, a.id";

/// Adds one row of [`SPANS_SQL`] to `row`.
#[allow(clippy::too_many_arguments)]
pub fn add_span(
    row: &mut GatewayRow,
    kind: AnomalyKind,
    first: Option<i64>,
    last: Option<i64>,
    first_seen: i64,
    last_seen: i64,
    before: Option<i64>,
    after: Option<i64>,
) {
    let list = row.spans.entry(kind).or_default();
    if list.len() >= SPANS_PER_KIND {
        return;
    }
    let seqs = match (first, last) {
        (Some(f), Some(l)) => Some(Span { first: f as u64, last: l as u64 }),
        _ => None,
    };
    let (from_ms, to_ms) = if kind == AnomalyKind::Gap {
        (before.map(|t| t as u64), after.map(|t| t as u64))
    } else {
        (Some(first_seen as u64), Some(last_seen as u64))
    };
    list.push(AnomalySpan { seqs, from_ms, to_ms });
}
