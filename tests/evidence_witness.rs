//! Witnessing end to end with real parts: `edgeproof run` (simulated Modbus devices, a real
//! mosquitto, 1 s usage intervals, 2 s checkpoints) submitting to a real `edgeproof witness
//! serve` that is down when the agent starts and comes up later. The agent catches up
//! without a restart; cosignatures verify, are logged as `anchor` records, ride on the
//! retained checkpoint, and survive a restart (the next start continues from the anchored
//! size). The exported bundle passes `verify --witness-key`; a bundle cut below a witnessed
//! size and a history re-signed with the gateway's own key, backdated, both fail the witness
//! check. With its journal moved aside, the gateway starts a new, shorter log under the same
//! key, and reports loudly that the witness has seen another history (a larger tree, then
//! a consistency proof it refuses). Over HTTPS, a witness is trusted only through its
//! configured CA, and `/metrics` counts submissions per witness and result.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use edgeproof::evidence::keys::GatewayKey;
use serde_json::Value;

use crate::support::agent::{journal_path, metrics_on, mqtt_plain, write_config, Agent};
use crate::support::metrics::scrape_until;
use crate::support::mosquitto::Mosquitto;
use crate::support::pki::Pki;
use crate::support::plant::{Plant, Points};
use crate::support::subscriber::{Msg, Subscriber};
use crate::support::witness::{key_file, must_add_log, WitnessProcess};
use crate::support::{bin, describe, free_port, run, tamper, wait_for};

const WAIT: Duration = Duration::from_secs(60);
const PREFIX: &str = "edgeproof/gw-test";
const ORIGIN: &str = "edgeproof/gw-test";
const WITNESS: &str = "witness.test/w1";
const WITNESS_SEED: u8 = 41;

