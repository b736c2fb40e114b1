//! Reading the stored log back at start: everything the recorder needs to continue it is in
//! the records themselves — the leaf hashes (chain and tree), the last record (how the
//! previous run ended, the start counter), the device map and config hash last recorded, the
//! fingerprint last recorded per device, and the size each witness last cosigned. No other
//! state file can disagree with the log.

use std::collections::{BTreeSet, HashMap};

use super::super::canonical;
use super::super::merkle::{leaf_hash, Hash};
use super::super::record::{Body, RecordType, SignedRecord, Stamp};

/// The last stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastRecord {
    /// Its seq.
    pub seq: u64,
    /// Its type.
    pub typ: RecordType,
    /// Its wall time.
    pub wall_ms: u64,
}

/// What the stored log says.
#[derive(Debug, Default, Clone)]
pub struct LogState {
    /// Leaf hash of every record, in seq order.
    pub leaves: Vec<Hash>,
    /// The last record, if any.
    pub last: Option<LastRecord>,
    /// The highest agent start counter (`boot.n`) in the log.
    pub max_boot_n: u64,
    /// Log origin, gateway id and public key (base64) of the `enroll` record.
    pub enrolled: Option<(String, String, String)>,
    /// Config hash of the last `boot` or `config` record.
    pub config_hash: Option<Hash>,
    /// The declared device ids: `enroll`'s inventory with every `config` change applied.
    pub devices: BTreeSet<String>,
    /// Fingerprint of the last `device` record per device id.
    pub fingerprints: HashMap<String, Hash>,
    /// Largest tree size of the `anchor` records per witness key name: what each witness
    /// last cosigned.
    pub anchored: HashMap<String, u64>,
    /// Kernel boot id and clocks of the last record: at start, within the same boot, the
    /// recorder compares them with the clocks now to find a wall-clock step made while it
    /// was stopped.
    pub last_clock: Option<(String, Stamp)>,
}

/// A stored record that cannot be read back: only damage or a bug does this, and the
/// recorder must not append to a log it cannot follow.
#[derive(Debug, thiserror::Error)]
#[error("stored evidence record seq {seq} cannot be read back: {why}")]
pub struct ReplayError {
    /// The record's seq in the store.
    pub seq: u64,
    /// What is wrong.
    pub why: String,
}

impl LogState {
    /// Feeds the next stored record (`seq` as stored, `payload` its bytes).
    pub fn push(&mut self, seq: u64, payload: &[u8]) -> Result<(), ReplayError> {
        let expected = self.leaves.len() as u64;
        if seq != expected {
            return Err(ReplayError {
                seq,
                why: format!("expected seq {expected} (gap in the store)"),
            });
        }
        let value = canonical::parse(payload)
            .map_err(|e| ReplayError { seq, why: format!("not canonical JSON: {e}") })?;
        let record =
            SignedRecord::from_json(value).map_err(|e| ReplayError { seq, why: e.to_string() })?;
        let r = &record.record;
        if r.seq != seq {
            return Err(ReplayError { seq, why: format!("record says seq {}", r.seq) });
        }
        self.leaves.push(leaf_hash(payload));
        self.last = Some(LastRecord { seq, typ: r.typ(), wall_ms: r.t.wall_ms });
        self.last_clock = Some((r.boot.id.clone(), r.t));
        self.max_boot_n = self.max_boot_n.max(r.boot.n);
        match &r.body {
            Body::Enroll(e) => {
                self.enrolled = Some((r.origin.clone(), r.gw.clone(), e.key.clone()));
                self.devices = e.inventory.iter().map(|d| d.id.clone()).collect();
            }
            Body::Boot(b) => self.config_hash = Some(b.config_hash),
            Body::Config(c) => {
                self.config_hash = Some(c.hash);
                for id in &c.removed {
                    self.devices.remove(id);
                }
                self.devices.extend(c.added.iter().cloned());
            }
            Body::Device(d) => {
                self.fingerprints.insert(d.id.clone(), d.fingerprint);
            }
            Body::Anchor(a) => {
                let size = self.anchored.entry(a.witness.clone()).or_default();
                *size = (*size).max(a.size);
            }
            Body::Usage(_) | Body::Shutdown(_) | Body::Clock(_) => {}
        }
        Ok(())
    }

    /// Records stored.
    pub fn len(&self) -> u64 {
        self.leaves.len() as u64
    }

    /// True for a log without records (first run).
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }
}
