//! The words every stage shares: a [`Sample`] is one reading of one point, a [`Batch`] is
//! what one device produced in one poll cycle. Sources produce batches, the journal stores
//! them, the publisher encodes them.

use std::fmt;
use std::sync::Arc;

pub use edgeproof_modbus::Value;

/// Why a point has no good value this cycle. Bounded set, so it can label metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadReason {
    /// The device did not answer within the configured timeout.
    Timeout,
    /// The device answered with a Modbus exception (the code).
    Exception(u8),
    /// There is no connection to the device.
    Disconnected,
    /// The device answered, but the answer could not be used (wrong length, garbage).
    Malformed,
    /// The value decoded to NaN or an infinity.
    NotFinite,
    /// An OPC UA server reported the value with a bad or uncertain StatusCode: its upper 16
    /// bits (severity and sub-code, OPC UA Part 4 §7.39), e.g. `0x8034` BadNodeIdUnknown.
    Status(u16),
}

impl BadReason {
    /// A short stable name, as used in payloads (`"bad":{"oil_temp":"timeout"}`) and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            BadReason::Timeout => "timeout",
            BadReason::Exception(1) => "exception_01_illegal_function",
            BadReason::Exception(2) => "exception_02_illegal_address",
            BadReason::Exception(3) => "exception_03_illegal_value",
            BadReason::Exception(4) => "exception_04_device_failure",
            BadReason::Exception(6) => "exception_06_busy",
            BadReason::Exception(_) => "exception",
            BadReason::Disconnected => "disconnected",
            BadReason::Malformed => "malformed",
            BadReason::NotFinite => "not_finite",
            BadReason::Status(code) => status_name(*code),
        }
    }
}

/// Stable names for the OPC UA status codes an integrator meets on a value; any other code
/// is named by its severity.
fn status_name(code: u16) -> &'static str {
    match code {
        0x8034 => "opcua_node_id_unknown",
        0x8033 => "opcua_node_id_invalid",
        0x803A => "opcua_not_readable",
        0x801F => "opcua_user_access_denied",
        0x8035 => "opcua_attribute_id_invalid",
        0x8031 => "opcua_no_communication",
        0x8032 => "opcua_waiting_for_initial_data",
        0x808A => "opcua_out_of_service",
        0x808B => "opcua_device_failure",
        0x808C => "opcua_sensor_failure",
        0x8005 => "opcua_communication_error",
        0x800A => "opcua_timeout",
        0x8002 => "opcua_internal_error",
        0x8074 => "opcua_type_mismatch",
        0x408F => "opcua_uncertain_last_usable_value",
        0x4090 => "opcua_uncertain_substitute_value",
        0x4091 => "opcua_uncertain_initial_value",
        0x4092 => "opcua_uncertain_sensor_not_accurate",
        0x4093 => "opcua_uncertain_engineering_units_exceeded",
        c if c & 0xC000 == 0x4000 => "opcua_uncertain",
        _ => "opcua_bad",
    }
}

impl fmt::Display for BadReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a sample carries a usable value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    /// The value was read and decoded.
    Good,
    /// No usable value, and why.
    Bad(BadReason),
}

impl Quality {
    /// True for [`Quality::Good`].
    pub fn is_good(&self) -> bool {
        matches!(self, Quality::Good)
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quality::Good => f.write_str("good"),
            Quality::Bad(r) => write!(f, "bad ({r})"),
        }
    }
}

/// One reading of one point. `value` is `None` exactly when `quality` is bad.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The point's name, unique within its device.
    pub point: Arc<str>,
    /// When the value was read (Unix ms, UTC).
    pub ts_ms: u64,
    /// The decoded value, if good.
    pub value: Option<Value>,
    /// Good, or bad with a reason.
    pub quality: Quality,
}

impl Sample {
    /// A good sample.
    pub fn good(point: Arc<str>, ts_ms: u64, value: Value) -> Self {
        Sample { point, ts_ms, value: Some(value), quality: Quality::Good }
    }

    /// A bad sample without a value.
    pub fn bad(point: Arc<str>, ts_ms: u64, reason: BadReason) -> Self {
        Sample { point, ts_ms, value: None, quality: Quality::Bad(reason) }
    }
}

/// Everything one device produced in one poll cycle; the unit the journal stores and the
/// publisher sends as one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The device's name from the config.
    pub device: Arc<str>,
    /// The cycle's scheduled tick (Unix ms, UTC).
    pub ts_ms: u64,
    /// The points read this cycle.
    pub samples: Vec<Sample>,
}

/// Current wall-clock time in Unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
