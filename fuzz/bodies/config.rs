//! Config parsing, validation and compilation (`src/config`, the path `edgeproof check`
//! takes, without environment overrides): any text as a TOML device map.
//!
//! Properties: loading is a function of the text (the same config or the same errors, twice);
//! an invalid map lists at least one problem, each with a field path; every Modbus device of
//! a valid map plans its reads (`check` prints the plan) with each point in a read that
//! covers it and no read over the device's limits.

use std::path::Path;

use edgeproof::config::{load_with_env, ConfigError, DeviceProtocol};
use edgeproof::source::modbus::{plan, Area};

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("fuzz.toml");
    let first = load_with_env(path, text, None);
    let again = load_with_env(path, text, None);
    match (&first, &again) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "a valid config loads the same twice"),
        (
            Err(ConfigError::Invalid { errors: a, .. }),
            Err(ConfigError::Invalid { errors: b, .. }),
        ) => {
            assert_eq!(a, b, "an invalid config gives the same errors twice");
            assert!(!a.is_empty(), "invalid without a reason");
            assert!(a.iter().all(|e| !e.path.is_empty()), "an error without a path: {a:?}");
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("loaded once and failed once: {first:?} / {again:?}"),
    }
    let Ok(cfg) = first else { return };
    for d in &cfg.devices {
        let (points, limits) = match &d.protocol {
            DeviceProtocol::ModbusTcp(m) => (&m.points, &m.limits),
            DeviceProtocol::ModbusRtu(m) => (&m.points, &m.limits),
            DeviceProtocol::OpcUa(_) => continue,
        };
        let p = plan(points, limits);
        for (i, point) in points.iter().enumerate() {
            let read = p
                .groups
                .iter()
                .flat_map(|g| &g.reads)
                .find(|r| r.points.contains(&i))
                .unwrap_or_else(|| panic!("{}: point {i} in no read", d.name));
            assert!(read.start <= point.address && point.end() <= read.end(), "{read:?}");
        }
        for r in p.groups.iter().flat_map(|g| &g.reads) {
            let max = match r.area {
                Area::Coil | Area::Discrete => limits.max_bits,
                Area::Input | Area::Holding => limits.max_registers,
            };
            assert!(r.count <= max, "{r:?} over {limits:?}");
        }
    }
}
