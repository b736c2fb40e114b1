//! The PostgreSQL store, for several witness instances serving one fleet. One connection per
//! instance (tokio-postgres pipelines concurrent queries on it), re-opened on the next request
//! after it broke. No TLS: the database is reached on localhost or a private network.
//!
//! Migrations run in one transaction under a transaction-scoped advisory lock, so instances
//! starting together apply each migration exactly once. `advance` is a single compare-and-swap
//! `UPDATE` — atomic under PostgreSQL's default READ COMMITTED isolation, because a concurrent
//! update of the same row makes the second one re-check its `WHERE` against the committed row.

use std::sync::Arc;

use tokio::sync::Mutex;
use tokio_postgres::Client;
use tracing::warn;

use super::{
    conflict_row, decode_row, same_key, sql_size, AddedLog, Conflict, StoreError, StoredLog,
    CONFLICT_COLUMNS, MAX_CONFLICTS_PER_LOG, MIGRATIONS,
};
use crate::witness::decide::TreeState;
use edgeproof_evidence::keys::PublicKey;

/// Advisory lock key held while migrating ("edgeproof witness" in ASCII, truncated).
const MIGRATION_LOCK: i64 = 0x6564_6765_7769_746e;

/// A witness database in PostgreSQL.
pub struct PgStore {
    url: String,
    client: Mutex<Arc<Client>>,
}

impl PgStore {
    /// Connects and migrates.
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let mut client = connect(url).await?;
        migrate(&mut client).await?;
        Ok(PgStore { url: url.into(), client: Mutex::new(Arc::new(client)) })
    }

    /// The connection, re-opened if it broke.
    async fn client(&self) -> Result<Arc<Client>, StoreError> {
        let mut guard = self.client.lock().await;
        if guard.is_closed() {
            warn!("witness: the PostgreSQL connection broke; reconnecting");
            *guard = Arc::new(connect(&self.url).await?);
        }
        Ok(Arc::clone(&guard))
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
        let inserted = c
            .execute(
                "INSERT INTO witness_logs (origin, public_key, size, root, note, added_at, updated_at)
                 VALUES ($1, $2, 0, $3, NULL, $4, $4) ON CONFLICT (origin) DO NOTHING",
                &[&origin, &key.to_base64(), &empty, &now],
            )
            .await
            .map_err(pg)?;
        if inserted == 1 {
            return Ok(AddedLog::Added);
        }
        let row = c
            .query_one("SELECT public_key FROM witness_logs WHERE origin = $1", &[&origin])
            .await
            .map_err(pg)?;
        same_key(origin, row.get(0), key)
    }

    /// See [`super::Store::log`].
    pub async fn log(&self, origin: &str) -> Result<Option<StoredLog>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT public_key, size, root, note FROM witness_logs WHERE origin = $1",
                &[&origin],
            )
            .await
            .map_err(pg)?;
        row.map(|r| decode_row(origin.into(), r.get(0), r.get(1), r.get(2), r.get(3))).transpose()
    }

    /// See [`super::Store::logs`].
    pub async fn logs(&self) -> Result<Vec<StoredLog>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT origin, public_key, size, root, note FROM witness_logs ORDER BY origin",
                &[],
            )
            .await
            .map_err(pg)?;
        rows.iter().map(|r| decode_row(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect()
    }

    /// See [`super::Store::record_conflict`].
    pub async fn record_conflict(&self, c: &Conflict) -> Result<bool, StoreError> {
        let sql = format!(
            "INSERT INTO witness_conflicts ({CONFLICT_COLUMNS})
             SELECT $1::text, $2::bigint, $3::text, $4::bigint, $5::text, $6::text, $7::bigint,
                    $8::bigint, $9::text, $10::text
             WHERE (SELECT COUNT(*) FROM witness_conflicts WHERE origin = $1) < $11"
        );
        let n = self
            .client()
            .await?
            .execute(
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
                    &MAX_CONFLICTS_PER_LOG,
                ],
            )
            .await
            .map_err(pg)?;
        Ok(n == 1)
    }

    /// See [`super::Store::conflicts`].
    pub async fn conflicts(&self, origin: Option<&str>) -> Result<Vec<Conflict>, StoreError> {
        let sql = format!(
            "SELECT {CONFLICT_COLUMNS} FROM witness_conflicts
             WHERE $1::text IS NULL OR origin = $1 ORDER BY received_at, size, old_size"
        );
        let rows = self.client().await?.query(&sql, &[&origin]).await.map_err(pg)?;
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
        let changed = self
            .client()
            .await?
            .execute(
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
            )
            .await
            .map_err(pg)?;
        Ok(changed == 1)
    }
}

async fn connect(url: &str) -> Result<Client, StoreError> {
    crate::postgres::connect(url, "witness").await.map_err(pg)
}

async fn migrate(client: &mut Client) -> Result<(), StoreError> {
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
