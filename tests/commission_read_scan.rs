//! `edgeproof read` and `edgeproof scan` as an integrator runs them, against pymodbus (Modbus
//! nobody here wrote) over TCP — several unit ids behind one address, as a serial-to-Ethernet
//! gateway — and RTU on a pty bus, with units and holes planted by the test.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::python::{self, PyServer};
use crate::support::serial::PtyPair;
use crate::support::{bin, describe, free_port, gateway, run};

/// 12.5 as f32 is 0x4148_0000; CDAB puts the low word first.
const F32_CDAB_12_5: [u16; 2] = [0x0000, 0x4148];
/// -3.25 as f32 is 0xC050_0000.
const F32_CDAB_MINUS_3_25: [u16; 2] = [0x0000, 0xC050];

/// Unit 1: holding 0..10 (two CDAB floats, then counters) and 40..46, input 5..13; unit 3:
/// holding 100..104 and coils 0..8; nothing else. Everything between is a hole.
fn plant() -> Value {
    let mut holding: Vec<u16> = F32_CDAB_12_5.into();
    holding.extend(F32_CDAB_MINUS_3_25);
    holding.extend([7, 8, 9, 10, 11, 12]);
    json!({
        "1": {
            "holding": [[0, holding], [40, [1, 2, 3, 4, 5, 6]]],
            "input": [[5, [50, 51, 52, 53, 54, 55, 56, 57]]],
        },
        "3": {
            "holding": [[100, [230, 231, 232, 233]]],
            "coils": [[0, [1, 0, 1, 1, 0, 0, 1, 0]]],
        },
    })
}

fn start_plant(kind: &str, at: &str, dir: &Path) -> (PyServer, std::path::PathBuf) {
    let plant_path = dir.join("plant.json");
    std::fs::write(&plant_path, plant().to_string()).unwrap();
    let log = dir.join("requests.log");
    let (server, line) = python::start(
        "pymodbus_plant.py",
        [kind.as_ref(), at.as_ref(), plant_path.as_os_str(), log.as_os_str()],
        Duration::from_secs(30),
        "are pymodbus and pyserial installed?",
    );
    assert_eq!(line, "ready", "pymodbus plant failed");
    (server, log)
}

