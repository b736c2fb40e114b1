//! Storing one signed record in the journal's evidence table, retrying a failed SQLite
//! write for about a minute before the record is given up (and lost before it took a seq).

use std::time::Duration;

use tracing::warn;

use super::error::RecorderError;
use super::writer::Recorder;
use crate::journal::JournalError;

/// Tries at storing one record before it is given up (see `store_retrying`): with pauses
/// of 0.5, 1, 2, 4 s and then 8 s, about 50 s in all.
const STORE_ATTEMPTS: u32 = 10;
/// The first pause between tries.
const STORE_RETRY_FIRST: Duration = Duration::from_millis(500);
/// The longest pause between tries.
const STORE_RETRY_MAX: Duration = Duration::from_secs(8);

impl Recorder {
    /// Stores record `seq`, retrying a failed SQLite write (a full or failing disk; the
    /// journal makes room on a full disk by dropping telemetry) with growing pauses for
    /// about a minute before the record is given up.
    pub(super) async fn store_retrying(
        &mut self,
        seq: u64,
        canonical: &[u8],
    ) -> Result<(), RecorderError> {
        let mut pause = STORE_RETRY_FIRST;
        let mut attempt = 1;
        loop {
            match self.journal.append_evidence(seq, canonical.to_vec()).await {
                Ok(()) => return Ok(()),
                Err(e @ JournalError::Sqlite { .. }) if attempt < STORE_ATTEMPTS => {
                    warn!(seq, attempt, error = %e, ?pause, "evidence record could not be stored yet; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(STORE_RETRY_MAX);
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
