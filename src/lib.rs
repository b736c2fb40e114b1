//! edgeproof: a data-collection agent for factory gateways.
//!
//! It polls PLCs, meters and sensors over Modbus and OPC UA, keeps every reading on local disk until an
//! MQTT broker has acknowledged it, and publishes a signed log of usage evidence. See
//! `README.md` for the user's view and `DESIGN.md` in the project's shared notes for the
//! data flow.
//!
//! Modules, in the order data flows:
//! - [`config`]: the device map and settings, parsed, validated and compiled;
//! - [`source`]: polling devices (Modbus TCP, RTU, OPC UA) into [`model::Batch`]es;
//! - [`sim`]: built-in simulated devices for `demo` and tests;
//! - [`journal`]: the durable store-and-forward journal on SQLite, between sources and publisher;
//! - [`publish`]: northbound MQTT publishing of journal entries, released only on PUBACK;
//! - [`metrics`]: the Prometheus registry every stage feeds;
//! - [`http`]: `/metrics` and `/healthz` for monitoring;
//! - [`service`]: life under systemd: readiness, reload, stop and watchdog notifications;
//! - [`evidence`]: the signed, hash-chained, Merkle-checkpointed usage log and its verifier;
//! - [`witness`]: the reviewer side's C2SP tlog-witness, cosigning gateways' checkpoints;
//! - [`collect`]: the reviewer side's collector, taking every gateway's evidence off MQTT;
//! - [`archive`]: where the collector keeps it (SQLite or PostgreSQL), for `report --db`
//!   and `fleet`;
//! - [`postgres`]: connecting to PostgreSQL, for the witness and the archive;
//! - [`model`]: the types every stage shares.

#![deny(missing_docs)]

pub mod agent;
pub mod archive;
pub mod collect;
pub mod commission;
pub mod config;
pub mod evidence;
pub mod http;
pub mod journal;
pub mod metrics;
pub mod model;
pub mod postgres;
pub mod publish;
pub mod service;
pub mod sim;
pub mod source;
pub mod witness;
