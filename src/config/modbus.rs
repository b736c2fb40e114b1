//! Modbus devices and points in the config: checks and compilation into
//! [`ModbusPoint`]s and [`ReadLimits`]. Shared by every Modbus transport.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::schema::{DeviceSection, PointSection};
use super::settings::*;
use super::validate::{check_point_name, duration, int_in, Errors};
use crate::source::modbus::{Area, DataType, ModbusPoint, Order, ReadLimits};

/// Compiles a `modbus-tcp` device.
pub(super) fn compile_tcp_device(
    errs: &mut Errors,
    path: &str,
    d: &DeviceSection,
) -> Option<Device> {
    let address = host_port(errs, path, d, "modbus-tcp");
    let unit = int_in(errs, &format!("{path}.unit"), d.unit, 1, 0, 255) as u8;
    let timeout =
        duration(errs, &format!("{path}.timeout"), d.timeout.as_deref(), Duration::from_secs(1));
    let ModbusPoints { poll, limits, points } = compile_points(errs, path, d);
    Some(Device {
        name: Arc::from(d.name.as_str()),
        protocol: DeviceProtocol::ModbusTcp(ModbusTcpDevice {
            address,
            unit,
            poll,
            timeout,
            limits,
            points,
        }),
    })
}

/// The device's `address` as `host:port` (empty after an error), for `protocol`.
pub(super) fn host_port(
    errs: &mut Errors,
    path: &str,
    d: &DeviceSection,
    protocol: &str,
) -> String {
    match &d.address {
        Some(a)
            if a.rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) =>
        {
            a.clone()
        }
        Some(a) => {
            errs.push(
                format!("{path}.address"),
                format!("{a:?} is not host:port (e.g. \"192.168.1.10:502\")"),
            );
            String::new()
        }
        None => {
            errs.push(format!("{path}.address"), format!("missing; {protocol} needs host:port"));
            String::new()
        }
    }
}

/// What every Modbus device has, whatever carries its frames.
pub(super) struct ModbusPoints {
    /// The device's default poll interval.
    pub(super) poll: Duration,
    /// Merge rules.
    pub(super) limits: ReadLimits,
    /// The points that compiled, in file order.
    pub(super) points: Vec<ModbusPoint>,
}

/// Checks and compiles the transport-independent part of a Modbus device: `poll`, the merge
/// limits and every `[[devices.points]]` (names, types, orders, overlaps).
pub(super) fn compile_points(errs: &mut Errors, path: &str, d: &DeviceSection) -> ModbusPoints {
    let poll = duration(errs, &format!("{path}.poll"), d.poll.as_deref(), Duration::from_secs(1));
    let max_registers =
        int_in(errs, &format!("{path}.max_registers"), d.max_registers, 125, 1, 125) as u16;
    let max_bits = int_in(errs, &format!("{path}.max_bits"), d.max_bits, 2000, 1, 2000) as u16;
    let max_gap = int_in(errs, &format!("{path}.max_gap"), d.max_gap, 8, 0, 2000) as u16;
    let limits = ReadLimits { max_gap, max_registers, max_bits };

    let mut points = Vec::with_capacity(d.points.len());
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (j, p) in d.points.iter().enumerate() {
        let ppath = format!("{path}.points[{j}]");
        check_point_name(errs, path, j, &p.name, &mut names);
        if let Some(pt) = compile_point(errs, &ppath, p, poll, &limits) {
            points.push((j, pt));
        }
    }
    check_overlaps(errs, path, &points);
    ModbusPoints { poll, limits, points: points.into_iter().map(|(_, p)| p).collect() }
}

const TYPES: &str = "bool, bit, u16, i16, u32, i32, u64, i64, f32, f64, string";

