//! Where the witness keeps its logs: per origin, the log's public key and the latest tree it
//! cosigned. SQLite by default ([`sqlite`]), PostgreSQL when several witness instances serve
//! one fleet ([`postgres`]); both behind [`Store`], with the same schema and the same rule:
//!
//! **The state moves only by compare-and-swap.** [`Store::advance`] is one `UPDATE … WHERE
//! origin = ? AND size = <size decided on> AND root = <root decided on>`: it changes a row only
//! if nobody changed it since it was read, and says whether it did. The caller cosigns only
//! after it did (or without writing, when the stored state already is the request's tree).
//! Two requests, threads, processes or machines racing on one log therefore cannot both move
//! it from the same state, and no size is ever cosigned with two roots.
//!
//! Schema (`witness_logs`; [`MIGRATIONS`] applied on open, recorded in `witness_schema`):
//!
//! | column | what |
//! |---|---|
//! | `origin` | the log's origin line, primary key |
//! | `public_key` | the log's Ed25519 key, standard base64 of the 32 bytes |
//! | `size` | the latest cosigned tree size; 0 before the first cosignature |
//! | `root` | its root, standard base64; the empty tree's root before the first cosignature |
//! | `note` | the signed checkpoint note cosigned last, as submitted (the log's signature included), NULL before |
//! | `added_at`, `updated_at` | Unix seconds |
//!
//! `witness_conflicts` keeps evidence of misbehaviour (tlog-witness: a witness "MAY log the
//! request even if the consistency proof doesn't verify … as it might be proof of log
//! misbehavior"): each refused request whose checkpoint carried a valid signature of the log's
//! key but forked from what was cosigned (`reason` = `fork`, same size, another root) or did
//! not prove consistency with it (`bad_proof`), with the cosigned tree and note it conflicts
//! with, and the whole request body. A `fork` row holds two checkpoints of one size with
//! different roots, both signed by the gateway: proof that its log was rewritten. At most
//! [`MAX_CONFLICTS_PER_LOG`] rows per log, however many instances race to add one: the
//! count and the insert are one atomic step (SQLite: one statement under the database's write
//! lock; PostgreSQL: one transaction under a per-log advisory lock).
//!
//! Changing the schema means a new entry in [`MIGRATIONS`], never an edit of an old one.

pub mod postgres;
pub mod sqlite;

use edgeproof_evidence::keys::PublicKey;
use edgeproof_evidence::merkle::Hash;

use super::decide::TreeState;

/// Schema versions, in order; entry *i* takes the schema from version *i* to *i + 1*. The SQL
/// is the common subset of SQLite and PostgreSQL.
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS witness_logs (
    origin TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    size BIGINT NOT NULL,
    root TEXT NOT NULL,
    note TEXT,
    added_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
)",
    "CREATE TABLE IF NOT EXISTS witness_conflicts (
    origin TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    cosigned_size BIGINT NOT NULL,
    cosigned_root TEXT NOT NULL,
    cosigned_note TEXT,
    old_size BIGINT NOT NULL,
    size BIGINT NOT NULL,
    root TEXT NOT NULL,
    request TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS witness_conflicts_origin ON witness_conflicts (origin, received_at)",
];

/// Conflicts kept per log; later ones are only logged (the table cannot be grown without
/// bound by whoever holds one gateway's key).
pub const MAX_CONFLICTS_PER_LOG: i64 = 100;

/// What went wrong with the witness's database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `--db` is neither a file path, `sqlite://PATH` nor `postgres://…`.
    #[error("--db {0:?}: expected a file path, sqlite://PATH or postgres://…")]
    Url(String),
    /// SQLite failed.
    #[error("SQLite {path}: {message}")]
    Sqlite {
        /// The database file.
        path: String,
        /// What SQLite said.
        message: String,
    },
    /// PostgreSQL failed (connection, query).
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    /// The database was written by a newer edgeproof.
    #[error("database schema version {found} is newer than this edgeproof knows ({known})")]
    SchemaTooNew {
        /// Version in the database.
        found: i64,
        /// Newest version known here.
        known: usize,
    },
    /// `add-log` for an origin already registered with another key.
    #[error(
        "log {origin} is already registered with another key ({stored}); refusing to replace it"
    )]
    KeyMismatch {
        /// The log.
        origin: String,
        /// Fingerprint of the stored key.
        stored: String,
    },
    /// A stored row cannot be read back.
    #[error("stored state of log {origin} is unreadable: {what}")]
    Corrupt {
        /// The log.
        origin: String,
        /// Which column and why.
        what: String,
    },
}

/// A log the witness was told about, with the latest tree it cosigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLog {
    /// Origin line.
    pub origin: String,
    /// The log's checkpoint-signing key.
    pub key: PublicKey,
    /// The latest cosigned tree.
    pub state: TreeState,
    /// Its signed checkpoint note, as submitted; `None` before the first cosignature.
    pub note: Option<String>,
}

/// A refused request that is evidence against the log (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    /// The log.
    pub origin: String,
    /// When the witness received it (Unix seconds).
    pub received_at: i64,
    /// `fork` or `bad_proof`.
    pub reason: String,
    /// The tree the witness had cosigned.
    pub cosigned_size: u64,
    /// Its root, base64.
    pub cosigned_root: String,
    /// Its signed note, as submitted.
    pub cosigned_note: Option<String>,
    /// The request's old size.
    pub old_size: u64,
    /// The refused checkpoint's size.
    pub size: u64,
    /// Its root, base64.
    pub root: String,
    /// The whole request body (proof lines and the signed checkpoint).
    pub request: String,
}

/// What `add-log` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddedLog {
    /// Registered now.
    Added,
    /// Was already registered with the same key; nothing changed.
    AlreadyPresent,
}

