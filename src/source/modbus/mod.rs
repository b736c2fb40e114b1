//! Modbus southbound: compiled points ([`point`]), read planning ([`plan`]), decoding
//! ([`decode`]), the TCP transport ([`transport`]) and one device's poll cycle ([`reader`]).

pub mod point;

pub use point::{Area, DataType, ModbusPoint, Order, ReadLimits};
