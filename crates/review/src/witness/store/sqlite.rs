//! The SQLite store: one file, WAL, `synchronous = FULL` (a cosignature is answered only after
//! its state is on disk). Several processes may share the file: writes are serialised by
//! SQLite's lock (waited for up to [`BUSY_TIMEOUT`]) and each `advance` is one atomic
//! compare-and-swap `UPDATE`. Work runs on tokio's blocking pool, one statement at a time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use super::{
    conflict_row, decode_row, same_key, sql_size, AddedLog, Conflict, StoreError, StoredLog,
    CONFLICT_COLUMNS, MAX_CONFLICTS_PER_LOG, MIGRATIONS,
};
use crate::witness::decide::TreeState;
use edgeproof_evidence::keys::PublicKey;

/// How long a statement waits for another process's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A witness database in a SQLite file.
pub struct SqliteStore {
    path: String,
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the file and migrates it.
    pub async fn open(path: &str) -> Result<SqliteStore, StoreError> {
        let p = path.to_string();
        let conn = blocking(path, move || {
            let mut conn = Connection::open(&p)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            Ok(migrate(&mut conn)?.map(|()| conn))
        })
        .await??;
        Ok(SqliteStore { path: path.into(), conn: Arc::new(Mutex::new(conn)) })
    }

    /// See [`super::Store::add_log`].
    pub async fn add_log(
        &self,
        origin: &str,
        key: &PublicKey,
        now: i64,
    ) -> Result<AddedLog, StoreError> {
        let (origin, key) = (origin.to_string(), *key);
        let conn = Arc::clone(&self.conn);
        let empty = TreeState::empty().root.to_base64();
        blocking(&self.path, move || {
            let conn = lock(&conn);
            let inserted = conn.execute(
                "INSERT INTO witness_logs (origin, public_key, size, root, note, added_at, updated_at)
                 VALUES (?1, ?2, 0, ?3, NULL, ?4, ?4) ON CONFLICT (origin) DO NOTHING",
                params![origin, key.to_base64(), empty, now],
            )?;
            if inserted == 1 {
                return Ok(Ok(AddedLog::Added));
            }
            let stored: String = conn.query_row(
                "SELECT public_key FROM witness_logs WHERE origin = ?1",
                [&origin],
                |r| r.get(0),
            )?;
            Ok(same_key(&origin, &stored, &key))
        })
        .await?
    }

    /// See [`super::Store::log`].
    pub async fn log(&self, origin: &str) -> Result<Option<StoredLog>, StoreError> {
        let origin = origin.to_string();
        let conn = Arc::clone(&self.conn);
        blocking(&self.path, move || {
            let row = lock(&conn)
                .query_row(
                    "SELECT public_key, size, root, note FROM witness_logs WHERE origin = ?1",
                    [&origin],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, Option<String>>(3)?,
                        ))
                    },
                )
                .optional()?;
            Ok(row
                .map(|(key, size, root, note)| decode_row(origin, &key, size, &root, note))
                .transpose())
        })
        .await?
    }

    /// See [`super::Store::logs`].
    pub async fn logs(&self) -> Result<Vec<StoredLog>, StoreError> {
        let conn = Arc::clone(&self.conn);
        blocking(&self.path, move || {
            let conn = lock(&conn);
            let mut stmt = conn.prepare(
                "SELECT origin, public_key, size, root, note FROM witness_logs ORDER BY origin",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get(1)?,
                        r.get::<_, i64>(2)?,
                        r.get(3)?,
                        r.get(4)?,
                    ))
                })?
                .collect::<Result<Vec<(String, String, i64, String, Option<String>)>, _>>()?;
            Ok(rows.into_iter().map(|(o, k, s, r, n)| decode_row(o, &k, s, &r, n)).collect())
        })
        .await?
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
        let (origin, note) = (origin.to_string(), note.to_string());
        let (from, to) = (*from, *to);
        let conn = Arc::clone(&self.conn);
        blocking(&self.path, move || {
            let changed = lock(&conn).execute(
                "UPDATE witness_logs SET size = ?4, root = ?5, note = ?6, updated_at = ?7
                 WHERE origin = ?1 AND size = ?2 AND root = ?3",
                params![
                    origin,
                    sql_size(from.size),
                    from.root.to_base64(),
                    sql_size(to.size),
                    to.root.to_base64(),
                    note,
                    now
                ],
            )?;
            Ok(Ok(changed == 1))
        })
        .await?
    }
}

