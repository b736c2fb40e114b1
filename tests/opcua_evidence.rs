//! Issue 14: OPC UA machines are identified in the evidence. A real agent (`edgeproof run`)
//! with an evidence key polls the OPC UA simulator: a `device` record carries the server's
//! application URI, product name and certificate thumbprint, and the usage records carry its
//! fingerprint. The machine is then re-installed (a new certificate), the installer accepts
//! it (`trust accept`), and the restarted agent records the change, which the report shows
//! as an anomaly.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use edgeproof_sim::opcua::{forget_certificate, SimOpcUa};
use serde_json::Value;

use crate::support::agent::{write_config, Agent};
use crate::support::opcua::server;
use crate::support::{bin, describe, review_bin, run};

const WAIT: Duration = Duration::from_secs(60);

/// The records of a bundle exported now (the agent may be running).
fn exported(config: &Path, bundle: &Path) -> Vec<Value> {
    let out = run(Command::new(bin()).args(["export", "-c"]).arg(config).arg("-o").arg(bundle));
    if !out.status.success() {
        return Vec::new();
    }
    std::fs::read_to_string(bundle)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok()?.get("record").cloned())
        .collect()
}

async fn wait_for_records(
    config: &Path,
    bundle: &Path,
    what: &str,
    cond: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let records = exported(config, bundle);
        if cond(&records) {
            return records;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {records:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn devices(records: &[Value]) -> Vec<&Value> {
    records.iter().filter(|r| r["typ"] == "device").map(|r| &r["body"]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opcua_identity_reaches_device_records_and_a_new_certificate_is_an_anomaly() {
    let dir = tempfile::tempdir().unwrap();
    let server_pki = dir.path().join("server-pki");
    let sim = server(&server_pki, |_| {}).await;
    sim.set("Molder.ShotCount", 1u32);
    let keys = dir.path().join("data").join("keys");
    let out = run(Command::new(bin()).arg("keygen").arg("--dir").arg(&keys));
    assert!(out.status.success(), "{}", describe(&out));
    let config = write_config(
        dir.path(),
        &format!(
            "[evidence]\ninterval = \"2s\"\ncheckpoint_interval = \"5s\"\n\n\
             [[devices]]\nname = \"molder\"\nprotocol = \"opcua\"\nendpoint = \"{}\"\n\
             poll = \"200ms\"\n  [[devices.points]]\n  name = \"shots\"\n  node = \"{}\"\n  \
             mode = \"poll\"\n",
            sim.endpoint(),
            sim.node("Molder.ShotCount"),
        ),
    );
    let bundle = dir.path().join("bundle.jsonl");

    let mut agent = Agent::start(&config);
    let records = wait_for_records(&config, &bundle, "a device record and usage after it", |r| {
        !devices(r).is_empty()
            && r.iter().any(|u| {
                u["typ"] == "usage" && u["body"]["devices"][0]["points_read"].as_u64() > Some(0)
            })
    })
    .await;
    let first = devices(&records)[0].clone();
    assert_eq!(first["id"], "molder");
    assert_eq!(first["change"], "first_seen");
    let identity = &first["identity"];
    for key in ["application_uri", "product_name", "certificate_sha256"] {
        assert!(
            identity[key].as_str().is_some_and(|v| !v.is_empty() && v != "none"),
            "{key} in {identity}"
        );
    }
    assert!(first["start_time"].is_string(), "ServerStatus.StartTime beside: {first}");
    let fingerprint = first["fingerprint"].as_str().unwrap().to_string();
    assert_ne!(fingerprint, "0".repeat(64));
    let usage = records.iter().rev().find(|r| r["typ"] == "usage").unwrap();
    assert_eq!(usage["body"]["devices"][0]["fingerprint"], fingerprint.as_str());
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "{status}\n{}", agent.log());

    // The machine is re-installed: a new certificate. The installer accepts it.
    let options = sim.stop().await;
    forget_certificate(&server_pki).unwrap();
    let sim = SimOpcUa::start(options).await.unwrap();
    sim.set("Molder.ShotCount", 2u32);
    let out = run(Command::new(bin())
        .args(["trust", "accept", "-c"])
        .arg(&config)
        .args(["--device", "molder"]));
    assert!(out.status.success(), "{}", describe(&out));

    agent.restart();
    let records =
        wait_for_records(&config, &bundle, "the changed device record", |r| devices(r).len() >= 2)
            .await;
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "{status}\n{}", agent.log());
    let changed = devices(&records)[1].clone();
    assert_eq!(changed["change"], "changed");
    assert_eq!(changed["previous_fingerprint"], fingerprint.as_str());
    assert_ne!(changed["identity"]["certificate_sha256"], identity["certificate_sha256"]);
    assert_eq!(changed["identity"]["application_uri"], identity["application_uri"]);

    let html = dir.path().join("report.html");
    let json = dir.path().join("report.json");
    let out = run(Command::new(review_bin())
        .arg("report")
        .arg(&bundle)
        .arg("--public-key")
        .arg(keys.join("evidence.pub"))
        .arg("--html")
        .arg(&html)
        .arg("--json")
        .arg(&json));
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", describe(&out));
    let report = std::fs::read_to_string(&json).unwrap();
    assert!(report.contains("fingerprint_changed"), "the change is an anomaly: {report}");
    assert!(std::fs::read_to_string(&html).unwrap().contains("molder"), "named in the HTML");
    drop(sim);
}
