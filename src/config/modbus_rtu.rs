//! Modbus RTU devices in the config: `modbus-rtu` (a unit on a serial port) and
//! `modbus-rtu-over-tcp` (a unit behind a serial-to-Ethernet converter). The points, poll
//! interval and merge limits compile exactly as for Modbus TCP ([`super::modbus`]); this file
//! checks what carries the frames — the port and its line settings, or the converter's
//! address — plus the unit, timeout and turnaround.
//!
//! It also makes the checks no single device can: devices naming the same port share one
//! bus, so they must agree on its line settings (baud, parity, data and stop bits), and two
//! devices on one bus may not claim the same unit id.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::modbus::{compile_points, ModbusPoints};
use super::schema::DeviceSection;
use super::settings::*;
use super::validate::{duration, int_in, Errors};

/// Default response timeout on a bus. Shorter than Modbus TCP's 1 s: a silent unit makes its
/// neighbours wait up to one timeout, which must stay below their (default 1 s) poll interval.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// Compiles a `modbus-rtu` device.
pub(super) fn compile_rtu_device(
    errs: &mut Errors,
    path: &str,
    d: &DeviceSection,
) -> Option<Device> {
    if d.address.is_some() {
        errs.push(
            format!("{path}.address"),
            "modbus-rtu reads a serial port: give `port`, or use protocol \"modbus-rtu-over-tcp\" \
             for a converter at host:port",
        );
    }
    let port = match d.port.as_deref().map(str::trim) {
        Some(p) if !p.is_empty() => p.to_owned(),
        Some(_) => {
            errs.push(format!("{path}.port"), "must not be empty (e.g. \"/dev/ttyS1\")");
            String::new()
        }
        None => {
            errs.push(
                format!("{path}.port"),
                "missing; modbus-rtu needs the serial port, e.g. \"/dev/ttyS1\"",
            );
            String::new()
        }
    };
    let baud = int_in(errs, &format!("{path}.baud"), d.baud, 9600, 300, 921_600) as u32;
    let parity = match d.parity.as_deref() {
        None | Some("even") => Parity::Even,
        Some("none") => Parity::None,
        Some("odd") => Parity::Odd,
        Some(p) => {
            errs.push(format!("{path}.parity"), format!("{p:?} is not one of none, even, odd"));
            Parity::Even
        }
    };
    let data_bits = one_of(errs, &format!("{path}.data_bits"), d.data_bits, 8, &[7, 8]);
    let stop_bits = one_of(errs, &format!("{path}.stop_bits"), d.stop_bits, 1, &[1, 2]);
    let line = SerialLine { port, baud, parity, data_bits, stop_bits };
    Some(unit_device(errs, path, d, RtuBus::Serial(line)))
}

/// Compiles a `modbus-rtu-over-tcp` device.
pub(super) fn compile_rtu_over_tcp_device(
    errs: &mut Errors,
    path: &str,
    d: &DeviceSection,
) -> Option<Device> {
    reject(errs, path, d, "modbus-rtu-over-tcp: the converter owns the serial line", SERIAL_KEYS);
    let address = super::modbus::host_port(errs, path, d, "modbus-rtu-over-tcp");
    Some(unit_device(errs, path, d, RtuBus::Tcp(address)))
}

/// The keys only `modbus-rtu` takes.
const SERIAL_KEYS: &[&str] = &["port", "baud", "parity", "data_bits", "stop_bits"];

/// Reports the RTU keys on a device of another protocol (`modbus-tcp`, `opcua`): they would
/// be silently ignored otherwise.
pub(super) fn reject_rtu_keys(errs: &mut Errors, path: &str, d: &DeviceSection) {
    let why = format!("only applies to modbus-rtu devices, not {:?}", d.protocol);
    reject(errs, path, d, &why, SERIAL_KEYS);
    reject(
        errs,
        path,
        d,
        &format!(
            "only applies to modbus-rtu and modbus-rtu-over-tcp devices, not {:?}",
            d.protocol
        ),
        &["turnaround"],
    );
}

