//! `edgeproof doctor -c FILE` against real parts: a simulated device and a mosquitto with TLS
//! all pass; a dead broker, a dead device and a signing key others can read each fail on
//! their own line; an unreadable file cannot run.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use crate::support::agent::{mqtt_plain, write_config};
use crate::support::mosquitto::Mosquitto;
use crate::support::pki::Pki;
use crate::support::plant::{Plant, Points};
use crate::support::{bin, describe, free_port, run};

fn doctor(config: &Path) -> Output {
    run(Command::new(bin()).args(["doctor", "-c"]).arg(config).env("RUST_LOG", "warn"))
}

fn keygen(data_dir: &Path) -> std::path::PathBuf {
    let keys = data_dir.join("keys");
    let out = run(Command::new(bin()).args(["keygen", "--dir"]).arg(&keys));
    assert!(out.status.success(), "keygen\n{}", describe(&out));
    keys.join("evidence.key")
}

/// The report line for `what` (e.g. "broker", "device press-01").
fn line<'a>(stdout: &'a str, what: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.get(8..).is_some_and(|rest| rest.starts_with(&format!("{what} "))))
        .unwrap_or_else(|| panic!("no line for {what}:\n{stdout}"))
}

fn status_of<'a>(stdout: &'a str, what: &str) -> &'a str {
    line(stdout, what).split_whitespace().next().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_against_a_simulator_and_a_tls_broker() {
    let plant = Plant::start(&[("press-01", Points::U16(20), "1s")]).await;
    let pki = Pki::generate();
    let (tls_port, plain_port) = (free_port(), free_port());
    let _broker = Mosquitto::tls(&pki, tls_port, plain_port, false).await;
    let dir = tempfile::tempdir().unwrap();
    keygen(&dir.path().join("data"));
    let mqtt = format!("[mqtt]\nurl = \"mqtts://127.0.0.1:{tls_port}\"\nca_file = {:?}\n", pki.ca);
    let config = write_config(dir.path(), &format!("{mqtt}\n{}", plant.toml()));

    let out = doctor(&config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "doctor\n{}", describe(&out));
    for what in ["config", "data dir", "evidence key", "broker", "device press-01"] {
        assert_eq!(status_of(&stdout, what), "ok", "{what}\n{stdout}");
    }
    let broker = line(&stdout, "broker");
    assert!(
        broker.contains("TCP ok, TLS ok") && broker.contains("MQTT CONNECT accepted"),
        "{broker}"
    );
    assert!(line(&stdout, "device press-01").contains("20/20 point(s) read"), "{stdout}");
    assert!(line(&stdout, "evidence key").contains("fingerprint SHA256:"), "{stdout}");
    // The clock may or may not be synchronised on a CI machine; either way it is one line.
    assert!(["ok", "WARN"].contains(&status_of(&stdout, "clock")), "{stdout}");
    assert!(stdout.contains("0 check(s) failed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_fails_each_broken_check_on_its_own_line() {
    let plant = Plant::start(&[("press-01", Points::U16(5), "1s")]).await;
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(&dir.path().join("data"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let dead = free_port();
    let devices = format!(
        "{}[[devices]]\nname = \"dead-01\"\nprotocol = \"modbus-tcp\"\naddress = \"127.0.0.1:{dead}\"\n\
         timeout = \"1s\"\n  [[devices.points]]\n  name = \"p\"\n  area = \"holding\"\n  \
         address = 0\n  type = \"u16\"\n",
        plant.toml()
    );
    let config = write_config(dir.path(), &format!("{}\n{devices}", mqtt_plain(free_port())));

    let out = doctor(&config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a failed check exits 1\n{}", describe(&out));
    assert_eq!(status_of(&stdout, "config"), "ok", "{stdout}");
    assert_eq!(status_of(&stdout, "device press-01"), "ok", "{stdout}");
    for (what, says) in [
        ("evidence key", "mode 0644"),
        ("broker", "TCP connect failed"),
        ("device dead-01", "0/1 point(s) read"),
    ] {
        assert_eq!(status_of(&stdout, what), "FAIL", "{what}\n{stdout}");
        assert!(line(&stdout, what).contains(says), "{what} should say {says:?}\n{stdout}");
    }
    assert!(stdout.contains("3 check(s) failed"), "{stdout}");
}

#[test]
fn doctor_on_an_invalid_file_fails_and_on_a_missing_one_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[gateway]\nid = \"gw\"\nenterprise = \"nope\"\nproject = \"p\"\n")
        .unwrap();
    let out = doctor(&bad);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status_of(&stdout, "config"), "FAIL", "{stdout}");
    assert!(stdout.contains("gateway.enterprise"), "names the field\n{stdout}");

    let out = doctor(&dir.path().join("missing.toml"));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}
