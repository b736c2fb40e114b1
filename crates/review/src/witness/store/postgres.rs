//! The PostgreSQL store, for several witness instances serving one fleet. A small pool of
//! connections per instance ([`crate::postgres::pool`]), each exchange bounded by
//! [`Timeouts::answer`]: a database that stalls (a table lock, a black-holed path) costs a
//! request a 503 within seconds, never a hang, and the connection that did not answer is
//! thrown away so that service resumes on fresh ones once the database is back. No TLS: the
//! database is reached on localhost or a private network.
//!
//! Migrations run in one transaction under a transaction-scoped advisory lock, so instances
//! starting together apply each migration exactly once. `advance` is a single compare-and-swap
//! `UPDATE` — atomic under PostgreSQL's default READ COMMITTED isolation, because a concurrent
//! update of the same row makes the second one re-check its `WHERE` against the committed row.
//! `record_conflict` counts and inserts in one transaction under a per-log advisory lock: a
//! lone `INSERT … WHERE (SELECT COUNT(*) …) < 100` is not enough, because two of them racing
//! each count the other's row as not yet committed and both insert.

use std::future::Future;

use deadpool_postgres::Object;
use tokio_postgres::error::Severity;
use tracing::warn;

use super::{
    conflict_row, decode_row, same_key, sql_size, AddedLog, Conflict, StoreError, StoredLog,
    CONFLICT_COLUMNS, MAX_CONFLICTS_PER_LOG, MIGRATIONS,
};
use crate::postgres::{Pool, Timeouts};
use crate::witness::decide::TreeState;
use edgeproof_evidence::keys::PublicKey;

/// Advisory lock key held while migrating ("edgeproof witness" in ASCII, truncated).
const MIGRATION_LOCK: i64 = 0x6564_6765_7769_746e;
/// First key of the two-key advisory lock serialising one log's conflict inserts (the
/// second is `hashtext(origin)`).
const CONFLICT_LOCK: i32 = 0x6570_6366; // "epcf"
/// Connections per witness instance.
pub const POOL_SIZE: usize = 16;

/// A witness database in PostgreSQL.
pub struct PgStore {
    pool: Pool,
    timeouts: Timeouts,
}

