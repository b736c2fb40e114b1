//! `edgeproof collect` end to end on a small fleet, on SQLite and on PostgreSQL: simulated
//! gateways publish through a real mosquitto into a real collector process; every record is
//! stored once, re-deliveries change nothing, and gaps, bad signatures and unknown gateways
//! are anomaly rows with the right seq ranges; `/metrics` (`--metrics-listen`) counts what
//! was stored.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use edgeproof_review::archive::{AnomalyKind, Archive, Span};

use crate::support::collector::{add_gateway, Collector};
use crate::support::fleet::{messages, publish_all, sim_fleet, sim_log_from, write_keys, Message};
use crate::support::metrics::{self as scrape, scrape_until};
use crate::support::mosquitto::Mosquitto;
use crate::support::postgres::TestDb;
use crate::support::{bin, describe, free_port, run};

const RECORDS: usize = 40;
const WAIT: Duration = Duration::from_secs(120);

async fn small_fleet_into(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _broker = Mosquitto::plain_with(port, "max_inflight_messages 1000").await;
    let logs = sim_fleet(6, RECORDS);
    let keys = write_keys(dir.path(), &logs);
    // Gateway 4 is never registered.
    for (l, k) in logs.iter().zip(&keys).take(4) {
        add_gateway(db, &l.gw, k, &["--city", "Foshan", "--project", "GD-2026-0042"]);
    }
    let metrics_addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let listen = metrics_addr.to_string();
    let mut collector =
        Collector::start_with(dir.path(), port, db, "collect-1", &["--metrics-listen", &listen])
            .await;
    // Gateway 5 is registered while the collector runs.
    add_gateway(db, &logs[5].gw, &keys[5], &[]);

    // Lost on the way: gateway 1 seq 10, gateway 2 seqs 20–22, gateway 3 its last record
    // (only its checkpoint says it exists).
    let drop: BTreeSet<(usize, u64)> =
        [(1, 10), (2, 20), (2, 21), (2, 22), (3, RECORDS as u64 - 1)].into_iter().collect();
    let mut msgs = messages(&logs, &drop);
    // Re-deliveries of gateway 0's first records, and one of its records altered in transit.
    for seq in 0..5 {
        msgs.push(Message {
            topic: "edgeproof/gw-0000/evidence".into(),
            payload: logs[0].records[seq].clone(),
        });
    }
    // A different record for a stored seq, validly signed by gateway 0's key.
    let forged = sim_log_from(0, 6, 1_767_225_600_000 + 86_400_000);
    msgs.push(Message {
        topic: "edgeproof/gw-0000/evidence".into(),
        payload: forged.records[5].clone(),
    });
    let tampered =
        String::from_utf8(logs[0].records[7].clone()).unwrap().replace("\"ok\":300", "\"ok\":299");
    msgs.push(Message {
        topic: "edgeproof/gw-0000/evidence".into(),
        payload: tampered.into_bytes(),
    });
    let sent = msgs.len();
    publish_all(port, msgs).await;

    let archive = Archive::open(db).await.unwrap();
    let want_stored = 5 * RECORDS as u64 - 5;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rows = archive.gateway_rows(0).await.unwrap();
        let stored: u64 = rows.iter().map(|r| r.records).sum();
        let anomalies = archive.anomalies(None).await.unwrap();
        if stored == want_stored
            && anomalies.iter().any(|a| a.kind == AnomalyKind::UnknownGateway)
            && anomalies.iter().any(|a| a.kind == AnomalyKind::BadSignature)
            && anomalies.iter().any(|a| a.kind == AnomalyKind::Conflict)
            && anomalies.iter().filter(|a| a.kind == AnomalyKind::Gap).count() == 3
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stored {stored} of {want_stored}; anomalies {anomalies:?}\n{}",
            collector.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The counters are added just after each commit: wait for the last one to show.
    let s = scrape_until(metrics_addr, "stored records in /metrics", WAIT, |s| {
        s.get("edgeproof_collect_records_stored_total") == Some(want_stored as f64)
            && s.sum("edgeproof_collect_anomalies_total", &["kind=\"conflict\""]) == 1.0
            && s.get("edgeproof_collect_checkpoints_stored_total") == Some(5.0)
    })
    .await;
    let kind = |k: &str| s.value(&format!("edgeproof_collect_anomalies_total{{kind=\"{k}\"}}"));
    assert_eq!(kind("bad_signature"), 1.0, "{}", s.text);
    assert!(kind("unknown_gateway") >= 1.0, "{}", s.text);
    assert_eq!(kind("gap"), 0.0, "gaps are kept current in the archive, not counted");
    assert!(s.value("edgeproof_collect_duplicates_total") >= 5.0, "{}", s.text);
    assert!(s.value("edgeproof_collect_messages_total") >= sent as f64, "{}", s.text);
    assert!(s.value("edgeproof_collect_batches_committed_total") >= 1.0, "{}", s.text);
    assert_eq!(s.value("edgeproof_collect_db_errors_total"), 0.0, "{}", s.text);
    assert_eq!(scrape::get(metrics_addr, "/healthz").await.map(|r| r.0), Some(200));
    let status = collector.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}\n{}", collector.log());

    let rows = archive.gateway_rows(0).await.unwrap();
    let per: Vec<(String, u64)> = rows.iter().map(|r| (r.reg.gateway.clone(), r.records)).collect();
    let n = RECORDS as u64;
    assert_eq!(
        per,
        vec![
            ("gw-0000".into(), n),
            ("gw-0001".into(), n - 1),
            ("gw-0002".into(), n - 3),
            ("gw-0003".into(), n - 1),
            ("gw-0005".into(), n)
        ],
        "each record stored exactly once"
    );
    assert!(rows.iter().take(4).all(|r| r.reg.city == "Foshan"));
    let got: Vec<(String, AnomalyKind, Option<Span>)> = archive
        .anomalies(None)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.origin, a.kind, a.seqs))
        .collect();
    let span = |first, last| Some(Span { first, last });
    assert_eq!(
        got,
        vec![
            ("edgeproof/gw-0000".into(), AnomalyKind::BadSignature, span(7, 7)),
            ("edgeproof/gw-0000".into(), AnomalyKind::Conflict, span(5, 5)),
            ("edgeproof/gw-0001".into(), AnomalyKind::Gap, span(10, 10)),
            ("edgeproof/gw-0002".into(), AnomalyKind::Gap, span(20, 22)),
            ("edgeproof/gw-0003".into(), AnomalyKind::Gap, span(n - 1, n - 1)),
            ("edgeproof/gw-0004".into(), AnomalyKind::UnknownGateway, span(0, n - 1)),
        ],
        "{sent} messages sent"
    );
    // gw-0000's stored log is whole and verifies, but the collector refused records of it:
    // report --db says so and exits 1.
    let html = dir.path().join("gw-0000.html");
    let out = run(Command::new(bin())
        .args(["report", "--db", db, "--gateway", "gw-0000", "--html"])
        .arg(&html));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr.contains("archive anomaly conflict (seen 1×): seq 5"), "{stderr}");
    assert!(stderr.contains("archive anomaly bad_signature (seen 1×): seq 7"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("INTACT"));
    // Every complete log's checkpoint was checked against its records; the others wait.
    let checked: Vec<(String, i64)> = rows
        .iter()
        .map(|r| (r.reg.gateway.clone(), r.last_checkpoint.as_ref().map_or(-1, |c| c.root_checked)))
        .collect();
    assert_eq!(
        checked,
        vec![
            ("gw-0000".into(), 1),
            ("gw-0001".into(), 0),
            ("gw-0002".into(), 0),
            ("gw-0003".into(), 0),
            ("gw-0005".into(), 1)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_fleet_into_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("archive.db").display().to_string();
    small_fleet_into(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_fleet_into_postgres() {
    let db = TestDb::create("collect small").await;
    small_fleet_into(&db.url).await;
}

/// SIGKILL while batches are in flight: the messages received but not yet committed were
/// never acknowledged, so the broker hands them to the restarted collector (same client id,
/// persistent session); every record ends up stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_collector_gets_its_unacknowledged_messages_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("archive.db").display().to_string();
    let port = free_port();
    let _broker = Mosquitto::plain_with(port, "max_inflight_messages 1000").await;
    let logs = sim_fleet(50, 288);
    let archive = Archive::open(&db).await.unwrap();
    for l in &logs {
        archive
            .register(edgeproof_review::archive::Registration {
                gateway: l.gw.clone(),
                origin: format!("edgeproof/{}", l.gw),
                public_key: l.key.public().to_base64(),
                city: String::new(),
                enterprise: String::new(),
                project: String::new(),
                topic_prefix: format!("edgeproof/{}", l.gw),
                mqtt_user: l.gw.clone(),
            })
            .await
            .unwrap();
    }
    let mut collector = Collector::start(dir.path(), port, &db, "collect-k").await;
    publish_all(port, messages(&logs, &BTreeSet::new())).await;
    let total = 50 * 288;
    let stored =
        || async { archive.gateway_rows(0).await.unwrap().iter().map(|r| r.records).sum::<u64>() };
    let deadline = tokio::time::Instant::now() + WAIT;
    while stored().await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "nothing stored\n{}", collector.log());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    collector.kill();
    let at_kill = stored().await;
    let mut collector = Collector::start(dir.path(), port, &db, "collect-k").await;
    while stored().await < total {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {total}\n{}",
            stored().await,
            collector.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(collector.terminate(WAIT).await.success());
    eprintln!("killed after {at_kill} of {total} records were stored");
    assert!(archive.gateway_rows(0).await.unwrap().iter().all(|r| r.records == 288));
    assert_eq!(archive.anomalies(None).await.unwrap(), vec![], "no gap, no conflict");
}
