//! Usage evidence: a signed, hash-chained, Merkle-checkpointed log per gateway, and the
//! reviewer's verification of it. The format is specified in `docs/evidence-format.md`; this
//! crate is its reference implementation. It holds the pure core — no async runtime, no
//! database, no I/O besides key files and readers; the recorder that stores and publishes
//! records lives in the gateway (`edgeproof::evidence::recorder`), the witness, collector
//! and archive in `edgeproof-review`.
//!
//! # What it proves, and what not
//!
//! For a gateway key the reviewer received at enrolment, a bundle that passes
//! [`verify`] proves that its records were produced by that key, in this order, none missing,
//! none edited, none inserted (checks 1–3). Once a checkpoint is cosigned by a witness the
//! reviewer trusts (check 4), it also proves that nothing was cut off the tail or rewritten
//! afterwards up to that checkpoint's size, and that each record covered existed no later
//! than the cosignature's time.
//!
//! It cannot prove that the devices behind the gateway are real machines doing real work, nor
//! that the gateway's clock was right. It raises the cost of faking (device fingerprints,
//! value digests, response times, wall vs. monotonic time) and tells a reviewer where to
//! spot-check. Without a witness, whoever holds the gateway key can rewrite the whole log
//! and re-sign it; only cosignatures bound that.
//!
//! # Invariants
//!
//! - `seq` starts at 0 and increases by exactly 1 per record, never reset, never wrapped.
//! - `prev` of seq *n* is the RFC 6962 leaf hash of record *n − 1*; seq 0 has 64 zeros.
//! - seq 0 is the `enroll` record and no other record is.
//! - A record is stored durably **before** it is published or counted in a checkpoint
//!   ([`chain::Chain::prepare`] → store → [`chain::Chain::commit`]).
//! - Every checkpoint of size *s* has the root of records `[0, s)`; checkpoints never shrink.
//! - Within one kernel boot id, wall-clock deltas track CLOCK_BOOTTIME deltas; the agent's
//!   start counter `boot.n` strictly increases across starts; `boot.rec` counts from 0.
//!
//! # Formats — changing these breaks stored data and reviewers' tools
//!
//! Logs written today are verified years from now, by this code and by tools others write
//! from EVIDENCE.md. **Any** change to the following invalidates every signature, leaf hash
//! and checkpoint already stored, or makes independent verifiers disagree:
//!
//! - [`canonical`]: RFC 8785 JCS (member order by UTF-16 code units, ES6 string escaping,
//!   no floats, integers within ±(2^53 − 1));
//! - [`record`]: field names, nesting (`body`), enum spellings, which fields may be absent;
//! - [`sign`]: the domain prefix `"edgeproof-evidence/v1\n"` and what is signed;
//! - [`merkle`]: leaf = SHA-256(0x00 ‖ JCS(record with sig)), node = SHA-256(0x01 ‖ l ‖ r);
//! - [`checkpoint`], [`note`], [`cosignature`]: C2SP signed-note, tlog-checkpoint,
//!   tlog-cosignature exactly as published;
//! - [`digest`]: the usage digest stream encoding; [`record::fingerprint`];
//! - [`bundle`]: the JSON Lines layout.
//!
//! Versions: records carry `v` ([`record::RECORD_VERSION`], also in the signature domain
//! prefix), bundles carry `bundle` ([`bundle::BUNDLE_VERSION`]), the usage digest stream is
//! prefixed `edgeproof-usage-digest/v2` (v1 before the digest was defined over the
//! published payload). A change means a new version, and readers that keep accepting the old
//! one. v1 readers reject unknown fields (see [`record`] for why).
//!
//! # Files
//!
//! [`canonical`] → [`record`] → [`sign`] → [`merkle`] → [`chain`] on the gateway;
//! [`note`], [`checkpoint`], [`cosignature`] for tree heads; [`keys`] for key files;
//! [`bundle`] for the reviewer's file and [`verify`] for the six checks; [`report`] turns a
//! verified bundle into a reviewer's report; [`uscc`] checks enterprise codes.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bundle;
pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod cosignature;
pub mod digest;
pub mod keys;
pub mod merkle;
pub mod note;
pub mod recompute;
pub mod record;
pub mod report;
pub mod sign;
pub mod uscc;
pub mod verify;

pub use chain::{Chain, Prepared};
pub use checkpoint::Checkpoint;
pub use keys::{GatewayKey, PublicKey};
pub use merkle::Hash;
pub use record::{Body, Record, SignedRecord, Stamp};
pub use verify::{verify_bundle, CheckName, Verdict, VerifyError, VerifyOptions};
