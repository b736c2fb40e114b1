//! The security basics, each against the real thing.
//!
//! Passwords never show: `check`, `doctor` and a `run` at `RUST_LOG=trace`, with an MQTT
//! password in the file, another in `EDGEPROOF__MQTT__PASSWORD` (the one the broker accepts)
//! and an OPC UA password from a file and from `EDGEPROOF_OPCUA_PASSWORD_<DEVICE>`, print
//! none of them — while the run really logs in with them (data arrives from both devices).
//! Secret files others can read are named at start, by `check` and by `doctor`. Plain
//! `mqtt://` to another machine is a loud warning. (TLS 1.1 refused: `mqtt_tls.rs`.)

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use crate::support::agent::{write_config, Agent};
use crate::support::mosquitto::Mosquitto;
use crate::support::opcua::server;
use crate::support::subscriber::Subscriber;
use crate::support::{bin, describe, free_port, run, wait_for};

const WAIT: Duration = Duration::from_secs(60);

/// In the file, overridden by the environment: the broker would refuse it.
const MQTT_FILE_PASSWORD: &str = "mqttfile-Qm2xK7p";
/// From `EDGEPROOF__MQTT__PASSWORD`: the broker's password.
const MQTT_ENV_PASSWORD: &str = "mqttenv-R4v8LdZ";
/// The OPC UA user's password, in a password file and in the environment.
const OPCUA_PASSWORD: &str = "opcua-J9s3TwNc";

fn assert_no_secret(what: &str, text: &str) {
    for secret in [MQTT_FILE_PASSWORD, MQTT_ENV_PASSWORD, OPCUA_PASSWORD] {
        assert!(!text.contains(secret), "{what} shows the secret {secret:?}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_doctor_and_run_at_trace_level_never_show_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let sim = server(&dir.path().join("server-pki"), |o| {
        o.user = Some(("edge".into(), OPCUA_PASSWORD.into()));
    })
    .await;
    sim.set("Molder.ShotCount", 7u32);
    let port = free_port();
    let _broker = Mosquitto::plain_with_user(port, "edge", MQTT_ENV_PASSWORD).await;
    let sub = Subscriber::start(port, "edgeproof/gw-test/data/#").await;

    let pw_file = dir.path().join("opcua.pw");
    std::fs::write(&pw_file, format!("{OPCUA_PASSWORD}\n")).unwrap();
    let molder = |name: &str, login: &str| {
        format!(
            "[[devices]]\nname = \"{name}\"\nprotocol = \"opcua\"\nendpoint = \"{}\"\n\
             user = \"edge\"\n{login}\n\
             [[devices.points]]\nname = \"shots\"\nnode = \"{}\"\nmode = \"poll\"\npoll = \"200ms\"\n",
            sim.endpoint(),
            sim.node("Molder.ShotCount"),
        )
    };
    let config = write_config(
        dir.path(),
        &format!(
            "[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\nusername = \"edge\"\npassword = \"{MQTT_FILE_PASSWORD}\"\n\
             [journal]\nflush_interval = \"50ms\"\n{}{}",
            molder("molder-file", &format!("password_file = {:?}", pw_file.display().to_string())),
            molder("molder-env", ""),
        ),
    );
    let env = [
        ("RUST_LOG", "trace"),
        ("EDGEPROOF__MQTT__PASSWORD", MQTT_ENV_PASSWORD),
        ("EDGEPROOF_OPCUA_PASSWORD_MOLDER_ENV", OPCUA_PASSWORD),
    ];

    for subcommand in ["check", "doctor"] {
        let mut cmd = Command::new(bin());
        match subcommand {
            "check" => cmd.arg("check").arg(&config),
            _ => cmd.args(["doctor", "-c"]).arg(&config),
        };
        cmd.envs(env);
        let out = tokio::task::spawn_blocking(move || run(&mut cmd)).await.unwrap();
        assert_no_secret(subcommand, &describe(&out));
        if subcommand == "check" {
            assert!(out.status.success(), "{}", describe(&out));
        }
    }

    let mut agent = Agent::start_with_env(&config, &env);
    // Data from both devices at the broker: the agent logged in to the broker with the
    // environment's password and to the OPC UA server with both of the user's.
    wait_for("data from both OPC UA devices at the subscriber", WAIT, || {
        let devices: Vec<String> =
            sub.data().iter().filter_map(|m| m["device"].as_str().map(String::from)).collect();
        ["molder-file", "molder-env"].iter().all(|d| devices.iter().any(|x| x == d))
    })
    .await;
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    let log = agent.log();
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "ran at trace level:\n{log}");
    assert_no_secret("run", &log);
    sim.stop().await;
}

/// A password file the group may read is named, with its mode and the fix, by `run` (a
/// warning at start), `check` and `doctor`; after `chmod 600` nobody warns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_file_others_can_read_is_warned_about_at_start_by_check_and_by_doctor() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("mqtt.pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o640)).unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\nusername = \"edge\"\npassword_file = {:?}\n",
            free_port(),
            pw.display().to_string()
        ),
    );
    let want = format!("mqtt.password_file {} has mode 0640", pw.display());
    let fix = format!("chmod 600 {}", pw.display());

    let mut agent = Agent::start(&config);
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    let log = agent.log();
    let warning = log.lines().find(|l| l.contains(&want)).unwrap_or_else(|| panic!("{log}"));
    assert!(warning.contains("WARN") && warning.contains(&fix), "{warning}");

    let check = || run(Command::new(bin()).arg("check").arg(&config));
    let out = check();
    assert!(out.status.success(), "a warning, not an error\n{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("warning: {want}")) && stderr.contains(&fix), "{stderr}");

    let doctor = run(Command::new(bin()).args(["doctor", "-c"]).arg(&config));
    let stdout = String::from_utf8_lossy(&doctor.stdout);
    let line =
        stdout.lines().find(|l| l.contains("secret files")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.trim_start().starts_with("WARN") && line.contains(&want), "{stdout}");

    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = check();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "{}", describe(&out));
}

