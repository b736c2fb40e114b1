//! `edgeproof collect`: the reviewer side's collector. It subscribes to the evidence and
//! checkpoint topics of every gateway through an MQTT shared subscription (N collectors with
//! one group split the messages), verifies each message against the gateway's registered key
//! ([`arrival`]), stores batches in the archive ([`crate::archive`]) and acknowledges each
//! message only after its batch committed ([`subscription`] explains why that loses nothing).
//!
//! Files: [`acl`] (the broker ACL written from the registrations), [`options`] (broker, group, batching), [`subscription`] (MQTT session),
//! [`arrival`] (per-message verification), [`ingest`] (the pipeline), [`counters`],
//! [`metrics`] (`--metrics-listen`: the counters as Prometheus text).

pub mod acl;
pub mod arrival;
pub mod counters;
pub mod ingest;
pub mod metrics;
pub mod options;
pub mod subscription;

pub use counters::CollectCounters;
pub use ingest::{run, CollectError};
pub use options::CollectOptions;
