//! edgeproof: the data-collection agent for factory gateways.
//!
//! It polls PLCs, meters and sensors over Modbus (TCP, RTU, RTU-over-TCP) and OPC UA, keeps
//! every reading on local disk until an MQTT broker has acknowledged it, and publishes a
//! signed log of usage evidence. See `README.md` for the user's view and
//! `docs/architecture.md` for the crates and the data path: this crate is the gateway; the
//! evidence format is `edgeproof-evidence`, the Modbus core `edgeproof-modbus`, the
//! simulators `edgeproof-sim` (linked only with the `demo` feature) and the reviewer's
//! services `edgeproof-review`, which builds on this crate and never the other way.
//!
//! Modules, in the order data flows:
//! - [`config`]: the device map and settings, parsed, validated and compiled;
//! - [`source`]: polling devices (Modbus TCP, RTU, OPC UA) into [`model::Batch`]es;
//! - [`journal`]: the durable store-and-forward journal on SQLite, between sources and publisher;
//! - [`publish`]: northbound MQTT publishing of journal entries, released only on PUBACK;
//! - [`metrics`]: the Prometheus registry every stage feeds;
//! - [`http`]: `/metrics` and `/healthz` for monitoring;
//! - [`service`]: life under systemd: readiness, reload, stop and watchdog notifications;
//! - [`evidence`]: the recorder of the signed usage log, and the format re-exported;
//! - [`model`]: the types every stage shares;
//! - [`backoff`]: the one retry-delay policy every reconnecting stage uses.

#![deny(missing_docs)]

pub mod agent;
pub mod backoff;
pub mod commission;
pub mod config;
pub mod evidence;
pub mod http;
pub mod journal;
pub mod metrics;
pub mod model;
pub mod publish;
pub mod service;
pub mod source;
