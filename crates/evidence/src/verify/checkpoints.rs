//! Check 3, **checkpoints**: every checkpoint line verifies under the enrolled key (C2SP
//! tlog-checkpoint, signed note) and its root equals the RFC 6962 tree of the records at seq
//! positions `[0, size)`.
//!
//! Trees are rebuilt **by seq position**, never by line order: a record missing in the middle
//! must not shift every later record and make every later checkpoint look forged. So a
//! checkpoint is compared only where all its records are present:
//!
//! - all of `[0, size)` present: its root must match (another root = records changed,
//!   removed, added or reordered and re-signed);
//! - records missing inside `[0, size)` while later ones are present: it *cannot be checked*
//!   over that range (noted; the gap itself is check 2's finding);
//! - nothing present from some seq on, but the checkpoint covers more: the tail was cut.

use std::collections::HashMap;

use super::{CheckName, Run};
use crate::checkpoint::{verify_checkpoint, Checkpoint};
use crate::merkle::{Hash, Tree};

/// One record's place in the log, as read.
#[derive(Clone, Copy, Debug)]
pub(super) struct Placed {
    pub(super) seq: u64,
    pub(super) leaf: Hash,
    pub(super) wall_ms: u64,
}

/// The records by seq position: the gap-free prefix `[0, k)` as a tree, and whether any
/// record lies beyond it.
pub(super) struct Positions {
    /// Leaves of seq `0..k`, the longest prefix with every seq present (first copy of a
    /// duplicate).
    pub(super) tree: Tree,
    /// Wall times of the same prefix.
    pub(super) walls: Vec<u64>,
    /// The smallest seq present after the prefix (there is a hole at seq `k`), if any.
    pub(super) beyond: Option<u64>,
}

impl Positions {
    pub(super) fn from_placed(mut placed: Vec<Placed>) -> Self {
        // Stable: of two records claiming one seq, the first in the bundle counts.
        placed.sort_by_key(|p| p.seq);
        let mut tree = Tree::new();
        let mut walls = Vec::new();
        let mut beyond = None;
        for p in placed {
            let k = tree.size();
            if p.seq < k {
                continue; // a duplicate; check 2 reports it
            }
            if p.seq > k {
                beyond = Some(p.seq);
                break;
            }
            tree.push(p.leaf);
            walls.push(p.wall_ms);
        }
        Positions { tree, walls, beyond }
    }

    /// Records present from seq 0 without a hole.
    pub(super) fn prefix(&self) -> u64 {
        self.tree.size()
    }
}

/// How a tree head compares with the records.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Compared {
    /// Same root.
    Matches,
    /// Records missing inside the tree: not checkable over `[first, last]`.
    Uncheckable { first: u64, last: u64 },
    /// Another root, or more records than the bundle ends with.
    Fails,
}

impl Run<'_> {
    /// Check 3.
    pub(super) fn check_checkpoints(&mut self, pos: &Positions) {
        use CheckName::Checkpoints;
        let mut largest = None::<u64>;
        let mut roots: HashMap<u64, Hash> = HashMap::new();
        for (line, text) in self.checkpoints.clone().iter() {
            let cp = match verify_checkpoint(text, &self.origin, &self.opts.public_key) {
                Ok(v) => v.checkpoint,
                Err(e) => {
                    self.f.line(Checkpoints, *line, format!("checkpoint rejected: {e}"));
                    continue;
                }
            };
            largest = largest.max(Some(cp.size));
            if let Some(r) = roots.insert(cp.size, cp.root) {
                if r != cp.root {
                    self.f.line(
                        Checkpoints,
                        *line,
                        format!(
                            "two signed checkpoints of size {} with different roots (a fork)",
                            cp.size
                        ),
                    );
                }
            }
            self.compare_tree(Checkpoints, *line, &cp, pos, "checkpoint");
        }
        let n = self.records;
        match largest {
            None if n > 0 => self.f.general(
                Checkpoints,
                "no signed checkpoint in the bundle: nothing ties these records to a published tree head",
            ),
            Some(s) if s < n => self.f.note(
                Checkpoints,
                format!("records seq {s}–{} are not yet covered by a checkpoint", n - 1),
            ),
            Some(s) => self.f.note(Checkpoints, format!("latest checkpoint covers all {s} records")),
            None => {}
        }
    }

    /// Compares a tree head with the records at its seq positions.
    pub(super) fn compare_tree(
        &mut self,
        check: CheckName,
        line: u64,
        cp: &Checkpoint,
        pos: &Positions,
        what: &str,
    ) -> Compared {
        let k = pos.prefix();
        if cp.size > k {
            let last = cp.size - 1;
            return match pos.beyond {
                Some(_) => {
                    // Records are missing at seq k (check 2 names the gap): the root cannot
                    // be rebuilt, which accuses no one.
                    self.f.note(
                        check,
                        format!(
                            "the {what} at line {line} (size {}) cannot be checked over seq \
                             {k}–{last} (records missing)",
                            cp.size
                        ),
                    );
                    Compared::Uncheckable { first: k, last }
                }
                None => {
                    let have = if k == 0 {
                        "the bundle has no record".to_string()
                    } else {
                        format!("the bundle ends at seq {}", k - 1)
                    };
                    self.f.range(
                        check,
                        k,
                        last,
                        format!(
                            "missing: the {what} at line {line} covers {} records, {have} \
                             (the tail was cut)",
                            cp.size
                        ),
                    );
                    Compared::Fails
                }
            };
        }
        match pos.tree.root_at(cp.size) {
            Some(root) if root == cp.root => Compared::Matches,
            _ => {
                self.f.range(
                    check,
                    0,
                    cp.size.saturating_sub(1),
                    format!(
                        "the {what} at line {line} (size {}) has another root than these records: \
                         records in this range were changed, removed, added or reordered",
                        cp.size
                    ),
                );
                Compared::Fails
            }
        }
    }
}
