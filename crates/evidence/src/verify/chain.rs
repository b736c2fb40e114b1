//! Check 2, **chain**: seqs gap-free from 0, no duplicates, records in order, each `prev` the
//! leaf hash of the record before it, every line a readable v1 record. A gap is reported as a
//! gap, with its seq range.

use super::{CheckName, Run};
use crate::merkle::Hash;

impl Run<'_> {
    /// Check 2 between this record and the one before it in the bundle.
    pub(super) fn chain(&mut self, seq: u64, prev_hash: Hash, position: u64) {
        use CheckName::Chain;
        let expected = self.next_seq;
        let duplicate = !self.seen.insert(seq);
        if duplicate {
            self.f.seq(Chain, seq, "duplicate: this seq appeared earlier in the bundle");
        } else if seq > expected {
            self.f.range(
                Chain,
                expected,
                seq - 1,
                format!("missing: {} record(s) absent before seq {seq}", seq - expected),
            );
        } else if seq < expected {
            self.f.seq(Chain, seq, format!("out of order: found after seq {}", expected - 1));
        }
        // The prev link only means something against the record actually before it.
        let want_prev = match (&self.prev, position) {
            (_, 0) => Some(Hash::ZERO),
            (Some(p), _) if p.seq.checked_add(1) == Some(seq) => Some(p.leaf),
            _ => None,
        };
        if let Some(want) = want_prev {
            if prev_hash != want && !duplicate {
                let msg = if position == 0 {
                    "prev of the first record is not 64 zeros".to_string()
                } else {
                    format!("prev does not match the leaf hash of seq {}", seq.saturating_sub(1))
                };
                self.f.seq(Chain, seq, msg);
            }
        }
        self.next_seq = seq.saturating_add(1).max(expected);
    }
}
