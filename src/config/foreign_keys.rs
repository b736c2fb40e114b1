//! Keys that belong to another protocol: set on a device, they are mistakes, reported with
//! their paths. Kept apart from `opcua.rs` so that a build without OPC UA still refuses
//! OPC UA keys on a Modbus device.

use super::schema::DeviceSection;
use super::validate::Errors;

/// Pushes one error per key that is set and foreign to the protocol.
pub(super) fn reject(errs: &mut Errors, path: &str, keys: &[(&str, bool)], what: &str) {
    for (key, set) in keys {
        if *set {
            errs.push(format!("{path}.{key}"), format!("is not a key of {what}"));
        }
    }
}

/// OPC UA keys on a device of another protocol (and its points) are mistakes.
pub(super) fn reject_opcua_keys(errs: &mut Errors, path: &str, d: &DeviceSection) {
    let what = format!("a {} device (OPC UA only)", d.protocol);
    reject(
        errs,
        path,
        &[
            ("endpoint", d.endpoint.is_some()),
            ("security_policy", d.security_policy.is_some()),
            ("security_mode", d.security_mode.is_some()),
            ("user", d.user.is_some()),
            ("password_file", d.password_file.is_some()),
            ("user_cert_file", d.user_cert_file.is_some()),
            ("user_key_file", d.user_key_file.is_some()),
            ("trust", d.trust.is_some()),
        ],
        &what,
    );
    for (j, p) in d.points.iter().enumerate() {
        reject(
            errs,
            &format!("{path}.points[{j}]"),
            &[
                ("node", p.node.is_some()),
                ("mode", p.mode.is_some()),
                ("sampling", p.sampling.is_some()),
            ],
            &format!("a {} point (OPC UA only)", d.protocol),
        );
    }
}
