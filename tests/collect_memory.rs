//! The collector's memory does not grow with the broker's backlog (issue 15, finding 5): a
//! collector that was away comes back to every message queued in its persistent session, and
//! drains them with a bounded queue between the MQTT client and the batcher (flow control:
//! it stops reading the socket while the queue is full, so the broker keeps the rest).
//!
//! Measured from /proc/<pid>/status of the collector child (`VmHWM`, the peak resident set):
//! a backlog ten times larger costs no more than a few MiB more, and stays under 64 MiB.
//! CI drains 3,000 then 30,000 queued messages; `EDGEPROOF_BACKLOG_GATEWAYS=1000` drains
//! 300,000 (figure in docs/performance.md).

use std::collections::BTreeSet;
use std::time::Duration;

use edgeproof_review::archive::{Archive, Registration};

use crate::support::collector::Collector;
use crate::support::fleet::{messages, publish_all, sim_fleet, SimLog};
use crate::support::free_port;
use crate::support::mosquitto::Mosquitto;

/// Records per simulated gateway.
const RECORDS: usize = 300;
const MIB: u64 = 1024;

/// Publishes `logs` while the collector `client_id` is away, starts it again, waits until
/// the archive holds `total` records, and returns the collector's peak RSS in KiB.
async fn drain_backlog(
    dir: &std::path::Path,
    port: u16,
    db: &str,
    archive: &Archive,
    logs: &[SimLog],
    total: u64,
) -> u64 {
    for l in logs {
        archive.register(Registration::new(&l.gw, &l.key.public().to_base64())).await.unwrap();
    }
    let msgs = messages(logs, &BTreeSet::new());
    let queued = msgs.len();
    let t = std::time::Instant::now();
    publish_all(port, msgs).await;
    eprintln!("queued {queued} messages for the absent collector in {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let mut c = Collector::start(dir, port, db, "collect-mem").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3_600);
    let mut peak = 0;
    loop {
        if let Some((_, hwm)) = c.rss_kib() {
            peak = peak.max(hwm);
        }
        let stored: u64 = archive.gateway_rows(0).await.unwrap().iter().map(|r| r.records).sum();
        if stored >= total {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "stored {stored} of {total}\n{}", c.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    peak = peak.max(c.rss_kib().map_or(0, |(_, hwm)| hwm));
    eprintln!(
        "drained {queued} queued messages in {:?}; collector peak RSS {} KiB",
        t.elapsed(),
        peak
    );
    let status = c.terminate(Duration::from_secs(60)).await;
    assert!(status.success(), "{status}\n{}", c.log());
    peak
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_queued_messages_drains_in_bounded_memory() {
    let big: usize = std::env::var("EDGEPROOF_BACKLOG_GATEWAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("archive.db").display().to_string();
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let archive = Archive::open(&db).await.unwrap();
    // The collector's session (clean session off) and its subscription exist from now on; the
    // broker queues what arrives while it is away.
    let mut c = Collector::start(dir.path(), port, &db, "collect-mem").await;
    assert!(c.terminate(Duration::from_secs(60)).await.success());

    let logs = sim_fleet(10 + big, RECORDS);
    let (small, large) = logs.split_at(10);
    let small_total = (small.len() * RECORDS) as u64;
    let peak_small = drain_backlog(dir.path(), port, &db, &archive, small, small_total).await;
    let all = (logs.len() * RECORDS) as u64;
    let peak_large = drain_backlog(dir.path(), port, &db, &archive, large, all).await;
    eprintln!(
        "peak RSS: {} KiB after {} queued, {} KiB after {} queued",
        peak_small,
        small_total,
        peak_large,
        all - small_total
    );
    assert!(peak_large <= 64 * MIB, "{peak_large} KiB for a backlog of {}", all - small_total);
    assert!(
        peak_large <= peak_small + 12 * MIB,
        "memory grows with the backlog: {peak_small} KiB for {small_total} messages, \
         {peak_large} KiB for {}",
        all - small_total
    );
    assert!(archive.gateway_rows(0).await.unwrap().iter().all(|r| r.records == RECORDS as u64));
}
