//! Crashes: `edgeproof run` killed with SIGKILL three times mid-stream and restarted on the
//! same data directory. Every batch that had committed before a kill reaches the broker;
//! seqs continue without reuse and without gaps (re-sends allowed).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::agent::{journal_contents, mqtt_plain, write_config, Agent};
use crate::support::mosquitto::Mosquitto;
use crate::support::plant::{Plant, Points};
use crate::support::subscriber::{check_seqs, Subscriber};
use crate::support::{free_port, wait_for};

const WAIT: Duration = Duration::from_secs(60);
const KILLS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_three_times_loses_no_committed_batch_and_leaves_no_seq_gap() {
    let plant = Plant::start(&[
        ("press-01", Points::U16(40), "100ms"),
        ("press-02", Points::U16(40), "100ms"),
        ("meter-01", Points::U16(20), "100ms"),
    ])
    .await;
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let sub = Subscriber::start(port, "edgeproof/gw-test/#").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!("{}\n[journal]\nflush_interval = \"100ms\"\n\n{}", mqtt_plain(port), plant.toml()),
    );
    let mut agent = Agent::start(&config);

    // Committed before each kill: the journal's last seq, read from the file the killed
    // process left behind (as the next start reads it).
    let mut committed_before_kill = Vec::new();
    for kill in 1..=KILLS {
        let seen = sub.seqs().last().copied().unwrap_or(0);
        wait_for(&format!("data flowing before kill {kill}"), WAIT, || {
            sub.seqs().last().copied().unwrap_or(0) >= seen + 30
        })
        .await;
        agent.kill();
        let (journal, _) = journal_contents(&config);
        assert!(journal.moved_aside.is_none(), "kill {kill}: the journal survived a SIGKILL");
        committed_before_kill.push(journal.next_seq - 1);
        agent.restart();
    }

    // After the last restart: everything committed before every kill arrives.
    let committed = *committed_before_kill.last().unwrap();
    wait_for(
        &format!("every seq up to {committed}, then new data, at the subscriber"),
        WAIT,
        || {
            let seqs = sub.seqs();
            seqs.range(1..=committed).count() as u64 == committed
                && seqs.last().is_some_and(|s| *s > committed)
        },
    )
    .await;
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");

    let data = sub.data();
    let report = check_seqs(&data).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.first, 1);
    for m in &data {
        plant.check_message(m).unwrap();
    }
    assert!(
        committed_before_kill.windows(2).all(|w| w[0] < w[1]),
        "each run committed more: {committed_before_kill:?}"
    );
    // Seqs are never reused across crashes: everything the journal ever numbered is at the
    // subscriber, or still in the journal after the clean stop.
    let (journal, left) = journal_contents(&config);
    let mut all: BTreeSet<u64> = sub.seqs();
    all.extend(left.iter().map(|e| e.seq));
    assert_eq!(all, (1..journal.next_seq).collect(), "every seq delivered or kept");
    let statuses = sub.statuses();
    assert!(
        statuses.iter().filter(|s| *s == "offline").count() >= KILLS,
        "the Last Will announced each crash: {statuses:?}"
    );
}
