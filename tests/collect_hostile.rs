//! The reviewer side on a hostile network (issue 15): nobody can plant a red flag on another
//! gateway or strip its witness. Real mosquitto, a real collector process, real SQLite and
//! PostgreSQL archives; the attacker is a registered gateway (gw-0001, "mallory") publishing
//! on its own topics, or anyone appending signature lines to a checkpoint.

use std::process::Command;
use std::time::Duration;

use edgeproof::evidence::cosignature::{cosign, WitnessKey};
use edgeproof::evidence::note::SignedNote;
use edgeproof::evidence::GatewayKey;
use edgeproof_review::archive::{AnomalyKind, Archive, Span};

use crate::support::collector::{add_gateway, Collector};
use crate::support::fleet::{messages, publish_all, sim_fleet, write_keys, Message, SimLog};
use crate::support::mosquitto::Mosquitto;
use crate::support::postgres::TestDb;
use crate::support::{bin, describe, free_port, run};

const RECORDS: usize = 20;
const WAIT: Duration = Duration::from_secs(120);
const VICTIM: &str = "edgeproof/gw-0000";
const MALLORY: &str = "edgeproof/gw-0001";

/// Waits until `cond` holds for the archive, printing the collector's log on timeout.
async fn wait_archive<F, Fut>(archive: &Archive, collector: &Collector, what: &str, cond: F)
where
    F: Fn(Archive) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond(archive.clone()).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; anomalies {:?}\n{}",
            archive.anomalies(None).await.unwrap(),
            collector.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `fleet --json` as of the day after the logs, one gateway's row.
