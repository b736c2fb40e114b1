//! Interop with pymodbus's serial server, Modbus RTU nobody here wrote: three unit ids on one
//! pty bus, every value exact through `probe`, and pymodbus's own log shows only the planned
//! read requests reached each unit.

use std::time::Duration;

use edgeproof::config::{self, DeviceProtocol};
use edgeproof::source::modbus::plan;
use serde_json::Value;

use crate::modbus_rtu::{probe_and_check_units, rtu_device, unit_fixture};
use crate::support::gateway;
use crate::support::python::{self, PyServer};
use crate::support::serial::PtyPair;

fn start_pymodbus_rtu(
    port: &std::path::Path,
    images: &std::path::Path,
    log: &std::path::Path,
) -> PyServer {
    let args = [port.as_os_str(), "19200".as_ref(), images.as_os_str(), log.as_os_str()];
    let (server, line) = python::start(
        "pymodbus_rtu_server.py",
        args,
        Duration::from_secs(30),
        "are pymodbus and pyserial installed?",
    );
    assert_eq!(line, "ready", "pymodbus RTU server failed (pymodbus and pyserial installed?)");
    server
}

#[test]
fn probe_reads_three_pymodbus_rtu_units_on_one_bus_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let line = PtyPair::new(dir.path(), "bus");
    let fixtures: Vec<(u8, _)> = [4u8, 5, 6].map(|u| (u, unit_fixture(u))).into();
    let images: serde_json::Map<String, Value> =
        fixtures.iter().map(|(u, f)| (u.to_string(), f.image_json())).collect();
    let images_path = dir.path().join("images.json");
    std::fs::write(&images_path, Value::Object(images).to_string()).unwrap();
    let log = dir.path().join("requests.log");
    let _server = start_pymodbus_rtu(&line.a, &images_path, &log);

    let bus = format!(
        "protocol = \"modbus-rtu\"\nport = {:?}\nbaud = 19200\nparity = \"none\"",
        line.b.display().to_string()
    );
    let devices: String = fixtures.iter().map(|(u, f)| rtu_device(*u, &bus, f)).collect();
    let cfg = dir.path().join("edgeproof.toml");
    std::fs::write(&cfg, format!("{}\n{devices}", gateway(dir.path()))).unwrap();
    probe_and_check_units(&cfg, &fixtures);

    let compiled = config::load(&cfg).unwrap();
    let requests = std::fs::read_to_string(&log).unwrap();
    for (unit, d) in fixtures.iter().map(|(u, _)| *u).zip(&compiled.devices) {
        let DeviceProtocol::ModbusRtu(m) = &d.protocol else { panic!("an RTU device") };
        let seen =
            requests.lines().filter(|l| l.split(' ').next() == Some(&unit.to_string())).count();
        assert_eq!(
            seen,
            plan(&m.points, &m.limits).requests_per_cycle(),
            "unit {unit}:\n{requests}"
        );
    }
    assert!(
        requests.lines().all(|l| matches!(l.split(' ').nth(1), Some("1" | "2" | "3" | "4"))),
        "only read function codes may reach a device:\n{requests}"
    );
}
