//! What `scan` found, written as a starting point: a draft device map (`[[devices]]` with one
//! `u16`/`bool` point per readable address) and the same points as a CSV point table with
//! the English headers `import` reads, to fill in names, types, scale and units.

use std::fmt::Write as _;

use super::scan::AreaScan;
use super::target::Target;
use crate::config::{Parity, RtuBus};
use crate::source::modbus::Area;

/// One unit that answered, with what each area let us read.
#[derive(Debug, Clone)]
pub struct FoundUnit {
    /// Unit id.
    pub unit: u8,
    /// Per scanned area.
    pub areas: Vec<(Area, AreaScan)>,
}

/// The device name a draft gives a unit.
pub fn device_name(prefix: &str, unit: u8) -> String {
    format!("{prefix}-{unit}")
}

/// The point name a draft gives an address: `hr_40001` style is avoided (it invites
/// off-by-one mistakes); the area and the 0-based address are spelt out.
pub fn point_name(area: Area, address: u32) -> String {
    format!("{}_{address}", area.as_str())
}

/// Every readable address of `unit`, in area order then ascending, at most `max` of them.
/// Returns them and whether some were left out.
fn addresses(unit: &FoundUnit, max: usize) -> (Vec<(Area, u32)>, bool) {
    let mut out = Vec::new();
    for (area, scan) in &unit.areas {
        for (start, count) in &scan.ranges {
            for a in u32::from(*start)..u32::from(*start) + count {
                if out.len() == max {
                    return (out, true);
                }
                out.push((*area, a));
            }
        }
    }
    (out, false)
}

/// A draft `[[devices]]` section per unit, to paste into a config after `[gateway]`.
pub fn device_map(target: &Target, units: &[FoundUnit], prefix: &str, max_points: usize) -> String {
    let mut out = String::from(
        "# Draft device map from `edgeproof scan`: one point per readable address. Rename the\n\
         # points, set type/order/scale/unit, delete what you do not need, then `edgeproof check`.\n",
    );
    for u in units {
        let _ = writeln!(out, "\n[[devices]]\nname = \"{}\"", device_name(prefix, u.unit));
        let _ = writeln!(out, "protocol = \"{}\"", target.protocol());
        match target {
            Target::Tcp(address) | Target::Rtu(RtuBus::Tcp(address)) => {
                let _ = writeln!(out, "address = \"{address}\"");
            }
            Target::Rtu(RtuBus::Serial(line)) => {
                let parity = match line.parity {
                    Parity::None => "none",
                    Parity::Even => "even",
                    Parity::Odd => "odd",
                };
                let _ = writeln!(
                    out,
                    "port = \"{}\"\nbaud = {}\nparity = \"{parity}\"\ndata_bits = {}\nstop_bits = {}",
                    line.port, line.baud, line.data_bits, line.stop_bits
                );
            }
        }
        let _ = writeln!(out, "unit = {}", u.unit);
        for (area, scan) in &u.areas {
            let ranges: Vec<String> = scan.ranges.iter().map(|(s, c)| format!("{s}+{c}")).collect();
            let _ = writeln!(
                out,
                "# {area}: {}",
                if ranges.is_empty() { "none readable".to_string() } else { ranges.join(", ") }
            );
        }
        let (points, cut) = addresses(u, max_points);
        for (area, address) in points {
            let dtype = if area.is_bits() { "bool" } else { "u16" };
            let _ = writeln!(
                out,
                "  [[devices.points]]\n  name = \"{}\"\n  area = \"{area}\"\n  address = {address}\n  type = \"{dtype}\"",
                point_name(area, address)
            );
        }
        if cut {
            let _ =
                writeln!(out, "  # … more readable addresses left out (--max-points {max_points})");
        }
    }
    out
}

/// The point table header `import` reads (English names).
pub const CSV_HEADER: [&str; 10] =
    ["device", "name", "area", "address", "type", "order", "scale", "offset", "unit", "poll"];

/// The draft as a CSV point table (one row per readable address, at most `max_points` per
/// unit).
pub fn point_table_csv(units: &[FoundUnit], prefix: &str, max_points: usize) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(CSV_HEADER);
    for u in units {
        let device = device_name(prefix, u.unit);
        for (area, address) in addresses(u, max_points).0 {
            let dtype = if area.is_bits() { "bool" } else { "u16" };
            let _ = w.write_record([
                device.as_str(),
                &point_name(area, address),
                area.as_str(),
                &address.to_string(),
                dtype,
                "",
                "",
                "",
                "",
                "",
            ]);
        }
    }
    w.into_inner().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}
