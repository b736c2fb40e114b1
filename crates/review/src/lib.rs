//! The reviewer side of edgeproof, as a library under the `edgeproof-review` binary:
//!
//! - [`witness`]: a C2SP tlog-witness that cosigns gateways' checkpoints when they extend what
//!   it cosigned before (SQLite or PostgreSQL);
//! - [`collect`]: the collector taking every gateway's evidence and checkpoints off MQTT,
//!   verifying each on arrival;
//! - [`archive`]: where the collector keeps it, for `report --db` and `fleet`;
//! - [`postgres`]: connecting to PostgreSQL, for the witness and the archive.
//!
//! The evidence format and its verifier are `edgeproof-evidence`; the MQTT link options, TLS
//! and metric names are shared with the gateway (`edgeproof`), which this crate builds on and
//! which never depends on it.

#![deny(missing_docs)]

pub mod archive;
pub mod collect;
pub mod postgres;
pub mod witness;
