//! The collector at fleet scale: simulated gateways × one day of 5-minute records (288
//! each), published through a real mosquitto into TWO collector processes sharing one
//! subscription group and one PostgreSQL database. Every record is stored exactly once, the
//! gaps are exactly the records left out, and both collectors took a share.
//!
//! CI runs the acceptance size, 1,000 gateways (288,000 records; about 4 minutes in a debug
//! build on 2 cores), and prints the ingest rate (figures in the README); 20 gateways go into
//! one SQLite file. `EDGEPROOF_SCALE_GATEWAYS=N` runs N gateways instead, for a quick local run.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use edgeproof::evidence::Chain;
use edgeproof_review::archive::{AnomalyKind, Archive, Registration, Span};

use crate::support::collector::Collector;
use crate::support::fleet::{messages, publish_all, sim_fleet};
use crate::support::free_port;
use crate::support::mosquitto::Mosquitto;
use crate::support::postgres::TestDb;

const RECORDS: usize = 288;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_store_a_fleet_day_exactly_once() {
    let gateways = std::env::var("EDGEPROOF_SCALE_GATEWAYS").ok().and_then(|v| v.parse().ok());
    let db = TestDb::create("collect scale").await;
    fleet_day_through_two_collectors(&db.url, gateways.unwrap_or(1_000)).await;
}

/// The same on one SQLite file, smaller: two collectors take turns at its write lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_share_one_sqlite_archive() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("archive.db").display().to_string();
    fleet_day_through_two_collectors(&db, 20).await;
}

async fn fleet_day_through_two_collectors(db_url: &str, gateways: usize) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _broker = Mosquitto::plain_with(port, "max_inflight_messages 1000").await;

    let t = Instant::now();
    let logs = sim_fleet(gateways, RECORDS);
    eprintln!("generated {} records in {:?}", gateways * RECORDS, t.elapsed());
    let archive = Archive::open(db_url).await.unwrap();
    for l in &logs {
        archive
            .register(Registration {
                gateway: l.gw.clone(),
                origin: Chain::origin_for(&l.gw),
                public_key: l.key.public().to_base64(),
                city: "Foshan".into(),
                enterprise: String::new(),
                project: String::new(),
                topic_prefix: format!("edgeproof/{}", l.gw),
                mqtt_user: l.gw.clone(),
            })
            .await
            .unwrap();
    }
    // Injected gaps: single records, a run, and a cut tail (revealed by the checkpoint).
    let last = RECORDS as u64 - 1;
    let holes: Vec<(usize, Span)> = vec![
        (3, Span { first: 17, last: 17 }),
        (3, Span { first: 100, last: 104 }),
        (gateways / 2, Span { first: 1, last: 1 }),
        (gateways - 1, Span { first: last - 2, last }),
    ];
    let drop: BTreeSet<(usize, u64)> =
        holes.iter().flat_map(|(g, s)| (s.first..=s.last).map(move |q| (*g, q))).collect();
    let msgs = messages(&logs, &drop);
    let want = (gateways * RECORDS - drop.len()) as u64;

    let mut a = Collector::start(dir.path(), port, db_url, "collect-a").await;
    let mut b = Collector::start(dir.path(), port, db_url, "collect-b").await;
    let t = Instant::now();
    publish_all(port, msgs).await;
    let published = t.elapsed();
    let deadline = Instant::now() + Duration::from_secs(1_800);
    loop {
        let stored: u64 = archive.gateway_rows(0).await.unwrap().iter().map(|r| r.records).sum();
        if stored >= want {
            break;
        }
        assert!(Instant::now() < deadline, "stored {stored} of {want}\n{}\n{}", a.log(), b.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = t.elapsed();
    eprintln!(
        "{want} records from {gateways} gateways: published in {published:?}, stored in \
         {elapsed:?} = {:.0} records/s through two collectors",
        want as f64 / elapsed.as_secs_f64()
    );
    // Every checkpoint is in (the last messages); wait for the last one's gap.
    let want_gaps: Vec<(String, AnomalyKind, Option<Span>)> = holes
        .iter()
        .map(|(g, s)| (Chain::origin_for(&logs[*g].gw), AnomalyKind::Gap, Some(*s)))
        .collect();
    let gaps = || async {
        archive
            .anomalies(None)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.origin, a.kind, a.seqs))
            .collect::<Vec<_>>()
    };
    while gaps().await != want_gaps {
        assert!(Instant::now() < deadline, "anomalies {:?}, want {want_gaps:?}", gaps().await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for c in [&mut a, &mut b] {
        let status = c.terminate(Duration::from_secs(60)).await;
        assert!(status.success(), "{status}\n{}", c.log());
    }
    let rows = archive.gateway_rows(0).await.unwrap();
    assert_eq!(rows.len(), gateways);
    for (i, r) in rows.iter().enumerate() {
        let dropped = drop.iter().filter(|(g, _)| *g == i).count() as u64;
        assert_eq!(r.records, RECORDS as u64 - dropped, "{}", r.reg.gateway);
    }
    // Both collectors took a share (the broker alternates between a group's members).
    for c in [&a, &b] {
        let log = c.log();
        let stored = log
            .lines()
            .filter(|l| l.contains("collector stopped"))
            .filter_map(|l| {
                l.split("stored=").nth(1)?.split_whitespace().next()?.parse::<u64>().ok()
            })
            .next_back()
            .unwrap_or(0);
        assert!(stored > 0, "a collector stored nothing\n{log}");
    }
    // Complete logs had their checkpoint root checked against the records.
    let checked = rows
        .iter()
        .filter(|r| r.last_checkpoint.as_ref().is_some_and(|c| c.root_checked == 1))
        .count();
    assert_eq!(checked, gateways - 3, "all but the three gateways with holes");
}
