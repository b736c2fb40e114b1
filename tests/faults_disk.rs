//! Disk full, for real: the agent's data directory is a small tmpfs, the broker is down, and
//! a ballast file takes the file system's free space while the backlog grows. The agent
//! keeps polling, holds the journal below what the disk allows, drops the oldest telemetry
//! and counts it, never drops evidence, and grows again once the ballast is gone; after
//! the broker comes back every kept entry arrives and the evidence log verifies.
//!
//! Mounting needs root (CI and scripts/test run the suite as root); without it the test
//! fails and says so rather than being skipped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::agent::{
    journal_contents, journal_stats, metrics_on, mqtt_plain, write_config, Agent,
};
use std::sync::Arc;

use edgeproof::journal::{Journal, JournalOptions};
use edgeproof::model::{now_ms, Batch, Sample, Value};

use crate::support::faults::{pick, wait_metrics};
use crate::support::metrics::scrape;
use crate::support::mosquitto::Mosquitto;
use crate::support::plant::{Plant, Points};
use crate::support::subscriber::{check_seqs, Subscriber};
use crate::support::{bin, describe, free_port, run, tamper, wait_for};

const WAIT: Duration = Duration::from_secs(90);
const MIB: u64 = 1024 * 1024;

/// A tmpfs mounted on a directory; unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size_mib: u64) -> Tmpfs {
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(str::to_owned))
            .unwrap_or_default();
        assert!(
            uid.split_whitespace().nth(1) == Some("0"),
            "faults_disk mounts a tmpfs for the journal and must run as root (CI and \
             scripts/test do): {uid}"
        );
        std::fs::create_dir_all(dir).unwrap();
        let out = run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(dir));
        assert!(out.status.success(), "mount tmpfs on {}: {}", dir.display(), describe(&out));
        Tmpfs { dir: dir.to_path_buf() }
    }

    /// Bytes free on it.
    fn available(&self) -> u64 {
        let out = run(Command::new("df").args(["--output=avail", "-B1"]).arg(&self.dir));
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().nth(1).and_then(|l| l.trim().parse().ok()).expect("df output")
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Writes `bytes` of zeros to `path` (tmpfs allocates them: no holes).
fn ballast(path: &Path, bytes: u64) {
    let block = vec![0u8; MIB as usize];
    let mut f = std::fs::File::create(path).unwrap();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(MIB) as usize;
        std::io::Write::write_all(&mut f, &block[..n]).unwrap();
        left -= n as u64;
    }
    f.sync_all().unwrap();
}

