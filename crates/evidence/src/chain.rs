//! The gateway side of the log as a pure state machine: numbering, linking, signing and the
//! running Merkle tree. No I/O: the recorder persists what [`Chain::prepare`] returns and only
//! then calls [`Chain::commit`], so a failed write leaves the chain where it was and no seq
//! is ever skipped or reused.

use super::checkpoint::Checkpoint;
use super::keys::GatewayKey;
use super::merkle::{leaf_hash, CompactTree, Hash};
use super::record::{Body, BootRef, Record, RecordError, SignedRecord, Stamp, RECORD_VERSION};
use super::sign::sign_record;

/// Why a record cannot be appended.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// [`Chain::start_run`] was not called.
    #[error("no agent run started; call start_run before appending records")]
    NoRun,
    /// `enroll` must be seq 0 and only seq 0.
    #[error("record seq {seq}: {typ} — enroll is the first record and only the first")]
    EnrollPosition {
        /// The seq it would get.
        seq: u64,
        /// Its type.
        typ: &'static str,
    },
    /// The prepared record is not the next one (already committed, or from another chain).
    #[error("record seq {got} is not the next record (seq {want})")]
    Stale {
        /// Seq of the prepared record.
        got: u64,
        /// Seq the chain expects.
        want: u64,
    },
    /// The record could not be encoded.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// A signed record ready to be stored, with the bytes to store and its leaf hash.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The record.
    pub record: SignedRecord,
    /// Its canonical bytes (store and publish exactly these).
    pub canonical: Vec<u8>,
    /// Its RFC 6962 leaf hash (the next record's `prev`).
    pub leaf: Hash,
}

/// The state of one gateway's log.
#[derive(Clone, Debug)]
pub struct Chain {
    origin: String,
    gw: String,
    next_seq: u64,
    prev: Hash,
    tree: CompactTree,
    run: Option<BootRef>,
}

impl Chain {
    /// The log name for a gateway id: `edgeproof/<gateway id>`.
    pub fn origin_for(gateway_id: &str) -> String {
        format!("edgeproof/{gateway_id}")
    }

    /// An empty log.
    pub fn new(origin: impl Into<String>, gw: impl Into<String>) -> Self {
        Chain {
            origin: origin.into(),
            gw: gw.into(),
            next_seq: 0,
            prev: Hash::ZERO,
            tree: CompactTree::new(),
            run: None,
        }
    }

    /// Resumes a log from the leaf hashes of its stored records, in seq order.
    pub fn resume(
        origin: impl Into<String>,
        gw: impl Into<String>,
        leaves: impl IntoIterator<Item = Hash>,
    ) -> Self {
        let mut c = Chain::new(origin, gw);
        for l in leaves {
            c.tree.push(l);
            c.prev = l;
            c.next_seq += 1;
        }
        c
    }

    /// Starts a run of the agent: `boot_id` from the kernel, `n` the persisted start counter
    /// (already incremented for this start). Record numbers restart at 0.
    pub fn start_run(&mut self, boot_id: impl Into<String>, n: u64) {
        self.run = Some(BootRef { id: boot_id.into(), n, rec: 0 });
    }

    /// Builds and signs the next record. Nothing changes until [`Chain::commit`].
    pub fn prepare(&self, key: &GatewayKey, t: Stamp, body: Body) -> Result<Prepared, ChainError> {
        let boot = self.run.clone().ok_or(ChainError::NoRun)?;
        let is_enroll = matches!(body, Body::Enroll(_));
        if is_enroll != (self.next_seq == 0) {
            return Err(ChainError::EnrollPosition {
                seq: self.next_seq,
                typ: body.typ().as_str(),
            });
        }
        let record = Record {
            v: RECORD_VERSION,
            origin: self.origin.clone(),
            gw: self.gw.clone(),
            seq: self.next_seq,
            prev: self.prev,
            boot,
            t,
            body,
        };
        let record = sign_record(key, record)?;
        let canonical = record.canonical()?;
        let leaf = leaf_hash(&canonical);
        Ok(Prepared { record, canonical, leaf })
    }

    /// Advances past a prepared record once it is durably stored.
    pub fn commit(&mut self, p: &Prepared) -> Result<(), ChainError> {
        if p.record.record.seq != self.next_seq || p.record.record.prev != self.prev {
            return Err(ChainError::Stale { got: p.record.record.seq, want: self.next_seq });
        }
        self.tree.push(p.leaf);
        self.prev = p.leaf;
        self.next_seq += 1;
        if let Some(run) = &mut self.run {
            run.rec += 1;
        }
        Ok(())
    }

    /// Seq the next record gets (= records so far).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Leaf hash of the last record ([`Hash::ZERO`] when empty).
    pub fn prev(&self) -> Hash {
        self.prev
    }

    /// The log origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree head over all committed records.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint::new(self.origin.clone(), self.tree.size(), self.tree.root())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ConfigChange;

    fn cfg() -> Body {
        Body::Config(ConfigChange { hash: Hash::ZERO, added: vec![], removed: vec![] })
    }

    #[test]
    fn enroll_must_come_first_and_only_first() {
        let key = GatewayKey::from_seed([1; 32]);
        let mut c = Chain::new("edgeproof/gw", "gw");
        let t = Stamp { wall_ms: 1, mono_ms: 1 };
        assert!(matches!(c.prepare(&key, t, cfg()), Err(ChainError::NoRun)));
        c.start_run("boot-a", 1);
        assert!(matches!(c.prepare(&key, t, cfg()), Err(ChainError::EnrollPosition { .. })));
    }

    #[test]
    fn commit_links_and_numbers_and_refuses_replays() {
        let key = GatewayKey::from_seed([1; 32]);
        let mut c = Chain::resume("edgeproof/gw", "gw", [leaf_hash(b"0")]);
        c.start_run("boot-a", 2);
        let t = Stamp { wall_ms: 1, mono_ms: 1 };
        let p1 = c.prepare(&key, t, cfg()).unwrap();
        assert_eq!(p1.record.record.seq, 1);
        assert_eq!(p1.record.record.prev, leaf_hash(b"0"));
        assert_eq!(p1.record.record.boot.rec, 0);
        c.commit(&p1).unwrap();
        assert!(matches!(c.commit(&p1), Err(ChainError::Stale { .. })));
        let p2 = c.prepare(&key, t, cfg()).unwrap();
        assert_eq!(p2.record.record.prev, p1.leaf);
        assert_eq!(p2.record.record.boot.rec, 1);
        c.commit(&p2).unwrap();
        let cp = c.checkpoint();
        assert_eq!(cp.size, 3);
        let all = [leaf_hash(b"0"), p1.leaf, p2.leaf];
        assert_eq!(cp.root, crate::merkle::root_of(&all));
    }
}
