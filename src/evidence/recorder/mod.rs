//! The evidence recorder: turns what the running agent does into the signed log of
//! EVIDENCE.md, stores it, and hands it to the publisher.
//!
//! # Invariants
//!
//! - **Stored before published, counted, or checkpointed.** A record is appended to the
//!   journal's evidence table in its own fsynced transaction; only then does the chain move
//!   on, the publisher learn of it, and a checkpoint cover it.
//! - **Gap-free.** The journal refuses any seq but the next; a record that fails to store is
//!   lost *before* it got a place in the chain, so the next record takes its seq.
//! - **The log is the state.** At start the recorder reads every stored record back
//!   ([`replay`]): seq and `prev` continue from the last one, `boot.n` is one more than the
//!   highest stored, how the previous run ended is the type of the last record (`shutdown`
//!   = clean), the device map and fingerprints last recorded come from `enroll`, `config` and
//!   `device` records. There is no second state file that could disagree.
//! - **One log per key and gateway.** A log enrolled with another key or gateway id is not
//!   continued: the agent refuses to start and says why.
//!
//! # Storage
//!
//! - Records: the journal's `evidence` table (`seq`, canonical bytes, published flag), never
//!   evicted by the size bound; published records stay for `export`.
//! - Checkpoints: `checkpoints.jsonl` in the data directory ([`checkpoints`]), one bundle
//!   line per signed checkpoint, fsynced, never pruned.
//! - Cosignatures: `cosignatures.jsonl` beside it, one bundle cosignature line per
//!   checkpoint a witness cosigned ([`witness`]), fsynced before its `anchor` record is
//!   written, never pruned. The size each witness last cosigned is read back from the
//!   `anchor` records, not from this file.
//!
//! # Recovery
//!
//! - Killed or powered off: whatever was stored stays; the interval being collected is lost
//!   (its `usage` record was never written). The next start's `boot` says `unclean`, with the
//!   seq and wall time of the last record — the gap a reviewer sees.
//! - A torn checkpoint line is skipped when read; the next checkpoint covers everything.
//! - A journal moved aside as damaged takes its evidence with it: the next start enrolls a
//!   new log (seq 0) with the same key. A reviewer then holds two logs for one gateway; the
//!   damaged file keeps the old one for export.
//!
//! # Timing
//!
//! `usage` intervals sit on the wall-clock grid of `[evidence] interval`; each is closed a
//! short grace (a quarter interval, at most 5 s) after its end so cycles started before the
//! boundary land in it. Checkpoints every `checkpoint_interval` (monotonic), at start and at a
//! clean stop.
//!
//! # Files
//!
//! - [`writer`]: the [`Recorder`] itself — opening (replay, `enroll`, `boot`), the run loop,
//!   the clean stop, and `append` (sign, store, commit, announce) with checkpoints.
//! - `store`: storing one record, retrying a failed SQLite write before giving it up.
//! - `clock_step`: the wall-clock watch that writes `clock` records.
//! - `interval`: closing `usage` intervals (counter deltas, `endpoint_local` lookups).
//! - `devices`: `config` records on a reload, `device` records on identification.
//! - `anchoring`: starting the witness tasks and anchoring the cosignatures they return;
//!   `anchors` holds the pure part, [`witness`] the tasks.
//! - `key`: whether evidence is on, and the key ([`load_key`]).
//! - [`bodies`], [`replay`], [`clock`], [`endpoint`], [`checkpoints`], [`feed`], [`error`]:
//!   record bodies, reading the log back, the two clocks, locality of endpoints, the
//!   checkpoint files, the publisher's feed, the error type.

mod anchoring;
mod anchors;
pub mod bodies;
pub mod checkpoints;
pub mod clock;
mod clock_step;
mod devices;
pub mod endpoint;
pub mod error;
pub mod feed;
mod interval;
mod key;
pub mod replay;
mod store;
pub mod witness;
pub mod writer;

pub use checkpoints::{CheckpointFile, CHECKPOINTS_FILE, COSIGNATURES_FILE};
pub use error::RecorderError;
pub use feed::RecorderFeed;
pub use writer::{load_key, Recorder};
