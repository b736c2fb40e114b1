//! The whole pipeline, simulator → `edgeproof run` → mosquitto: every sample the simulator
//! served reaches the broker with exactly the value it served, one message per poll cycle,
//! with gap-free `seq`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgeproof::source::modbus::Order;
use edgeproof_sim::SimServer;
use serde_json::json;

use crate::support::agent::{journal_contents, metrics_on, mqtt_plain, write_config, Agent};
use crate::support::image::Fixture;
use crate::support::metrics::scrape;
use crate::support::mosquitto::Mosquitto;
use crate::support::subscriber::{by_seq, check_seqs, Subscriber};
use crate::support::{free_port, wait_for};

const WAIT: Duration = Duration::from_secs(60);

/// Input registers the test changes while the agent polls: a counter and a value derived
/// from it, written together under the image lock, so a torn read would show.
const COUNTER: u16 = 10;
const DERIVED: u16 = 12;

fn derived(k: u32) -> u32 {
    3 * k + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_served_sample_arrives_with_its_exact_value_and_gap_free_seq() {
    // Every type in every byte order with fixed values, plus two points the test changes.
    let mut fixture = Fixture::every_type();
    fixture.image.input.set_u32(COUNTER, 0, Order::Abcd).set_u32(DERIVED, derived(0), Order::Abcd);
    fixture.points_toml.push_str(&format!(
        "  [[devices.points]]\n  name = \"counter\"\n  area = \"input\"\n  address = {COUNTER}\n  type = \"u32\"\n\
         \x20 [[devices.points]]\n  name = \"derived\"\n  area = \"input\"\n  address = {DERIVED}\n  type = \"u32\"\n"
    ));
    let image = Arc::new(Mutex::new(fixture.image.clone()));
    let sim = SimServer::start("127.0.0.1:0".parse().unwrap(), image.clone()).await.unwrap();

    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let sub = Subscriber::start(port, "edgeproof/gw-test/#").await;
    let dir = tempfile::tempdir().unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "{}\n[journal]\nflush_interval = \"100ms\"\n\n{}\n\
             [[devices]]\nname = \"plc-1\"\nprotocol = \"modbus-tcp\"\naddress = \"{}\"\n\
             poll = \"100ms\"\ntimeout = \"5s\"\n{}",
            mqtt_plain(port),
            metrics_on(metrics),
            sim.local_addr(),
            fixture.points_toml
        ),
    );
    let mut agent = Agent::start(&config);

    // Each poll cycle reads the input registers with exactly one FC 04 request (they are
    // close enough to merge), so FC 04 requests served = poll cycles = journal entries.
    let cycles_served = || sim.request_log().iter().filter(|r| r.0 == 4).count() as u64;
    const LAST: u32 = 20;
    wait_for("a poll cycle that reads counter 0", WAIT, || cycles_served() > 0).await;
    for k in 1..=LAST {
        image.lock().unwrap().input.set_u32(COUNTER, k, Order::Abcd).set_u32(
            DERIVED,
            derived(k),
            Order::Abcd,
        );
        // A request logged after this point reads the image after the change.
        let before = cycles_served();
        wait_for(&format!("a poll cycle that reads counter {k}"), WAIT, || {
            cycles_served() > before
        })
        .await;
    }
    let served = cycles_served();
    wait_for(&format!("seqs 1..={served} at the subscriber"), WAIT, || {
        sub.seqs().range(1..=served).count() as u64 == served
    })
    .await;

    let data = sub.data();
    let report = check_seqs(&data).unwrap();
    assert_eq!(report.first, 1, "a fresh journal starts at seq 1");
    let messages = by_seq(&data);
    let mut counters = Vec::new();
    for seq in 1..=served {
        let m = &messages[&seq];
        assert_eq!((&m["gw"], &m["device"]), (&json!("gw-test"), &json!("plc-1")), "{m}");
        assert_eq!(m["bad"], json!({}), "seq {seq}: every point good: {m}");
        for e in &fixture.expect {
            assert_eq!(m["values"][&e.point], e.value, "seq {seq}, point {}: {m}", e.point);
        }
        let k = m["values"]["counter"].as_u64().unwrap() as u32;
        assert_eq!(m["values"]["derived"], json!(derived(k)), "seq {seq}: torn read: {m}");
        counters.push(k);
    }
    // The values arrive in the order they were served, and every one of them arrives.
    assert!(counters.windows(2).all(|w| w[0] <= w[1]), "counter went back: {counters:?}");
    let distinct: BTreeSet<u32> = counters.iter().copied().collect();
    assert_eq!(distinct, (0..=LAST).collect(), "every value served was delivered");

    // Nothing was refused or dropped on the way, and no request failed.
    let s = scrape(metrics).await;
    assert_eq!(s.value("edgeproof_journal_queue_full_drops_total"), 0.0);
    assert_eq!(s.value("edgeproof_journal_dropped_entries_total"), 0.0);
    assert_eq!(s.sum("edgeproof_device_poll_errors_total", &[]), 0.0, "{}", s.text);

    // A clean stop; then every cycle ever served is either at the broker or still in the
    // journal for the next start (the last ones may not have been acknowledged yet).
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    let served = cycles_served();
    let (journal, left) = journal_contents(&config);
    assert_eq!(journal.next_seq - 1, served, "one journal entry per poll cycle served");
    let mut all: BTreeSet<u64> = sub.seqs();
    all.extend(left.iter().map(|e| e.seq));
    assert_eq!(all, (1..=served).collect(), "every served cycle delivered or kept");
    assert_eq!(sim.write_count(), 0, "the agent never writes to a device");
}
