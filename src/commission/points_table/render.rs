//! Imported points as `[[devices.points]]` TOML, each with a comment naming its source row
//! (and the Modicon conversion, if any), so the integrator can trace every line back to the
//! vendor's table.

use std::fmt::Write as _;

use super::import::Imported;
use crate::source::modbus::DataType;

/// The points as TOML, to paste under the device's `[[devices]]` entry.
pub fn points_toml(imported: &Imported, device: &str, source: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {} point(s) of device {device:?}, imported from {source} by `edgeproof import`.",
        imported.points.len()
    );
    if !imported.ignored_columns.is_empty() {
        let _ = writeln!(out, "# Columns not imported: {}.", imported.ignored_columns.join(", "));
    }
    let converted = imported.points.iter().filter(|p| p.note.is_some()).count();
    if converted > 0 {
        let _ = writeln!(
            out,
            "# {converted} Modicon address(es) (40001-style, 1-based) converted to 0-based protocol addresses."
        );
    }
    for p in &imported.points {
        let _ = writeln!(
            out,
            "\n  # row {}{}",
            p.row,
            p.note.as_ref().map_or(String::new(), |n| format!(": {n}"))
        );
        let _ = writeln!(out, "  [[devices.points]]");
        let _ = writeln!(out, "  name = {}", quote(&p.name));
        let _ = writeln!(out, "  area = \"{}\"", p.area);
        let _ = writeln!(out, "  address = {}", p.address);
        match p.dtype {
            Some(DataType::String(n)) => {
                let _ = writeln!(out, "  type = \"string\"\n  length = {n}");
            }
            Some(DataType::Bit(b)) => {
                let _ = writeln!(out, "  type = \"bit\"\n  bit = {b}");
            }
            Some(t) => {
                let _ = writeln!(out, "  type = \"{}\"", t.as_str());
            }
            None => {}
        }
        if let (Some(o), Some(t)) = (p.order, p.dtype) {
            let name = if t.order_bytes() == Some(8) { o.name8() } else { o.name4() };
            let _ = writeln!(out, "  order = \"{name}\"");
        }
        if let Some(s) = p.scale {
            let _ = writeln!(out, "  scale = {}", float(s));
        }
        if let Some(o) = p.offset {
            let _ = writeln!(out, "  offset = {}", float(o));
        }
        if let Some(u) = &p.unit {
            let _ = writeln!(out, "  unit = {}", quote(u));
        }
        if let Some(d) = p.poll {
            let _ = writeln!(out, "  poll = \"{}\"", humantime::format_duration(d));
        }
    }
    out
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML float (always with a decimal point or exponent, so it reads back as a float).
fn float(v: f64) -> String {
    let s = v.to_string();
    if s.contains(['.', 'e', 'E']) || !v.is_finite() {
        s
    } else {
        format!("{s}.0")
    }
}
