//! `report --db`: a gateway's log that went through MQTT into the collector's archive gives
//! the same reviewer report as the bundle exported from the gateway — records, checkpoints
//! and witness cosignatures (which the agent appends to a checkpoint it republishes).

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use edgeproof::evidence::bundle::{BundleReader, Limits, Line};
use edgeproof::evidence::canonical;
use edgeproof::evidence::note::SignedNote;
use edgeproof_review::archive::Archive;

use crate::support::collector::{add_gateway, Collector};
use crate::support::fake_gateway::{key_files, standard, FakeWitness};
use crate::support::fleet::{publish_all, Message};
use crate::support::mosquitto::Mosquitto;
use crate::support::{bin, describe, free_port, run};

const WAIT: Duration = Duration::from_secs(60);

/// The MQTT messages an agent would have published for `bundle`.
fn as_published(bundle: &[u8]) -> (Vec<Message>, usize, usize) {
    let (mut out, mut records, mut cosigned) = (Vec::new(), 0, 0);
    let mut gateway_notes: HashMap<String, String> = HashMap::new();
    for line in BundleReader::new(bundle, Limits::default()) {
        let (_, line) = line.unwrap();
        let (topic, payload) = match line {
            Line::Header(_) => continue,
            Line::Record(v) => {
                records += 1;
                ("evidence", canonical::encode(&v).unwrap())
            }
            Line::Checkpoint(note) => {
                gateway_notes.insert(SignedNote::parse(&note).unwrap().text, note.clone());
                ("checkpoint", note.into_bytes())
            }
            Line::Cosignature(note) => {
                // Republished with the witness's line appended to the gateway's note.
                cosigned += 1;
                let w = SignedNote::parse(&note).unwrap();
                let mut merged = SignedNote::parse(&gateway_notes[&w.text]).unwrap();
                merged.signatures.extend(w.signatures);
                ("checkpoint", merged.to_text().into_bytes())
            }
        };
        out.push(Message { topic: format!("edgeproof/gw-r/{topic}"), payload });
    }
    (out, records, cosigned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_from_the_archive_equals_report_from_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let witness = FakeWitness::new("witness.example/w1", 42);
    let g = standard("gw-r", 7, &witness);
    let bundle = dir.path().join("bundle.jsonl");
    std::fs::write(&bundle, g.bundle()).unwrap();
    let (public, wkey) = key_files(dir.path(), &g, &witness);
    let db = dir.path().join("archive.db").display().to_string();
    add_gateway(&db, "gw-r", &public, &["--city", "Foshan"]);

    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    // The collector keeps cosignatures that verify under a witness it trusts.
    let wkey_arg = wkey.display().to_string();
    let mut collector =
        Collector::start_with(dir.path(), port, &db, "collect-r", &["--witness-key", &wkey_arg])
            .await;
    let (messages, records, cosigned) = as_published(&g.bundle());
    publish_all(port, messages).await;
    let archive = Archive::open(&db).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let stored = archive.gateway_rows(0).await.unwrap()[0].records;
        let notes = archive.checkpoints("edgeproof/gw-r").await.unwrap();
        let with_cosig = notes
            .iter()
            .filter(|(_, n)| SignedNote::parse(n).unwrap().signatures.len() > 1)
            .count();
        if stored == records as u64 && with_cosig == cosigned {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{stored} records\n{}", collector.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(collector.terminate(WAIT).await.success());
    assert!(archive.anomalies(None).await.unwrap().is_empty());

    // One moment for both: the period runs to --at (default now).
    let at = edgeproof::model::now_ms().to_string();
    let report = |args: &[&str], name: &str| {
        let html = dir.path().join(format!("{name}.html"));
        let json = dir.path().join(format!("{name}.json"));
        let out = run(Command::new(bin())
            .arg("report")
            .args(args)
            .arg("--witness-key")
            .arg(&wkey)
            .arg("--html")
            .arg(&html)
            .arg("--json")
            .arg(&json)
            .args(["--at", &at]));
        assert!(out.status.success(), "report {args:?}: {}", describe(&out));
        (std::fs::read_to_string(html).unwrap(), std::fs::read_to_string(json).unwrap())
    };
    let from_bundle =
        report(&[bundle.to_str().unwrap(), "--public-key", public.to_str().unwrap()], "bundle");
    // The key defaults to the registered one.
    let from_archive = report(&["--db", &db, "--gateway", "gw-r"], "archive");
    let v: serde_json::Value = serde_json::from_str(&from_bundle.1).unwrap();
    assert_eq!(v["verdict"]["intact"], true);
    assert_eq!(v["verdict"]["witnessed"], true, "the cosignatures count in both");
    assert_eq!(from_archive.1, from_bundle.1, "JSON reports differ");
    assert_eq!(from_archive.0, from_bundle.0, "HTML reports differ");
}
