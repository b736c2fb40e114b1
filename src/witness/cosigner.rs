//! The `add-checkpoint` handler: parse ([`super::request`]), look the log up, authenticate and
//! decide ([`super::decide`]), move the stored state by compare-and-swap ([`super::store`]),
//! and only then cosign (C2SP tlog-cosignature, Ed25519, type 0x04). Every refusal is logged
//! with the origin, the sizes and the reason.

use tracing::{error, info, warn};

use crate::evidence::cosignature::{cosign, WitnessKey};
use crate::evidence::keys::GatewayKey;

use super::decide::{authenticate, decide, Outcome, Refusal};
use super::request::{self, AddCheckpoint};
use super::store::Store;

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
}

impl Cosigner {
    /// A witness signing as `name` (a C2SP key name) with `key`.
    pub fn new(key: GatewayKey, name: String, store: Store) -> Cosigner {
        Cosigner { key, name, store }
    }

    /// The witness's verifier key (what reviewers pass to `verify --witness-key`).
    pub fn witness_key(&self) -> WitnessKey {
        WitnessKey { name: self.name.clone(), key: self.key.public() }
    }

    /// Handles one `add-checkpoint` body.
    pub async fn add_checkpoint(&self, body: &[u8]) -> Answer {
        let req = match request::parse(body) {
            Ok(r) => r,
            Err(e) => {
                warn!(reason = "malformed", "witness: refused a malformed add-checkpoint: {e}");
                return Answer::text(400, format!("bad request: {e}\n"));
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
                    return Answer::text(404, format!("unknown log {origin:?}\n"));
                }
                Err(e) => return self.store_failed(origin, &e),
            };
            if attempt == 0 {
                if let Err(r) = authenticate(&log.key, &req) {
                    return refuse(&req, &r, log.state.size);
                }
            }
            let advance = match decide(&log.state, &req) {
                Outcome::Refuse(r) => return refuse(&req, &r, log.state.size),
                Outcome::Cosign { advance } => advance,
            };
            if let Some(new) = advance {
                match self.store.advance(origin, &log.state, &new, &req.note.text).await {
                    Ok(true) => {}
                    Ok(false) => {
                        info!(origin, old, size,
                            "witness: checkpoint {size} of {origin} raced another request; re-checking");
                        continue;
                    }
                    Err(e) => return self.store_failed(origin, &e),
                }
            }
            // The stored state is now (or already was) this checkpoint's tree: sign.
            let line = cosign(&req.note.text, &self.name, &self.key, unix_seconds()).line();
            info!(origin, old, size, "witness: cosigned checkpoint {size} of {origin} (old {old})");
            return Answer::text(200, format!("{line}\n"));
        }
        warn!(
            origin,
            old,
            size,
            reason = "contention",
            "witness: gave up on checkpoint {size} of {origin} after {MAX_ATTEMPTS} lost races"
        );
        Answer::text(503, "busy: the log's state kept changing; retry\n")
    }

    fn store_failed(&self, origin: &str, e: &super::store::StoreError) -> Answer {
        error!(origin, "witness: database error on {origin}: {e}");
        Answer::text(503, "witness database unavailable; retry later\n")
    }
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