/// Appends to `path` until the file system refuses (ENOSPC).
fn fill_up(path: &Path) {
    let block = vec![0u8; 64 * 1024];
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    while std::io::Write::write_all(&mut f, &block).is_ok() {}
    let _ = f.sync_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_drops_the_oldest_telemetry_keeps_evidence_and_recovers() {
    // Big text batches (~6 KB each, ~300 KB/s): the journal grows fast enough to fill
    // what the ballast leaves in seconds.
    let plant = Plant::start(&[
        ("line-01", Points::Text { n: 50, regs: 60 }, "100ms"),
        ("line-02", Points::Text { n: 50, regs: 60 }, "100ms"),
        ("line-03", Points::Text { n: 50, regs: 60 }, "100ms"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&dir.path().join("data"), pick(40, 200));
    let out = run(Command::new(bin()).arg("keygen").arg("--dir").arg(dir.path().join("data/keys")));
    assert!(out.status.success(), "{}", describe(&out));
    let port = free_port(); // the broker starts only at the end
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "{}\n{}\n[journal]\nmax_bytes = \"1GiB\"\n\n[evidence]\ninterval = \"1s\"\n\
             checkpoint_interval = \"2s\"\n\n{}",
            mqtt_plain(port),
            metrics_on(metrics),
            plant.toml()
        ),
    );
    let mut agent = Agent::start(&config);
    const BYTES: &str = "edgeproof_journal_bytes";
    const DROPPED: &str = "edgeproof_journal_dropped_entries_total";
    wait_metrics(metrics, "a backlog of 1 MiB", WAIT, |s| s.value(BYTES) >= MIB as f64).await;

    // The ballast leaves 10 MiB: 6 for the journal's reserve (WAL, one transaction), a
    // little for the journal to grow into before the disk's bound holds it.
    let ballast_path = dir.path().join("data/ballast");
    ballast(&ballast_path, fs.available().saturating_sub(10 * MIB));
    let full_from = now_ms();
    let s = wait_metrics(metrics, "the first drop", WAIT, |s| s.value(DROPPED) > 0.0).await;
    let dropped_at_start = s.value(DROPPED);
    let polls_then = plant.reads().values().sum::<u64>();
    // Full for a while: polling goes on, telemetry is dropped oldest first, again and again.
    let more = pick(150.0, 3000.0);
    let mut least_free = u64::MAX;
    wait_metrics(metrics, "drops going on while nearly full", WAIT * 2, |s| {
        least_free = least_free.min(fs.available());
        s.value(DROPPED) >= dropped_at_start + more
    })
    .await;
    assert!(agent.is_running(), "the agent kept running on a full disk\n{}", agent.log());
    assert!(plant.reads().values().sum::<u64>() > polls_then, "polling went on");
    let s = scrape(metrics).await;
    let held_at = s.value(BYTES);

    // Then to the last byte (ENOSPC for every writer): SQLite's writes fail with
    // SQLITE_FULL; the journal evicts, reuses the freed pages and goes on.
    fill_up(&ballast_path);
    assert_eq!(fs.available(), 0, "the file system is full");
    let dropped_then = s.value(DROPPED);
    let s = wait_metrics(metrics, "drops going on while full to the last byte", WAIT * 2, |s| {
        s.value(DROPPED) >= dropped_then + more
    })
    .await;
    assert!(agent.is_running(), "the agent kept running on a full disk\n{}", agent.log());
    let commit_errors = s.value("edgeproof_journal_commit_errors_total");
    let kept_when_full = s.value("edgeproof_journal_entries");
    let sqlite_full = s.value("edgeproof_journal_disk_full_total");
    let full_to = now_ms();

    // Space returns: the journal grows past where the disk held it, dropping nothing more.
    std::fs::remove_file(&ballast_path).unwrap();
    let s = wait_metrics(metrics, "the journal growing again", WAIT, |s| {
        s.value(BYTES) > held_at + MIB as f64
    })
    .await;
    let dropped_after = s.value(DROPPED);
    let s = wait_metrics(metrics, "the journal growing on", WAIT, |s| {
        s.value(BYTES) > held_at + 3.0 * MIB as f64
    })
    .await;
    assert_eq!(s.value(DROPPED), dropped_after, "nothing dropped once space returned");

    // The broker comes back: every entry kept arrives, in order, with its values.
    let _broker = Mosquitto::plain(port).await;
    let sub = Subscriber::start(port, "edgeproof/gw-test/#").await;
    let committed = scrape(metrics).await.value("edgeproof_journal_committed_seq") as u64;
    wait_for("the backlog delivered", WAIT * 2, || {
        sub.seqs().last().is_some_and(|s| *s >= committed)
    })
    .await;
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    let log = agent.log();
    assert_eq!(log.matches("file system holding the journal is nearly full").count(), 1, "{log}");
    assert!(log.contains("journal's file system has space again"), "{log}");

    let data = sub.data();
    let report = check_seqs(&data).unwrap_or_else(|e| panic!("{e}"));
    for msg in &data {
        plant.check_message(msg).unwrap();
    }
    let stats = journal_stats(&config);
    assert_eq!(
        report.first,
        stats.dropped_entries_total + 1,
        "the dropped entries are exactly the oldest ones: {report:?} {stats:?}"
    );
    assert_eq!(stats.next_seq - 1, report.last + stats.entries, "the rest delivered or kept");
    // 50 points of 60 registers: two per read (125 registers at most), 25 reads a cycle.
    let cycles = plant.reads().values().sum::<u64>() / 25;
    assert_eq!(stats.next_seq - 1, cycles, "every poll cycle journalled (dropped or kept)");

    // No evidence lost: the exported log is complete and verifies.
    let bundle = dir.path().join("bundle.jsonl");
    let out = run(Command::new(bin()).args(["export", "-c"]).arg(&config).arg("-o").arg(&bundle));
    assert!(out.status.success(), "{}", describe(&out));
    let out = run(Command::new(bin())
        .arg("verify")
        .arg(&bundle)
        .arg("--public-key")
        .arg(dir.path().join("data/keys/evidence.pub"))
        .args(["--gateway", "gw-test", "--uscc", "91440300MA5DEM0A0G", "--project", "P-TEST"]));
    assert_eq!(out.status.code(), Some(0), "the bundle verifies: {}", describe(&out));
    let items = tamper::parse(&std::fs::read(&bundle).unwrap());
    let while_full = items
        .iter()
        .filter_map(|i| match i {
            tamper::Item::Record(v) if v["typ"] == "usage" => Some(v),
            _ => None,
        })
        .filter(|v| v["t"]["wall_ms"].as_u64().is_some_and(|t| (full_from..full_to).contains(&t)))
        .count();
    assert!(while_full >= 2, "usage evidence went on while the disk was full: {while_full}");
    eprintln!(
        "faults_disk: held at {:.1} MiB with {:.1} MiB free at least; dropped {} entries ({} \
         samples) of {}; commit errors while full {commit_errors}, SQLITE_FULL met {sqlite_full}; {kept_when_full} entries kept at ENOSPC; {} evidence records kept, \
         {while_full} usage records while full",
        held_at / MIB as f64,
        least_free as f64 / MIB as f64,
        stats.dropped_entries_total,
        stats.dropped_samples_total,
        stats.next_seq - 1,
        stats.evidence_records
    );
}

/// Regression (issue 16), the agent on a small data partition with the broker down: the
/// journal fills the disk by itself, then another writer takes the last byte (a second
/// fill), then the agent is stopped and started again on the full disk. Before, the newest
/// readings were refused by the million, an evidence record was lost ("it is lost"), and
/// every restart on the full disk exited 2. Now: no batch refused, every poll cycle
/// journalled, exactly the oldest dropped and counted, every evidence record kept, and the
/// restart runs.
async fn an_agent_on_a_small_full_disk_refuses_nothing_new_and_loses_no_evidence(size_mib: u64) {
    let plant = Plant::start(&[
        ("line-01", Points::Text { n: 50, regs: 60 }, "100ms"),
        ("line-02", Points::Text { n: 50, regs: 60 }, "100ms"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&dir.path().join("data"), size_mib);
    let out = run(Command::new(bin()).arg("keygen").arg("--dir").arg(dir.path().join("data/keys")));
    assert!(out.status.success(), "{}", describe(&out));
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "{}\n{}\n[evidence]\ninterval = \"1s\"\ncheckpoint_interval = \"2s\"\n\n{}",
            mqtt_plain(free_port()),
            metrics_on(metrics),
            plant.toml()
        ),
    );
    let mut agent = Agent::start(&config);
    const DROPPED: &str = "edgeproof_journal_dropped_entries_total";
    const REFUSED: &str = "edgeproof_journal_queue_full_drops_total";
    let margin = stated_margin(size_mib * MIB);
    let mut least_free = u64::MAX;

    // First fill: the journal itself, with nobody to publish to.
    let s = wait_metrics(metrics, "the first drop", WAIT * 2, |s| {
        least_free = least_free.min(fs.available());
        s.value(DROPPED) > 0.0
    })
    .await;
    let first = s.value(DROPPED);
    wait_metrics(metrics, "drops going on on a full disk", WAIT * 2, |s| {
        least_free = least_free.min(fs.available());
        s.value(DROPPED) >= first + 100.0
    })
    .await;
    assert!(least_free >= margin, "{least_free} bytes free at least, margin {margin}");

    // Second fill: another writer takes the last byte.
    fill_up(&dir.path().join("data/ballast"));
    assert_eq!(fs.available(), 0, "full to the last byte");
    let full_from = now_ms();
    let s = scrape(metrics).await;
    let then = s.value(DROPPED);
    let s = wait_metrics(metrics, "drops going on at the last byte", WAIT * 2, |s| {
        s.value(DROPPED) >= then + 100.0
    })
    .await;
    assert_eq!(s.value(REFUSED), 0.0, "no new batch refused\n{}", agent.log());
    assert!(agent.is_running(), "{}", agent.log());
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM on a full disk: {status}\n{}", agent.log());

    // A start on the full disk runs, and keeps the newest.
    assert_eq!(fs.available(), 0, "still full");
    agent.restart();
    let s = wait_metrics(metrics, "the restart on a full disk dropping the oldest", WAIT, |s| {
        s.value(DROPPED) > 0.0 && s.value("edgeproof_journal_committed_seq") > 0.0
    })
    .await;
    let then = s.value(DROPPED);
    let s = wait_metrics(metrics, "drops after the restart", WAIT * 2, |s| {
        s.value(DROPPED) >= then + 50.0
    })
    .await;
    assert_eq!(s.value(REFUSED), 0.0, "no new batch refused after the restart");
    assert!(agent.is_running(), "{}", agent.log());
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}\n{}", agent.log());
    let full_to = now_ms();
    let log = agent.log();
    assert!(!log.contains("it is lost"), "an evidence record was lost:\n{log}");
    assert!(!log.contains("journal queue is full"), "{log}");

    // Exactly the oldest were dropped, counted; every poll cycle was journalled.
    let (report, kept) = journal_contents(&config);
    let stats = journal_stats(&config);
    let seqs: Vec<u64> = kept.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (stats.dropped_entries_total + 1..report.next_seq).collect::<Vec<_>>());
    // 50 points of 60 registers: two per read (125 registers at most), 25 reads a cycle.
    let cycles = plant.reads().values().sum::<u64>() / 25;
    assert_eq!(report.next_seq - 1, cycles, "every poll cycle journalled (dropped or kept)");

    // No evidence lost: the exported log is complete and verifies, and went on while full.
    let bundle = dir.path().join("bundle.jsonl");
    let out = run(Command::new(bin()).args(["export", "-c"]).arg(&config).arg("-o").arg(&bundle));
    assert!(out.status.success(), "{}", describe(&out));
    let out = run(Command::new(bin())
        .arg("verify")
        .arg(&bundle)
        .arg("--public-key")
        .arg(dir.path().join("data/keys/evidence.pub"))
        .args(["--gateway", "gw-test", "--uscc", "91440300MA5DEM0A0G", "--project", "P-TEST"]));
    assert_eq!(out.status.code(), Some(0), "the bundle verifies: {}", describe(&out));
    let items = tamper::parse(&std::fs::read(&bundle).unwrap());
    let while_full = items
        .iter()
        .filter_map(|i| match i {
            tamper::Item::Record(v) if v["typ"] == "usage" => Some(v),
            _ => None,
        })
        .filter(|v| v["t"]["wall_ms"].as_u64().is_some_and(|t| (full_from..full_to).contains(&t)))
        .count();
    assert!(while_full >= 2, "usage evidence went on while the disk was full: {while_full}");
    eprintln!(
        "faults_disk: agent on {size_mib} MiB: least free {:.2} MiB (margin {:.2}), dropped {} \
         of {} entries, 0 refused, {} evidence records, {while_full} usage records at the \
         last byte",
        least_free as f64 / MIB as f64,
        margin as f64 / MIB as f64,
        stats.dropped_entries_total,
        report.next_seq - 1,
        stats.evidence_records
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_on_a_full_8_mib_disk_refuses_nothing_new_and_loses_no_evidence() {
    an_agent_on_a_small_full_disk_refuses_nothing_new_and_loses_no_evidence(8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_on_a_full_16_mib_disk_refuses_nothing_new_and_loses_no_evidence() {
    an_agent_on_a_small_full_disk_refuses_nothing_new_and_loses_no_evidence(16).await;
}

/// A batch of `points` text samples of `len` bytes each (incompressible enough: the codec
/// stores text as is).
fn text_batch(i: u64, points: usize, len: usize) -> Batch {
    let ts_ms = 1_700_000_000_000 + i;
    let text: String = (0..len).map(|k| char::from(b'a' + ((i as usize + k) % 26) as u8)).collect();
    Batch {
        device: Arc::from("line-01"),
        ts_ms,
        samples: (0..points)
            .map(|p| Sample::good(Arc::from(format!("p{p}")), ts_ms, Value::Text(text.clone())))
            .collect(),
    }
}

/// The margin `src/journal/mod.rs` states for a file system of `size` bytes ("Disk full").
fn stated_margin(size: u64) -> u64 {
    (size / 16).clamp(512 * 1024, 6 * MIB)
}

/// What one small-disk run saw.
#[derive(Debug, Default)]
struct SmallDiskRun {
    appended: u64,
    evidence: u64,
    least_free: u64,
}

impl SmallDiskRun {
    /// One group commit of five text batches, and an evidence record every tenth; both must
    /// succeed (a refused append is a newest reading lost, a refused record lost evidence).
    fn step(&mut self, journal: &mut Journal, fs: &Tmpfs, when: &str) {
        let batches: Vec<Batch> = (0..5).map(|k| text_batch(self.appended + k, 10, 300)).collect();
        let seqs = journal
            .append(&batches)
            .unwrap_or_else(|e| panic!("{when}: append after {} entries: {e}", self.appended));
        assert_eq!(seqs.first(), Some(&(self.appended + 1)), "{when}");
        self.appended += 5;
        if self.appended % 50 == 0 {
            journal
                .append_evidence(self.evidence, &[self.evidence as u8; 1500])
                .unwrap_or_else(|e| panic!("{when}: evidence record {}: {e}", self.evidence));
            self.evidence += 1;
        }
        self.least_free = self.least_free.min(fs.available());
    }
}

/// Regression (issue 16): on a 16 MiB data partition with the broker down, once the disk was
/// full and no reserve file existed (a small file system never got one), every commit
/// failed: the newest readings were refused, an evidence record was lost, a restart on the
/// full disk failed, and the free space held was below the margin stated. Now the journal
/// claims its blocks ahead and, on a full disk, drops the oldest telemetry in place.
fn a_small_full_disk_keeps_the_newest_and_every_evidence_record(size_mib: u64) {
    let dir = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&dir.path().join("data"), size_mib);
    let path = fs.dir.join("journal.sqlite3");
    let options = JournalOptions { max_bytes: 1 << 30 };
    let (mut journal, _) = Journal::open(&path, options).expect("open");
    let mut run = SmallDiskRun { least_free: u64::MAX, ..SmallDiskRun::default() };

    // The journal alone fills the disk, and goes on well past the first drop.
    while journal.stats().unwrap().dropped_entries_total < 2000 {
        run.step(&mut journal, &fs, "filling");
        assert!(run.appended < 100_000, "never dropped: {:?}", journal.stats());
    }
    let margin = stated_margin(size_mib * MIB);
    assert!(
        run.least_free >= margin,
        "{size_mib} MiB: {} bytes free at least, margin {margin}",
        run.least_free
    );
    assert!(!fs.dir.join("journal.sqlite3-reserve").exists(), "no reserve file needed");

    // A second fill, to the last byte, by another writer.
    fill_up(&fs.dir.join("ballast"));
    assert_eq!(fs.available(), 0, "full to the last byte");
    let before = journal.stats().unwrap().dropped_entries_total;
    for _ in 0..400 {
        run.step(&mut journal, &fs, "full to the last byte");
    }
    assert!(journal.stats().unwrap().dropped_entries_total > before, "dropped in place");

    // A restart on the full disk: opens, and goes on.
    drop(journal);
    assert_eq!(fs.available(), 0, "still full");
    let (mut journal, report) = Journal::open(&path, options).expect("open on a full disk");
    assert_eq!(report.next_seq, run.appended + 1);
    for _ in 0..200 {
        run.step(&mut journal, &fs, "after the restart on a full disk");
    }

    // The oldest dropped are counted exactly; the newest are kept, in order.
    let stats = journal.stats().unwrap();
    let kept = journal.read_after(None, usize::MAX).unwrap();
    assert_eq!(stats.dropped_entries_total + stats.entries, run.appended, "{stats:?}");
    assert_eq!(stats.dropped_samples_total + stats.samples, run.appended * 10, "{stats:?}");
    let seqs: Vec<u64> = kept.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (stats.dropped_entries_total + 1..=run.appended).collect::<Vec<_>>());
    assert_eq!(kept.last().unwrap().batch, text_batch(run.appended - 1, 10, 300));
    // Every evidence record kept.
    let stored = journal.read_evidence(0, usize::MAX).unwrap();
    assert_eq!(stored.len() as u64, run.evidence);
    assert!(stored.iter().enumerate().all(|(i, r)| r.seq == i as u64 && r.payload[0] == i as u8));

    // Space returns: the journal takes what is free down to its margin again, no further.
    std::fs::remove_file(fs.dir.join("ballast")).unwrap();
    let dropped = stats.dropped_entries_total;
    run.least_free = u64::MAX;
    for _ in 0..200 {
        run.step(&mut journal, &fs, "space returned");
    }
    assert!(run.least_free >= margin, "margin held again: {} free", run.least_free);
    eprintln!(
        "faults_disk: {size_mib} MiB tmpfs: {} entries appended, {} dropped (oldest), {} \
         evidence records kept, least free {:.2} MiB (margin {:.2} MiB), SQLITE_FULL met {}",
        run.appended,
        dropped,
        run.evidence,
        run.least_free as f64 / MIB as f64,
        margin as f64 / MIB as f64,
        journal.counters().snapshot().disk_full
    );
}

#[test]
fn a_full_8_mib_disk_keeps_the_newest_and_every_evidence_record() {
    a_small_full_disk_keeps_the_newest_and_every_evidence_record(8);
}

#[test]
fn a_full_16_mib_disk_keeps_the_newest_and_every_evidence_record() {
    a_small_full_disk_keeps_the_newest_and_every_evidence_record(16);
}

/// Regression: when another writer filled the disk to the last byte, a commit that needed
/// the WAL to grow failed with SQLITE_FULL, and so did the eviction meant to make room
/// (deleting rows writes to the WAL too): the journal could not write anything until space
/// returned, telemetry piled up in memory and evidence records were lost. The journal now
/// claims its blocks ahead and reuses the pages of the oldest telemetry in place.
#[test]
fn a_disk_filled_to_the_last_byte_by_another_writer_leaves_the_journal_writable() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&dir.path().join("data"), 24);
    let path = fs.dir.join("journal.sqlite3");
    let (mut journal, _) =
        Journal::open(&path, JournalOptions { max_bytes: u64::MAX }).expect("open");
    // Old telemetry to drop: ~3 MiB in small commits.
    for i in 0..300 {
        journal.append(&[text_batch(i, 10, 1000)]).expect("append before the disk fills");
    }
    fill_up(&fs.dir.join("ballast"));
    assert_eq!(fs.available(), 0, "full to the last byte");

    // Commits of 1 MiB each: more than the WAL holds without growing.
    for i in 0..8 {
        journal.append(&[text_batch(1000 + i, 100, 10_000)]).unwrap_or_else(|e| {
            panic!("commit {i} on a full disk: {e}");
        });
    }
    journal.append_evidence(0, &[7u8; 2000]).expect("evidence on a full disk");
    let stats = journal.stats().unwrap();
    let counters = journal.counters().snapshot();
    assert!(stats.dropped_entries_total > 0, "old telemetry made room: {stats:?}");
    assert_eq!(journal.read_after(None, usize::MAX).unwrap().last().unwrap().seq, 308);

    // Space returns: appends go on.
    std::fs::remove_file(fs.dir.join("ballast")).unwrap();
    journal.append(&[text_batch(2000, 1, 10)]).unwrap();
    eprintln!(
        "faults_disk: full to the last byte: SQLITE_FULL met {} (the claimed WAL took the \
         1 MiB commits), dropped {} entries, evidence kept",
        counters.disk_full, stats.dropped_entries_total
    );
}
