//! Interop with pymodbus, a Modbus server nobody here wrote: the same register image and the
//! same expectations as against our simulator, and pymodbus's own request log shows exactly
//! the planned number of requests.

use std::time::Duration;

use crate::modbus_probe::{planned_requests, probe_and_check, write_config};
use crate::support::free_port;
use crate::support::image::Fixture;
use crate::support::python::{self, PyServer};

fn start_pymodbus(image: &std::path::Path, port: u16, log: &std::path::Path) -> PyServer {
    let port = port.to_string();
    let args = [image.as_os_str(), port.as_ref(), log.as_os_str()];
    let (server, line) = python::start(
        "pymodbus_server.py",
        args,
        Duration::from_secs(30),
        "is pymodbus installed?",
    );
    assert_eq!(line, "ready", "pymodbus server failed to start (is pymodbus installed?)");
    server
}

#[test]
fn probe_against_pymodbus_decodes_every_type_in_the_planned_requests() {
    let fixture = Fixture::every_type();
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.json");
    std::fs::write(&image, fixture.image_json().to_string()).unwrap();
    let log = dir.path().join("requests.log");
    let port = free_port();
    let _server = start_pymodbus(&image, port, &log);

    let cfg = write_config(dir.path(), format!("127.0.0.1:{port}").parse().unwrap(), &fixture);
    probe_and_check(&cfg, &fixture);

    let requests = std::fs::read_to_string(&log).unwrap();
    let data_reads: Vec<&str> = requests
        .lines()
        .filter(|l| matches!(l.split(' ').next(), Some("1" | "2" | "3" | "4")))
        .collect();
    assert_eq!(data_reads.len(), planned_requests(&cfg), "pymodbus saw:\n{requests}");
    assert!(
        requests.lines().all(|l| matches!(l.split(' ').next(), Some("1" | "2" | "3" | "4" | "43"))),
        "only read function codes may reach a device:\n{requests}"
    );
}
