//! `edgeproof probe` against the in-process simulator: every type in every order decodes to
//! exactly the expected value, with the planned number of requests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use edgeproof::config::{self, DeviceProtocol};
use edgeproof::source::modbus::plan;
use edgeproof_sim::SimServer;
use serde_json::Value;

use crate::support::image::Fixture;
use crate::support::{bin, describe, gateway, run};

/// Writes a one-device config for `fixture` at `addr` and returns its path.
pub fn write_config(dir: &Path, addr: SocketAddr, fixture: &Fixture) -> std::path::PathBuf {
    let text = format!(
        "{}\n[[devices]]\nname = \"plc-1\"\nprotocol = \"modbus-tcp\"\naddress = \"{addr}\"\ntimeout = \"2s\"\n{}",
        gateway(dir),
        fixture.points_toml
    );
    let path = dir.join("edgeproof.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The number of requests per cycle the planner promises for a config.
pub fn planned_requests(path: &Path) -> usize {
    let cfg = config::load(path).expect("fixture config is valid");
    let DeviceProtocol::ModbusTcp(m) = &cfg.devices[0].protocol else {
        panic!("a modbus-tcp device")
    };
    plan(&m.points, &m.limits).requests_per_cycle()
}

/// Runs `probe --json` and checks every expected value exactly.
pub fn probe_and_check(cfg: &Path, fixture: &Fixture) {
    let out = run(Command::new(bin()).args(["probe", "--json", "-c"]).arg(cfg));
    assert!(out.status.success(), "probe failed\n{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: HashMap<String, Value> = stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"));
            (v["point"].as_str().unwrap_or_default().to_string(), v)
        })
        .collect();
    assert_eq!(lines.len(), fixture.expect.len(), "one line per point\n{}", describe(&out));
    for e in &fixture.expect {
        let line = lines.get(&e.point).unwrap_or_else(|| panic!("no line for {}", e.point));
        assert_eq!(line["device"], "plc-1");
        assert_eq!(line["quality"], "good", "{}: {line}", e.point);
        assert_eq!(line["value"], e.value, "{}: {line}", e.point);
        assert!(line["raw"].is_array(), "{}: raw registers beside the value: {line}", e.point);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_json_reports_every_type_and_order_exactly_in_the_planned_requests() {
    let fixture = Fixture::every_type();
    let image = Arc::new(Mutex::new(fixture.image.clone()));
    let sim = SimServer::start("127.0.0.1:0".parse().unwrap(), image).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), sim.local_addr(), &fixture);
    let planned = planned_requests(&cfg);
    let cfg2 = cfg.clone();
    let fixture2 = Fixture::every_type();
    tokio::task::spawn_blocking(move || probe_and_check(&cfg2, &fixture2)).await.unwrap();
    assert_eq!(sim.request_count() as usize, planned, "requests: {:?}", sim.request_log());
    assert_eq!(sim.write_count(), 0, "the agent never writes to a device");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_table_shows_raw_registers_and_units() {
    let fixture = Fixture::every_type();
    let sim = SimServer::start(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(Mutex::new(fixture.image.clone())),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), sim.local_addr(), &fixture);
    let out = tokio::task::spawn_blocking(move || {
        run(Command::new(bin()).args(["probe", "-c"]).arg(&cfg))
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let f32_line = stdout.lines().find(|l| l.contains("f32_CDAB")).expect("f32_CDAB row");
    assert!(f32_line.contains("1234.5") && f32_line.contains("5000 449A"), "{f32_line}");
    assert!(
        stdout.lines().any(|l| l.contains("temp") && l.contains("-12.3") && l.contains("°C")),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_of_an_unreachable_device_exits_1_with_bad_quality() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let text = format!(
        "{}\n[[devices]]\nname = \"gone\"\nprotocol = \"modbus-tcp\"\naddress = \"127.0.0.1:{port}\"\ntimeout = \"300ms\"\n  [[devices.points]]\n  name = \"p\"\n  area = \"holding\"\n  address = 0\n  type = \"u16\"\n",
        gateway(dir.path())
    );
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        run(Command::new(bin()).args(["probe", "--json", "-c"]).arg(&cfg))
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(r#""quality":"bad""#) && stdout.contains(r#""value":null"#),
        "{stdout}"
    );
}
