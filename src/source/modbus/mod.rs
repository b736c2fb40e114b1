//! Modbus southbound: compiled points ([`point`]), read planning ([`plan`]), decoding
//! ([`decode`]), what a reader needs from the wire ([`link`]), the TCP transport
//! ([`transport`]), RTU buses on serial lines and RTU-over-TCP ([`rtu`]) and one device's
//! poll cycle ([`reader`]).

pub mod decode;
pub mod link;
pub mod plan;
pub mod point;
pub mod reader;
pub mod rtu;
pub mod transport;

pub use decode::{decode_bit, decode_registers, DecodeError, Decoded};
pub use link::ModbusLink;
pub use plan::{plan, PlanGroup, ReadPlan, ReadRequest};
pub use point::{Area, DataType, ModbusPoint, Order, ReadLimits};
pub use reader::{CycleStats, DeviceReader, PointReading, Raw};
pub use transport::{DeviceIdentity, RawRead, Transport, TransportError};
