//! edgeproof's Modbus core, without I/O: what a point is ([`point`]), how registers become
//! values ([`decode`]), how points are grouped into as few requests as the device allows
//! ([`mod@plan`]), and how RTU frames are built and checked ([`rtu_frame`]). The gateway's
//! transports (`edgeproof::source::modbus`), the simulators (`edgeproof-sim`) and the fuzz
//! targets all build on this crate; none of it needs an async runtime.
//!
//! References: Modbus Application Protocol V1.1b3 (function codes, exceptions, limits) and
//! Modbus over Serial Line V1.02 (RTU framing, CRC-16).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod decode;
pub mod plan;
pub mod point;
pub mod raw;
pub mod rtu_frame;
pub mod value;

pub use decode::{decode_bit, decode_registers, DecodeError, Decoded};
pub use plan::{plan, PlanGroup, ReadPlan, ReadRequest};
pub use point::{Area, DataType, ModbusPoint, Order, ReadLimits};
pub use raw::RawRead;
pub use value::Value;
