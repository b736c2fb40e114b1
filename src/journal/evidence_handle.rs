//! The evidence table through the writer thread: the async face of
//! [`Journal::append_evidence`] and friends, for the evidence recorder and the publisher.
//!
//! Requests ride the same channel as telemetry batches, so SQLite still runs only on the
//! journal's thread. An append is its own fsynced transaction (see `evidence.rs`): when
//! [`JournalHandle::append_evidence`] returns `Ok`, the record is durable. Telemetry batches
//! waiting for their group commit are not affected.

use super::error::JournalError;
use super::evidence::StoredEvidence;
use super::handle::{JournalHandle, Reply, Request};
use super::store::Journal;

/// One evidence operation for the writer thread.
pub(super) enum EvidenceRequest {
    Append { seq: u64, payload: Vec<u8>, reply: Reply<()> },
    ReadUnpublished { after: Option<u64>, limit: usize, reply: Reply<Vec<StoredEvidence>> },
    Ack { seqs: Vec<u64>, reply: Reply<usize> },
    Read { from: u64, limit: usize, reply: Reply<Vec<StoredEvidence>> },
}

impl EvidenceRequest {
    /// Runs on the writer thread. A caller that stopped waiting is not an error.
    pub(super) fn run(self, journal: &mut Journal) {
        match self {
            EvidenceRequest::Append { seq, payload, reply } => {
                let _ = reply.send(journal.append_evidence(seq, &payload));
            }
            EvidenceRequest::ReadUnpublished { after, limit, reply } => {
                let _ = reply.send(journal.read_unpublished_evidence(after, limit));
            }
            EvidenceRequest::Ack { seqs, reply } => {
                let _ = reply.send(journal.ack_evidence(&seqs));
            }
            EvidenceRequest::Read { from, limit, reply } => {
                let _ = reply.send(journal.read_evidence(from, limit));
            }
        }
    }
}

impl JournalHandle {
    /// Appends evidence record `seq` durably (its own fsynced transaction). `seq` must be the
    /// next one (0 for the first); otherwise [`JournalError::EvidenceOutOfOrder`].
    pub async fn append_evidence(&self, seq: u64, payload: Vec<u8>) -> Result<(), JournalError> {
        self.call(|reply| Request::Evidence(EvidenceRequest::Append { seq, payload, reply })).await
    }

    /// Up to `limit` records the broker has not acknowledged, with seq greater than `after`
    /// (all when `None`), oldest first.
    pub async fn read_unpublished_evidence(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredEvidence>, JournalError> {
        self.call(|reply| {
            Request::Evidence(EvidenceRequest::ReadUnpublished { after, limit, reply })
        })
        .await
    }

    /// Marks records as acknowledged by the broker (they stay stored); returns how many were
    /// newly marked.
    pub async fn ack_evidence(&self, seqs: Vec<u64>) -> Result<usize, JournalError> {
        self.call(|reply| Request::Evidence(EvidenceRequest::Ack { seqs, reply })).await
    }

    /// Up to `limit` stored records from seq `from` on, published or not, oldest first.
    pub async fn read_evidence(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvidence>, JournalError> {
        self.call(|reply| Request::Evidence(EvidenceRequest::Read { from, limit, reply })).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::journal::test_support::{batch, open};
    use crate::journal::HandleOptions;

    #[tokio::test]
    async fn evidence_goes_through_the_writer_thread_beside_telemetry() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(dir.path(), 1 << 30);
        let options =
            HandleOptions { flush_interval: Duration::from_millis(10), ..HandleOptions::default() };
        let (handle, sender, thread) = JournalHandle::start(journal, options).unwrap();
        sender.try_send(batch(1, 3)).unwrap();
        for seq in 0..3 {
            handle.append_evidence(seq, format!("r{seq}").into_bytes()).await.unwrap();
        }
        match handle.append_evidence(5, b"gap".to_vec()).await {
            Err(JournalError::EvidenceOutOfOrder { expected: 3, got: 5, .. }) => {}
            other => panic!("a gap must be refused: {other:?}"),
        }
        let seqs = |v: Vec<StoredEvidence>| v.into_iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs(handle.read_unpublished_evidence(None, 10).await.unwrap()), [0, 1, 2]);
        assert_eq!(handle.ack_evidence(vec![0, 1]).await.unwrap(), 2);
        assert_eq!(seqs(handle.read_unpublished_evidence(None, 10).await.unwrap()), [2]);
        let all = handle.read_evidence(1, 10).await.unwrap();
        assert_eq!((all.len(), all[1].payload.as_slice()), (2, &b"r2"[..]));

        handle.shutdown().await.unwrap();
        thread.join().unwrap();
        let (journal, report) = open(dir.path(), 1 << 30);
        assert_eq!(report.resumed_entries, 1, "telemetry committed beside evidence");
        assert_eq!(journal.stats().unwrap().evidence_records, 3);
    }
}
