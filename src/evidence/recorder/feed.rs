//! The recorder's side of what the publisher drains ([`EvidenceFeed`]): records straight from
//! the journal's evidence table, the append count and the latest checkpoint from the
//! recorder's watches.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::watch;

use crate::journal::JournalHandle;
use crate::publish::evidence::FeedError;
use crate::publish::{CheckpointNote, EvidenceEntry, EvidenceFeed};

/// Records are read from the journal at most this many at a time.
const READ_LIMIT: usize = 256;

/// [`EvidenceFeed`] over the journal and a running recorder.
#[derive(Debug, Clone)]
pub struct RecorderFeed {
    pub(super) journal: JournalHandle,
    pub(super) appended: watch::Receiver<u64>,
    pub(super) checkpoint: watch::Receiver<Option<Arc<CheckpointNote>>>,
}

impl EvidenceFeed for RecorderFeed {
    fn read_unpublished(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<EvidenceEntry>, FeedError>> {
        Box::pin(async move {
            let stored =
                self.journal.read_unpublished_evidence(after, limit.min(READ_LIMIT)).await?;
            Ok(stored
                .into_iter()
                .map(|e| EvidenceEntry { seq: e.seq, payload: e.payload })
                .collect())
        })
    }

    fn ack(&self, seqs: Vec<u64>) -> BoxFuture<'_, Result<(), FeedError>> {
        Box::pin(async move {
            self.journal.ack_evidence(seqs).await?;
            Ok(())
        })
    }

    fn appended(&self) -> watch::Receiver<u64> {
        self.appended.clone()
    }

    fn checkpoint(&self) -> watch::Receiver<Option<Arc<CheckpointNote>>> {
        self.checkpoint.clone()
    }
}
