//! `edgeproof witness`: the reviewer side's witness. It keeps, per gateway log it was told
//! about, the latest checkpoint it cosigned, and cosigns a newer checkpoint only when an RFC
//! 6962 consistency proof shows that it extends that one. A cosigned checkpoint can then no
//! longer be cut off or rewritten by whoever holds the gateway's key without the reviewer
//! noticing (EVIDENCE.md, "Witness").
//!
//! # Protocol
//!
//! C2SP `tlog-witness` exactly: `POST /add-checkpoint` with the body
//! `old <size>\n`, up to 63 base64 consistency proof lines, an empty line, and the checkpoint
//! (a C2SP signed note, tlog-checkpoint). Answers:
//!
//! | status | when |
//! |---|---|
//! | 200 | cosigned: body = one note signature line, `— <witness name> <base64>` + newline |
//! | 400 | malformed body, or old size above the checkpoint's size |
//! | 403 | no valid signature of the log's key on the checkpoint |
//! | 404 | the origin is not a log the witness was told about (`witness add-log`) |
//! | 409 | old size ≠ the latest cosigned size (stale or rollback), or same size with another root (fork); `Content-Type: text/x.tlog.size`, body = latest cosigned size + newline |
//! | 422 | the consistency proof does not verify |
//! | 503 | the database did not answer within its timeouts ([`crate::postgres`]), or the state kept changing under the request |
//!
//! Cosignatures are C2SP `tlog-cosignature` v1, Ed25519 (signature type 0x04) over
//! `cosignature/v1\ntime <POSIX seconds>\n<checkpoint text>`; the witness's verifier key is a
//! type 0x04 vkey (`witness vkey`), what `verify --witness-key` reads.
//!
//! # Invariants
//!
//! - **One root per size.** The witness never cosigns two different roots for one tree size
//!   of a log — not across requests, restarts, or several instances on one database.
//! - **Sign after commit.** A cosignature is produced only after the state change it implies
//!   is committed, or when the stored state already is the checkpoint's tree.
//! - **Compare-and-swap.** The state moves only by an `UPDATE` conditioned on the exact
//!   (size, root) the decision was made on ([`store`]); a request that loses a race re-reads
//!   the state and decides again (normally: 409).
//! - **Only known logs.** A log is known after `witness add-log --origin … --public-key …`;
//!   its key is never silently replaced.
//!
//! # Files
//!
//! [`request`] parses a body (pure, total; fuzzed), [`decide`] is the decision (pure),
//! [`store`] keeps state in SQLite or PostgreSQL, [`cosigner`] ties them together for one
//! request and counts it in [`metrics`]; [`server`] serves HTTP/1.1 (optionally over TLS) on
//! hyper, admitting connections under [`peers`]' limits and answering through [`routes`];
//! [`error`] holds the server's start-up errors.

pub mod cosigner;
pub mod decide;
pub mod error;
pub mod metrics;
pub mod peers;
pub mod request;
pub mod routes;
pub mod server;
pub mod store;

pub use cosigner::{Answer, Cosigner};
pub use decide::{Outcome, Refusal, TreeState};
pub use error::ServerError;
pub use request::{parse, AddCheckpoint, RequestError};
pub use store::{AddedLog, Store, StoreError, StoredLog};
