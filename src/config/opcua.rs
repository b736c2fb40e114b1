//! OPC UA devices and points in the config: checks and compilation into an
//! [`OpcUaDevice`]. The other direction, OPC UA keys on a Modbus device, is in
//! `foreign_keys.rs` (also in a build without OPC UA).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use opcua::types::NodeId;

use super::foreign_keys::reject;
use super::schema::{DeviceSection, PointSection};
use super::settings::*;
use super::validate::{check_point_name, duration, Errors};
use crate::source::opcua::{Mode, OpcUaPoint, PointMode, Policy, Trust, UserAuth};

/// Compiles an `opcua` device. `data_dir` is the gateway's; the device's PKI lives below it.
pub(super) fn compile_device(
    errs: &mut Errors,
    path: &str,
    d: &DeviceSection,
    data_dir: &Path,
) -> Option<Device> {
    reject_modbus_device_keys(errs, path, d);
    let endpoint = match &d.endpoint {
        Some(e) => {
            if let Err(why) = check_endpoint(e) {
                errs.push(format!("{path}.endpoint"), format!("{e:?} {why}"));
            }
            e.clone()
        }
        None => {
            errs.push(
                format!("{path}.endpoint"),
                "missing; opcua needs opc.tcp://host:port (e.g. \"opc.tcp://192.168.1.20:4840\")",
            );
            String::new()
        }
    };
    let security_policy = match d.security_policy.as_deref() {
        None => Policy::None,
        Some(p) => match Policy::ALL.iter().find(|x| x.as_str() == p) {
            Some(x) => *x,
            None => {
                errs.push(
                    format!("{path}.security_policy"),
                    format!("{p:?} is not one of {}", names(&Policy::ALL.map(|x| x.as_str()))),
                );
                Policy::None
            }
        },
    };
    let security_mode = match d.security_mode.as_deref() {
        None if security_policy == Policy::None => Mode::None,
        None => Mode::SignAndEncrypt,
        Some(m) => match Mode::ALL.iter().find(|x| x.as_str() == m) {
            Some(x) => *x,
            None => {
                errs.push(
                    format!("{path}.security_mode"),
                    format!("{m:?} is not one of {}", names(&Mode::ALL.map(|x| x.as_str()))),
                );
                Mode::None
            }
        },
    };
    match (security_policy, security_mode) {
        (Policy::None, Mode::Sign | Mode::SignAndEncrypt) => errs.push(
            format!("{path}.security_mode"),
            format!(
                "{:?} needs a security_policy other than \"None\" (e.g. \"Basic256Sha256\")",
                security_mode.as_str()
            ),
        ),
        (p, Mode::None) if p != Policy::None => errs.push(
            format!("{path}.security_mode"),
            format!("\"None\" does not go with security_policy {:?}; use \"Sign\" or \"SignAndEncrypt\"", p.as_str()),
        ),
        _ => {}
    }
    let auth = compile_auth(errs, path, d);
    let trust = match d.trust.as_deref() {
        None | Some("first-use") => Trust::FirstUse,
        Some("pki") => Trust::Pki,
        Some(t) => {
            errs.push(format!("{path}.trust"), format!("{t:?} is not one of first-use, pki"));
            Trust::FirstUse
        }
    };
    let poll = duration(errs, &format!("{path}.poll"), d.poll.as_deref(), Duration::from_secs(1));
    let timeout =
        duration(errs, &format!("{path}.timeout"), d.timeout.as_deref(), Duration::from_secs(5));

    let mut points = Vec::with_capacity(d.points.len());
    let mut names_seen: HashMap<&str, usize> = HashMap::new();
    for (j, p) in d.points.iter().enumerate() {
        let ppath = format!("{path}.points[{j}]");
        check_point_name(errs, path, j, &p.name, &mut names_seen);
        if let Some(pt) = compile_point(errs, &ppath, p, poll) {
            points.push(pt);
        }
    }
    Some(Device {
        name: Arc::from(d.name.as_str()),
        protocol: DeviceProtocol::OpcUa(OpcUaDevice {
            endpoint,
            security_policy,
            security_mode,
            auth,
            trust,
            pki_dir: data_dir.join("pki"),
            poll,
            timeout,
            points,
        }),
    })
}

fn names(all: &[&str]) -> String {
    all.join(", ")
}

/// `opc.tcp://host:port[/path]`; the port may be left out (4840).
fn check_endpoint(e: &str) -> Result<(), &'static str> {
    let Some(rest) = e.strip_prefix("opc.tcp://") else {
        return Err("must start with opc.tcp://");
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') && h.contains(':') => {
            // A bare IPv6 address without brackets: ambiguous.
            let _ = p;
            return Err("has an IPv6 address without [brackets]");
        }
        Some((h, p)) => {
            if p.parse::<u16>().is_err() {
                return Err("has a bad port");
            }
            h
        }
        None => authority,
    };
    if host.trim_matches(|c| c == '[' || c == ']').is_empty() {
        return Err("has no host");
    }
    Ok(())
}