impl PgStore {
    /// Connects and migrates.
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        Self::open_with(url, Timeouts::default()).await
    }

    /// Connects with these timeouts and migrates.
    pub async fn open_with(url: &str, timeouts: Timeouts) -> Result<PgStore, StoreError> {
        let pool = crate::postgres::pool(url, "witness", &timeouts, POOL_SIZE)
            .map_err(|e| StoreError::Postgres(e.to_string()))?;
        let store = PgStore { pool, timeouts };
        let mut c = store.client().await?;
        // Waiting for another instance's migration may take longer than one statement.
        let migrated = tokio::time::timeout(timeouts.answer * 10, migrate(&mut c)).await;
        match migrated {
            Ok(r) => r?,
            Err(_) => {
                drop(Object::take(c));
                return Err(StoreError::Postgres(format!(
                    "migrating: no answer within {:?}",
                    timeouts.answer * 10
                )));
            }
        }
        Ok(store)
    }

    /// A connection from the pool (opened if none is free and the pool is not full).
    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Postgres(format!("connecting: {e}")))
    }

    /// The result of one exchange on `c` run under [`Self::deadline`]. A connection that did
    /// not answer in time is thrown away (its driver task aborted), and one that broke is
    /// dropped by the pool: the next request gets a fresh one.
    fn settle<T>(
        &self,
        c: Object,
        r: Result<Result<T, tokio_postgres::Error>, tokio::time::error::Elapsed>,
    ) -> Result<T, StoreError> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                let fatal = e
                    .as_db_error()
                    .and_then(|d| d.parsed_severity())
                    .is_some_and(|s| matches!(s, Severity::Fatal | Severity::Panic));
                if c.is_closed() || e.is_closed() || fatal {
                    warn!("witness: the PostgreSQL connection broke; reconnecting");
                    drop(Object::take(c));
                }
                Err(pg(e))
            }
            Err(_) => {
                warn!(
                    "witness: PostgreSQL did not answer within {:?}; dropping that connection",
                    self.timeouts.answer
                );
                drop(Object::take(c));
                Err(StoreError::Postgres(format!("no answer within {:?}", self.timeouts.answer)))
            }
        }
    }

    /// Runs `exchange` within [`Timeouts::answer`].
    async fn deadline<T, F: Future<Output = T>>(
        &self,
        exchange: F,
    ) -> Result<T, tokio::time::error::Elapsed> {
        tokio::time::timeout(self.timeouts.answer, exchange).await
    }

    /// Whether the database answers a trivial query now (`/healthz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let c = self.client().await?;
        let r = self.deadline(c.simple_query("SELECT 1")).await;
        self.settle(c, r).map(drop)
    }

    /// See [`super::Store::add_log`].
    pub async fn add_log(
        &self,
        origin: &str,
        key: &PublicKey,
        now: i64,
    ) -> Result<AddedLog, StoreError> {
        let c = self.client().await?;
        let empty = TreeState::empty().root.to_base64();
        let r = self
            .deadline(async {
                let inserted = c
                    .execute(
                        "INSERT INTO witness_logs (origin, public_key, size, root, note, added_at, updated_at)
                         VALUES ($1, $2, 0, $3, NULL, $4, $4) ON CONFLICT (origin) DO NOTHING",
                        &[&origin, &key.to_base64(), &empty, &now],
                    )
                    .await?;
                if inserted == 1 {
                    return Ok(None);
                }
                let row = c
                    .query_one("SELECT public_key FROM witness_logs WHERE origin = $1", &[&origin])
                    .await?;
                Ok(Some(row.get::<_, String>(0)))
            })
            .await;
        match self.settle(c, r)? {
            None => Ok(AddedLog::Added),
            Some(stored) => same_key(origin, &stored, key),
        }
    }

    /// See [`super::Store::log`].
    pub async fn log(&self, origin: &str) -> Result<Option<StoredLog>, StoreError> {
        let c = self.client().await?;
        let r = self
            .deadline(c.query_opt(
                "SELECT public_key, size, root, note FROM witness_logs WHERE origin = $1",
                &[&origin],
            ))
            .await;
        let row = self.settle(c, r)?;
        row.map(|r| decode_row(origin.into(), r.get(0), r.get(1), r.get(2), r.get(3))).transpose()
    }

    /// See [`super::Store::logs`].
    pub async fn logs(&self) -> Result<Vec<StoredLog>, StoreError> {
        let c = self.client().await?;
        let r = self
            .deadline(c.query(
                "SELECT origin, public_key, size, root, note FROM witness_logs ORDER BY origin",
                &[],
            ))
            .await;
        let rows = self.settle(c, r)?;
        rows.iter().map(|r| decode_row(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect()
    }

    /// See [`super::Store::record_conflict`]: count and insert under the log's advisory lock,
    /// in one transaction (READ COMMITTED: the count, run after the lock is held, sees every
    /// row committed by whoever held it before).
    pub async fn record_conflict(&self, conflict: &Conflict) -> Result<bool, StoreError> {
        let c = &conflict;
        let sql = format!(
            "INSERT INTO witness_conflicts ({CONFLICT_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        let mut client = self.client().await?;
        let r = self
            .deadline(async {
                let tx = client.transaction().await?;
                tx.execute(
                    "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                    &[&CONFLICT_LOCK, &c.origin],
                )
                .await?;
                let kept: i64 = tx
                    .query_one(
                        "SELECT COUNT(*) FROM witness_conflicts WHERE origin = $1",
                        &[&c.origin],
                    )
                    .await?
                    .get(0);
                if kept >= MAX_CONFLICTS_PER_LOG {
                    return Ok(false);
                }
                tx.execute(
                    &sql,
                    &[
                        &c.origin,
                        &c.received_at,
                        &c.reason,
                        &sql_size(c.cosigned_size),
                        &c.cosigned_root,
                        &c.cosigned_note,
                        &sql_size(c.old_size),
                        &sql_size(c.size),
                        &c.root,
                        &c.request,
                    ],
                )
                .await?;
                tx.commit().await?;
                Ok(true)
            })
            .await;
        self.settle(client, r)
    }

    /// See [`super::Store::conflicts`].
    pub async fn conflicts(&self, origin: Option<&str>) -> Result<Vec<Conflict>, StoreError> {
        let sql = format!(
            "SELECT {CONFLICT_COLUMNS} FROM witness_conflicts
             WHERE $1::text IS NULL OR origin = $1 ORDER BY received_at, size, old_size"
        );
        let c = self.client().await?;
        let r = self.deadline(c.query(&sql, &[&origin])).await;
        let rows = self.settle(c, r)?;
        Ok(rows
            .iter()
            .map(|r| {
                conflict_row(
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                    r.get(7),
                    r.get(8),
                    r.get(9),
                )
            })
            .collect())
    }

    /// See [`super::Store::advance`].
    pub async fn advance(
        &self,
        origin: &str,
        from: &TreeState,
        to: &TreeState,
        note: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let r = self
            .deadline(c.execute(
                "UPDATE witness_logs SET size = $4, root = $5, note = $6, updated_at = $7
                 WHERE origin = $1 AND size = $2 AND root = $3",
                &[
                    &origin,
                    &sql_size(from.size),
                    &from.root.to_base64(),
                    &sql_size(to.size),
                    &to.root.to_base64(),
                    &note,
                    &now,
                ],
            ))
            .await;
        Ok(self.settle(c, r)? == 1)
    }
}

async fn migrate(client: &mut tokio_postgres::Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS witness_schema (version BIGINT NOT NULL)")
        .await
        .map_err(pg)?;
    let version: i64 = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM witness_schema", &[])
        .await
        .map_err(pg)?
        .get(0);
    if version > MIGRATIONS.len() as i64 {
        return Err(StoreError::SchemaTooNew { found: version, known: MIGRATIONS.len() });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
        tx.batch_execute(sql).await.map_err(pg)?;
        tx.execute("INSERT INTO witness_schema (version) VALUES ($1)", &[&(i as i64 + 1)])
            .await
            .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres(crate::postgres::describe(&e))
}
