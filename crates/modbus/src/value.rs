//! The value every source produces (Modbus registers and OPC UA variants alike), defined
//! here because decoding is where values are born; the gateway re-exports it as
//! `edgeproof::model::Value`.

use std::fmt;

/// A decoded reading, after scale and offset.
///
/// Integers stay integers when the point has no scale or offset, so a counter of
/// `u64::MAX` survives the trip to JSON without losing precision.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A coil, discrete input, register bit, or `bool` register.
    Bool(bool),
    /// A signed integer without scaling.
    Int(i64),
    /// An unsigned integer without scaling.
    UInt(u64),
    /// A float, or any integer that was scaled. Always finite: a non-finite reading is
    /// reported as bad quality instead (`edgeproof::model::Quality`).
    Float(f64),
    /// A string register block, trailing NULs and spaces trimmed.
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => write!(f, "{s:?}"),
        }
    }
}