/// An IPv4 address of this machine that is not loopback (eth0's, as a rule).
fn non_loopback_ipv4() -> Option<std::net::Ipv4Addr> {
    let mut found = None;
    // SAFETY: getifaddrs fills a list we only read and then free with freeifaddrs.
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut list) != 0 {
            return None;
        }
        let mut cur = list;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() && i32::from((*addr).sa_family) == libc::AF_INET {
                let sin = &*(addr as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !ip.is_loopback() && found.is_none() {
                    found = Some(ip);
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    found
}

/// Plain `mqtt://` to this machine's own non-loopback address: `run` logs the PLAIN TEXT
/// warning once at start (and still publishes: it is a warning, not a refusal), `check`
/// prints it; the same broker over 127.0.0.1 gets no warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_mqtt_to_another_address_is_a_loud_warning_and_loopback_is_not() {
    let ip = non_loopback_ipv4().expect("this machine has a non-loopback IPv4 address");
    let port = free_port();
    let _broker = Mosquitto::plain_all_interfaces(port).await;
    let sub = Subscriber::start(port, "edgeproof/gw-test/status").await;
    let dir = tempfile::tempdir().unwrap();
    let mqtt =
        |host: &str| format!("[mqtt]\nurl = \"mqtt://{host}:{port}\"\nusername = \"edge\"\n");
    let config = write_config(dir.path(), &mqtt(&ip.to_string()));
    let want =
        format!("PLAIN TEXT: publishing over mqtt:// to {ip}:{port}, which is not this machine");

    let mut agent = Agent::start(&config);
    wait_for("the agent's online status over the plain connection", WAIT, || {
        sub.statuses().iter().any(|s| s.contains("online"))
    })
    .await;
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    let log = agent.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(&want)).collect();
    assert_eq!(lines.len(), 1, "one warning at start:\n{log}");
    assert!(lines[0].contains("WARN") && lines[0].contains("the broker password"), "{}", lines[0]);
    assert!(lines[0].contains("use mqtts://"), "{}", lines[0]);

    let out = run(Command::new(bin()).arg("check").arg(&config));
    assert!(out.status.success(), "a warning, not an error\n{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("warning: {want}")),
        "{}",
        describe(&out)
    );

    let local = tempfile::tempdir().unwrap();
    let config = write_config(local.path(), &mqtt("127.0.0.1"));
    let out = run(Command::new(bin()).arg("check").arg(&config));
    assert!(!describe(&out).contains("PLAIN TEXT"), "{}", describe(&out));
}

/// The write tripwire catches an OPC UA Write: an OPC UA session (the agent's own connect)
/// writes a variable of the simulated machine — flagged writes-expected so that no other test
/// trips — and the write is refused, counted and named in what dropping the simulator would
/// fail with; the value is unchanged. (Modbus FC 05/06/15/16/22/23: `sim::server` tests.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_tripwire_catches_an_opcua_write() {
    use opcua::types::{AttributeId, DataValue, NodeId, NumericRange, StatusCode, Variant};
    let dir = tempfile::tempdir().unwrap();
    let sim = server(&dir.path().join("server-pki"), |_| {}).await;
    sim.expect_writes();
    sim.set("Molder.ShotCount", 5u32);
    let section = format!(
        "[[devices]]\nname = \"writer\"\nprotocol = \"opcua\"\nendpoint = \"{}\"\n\
         [[devices.points]]\nname = \"shots\"\nnode = \"{}\"\nmode = \"poll\"\n",
        sim.endpoint(),
        sim.node("Molder.ShotCount"),
    );
    let (name, cfg) = crate::support::opcua::device(&dir.path().join("data"), &section);
    let conn = edgeproof::source::opcua::session::connect(&name, &cfg).await.unwrap();
    let node = NodeId::new(sim.namespace(), "Molder.ShotCount");
    let write = opcua::types::WriteValue {
        node_id: node.clone(),
        attribute_id: AttributeId::Value as u32,
        index_range: NumericRange::None,
        value: DataValue::new_now(Variant::UInt32(999)),
    };
    let results = conn.session.write(&[write]).await.expect("the Write service answers");
    assert_eq!(results, [StatusCode::BadUserAccessDenied]);
    assert_eq!(sim.write_count(), 1);
    let detected = sim.write_violation().expect("the tripwire saw the write");
    assert!(detected.contains("received 1 write request(s)"), "{detected}");
    assert!(detected.contains("Molder.ShotCount"), "{detected}");
    let read = conn
        .session
        .read(
            &[opcua::types::ReadValueId::from(&node)],
            opcua::types::TimestampsToReturn::Neither,
            0.0,
        )
        .await
        .unwrap();
    assert_eq!(read[0].value, Some(Variant::UInt32(5)), "the value is unchanged");
    assert_eq!(edgeproof_sim::unexpected_writes(), 0, "no other simulator is tripped");
    conn.session.disconnect().await.ok();
    sim.stop().await;
}
