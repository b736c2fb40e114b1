//! A SIGKILL storm: `edgeproof run` (a real child process, with usage evidence on) killed at
//! a random moment 30 times in a row (100 in the long run) — during start-up, mid-poll,
//! mid-commit, mid-publish — and restarted each time on the same data directory. The
//! journal opens every time, never goes back, nothing it committed is lost, and the
//! exported evidence log still verifies.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::agent::{journal_contents, mqtt_plain, write_config, Agent};
use crate::support::faults::{assert_nothing_lost, pick, rng};
use crate::support::mosquitto::Mosquitto;
use crate::support::plant::{Plant, Points};
use crate::support::subscriber::Subscriber;
use crate::support::{bin, describe, free_port, run, wait_for};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_storm_of_thirty_kills_keeps_the_journal_and_a_verifiable_evidence_log() {
    let mut rng = rng("faults_sigkill");
    let kills = pick(30, 100);
    let plant = Plant::start(&[
        ("press-01", Points::U16(40), "100ms"),
        ("meter-01", Points::U16(20), "100ms"),
    ])
    .await;
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let sub = Subscriber::start(port, "edgeproof/gw-test/#").await;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("data").join("keys");
    let out = run(Command::new(bin()).arg("keygen").arg("--dir").arg(&keys));
    assert!(out.status.success(), "{}", describe(&out));
    let config = write_config(
        dir.path(),
        &format!(
            "{}\n[journal]\nflush_interval = \"100ms\"\n\n[evidence]\ninterval = \"1s\"\n\
             checkpoint_interval = \"2s\"\n\n{}",
            mqtt_plain(port),
            plant.toml()
        ),
    );

    let started = Instant::now();
    let mut agent = Agent::start(&config);
    let mut committed = Vec::new();
    for kill in 1..=kills {
        // A random moment in the first 1.5 s of this start: from before the journal is open
        // to well into polling and publishing.
        tokio::time::sleep(Duration::from_millis(rng.u64(0..1500))).await;
        assert!(agent.is_running(), "kill {kill}: the agent exited by itself\n{}", agent.log());
        agent.kill();
        let (journal, _) = journal_contents(&config);
        assert!(journal.moved_aside.is_none(), "kill {kill}: the journal opened cleanly");
        committed.push(journal.next_seq - 1);
        agent.restart();
    }
    let storm = started.elapsed();
    assert!(committed.windows(2).all(|w| w[0] <= w[1]), "never goes back: {committed:?}");
    let last = *committed.last().unwrap();
    assert!(last > 0, "the storm let some batches commit: {committed:?}");

    // After the storm: everything committed arrives, then new data; a clean stop.
    wait_for(&format!("every seq up to {last}, then live data"), WAIT, || {
        let seqs = sub.seqs();
        seqs.range(1..=last).count() as u64 == last && seqs.last().is_some_and(|s| *s > last)
    })
    .await;
    assert!(agent.started(), "the last start came up\n{}", agent.log());
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    let ledger = assert_nothing_lost(&plant, &sub.data(), &config);

    // The evidence log of 31 boots, 30 of them ended by SIGKILL, still verifies.
    let bundle = dir.path().join("bundle.jsonl");
    let out = run(Command::new(bin()).args(["export", "-c"]).arg(&config).arg("-o").arg(&bundle));
    assert!(out.status.success(), "{}", describe(&out));
    let out = run(Command::new(bin())
        .arg("verify")
        .arg(&bundle)
        .arg("--public-key")
        .arg(keys.join("evidence.pub"))
        .args(["--gateway", "gw-test", "--uscc", "91440300MA5DEM0A0G", "--project", "P-TEST"]));
    assert_eq!(out.status.code(), Some(0), "the bundle verifies: {}", describe(&out));
    let text = std::fs::read_to_string(&bundle).unwrap();
    let boots = text.lines().filter(|l| l.contains("\"typ\":\"boot\"")).count();
    eprintln!(
        "faults_sigkill: {kills} kills in {storm:?}; {boots} boot records; {} seqs delivered, \
         {} duplicates; committed before each kill: {committed:?}",
        ledger.report.distinct, ledger.report.duplicates
    );
}
