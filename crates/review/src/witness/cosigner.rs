//! The `add-checkpoint` handler: parse ([`super::request`]), look the log up, authenticate and
//! decide ([`super::decide`]), move the stored state by compare-and-swap ([`super::store`]),
//! and only then cosign (C2SP tlog-cosignature, Ed25519, type 0x04). Every refusal is logged
//! with the origin, the sizes and the reason.

use tracing::{error, info, warn};

use edgeproof_evidence::cosignature::{cosign, WitnessKey};
use edgeproof_evidence::keys::GatewayKey;

use super::decide::{authenticate, decide, Outcome, Refusal};
use super::metrics::WitnessMetrics;
use super::request::{self, AddCheckpoint};
use super::store::{unix_now, Conflict, Store, StoredLog};

/// Content type of a 409 answer (tlog-witness).
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";
/// Content type of every other answer.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";
/// How often a request re-reads the state after losing a compare-and-swap race before it
/// gives up with 503. One retry normally settles it (the winner moved the size, so the
/// loser's old size no longer matches: 409).
const MAX_ATTEMPTS: usize = 4;

/// What to send back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

impl Answer {
    fn text(status: u16, body: impl Into<String>) -> Answer {
        Answer { status, content_type: TEXT_CONTENT_TYPE, body: body.into() }
    }
}

/// A witness: its key, its name, its database.
pub struct Cosigner {
    key: GatewayKey,
    name: String,
    store: Store,
    metrics: WitnessMetrics,
}

impl Cosigner {
    /// A witness signing as `name` (a C2SP key name) with `key`.
    pub fn new(key: GatewayKey, name: String, store: Store) -> Cosigner {
        Cosigner { key, name, store, metrics: WitnessMetrics::new() }
    }

    /// Whether its database answers now (`GET /healthz`).
    pub async fn healthy(&self) -> Result<(), super::store::StoreError> {
        self.store.ping().await
    }

    /// Its counters.
    pub fn metrics(&self) -> &WitnessMetrics {
        &self.metrics
    }

    /// The witness's verifier key (what reviewers pass to `verify --witness-key`).
    pub fn witness_key(&self) -> WitnessKey {
        WitnessKey { name: self.name.clone(), key: self.key.public() }
    }

    /// Handles one `add-checkpoint` body.
    pub async fn add_checkpoint(&self, body: &[u8]) -> Answer {
        let (answer, outcome) = self.handle(body).await;
        self.metrics.request(outcome);
        answer
    }

    /// The answer and its `outcome` label.
    async fn handle(&self, body: &[u8]) -> (Answer, &'static str) {
        let req = match request::parse(body) {
            Ok(r) => r,
            Err(e) => {
                warn!(reason = "malformed", "witness: refused a malformed add-checkpoint: {e}");
                return (Answer::text(400, format!("bad request: {e}\n")), "malformed");
            }
        };
        let origin = req.checkpoint.origin.as_str();
        let (old, size) = (req.old_size, req.checkpoint.size);
        for attempt in 0..MAX_ATTEMPTS {
            let log = match self.store.log(origin).await {
                Ok(Some(log)) => log,
                Ok(None) => {
                    warn!(
                        origin,
                        old,
                        size,
                        reason = "unknown_log",
                        "witness: refused checkpoint {size} of {origin}: unknown log"
                    );
                    return (Answer::text(404, format!("unknown log {origin:?}\n")), "unknown_log");
                }
                Err(e) => return store_failed(origin, &e),
            };
            if attempt == 0 {
                if let Err(r) = authenticate(&log.key, &req) {
                    return (refuse(&req, &r, log.state.size), r.label());
                }
            }
            let advance = match decide(&log.state, &req) {
                Outcome::Refuse(r) => {
                    self.keep_conflict(&req, &r, &log, body).await;
                    return (refuse(&req, &r, log.state.size), r.label());
                }
                Outcome::Cosign { advance } => advance,
            };
            if let Some(new) = advance {
                match self.store.advance(origin, &log.state, &new, &req.note.to_text()).await {
                    Ok(true) => {}
                    Ok(false) => {
                        self.metrics.race();
                        info!(origin, old, size,
                            "witness: checkpoint {size} of {origin} raced another request; re-checking");
                        continue;
                    }
                    Err(e) => return store_failed(origin, &e),
                }
            }
            // The stored state is now (or already was) this checkpoint's tree: sign.
            let line = cosign(&req.note.text, &self.name, &self.key, unix_seconds()).line();
            info!(origin, old, size, "witness: cosigned checkpoint {size} of {origin} (old {old})");
            return (Answer::text(200, format!("{line}\n")), "cosigned");
        }
        warn!(
            origin,
            old,
            size,
            reason = "contention",
            "witness: gave up on checkpoint {size} of {origin} after {MAX_ATTEMPTS} lost races"
        );
        (Answer::text(503, "busy: the log's state kept changing; retry\n"), "contention")
    }

