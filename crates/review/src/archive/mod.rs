//! The reviewer side's evidence archive: what `edgeproof collect` stores and `report --db` and
//! `fleet` read. SQLite by default (one file), PostgreSQL for fleets (several collectors on
//! one database).
//!
//! # Tables (migrations/{sqlite,postgres}/NNNN_*.sql, applied at open)
//!
//! - `gateways`: registration (id, origin, enrolled key, city, enterprise, project) and ingest
//!   state (horizon = highest seq known to exist, record count, first/last wall time);
//! - `records`: each verified record once per `(origin, seq)`, as its canonical bytes with
//!   leaf hash and `prev`;
//! - `checkpoints`: one signed note per `(origin, size)`, with every signature line seen
//!   (witness cosignatures arrive appended to later publications of the same checkpoint), and
//!   whether its root was checked against the stored records;
//! - `anomalies`: gaps (always current), conflicts, bad signatures, bad records, broken links,
//!   unknown gateways, bad/forked/mismatched checkpoints — each with origin and seq range;
//! - `coverage_days`: usage time with successful polls per gateway and UTC day;
//! - `schema_version`: the migrations applied.
//!
//! # Invariants
//!
//! - Only records whose signature verified under the registered key are stored; a re-delivery
//!   of a stored record changes nothing; a different record for a stored `(origin, seq)` is a
//!   `conflict` anomaly and the first one stays.
//! - Every seq at or below a gateway's horizon that is not stored lies in exactly one gap row.
//! - A batch is one transaction: records, gaps, anomalies and counters commit together, and
//!   the collector acknowledges the MQTT messages only after the commit.
//!
//! **Changing a table breaks stored archives**: add a migration, never edit a released one.

pub mod batch;
pub mod error;
pub mod export;
pub mod fleet;
pub mod fleet_html;
pub mod migrate;
pub mod model;
pub mod plan;
pub mod postgres;
pub mod sqlite;
pub mod store;
pub mod summary;

pub use error::ArchiveError;
pub use export::cosigned_by;
pub use model::{Anomaly, AnomalyKind, Arrival, BatchOutcome, Registration, Span};
pub use store::Archive;
