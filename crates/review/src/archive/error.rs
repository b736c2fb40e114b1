//! Why the archive could not do something.

/// An archive error, with the database and operation involved.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// `--db` is neither a file path nor a `postgres://` URL we can use.
    #[error("--db {url:?}: {why}")]
    BadUrl {
        /// What was given.
        url: String,
        /// Why it is unusable.
        why: String,
    },
    /// SQLite failed.
    #[error("archive {path}: {op}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// What was being done.
        op: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// PostgreSQL failed.
    #[error("archive {url}: {op}: {msg}")]
    Postgres {
        /// The server (without password).
        url: String,
        /// What was being done.
        op: &'static str,
        /// The server's message.
        msg: String,
    },
    /// The database was migrated by a newer edgeproof.
    #[error(
        "archive {db} has schema version {found}; this edgeproof knows up to {known}: upgrade it"
    )]
    NewerSchema {
        /// The database.
        db: String,
        /// Its version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// A gateway cannot be registered as asked.
    #[error("gateway {gateway:?}: {why}")]
    Registration {
        /// The gateway id.
        gateway: String,
        /// Why.
        why: String,
    },
    /// A stored value is not what this build wrote.
    #[error("archive {db}: {what}")]
    Corrupt {
        /// The database.
        db: String,
        /// What is wrong.
        what: String,
    },
    /// The blocking task running SQLite died.
    #[error("archive task failed: {0}")]
    Task(String),
}
