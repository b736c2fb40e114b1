//! Interop with python asyncua, an OPC UA server nobody here wrote: the agent (a real
//! `edgeproof run`) subscribes to one variable and polls another, and both reach a real
//! mosquitto with the server's values.

use std::time::Duration;

use crate::support::agent::{mqtt_plain, write_config, Agent};
use crate::support::mosquitto::Mosquitto;
use crate::support::python::{self, PyServer};
use crate::support::subscriber::Subscriber;
use crate::support::{free_port, wait_for};

/// Starts the server; returns it and its namespace index.
fn start_asyncua(port: u16) -> (PyServer, u16) {
    let (server, line) = python::start(
        "asyncua_server.py",
        [port.to_string()],
        Duration::from_secs(60),
        "is asyncua installed?",
    );
    let ns = line.strip_prefix("READY ").and_then(|n| n.parse().ok()).unwrap_or_else(|| {
        panic!("asyncua server failed to start (is asyncua installed?): {line:?}")
    });
    (server, ns)
}

#[tokio::test]
async fn subscribe_and_poll_against_python_asyncua_reach_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let opc_port = free_port();
    let (_server, ns) = start_asyncua(opc_port);
    let mqtt_port = free_port();
    let _broker = Mosquitto::plain(mqtt_port).await;
    let mut sub = Subscriber::start(mqtt_port, "edgeproof/#").await;
    sub.wait_subscribed(1).await;
    let config = write_config(
        dir.path(),
        &format!(
            "{}\n[[devices]]\nname = \"line1\"\nprotocol = \"opcua\"\n\
             endpoint = \"opc.tcp://127.0.0.1:{opc_port}/\"\npoll = \"300ms\"\n\
             [[devices.points]]\nname = \"temp\"\nnode = \"ns={ns};s=Line1.Temp\"\nsampling = \"100ms\"\n\
             [[devices.points]]\nname = \"count\"\nnode = \"ns={ns};s=Line1.Count\"\nmode = \"poll\"\n",
            mqtt_plain(mqtt_port)
        ),
    );
    let agent = Agent::start(&config);
    let values = |point: &str| -> Vec<serde_json::Value> {
        sub.data().iter().filter_map(|m| m["values"].get(point).cloned()).collect()
    };
    wait_for("subscribed and polled values from asyncua", Duration::from_secs(40), || {
        values("temp").len() >= 3 && values("count").len() >= 3
    })
    .await;
    // The server's own values: temperatures 20.x rising, counts rising.
    let temps: Vec<f64> = values("temp").iter().filter_map(|v| v.as_f64()).collect();
    assert!(temps.iter().all(|t| *t > 20.0), "{temps:?}");
    assert!(temps.windows(2).all(|w| w[1] > w[0]), "subscribed values rise: {temps:?}");
    let counts: Vec<u64> = values("count").iter().filter_map(|v| v.as_u64()).collect();
    assert!(
        counts.windows(2).all(|w| w[1] > w[0]),
        "polled counts rise: {counts:?}\n{}",
        agent.log()
    );
}