fn fleet_row(dir: &std::path::Path, db: &str, gateway: &str, extra: &[&str]) -> serde_json::Value {
    let json = dir.join("fleet.json");
    let out = run(Command::new(bin())
        .args(["fleet", "--db", db, "--at", "2026-01-01T01:35:00Z"])
        .arg("--html")
        .arg(dir.join("fleet.html"))
        .arg("--json")
        .arg(&json)
        .args(extra));
    assert!(out.status.success(), "fleet: {}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["gateway"] == gateway)
        .cloned()
        .unwrap_or_else(|| panic!("no row for {gateway}: {v:#}"))
}

/// `report --db --gateway`, its exit code and stderr.
fn report(dir: &std::path::Path, db: &str, gateway: &str, extra: &[&str]) -> (i32, String) {
    let out = run(Command::new(bin())
        .args(["report", "--db", db, "--gateway", gateway, "--html"])
        .arg(dir.join(format!("{gateway}.html")))
        .arg("--json")
        .arg(dir.join(format!("{gateway}.json")))
        .args(extra));
    (out.status.code().unwrap_or(-1), describe(&out))
}

/// The victim's checkpoint with `extra` signature lines appended.
fn padded(log: &SimLog, extra: impl IntoIterator<Item = String>) -> String {
    let mut note = log.checkpoint.clone();
    for line in extra {
        note.push_str(&line);
        note.push('\n');
    }
    note
}

/// A well-formed signature line under `name` with key id `id` and a garbage signature.
fn garbage_line(name: &str, id: [u8; 4], fill: u8) -> String {
    use base64::Engine as _;
    let mut blob = id.to_vec();
    blob.extend_from_slice(&[fill; 72]);
    format!("\u{2014} {name} {}", base64::engine::general_purpose::STANDARD.encode(blob))
}

async fn misrouted_messages_stay_with_their_topic(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let logs = sim_fleet(2, RECORDS);
    let keys = write_keys(dir.path(), &logs);
    for (l, k) in logs.iter().zip(&keys) {
        add_gateway(db, &l.gw, k, &["--city", "Foshan"]);
    }
    let mut collector = Collector::start(dir.path(), port, db, "collect-h").await;
    publish_all(port, messages(&logs, &Default::default())).await;
    let archive = Archive::open(db).await.unwrap();
    wait_archive(&archive, &collector, "both logs stored and checked", |a| async move {
        let rows = a.gateway_rows(0).await.unwrap();
        rows.iter().all(|r| {
            r.records == RECORDS as u64
                && r.last_checkpoint.as_ref().is_some_and(|c| c.root_checked == 1)
        })
    })
    .await;
    let before = fleet_row(dir.path(), db, "gw-0000", &[]);
    assert_eq!(report(dir.path(), db, "gw-0000", &[]).0, 0);

    // Mallory publishes on its own topics: the victim's record edited, the victim's record
    // untouched, the victim's checkpoint, and that checkpoint padded to 101 signature lines.
    let victim = &logs[0];
    let edited = String::from_utf8(victim.records[5].clone())
        .unwrap()
        .replace("\"ok\":300", "\"ok\":1")
        .into_bytes();
    let padding = (0..100).map(|i| garbage_line(&format!("pad{i}"), [i as u8; 4], i as u8));
    let attack = vec![
        Message { topic: format!("{MALLORY}/evidence"), payload: edited },
        Message { topic: format!("{MALLORY}/evidence"), payload: victim.records[6].clone() },
        Message {
            topic: format!("{MALLORY}/checkpoint"),
            payload: victim.checkpoint.clone().into_bytes(),
        },
        Message {
            topic: format!("{MALLORY}/checkpoint"),
            payload: padded(victim, padding).into_bytes(),
        },
    ];
    publish_all(port, attack).await;
    wait_archive(&archive, &collector, "four misrouted anomalies", |a| async move {
        let n = a.anomalies(None).await.unwrap();
        n.iter().filter(|x| x.kind == AnomalyKind::Misrouted).count() == 4
    })
    .await;
    assert!(collector.terminate(WAIT).await.success());

    // Nothing touched the victim: no anomaly, same records and checkpoints, same fleet row,
    // and its report still passes.
    assert_eq!(archive.anomalies(Some(VICTIM)).await.unwrap(), vec![]);
    assert_eq!(archive.checkpoints(VICTIM).await.unwrap().len(), 1);
    assert_eq!(fleet_row(dir.path(), db, "gw-0000", &[]), before);
    let (code, out) = report(dir.path(), db, "gw-0000", &[]);
    assert_eq!(code, 0, "{out}");

    // Each is recorded against the topic it came on, with the origin it claimed and its seq.
    // (against, topic, claimed origin, seqs)
    type Row = (String, Option<String>, Option<String>, Option<Span>);
    let mut got: Vec<Row> = archive
        .anomalies(None)
        .await
        .unwrap()
        .into_iter()
        .map(|a| {
            assert_eq!(a.kind, AnomalyKind::Misrouted, "{a:?}");
            (a.origin, a.topic, a.claimed_origin, a.seqs)
        })
        .collect();
    got.sort();
    let ev = Some(format!("{MALLORY}/evidence"));
    let cp = Some(format!("{MALLORY}/checkpoint"));
    let claimed = Some(VICTIM.to_string());
    let size = Some(Span { first: 0, last: RECORDS as u64 - 1 });
    assert_eq!(
        got,
        vec![
            (MALLORY.into(), cp.clone(), claimed.clone(), size),
            (MALLORY.into(), cp, claimed.clone(), size),
            (MALLORY.into(), ev.clone(), claimed.clone(), Some(Span::one(5))),
            (MALLORY.into(), ev, claimed, Some(Span::one(6))),
        ]
    );
    // The flag is on the gateway whose topic carried them.
    let mallory = fleet_row(dir.path(), db, "gw-0001", &[]);
    let flags = mallory["flags"].to_string();
    assert!(flags.contains("misrouted"), "{mallory:#}");
    assert_eq!(report(dir.path(), db, "gw-0001", &[]).0, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_checkpoints_on_another_gateways_topic_never_touch_it_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("archive.db").display().to_string();
    misrouted_messages_stay_with_their_topic(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_checkpoints_on_another_gateways_topic_never_touch_it_postgres() {
    let db = TestDb::create("collect misrouted").await;
    misrouted_messages_stay_with_their_topic(&db.url).await;
}

/// `collector_trusts`: the collector was given the witness's key (else it keeps every
/// cosignature apart, and the reviewer's `--witness-key` decides at read time).
async fn forged_cosignature_lines_change_no_verdict(db: &str, collector_trusts: bool) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let logs = sim_fleet(2, RECORDS);
    let keys = write_keys(dir.path(), &logs);
    for (l, k) in logs.iter().zip(&keys) {
        add_gateway(db, &l.gw, k, &[]);
    }
    let witness_key = GatewayKey::from_seed([9; 32]);
    let witness = WitnessKey { name: "witness.example/w1".into(), key: witness_key.public() };
    let vkey = dir.path().join("w1.vkey");
    std::fs::write(&vkey, format!("{}\n", witness.vkey())).unwrap();
    let vkey_arg = vkey.display().to_string();
    // SQLite: the collector is given the key; PostgreSQL: the witness is registered in the
    // archive (`collect add-witness`).
    let registered = collector_trusts && db.starts_with("postgres");
    if registered {
        let out = run(Command::new(bin()).args([
            "collect",
            "add-witness",
            "--db",
            db,
            "--vkey",
            &vkey_arg,
        ]));
        assert!(out.status.success(), "add-witness: {}", describe(&out));
    }
    let trust: &[&str] =
        if collector_trusts && !registered { &["--witness-key", &vkey_arg] } else { &[] };
    let mut collector = Collector::start_with(dir.path(), port, db, "collect-w", trust).await;
    let apart_lines = if collector_trusts { 2 } else { 3 };

    let victim = &logs[0];
    let text = SignedNote::parse(&victim.checkpoint).unwrap().text;
    let valid = cosign(&text, &witness.name, &witness_key, 1_767_240_000).line();
    let garbage = garbage_line(&witness.name, witness.key_id(), 0xAB);
    let stranger = garbage_line("witness.example/unknown", [1, 2, 3, 4], 0xCD);
    let mut msgs = messages(&logs, &Default::default());
    // The agent republishes its checkpoint with the witness's line…
    msgs.push(Message {
        topic: format!("{VICTIM}/checkpoint"),
        payload: padded(victim, [valid.clone()]).into_bytes(),
    });
    // …and someone appends a garbage line under the witness's name and key id, before and
    // after the valid one, on the victim's topic and on mallory's; and a line of a witness
    // nobody configured.
    for (topic, lines) in [
        (VICTIM, vec![garbage.clone(), valid.clone()]),
        (VICTIM, vec![valid.clone(), garbage.clone(), stranger.clone()]),
        (MALLORY, vec![garbage.clone()]),
    ] {
        msgs.push(Message {
            topic: format!("{topic}/checkpoint"),
            payload: padded(victim, lines).into_bytes(),
        });
    }
    publish_all(port, msgs).await;
    let archive = Archive::open(db).await.unwrap();
    wait_archive(&archive, &collector, "the victim's unverified lines", |a| async move {
        a.unverified_signatures(VICTIM).await.unwrap().len() == apart_lines
            && a.anomalies(None).await.unwrap().iter().any(|x| x.kind == AnomalyKind::Misrouted)
    })
    .await;
    assert!(collector.terminate(WAIT).await.success());

    // The stored note holds the gateway's line and the verified cosignature only; the rest
    // is kept apart.
    let notes = archive.checkpoints(VICTIM).await.unwrap();
    assert_eq!(notes.len(), 1);
    let stored = SignedNote::parse(&notes[0].1).unwrap();
    let lines: Vec<String> = stored.signatures.iter().map(|s| s.line()).collect();
    let mut want = vec![garbage.clone(), stranger];
    if collector_trusts {
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[1], valid);
    } else {
        assert_eq!(lines.len(), 1, "{lines:?}");
        want.push(valid.clone());
    }
    let mut apart: Vec<String> = archive
        .unverified_signatures(VICTIM)
        .await
        .unwrap()
        .into_iter()
        .map(|(size, line)| {
            assert_eq!(size, RECORDS as u64);
            line
        })
        .collect();
    apart.sort();
    want.sort();
    assert_eq!(apart, want);

    // The victim stays witnessed in the fleet view and its report passes, witnessed.
    let row = fleet_row(dir.path(), db, "gw-0000", &["--witness-key", &vkey_arg]);
    assert_eq!(row["checkpoint"]["witnessed"], true, "{row:#}");
    assert_eq!(row["flags"], serde_json::json!([]), "{row:#}");
    let (code, out) = report(dir.path(), db, "gw-0000", &["--witness-key", &vkey_arg]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("gw-0000.json")).unwrap()).unwrap();
    assert_eq!(v["verdict"]["witnessed"], true);
    assert_eq!(v["verdict"]["intact"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_cosignature_lines_change_no_verdict_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("archive.db").display().to_string();
    forged_cosignature_lines_change_no_verdict(&db, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_cosignature_lines_change_no_verdict_collector_without_witness_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("archive.db").display().to_string();
    forged_cosignature_lines_change_no_verdict(&db, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_cosignature_lines_change_no_verdict_postgres() {
    let db = TestDb::create("collect forged cosig").await;
    forged_cosignature_lines_change_no_verdict(&db.url, true).await;
}
