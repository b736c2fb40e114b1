//! The archive behind `--db`: a SQLite file (the default) or a PostgreSQL database
//! (`postgres://…`), the same operations on both.

use std::path::PathBuf;

use super::error::ArchiveError;
use super::model::{Anomaly, AnomalyKind, Arrival, BatchOutcome, Registration, Span};
use super::postgres::PgArchive;
use super::sqlite::SqliteArchive;
use super::summary::GatewayRow;

/// An open, migrated archive.
#[derive(Clone)]
pub enum Archive {
    /// A SQLite file.
    Sqlite(SqliteArchive),
    /// A PostgreSQL database.
    Postgres(PgArchive),
}

impl Archive {
    /// Opens `--db`: `postgres://…` or `postgresql://…` for PostgreSQL, anything else is a
    /// SQLite file path (`sqlite://` prefix optional). Applies pending migrations.
    pub async fn open(db: &str) -> Result<Archive, ArchiveError> {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            return Ok(Archive::Postgres(PgArchive::open(db).await?));
        }
        let path = db.strip_prefix("sqlite://").unwrap_or(db);
        if path.is_empty() {
            return Err(ArchiveError::BadUrl { url: db.into(), why: "empty path".into() });
        }
        Ok(Archive::Sqlite(SqliteArchive::open(&PathBuf::from(path)).await?))
    }

    /// [`Archive::open`] for readers (`report --db`, `fleet`): a SQLite path that does not
    /// exist is an error instead of a new, empty archive.
    pub async fn open_existing(db: &str) -> Result<Archive, ArchiveError> {
        let is_pg = db.starts_with("postgres://") || db.starts_with("postgresql://");
        let path = db.strip_prefix("sqlite://").unwrap_or(db);
        if !is_pg && !std::path::Path::new(path).exists() {
            return Err(ArchiveError::BadUrl {
                url: db.into(),
                why: "no archive there (edgeproof collect creates one)".into(),
            });
        }
        Archive::open(db).await
    }

    /// The applied schema version.
    pub async fn schema_version(&self) -> Result<i64, ArchiveError> {
        match self {
            Archive::Sqlite(a) => a.schema_version().await,
            Archive::Postgres(a) => a.schema_version().await,
        }
    }

    /// Registers a gateway (or updates its city, enterprise and project).
    pub async fn register(&self, reg: Registration) -> Result<(), ArchiveError> {
        match self {
            Archive::Sqlite(a) => a.register(reg, now_ms()).await,
            Archive::Postgres(a) => a.register(reg, now_ms()).await,
        }
    }

    /// Every registration, by gateway id.
    pub async fn registrations(&self) -> Result<Vec<Registration>, ArchiveError> {
        match self {
            Archive::Sqlite(a) => a.registrations().await,
            Archive::Postgres(a) => a.registrations().await,
        }
    }

    /// Stores a batch of verified arrivals in one transaction.
    pub async fn ingest(&self, arrivals: Vec<Arrival>) -> Result<BatchOutcome, ArchiveError> {
        match self {
            Archive::Sqlite(a) => a.ingest(arrivals, now_ms()).await,
            Archive::Postgres(a) => a.bounded("ingest", a.ingest(arrivals, now_ms())).await,
        }
    }

    /// Up to `limit` stored records (seq, canonical JSON) of `origin` after `after`.
    pub async fn records(
        &self,
        origin: &str,
        after: Option<u64>,
        limit: u64,
    ) -> Result<Vec<(u64, String)>, ArchiveError> {
        match self {
            Archive::Sqlite(a) => a.records(origin.into(), after, limit).await,
            Archive::Postgres(a) => a.records(origin, after, limit).await,
        }
    }

    /// Stored checkpoint notes (size, note) of `origin`.
    pub async fn checkpoints(&self, origin: &str) -> Result<Vec<(u64, String)>, ArchiveError> {
        match self {
            Archive::Sqlite(a) => a.checkpoints(origin.into()).await,
            Archive::Postgres(a) => a.checkpoints(origin).await,
        }
    }

    /// Signature lines kept apart for `origin`'s checkpoints (size, line): neither the
    /// gateway's nor a trusted witness's verified cosignature.
    pub async fn unverified_signatures(
        &self,
        origin: &str,
    ) -> Result<Vec<(u64, String)>, ArchiveError> {
        let rows = match self {
            Archive::Sqlite(a) => a.unverified(origin.into()).await?,
            Archive::Postgres(a) => a.unverified(origin).await?,
        };
        Ok(rows
            .into_iter()
            .flat_map(|(size, text)| {
                text.lines()
                    .filter(|l| !l.is_empty())
                    .map(|l| (size, l.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect())
    }

    /// Registers a witness whose cosignatures the collector verifies (C2SP vkey, type 0x04),
    /// or replaces the key of one registered under the same name.
    pub async fn register_witness(&self, name: &str, vkey: &str) -> Result<(), ArchiveError> {
        match self {
            Archive::Sqlite(a) => a.register_witness(name.into(), vkey.into(), now_ms()).await,
            Archive::Postgres(a) => a.register_witness(name, vkey, now_ms()).await,
        }
    }

    /// The registered witnesses' vkeys.
    pub async fn witnesses(&self) -> Result<Vec<String>, ArchiveError> {
        match self {
            Archive::Sqlite(a) => a.witnesses().await,
            Archive::Postgres(a) => a.witnesses().await,
        }
    }

    /// Stored anomalies of `origin` (or all).
    pub async fn anomalies(&self, origin: Option<&str>) -> Result<Vec<Anomaly>, ArchiveError> {
        match self {
            Archive::Sqlite(a) => a.anomalies(origin.map(str::to_string)).await,
            Archive::Postgres(a) => a.anomalies(origin).await,
        }
    }

    /// Per-gateway figures for the fleet view; coverage from UTC day `from_day` on.
    pub async fn gateway_rows(&self, from_day: i64) -> Result<Vec<GatewayRow>, ArchiveError> {
        match self {
            Archive::Sqlite(a) => a.gateway_rows(from_day).await,
            Archive::Postgres(a) => a.gateway_rows(from_day).await,
        }
    }
}

/// Unix time in ms.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Refuses to change a registered gateway's origin or key: evidence already stored was
/// verified under them.
pub(super) fn check_reregistration(
    reg: &Registration,
    existing: Option<(String, String)>,
) -> Result<(), ArchiveError> {
    if let Some((origin, key)) = existing {
        let why = if origin != reg.origin {
            format!("already registered with origin {origin:?}, not {:?}", reg.origin)
        } else if key != reg.public_key {
            "already registered with another public key; evidence stored was verified under \
             it, so it cannot be replaced"
                .to_string()
        } else {
            return Ok(());
        };
        return Err(ArchiveError::Registration { gateway: reg.gateway.clone(), why });
    }
    Ok(())
}

/// The words stored with a gap row.
pub(super) fn gap_detail(g: Span) -> String {
    format!("{} record(s) missing: {g}", g.len())
}

/// Builds an [`Anomaly`] from stored columns.
#[allow(clippy::too_many_arguments)]
pub(super) fn anomaly_row(
    db: &str,
    origin: String,
    kind: &str,
    first: Option<i64>,
    last: Option<i64>,
    detail: String,
    count: i64,
    first_seen_ms: i64,
    topic: Option<String>,
    claimed_origin: Option<String>,
) -> Result<Anomaly, ArchiveError> {
    let kind = AnomalyKind::parse(kind).ok_or_else(|| ArchiveError::Corrupt {
        db: db.to_string(),
        what: format!("unknown anomaly kind {kind:?}"),
    })?;
    let seqs = match (first, last) {
        (Some(f), Some(l)) => Some(Span { first: f as u64, last: l as u64 }),
        _ => None,
    };
    Ok(Anomaly {
        origin,
        kind,
        seqs,
        detail,
        count: count as u64,
        first_seen_ms: first_seen_ms as u64,
        topic,
        claimed_origin,
    })
}
