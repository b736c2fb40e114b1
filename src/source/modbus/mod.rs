//! Modbus southbound: compiled points ([`point`]), read planning ([`plan`]), decoding
//! ([`decode`]), the TCP transport ([`transport`]) and one device's poll cycle ([`reader`]).

pub mod decode;
pub mod point;

pub use decode::{decode_bit, decode_registers, DecodeError, Decoded};
pub use point::{Area, DataType, ModbusPoint, Order, ReadLimits};
