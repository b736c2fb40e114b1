//! The collector on a stalled PostgreSQL (issue 15, finding 4, collector side): while the
//! path to the archive swallows every byte (a fault proxy in black-hole mode, which no kernel
//! timer notices), the batch in flight gives up at the archive's answer deadline, the
//! connection is dropped, and the batch is retried on a fresh one once the path heals.
//! Nothing was acknowledged before its commit, so every record is stored exactly once.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use edgeproof_review::archive::{Archive, Registration};
use edgeproof_review::postgres::Timeouts;

use crate::support::collector::Collector;
use crate::support::fleet::{messages, publish_all, sim_fleet};
use crate::support::free_port;
use crate::support::mosquitto::Mosquitto;
use crate::support::postgres::TestDb;
use crate::support::proxy::{FaultProxy, Mode};

const GATEWAYS: usize = 10;
const RECORDS: usize = 30;
/// How long the path to PostgreSQL swallows everything.
const HOLE: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_archive_costs_a_retry_never_a_record() {
    let db = TestDb::create("collect blackhole").await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _broker = Mosquitto::plain_with(port, "max_inflight_messages 1000").await;
    let logs = sim_fleet(GATEWAYS, RECORDS);
    let archive = Archive::open(&db.url).await.unwrap();
    for l in &logs {
        let reg = Registration::new(&l.gw, &l.key.public().to_base64());
        archive.register(reg).await.unwrap();
    }
    let pg_port: u16 =
        db.url.rsplit_once(':').unwrap().1.split('/').next().unwrap().parse().unwrap();
    let proxy = FaultProxy::start(pg_port).await;
    let proxied = db.url.replace(&format!(":{pg_port}/"), &format!(":{}/", proxy.port));
    let mut collector = Collector::start(dir.path(), port, &proxied, "collect-hole").await;

    proxy.flap(vec![(Mode::Blackhole, HOLE)]);
    let started = Instant::now();
    publish_all(port, messages(&logs, &BTreeSet::new())).await;
    let total = (GATEWAYS * RECORDS) as u64;
    let stored =
        || async { archive.gateway_rows(0).await.unwrap().iter().map(|r| r.records).sum::<u64>() };
    let deadline = Instant::now() + Timeouts::ARCHIVE.answer * 3;
    while stored().await < total {
        assert!(Instant::now() < deadline, "{} of {total}\n{}", stored().await, collector.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    assert!(proxy.flap_done());
    assert!(collector.terminate(Duration::from_secs(30)).await.success());
    let log = collector.log();
    println!("black hole {HOLE:?} under the collector: all {total} records stored after {took:?}");
    assert!(log.contains("no answer within"), "the stalled batch was not given up:\n{log}");
    assert!(archive.gateway_rows(0).await.unwrap().iter().all(|r| r.records == RECORDS as u64));
    assert_eq!(archive.anomalies(None).await.unwrap(), vec![], "no gap, no duplicate");
}