/// `(seq, size)` of every `anchor` record published, in seq order.
fn anchors(msgs: &[Msg]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = msgs
        .iter()
        .filter(|m| m.topic == format!("{PREFIX}/evidence"))
        .map(|m| m.json())
        .filter(|v| v["typ"] == "anchor")
        .map(|v| (v["seq"].as_u64().unwrap(), v["body"]["size"].as_u64().unwrap()))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether a checkpoint carrying the witness's cosignature line was published.
fn cosigned_checkpoint_published(msgs: &[Msg]) -> bool {
    msgs.iter().any(|m| {
        m.topic == format!("{PREFIX}/checkpoint")
            && String::from_utf8_lossy(&m.payload).contains(&format!("\n\u{2014} {WITNESS} "))
    })
}

/// `edgeproof verify --json` with the gateway key and the witness vkey file.
fn verify(dir: &Path, bundle: &[u8], public_key: &Path, vkey: &Path) -> (i32, Value, String) {
    let path = dir.join("candidate.jsonl");
    std::fs::write(&path, bundle).unwrap();
    let out = run(Command::new(bin())
        .arg("verify")
        .arg(&path)
        .arg("--public-key")
        .arg(public_key)
        .arg("--witness-key")
        .arg(vkey)
        .arg("--json"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), v, describe(&out))
}

fn check_status<'a>(v: &'a Value, check: &str) -> &'a str {
    v["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["check"] == check))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("absent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_catches_up_with_a_late_witness_and_its_cosignatures_verify() {
    let plant = Plant::start(&[("press-01", Points::U16(4), "200ms")]).await;
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let sub = Subscriber::start(port, &format!("{PREFIX}/#")).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("data").join("keys");
    let out = run(Command::new(bin()).arg("keygen").arg("--dir").arg(&keys));
    assert!(out.status.success(), "{}", describe(&out));
    let gateway_key = GatewayKey::load(&keys.join("evidence.key")).unwrap();
    let public_key = keys.join("evidence.pub");

    // The witness knows the log but is not running yet; the gateway is told where it will be.
    let db = dir.path().join("witness.sqlite3").display().to_string();
    must_add_log(dir.path(), &db, ORIGIN, &gateway_key);
    let (_, witness_key) = key_file(dir.path(), WITNESS_SEED);
    let vkey = edgeproof::evidence::cosignature::WitnessKey {
        name: WITNESS.into(),
        key: witness_key.public(),
    }
    .vkey();
    let vkey_file = dir.path().join("witness.vkey");
    std::fs::write(&vkey_file, format!("{vkey}\n")).unwrap();
    let witness_port = free_port();
    let config = write_config(
        dir.path(),
        &format!(
            "{}\n[journal]\nflush_interval = \"100ms\"\n\n[evidence]\ninterval = \"1s\"\n\
             checkpoint_interval = \"2s\"\nwitnesses = [{{ url = \"http://127.0.0.1:{witness_port}\", \
             public_key = \"{vkey}\" }}]\n\n{}",
            mqtt_plain(port),
            plant.toml()
        ),
    );

    let mut agent = Agent::start(&config);
    wait_for("two failed submissions to the absent witness", WAIT, || {
        agent.log().matches("witness submission failed").count() >= 2
    })
    .await;
    assert!(anchors(&sub.all()).is_empty(), "nothing cosigned while the witness is down");

    // The witness comes up: the running agent catches up.
    let witness =
        WitnessProcess::start_on(dir.path(), &db, WITNESS, WITNESS_SEED, witness_port, &[]).await;
    wait_for("three anchors: first contact and two proofs from a cosigned size", WAIT, || {
        anchors(&sub.all()).len() >= 3
    })
    .await;
    assert!(cosigned_checkpoint_published(&sub.all()), "retained checkpoint with the cosignature");
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    let first_run = anchors(&sub.all());
    let sizes: Vec<u64> = first_run.iter().map(|(_, s)| *s).collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "cosigned sizes only grow: {sizes:?}");

    // A restart continues from the size the anchors say, without a 409 detour.
    agent.restart();
    wait_for("an anchor of the restarted agent", WAIT, || {
        anchors(&sub.all()).len() > first_run.len()
    })
    .await;
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    let log = agent.log();
    assert!(!log.contains("resending from it"), "no size was re-learned from a 409:\n{log}");
    assert!(!log.contains("WITNESS"), "no conflict with the witness:\n{log}");
    let witness_log = witness.stderr();

    // Export and verify with the witness key.
    let bundle_path = dir.path().join("bundle.jsonl");
    let out =
        run(Command::new(bin()).args(["export", "-c"]).arg(&config).arg("-o").arg(&bundle_path));
    assert!(out.status.success(), "{}", describe(&out));
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    let bundle = std::fs::read(&bundle_path).unwrap();
    let cosignature_lines =
        bundle.split(|b| *b == b'\n').filter(|l| l.starts_with(b"{\"cosignature\":")).count();
    assert!(cosignature_lines > first_run.len(), "both runs' cosignatures: {summary}");
    assert!(summary.contains(&format!("{cosignature_lines} cosigned checkpoints")), "{summary}");
    assert_eq!(
        tamper::seqs_of_type(&bundle, "anchor").len(),
        anchors(&sub.all()).len(),
        "every anchor published is in the bundle"
    );
    let (code, v, out) = verify(dir.path(), &bundle, &public_key, &vkey_file);
    assert_eq!(code, 0, "the exported bundle verifies with the witness key:\n{out}\n{witness_log}");
    assert_eq!(check_status(&v, "witness"), "pass", "{v:#}");
    let largest = anchors(&sub.all()).iter().map(|(_, s)| *s).max().unwrap();
    assert_eq!(v["witnessed_size"].as_u64(), Some(largest), "{v:#}");

    // Cut below a witnessed size: the witness check fails (and the checkpoints check).
    let cut = tamper::truncate_from(&bundle, largest - 2);
    let (code, v, out) = verify(dir.path(), &cut, &public_key, &vkey_file);
    assert_eq!(code, 1, "{out}");
    assert_eq!(check_status(&v, "witness"), "fail", "truncation cites the witness: {v:#}");

    // The whole history re-signed with the gateway key, backdated by an hour: the gateway's
    // own checkpoints agree with the forgery, the witness's cosignatures do not.
    let usage = tamper::seqs_of_type(&bundle, "usage");
    let forged = tamper::resign_backdated(&bundle, &gateway_key, usage[1], 3_600_000);
    let (code, v, out) = verify(dir.path(), &forged, &public_key, &vkey_file);
    assert_eq!(code, 1, "{out}");
    assert_eq!(check_status(&v, "checkpoints"), "pass", "the forger re-signed checkpoints: {v:#}");
    assert_eq!(
        check_status(&v, "witness"),
        "fail",
        "the re-signed history cites the witness: {v:#}"
    );

    // The journal moved aside (as after damage): the next start enrolls a new log under the
    // same key, smaller than what the witness cosigned. The witness says so (409 with its
    // larger size) and the agent reports another history, loudly, and keeps running.
    let journal = journal_path(&config);
    for suffix in ["", "-wal", "-shm"] {
        let mut from = journal.clone().into_os_string();
        from.push(suffix);
        let mut to = from.clone();
        to.push(".aside");
        let _ = std::fs::rename(&from, &to);
    }
    agent.restart();
    wait_for("the agent reports that the witness saw another history", WAIT, || {
        agent.log().contains("WITNESS HAS SEEN A LARGER TREE")
    })
    .await;
    // Once the new log outgrows the witness's tree, the proof from its size cannot hold.
    wait_for("the agent reports the refused consistency proof", WAIT, || {
        agent.log().contains("WITNESS CANNOT CONNECT ITS TREE")
    })
    .await;
    assert!(agent.is_running(), "a conflicting witness never stops the agent");
    let cosigned_from_zero = witness.stderr().matches("(old 0)").count();
    assert_eq!(cosigned_from_zero, 1, "the new log is not cosigned:\n{}", witness.stderr());
}