fn compile_point(
    errs: &mut Errors,
    path: &str,
    p: &PointSection,
    default_poll: Duration,
    limits: &ReadLimits,
) -> Option<ModbusPoint> {
    let before = errs.len();
    let area = match p.area.as_deref() {
        Some(a) => match Area::ALL.iter().find(|x| x.as_str() == a) {
            Some(x) => Some(*x),
            None => {
                errs.push(
                    format!("{path}.area"),
                    format!("{a:?} is not one of coil, discrete, input, holding"),
                );
                None
            }
        },
        None => {
            errs.push(format!("{path}.area"), "missing; one of coil, discrete, input, holding");
            None
        }
    };
    let dtype_name = p.dtype.as_deref().unwrap_or(match area {
        Some(a) if a.is_bits() => "bool",
        _ => "",
    });
    let dtype = match dtype_name {
        "bool" => Some(DataType::Bool),
        "bit" => match p.bit {
            Some(b) if (0..=15).contains(&b) => Some(DataType::Bit(b as u8)),
            Some(b) => {
                errs.push(format!("{path}.bit"), format!("{b} is out of range 0..=15"));
                None
            }
            None => {
                errs.push(
                    format!("{path}.bit"),
                    "missing; type \"bit\" needs the bit number (0 = LSB)",
                );
                None
            }
        },
        "u16" => Some(DataType::U16),
        "i16" => Some(DataType::I16),
        "u32" => Some(DataType::U32),
        "i32" => Some(DataType::I32),
        "u64" => Some(DataType::U64),
        "i64" => Some(DataType::I64),
        "f32" => Some(DataType::F32),
        "f64" => Some(DataType::F64),
        "string" => match p.length {
            Some(n) if (1..=i64::from(limits.max_registers)).contains(&n) => {
                Some(DataType::String(n as u16))
            }
            Some(n) => {
                errs.push(
                    format!("{path}.length"),
                    format!(
                        "{n} is out of range 1..={} (the device's max_registers)",
                        limits.max_registers
                    ),
                );
                None
            }
            None => {
                errs.push(
                    format!("{path}.length"),
                    "missing; type \"string\" needs its length in registers",
                );
                None
            }
        },
        "" => {
            errs.push(format!("{path}.type"), format!("missing; one of {TYPES}"));
            None
        }
        other => {
            errs.push(format!("{path}.type"), format!("unknown type {other:?}; one of {TYPES}"));
            None
        }
    };
    if p.bit.is_some() && dtype_name != "bit" {
        errs.push(
            format!("{path}.bit"),
            format!("only applies to type \"bit\", not {dtype_name:?}"),
        );
    }
    if p.length.is_some() && dtype_name != "string" {
        errs.push(
            format!("{path}.length"),
            format!("only applies to type \"string\", not {dtype_name:?}"),
        );
    }
    if let (Some(a), Some(t)) = (area, dtype) {
        if a.is_bits() && t != DataType::Bool {
            errs.push(
                format!("{path}.type"),
                format!("{:?} cannot be read from {a}s; use \"bool\"", t.as_str()),
            );
        }
    }
    let order = match (p.order.as_deref(), dtype.and_then(|t| t.order_bytes())) {
        (None, _) => Order::Abcd,
        (Some(o), Some(4)) => {
            Order::ALL.into_iter().find(|x| x.name4() == o).unwrap_or_else(|| {
                errs.push(
                    format!("{path}.order"),
                    format!("{o:?} is not one of ABCD, CDAB, BADC, DCBA"),
                );
                Order::Abcd
            })
        }
        (Some(o), Some(_)) => {
            Order::ALL.into_iter().find(|x| x.name8() == o).unwrap_or_else(|| {
                errs.push(
                    format!("{path}.order"),
                    format!(
                        "{o:?} is not one of ABCDEFGH, GHEFCDAB, BADCFEHG, HGFEDCBA (8-byte types)"
                    ),
                );
                Order::Abcd
            })
        }
        (Some(_), None) if dtype.is_none() => Order::Abcd,
        (Some(o), None) => {
            errs.push(
                format!("{path}.order"),
                format!("{o:?} given, but type {dtype_name:?} has no byte order"),
            );
            Order::Abcd
        }
    };
    let numeric = !matches!(dtype, Some(DataType::Bool | DataType::Bit(_) | DataType::String(_)));
    for (key, given) in [
        ("scale", p.scale.is_some()),
        ("offset", p.offset.is_some()),
        ("deadband", p.deadband.is_some()),
    ] {
        if given && !numeric && dtype.is_some() {
            errs.push(
                format!("{path}.{key}"),
                format!("only applies to numeric types, not {dtype_name:?}"),
            );
        }
    }
    let scale = p.scale.unwrap_or(1.0);
    let offset = p.offset.unwrap_or(0.0);
    if !scale.is_finite() || scale == 0.0 {
        errs.push(format!("{path}.scale"), format!("{scale} must be finite and non-zero"));
    }
    if !offset.is_finite() {
        errs.push(format!("{path}.offset"), format!("{offset} must be finite"));
    }
    if let Some(db) = p.deadband {
        if !db.is_finite() || db < 0.0 {
            errs.push(format!("{path}.deadband"), format!("{db} must be finite and not negative"));
        }
    }
    let address = match p.address {
        Some(a) if (0..=65535).contains(&a) => Some(a as u16),
        Some(a) if a < 0 => {
            errs.push(
                format!("{path}.address"),
                format!("{a} is negative (addresses are 0-based, 0..=65535)"),
            );
            None
        }
        Some(a) => {
            errs.push(
                format!("{path}.address"),
                format!("{a} is past 65535 (addresses are 0-based, 0..=65535)"),
            );
            None
        }
        None => {
            errs.push(format!("{path}.address"), "missing; the 0-based protocol address");
            None
        }
    };
    if let (Some(a), Some(t)) = (address, dtype) {
        if u32::from(a) + u32::from(t.width()) > 65536 {
            errs.push(
                format!("{path}.address"),
                format!("{a} + {} registers runs past 65535", t.width()),
            );
        }
    }
    let poll = duration(errs, &format!("{path}.poll"), p.poll.as_deref(), default_poll);
    if errs.len() != before {
        return None;
    }
    Some(ModbusPoint {
        name: Arc::from(p.name.as_str()),
        area: area?,
        address: address?,
        dtype: dtype?,
        order,
        scale,
        offset,
        unit: p.unit.clone(),
        poll,
        deadband: p.deadband,
    })
}

