//! Usage evidence on the gateway: the [`recorder`] that writes, stores, checkpoints and
//! witnesses the log, and the [`usage`] book that turns polled batches into `usage` records.
//! The format itself — records, signatures, Merkle trees, checkpoints, bundles, `verify` — is
//! the `edgeproof-evidence` crate, re-exported here so `edgeproof::evidence::record` and
//! friends name the same types. `docs/evidence-format.md` specifies it.

pub use edgeproof_evidence::*;

pub mod recorder;
pub mod usage;
