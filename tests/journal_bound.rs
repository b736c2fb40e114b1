//! The journal's size bound with the broker down: the file stays within `max_bytes` plus the
//! overhead the journal module documents, the oldest telemetry is dropped and counted, and
//! polling goes on.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::support::agent::{
    journal_contents, journal_path, journal_stats, metrics_on, write_config, Agent,
};
use crate::support::free_port;
use crate::support::metrics::scrape_until;
use crate::support::plant::{Plant, Points};

const WAIT: Duration = Duration::from_secs(60);
const MAX_BYTES: u64 = 256 * 1024;
/// `src/journal/mod.rs`, "Size bound": the main file may exceed the bound by one flush's
/// worth of pages. One 100 ms flush here is about 90 samples of ~70 bytes; allow far more.
const FLUSH_ALLOWANCE: u64 = 128 * 1024;
/// Same docs: the WAL holds up to 1000 pages (4 MiB) plus one transaction before a
/// checkpoint; the `-shm` index 32 KiB per 4096 WAL pages.
const WAL_MAX: u64 = 4 * 1024 * 1024 + FLUSH_ALLOWANCE;
const SHM_MAX: u64 = 64 * 1024;

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn with_suffix(p: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_max_bytes_with_broker_down_stays_bounded_drops_oldest_and_keeps_polling() {
    // Long point names and 32-character strings: ~60 KB of journal per second.
    let text = Points::Text { n: 30, regs: 16 };
    let plant = Plant::start(&[
        ("labeler-01", text, "100ms"),
        ("labeler-02", text, "100ms"),
        ("labeler-03", text, "100ms"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let no_broker = free_port();
    let config = write_config(
        dir.path(),
        &format!(
            "[mqtt]\nurl = \"mqtt://127.0.0.1:{no_broker}\"\n\n\
             [journal]\nflush_interval = \"100ms\"\nmax_bytes = \"256KiB\"\n\n{}\n{}",
            metrics_on(metrics),
            plant.toml()
        ),
    );
    let mut agent = Agent::start(&config);
    let db = journal_path(&config);
    let check_files = |when: &str| {
        let (main, wal, shm) = (
            file_len(&db),
            file_len(&with_suffix(&db, "-wal")),
            file_len(&with_suffix(&db, "-shm")),
        );
        assert!(main <= MAX_BYTES + FLUSH_ALLOWANCE, "{when}: journal file {main} bytes");
        assert!(wal <= WAL_MAX, "{when}: WAL {wal} bytes");
        assert!(shm <= SHM_MAX, "{when}: shm {shm} bytes");
    };

    let polls = |s: &crate::support::metrics::Scrape| s.sum("edgeproof_device_polls_total", &[]);
    let dropped =
        |s: &crate::support::metrics::Scrape| s.value("edgeproof_journal_dropped_entries_total");
    let full =
        scrape_until(metrics, "the journal to reach its bound", WAIT, |s| dropped(s) > 0.0).await;
    check_files("at the first drop");
    assert_eq!(full.value("edgeproof_publish_mqtt_connected"), 0.0);
    assert!(full.value("edgeproof_publish_connect_failures_total") >= 1.0);

    // It stays full: polling goes on, and the oldest keeps being dropped for the newest.
    let later = scrape_until(metrics, "more polls and more drops", WAIT, |s| {
        polls(s) >= polls(&full) + 30.0 && dropped(s) > dropped(&full)
    })
    .await;
    check_files("while full");
    for s in [&full, &later] {
        let used = s.value("edgeproof_journal_bytes");
        assert!(used > 0.0 && used <= MAX_BYTES as f64, "pages in use {used}:\n{}", s.text);
        assert!(s.value("edgeproof_journal_dropped_samples_total") > 0.0);
    }
    for d in &plant.devices {
        let polled = later.value(&format!("edgeproof_device_polls_total{{device=\"{}\"}}", d.name));
        assert!(polled > 0.0, "{} polled", d.name);
    }
    let log = agent.log();
    assert_eq!(
        log.matches("journal reached its size bound").count(),
        1,
        "one log line per full episode:\n{log}"
    );

    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    check_files("after the stop");
    // What is left is the newest run of entries: exactly the oldest were dropped.
    let (journal, left) = journal_contents(&config);
    let oldest = left.first().expect("the newest entries are kept").seq;
    assert!(oldest > 1, "the oldest entries were dropped");
    let seqs: Vec<u64> = left.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (oldest..journal.next_seq).collect::<Vec<_>>(), "kept entries are contiguous");
    let stats = journal_stats(&config);
    assert_eq!(stats.dropped_entries_total, oldest - 1, "every drop counted, and persisted");
}
