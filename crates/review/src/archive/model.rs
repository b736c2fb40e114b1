//! The words the archive, the collector and the reports share: a gateway's registration, a
//! verified arrival, an anomaly and its kind, a seq range.

use std::fmt;

use edgeproof_evidence::merkle::Hash;

/// A registered gateway: whose log, which key, and where it belongs for the fleet view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// Gateway id.
    pub gateway: String,
    /// Log origin (`edgeproof/<gateway id>` unless the gateway's config says otherwise).
    pub origin: String,
    /// The enrolled key, standard base64 of 32 bytes.
    pub public_key: String,
    /// City (free text, used to filter the fleet view).
    pub city: String,
    /// Enterprise (name or USCC).
    pub enterprise: String,
    /// Project id.
    pub project: String,
    /// The topic prefix it publishes under (its `mqtt.topic_prefix`, default
    /// `edgeproof/<gateway id>`): only messages on `<prefix>/evidence` and
    /// `<prefix>/checkpoint` count for it.
    pub topic_prefix: String,
    /// Its MQTT user name, for the broker ACL (`collect acl`); default the gateway id.
    pub mqtt_user: String,
}

impl Registration {
    /// A gateway with the agent's defaults: origin and topic prefix `edgeproof/<gateway>`,
    /// MQTT user = gateway id, no city, enterprise or project.
    pub fn new(gateway: &str, public_key: &str) -> Registration {
        Registration {
            gateway: gateway.into(),
            origin: format!("edgeproof/{gateway}"),
            public_key: public_key.into(),
            city: String::new(),
            enterprise: String::new(),
            project: String::new(),
            topic_prefix: format!("edgeproof/{gateway}"),
            mqtt_user: gateway.into(),
        }
    }
}

/// An inclusive seq range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Span {
    /// First seq.
    pub first: u64,
    /// Last seq (inclusive).
    pub last: u64,
}

impl Span {
    /// One seq.
    pub fn one(seq: u64) -> Span {
        Span { first: seq, last: seq }
    }

    /// Seqs in the range.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Never empty; present for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "seq {}", self.first)
        } else {
            write!(f, "seq {}–{}", self.first, self.last)
        }
    }
}

/// What kind of problem an anomaly row records. Stored as [`AnomalyKind::as_str`]; changing
/// a spelling breaks stored data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// Records missing below the highest seq known to exist.
    Gap,
    /// A validly signed record different from the one stored for the same seq.
    Conflict,
    /// A record whose signature does not verify under the registered key.
    BadSignature,
    /// A record that is not a readable v1 record, or names another gateway than its origin's.
    BadRecord,
    /// A record's `prev` is not the leaf hash of the stored record before it.
    BrokenLink,
    /// Evidence from an origin nobody registered.
    UnknownGateway,
    /// A checkpoint whose gateway signature does not verify, or that cannot be read.
    BadCheckpoint,
    /// Two checkpoints of one size with different roots.
    CheckpointFork,
    /// A checkpoint whose root is not the tree of the stored records it covers.
    CheckpointMismatch,
    /// A message whose payload names another log than the gateway whose topic it came on:
    /// recorded against that topic's gateway, never stored for the log it names.
    Misrouted,
}

