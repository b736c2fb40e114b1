//! `edgeproof probe -c FILE [--device NAME] [--json]`: read every point once and show the
//! decoded value beside the raw registers, so an integrator can see a word-swapped float at a
//! glance.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use edgeproof::config::{self, ConfigError, DeviceProtocol};
use edgeproof::model::{Quality, Value};
use edgeproof::source::modbus::reader::{DeviceReader, PointReading, Raw};
use edgeproof::source::modbus::rtu::RtuBuses;
use edgeproof::source::modbus::ModbusLink;
use edgeproof::source::NoObserver;
use serde_json::json;

/// Runs the probe.
pub async fn run(file: &Path, device: Option<&str>, as_json: bool) -> ExitCode {
    let cfg = match config::load(file) {
        Ok(c) => c,
        Err(e @ ConfigError::Read { .. }) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::EXIT_CANNOT_RUN);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::EXIT_NEGATIVE);
        }
    };
    let devices: Vec<_> =
        cfg.devices.iter().filter(|d| device.is_none_or(|n| *d.name == *n)).collect();
    if devices.is_empty() {
        let known: Vec<_> = cfg.devices.iter().map(|d| d.name.to_string()).collect();
        eprintln!(
            "error: no device {:?} in {}; devices: {}",
            device.unwrap_or(""),
            file.display(),
            known.join(", ")
        );
        return ExitCode::from(super::EXIT_NEGATIVE);
    }
    let mut good = 0usize;
    // RTU devices on one port share its bus, as in `run`; started at the first RTU device.
    let mut buses: Option<RtuBuses> = None;
    for d in devices {
        good += match &d.protocol {
            DeviceProtocol::ModbusTcp(m) => {
                probe_modbus(DeviceReader::new(d.name.clone(), m), as_json).await
            }
            DeviceProtocol::ModbusRtu(m) => {
                let buses = buses.get_or_insert_with(|| RtuBuses::new(Arc::new(NoObserver)));
                let unit = buses.unit(d.name.clone(), m);
                let reader =
                    DeviceReader::with_link(d.name.clone(), m.points.clone(), &m.limits, unit);
                probe_modbus(reader, as_json).await
            }
            #[cfg(feature = "opcua")]
            DeviceProtocol::OpcUa(o) => probe_opcua(&d.name, o, as_json).await,
        };
    }
    if good == 0 {
        eprintln!("no point could be read");
        ExitCode::from(super::EXIT_NEGATIVE)
    } else {
        ExitCode::SUCCESS
    }
}

/// Reads every point of one Modbus device once and prints it; returns how many were good.
async fn probe_modbus<L: ModbusLink>(reader: DeviceReader<L>, as_json: bool) -> usize {
    let mut reader = reader.keep_raw(true);
    let mut readings = Vec::new();
    for g in 0..reader.plan().groups.len() {
        reader.read_group(g, &mut readings).await;
    }
    readings.sort_by_key(|r| r.index);
    if as_json {
        print_json(reader.device(), &readings);
    } else {
        print_table(&reader, &readings);
    }
    readings.iter().filter(|r| r.sample.quality.is_good()).count()
}

/// A value as JSON: numbers stay numbers (u64 exact), text stays text.
pub fn value_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::UInt(u) => json!(u),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::Text(s) => json!(s),
    }
}

fn raw_json(raw: &Option<Raw>) -> serde_json::Value {
    match raw {
        Some(Raw::Registers(words)) => json!(words),
        Some(Raw::Bit(b)) => json!([b]),
        None => serde_json::Value::Null,
    }
}

fn print_json(device: &Arc<str>, readings: &[PointReading]) {
    for r in readings {
        let mut line = json!({
            "device": &**device,
            "point": &*r.sample.point,
            "value": r.sample.value.as_ref().map_or(serde_json::Value::Null, value_json),
            "quality": if r.sample.quality.is_good() { "good" } else { "bad" },
            "raw": raw_json(&r.raw),
        });
        if let (Quality::Bad(reason), Some(obj)) = (r.sample.quality, line.as_object_mut()) {
            obj.insert("error".into(), json!(reason.as_str()));
        }
        println!("{line}");
    }
}

fn print_table<L: ModbusLink>(reader: &DeviceReader<L>, readings: &[PointReading]) {
    let device = reader.device();
    let address = reader.link().address();
    println!(
        "{device} ({address}) — {} point(s) in {} request(s)",
        reader.points().len(),
        reader.plan().requests_per_cycle()
    );
    println!(
        "  {:<24} {:<9} {:>7} {:<8} {:<24} {:<10} raw",
        "point", "area", "address", "type", "value", "unit"
    );
    for r in readings {
        let Some(p) = reader.points().get(r.index) else { continue };
        let value = match (&r.sample.value, r.sample.quality) {
            (Some(v), _) => v.to_string(),
            (None, q) => q.to_string(),
        };
        let raw = match &r.raw {
            Some(Raw::Registers(w)) => {
                w.iter().map(|x| format!("{x:04X}")).collect::<Vec<_>>().join(" ")
            }
            Some(Raw::Bit(b)) => (*b as u8).to_string(),
            None => "-".into(),
        };
        println!(
            "  {:<24} {:<9} {:>7} {:<8} {:<24} {:<10} {raw}",
            p.name,
            p.area.as_str(),
            p.address,
            p.dtype.as_str(),
            value,
            p.unit.as_deref().unwrap_or(""),
        );
    }
}

/// Reads every point of one OPC UA device once (subscribe points too, with one batched
/// Read) and prints it with the server's identity; returns how many were good.
#[cfg(feature = "opcua")]
async fn probe_opcua(
    device: &Arc<str>,
    cfg: &edgeproof::config::OpcUaDevice,
    as_json: bool,
) -> usize {
    let (samples, fp) = match edgeproof::source::opcua::read_once(device, cfg).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 0;
        }
    };
    if as_json {
        for (s, p) in samples.iter().zip(&cfg.points) {
            let mut line = json!({
                "device": &**device,
                "point": &*s.point,
                "node": p.node.to_string(),
                "value": s.value.as_ref().map_or(serde_json::Value::Null, value_json),
                "quality": if s.quality.is_good() { "good" } else { "bad" },
                "ts_ms": s.ts_ms,
            });
            if let (Quality::Bad(reason), Some(obj)) = (s.quality, line.as_object_mut()) {
                obj.insert("error".into(), json!(reason.as_str()));
            }
            println!("{line}");
        }
    } else {
        let product = fp.build.as_ref().map_or(String::new(), |b| {
            format!(" · {} {} {}", b.manufacturer_name, b.product_name, b.software_version)
        });
        println!("{device} ({}) — {}{product}", cfg.endpoint, fp.application_uri);
        println!(
            "  server certificate sha256 {}",
            fp.certificate_sha256.as_deref().unwrap_or("(none)")
        );
        println!("  {:<24} {:<9} {:<32} {:<24} unit", "point", "mode", "node", "value");
        for (s, p) in samples.iter().zip(&cfg.points) {
            let value = match (&s.value, s.quality) {
                (Some(v), _) => v.to_string(),
                (None, q) => q.to_string(),
            };
            println!(
                "  {:<24} {:<9} {:<32} {:<24} {}",
                p.name,
                p.mode.as_str(),
                p.node.to_string(),
                value,
                p.unit.as_deref().unwrap_or("")
            );
        }
    }
    samples.iter().filter(|s| s.quality.is_good()).count()
}
