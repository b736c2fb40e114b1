//! Northbound: publishes journal entries to an MQTT broker and releases each entry only when
//! the broker's PUBACK for exactly that entry has arrived.

pub mod inflight;
pub mod payload;
pub mod topics;
