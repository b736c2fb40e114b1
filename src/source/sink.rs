//! Where sources put their batches. A sink must never block a poll loop: when the next stage
//! cannot keep up it drops and counts, it does not wait.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tracing::warn;

use crate::model::Batch;

/// Accepts batches from poll loops without blocking.
pub trait BatchSink: Send + Sync + 'static {
    /// Hands over one batch. Must return immediately.
    fn send(&self, batch: Batch);
}

/// A bounded channel as a sink: full means dropped and counted.
pub struct ChannelSink {
    tx: mpsc::Sender<Batch>,
    dropped: AtomicU64,
}

impl ChannelSink {
    /// Wraps a channel sender.
    pub fn new(tx: mpsc::Sender<Batch>) -> Self {
        ChannelSink { tx, dropped: AtomicU64::new(0) }
    }

    /// Batches dropped because the channel was full or closed.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl BatchSink for ChannelSink {
    fn send(&self, batch: Batch) {
        if let Err(e) = self.tx.try_send(batch) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() {
                warn!(
                    dropped = n + 1,
                    "batch channel {}; dropping batches",
                    match e {
                        mpsc::error::TrySendError::Full(_) => "full",
                        mpsc::error::TrySendError::Closed(_) => "closed",
                    }
                );
            }
        }
    }
}