fn compile_auth(errs: &mut Errors, path: &str, d: &DeviceSection) -> UserAuth {
    match (&d.user, &d.user_cert_file, &d.user_key_file) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            errs.push(
                format!("{path}.user"),
                "user and user_cert_file/user_key_file are two ways to log in; give one",
            );
            UserAuth::Anonymous
        }
        (Some(user), None, None) => {
            if user.is_empty() {
                errs.push(format!("{path}.user"), "must not be empty");
            }
            UserAuth::Password {
                user: user.clone(),
                password_file: d.password_file.as_ref().map(PathBuf::from),
            }
        }
        (None, Some(cert), Some(key)) => {
            if d.password_file.is_some() {
                errs.push(
                    format!("{path}.password_file"),
                    "goes with user, not with user_cert_file",
                );
            }
            UserAuth::Certificate { cert_file: PathBuf::from(cert), key_file: PathBuf::from(key) }
        }
        (None, Some(_), None) | (None, None, Some(_)) => {
            errs.push(
                format!("{path}.user_cert_file"),
                "user_cert_file and user_key_file go together (certificate login needs both)",
            );
            UserAuth::Anonymous
        }
        (None, None, None) => {
            if d.password_file.is_some() {
                errs.push(format!("{path}.password_file"), "is set but user is not");
            }
            UserAuth::Anonymous
        }
    }
}

fn compile_point(
    errs: &mut Errors,
    path: &str,
    p: &PointSection,
    default_poll: Duration,
) -> Option<OpcUaPoint> {
    let before = errs.len();
    reject_modbus_point_keys(errs, path, p);
    let node = match p.node.as_deref() {
        Some(n) => match NodeId::from_str(n) {
            Ok(id) => Some(id),
            Err(_) => {
                errs.push(
                    format!("{path}.node"),
                    format!("{n:?} is not a node id; write e.g. \"ns=2;s=Line1.Temp\" or \"ns=3;i=1002\""),
                );
                None
            }
        },
        None => {
            errs.push(format!("{path}.node"), "missing; e.g. \"ns=2;s=Line1.Temp\"");
            None
        }
    };
    let mode = match p.mode.as_deref() {
        None | Some("subscribe") => PointMode::Subscribe,
        Some("poll") => PointMode::Poll,
        Some(m) => {
            errs.push(format!("{path}.mode"), format!("{m:?} is not one of subscribe, poll"));
            PointMode::Subscribe
        }
    };
    let interval = match mode {
        PointMode::Subscribe => {
            if p.poll.is_some() {
                errs.push(
                    format!("{path}.poll"),
                    "applies to mode = \"poll\" points; a subscribe point takes sampling",
                );
            }
            duration(errs, &format!("{path}.sampling"), p.sampling.as_deref(), default_poll)
        }
        PointMode::Poll => {
            if p.sampling.is_some() {
                errs.push(
                    format!("{path}.sampling"),
                    "applies to mode = \"subscribe\" points; a poll point takes poll",
                );
            }
            if p.deadband.is_some() {
                errs.push(
                    format!("{path}.deadband"),
                    "is a server-side filter of subscriptions; use mode = \"subscribe\"",
                );
            }
            duration(errs, &format!("{path}.poll"), p.poll.as_deref(), default_poll)
        }
    };
    if let Some(db) = p.deadband {
        if !db.is_finite() || db < 0.0 {
            errs.push(format!("{path}.deadband"), format!("{db} must be a finite number ≥ 0"));
        }
    }
    if errs.len() > before {
        return None;
    }
    Some(OpcUaPoint {
        name: Arc::from(p.name.as_str()),
        node: node?,
        mode,
        interval,
        deadband: p.deadband.filter(|d| *d > 0.0),
        unit: p.unit.clone(),
    })
}

fn reject_modbus_device_keys(errs: &mut Errors, path: &str, d: &DeviceSection) {
    reject(
        errs,
        path,
        &[
            ("address", d.address.is_some()),
            ("unit", d.unit.is_some()),
            ("max_gap", d.max_gap.is_some()),
            ("max_registers", d.max_registers.is_some()),
            ("max_bits", d.max_bits.is_some()),
        ],
        "an opcua device (Modbus only; the server is given by endpoint)",
    );
}

fn reject_modbus_point_keys(errs: &mut Errors, path: &str, p: &PointSection) {
    reject(
        errs,
        path,
        &[
            ("area", p.area.is_some()),
            ("address", p.address.is_some()),
            ("type", p.dtype.is_some()),
            ("order", p.order.is_some()),
            ("bit", p.bit.is_some()),
            ("length", p.length.is_some()),
            ("scale", p.scale.is_some()),
            ("offset", p.offset.is_some()),
        ],
        "an opcua point (Modbus only; an OPC UA node carries its own type)",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked() {
        let cases = [
            ("ip and port", "opc.tcp://192.168.1.20:4840", true),
            ("with path", "opc.tcp://plc:4840/freeopcua/server/", true),
            ("default port", "opc.tcp://plc", true),
            ("ipv6", "opc.tcp://[::1]:4840", true),
            ("wrong scheme", "http://plc:4840", false),
            ("bad port", "opc.tcp://plc:48a0", false),
            ("no host", "opc.tcp://:4840", false),
        ];
        for (name, e, ok) in cases {
            assert_eq!(check_endpoint(e).is_ok(), ok, "{name}: {e}");
        }
    }
}
