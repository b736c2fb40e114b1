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

/// Writes `body` after the test gateway section and runs `check` on it (`-c` when `dash_c`).
fn check_text(dir: &std::path::Path, body: &str, dash_c: bool) -> std::process::Output {
    let cfg = dir.join("site.toml");
    std::fs::write(&cfg, format!("{}{body}", gateway(dir))).unwrap();
    let mut cmd = Command::new(bin());
    cmd.arg("check");
    if dash_c {
        cmd.arg("-c");
    }
    run(cmd.arg(&cfg).env_remove("EDGEPROOF__MQTT__PASSWORD"))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const PLC: &str =
    "[[devices]]\nname = \"plc\"\nprotocol = \"modbus-tcp\"\naddress = \"10.0.0.1:502\"\n";

/// Regression: the `config` crate read `address = 10.5` as register 11 and `check` said valid.
#[test]
fn check_refuses_a_float_or_boolean_where_an_integer_belongs() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "{PLC}unit = true\n  [[devices.points]]\n  name = \"t\"\n  area = \"holding\"\n  address = 10.5\n  type = \"u16\"\n"
    );
    let out = check_text(dir.path(), &body, false);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    for want in [
        "devices[0].unit: invalid type: boolean `true`, expected an integer",
        "devices[0].points[0].address: invalid type: floating point `10.5`, expected an integer",
        "2 problem(s)",
    ] {
        assert!(err.contains(want), "missing {want:?} in\n{err}");
    }
}

/// Regression: one mistyped key stopped the load and hid every other mistake.
#[test]
fn check_reports_unknown_keys_wrong_types_and_field_errors_together() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1\"\nkeepalive = \"30s\"\n{PLC}max_registers = \"125\"\n\
         [[devices.points]]\nname = \"a\"\narea = \"holding\"\naddress = 0\ntype = \"u16\"\nscael = 0.1\n\
         [[devices.points]]\nname = \"b\"\narea = \"holdings\"\naddress = 1\ntype = \"u16\"\n\
         [[devices.points]]\nname = \"c\"\narea = \"holding\"\naddress = 2\ntype = \"float\"\n"
    );
    let out = check_text(dir.path(), &body, false);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    for want in [
        "mqtt.keepalive: unknown key; expected one of",
        "devices[0].max_registers: invalid type: string \"125\", expected an integer",
        "devices[0].points[0].scael: unknown key",
        "devices[0].points[1].area: \"holdings\" is not one of",
        "devices[0].points[2].type: unknown type \"float\"",
        "5 problem(s)",
    ] {
        assert!(err.contains(want), "missing {want:?} in\n{err}");
    }
}

#[test]
fn check_calls_a_negative_address_negative() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "{PLC}  [[devices.points]]\n  name = \"t\"\n  area = \"holding\"\n  address = -1\n  type = \"u16\"\n"
    );
    let out = check_text(dir.path(), &body, false);
    let err = stderr(&out);
    assert!(
        err.contains("devices[0].points[0].address: -1 is negative") && !err.contains("past 65535"),
        "{}",
        describe(&out)
    );
}

/// Regression: an invalid unit compiled to the default 1 and was reported again as a
/// duplicate of the real unit 1.
#[test]
fn check_does_not_report_an_invalid_rtu_unit_as_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let rtu = |name: &str, unit: &str| {
        format!("[[devices]]\nname = \"{name}\"\nprotocol = \"modbus-rtu\"\nport = \"/dev/ttyS1\"\nunit = {unit}\n")
    };
    let out = check_text(dir.path(), &(rtu("m1", "1") + &rtu("m2", "300")), false);
    let err = stderr(&out);
    assert!(err.contains("devices[1].unit: 300 is out of range 1..=247"), "{}", describe(&out));
    assert!(!err.contains("already read by"), "{}", describe(&out));
    assert!(err.contains("1 problem(s)"), "{}", describe(&out));
}

/// Files named in the config must exist and be readable when `check` runs, not only when the
/// agent first needs them.
#[test]
fn check_names_files_that_are_missing_or_not_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such.pass");
    let body = format!(
        "[mqtt]\nurl = \"mqtts://127.0.0.1\"\npassword_file = {:?}\nca_file = {:?}\n\
         [evidence]\nkey_file = {:?}\n",
        missing.display().to_string(),
        dir.path().display().to_string(),
        dir.path().join("keys/evidence.key").display().to_string(),
    );
    let out = check_text(dir.path(), &body, false);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    for want in [
        format!("mqtt.password_file: {} does not exist", missing.display()),
        format!("mqtt.ca_file: {} is not a regular file", dir.path().display()),
        "evidence.key_file:".to_string(),
        "edgeproof keygen --dir".to_string(),
    ] {
        assert!(err.contains(&want), "missing {want:?} in\n{err}");
    }
    std::fs::write(&missing, "pw\n").unwrap();
    let out = check_text(
        dir.path(),
        &format!(
            "[mqtt]\nurl = \"mqtt://127.0.0.1\"\npassword_file = {:?}\n",
            missing.display().to_string()
        ),
        false,
    );
    assert!(out.status.success(), "{}", describe(&out));
}

/// A file the service user cannot read (`check` run as that user): permission errors are
/// named, not taken for "missing". Needs root to switch user; fails otherwise.
#[test]
fn check_names_a_file_this_user_cannot_read() {
    let runuser = std::path::Path::new("/usr/sbin/runuser");
    let is_root = run(Command::new("id").arg("-u")).stdout == b"0\n";
    let nobody = run(Command::new("id").arg("nobody")).status.success();
    assert!(
        is_root && runuser.exists() && nobody,
        "this test needs root, /usr/sbin/runuser and the user nobody (CI has them)"
    );
    let dir = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    let pw = dir.path().join("mqtt.pass");
    std::fs::write(&pw, "pw\n").unwrap();
    std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let cfg = dir.path().join("site.toml");
    std::fs::write(
        &cfg,
        format!(
            "{}[mqtt]\nurl = \"mqtt://127.0.0.1\"\npassword_file = {:?}\n",
            gateway(dir.path()),
            pw.display().to_string()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = run(Command::new(runuser)
        .args(["-u", "nobody", "--"])
        .arg(bin())
        .args(["check", "-c"])
        .arg(&cfg));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("mqtt.password_file: {} cannot be read by this user", pw.display())),
        "{err}"
    );
}

#[test]
fn check_takes_the_file_with_dash_c_like_every_other_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = check_text(dir.path(), PLC, true);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("site.toml: valid"),
        "{}",
        describe(&out)
    );
    let out = check_text(dir.path(), "[[devices]]\nname = 1\n", true);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

/// `EDGEPROOF__…` overrides still apply, typed as the key needs (a numeric project id stays
/// text), and a bad one names its variable.
#[test]
fn check_applies_environment_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("site.toml");
    std::fs::write(&cfg, format!("{}[mqtt]\nurl = \"mqtt://127.0.0.1\"\n", gateway(dir.path())))
        .unwrap();
    let out = run(Command::new(bin())
        .args(["check", "-c"])
        .arg(&cfg)
        .env("EDGEPROOF__GATEWAY__PROJECT", "2024"));
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("project 2024"), "{}", describe(&out));
    let out = run(Command::new(bin())
        .args(["check", "-c"])
        .arg(&cfg)
        .env("EDGEPROOF__MQTT__MAX_INFLIGHT", "1.5"));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("(from EDGEPROOF__MQTT__MAX_INFLIGHT)"), "{}", describe(&out));
}