impl SqliteStore {
    /// See [`super::Store::ping`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        let conn = Arc::clone(&self.conn);
        blocking(&self.path, move || {
            lock(&conn)
                .query_row("SELECT COUNT(*) FROM witness_logs", [], |r| r.get::<_, i64>(0))?;
            Ok(Ok(()))
        })
        .await?
    }

    /// See [`super::Store::record_conflict`]: one `INSERT … SELECT … WHERE count < cap`
    /// statement. It writes, so SQLite takes the database's write lock before it reads: the
    /// count and the insert are atomic across connections and processes.
    pub async fn record_conflict(&self, c: &Conflict) -> Result<bool, StoreError> {
        let c = c.clone();
        let conn = Arc::clone(&self.conn);
        blocking(&self.path, move || {
            let sql = format!(
                "INSERT INTO witness_conflicts ({CONFLICT_COLUMNS})
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
                 WHERE (SELECT COUNT(*) FROM witness_conflicts WHERE origin = ?1) < ?11"
            );
            let n = lock(&conn).execute(
                &sql,
                params![
                    c.origin,
                    c.received_at,
                    c.reason,
                    sql_size(c.cosigned_size),
                    c.cosigned_root,
                    c.cosigned_note,
                    sql_size(c.old_size),
                    sql_size(c.size),
                    c.root,
                    c.request,
                    MAX_CONFLICTS_PER_LOG
                ],
            )?;
            Ok(Ok(n == 1))
        })
        .await?
    }

    /// See [`super::Store::conflicts`].
    pub async fn conflicts(&self, origin: Option<&str>) -> Result<Vec<Conflict>, StoreError> {
        let origin = origin.map(str::to_string);
        let conn = Arc::clone(&self.conn);
        blocking(&self.path, move || {
            let conn = lock(&conn);
            let mut stmt = conn.prepare(&format!(
                "SELECT {CONFLICT_COLUMNS} FROM witness_conflicts
                 WHERE ?1 IS NULL OR origin = ?1 ORDER BY received_at, size, old_size"
            ))?;
            let rows = stmt
                .query_map([&origin], |r| {
                    Ok(conflict_row(
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                        r.get(9)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Ok(rows))
        })
        .await?
    }
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<Result<(), StoreError>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS witness_schema (version BIGINT NOT NULL)")?;
    let version: i64 =
        tx.query_row("SELECT COALESCE(MAX(version), 0) FROM witness_schema", [], |r| r.get(0))?;
    if version > MIGRATIONS.len() as i64 {
        return Ok(Err(StoreError::SchemaTooNew { found: version, known: MIGRATIONS.len() }));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
        tx.execute_batch(sql)?;
        tx.execute("INSERT INTO witness_schema (version) VALUES (?1)", [i as i64 + 1])?;
    }
    tx.commit()?;
    Ok(Ok(()))
}

/// The connection, even if a panicking holder poisoned the lock (SQLite itself stays
/// consistent: a statement interrupted by a panic is rolled back).
fn lock(conn: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs SQLite work on the blocking pool; maps SQLite errors to [`StoreError::Sqlite`].
async fn blocking<T: Send + 'static>(
    path: &str,
    f: impl FnOnce() -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, StoreError> {
    let err = |message: String| StoreError::Sqlite { path: path.into(), message };
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(err(e.to_string())),
        Err(e) => Err(err(format!("database task failed: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeproof_evidence::keys::GatewayKey;
    use edgeproof_evidence::merkle::leaf_hash;

    #[tokio::test]
    async fn add_log_advance_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite3").display().to_string();
        let store = SqliteStore::open(&path).await.unwrap();
        let key = GatewayKey::from_seed([1; 32]).public();
        assert_eq!(store.add_log("o", &key, 1).await.unwrap(), AddedLog::Added);
        assert_eq!(store.add_log("o", &key, 2).await.unwrap(), AddedLog::AlreadyPresent);
        let other = GatewayKey::from_seed([2; 32]).public();
        assert!(matches!(store.add_log("o", &other, 3).await, Err(StoreError::KeyMismatch { .. })));
        let log = store.log("o").await.unwrap().unwrap();
        assert_eq!(log.state, TreeState::empty());
        assert_eq!(log.key, key);
        assert!(store.log("nope").await.unwrap().is_none());

        let a = TreeState { size: 5, root: leaf_hash(b"a") };
        let b = TreeState { size: 5, root: leaf_hash(b"b") };
        assert!(store.advance("o", &TreeState::empty(), &a, "n", 4).await.unwrap());
        // Compare-and-swap: a second move from the old state fails and changes nothing.
        assert!(!store.advance("o", &TreeState::empty(), &b, "n", 5).await.unwrap());
        drop(store);
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.log("o").await.unwrap().unwrap().state, a);
        assert_eq!(store.logs().await.unwrap().len(), 1);
    }

    fn conflict(n: u64) -> Conflict {
        Conflict {
            origin: "o".into(),
            received_at: 1,
            reason: "fork".into(),
            cosigned_size: 5,
            cosigned_root: leaf_hash(b"a").to_base64(),
            cosigned_note: Some("note".into()),
            old_size: 5,
            size: n,
            root: leaf_hash(b"b").to_base64(),
            request: "old 5\n\n…".into(),
        }
    }

    #[tokio::test]
    async fn conflicts_are_kept_up_to_the_cap_per_log() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(&dir.path().join("w.sqlite3").display().to_string()).await.unwrap();
        for n in 0..MAX_CONFLICTS_PER_LOG as u64 {
            assert!(store.record_conflict(&conflict(n)).await.unwrap(), "conflict {n}");
        }
        assert!(!store.record_conflict(&conflict(1000)).await.unwrap(), "cap exceeded");
        let mut other = conflict(1);
        other.origin = "p".into();
        assert!(store.record_conflict(&other).await.unwrap(), "the cap is per log");
        let kept = store.conflicts(Some("o")).await.unwrap();
        assert_eq!(kept.len() as i64, MAX_CONFLICTS_PER_LOG);
        assert_eq!(kept[3], conflict(3));
        assert_eq!(store.conflicts(None).await.unwrap().len() as i64, MAX_CONFLICTS_PER_LOG + 1);
    }

    #[tokio::test]
    async fn a_version_1_database_is_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite3").display().to_string();
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "CREATE TABLE witness_schema (version BIGINT NOT NULL);
                 INSERT INTO witness_schema VALUES (1);
                 INSERT INTO witness_logs VALUES ('o', 'k', 0, 'r', NULL, 0, 0);",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).await.unwrap();
        assert!(store.record_conflict(&conflict(1)).await.unwrap());
        let conn = lock(&store.conn);
        let versions: Vec<i64> = conn
            .prepare("SELECT version FROM witness_schema ORDER BY version")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(versions, vec![1, 2]);
        let origin: String =
            conn.query_row("SELECT origin FROM witness_logs", [], |r| r.get(0)).unwrap();
        assert_eq!(origin, "o", "the old rows are kept");
    }
}
