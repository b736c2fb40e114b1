//! `edgeproof-review collect acl`: the Mosquitto ACL written from the registered gateways
//! keeps each gateway's MQTT user to its own topic prefix, on a real mosquitto with a
//! password file and that ACL file: gateway A's publish on B's topic never reaches the
//! collector's subscription, A's own does.

use std::process::Command;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

use crate::support::collector::add_gateway;
use crate::support::fleet::{sim_fleet, write_keys};
use crate::support::mosquitto::Mosquitto;
use crate::support::{describe, free_port, review_bin, run};

const WAIT: Duration = Duration::from_secs(30);

fn client(port: u16, user: &str) -> (AsyncClient, rumqttc::EventLoop) {
    let mut o = MqttOptions::new(format!("{user}-{}", fastrand::u32(..)), "127.0.0.1", port);
    o.set_credentials(user, format!("pw-{user}"));
    o.set_keep_alive(Duration::from_secs(5));
    AsyncClient::new(o, 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_cannot_publish_on_another_gateways_topic() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("archive.db").display().to_string();
    let logs = sim_fleet(2, 1);
    let keys = write_keys(dir.path(), &logs);
    add_gateway(&db, "gw-0000", &keys[0], &[]);
    // Its MQTT user differs from its id.
    add_gateway(&db, "gw-0001", &keys[1], &["--mqtt-user", "plant-b"]);
    let acl = dir.path().join("acl");
    let out = run(Command::new(review_bin())
        .args(["collect", "acl", "--db", &db, "--collector-user", "collector", "-o"])
        .arg(&acl));
    assert!(out.status.success(), "collect acl: {}", describe(&out));
    let text = std::fs::read_to_string(&acl).unwrap();
    assert!(text.contains("user plant-b\ntopic write edgeproof/gw-0001/#\n"), "{text}");

    let port = free_port();
    let users = ["gw-0000", "plant-b", "collector"];
    let _broker = Mosquitto::secured(port, &users.map(|u| (u, format!("pw-{u}"))), &acl).await;

    // The collector's user reads every gateway's evidence.
    let (sub, mut sub_loop) = client(port, "collector");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Vec<u8>)>();
    let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
    let mut subscribed_tx = Some(subscribed_tx);
    tokio::spawn(async move {
        loop {
            match sub_loop.poll().await {
                Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                    sub.try_subscribe("edgeproof/+/evidence", QoS::AtLeastOnce).unwrap();
                }
                Ok(Event::Incoming(Incoming::SubAck(s))) => {
                    if let Some(t) = subscribed_tx.take() {
                        let _ = t.send(s.return_codes);
                    }
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    let _ = tx.send((p.topic.clone(), p.payload.to_vec()));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    let codes = tokio::time::timeout(WAIT, subscribed).await.expect("suback").unwrap();
    assert!(
        matches!(codes[..], [rumqttc::SubscribeReasonCode::Success(_)]),
        "collector refused: {codes:?}"
    );

    // gw-0000 publishes on gw-0001's topic: mosquitto refuses it (for MQTT 3.1.1 it drops the
    // connection, or acknowledges and discards). Then on its own topic, on a new connection.
    // QoS 1 from one user in that order: had the first been delivered, it would come first.
    for (topic, payload) in
        [("edgeproof/gw-0001/evidence", "forged"), ("edgeproof/gw-0000/evidence", "own")]
    {
        let (gw, mut gw_loop) = client(port, "gw-0000");
        gw.publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec()).await.unwrap();
        let outcome = tokio::time::timeout(WAIT, async {
            loop {
                match gw_loop.poll().await {
                    Ok(Event::Incoming(Incoming::PubAck(_))) => return Ok(()),
                    Ok(Event::Incoming(Incoming::ConnAck(c))) => {
                        assert_eq!(c.code, rumqttc::ConnectReturnCode::Success)
                    }
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        })
        .await
        .expect("the broker answers the publish");
        if payload == "own" {
            assert_eq!(outcome, Ok(()), "gw-0000's publish on its own topic");
        }
        drop(gw);
    }
    let first = tokio::time::timeout(WAIT, rx.recv()).await.expect("a delivery").unwrap();
    assert_eq!(first, ("edgeproof/gw-0000/evidence".to_string(), b"own".to_vec()));

    // plant-b (gw-0001's user) may publish under gw-0001's prefix; anonymous clients may not
    // connect at all.
    let (b, mut b_loop) = client(port, "plant-b");
    b.publish("edgeproof/gw-0001/evidence", QoS::AtLeastOnce, false, b"b".to_vec()).await.unwrap();
    tokio::spawn(async move { while b_loop.poll().await.is_ok() {} });
    let next = tokio::time::timeout(WAIT, rx.recv()).await.expect("b's delivery").unwrap();
    assert_eq!(next, ("edgeproof/gw-0001/evidence".to_string(), b"b".to_vec()));
    let mut o = MqttOptions::new("anonymous", "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(5));
    let (_anon, mut anon_loop) = AsyncClient::new(o, 10);
    let refused = tokio::time::timeout(WAIT, anon_loop.poll()).await.expect("connack");
    assert!(
        refused.is_err()
            || !matches!(refused, Ok(Event::Incoming(Incoming::ConnAck(ref c))) if c.code == rumqttc::ConnectReturnCode::Success),
        "anonymous connected: {refused:?}"
    );
}
