//! `edgeproof check` as an integrator runs it: exit codes and every error with its path.

use std::process::Command;

use crate::support::{bin, describe, gateway, run};

#[test]
fn check_with_five_mistakes_prints_five_errors_with_paths_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"{}
[[devices]]
name = "plc"
protocol = "modbus-tcp"
address = "10.0.0.1:502"
max_registers = 200
  [[devices.points]]
  name = "a"
  area = "holding"
  address = 0
  type = "float3"
  [[devices.points]]
  name = "b"
  area = "holding"
  address = 10
  type = "f32"
  order = "ABDC"
  [[devices.points]]
  name = "c"
  area = "holding"
  address = 11
  type = "u32"
  [[devices.points]]
  name = "d"
  area = "coils"
  address = 30
  type = "bool"
"#,
        gateway(dir.path()).replace("91440300MA5DEM0A0G", "91440300MA5DEM0A0H")
    );
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = run(Command::new(bin()).arg("check").arg(&cfg));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for path in [
        "gateway.enterprise:",
        "devices[0].max_registers: 200 is out of range 1..=125",
        r#"devices[0].points[0].type: unknown type "float3""#,
        r#"devices[0].points[1].order: "ABDC" is not one of ABCD, CDAB, BADC, DCBA"#,
        r#"devices[0].points[3].area: "coils" is not one of coil, discrete, input, holding"#,
    ] {
        assert!(stderr.contains(path), "missing {path:?} in\n{stderr}");
    }
    assert!(stderr.contains("5 problem(s)"), "{stderr}");
}

#[test]
fn check_of_a_valid_map_summarises_devices_points_and_planned_requests() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/example.toml");
    let out = run(Command::new(bin()).arg("check").arg(example));
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let cfg = edgeproof::config::load(example.as_ref()).expect("the example is valid");
    let points: usize = cfg.devices.iter().map(|d| d.point_count()).sum();
    let summary = format!("{} device(s), {points} point(s)", cfg.devices.len());
    assert!(stdout.contains(&summary), "expected {summary:?} in\n{stdout}");
    assert!(stdout.contains("press-01") && stdout.contains("6 request(s)/cycle"), "{stdout}");
}

#[test]
fn check_of_a_missing_file_exits_2() {
    let out = run(Command::new(bin()).args(["check", "/nonexistent/edgeproof.toml"]));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}
