//! The agent's side of witnessing (C2SP `tlog-witness`): every new checkpoint the recorder
//! signs is submitted to each configured witness, and the cosignatures that come back are
//! checked, kept, published and committed into the log.
//!
//! # Flow
//!
//! One task per witness ([`task`]) watches the recorder's latest checkpoint. For each newer
//! one it POSTs `<url>/add-checkpoint` ([`client`]) with `old <size>` — the size that witness
//! last cosigned — the RFC 6962 consistency proof from there, a blank line and the note
//! ([`protocol`]). The answer drives a pure state machine ([`protocol::Submission`]):
//!
//! | answer | what happens |
//! |---|---|
//! | 200 + cosignature lines | verified under the configured key; handed to the recorder |
//! | 409 `text/x.tlog.size` N, N ≤ our size | retried at once with `old N` (a restart or a lost anchor) |
//! | 409 N > our size, or N = the old size we sent | the witness saw another history: logged as an error, retried with backoff |
//! | 400/403/404/422, other 4xx | refused: logged as an error, retried with backoff |
//! | 5xx, timeout, connection refused, a malformed answer | retried with backoff |
//!
//! A newer checkpoint arriving during a backoff ends the wait: only the latest is submitted.
//!
//! The recorder, on a verified cosignature ([`super::writer::Recorder`]): appends the cosigned
//! note to `cosignatures.jsonl` (fsynced; `export` copies it into the bundle), writes one
//! `anchor` record per cosignature line, and re-publishes the retained checkpoint with the
//! cosignature lines appended while it is still the latest.
//!
//! # State
//!
//! The log is the state: the size each witness last cosigned is the largest `size` of the
//! `anchor` records for its key name ([`super::replay`]). If an anchor was lost (killed
//! between receiving and recording), the witness's 409 tells the true size and the next
//! request uses it. Proofs come from a full Merkle tree ([`crate::evidence::merkle::Tree`],
//! about 64 bytes per record) the recorder keeps only when witnesses are configured.
//!
//! # Never in the way
//!
//! Submission runs in its own tasks; the recorder only pushes leaf hashes into the shared
//! tree (a mutex held for one push) and receives finished cosignatures on a channel. A witness
//! that is down, slow or hostile costs a backoff timer and bounded memory (answers are cut at
//! [`client::MAX_RESPONSE_BYTES`]), never a poll or a journal write.

pub mod client;
pub mod protocol;
pub mod task;
pub mod url;

pub use protocol::{Cosigned, SharedTree};
pub use task::{spawn_witnesses, WitnessLinks};
pub use url::WitnessUrl;
