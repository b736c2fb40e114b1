//! The one step every batch takes from a source into the pipeline: the device task counts its
//! progress (the watchdog's [`crate::service::liveness::CountingSink`], outside this), the
//! journal accepts or refuses the batch, and only an accepted batch reaches the usage book —
//! so the evidence counts exactly what was journaled, in the order the journal took it (the
//! order of the data messages' `seq`). A refused batch (queue full: the disk is slower than
//! the devices, or full and failing commits) is counted by the journal and appears in the
//! `usage` record's `totals.refused`; it is never in a device's figures or digest.

use std::sync::Arc;

use tracing::warn;

use crate::evidence::usage::UsageBook;
use crate::journal::{JournalSender, TrySendError};
use crate::model::Batch;
use crate::source::BatchSink;

/// Sources hand batches to the journal's bounded queue; a full queue refuses (the journal
/// counts and logs it once per episode), it never blocks a poll loop.
pub(super) struct Intake {
    journal: JournalSender,
    /// The usage book, when evidence is on.
    book: Option<Arc<UsageBook>>,
}

impl Intake {
    pub(super) fn new(journal: JournalSender, book: Option<Arc<UsageBook>>) -> Intake {
        Intake { journal, book }
    }
}

impl BatchSink for Intake {
    fn send(&self, batch: Batch) {
        let result = match &self.book {
            Some(book) => self.journal.try_send_with(batch, |b| book.on_batch(b)),
            None => self.journal.try_send(batch),
        };
        match result {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {} // counted and logged once per episode by the journal
            Err(TrySendError::Closed(b)) => {
                warn!(device = %b.device, "journal closed; batch from a late poll cycle dropped")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::journal::{HandleOptions, Journal, JournalHandle, JournalOptions};
    use crate::model::{Sample, Value};

    fn config() -> crate::config::Config {
        let text = r#"
[gateway]
id = "gw"
enterprise = "91440300MA5DEM0A0G"
project = "P"
[[devices]]
name = "press"
protocol = "modbus-tcp"
address = "10.0.0.1:502"
  [[devices.points]]
  name = "count"
  area = "holding"
  address = 0
  type = "u16"
"#;
        crate::config::load_str(Path::new("t.toml"), text, false).unwrap()
    }

    const T0: u64 = 1_760_000_000_000;

    fn batch(i: u64, n: usize) -> Batch {
        let ts = T0 + i;
        Batch {
            device: Arc::from("press"),
            ts_ms: ts,
            samples: (0..n)
                .map(|p| Sample::good(format!("p{p}").into(), ts, Value::UInt(i * 10 + p as u64)))
                .collect(),
        }
    }

    /// Issue 14, finding 8: the usage book used to count every batch before the journal
    /// saw it, so batches the journal refused were in `points_read` and the digest but in
    /// no message. Now it counts only what the journal took, and the refusals are counted.
    #[tokio::test]
    async fn a_refusing_journal_keeps_refused_batches_out_of_the_usage_book() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(
            dir.path().join("journal.sqlite3"),
            JournalOptions { max_bytes: 64 << 20 },
        )
        .unwrap();
        // Nothing commits until asked, and at most 10 samples wait in memory.
        let options = HandleOptions {
            flush_interval: Duration::from_secs(3600),
            flush_samples: usize::MAX,
            max_queued_samples: 10,
        };
        let (handle, sender, writer) = JournalHandle::start(journal, options).unwrap();
        let book = Arc::new(UsageBook::new(&config(), Duration::from_secs(5), T0));
        let intake = Intake::new(sender, Some(book.clone()));
        for i in 0..5 {
            intake.send(batch(i, 4)); // 4 + 4 fit, the other three are refused
        }
        handle.flush().await.unwrap();
        let counters = handle.counters().snapshot();
        assert_eq!((counters.appended_samples, counters.queue_full_samples), (8, 12));
        let usage = book.rotate(T0 + 5_100);
        assert_eq!(usage[0].points_read, 8, "only what the journal accepted");
        let stored = handle.read_after(None, 100).await.unwrap();
        let mut capture = crate::evidence::recompute::Capture::default();
        for (n, s) in stored.iter().enumerate() {
            let payload = crate::publish::payload::encode("gw", s.seq, &s.batch, false);
            let msg =
                crate::evidence::recompute::parse_payload(std::str::from_utf8(&payload).unwrap());
            capture.add(n as u64, msg.unwrap()).unwrap();
        }
        let (digest, messages, _) = capture.digest("press", T0, T0 + 5_000);
        assert_eq!((messages, digest), (2, usage[0].digest), "the digest is the journal's content");
        handle.shutdown().await.unwrap();
        writer.join().unwrap();
    }
}
