//! Why the recorder could not start. Once running it never stops the agent: a record that
//! cannot be stored is logged and the next one takes its seq.

use std::path::PathBuf;

use super::checkpoints::CheckpointFileError;
use super::replay::ReplayError;
use crate::evidence::chain::ChainError;
use crate::evidence::keys::KeyError;
use crate::journal::JournalError;

/// Why evidence could not be started.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// Evidence is required (an `[evidence]` section) but there is no key.
    #[error(
        "evidence key {path} not found; create it with `edgeproof keygen --dir {dir}` and give \
         the printed evidence.pub to the reviewer (or set [evidence] enabled = false)"
    )]
    NoKey {
        /// The configured key file.
        path: PathBuf,
        /// Its directory, for the keygen hint.
        dir: PathBuf,
    },
    /// The key file exists but cannot be used.
    #[error("evidence key: {0}")]
    Key(#[from] KeyError),
    /// The log on disk was enrolled with another key or for another gateway; appending would
    /// make it unverifiable.
    #[error(
        "the evidence log in the journal was enrolled as {enrolled} but this config and key \
         say {now}; restore the original key file / gateway.id, or move the journal away to \
         start a new log"
    )]
    Mismatch {
        /// What the `enroll` record says.
        enrolled: String,
        /// What the config and key say.
        now: String,
    },
    /// A stored record cannot be read back.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A record could not be built or signed (a bug).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The checkpoint file failed.
    #[error(transparent)]
    Checkpoints(#[from] CheckpointFileError),
    /// A witness client could not be set up (its CA file).
    #[error("witness: {0}")]
    Witness(#[from] super::witness::client::HttpError),
    /// A blocking helper task died.
    #[error("evidence recorder: {0}")]
    Internal(String),
}