/// Two witnesses over HTTPS: one whose certificate chains to the configured `ca_file`, one
/// configured with a CA that did not sign it. The first cosigns; the second fails every
/// submission (the TLS check holds) without holding up the first; `/metrics` counts both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_witnesses_are_checked_against_their_ca_and_counted_per_witness() {
    let plant = Plant::start(&[("press-01", Points::U16(2), "200ms")]).await;
    let pki = Pki::generate();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("data").join("keys");
    let out = run(Command::new(bin()).arg("keygen").arg("--dir").arg(&keys));
    assert!(out.status.success(), "{}", describe(&out));
    let gateway_key = GatewayKey::load(&keys.join("evidence.key")).unwrap();
    let db = dir.path().join("witness.sqlite3").display().to_string();
    must_add_log(dir.path(), &db, ORIGIN, &gateway_key);
    let tls = [
        "--tls-cert",
        pki.server_cert.to_str().unwrap(),
        "--tls-key",
        pki.server_key.to_str().unwrap(),
    ];
    let witness = WitnessProcess::start(dir.path(), &db, WITNESS, WITNESS_SEED, &tls).await;
    let good = format!("https://127.0.0.1:{}", witness.addr.port());
    // Same server, other key name, a CA that did not sign its certificate.
    let bad = format!("https://localhost:{}/", witness.addr.port());
    let bad_key = GatewayKey::from_seed([9; 32]).public().vkey("witness.test/w2", 0x04);
    let metrics: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "{}\n[evidence]\ninterval = \"1s\"\ncheckpoint_interval = \"2s\"\nwitnesses = [\n\
             {{ url = \"{good}\", public_key = \"{}\", ca_file = {:?} }},\n\
             {{ url = \"{bad}\", public_key = \"{bad_key}\", ca_file = {:?} }},\n]\n\n{}",
            metrics_on(metrics),
            witness.trusted().vkey(),
            pki.ca.display().to_string(),
            pki.other_ca.display().to_string(),
            plant.toml()
        ),
    );
    let mut agent = Agent::start(&config);
    let ok = format!("witness=\"{good}\"");
    let failed = format!("witness=\"{bad}\"");
    let scrape = scrape_until(metrics, "cosigned twice and refused by TLS twice", WAIT, |s| {
        let n = |w: &str, r: &str| {
            s.sum("edgeproof_evidence_witness_submissions_total", &[w, &format!("result=\"{r}\"")])
        };
        n(&ok, "ok") >= 2.0 && n(&failed, "failed") >= 2.0
    })
    .await;
    let n = |w: &str, r: &str| {
        scrape.sum("edgeproof_evidence_witness_submissions_total", &[w, &format!("result=\"{r}\"")])
    };
    assert_eq!(n(&failed, "ok") + n(&ok, "failed"), 0.0, "{}", scrape.text);
    assert!(
        scrape.sum("edgeproof_evidence_witness_cosigned_size", &[&ok]) >= 2.0,
        "{}",
        scrape.text
    );
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    assert!(agent.log().contains("certificate"), "the TLS failure is named:\n{}", agent.log());
    let stored = std::fs::read_to_string(dir.path().join("data").join("cosignatures.jsonl"))
        .expect("cosignatures.jsonl written");
    assert!(stored.lines().count() >= 2 && stored.contains(WITNESS), "{stored}");
    assert!(!stored.contains("witness.test/w2"), "{stored}");
}