    /// Keeps a fork or an unproven checkpoint — signed by the log's key, so evidence against
    /// it — in the conflicts table. Failing to keep it does not change the answer.
    async fn keep_conflict(&self, req: &AddCheckpoint, r: &Refusal, log: &StoredLog, body: &[u8]) {
        if !matches!(r, Refusal::Fork { .. } | Refusal::Proof { .. }) {
            return;
        }
        let origin = &req.checkpoint.origin;
        let conflict = Conflict {
            origin: origin.clone(),
            received_at: unix_now(),
            reason: r.label().into(),
            cosigned_size: log.state.size,
            cosigned_root: log.state.root.to_base64(),
            cosigned_note: log.note.clone(),
            old_size: req.old_size,
            size: req.checkpoint.size,
            root: req.checkpoint.root.to_base64(),
            request: String::from_utf8_lossy(body).into_owned(),
        };
        match self.store.record_conflict(&conflict).await {
            Ok(true) => warn!(origin = %origin, size = req.checkpoint.size, reason = r.label(),
                "witness: kept conflicting checkpoint {} of {origin} as evidence (witness conflicts)",
                req.checkpoint.size),
            Ok(false) => {}
            Err(e) => error!(origin = %origin, "witness: cannot keep a conflict of {origin}: {e}"),
        }
    }
}

fn store_failed(origin: &str, e: &super::store::StoreError) -> (Answer, &'static str) {
    error!(origin, "witness: database error on {origin}: {e}");
    (Answer::text(503, "witness database unavailable; retry later\n"), "unavailable")
}

fn refuse(req: &AddCheckpoint, r: &Refusal, latest: u64) -> Answer {
    let (origin, old, size) = (&req.checkpoint.origin, req.old_size, req.checkpoint.size);
    warn!(origin = %origin, old, size, latest, reason = r.label(),
        "witness: refused checkpoint {size} of {origin} (old {old}, cosigned {latest}): {r}");
    if r.status() == 409 {
        // tlog-witness: the body is the latest cosigned size and a newline.
        return Answer {
            status: 409,
            content_type: SIZE_CONTENT_TYPE,
            body: format!("{latest}\n"),
        };
    }
    Answer::text(r.status(), format!("{r}\n"))
}

/// POSIX seconds now (tlog-cosignature timestamps); 0 before 1970.
fn unix_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeproof_evidence::checkpoint::Checkpoint;
    use edgeproof_evidence::cosignature::verify_cosignatures;
    use edgeproof_evidence::merkle::Tree;
    use edgeproof_evidence::note::SignedNote;

    /// The example response body of C2SP tlog-witness, "add-checkpoint", copied from the spec.
    const SPEC_RESPONSE: &str = "\u{2014} witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==\n\
\u{2014} witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+DlkL0+UfzuOBMh9ChdMkP1vi/lCAsmlw==\n\
\u{2014} witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm/kWl7oJlqU3rXXvpysAdyP3wQ==\n";
    const SPEC_CHECKPOINT: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn our_answer_has_the_shape_of_the_spec_example() {
        // "the client MAY concatenate it to the checkpoint": the spec's response does.
        let theirs = SignedNote::parse(&format!("{SPEC_CHECKPOINT}\n{SPEC_RESPONSE}")).unwrap();
        assert_eq!(theirs.signatures.len(), 3);
        // Each line: 4-byte key id, then the 8-byte timestamp and 64-byte Ed25519 signature.
        assert!(theirs.signatures.iter().all(|s| s.sig.len() == 8 + 64));

        let key = GatewayKey::from_seed([9; 32]);
        let line = cosign(SPEC_CHECKPOINT, "witness.example/w1", &key, 1_679_315_147).line();
        let ours = SignedNote::parse(&format!("{SPEC_CHECKPOINT}\n{line}\n")).unwrap();
        assert_eq!(ours.signatures[0].sig.len(), theirs.signatures[0].sig.len());
        assert_eq!(line.len(), SPEC_RESPONSE.lines().next().unwrap().len());
    }

    #[tokio::test]
    async fn cosigns_after_the_state_moved_and_answers_409_with_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("w.sqlite3").display().to_string()).await.unwrap();
        let log_key = GatewayKey::from_seed([3; 32]);
        store.add_log("edgeproof/gw-1", &log_key.public()).await.unwrap();
        let w = Cosigner::new(GatewayKey::from_seed([4; 32]), "w.example/1".into(), store);
        let tree = Tree::from_leaves((0..8u8).map(|i| edgeproof_evidence::merkle::leaf_hash(&[i])));
        let note =
            |n| Checkpoint::new("edgeproof/gw-1", n, tree.root_at(n).unwrap()).sign(&log_key);
        let body = |old, n| {
            let proof = tree.consistency_proof(old, n).unwrap();
            request::encode(old, &proof, &note(n).to_text())
        };

        let a = w.add_checkpoint(&body(0, 5)).await;
        assert_eq!((a.status, a.content_type), (200, TEXT_CONTENT_TYPE), "{a:?}");
        let mut cosigned = note(5);
        cosigned
            .signatures
            .push(SignedNote::parse(&format!("x\n\n{}", a.body)).unwrap().signatures[0].clone());
        verify_cosignatures(&cosigned, &w.witness_key()).unwrap();
        assert_eq!(w.store.log("edgeproof/gw-1").await.unwrap().unwrap().state.size, 5);

        let a = w.add_checkpoint(&body(0, 3)).await;
        assert_eq!(a, Answer { status: 409, content_type: SIZE_CONTENT_TYPE, body: "5\n".into() });
        assert_eq!(w.add_checkpoint(b"old 1\n").await.status, 400);
    }
}
