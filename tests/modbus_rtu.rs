//! Modbus RTU over real pseudo-terminals (socat) against the simulator's RTU server: three
//! units on one bus read exactly through `probe`, a silent unit that does not stretch its
//! neighbours' poll intervals, and RTU-over-TCP through a TCP↔pty bridge.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgeproof::config::{self, Config, DeviceProtocol};
use edgeproof::model::Batch;
use edgeproof::source::modbus::rtu::RtuBuses;
use edgeproof::source::modbus::{plan, DeviceReader};
use edgeproof::source::{run_device, ChannelSink, PollObserver};
use edgeproof_sim::{RegisterImage, SimRtuServer};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::support::image::{Expect, Fixture};
use crate::support::serial::{PtyPair, RecordingObserver, TcpPtyBridge};
use crate::support::{bin, describe, gateway, run};

/// The every-type fixture plus a point only unit `unit` has the value of, so a mixed-up
/// unit id cannot pass.
pub fn unit_fixture(unit: u8) -> Fixture {
    let mut f = Fixture::every_type();
    let marker = 1000 + u16::from(unit);
    f.image.holding.set_u16(140, marker);
    f.points_toml.push_str(
        "  [[devices.points]]\n  name = \"unit_marker\"\n  area = \"holding\"\n  address = 140\n  type = \"u16\"\n",
    );
    f.expect.push(Expect { point: "unit_marker".into(), value: json!(marker) });
    f
}

/// One `[[devices]]` entry named `meter-<unit>` with `bus` (the protocol's keys) and the
/// fixture's points.
pub fn rtu_device(unit: u8, bus: &str, fixture: &Fixture) -> String {
    format!(
        "[[devices]]\nname = \"meter-{unit}\"\n{bus}\nunit = {unit}\ntimeout = \"1s\"\n{}\n",
        fixture.points_toml
    )
}

/// The keys of a `modbus-rtu` device on `port`.
pub fn serial_bus(port: &Path) -> String {
    format!(
        "protocol = \"modbus-rtu\"\nport = {:?}\nbaud = 19200\nparity = \"none\"",
        port.display().to_string()
    )
}

/// Runs `probe --json` on `cfg` and checks that device `meter-<unit>` reported every value
/// of its fixture exactly.
pub fn probe_and_check_units(cfg: &Path, fixtures: &[(u8, Fixture)]) {
    let out = run(Command::new(bin()).args(["probe", "--json", "-c"]).arg(cfg));
    assert!(out.status.success(), "probe failed\n{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines: HashMap<(String, String), Value> = HashMap::new();
    for l in stdout.lines() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"));
        let key = (
            v["device"].as_str().unwrap_or("").to_owned(),
            v["point"].as_str().unwrap_or("").to_owned(),
        );
        lines.insert(key, v);
    }
    let expected: usize = fixtures.iter().map(|(_, f)| f.expect.len()).sum();
    assert_eq!(lines.len(), expected, "one line per point of every unit\n{}", describe(&out));
    for (unit, fixture) in fixtures {
        let device = format!("meter-{unit}");
        for e in &fixture.expect {
            let line = lines
                .get(&(device.clone(), e.point.clone()))
                .unwrap_or_else(|| panic!("no line for {device} {}\n{}", e.point, describe(&out)));
            assert_eq!(line["quality"], "good", "{device} {}: {line}", e.point);
            assert_eq!(line["value"], e.value, "{device} {}: {line}", e.point);
        }
    }
}

fn write(dir: &Path, devices: &str) -> std::path::PathBuf {
    let path = dir.join("edgeproof.toml");
    std::fs::write(&path, format!("{}\n{devices}", gateway(dir))).expect("write config");
    path
}

fn load(path: &Path) -> Config {
    config::load(path).expect("test config is valid")
}

fn planned(cfg: &Config, device: &str) -> u64 {
    let d = cfg.devices.iter().find(|d| &*d.name == device).expect("device in config");
    let DeviceProtocol::ModbusRtu(m) = &d.protocol else { panic!("an RTU device") };
    plan(&m.points, &m.limits).requests_per_cycle() as u64
}

fn shared(image: RegisterImage) -> Arc<Mutex<RegisterImage>> {
    Arc::new(Mutex::new(image))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_units_on_one_serial_bus_read_every_value_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let line = PtyPair::new(dir.path(), "bus");
    let fixtures: Vec<(u8, Fixture)> = [1, 2, 3].map(|u| (u, unit_fixture(u))).into();
    let units = fixtures.iter().map(|(u, f)| (*u, shared(f.image.clone()))).collect();
    let server = SimRtuServer::start(&line.a.to_string_lossy(), 19200, units).unwrap();
    let devices: String =
        fixtures.iter().map(|(u, f)| rtu_device(*u, &serial_bus(&line.b), f)).collect();
    let cfg = write(dir.path(), &devices);

    let path = cfg.clone();
    let expect = [1, 2, 3].map(|u| (u, unit_fixture(u))).into_iter().collect::<Vec<_>>();
    tokio::task::spawn_blocking(move || probe_and_check_units(&path, &expect)).await.unwrap();

    let compiled = load(&cfg);
    for unit in [1u8, 2, 3] {
        assert_eq!(
            server.request_count(unit),
            planned(&compiled, &format!("meter-{unit}")),
            "unit {unit}: exactly the planned reads, no retries: {:?}",
            server.request_log(unit)
        );
    }
    assert_eq!(server.write_count(), 0, "the agent never writes to a device");
    server.stop().await;
}

