//! The OPC UA source against an in-process async-opcua server: security and user
//! combinations, certificate trust, endpoint mismatch, batched polled reads.

use std::time::Duration;

use edgeproof::model::{BadReason, Quality, Value};
use edgeproof::source::opcua::{session, FingerprintBoard, OpcUaError};
use edgeproof_sim::opcua::forget_certificate;

use crate::support::opcua::{device, server, Task};

const WAIT: Duration = Duration::from_secs(20);

fn is_value(point: &str, v: Value) -> impl FnMut(&edgeproof::model::Sample) -> bool + '_ {
    move |s| &*s.point == point && s.value.as_ref() == Some(&v)
}

#[tokio::test]
async fn anonymous_none_subscribes_and_polls() {
    let dir = tempfile::tempdir().unwrap();
    let sim = server(&dir.path().join("server-pki"), |o| o.max_nodes_per_read = 2).await;
    sim.set("Molder.Barrel.Temp", 231.5f64);
    let section = format!(
        "[[devices]]\nname = \"molder\"\nprotocol = \"opcua\"\nendpoint = \"{}\"\npoll = \"200ms\"\n\
         [[devices.points]]\nname = \"barrel\"\nnode = \"{}\"\nsampling = \"100ms\"\n\
         [[devices.points]]\nname = \"shots\"\nnode = \"{}\"\nmode = \"poll\"\n\
         [[devices.points]]\nname = \"recipe\"\nnode = \"{}\"\nmode = \"poll\"\n\
         [[devices.points]]\nname = \"running\"\nnode = \"{}\"\nmode = \"poll\"\n",
        sim.endpoint(),
        sim.node("Molder.Barrel.Temp"),
        sim.node("Molder.ShotCount"),
        sim.node("Molder.Recipe"),
        sim.node("Molder.Running"),
    );
    let (name, cfg) = device(&dir.path().join("data"), &section);
    let mut task = Task::start(name, cfg);
    task.wait_for("the subscribed value", WAIT, is_value("barrel", Value::Float(231.5))).await;
    // Three poll points with MaxNodesPerRead 2: two Read calls, one batch with all three.
    let batches = task
        .wait_for("the polled text", WAIT, is_value("recipe", Value::Text("PP-H 40 grey".into())))
        .await;
    let last = batches.last().unwrap();
    let names: Vec<&str> = last.samples.iter().map(|s| &*s.point).collect();
    assert_eq!(names, ["shots", "recipe", "running"], "{last:?}");
    assert!(last.samples.iter().all(|s| s.quality == Quality::Good), "{last:?}");
    sim.set("Molder.Barrel.Temp", 240.25f64);
    task.wait_for("the changed value", WAIT, is_value("barrel", Value::Float(240.25))).await;
    assert_eq!(sim.monitored_items("Molder.Barrel.Temp"), 1);
    let fp = FingerprintBoard::global().get("molder").expect("fingerprint recorded");
    assert_eq!(fp.application_uri, "urn:edgeproof:sim:molder:server");
    assert!(fp.certificate_sha256.is_some() && fp.start_time_ms.is_some(), "{fp:?}");
    assert_eq!(fp.build.map(|b| b.manufacturer_name), Some("edgeproof simulator".into()));
    task.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn username_basic256sha256_sign_and_encrypt() {
    let dir = tempfile::tempdir().unwrap();
    let sim = server(&dir.path().join("server-pki"), |o| {
        o.secure = true;
        o.user = Some(("edge".into(), "s3cret".into()));
    })
    .await;
    sim.set("Molder.ShotCount", 41u32);
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let section = format!(
        "[[devices]]\nname = \"secure-molder\"\nprotocol = \"opcua\"\nendpoint = \"{}\"\n\
         security_policy = \"Basic256Sha256\"\nsecurity_mode = \"SignAndEncrypt\"\n\
         user = \"edge\"\npassword_file = {:?}\n\
         [[devices.points]]\nname = \"shots\"\nnode = \"{}\"\nsampling = \"100ms\"\n",
        sim.endpoint(),
        pw.display().to_string(),
        sim.node("Molder.ShotCount"),
    );
    let (name, cfg) = device(&dir.path().join("data"), &section);
    let mut task = Task::start(name, cfg);
    task.wait_for("the value over an encrypted session", WAIT, is_value("shots", Value::UInt(41)))
        .await;
    let fp = FingerprintBoard::global().get("secure-molder").expect("fingerprint");
    assert_eq!(fp.security, "Basic256Sha256/SignAndEncrypt");
    task.stop().await;

    // A wrong password is refused by the server: no value, only the disconnected marker.
    std::fs::write(&pw, "wrong\n").unwrap();
    let (name, cfg) =
        device(&dir.path().join("data"), &section.replace("secure-molder", "wrong-pw"));
    let err = session::connect(&name, &cfg).await.err().expect("wrong password refused");
    assert!(matches!(err, OpcUaError::Session { .. }), "{err}");
    sim.stop().await;
}

#[tokio::test]
async fn a_changed_server_certificate_is_refused_under_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let server_pki = dir.path().join("server-pki");
    let sim = server(&server_pki, |o| o.secure = true).await;
    let section = format!(
        "[[devices]]\nname = \"pinned\"\nprotocol = \"opcua\"\nendpoint = \"{}\"\n\
         security_policy = \"Basic256Sha256\"\nsecurity_mode = \"Sign\"\n\
         [[devices.points]]\nname = \"shots\"\nnode = \"{}\"\n",
        sim.endpoint(),
        sim.node("Molder.ShotCount"),
    );
    let (name, cfg) = device(&dir.path().join("data"), &section);
    session::connect(&name, &cfg).await.expect("first use pins").close(cfg.timeout).await;
    assert!(cfg.pki_dir.join("pinned").join("pinned.der").exists());
    session::connect(&name, &cfg).await.expect("same certificate").close(cfg.timeout).await;

    // The machine is re-installed: same address, new certificate.
    let options = sim.stop().await;
    forget_certificate(&server_pki).unwrap();
    let sim = edgeproof_sim::opcua::SimOpcUa::start(options).await.unwrap();
    let err = session::connect(&name, &cfg).await.err().expect("changed certificate refused");
    let msg = err.to_string();
    assert!(matches!(err, OpcUaError::Untrusted { .. }), "{msg}");
    assert!(msg.contains("certificate changed"), "{msg}");
    assert!(msg.contains("edgeproof trust accept -c <config file> --device pinned"), "{msg}");

    // The device task keeps refusing (bad quality, no value) and does not crash.
    let mut task = Task::start(name.clone(), cfg.clone());
    let seen = task
        .wait_for("the disconnected marker", WAIT, |s| {
            &*s.point == "shots" && s.quality == Quality::Bad(BadReason::Disconnected)
        })
        .await;
    assert!(seen.iter().flat_map(|b| &b.samples).all(|s| s.value.is_none()), "{seen:?}");
    task.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn a_policy_the_server_does_not_offer_lists_the_offered_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let sim = server(&dir.path().join("server-pki"), |_| {}).await;
    let section = format!(
        "[[devices]]\nname = \"mismatch\"\nprotocol = \"opcua\"\nendpoint = \"{}\"\n\
         security_policy = \"Aes128_Sha256_RsaOaep\"\n\
         [[devices.points]]\nname = \"shots\"\nnode = \"{}\"\n",
        sim.endpoint(),
        sim.node("Molder.ShotCount"),
    );
    let (name, cfg) = device(&dir.path().join("data"), &section);
    let err = session::connect(&name, &cfg).await.err().expect("mismatch");
    let msg = err.to_string();
    assert!(matches!(err, OpcUaError::EndpointMismatch { .. }), "{msg}");
    assert!(msg.contains("does not offer security_policy \"Aes128_Sha256_RsaOaep\""), "{msg}");
    assert!(msg.contains("it offers: None/None (anonymous)"), "{msg}");
    sim.stop().await;
}
