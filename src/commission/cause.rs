//! A failed read's cause in the words an installer uses — "connection refused", "no answer
//! within 1s", "exception 02 (illegal data address)", "no such serial port /dev/ttyUSB3" —
//! for `read`, `scan` and `doctor`.

use std::io::ErrorKind;

use crate::source::modbus::transport::exception_name;
use crate::source::modbus::TransportError;

/// The cause of `e`, without the device name (the caller prints it beside its own).
pub fn cause(e: &TransportError) -> String {
    match e {
        TransportError::Connect { address, source, .. } => match source.kind() {
            ErrorKind::ConnectionRefused => format!("connection refused by {address}"),
            ErrorKind::NotFound if address.starts_with('/') => {
                format!("no such serial port {}", address.split(' ').next().unwrap_or(address))
            }
            ErrorKind::PermissionDenied => {
                format!("permission denied opening {address} (is the user in group dialout?)")
            }
            _ => format!("cannot connect to {address}: {source}"),
        },
        TransportError::Timeout { address, timeout, .. } => {
            format!(
                "timeout: no answer from {address} within {}",
                humantime::format_duration(*timeout)
            )
        }
        TransportError::Io { address, source, .. } => {
            format!("connection to {address} lost: {source}")
        }
        TransportError::Exception { code, .. } => {
            format!("exception {code:02} ({})", exception_name(*code))
        }
        TransportError::Malformed { detail, .. } => format!("malformed answer: {detail}"),
        TransportError::Backoff { address, retry_in, .. } => format!(
            "{address} failed just before; next attempt in {}",
            humantime::format_duration(*retry_in)
        ),
        TransportError::InvalidRequest { detail, .. } => format!("invalid request: {detail}"),
    }
}