fn edgeproof(args: &[&str]) -> Output {
    run(Command::new(bin()).args(args))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Only read function codes (and the FC 43 identity request) reached the server.
fn assert_reads_only(log: &Path) {
    let requests = std::fs::read_to_string(log).unwrap();
    assert!(
        requests.lines().all(|l| matches!(l.split(' ').nth(1), Some("1" | "2" | "3" | "4" | "43"))),
        "only read function codes may reach a device:\n{requests}"
    );
}

#[test]
fn read_decodes_cdab_floats_from_pymodbus_tcp_beside_the_raw_registers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let (_server, log) = start_plant("tcp", &port, dir.path());
    let target = format!("tcp://127.0.0.1:{port}");

    let out = edgeproof(&[
        "read",
        &target,
        "--unit",
        "1",
        "--holding",
        "0:4",
        "--type",
        "f32",
        "--order",
        "CDAB",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    let rows: Vec<&str> =
        text.lines().filter(|l| l.trim_start().starts_with(char::is_numeric)).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[0].contains("12.5") && rows[0].contains("0000 4148"), "{text}");
    assert!(rows[1].contains("-3.25") && rows[1].contains("0000 C050"), "{text}");

    let out = edgeproof(&["read", &target, "-u", "1", "--holding", "4:6", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let lines: Vec<Value> =
        stdout(&out).lines().map(|l| serde_json::from_str(l).expect("JSON lines")).collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(
        lines[0],
        json!({"unit": 1, "area": "holding", "address": 4, "type": "u16", "value": 7, "raw": [7]})
    );

    let out = edgeproof(&["read", &target, "--unit", "3", "--coils", "0:4", "--json"]);
    let bits: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["value"].clone())
        .collect();
    assert_eq!(
        bits,
        vec![json!(true), json!(false), json!(true), json!(true)],
        "{}",
        describe(&out)
    );

    // A hole: the device's own answer, not "bad".
    let out = edgeproof(&["read", &target, "--unit", "1", "--holding", "8:4"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exception 02 (illegal data address)"),
        "{}",
        describe(&out)
    );
    assert_reads_only(&log);

    let closed = format!("tcp://127.0.0.1:{}", free_port());
    let out = edgeproof(&["read", &closed, "--holding", "0:1"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("connection refused"),
        "{}",
        describe(&out)
    );

    let out = edgeproof(&["read", "udp://127.0.0.1:1", "--holding", "0:1"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

#[test]
fn scan_finds_the_units_behind_a_tcp_gateway_and_their_planted_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let (_server, log) = start_plant("tcp", &port, dir.path());
    let map = dir.path().join("draft.toml");
    let table = dir.path().join("points.csv");
    let out = run(Command::new(bin())
        .args([
            "scan",
            &format!("tcp://127.0.0.1:{port}"),
            "--units",
            "1-4",
            "--range",
            "0:300",
            "--gap",
            "0ms",
            "--toml",
        ])
        .arg(&map)
        .arg("--csv")
        .arg(&table));
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    for want in [
        "unit 1: answers",
        "holding   0+10, 40+6 (16 readable)",
        "input     5+8 (8 readable)",
        "unit 3: answers",
        "holding   100+4 (4 readable)",
        "2 unit(s) answer: 1, 3",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("unit 2: answers") && !text.contains("unit 4: answers"), "{text}");
    assert_reads_only(&log);

    // The draft is a valid device map once a [gateway] is put in front of it.
    let draft = std::fs::read_to_string(&map).unwrap();
    let cfg = dir.path().join("site.toml");
    std::fs::write(&cfg, format!("{}\n{draft}", gateway(dir.path()))).unwrap();
    let check = run(Command::new(bin()).args(["check", "-c"]).arg(&cfg));
    assert!(check.status.success(), "{}\n{draft}", describe(&check));
    assert!(stdout(&check).contains("2 device(s), 44 point(s)"), "{}", describe(&check));

    let csv = std::fs::read_to_string(&table).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "device,name,area,address,type,order,scale,offset,unit,poll");
    assert!(rows.contains(&"unit-1,holding_40,holding,40,u16,,,,,"), "{csv}");
    // pymodbus keeps bits in 16-bit words: the 8 planted coils read as 16.
    assert_eq!(rows.len(), 1 + 44, "{csv}");
}

#[test]
fn read_and_scan_work_on_a_pymodbus_rtu_bus() {
    let dir = tempfile::tempdir().unwrap();
    let line = PtyPair::new(dir.path(), "bus");
    let (_server, log) = start_plant("rtu", &line.a.display().to_string(), dir.path());
    let target = format!("rtu://{}?baud=9600&parity=none", line.b.display());

    let out = edgeproof(&["read", &target, "--unit", "3", "--holding", "100:4", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let values: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["value"].clone())
        .collect();
    assert_eq!(values, vec![json!(230), json!(231), json!(232), json!(233)]);

    let out = edgeproof(&["read", &target, "--unit", "1", "--input", "5:8"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(stdout(&out).contains("50") && stdout(&out).contains("0039"), "{}", describe(&out));

    let out = run(Command::new(bin()).args([
        "scan",
        &target,
        "--units",
        "1-4",
        "--range",
        "0:128",
        "--gap",
        "0ms",
        "--timeout",
        "300ms",
        "--areas",
        "holding,coil",
    ]));
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    for want in [
        "unit 1: answers",
        "holding   0+10, 40+6",
        "unit 3: answers",
        "coil",
        "2 unit(s) answer: 1, 3",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert_reads_only(&log);

    let missing = "rtu:///dev/ttyNOPE9?baud=9600";
    let out = edgeproof(&["read", missing, "--unit", "1", "--holding", "0:1"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such serial port /dev/ttyNOPE9"),
        "{}",
        describe(&out)
    );
}

/// `doctor` names each device's own cause on its line, not only `bad: disconnected`.
#[test]
fn doctor_names_each_devices_real_cause() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let (_server, _log) = start_plant("tcp", &port, dir.path());
    let point = |address: u16| {
        format!("  [[devices.points]]\n  name = \"p{address}\"\n  area = \"holding\"\n  address = {address}\n  type = \"u16\"\n")
    };
    let text = format!(
        "{}[[devices]]\nname = \"refused\"\nprotocol = \"modbus-tcp\"\naddress = \"127.0.0.1:{}\"\n{}\
         [[devices]]\nname = \"hole\"\nprotocol = \"modbus-tcp\"\naddress = \"127.0.0.1:{port}\"\n{}{}\
         [[devices]]\nname = \"noport\"\nprotocol = \"modbus-rtu\"\nport = \"/dev/ttyNOPE8\"\n{}",
        gateway(dir.path()),
        free_port(),
        point(0),
        point(0),
        point(15),
        point(0),
    );
    let cfg = dir.path().join("site.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = run(Command::new(bin()).args(["doctor", "-c"]).arg(&cfg));
    let text = stdout(&out);
    let line = |device: &str| {
        text.lines()
            .find(|l| l.contains(&format!("device {device} ")))
            .unwrap_or_else(|| panic!("no line for {device}\n{}", describe(&out)))
            .to_string()
    };
    assert!(
        line("refused").contains("first failure: p0 (holding 0): connection refused by"),
        "{text}"
    );
    assert!(
        line("hole")
            .contains("first failure: p15 (holding 15): exception 02 (illegal data address)"),
        "{text}"
    );
    assert!(line("noport").contains("no such serial port /dev/ttyNOPE8"), "{text}");
}