/// Two points may share registers only when they read them the same way: the same type and
/// order under two names, or a status word beside its bits (`bit` with `bit`, `u16` or
/// `i16`). Anything else means one of them is wrong.
fn check_overlaps(errs: &mut Errors, path: &str, points: &[(usize, ModbusPoint)]) {
    let mut by_area: Vec<&(usize, ModbusPoint)> = points.iter().collect();
    by_area.sort_by_key(|(_, p)| (p.area, p.address));
    let mut reported = HashSet::new();
    for (i, (ja, a)) in by_area.iter().enumerate() {
        for (jb, b) in by_area[i + 1..].iter() {
            if b.area != a.area || u32::from(b.address) >= a.end() {
                break;
            }
            let compatible = (a.dtype == b.dtype && a.order == b.order)
                || matches!(
                    (a.dtype, b.dtype),
                    (DataType::Bit(_), DataType::Bit(_) | DataType::U16 | DataType::I16)
                        | (DataType::U16 | DataType::I16, DataType::Bit(_))
                );
            if !compatible && reported.insert((*ja.min(jb), *ja.max(jb))) {
                let (first, second) = if ja < jb { (a, b) } else { (b, a) };
                errs.push(
                    format!("{path}.points[{}]", ja.max(jb)),
                    format!(
                        "{:?} ({} at {} {}) overlaps {:?} ({} at {} {}) with a different type",
                        second.name,
                        second.dtype.as_str(),
                        second.area,
                        second.address,
                        first.name,
                        first.dtype.as_str(),
                        first.area,
                        first.address
                    ),
                );
            }
        }
    }
}
