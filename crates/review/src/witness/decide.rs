//! The witness's decision, without I/O: given what it stored for a log and a parsed request,
//! cosign (possibly advancing the stored state) or refuse — with the HTTP status C2SP
//! tlog-witness assigns to each refusal. The order of the checks is the spec's:
//!
//! 1. the checkpoint must carry a valid signature of the log's key (else 403);
//! 2. `old` must equal the size of the latest cosigned checkpoint, 0 if none (else 409 with
//!    that size);
//! 3. if `old` equals the checkpoint's size, the roots must be identical (else 409: a fork);
//! 4. the consistency proof from `old` to the checkpoint's size must verify against the
//!    stored root and the checkpoint's root (else 422).
//!
//! A request that passes all four is cosigned. It moves the stored state forward unless the
//! checkpoint has the stored size (and so, by 3, the stored root): then nothing changes and
//! cosigning again is safe.

use edgeproof_evidence::keys::PublicKey;
use edgeproof_evidence::merkle::{empty_root, verify_consistency, Hash, ProofError};
use edgeproof_evidence::note::NoteError;

use super::request::AddCheckpoint;

/// What the witness keeps per log: the latest tree it cosigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeState {
    /// Its size; 0 before the first cosignature.
    pub size: u64,
    /// Its root; the empty tree's root before the first cosignature.
    pub root: Hash,
}

impl TreeState {
    /// The state of a log that was never cosigned.
    pub fn empty() -> Self {
        TreeState { size: 0, root: empty_root() }
    }
}

/// What to do with a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Cosign. When `advance` holds, the stored state must first move (atomically, from the
    /// state decided on) to the checkpoint's size and root; only then may it be signed.
    Cosign {
        /// The new state to store, or `None` when the stored state already is the checkpoint's.
        advance: Option<TreeState>,
    },
    /// Refuse.
    Refuse(Refusal),
}

/// Why a request is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    /// No valid signature of the log's key on the checkpoint.
    #[error("checkpoint signature: {0}")]
    Signature(NoteError),
    /// `old` is not the size the witness cosigned last: a stale client or a rollback.
    #[error("old size {old} is not the latest cosigned size {latest}")]
    OldSize {
        /// The request's old size.
        old: u64,
        /// The latest cosigned size.
        latest: u64,
    },
    /// Same size as the latest cosigned checkpoint, another root: a fork.
    #[error("fork at size {size}: root {root} differs from the cosigned {cosigned}")]
    Fork {
        /// The common size.
        size: u64,
        /// The root cosigned before.
        cosigned: Hash,
        /// The request's root.
        root: Hash,
    },
    /// The consistency proof does not verify.
    #[error("consistency proof {old} -> {size}: {why}")]
    Proof {
        /// Old size.
        old: u64,
        /// New size.
        size: u64,
        /// What failed.
        why: ProofError,
    },
}

impl Refusal {
    /// The HTTP status tlog-witness gives this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Signature(_) => 403,
            Refusal::OldSize { .. } | Refusal::Fork { .. } => 409,
            Refusal::Proof { .. } => 422,
        }
    }

    /// A short fixed label (logs and metrics).
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::Signature(_) => "bad_signature",
            Refusal::OldSize { .. } => "old_size",
            Refusal::Fork { .. } => "fork",
            Refusal::Proof { .. } => "bad_proof",
        }
    }
}

/// Check 1: the checkpoint is signed by the log's key (key name = origin, C2SP tlog-checkpoint).
/// Signatures from other keys are ignored, as the spec requires.
pub fn authenticate(key: &PublicKey, req: &AddCheckpoint) -> Result<(), Refusal> {
    req.note.verify_ed25519(&req.checkpoint.origin, key).map_err(Refusal::Signature)
}