/// The witness's database.
pub enum Store {
    /// A SQLite file.
    Sqlite(sqlite::SqliteStore),
    /// A PostgreSQL database.
    Postgres(postgres::PgStore),
}

impl Store {
    /// Opens `db` — a file path, `sqlite://PATH`, or `postgres://…` / `postgresql://…` — and
    /// applies the migrations it lacks.
    pub async fn open(db: &str) -> Result<Store, StoreError> {
        Self::open_with(db, crate::postgres::Timeouts::default()).await
    }

    /// Like [`Store::open`], with these PostgreSQL timeouts ([`crate::postgres`]).
    pub async fn open_with(
        db: &str,
        timeouts: crate::postgres::Timeouts,
    ) -> Result<Store, StoreError> {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            return Ok(Store::Postgres(postgres::PgStore::open_with(db, timeouts).await?));
        }
        let path = db.strip_prefix("sqlite://").unwrap_or(db);
        if path.is_empty() || path.contains("://") {
            return Err(StoreError::Url(db.into()));
        }
        Ok(Store::Sqlite(sqlite::SqliteStore::open(path).await?))
    }

    /// Whether the database answers now (`GET /healthz`): an error when it does not, within
    /// the timeouts.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.ping().await,
            Store::Postgres(s) => s.ping().await,
        }
    }

    /// Registers a log with its key (idempotent; another key for a known origin is refused).
    pub async fn add_log(&self, origin: &str, key: &PublicKey) -> Result<AddedLog, StoreError> {
        let now = unix_now();
        match self {
            Store::Sqlite(s) => s.add_log(origin, key, now).await,
            Store::Postgres(s) => s.add_log(origin, key, now).await,
        }
    }

    /// The log registered under `origin`, if any.
    pub async fn log(&self, origin: &str) -> Result<Option<StoredLog>, StoreError> {
        match self {
            Store::Sqlite(s) => s.log(origin).await,
            Store::Postgres(s) => s.log(origin).await,
        }
    }

    /// Every registered log, by origin.
    pub async fn logs(&self) -> Result<Vec<StoredLog>, StoreError> {
        match self {
            Store::Sqlite(s) => s.logs().await,
            Store::Postgres(s) => s.logs().await,
        }
    }

    /// Keeps `conflict`; `Ok(false)` when its log already has [`MAX_CONFLICTS_PER_LOG`].
    pub async fn record_conflict(&self, conflict: &Conflict) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(s) => s.record_conflict(conflict).await,
            Store::Postgres(s) => s.record_conflict(conflict).await,
        }
    }

    /// The conflicts kept, oldest first, for one log or all.
    pub async fn conflicts(&self, origin: Option<&str>) -> Result<Vec<Conflict>, StoreError> {
        match self {
            Store::Sqlite(s) => s.conflicts(origin).await,
            Store::Postgres(s) => s.conflicts(origin).await,
        }
    }

    /// Moves `origin` from exactly `from` to `to` (recording the signed `note` cosigned).
    /// `Ok(false)`: the stored state was no longer `from` — someone else moved it first —
    /// and nothing was written.
    pub async fn advance(
        &self,
        origin: &str,
        from: &TreeState,
        to: &TreeState,
        note: &str,
    ) -> Result<bool, StoreError> {
        let now = unix_now();
        match self {
            Store::Sqlite(s) => s.advance(origin, from, to, note, now).await,
            Store::Postgres(s) => s.advance(origin, from, to, note, now).await,
        }
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A tree size as stored (sizes above `i64::MAX` are refused by the request parser).
fn sql_size(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// The SQL columns of a conflict, in the order [`conflict_row`] takes them.
const CONFLICT_COLUMNS: &str = "origin, received_at, reason, cosigned_size, cosigned_root, \
     cosigned_note, old_size, size, root, request";

/// Builds a [`Conflict`] from its columns (sizes as stored).
#[allow(clippy::too_many_arguments)]
fn conflict_row(
    origin: String,
    received_at: i64,
    reason: String,
    cosigned_size: i64,
    cosigned_root: String,
    cosigned_note: Option<String>,
    old_size: i64,
    size: i64,
    root: String,
    request: String,
) -> Conflict {
    let size_of = |v: i64| u64::try_from(v).unwrap_or(0);
    Conflict {
        origin,
        received_at,
        reason,
        cosigned_size: size_of(cosigned_size),
        cosigned_root,
        cosigned_note,
        old_size: size_of(old_size),
        size: size_of(size),
        root,
        request,
    }
}

/// Builds a [`StoredLog`] from a row's columns.
fn decode_row(
    origin: String,
    key: &str,
    size: i64,
    root: &str,
    note: Option<String>,
) -> Result<StoredLog, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt { origin: origin.clone(), what };
    let key = PublicKey::parse(key, "public_key").map_err(|e| corrupt(e.to_string()))?;
    let size = u64::try_from(size).map_err(|_| corrupt(format!("size {size} is negative")))?;
    let root = Hash::from_base64(root)
        .ok_or_else(|| corrupt(format!("root {root:?} is not base64 of 32 bytes")))?;
    Ok(StoredLog { origin, key, state: TreeState { size, root }, note })
}

/// `AlreadyPresent` when `stored` (base64) is `key`, else the mismatch error.
fn same_key(origin: &str, stored: &str, key: &PublicKey) -> Result<AddedLog, StoreError> {
    if stored == key.to_base64() {
        return Ok(AddedLog::AlreadyPresent);
    }
    let stored =
        PublicKey::parse(stored, "public_key").map_or_else(|e| e.to_string(), |k| k.fingerprint());
    Err(StoreError::KeyMismatch { origin: origin.into(), stored })
}
