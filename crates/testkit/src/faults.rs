//! What the fault scenarios (`tests/faults_*.rs`) share: the short/long switch, a seeded
//! random source that prints its seed, and the *nothing lost* check each scenario ends with.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use super::agent::journal_contents;
use super::plant::Plant;
use super::subscriber::{check_seqs, seq, SeqReport};

/// `EDGEPROOF_FAULTS_LONG=1` runs each scenario's long version (RELIABILITY.md's figures);
/// otherwise the short one CI runs.
pub fn long() -> bool {
    std::env::var("EDGEPROOF_FAULTS_LONG").is_ok_and(|v| v == "1")
}

/// `short` in CI, `long` with `EDGEPROOF_FAULTS_LONG=1`.
pub fn pick<T>(short: T, long_: T) -> T {
    if long() {
        long_
    } else {
        short
    }
}

/// A random source for fault schedules. Its seed is printed (shown when the test fails) and
/// can be fixed with `EDGEPROOF_FAULTS_SEED` to replay a failing schedule.
pub fn rng(scenario: &str) -> fastrand::Rng {
    let seed = std::env::var("EDGEPROOF_FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("{scenario}: EDGEPROOF_FAULTS_SEED={seed}");
    fastrand::Rng::with_seed(seed)
}

/// The end state of a run: what the subscriber got and what the journal kept.
#[derive(Debug)]
pub struct Ledger {
    /// The subscriber's view of the seqs.
    pub report: SeqReport,
    /// Device → seqs delivered or still in the journal.
    pub per_device: BTreeMap<String, BTreeSet<u64>>,
    /// Entries still in the journal after the stop.
    pub left: usize,
    /// The journal's next seq: every seq below it was numbered once.
    pub next_seq: u64,
}

/// Asserts *nothing lost* for a stopped agent: the data messages (arrival order) form one
/// gap-free run of seqs from 1 in increasing order (re-sends allowed), every message of a
/// plant device carries exactly the plant's values (other devices are the scenario's to
/// check), and every seq the journal ever numbered was delivered or is still in the journal.
pub fn assert_nothing_lost(plant: &Plant, data: &[Value], config: &Path) -> Ledger {
    let report = check_seqs(data).unwrap_or_else(|e| panic!("{e}"));
    assert!(data.is_empty() || report.first == 1, "delivery starts at seq 1: {report:?}");
    for m in data.iter().filter(|m| plant.devices.iter().any(|d| m["device"] == d.name.as_str())) {
        plant.check_message(m).unwrap_or_else(|e| panic!("wrong values: {e}"));
    }
    let (journal, left) = journal_contents(config);
    assert!(journal.moved_aside.is_none(), "the journal was never found damaged");
    let mut per_device: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for m in data {
        per_device.entry(m["device"].as_str().unwrap().to_string()).or_default().insert(seq(m));
    }
    for e in &left {
        per_device.entry(e.batch.device.to_string()).or_default().insert(e.seq);
    }
    let all: BTreeSet<u64> = per_device.values().flatten().copied().collect();
    let want: BTreeSet<u64> = (1..journal.next_seq).collect();
    if all != want {
        let missing: Vec<u64> = want.difference(&all).take(20).copied().collect();
        panic!(
            "{} of {} journal seqs neither delivered nor kept, first: {missing:?}",
            want.difference(&all).count(),
            want.len()
        );
    }
    Ledger { report, per_device, left: left.len(), next_seq: journal.next_seq }
}

/// Asserts that each poll cycle a simulator served became exactly one seq: no reading
/// was lost between the device and the journal either. Holds when the agent was never
/// killed (a SIGKILL loses the cycles still queued in memory, by design).
pub fn assert_every_poll_kept(plant: &Plant, ledger: &Ledger) {
    for (device, reads) in plant.reads() {
        let got = ledger.per_device.get(&device).map_or(0, BTreeSet::len) as u64;
        assert_eq!(got, reads, "{device}: one message per poll cycle served");
    }
}

/// Scrapes the agent's `/metrics` at `addr` until `cond` holds (returns that scrape) or
/// `timeout` passes.
pub async fn wait_metrics(
    addr: std::net::SocketAddr,
    what: &str,
    timeout: std::time::Duration,
    mut cond: impl FnMut(&super::metrics::Scrape) -> bool,
) -> super::metrics::Scrape {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let s = super::metrics::scrape(addr).await;
        if cond(&s) {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
