//! Southbound: reading devices. One task per device polls on a fixed-rate schedule and sends
//! [`crate::model::Batch`]es down a channel.

pub mod modbus;
#[cfg(feature = "opcua")]
pub mod opcua;
pub mod schedule;
pub mod sink;

pub use schedule::{run_device, NoObserver, PollObserver};
pub use sink::{BatchSink, ChannelSink};
