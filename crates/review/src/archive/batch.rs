//! Backend-independent steps of committing a batch: grouping arrivals by gateway, turning
//! arrivals for an origin that has no registration into one anomaly, and checking
//! checkpoint roots against the stored leaves.

use std::collections::BTreeMap;

use super::model::{
    AnomalyKind, Arrival, NewAnomaly, Span, VerifiedCheckpointNote, VerifiedRecord,
};
use edgeproof_evidence::merkle::{Hash, Tree};

/// A batch's arrivals by origin.
#[derive(Debug, Default)]
pub struct Grouped {
    /// Records and checkpoints per origin.
    pub by_origin: BTreeMap<String, (Vec<VerifiedRecord>, Vec<VerifiedCheckpointNote>)>,
    /// Anomalies found before the archive was asked.
    pub anomalies: Vec<NewAnomaly>,
}

/// Groups arrivals by origin.
pub fn group(arrivals: Vec<Arrival>) -> Grouped {
    let mut g = Grouped::default();
    for a in arrivals {
        match a {
            Arrival::Record(r) => g.by_origin.entry(r.origin.clone()).or_default().0.push(r),
            Arrival::Checkpoint(c) => g.by_origin.entry(c.origin.clone()).or_default().1.push(c),
            Arrival::Anomaly(a) => g.anomalies.push(a),
        }
    }
    g
}

/// One counted anomaly for evidence from an origin nobody registered, with the seq range of
/// the records seen (merged with earlier ones by the backend's upsert).
pub fn unknown_gateway(origin: &str, seqs: impl IntoIterator<Item = u64>) -> NewAnomaly {
    let mut span: Option<Span> = None;
    for s in seqs {
        span = Some(match span {
            None => Span::one(s),
            Some(sp) => Span { first: sp.first.min(s), last: sp.last.max(s) },
        });
    }
    NewAnomaly {
        origin: origin.into(),
        kind: AnomalyKind::UnknownGateway,
        seqs: span,
        detail: format!(
            "evidence from {origin:?}, which is not registered (edgeproof collect add-gateway); \
             not stored"
        ),
        fingerprint: format!("unknown_gateway|{origin}"),
        topic: None,
        claimed_origin: None,
    }
}

/// Checks each `(size, root)` against the tree of `leaves` (records from seq 0, all stored):
/// returns the sizes whose root differs.
pub fn mismatched_roots(leaves: Vec<Hash>, checkpoints: &[(u64, Hash)]) -> Vec<u64> {
    let tree = Tree::from_leaves(leaves);
    checkpoints
        .iter()
        .filter(|(size, root)| tree.root_at(*size) != Some(*root))
        .map(|(size, _)| *size)
        .collect()
}

/// The anomaly for a checkpoint whose root is not the stored records' tree.
pub fn root_mismatch(origin: &str, size: u64) -> NewAnomaly {
    NewAnomaly {
        origin: origin.into(),
        kind: AnomalyKind::CheckpointMismatch,
        seqs: size.checked_sub(1).map(|l| Span { first: 0, last: l }),
        detail: format!(
            "the signed checkpoint of size {size} does not match the tree of the stored records \
             0–{}",
            size.saturating_sub(1)
        ),
        fingerprint: format!("checkpoint_mismatch|{origin}|{size}"),
        topic: None,
        claimed_origin: None,
    }
}