impl AnomalyKind {
    /// Every kind.
    pub const ALL: [AnomalyKind; 10] = [
        AnomalyKind::Gap,
        AnomalyKind::Conflict,
        AnomalyKind::BadSignature,
        AnomalyKind::BadRecord,
        AnomalyKind::BrokenLink,
        AnomalyKind::UnknownGateway,
        AnomalyKind::BadCheckpoint,
        AnomalyKind::CheckpointFork,
        AnomalyKind::CheckpointMismatch,
        AnomalyKind::Misrouted,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::Gap => "gap",
            AnomalyKind::Conflict => "conflict",
            AnomalyKind::BadSignature => "bad_signature",
            AnomalyKind::BadRecord => "bad_record",
            AnomalyKind::BrokenLink => "broken_link",
            AnomalyKind::UnknownGateway => "unknown_gateway",
            AnomalyKind::BadCheckpoint => "bad_checkpoint",
            AnomalyKind::CheckpointFork => "checkpoint_fork",
            AnomalyKind::CheckpointMismatch => "checkpoint_mismatch",
            AnomalyKind::Misrouted => "misrouted",
        }
    }

    /// The kind stored as `s`.
    pub fn parse(s: &str) -> Option<AnomalyKind> {
        AnomalyKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A problem to record (or count again, when its fingerprint is already stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAnomaly {
    /// The log it concerns (for unreadable messages: the topic's gateway prefix).
    pub origin: String,
    /// What kind.
    pub kind: AnomalyKind,
    /// The records involved, when known.
    pub seqs: Option<Span>,
    /// What is wrong, in words.
    pub detail: String,
    /// Identifies the same problem delivered again (MQTT is at least once).
    pub fingerprint: String,
    /// The topic the message came on, when a message is involved.
    pub topic: Option<String>,
    /// The origin the message's payload named, when it names one.
    pub claimed_origin: Option<String>,
}

/// A stored anomaly.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Anomaly {
    /// The log.
    pub origin: String,
    /// What kind.
    pub kind: AnomalyKind,
    /// The records involved, when known.
    pub seqs: Option<Span>,
    /// What is wrong.
    pub detail: String,
    /// How many times it was seen.
    pub count: u64,
    /// First seen, Unix ms.
    pub first_seen_ms: u64,
    /// The topic the message came on (none for gaps and root mismatches, and in rows stored
    /// before schema version 2).
    pub topic: Option<String>,
    /// The origin the message's payload named.
    pub claimed_origin: Option<String>,
}

/// A record whose signature verified under its gateway's registered key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRecord {
    /// Log origin.
    pub origin: String,
    /// Position.
    pub seq: u64,
    /// `typ`.
    pub typ: &'static str,
    /// Wall time of writing, Unix ms.
    pub wall_ms: u64,
    /// RFC 6962 leaf hash of `canonical`.
    pub leaf: Hash,
    /// The record's `prev`.
    pub prev: Hash,
    /// The canonical bytes (what is stored and put in bundles).
    pub canonical: Vec<u8>,
    /// For a usage record with at least one successful poll: the interval's length in ms.
    pub covered_ms: Option<u64>,
}

/// A checkpoint note whose gateway signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCheckpointNote {
    /// Log origin.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The note with its verified signature lines only: the gateway's, and cosignatures that
    /// verified under a trusted witness key.
    pub note: String,
    /// The other signature lines it carried (unknown witnesses, garbage), kept apart.
    pub unverified: Vec<String>,
}

/// One message after verification, ready for the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// A verified record.
    Record(VerifiedRecord),
    /// A verified checkpoint.
    Checkpoint(VerifiedCheckpointNote),
    /// Something wrong, recorded as it is.
    Anomaly(NewAnomaly),
}

impl Arrival {
    /// The origin this arrival belongs to.
    pub fn origin(&self) -> &str {
        match self {
            Arrival::Record(r) => &r.origin,
            Arrival::Checkpoint(c) => &c.origin,
            Arrival::Anomaly(a) => &a.origin,
        }
    }
}

/// What one committed batch did, for logs and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Records newly stored.
    pub stored: u64,
    /// Records already stored, identical (re-deliveries).
    pub duplicates: u64,
    /// Checkpoints newly stored or given new cosignatures.
    pub checkpoints: u64,
    /// Anomaly rows added or counted again (gaps excluded).
    pub anomalies: u64,
    /// [`Self::anomalies`] by kind (kinds with none left out).
    pub anomalies_by_kind: std::collections::BTreeMap<AnomalyKind, u64>,
    /// Records missing in open gaps of the origins touched, after the batch.
    pub missing: u64,
}