/// Checks 2–4 against the stored state of an authenticated request's log.
pub fn decide(stored: &TreeState, req: &AddCheckpoint) -> Outcome {
    let (old, size, root) = (req.old_size, req.checkpoint.size, req.checkpoint.root);
    if old != stored.size {
        return Outcome::Refuse(Refusal::OldSize { old, latest: stored.size });
    }
    if size == old && root != stored.root {
        return Outcome::Refuse(Refusal::Fork { size, cosigned: stored.root, root });
    }
    if let Err(why) = verify_consistency(old, size, &req.proof, &stored.root, &root) {
        return Outcome::Refuse(Refusal::Proof { old, size, why });
    }
    let new = TreeState { size, root };
    Outcome::Cosign { advance: (new != *stored).then_some(new) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::witness::request;
    use edgeproof_evidence::checkpoint::Checkpoint;
    use edgeproof_evidence::keys::GatewayKey;
    use edgeproof_evidence::merkle::{leaf_hash, Tree};

    struct Log {
        key: GatewayKey,
        tree: Tree,
    }

    impl Log {
        fn new(tag: &str, n: u64) -> Log {
            let leaves = (0..n).map(|i| leaf_hash(format!("{tag}{i}").as_bytes()));
            Log { key: GatewayKey::from_seed([7; 32]), tree: Tree::from_leaves(leaves) }
        }

        fn state(&self, size: u64) -> TreeState {
            TreeState { size, root: self.tree.root_at(size).unwrap() }
        }

        /// A parsed request from `old` to `size`, with the right proof.
        fn request(&self, old: u64, size: u64) -> AddCheckpoint {
            let proof = self.tree.consistency_proof(old, size).unwrap();
            self.request_with(old, size, &proof)
        }

        fn request_with(&self, old: u64, size: u64, proof: &[Hash]) -> AddCheckpoint {
            let note = Checkpoint::new("edgeproof/gw-1", size, self.tree.root_at(size).unwrap())
                .sign(&self.key)
                .to_text();
            request::parse(&request::encode(old, proof, &note)).unwrap()
        }
    }

    #[test]
    fn decisions_by_case() {
        let log = Log::new("a", 40);
        let fork = Log::new("b", 40);
        let advance = |s: &Log, n| Outcome::Cosign { advance: Some(s.state(n)) };
        let same = || Outcome::Cosign { advance: None };
        let wrong_proof = log.tree.consistency_proof(10, 21).unwrap();
        let cases: Vec<(&str, TreeState, AddCheckpoint, Outcome)> = vec![
            ("first checkpoint", TreeState::empty(), log.request(0, 10), advance(&log, 10)),
            ("empty tree", TreeState::empty(), log.request(0, 0), same()),
            ("grows", log.state(10), log.request(10, 25), advance(&log, 25)),
            ("grows by one from one", log.state(1), log.request(1, 2), advance(&log, 2)),
            ("same again", log.state(25), log.request(25, 25), same()),
            (
                "stale old size",
                log.state(25),
                log.request(10, 30),
                Outcome::Refuse(Refusal::OldSize { old: 10, latest: 25 }),
            ),
            (
                "rollback below the cosigned size",
                log.state(25),
                log.request(0, 20),
                Outcome::Refuse(Refusal::OldSize { old: 0, latest: 25 }),
            ),
            (
                "fork at the cosigned size",
                log.state(25),
                fork.request(25, 25),
                Outcome::Refuse(Refusal::Fork {
                    size: 25,
                    cosigned: log.state(25).root,
                    root: fork.state(25).root,
                }),
            ),
            (
                "fork beyond the cosigned size",
                log.state(25),
                fork.request(25, 30),
                Outcome::Refuse(Refusal::Proof { old: 25, size: 30, why: ProofError::Mismatch }),
            ),
            (
                "proof for other sizes",
                log.state(10),
                log.request_with(10, 20, &wrong_proof),
                Outcome::Refuse(Refusal::Proof { old: 10, size: 20, why: ProofError::Mismatch }),
            ),
            (
                "proof with old size zero",
                TreeState::empty(),
                log.request_with(0, 20, &[leaf_hash(b"x")]),
                Outcome::Refuse(Refusal::Proof {
                    old: 0,
                    size: 20,
                    why: ProofError::Length { got: 1, want: 0 },
                }),
            ),
        ];
        for (name, stored, req, want) in cases {
            assert_eq!(decide(&stored, &req), want, "{name}");
        }
    }

    #[test]
    fn truncated_or_extended_proofs_are_refused() {
        let log = Log::new("a", 40);
        let proof = log.tree.consistency_proof(13, 37).unwrap();
        let mut short = proof.clone();
        short.pop();
        let mut long = proof.clone();
        long.push(leaf_hash(b"x"));
        let mut flipped = proof.clone();
        flipped[0].0[0] ^= 1;
        for (name, p) in [("short", short), ("long", long), ("flipped", flipped)] {
            let out = decide(&log.state(13), &log.request_with(13, 37, &p));
            assert!(matches!(out, Outcome::Refuse(ref r) if r.status() == 422), "{name}: {out:?}");
        }
    }

    #[test]
    fn only_the_logs_key_authenticates() {
        let log = Log::new("a", 5);
        let req = log.request(0, 5);
        authenticate(&log.key.public(), &req).unwrap();
        let other = GatewayKey::from_seed([8; 32]).public();
        let refused = authenticate(&other, &req).unwrap_err();
        assert_eq!(refused.status(), 403);
        // A valid signature from another key next to it is ignored, not an error.
        let mut note = req.note.clone();
        note.signatures.insert(
            0,
            edgeproof_evidence::note::sign_ed25519(&note.text, "someone", &GatewayKey::generate()),
        );
        let body = request::encode(0, &[], &note.to_text());
        authenticate(&log.key.public(), &request::parse(&body).unwrap()).unwrap();
        // A tampered signature from the log's key is refused.
        let mut bad = req.clone();
        bad.note.signatures[0].sig[5] ^= 1;
        assert_eq!(authenticate(&log.key.public(), &bad).unwrap_err().status(), 403);
    }

    #[test]
    fn a_random_walk_never_cosigns_two_roots_for_one_size() {
        // Model check: random requests from two diverging logs against one stored state.
        let logs = [Log::new("a", 64), Log::new("b", 64)];
        let mut rng = fastrand::Rng::with_seed(11);
        let mut state = TreeState::empty();
        let mut cosigned = std::collections::BTreeMap::new();
        for _ in 0..2_000 {
            let log = &logs[rng.usize(..2)];
            let old = if rng.bool() { state.size } else { rng.u64(..64) };
            let size = rng.u64(old..64);
            let req = log.request(old, size);
            if let Outcome::Cosign { advance } = decide(&state, &req) {
                if let Some(new) = advance {
                    assert!(new.size >= state.size);
                    state = new;
                }
                let root = *cosigned.entry(size).or_insert(req.checkpoint.root);
                assert_eq!(root, req.checkpoint.root, "two roots cosigned at size {size}");
            }
        }
        assert!(cosigned.len() > 3, "the walk cosigned too little to mean anything");
    }
}
