//! [`Backlog`] for the real journal: [`JournalHandle`] already has the three operations; this
//! adapts the types (`StoredBatch` → [`BacklogEntry`], ack count dropped).

use tokio::sync::watch;

use super::backlog::{Backlog, BacklogEntry};
use crate::journal::{JournalError, JournalHandle};

impl Backlog for JournalHandle {
    type Error = JournalError;

    async fn read_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<BacklogEntry>, JournalError> {
        let stored = JournalHandle::read_after(self, after, limit).await?;
        Ok(stored.into_iter().map(|s| BacklogEntry { seq: s.seq, batch: s.batch }).collect())
    }

    async fn ack(&self, seqs: Vec<u64>) -> Result<(), JournalError> {
        JournalHandle::ack(self, seqs).await.map(|_deleted| ())
    }

    fn committed(&self) -> watch::Receiver<u64> {
        JournalHandle::committed(self)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::super::broker_tests::{batch, free_port, wait_for, Mosquitto, Subscriber};
    use super::super::tls::tests::mqtt_config;
    use super::super::{PublishCounters, Publisher};
    use crate::journal::{HandleOptions, Journal, JournalHandle, JournalOptions};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn journal_drains_to_a_real_broker() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _report) =
            Journal::open(dir.path().join("journal.db"), JournalOptions::default()).unwrap();
        let options =
            HandleOptions { flush_interval: Duration::from_millis(10), ..HandleOptions::default() };
        let (handle, sender, thread) = JournalHandle::start(journal, options).unwrap();

        let port = free_port();
        let _broker = Mosquitto::plain(port).await;
        let sub = Subscriber::start(port).await;
        for i in 0..150 {
            sender.try_send(batch("press-01", i)).unwrap();
        }
        wait_for("first entries committed", || async { *handle.committed().borrow() >= 150 }).await;

        let counters = Arc::new(PublishCounters::new());
        let cancel = CancellationToken::new();
        let publisher = Publisher::new(
            mqtt_config("127.0.0.1", port),
            "gw-test".into(),
            handle.clone(),
            counters.clone(),
        )
        .unwrap();
        let task = tokio::spawn(publisher.run(cancel.clone()));

        // Live entries arrive through the commit watch while connected.
        for i in 150..200 {
            sender.try_send(batch("press-01", i)).unwrap();
        }
        let want: std::collections::BTreeSet<u64> = (1..=200).collect();
        wait_for("every seq at the subscriber", || async { sub.seqs() == want }).await;
        wait_for("journal empty", || async { handle.stats().await.unwrap().entries == 0 }).await;

        cancel.cancel();
        task.await.unwrap();
        assert_eq!(counters.snapshot().acknowledged, 200);
        handle.shutdown().await.unwrap();
        thread.join().unwrap();
    }
}