/// A device with one u16 point at holding 0, polled every `poll`.
fn small_device(name: &str, unit: u8, port: &Path, poll: &str, timeout: &str) -> String {
    format!(
        "[[devices]]\nname = \"{name}\"\nprotocol = \"modbus-rtu\"\nport = {:?}\nunit = {unit}\npoll = \"{poll}\"\ntimeout = \"{timeout}\"\n  [[devices.points]]\n  name = \"p\"\n  area = \"holding\"\n  address = 0\n  type = \"u16\"\n",
        port.display().to_string()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_unit_does_not_stretch_its_neighbours_poll_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let line = PtyPair::new(dir.path(), "bus");
    let mut images = Vec::new();
    for unit in [1u8, 2] {
        let mut image = RegisterImage::new();
        image.holding.set_u16(0, 100 + u16::from(unit));
        images.push((unit, shared(image)));
    }
    // Unit 3 is configured on the bus but nobody answers for it.
    let server = SimRtuServer::start(&line.a.to_string_lossy(), 9600, images).unwrap();
    let cfg = load(&write(
        dir.path(),
        &[
            small_device("meter-1", 1, &line.b, "200ms", "150ms"),
            small_device("meter-2", 2, &line.b, "200ms", "150ms"),
            small_device("silent", 3, &line.b, "200ms", "150ms"),
        ]
        .concat(),
    ));

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(1024);
    let sink = Arc::new(ChannelSink::new(tx));
    let observer = Arc::new(RecordingObserver::default());
    let cancel = CancellationToken::new();
    let mut buses = RtuBuses::new(observer.clone() as Arc<dyn PollObserver>);
    let mut tasks = Vec::new();
    for d in &cfg.devices {
        let DeviceProtocol::ModbusRtu(m) = &d.protocol else { panic!("an RTU device") };
        let unit = buses.unit(d.name.clone(), m);
        let reader = DeviceReader::with_link(d.name.clone(), m.points.clone(), &m.limits, unit);
        tasks.push(tokio::spawn(run_device(
            reader,
            sink.clone(),
            observer.clone(),
            cancel.clone(),
        )));
    }
    let bus_tasks = buses.into_tasks();

    let mut done: HashMap<String, Vec<u64>> = HashMap::new();
    let mut silent_cycles = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while done.get("meter-1").map_or(0, Vec::len) < 15
        || done.get("meter-2").map_or(0, Vec::len) < 15
    {
        let batch = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the healthy units kept polling")
            .expect("channel open");
        let sample = &batch.samples[0];
        if &*batch.device == "silent" {
            assert!(!sample.quality.is_good(), "nobody answers for unit 3: {sample:?}");
            silent_cycles += 1;
        } else {
            let want = if &*batch.device == "meter-1" { 101 } else { 102 };
            assert_eq!(sample.value, Some(edgeproof::model::Value::UInt(want)), "{batch:?}");
            // When the read finished, not when its tick began: waiting for the bus shows.
            done.entry(batch.device.to_string()).or_default().push(sample.ts_ms);
        }
    }
    cancel.cancel();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(5), t).await.expect("device task stops").unwrap();
    }
    for t in bus_tasks {
        tokio::time::timeout(Duration::from_secs(5), t).await.expect("bus task stops").unwrap();
    }
    for (device, ts) in &done {
        let gaps: Vec<u64> = ts.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
        assert!(
            gaps.iter().all(|&g| g < 400),
            "{device}: intervals (ms) must stay under 2 × 200 ms: {gaps:?}"
        );
    }
    let asked = observer.requests("silent");
    assert!(silent_cycles >= 10, "the silent unit was polled ({silent_cycles} cycles)");
    assert!(
        asked * 2 <= silent_cycles,
        "its polls were thinned: {asked} requests in {silent_cycles} cycles"
    );
    assert_eq!(server.write_count(), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtu_over_tcp_through_a_socat_bridge_reads_every_value_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = TcpPtyBridge::new(dir.path(), "converter");
    let fixtures = vec![(7u8, unit_fixture(7))];
    let server = SimRtuServer::start(
        &bridge.pty.to_string_lossy(),
        9600,
        vec![(7, shared(fixtures[0].1.image.clone()))],
    )
    .unwrap();
    let bus = format!("protocol = \"modbus-rtu-over-tcp\"\naddress = \"{}\"", bridge.address);
    let cfg = write(dir.path(), &rtu_device(7, &bus, &fixtures[0].1));

    let path = cfg.clone();
    tokio::task::spawn_blocking(move || probe_and_check_units(&path, &fixtures)).await.unwrap();
    assert_eq!(server.request_count(7), planned(&load(&cfg), "meter-7"));
    assert_eq!(server.write_count(), 0);
    server.stop().await;
}
