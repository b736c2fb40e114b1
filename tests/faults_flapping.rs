//! A flapping uplink under load: the agent reaches mosquitto through the fault proxy, which
//! cuts the link (RST, then refuses connections) or blackholes it (half-open, longer than
//! the MQTT keep-alive) at random, 10 times (50 in the long run). Every poll cycle reaches
//! the subscriber with its exact values, seqs gap-free; nothing is lost.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use edgeproof::model::now_ms;

use crate::support::agent::{metrics_on, mqtt_plain, write_config, Agent};
use crate::support::faults::{assert_every_poll_kept, assert_nothing_lost, pick, rng};
use crate::support::metrics::scrape;
use crate::support::mosquitto::Mosquitto;
use crate::support::plant::{Plant, Points};
use crate::support::proxy::{FaultProxy, Mode};
use crate::support::subscriber::Subscriber;
use crate::support::{free_port, wait_for};

const WAIT: Duration = Duration::from_secs(90);
/// The agent's keep-alive; blackholes last longer, so only the keep-alive can end them.
const KEEP_ALIVE_S: u64 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_link_cut_and_blackholed_ten_times_under_load_loses_nothing() {
    let mut rng = rng("faults_flapping");
    let faults = pick(10, 50);
    let plant = Plant::start(&[
        ("press-01", Points::U16(40), "100ms"),
        ("press-02", Points::U16(40), "100ms"),
        ("meter-01", Points::U16(20), "200ms"),
    ])
    .await;
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let sub = Subscriber::start(port, "edgeproof/gw-test/#").await;
    let proxy = FaultProxy::start(port).await;
    let dir = tempfile::tempdir().unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "{}keep_alive = \"{KEEP_ALIVE_S}s\"\n\n{}\n{}",
            mqtt_plain(proxy.port),
            metrics_on(metrics),
            plant.toml()
        ),
    );
    let mut agent = Agent::start(&config);
    wait_for("live data", WAIT, || sub.data_count() >= 20).await;

    // Every third fault is a blackhole longer than the keep-alive; the others cut the link
    // (RST) and refuse connections for a while.
    let started = Instant::now();
    let mut schedule = Vec::new();
    for i in 0..faults {
        let fault = if i % 3 == 1 {
            let ms = rng.u64(KEEP_ALIVE_S * 1500..=KEEP_ALIVE_S * 3000);
            (Mode::Blackhole, Duration::from_millis(ms))
        } else {
            (Mode::Down, Duration::from_millis(rng.u64(100..=3000)))
        };
        schedule.push(fault);
        proxy.flap(vec![fault]);
        wait_for("the fault to end", WAIT, || proxy.flap_done()).await;
        // Delivery resumes: a reading polled after the fault ended arrives (the broker's
        // queue for a slow subscriber could otherwise look like delivery).
        let ended = now_ms();
        wait_for(&format!("delivery after fault {i} ({fault:?})"), WAIT, || {
            sub.data().iter().rev().take(50).any(|m| m["ts"].as_u64() > Some(ended + 200))
        })
        .await;
    }
    let elapsed = started.elapsed();
    let reconnects = scrape(metrics).await.value("edgeproof_publish_reconnects_total");
    assert!(reconnects >= faults as f64, "each fault broke the link it found up: {reconnects}");

    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    let data = sub.data();
    let ledger = assert_nothing_lost(&plant, &data, &config);
    assert_every_poll_kept(&plant, &ledger);
    let blackholes = schedule.iter().filter(|(m, _)| *m == Mode::Blackhole).count();
    assert!(blackholes >= faults / 4, "{schedule:?}");
    eprintln!(
        "faults_flapping: {faults} faults ({blackholes} blackholes) in {elapsed:?}; \
         {} seqs delivered, {} duplicates, {} left in the journal; reconnects {reconnects}",
        ledger.report.distinct, ledger.report.duplicates, ledger.left
    );
}