fn reject(errs: &mut Errors, path: &str, d: &DeviceSection, why: &str, keys: &[&str]) {
    for key in keys {
        let given = match *key {
            "port" => d.port.is_some(),
            "baud" => d.baud.is_some(),
            "parity" => d.parity.is_some(),
            "data_bits" => d.data_bits.is_some(),
            "stop_bits" => d.stop_bits.is_some(),
            "turnaround" => d.turnaround.is_some(),
            _ => false,
        };
        if given {
            errs.push(format!("{path}.{key}"), why.to_owned());
        }
    }
}

/// The unit, timeouts and points, common to both RTU protocols.
fn unit_device(errs: &mut Errors, path: &str, d: &DeviceSection, bus: RtuBus) -> Device {
    // 0 is broadcast (never answered, so never read); 248-255 are reserved (Modbus over
    // Serial Line §2.2).
    let unit = int_in(errs, &format!("{path}.unit"), d.unit, 1, 1, 247) as u8;
    let timeout = duration(errs, &format!("{path}.timeout"), d.timeout.as_deref(), DEFAULT_TIMEOUT);
    let turnaround = duration_or_zero(errs, &format!("{path}.turnaround"), d.turnaround.as_deref());
    let ModbusPoints { poll, limits, points } = compile_points(errs, path, d);
    Device {
        name: Arc::from(d.name.as_str()),
        protocol: DeviceProtocol::ModbusRtu(ModbusRtuDevice {
            bus,
            unit,
            poll,
            timeout,
            turnaround,
            limits,
            points,
        }),
    }
}

fn one_of(errs: &mut Errors, path: &str, v: Option<i64>, default: u8, allowed: &[u8]) -> u8 {
    match v {
        None => default,
        Some(x) => match allowed.iter().find(|a| i64::from(**a) == x) {
            Some(a) => *a,
            None => {
                let list: Vec<String> = allowed.iter().map(u8::to_string).collect();
                errs.push(path, format!("{x} is not one of {}", list.join(", ")));
                default
            }
        },
    }
}

/// A duration where zero makes sense (an extra pause that may be none).
fn duration_or_zero(errs: &mut Errors, path: &str, text: Option<&str>) -> Duration {
    match text {
        None => Duration::ZERO,
        Some(t) => humantime::parse_duration(t).unwrap_or_else(|e| {
            errs.push(path, format!("{t:?} is not a duration ({e}); write e.g. \"0ms\", \"50ms\""));
            Duration::ZERO
        }),
    }
}

/// Devices that share a bus must agree on its line settings and not share a unit id.
/// `sections` are the devices as written (for their paths), `devices` those that compiled.
pub(super) fn check_buses(errs: &mut Errors, sections: &[DeviceSection], devices: &[Device]) {
    let index = |name: &str| sections.iter().position(|s| s.name == name).unwrap_or(0);
    // Per bus: the first device on it, and the device of every unit id.
    let mut lines: HashMap<&str, (&Device, &SerialLine)> = HashMap::new();
    let mut units: HashMap<(&str, u8), &Device> = HashMap::new();
    for device in devices {
        let DeviceProtocol::ModbusRtu(rtu) = &device.protocol else { continue };
        let i = index(&device.name);
        if let RtuBus::Serial(line) = &rtu.bus {
            match lines.get(line.port.as_str()) {
                None => {
                    lines.insert(&line.port, (device, line));
                }
                Some((first, first_line)) if !same_line(first_line, line) => {
                    let j = index(&first.name);
                    errs.push(
                        format!("devices[{i}].port"),
                        format!(
                            "{:?} sets port {:?} to {line}, but devices[{j}] ({:?}) on the same \
                             port sets {first_line}; devices on one bus must use the same baud, \
                             parity, data and stop bits",
                            device.name, line.port, first.name
                        ),
                    );
                }
                Some(_) => {}
            }
        }
        let key = (rtu.bus.name(), rtu.unit);
        if let Some(first) = units.get(&key) {
            let j = index(&first.name);
            errs.push(
                format!("devices[{i}].unit"),
                format!(
                    "unit {} on {:?} is already read by devices[{j}] ({:?}); give each unit on a \
                     bus one device",
                    rtu.unit,
                    rtu.bus.name(),
                    first.name
                ),
            );
        } else {
            units.insert(key, device);
        }
    }
}

fn same_line(a: &SerialLine, b: &SerialLine) -> bool {
    (a.baud, a.parity, a.data_bits, a.stop_bits) == (b.baud, b.parity, b.data_bits, b.stop_bits)
}
