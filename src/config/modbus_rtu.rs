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
        // A unit already reported as invalid compiled to the default; it claims no unit id.
        let unit_valid = sections[i].unit.is_none_or(|u| (1..=247).contains(&u));
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
        if !unit_valid {
            continue;
        }
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::{load_str, Config, ConfigError, DeviceProtocol, ModbusRtuDevice};
    use crate::config::{Parity, RtuBus, SerialLine};

    const HEAD: &str =
        "[gateway]\nid = \"gw-1\"\nenterprise = \"91440300MA5DEM0A0G\"\nproject = \"P-1\"\n";

    fn load(devices: &str) -> Result<Config, ConfigError> {
        load_str(Path::new("test.toml"), &format!("{HEAD}\n{devices}"), false)
    }

    fn errors(devices: &str) -> Vec<String> {
        match load(devices) {
            Err(ConfigError::Invalid { errors, .. }) => {
                errors.iter().map(|e| e.to_string()).collect()
            }
            Err(e) => vec![e.to_string()],
            Ok(_) => vec![],
        }
    }

    /// A device with one point and the given keys.
    fn device(name: &str, keys: &str) -> String {
        format!(
            "[[devices]]\nname = \"{name}\"\n{keys}\n  [[devices.points]]\n  name = \"p\"\n  area = \"holding\"\n  address = 0\n  type = \"u16\"\n"
        )
    }

    fn rtu(cfg: &Config, i: usize) -> &ModbusRtuDevice {
        match &cfg.devices[i].protocol {
            DeviceProtocol::ModbusRtu(m) => m,
            other => panic!("device {i} is not RTU: {other:?}"),
        }
    }

    #[test]
    fn the_annotated_example_has_a_serial_unit() {
        let text = include_str!("../../configs/example.toml");
        let cfg = load_str(Path::new("example.toml"), text, false).expect("example is valid");
        let i = cfg.devices.iter().position(|d| &*d.name == "meter-3").expect("meter-3");
        let m = rtu(&cfg, i);
        let line = SerialLine {
            port: "/dev/ttyS1".into(),
            baud: 9600,
            parity: Parity::None,
            data_bits: 8,
            stop_bits: 1,
        };
        assert_eq!(m.bus, RtuBus::Serial(line));
        assert_eq!(
            (m.unit, m.timeout, m.turnaround),
            (3, Duration::from_millis(300), Duration::from_millis(50))
        );
        assert_eq!(cfg.devices[i].protocol_name(), "modbus-rtu");
        assert_eq!(m.points.len(), 2);
    }

    #[test]
    fn defaults_follow_the_modbus_serial_line_spec() {
        let cfg = load(&device("m", "protocol = \"modbus-rtu\"\nport = \"/dev/ttyUSB0\"")).unwrap();
        let m = rtu(&cfg, 0);
        let RtuBus::Serial(line) = &m.bus else { panic!("serial") };
        assert_eq!(line.to_string(), "9600 8E1", "even parity is the Modbus default");
        assert_eq!(
            (m.unit, m.timeout, m.turnaround),
            (1, Duration::from_millis(500), Duration::ZERO)
        );
    }

    #[test]
    fn rtu_over_tcp_takes_an_address_and_the_unit_keys() {
        let keys = "protocol = \"modbus-rtu-over-tcp\"\naddress = \"10.0.0.9:4001\"\nunit = 12\nturnaround = \"0ms\"";
        let cfg = load(&device("m", keys)).unwrap();
        let m = rtu(&cfg, 0);
        assert_eq!(m.bus, RtuBus::Tcp("10.0.0.9:4001".into()));
        assert_eq!(m.unit, 12);
        assert_eq!(cfg.devices[0].protocol_name(), "modbus-rtu-over-tcp");
    }

    #[test]
    fn each_mistake_names_its_field() {
        let serial = "protocol = \"modbus-rtu\"\nport = \"/dev/ttyS1\"";
        let cases: Vec<(&str, String, &str)> = vec![
            ("no port", "protocol = \"modbus-rtu\"".into(), "devices[0].port: missing"),
            ("baud too low", format!("{serial}\nbaud = 110"), "devices[0].baud: 110 is out of range"),
            ("mark parity", format!("{serial}\nparity = \"mark\""), "devices[0].parity: \"mark\" is not one of"),
            ("nine data bits", format!("{serial}\ndata_bits = 9"), "devices[0].data_bits: 9 is not one of 7, 8"),
            ("three stop bits", format!("{serial}\nstop_bits = 3"), "devices[0].stop_bits: 3 is not one of 1, 2"),
            ("broadcast unit", format!("{serial}\nunit = 0"), "devices[0].unit: 0 is out of range 1..=247"),
            ("reserved unit", format!("{serial}\nunit = 248"), "devices[0].unit: 248 is out of range 1..=247"),
            ("bad turnaround", format!("{serial}\nturnaround = \"soon\""), "devices[0].turnaround: \"soon\" is not a duration"),
            ("address on serial", format!("{serial}\naddress = \"1.2.3.4:502\""), "devices[0].address: modbus-rtu reads a serial port"),
            (
                "port on a converter",
                "protocol = \"modbus-rtu-over-tcp\"\naddress = \"10.0.0.9:4001\"\nport = \"/dev/ttyS1\"".into(),
                "devices[0].port: modbus-rtu-over-tcp: the converter owns the serial line",
            ),
            ("converter without address", "protocol = \"modbus-rtu-over-tcp\"".into(), "devices[0].address: missing; modbus-rtu-over-tcp needs host:port"),
            (
                "baud on modbus-tcp",
                "protocol = \"modbus-tcp\"\naddress = \"1.2.3.4:502\"\nbaud = 9600".into(),
                "devices[0].baud: only applies to modbus-rtu devices",
            ),
            (
                "turnaround on modbus-tcp",
                "protocol = \"modbus-tcp\"\naddress = \"1.2.3.4:502\"\nturnaround = \"5ms\"".into(),
                "devices[0].turnaround: only applies to modbus-rtu and modbus-rtu-over-tcp",
            ),
        ];
        for (name, keys, want) in cases {
            let errs = errors(&device("m", &keys));
            assert!(errs.iter().any(|e| e.contains(want)), "{name}: want {want:?} in {errs:#?}");
        }
    }

    #[test]
    fn a_port_shared_with_different_settings_names_both_devices() {
        let devices = [
            device("meter-1", "protocol = \"modbus-rtu\"\nport = \"/dev/ttyS1\"\nunit = 1"),
            device("meter-2", "protocol = \"modbus-rtu\"\nport = \"/dev/ttyS1\"\nunit = 2\nbaud = 19200\nparity = \"none\""),
        ]
        .concat();
        let errs = errors(&devices);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        for part in
            ["devices[1].port", "\"meter-2\"", "19200 8N1", "devices[0] (\"meter-1\")", "9600 8E1"]
        {
            assert!(errs[0].contains(part), "{part:?} in {}", errs[0]);
        }
    }

    #[test]
    fn one_unit_id_twice_on_a_bus_is_an_error_but_on_two_buses_is_fine() {
        let on = |name: &str, port: &str| {
            device(name, &format!("protocol = \"modbus-rtu\"\nport = \"{port}\"\nunit = 5"))
        };
        let errs = errors(&[on("a", "/dev/ttyS1"), on("b", "/dev/ttyS1")].concat());
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].starts_with("devices[1].unit: unit 5 on \"/dev/ttyS1\""), "{}", errs[0]);
        assert!(errs[0].contains("devices[0] (\"a\")"), "{}", errs[0]);
        assert!(errors(&[on("a", "/dev/ttyS1"), on("b", "/dev/ttyS2")].concat()).is_empty());
    }

    /// An invalid unit compiled to the default (1): it was also reported as a duplicate of
    /// the real unit 1 on the same bus.
    #[test]
    fn an_invalid_unit_is_not_also_a_false_duplicate() {
        let on = |name: &str, unit: i64| {
            device(
                name,
                &format!("protocol = \"modbus-rtu\"\nport = \"/dev/ttyS1\"\nunit = {unit}"),
            )
        };
        let errs = errors(&[on("a", 1), on("b", 300), on("c", 0)].concat());
        assert_eq!(
            errs,
            vec![
                "devices[1].unit: 300 is out of range 1..=247".to_string(),
                "devices[2].unit: 0 is out of range 1..=247".to_string(),
            ]
        );
    }

    #[test]
    fn units_sharing_a_port_with_the_same_settings_compile() {
        let devices: String = (1..=3)
            .map(|u| device(&format!("m{u}"), &format!("protocol = \"modbus-rtu\"\nport = \"/dev/ttyS1\"\nunit = {u}\nparity = \"odd\"")))
            .collect();
        let cfg = load(&devices).unwrap();
        assert!((0..3).all(|i| rtu(&cfg, i).bus.name() == "/dev/ttyS1"));
    }
}
