//! Southbound: reading devices. One task per device polls on a fixed-rate schedule and sends
//! [`crate::model::Batch`]es down a channel.

pub mod modbus;
