//! Memory under a long outage: the broker is down while four devices of 100 points each are
//! polled every 50 ms, until the journal holds 150,000 samples (1,000,000 in the long run).
//! The agent's resident memory (VmRSS) stays flat — the backlog lives on disk, not in
//! memory — and once the broker is up every sample arrives.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::agent::{metrics_on, mqtt_plain, write_config, Agent};
use crate::support::faults::{assert_every_poll_kept, assert_nothing_lost, pick, wait_metrics};
use crate::support::metrics::scrape;
use crate::support::mosquitto::Mosquitto;
use crate::support::plant::{Plant, Points};
use crate::support::proxy::{FaultProxy, Mode};
use crate::support::subscriber::Subscriber;
use crate::support::{free_port, wait_for};

const WAIT: Duration = Duration::from_secs(120);
const MIB: f64 = 1024.0 * 1024.0;

/// VmRSS of `pid` in bytes.
fn rss(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS line");
    kb * 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rss_stays_flat_while_a_long_backlog_builds_and_every_sample_arrives_after() {
    let backlog = pick(150_000.0, 1_000_000.0);
    let plant = Plant::start(&[
        ("press-01", Points::U16(100), "50ms"),
        ("press-02", Points::U16(100), "50ms"),
        ("press-03", Points::U16(100), "50ms"),
        ("press-04", Points::U16(100), "50ms"),
    ])
    .await;
    // The broker runs (the test's subscriber listens), but the agent's link is down.
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let sub = Subscriber::start(port, "edgeproof/gw-test/#").await;
    let link = FaultProxy::start(port).await;
    link.set_mode(Mode::Down);
    let dir = tempfile::tempdir().unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = write_config(
        dir.path(),
        &format!("{}\n{}\n{}", mqtt_plain(link.port), metrics_on(metrics), plant.toml()),
    );
    let mut agent = Agent::start(&config);
    let pid = agent.pid();
    const SAMPLES: &str = "edgeproof_journal_samples";

    // Warm-up: the first tenth of the backlog (connections, buffers, SQLite's page cache).
    wait_metrics(metrics, "the warm-up backlog", WAIT, |s| s.value(SAMPLES) >= backlog / 10.0)
        .await;
    let warm = rss(pid);
    let started = Instant::now();
    let mut curve = vec![(0u64, warm)];
    let mut peak = warm;
    let s = wait_metrics(metrics, "the whole backlog", WAIT * 5, |s| {
        let r = rss(pid);
        peak = peak.max(r);
        let at = started.elapsed().as_secs();
        if curve.last().is_some_and(|(t, _)| at >= t + 5) {
            curve.push((at, r));
        }
        s.value(SAMPLES) >= backlog
    })
    .await;
    let end = rss(pid);
    let journal_mib = s.value("edgeproof_journal_file_bytes") / MIB;
    let samples = s.value(SAMPLES);
    let curve: Vec<String> = curve.iter().map(|(t, r)| format!("{t}s {:.1}", r / MIB)).collect();
    eprintln!(
        "faults_memory: {samples} samples backlog ({journal_mib:.0} MiB journal) in {:?}; VmRSS \
         after warm-up {:.1} MiB, peak {:.1} MiB, end {:.1} MiB; curve (MiB): {}",
        started.elapsed(),
        warm / MIB,
        peak / MIB,
        end / MIB,
        curve.join(", ")
    );
    // Generous: the point is no growth with the backlog (which is tens of MiB on disk).
    assert!(peak <= warm + 16.0 * MIB, "RSS grew with the backlog: {curve:?}");

    // The link comes back: everything arrives.
    link.set_mode(Mode::Pass);
    let committed = scrape(metrics).await.value("edgeproof_journal_committed_seq") as u64;
    wait_for("the backlog delivered", WAIT * 3, || {
        sub.seqs().range(1..=committed).count() as u64 == committed
    })
    .await;
    let drained = rss(pid);
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    let ledger = assert_nothing_lost(&plant, &sub.data(), &config);
    assert_every_poll_kept(&plant, &ledger);
    eprintln!(
        "faults_memory: drained {} messages; VmRSS after the drain {:.1} MiB",
        ledger.report.distinct,
        drained / MIB
    );
}
