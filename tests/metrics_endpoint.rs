//! `/metrics` and `/healthz` of a running `edgeproof run`, scraped while data flows to a
//! real broker and one device is unreachable: every metric the issue lists is there, with
//! values that agree with what happened.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::agent::{metrics_on, mqtt_plain, write_config, Agent};
use crate::support::metrics::{get, scrape_until, Scrape};
use crate::support::mosquitto::Mosquitto;
use crate::support::plant::{Plant, Points};
use crate::support::subscriber::Subscriber;
use crate::support::{free_port, wait_for};

const WAIT: Duration = Duration::from_secs(60);

fn dev(name: &str, device: &str) -> String {
    format!("{name}{{device=\"{device}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_reports_polls_journal_and_publishing_with_plausible_values() {
    let plant = Plant::start(&[("line-1", Points::U16(20), "100ms")]).await;
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let sub = Subscriber::start(port, "edgeproof/gw-test/#").await;
    let dir = tempfile::tempdir().unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let dead = free_port();
    let config = write_config(
        dir.path(),
        &format!(
            "{}\n{}\n{}\
             [[devices]]\nname = \"dead-1\"\nprotocol = \"modbus-tcp\"\n\
             address = \"127.0.0.1:{dead}\"\npoll = \"200ms\"\ntimeout = \"1s\"\n\
             \x20 [[devices.points]]\n  name = \"temp\"\n  area = \"input\"\n  address = 0\n  type = \"i16\"\n",
            mqtt_plain(port),
            metrics_on(metrics),
            plant.toml()
        ),
    );
    let mut agent = Agent::start(&config);
    wait_for("data at the subscriber", WAIT, || sub.data_count() >= 20).await;

    let s = scrape_until(metrics, "acknowledged messages and a failed poll", WAIT, |s: &Scrape| {
        s.get("edgeproof_publish_acknowledged_total").unwrap_or(0.0) > 0.0
            && s.sum("edgeproof_device_poll_errors_total", &["device=\"dead-1\""]) > 0.0
    })
    .await;

    // Every family the issue asks for.
    for name in [
        "edgeproof_build_info",
        "edgeproof_device_polls_total",
        "edgeproof_device_poll_errors_total",
        "edgeproof_device_poll_duration_seconds_bucket",
        "edgeproof_device_poll_duration_seconds_sum",
        "edgeproof_device_poll_duration_seconds_count",
        "edgeproof_device_points_read_total",
        "edgeproof_journal_entries",
        "edgeproof_journal_bytes",
        "edgeproof_journal_oldest_entry_age_seconds",
        "edgeproof_journal_dropped_entries_total",
        "edgeproof_journal_dropped_samples_total",
        "edgeproof_publish_published_total",
        "edgeproof_publish_acknowledged_total",
        "edgeproof_publish_in_flight",
        "edgeproof_publish_mqtt_connected",
    ] {
        assert!(s.has(name), "{name} missing from /metrics:\n{}", s.text);
    }
    assert!(s.text.contains("# TYPE edgeproof_device_poll_duration_seconds histogram"));
    assert_eq!(s.sum("edgeproof_build_info", &[]), 1.0, "{}", s.text);
    assert!(
        s.series.keys().any(|k| k.starts_with("edgeproof_build_info{")
            && k.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))),
        "build info names the version:\n{}",
        s.text
    );

    // Devices: the live one polls without errors, the dead one fails by connection.
    let polls = s.value(&dev("edgeproof_device_polls_total", "line-1"));
    assert!(polls > 0.0);
    assert_eq!(s.sum("edgeproof_device_poll_errors_total", &["device=\"line-1\""]), 0.0);
    assert!(
        s.sum("edgeproof_device_poll_errors_total", &["device=\"dead-1\"", "kind=\"connection\""])
            > 0.0
    );
    assert!(
        s.value(&dev("edgeproof_device_polls_total", "dead-1")) > 0.0,
        "a dead device is still polled"
    );
    let count = s.value(&dev("edgeproof_device_poll_duration_seconds_count", "line-1"));
    assert!(count > 0.0, "one duration per cycle");
    let inf =
        s.value("edgeproof_device_poll_duration_seconds_bucket{device=\"line-1\",le=\"+Inf\"}");
    assert_eq!(inf, count, "+Inf bucket holds every observation");
    let sum = s.value(&dev("edgeproof_device_poll_duration_seconds_sum", "line-1"));
    assert!(sum > 0.0 && sum < count * 5.0, "durations are positive and below the timeout: {sum}");
    let good =
        s.sum("edgeproof_device_points_read_total", &["device=\"line-1\"", "quality=\"good\""]);
    assert!(
        good >= 20.0 && good <= 20.0 * (polls + 1.0),
        "20 points per cycle: {good} for {polls}"
    );
    assert_eq!(
        s.sum("edgeproof_device_points_read_total", &["device=\"line-1\"", "quality=\"bad\""]),
        0.0
    );
    assert!(
        s.sum("edgeproof_device_points_read_total", &["device=\"dead-1\"", "quality=\"bad\""])
            > 0.0
    );
    assert_eq!(s.value(&dev("edgeproof_device_connected", "line-1")), 1.0);
    assert_eq!(s.value(&dev("edgeproof_device_connected", "dead-1")), 0.0);

    // Journal: small and moving, nothing dropped.
    assert!(s.value("edgeproof_journal_entries") >= 0.0);
    assert!(s.value("edgeproof_journal_bytes") > 0.0);
    assert!(s.value("edgeproof_journal_oldest_entry_age_seconds") >= 0.0);
    assert_eq!(s.value("edgeproof_journal_dropped_entries_total"), 0.0);
    assert_eq!(s.value("edgeproof_journal_dropped_samples_total"), 0.0);
    assert!(s.value("edgeproof_journal_appended_entries_total") > 0.0);

    // Publishing: connected, everything acknowledged was published first.
    let published = s.value("edgeproof_publish_published_total");
    let acked = s.value("edgeproof_publish_acknowledged_total");
    let in_flight = s.value("edgeproof_publish_in_flight");
    assert!(published >= acked && acked > 0.0, "published {published}, acknowledged {acked}");
    assert!((0.0..=100.0).contains(&in_flight), "in flight {in_flight} within max_inflight");
    assert_eq!(s.value("edgeproof_publish_mqtt_connected"), 1.0);
    assert_eq!(s.value("edgeproof_publish_connect_failures_total"), 0.0);

    // Counters only go up.
    let again = scrape_until(metrics, "more polls", WAIT, |n| {
        n.value(&dev("edgeproof_device_polls_total", "line-1")) > polls
    })
    .await;
    assert!(again.value("edgeproof_publish_acknowledged_total") >= acked);

    assert_eq!(get(metrics, "/healthz").await.map(|(code, _)| code), Some(200));
    assert_eq!(get(metrics, "/nope").await.map(|(code, _)| code), Some(404));
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
}
