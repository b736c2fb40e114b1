//! Metrics: one prometheus registry for the whole agent, exported as Prometheus text on
//! `GET /metrics` (see [`crate::http`]).
//!
//! - [`names`]: the catalogue — every metric name, help text and label, defined once;
//! - [`Metrics`] (in `registry.rs`): owns the registry and the handles, renders the text;
//! - [`DeviceMetrics`] / [`PollCycle`] (in `device.rs`): what the poll scheduler pushes, one
//!   call per event, which counts and logs together;
//! - [`BusMetrics`] (in `bus.rs`): what an RTU bus task pushes — requests, bad frames per
//!   bus and per unit, bytes discarded while resynchronising;
//! - [`WitnessMetrics`] (in `witness.rs`): checkpoint submissions per witness and result,
//!   and the size each witness last cosigned;
//! - `scrape.rs`: stages that keep their own atomics (the journal's
//!   [`crate::journal::JournalCounters`], the publisher's
//!   [`crate::publish::counters::PublishCounters`]) are read when scraped, so those stages
//!   need no prometheus dependency.
//!
//! Labels are bounded: device names from the config and small fixed sets (`kind`, `quality`,
//! Modbus exception `code`), never values or error messages.

mod bus;
mod device;
pub mod names;
mod registry;
mod scrape;
#[cfg(test)]
mod tests;
mod witness;

pub use bus::BusMetrics;
pub use device::{DeviceMetrics, PollCycle};
pub use registry::Metrics;
pub use witness::WitnessMetrics;
