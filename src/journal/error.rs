//! Journal errors. Every variant names the journal file, and the seq where one is involved.

use std::path::PathBuf;

/// Why a journal operation failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The directory that should hold the journal could not be created.
    #[error("cannot create journal directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An SQLite call failed. `op` says what the journal was doing.
    #[error("journal {path}: {op} failed: {source}")]
    Sqlite {
        /// The journal file.
        path: PathBuf,
        /// What the journal was doing (`open`, `append`, `ack`, …).
        op: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// `PRAGMA quick_check` reported damage. At open this makes the file be moved aside.
    #[error("journal {path} is damaged: {detail}")]
    Damaged {
        /// The journal file.
        path: PathBuf,
        /// The first lines `quick_check` reported.
        detail: String,
    },
    /// The file is damaged and could not be moved out of the way, so no fresh journal can
    /// be started in its place.
    #[error("journal {path} is damaged and cannot be moved aside to {target}: {source}")]
    MoveAside {
        /// The damaged file.
        path: PathBuf,
        /// Where it should have gone.
        target: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was written by a newer edgeproof with a schema this version does not know.
    /// It is left untouched: moving it aside would hide data a newer version can still send.
    #[error(
        "journal {path} has schema version {found}, this edgeproof supports up to {supported}; \
         run the newer edgeproof or move the file away"
    )]
    NewerSchema {
        /// The journal file.
        path: PathBuf,
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The version this build writes.
        supported: i64,
    },
    /// The file is a valid SQLite database, but not an edgeproof journal (it has tables and
    /// no journal schema version). Left untouched.
    #[error("{path} is an SQLite database but not an edgeproof journal; refusing to use it")]
    Foreign {
        /// The file.
        path: PathBuf,
    },
    /// SQLite refused to switch the file to WAL mode (for example on a file system without
    /// shared memory support).
    #[error("journal {path}: cannot enable WAL mode (SQLite kept journal_mode={mode})")]
    NotWal {
        /// The journal file.
        path: PathBuf,
        /// The mode SQLite reported.
        mode: String,
    },
    /// An evidence record was appended out of order: evidence seqs are gap-free from 0.
    #[error("journal {path}: evidence seq {got} appended, expected {expected}")]
    EvidenceOutOfOrder {
        /// The journal file.
        path: PathBuf,
        /// The next seq the evidence table expects.
        expected: u64,
        /// The seq that was offered.
        got: u64,
    },
    /// A sequence number does not fit SQLite's signed 64-bit integer.
    #[error("journal {path}: seq {seq} is beyond SQLite's integer range")]
    SeqRange {
        /// The journal file.
        path: PathBuf,
        /// The seq.
        seq: u64,
    },
    /// The journal writer thread could not be started.
    #[error("cannot start the journal writer thread: {0}")]
    Spawn(std::io::Error),
    /// The journal writer thread has stopped (after shutdown, or it panicked).
    #[error("the journal writer thread has stopped")]
    Closed,
}

impl JournalError {
    /// True when the error means the file's content is damaged or is not a database at all,
    /// as opposed to a failure to reach it (permissions, I/O, locks).
    pub fn is_damage(&self) -> bool {
        match self {
            JournalError::Damaged { .. } => true,
            JournalError::Sqlite { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
            ),
            _ => false,
        }
    }
}

/// Why stored bytes could not be decoded into a batch. Only a bug or on-disk damage that
/// `quick_check` did not see can cause this; the bytes were written by [`super::codec`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CodecError {
    /// The payload's format version byte is unknown.
    #[error("unknown payload format version {0}")]
    Version(u8),
    /// The payload ended in the middle of a field.
    #[error("payload truncated at byte {0}")]
    Truncated(usize),
    /// A variable-length integer is longer than 10 bytes or overflows 64 bits.
    #[error("bad varint at byte {0}")]
    Varint(usize),
    /// A string is not UTF-8.
    #[error("invalid UTF-8 at byte {0}")]
    Utf8(usize),
    /// A sample's tag byte names no known quality or value kind.
    #[error("unknown sample tag {tag:#04x} at byte {offset}")]
    Tag {
        /// The byte.
        tag: u8,
        /// Where.
        offset: usize,
    },
    /// Bytes were left after the last sample.
    #[error("{0} trailing bytes after the last sample")]
    Trailing(usize),
}
