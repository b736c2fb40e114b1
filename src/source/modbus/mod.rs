//! Modbus southbound. The I/O-free core — compiled points ([`point`]), read planning
//! ([`mod@plan`]), decoding ([`decode`]) — is the `edgeproof-modbus` crate, re-exported here;
//! this module adds what a reader needs from the wire ([`link`]), the TCP transport
//! ([`transport`]), RTU buses on serial lines and RTU-over-TCP ([`rtu`]) and one device's
//! poll cycle ([`reader`]).

pub use edgeproof_modbus::decode::{self};
pub mod link;
pub use edgeproof_modbus::plan::{self};
pub use edgeproof_modbus::point::{self};
pub mod reader;
pub mod rtu;
pub mod transport;

pub use decode::{decode_bit, decode_registers, DecodeError, Decoded};
pub use link::ModbusLink;
pub use plan::{plan, PlanGroup, ReadPlan, ReadRequest};
pub use point::{Area, DataType, ModbusPoint, Order, ReadLimits};
pub use reader::{CycleStats, DeviceReader, PointReading, Raw};
pub use transport::{DeviceIdentity, RawRead, Transport, TransportError};
