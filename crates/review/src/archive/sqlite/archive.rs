//! The SQLite archive: opening and migrating the file, registrations, and the queries the
//! reports need.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::archive::error::ArchiveError;
use crate::archive::migrate::{self, CREATE_VERSION_TABLE};
use crate::archive::model::{Anomaly, AnomalyKind, Arrival, BatchOutcome, Registration};
use crate::archive::summary::{add_span, GatewayRow, LastCheckpoint, SPANS_SQL};
use edgeproof_evidence::merkle::Hash;

/// An open SQLite archive.
#[derive(Clone)]
pub struct SqliteArchive {
    path: Arc<str>,
    conn: Arc<Mutex<Connection>>,
}

pub(super) type Res<T> = Result<T, ArchiveError>;

impl SqliteArchive {
    /// Opens (creating if needed) and migrates the archive at `path`.
    pub async fn open(path: &Path) -> Res<SqliteArchive> {
        let p = path.display().to_string();
        let path = path.to_path_buf();
        let conn = tokio::task::spawn_blocking(move || -> Res<Connection> {
            let err = |op| {
                let p = path.display().to_string();
                move |source| ArchiveError::Sqlite { path: p, op, source }
            };
            let mut conn = Connection::open(&path).map_err(err("open"))?;
            conn.busy_timeout(Duration::from_secs(30)).map_err(err("open"))?;
            conn.pragma_update(None, "journal_mode", "WAL").map_err(err("enable WAL"))?;
            conn.pragma_update(None, "synchronous", "FULL").map_err(err("open"))?;
            migrate_sqlite(&mut conn, &path.display().to_string())?;
            Ok(conn)
        })
        .await
        .map_err(|e| ArchiveError::Task(e.to_string()))??;
        Ok(SqliteArchive { path: p.into(), conn: Arc::new(Mutex::new(conn)) })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &str) -> Res<T> + Send + 'static,
    ) -> Res<T> {
        let (conn, path) = (self.conn.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c, &path)
        })
        .await
        .map_err(|e| ArchiveError::Task(e.to_string()))?
    }

    /// The schema version.
    pub async fn schema_version(&self) -> Res<i64> {
        self.with(|c, p| {
            c.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_version", [], |r| r.get(0))
                .map_err(e(p, "read schema version"))
        })
        .await
    }

    /// Registers a gateway, or updates its city/enterprise/project. A different key or
    /// origin for a registered gateway is refused.
    pub async fn register(&self, reg: Registration, now_ms: u64) -> Res<()> {
        self.with(move |c, p| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(e(p, "register"))?;
            let existing: Option<(String, String)> = tx
                .query_row(
                    "SELECT origin, public_key FROM gateways WHERE gateway = ?1",
                    [&reg.gateway],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(e(p, "register"))?;
            crate::archive::store::check_reregistration(&reg, existing)?;
            let taken: Option<String> = tx
                .query_row("SELECT gateway FROM gateways WHERE origin = ?1 AND gateway <> ?2", [&reg.origin, &reg.gateway], |r| r.get(0))
                .optional()
                .map_err(e(p, "register"))?;
            if let Some(other) = taken {
                return Err(ArchiveError::Registration {
                    gateway: reg.gateway.clone(),
                    why: format!("origin {:?} is already registered to gateway {other:?}", reg.origin),
                });
            }
            let taken: Option<String> = tx
                .query_row("SELECT gateway FROM gateways WHERE topic_prefix = ?1 AND gateway <> ?2", [&reg.topic_prefix, &reg.gateway], |r| r.get(0))
                .optional()
                .map_err(e(p, "register"))?;
            if let Some(other) = taken {
                return Err(ArchiveError::Registration {
                    gateway: reg.gateway.clone(),
                    why: format!("topic prefix {:?} is already registered to gateway {other:?}", reg.topic_prefix),
                });
            }
            tx.execute(
                "INSERT INTO gateways (gateway, origin, public_key, city, enterprise, project, registered_ms, topic_prefix, mqtt_user)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (gateway) DO UPDATE SET city = excluded.city,
                     enterprise = excluded.enterprise, project = excluded.project,
                     topic_prefix = excluded.topic_prefix, mqtt_user = excluded.mqtt_user",
                params![reg.gateway, reg.origin, reg.public_key, reg.city, reg.enterprise, reg.project, now_ms as i64, reg.topic_prefix, reg.mqtt_user],
            )
            .map_err(e(p, "register"))?;
            tx.commit().map_err(e(p, "register"))
        })
        .await
    }

    /// Every registration.
    pub async fn registrations(&self) -> Res<Vec<Registration>> {
        self.with(|c, p| {
            let mut st = c
                .prepare("SELECT gateway, origin, public_key, city, enterprise, project, topic_prefix, mqtt_user FROM gateways ORDER BY gateway")
                .map_err(e(p, "read gateways"))?;
            let rows = st
                .query_map([], |r| {
                    Ok(Registration {
                        gateway: r.get(0)?,
                        origin: r.get(1)?,
                        public_key: r.get(2)?,
                        city: r.get(3)?,
                        enterprise: r.get(4)?,
                        project: r.get(5)?,
                        topic_prefix: r.get(6)?,
                        mqtt_user: r.get(7)?,
                    })
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(e(p, "read gateways"))?;
            Ok(rows)
        })
        .await
    }

    /// Stores a batch in one transaction (see [`crate::archive::plan`] for the rules).
    pub async fn ingest(&self, arrivals: Vec<Arrival>, now_ms: u64) -> Res<BatchOutcome> {
        self.with(move |c, p| super::ingest::ingest(c, p, arrivals, now_ms)).await
    }

    /// Up to `limit` stored records of `origin` with seq > `after`, in seq order.
    pub async fn records(
        &self,
        origin: String,
        after: Option<u64>,
        limit: u64,
    ) -> Res<Vec<(u64, String)>> {
        self.with(move |c, p| {
            let mut st = c
                .prepare_cached("SELECT seq, body FROM records WHERE origin = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")
                .map_err(e(p, "read records"))?;
            let after = after.map_or(-1, |a| a as i64);
            let rows = st
                .query_map(params![origin, after, limit as i64], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(e(p, "read records"))?;
            Ok(rows)
        })
        .await
    }

    /// The stored checkpoint notes of `origin`, by size.
    pub async fn checkpoints(&self, origin: String) -> Res<Vec<(u64, String)>> {
        self.with(move |c, p| {
            let mut st = c
                .prepare("SELECT size, note FROM checkpoints WHERE origin = ?1 ORDER BY size")
                .map_err(e(p, "read checkpoints"))?;
            let rows = st
                .query_map([origin], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(e(p, "read checkpoints"))?;
            Ok(rows)
        })
        .await
    }

    /// The unverified signature lines of `origin`'s checkpoints, by size.
    pub async fn unverified(&self, origin: String) -> Res<Vec<(u64, String)>> {
        self.with(move |c, p| {
            let mut st = c
                .prepare("SELECT size, unverified FROM checkpoints WHERE origin = ?1 AND unverified <> '' ORDER BY size")
                .map_err(e(p, "read checkpoints"))?;
            let rows = st
                .query_map([origin], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(e(p, "read checkpoints"))?;
            Ok(rows)
        })
        .await
    }

    /// See [`crate::archive::Archive::register_witness`].
    pub async fn register_witness(&self, name: String, vkey: String, now_ms: u64) -> Res<()> {
        self.with(move |c, p| {
            c.execute(
                "INSERT INTO witnesses (name, vkey, registered_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET vkey = excluded.vkey",
                params![name, vkey, now_ms as i64],
            )
            .map(|_| ())
            .map_err(e(p, "register witness"))
        })
        .await
    }

    /// See [`crate::archive::Archive::witnesses`].
    pub async fn witnesses(&self) -> Res<Vec<String>> {
        self.with(|c, p| {
            let mut st = c
                .prepare("SELECT vkey FROM witnesses ORDER BY name")
                .map_err(e(p, "read witnesses"))?;
            let rows = st
                .query_map([], |r| r.get::<_, String>(0))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(e(p, "read witnesses"))?;
            Ok(rows)
        })
        .await
    }

    /// Stored anomalies, of one origin or all, by origin, kind and seq.
    pub async fn anomalies(&self, origin: Option<String>) -> Res<Vec<Anomaly>> {
        self.with(move |c, p| {
            let mut st = c
                .prepare(
                    "SELECT origin, kind, first_seq, last_seq, detail, count, first_seen_ms, topic, claimed_origin
                     FROM anomalies WHERE ?1 IS NULL OR origin = ?1 ORDER BY origin, kind, first_seq, id",
                )
                .map_err(e(p, "read anomalies"))?;
            let rows = st
                .query_map([origin], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, Option<String>>(7)?,
                        r.get::<_, Option<String>>(8)?,
                    ))
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(e(p, "read anomalies"))?;
            rows.into_iter()
                .map(|(origin, kind, f, l, detail, count, seen, topic, claimed)| {
                    crate::archive::store::anomaly_row(
                        p, origin, &kind, f, l, detail, count, seen, topic, claimed,
                    )
                })
                .collect()
        })
        .await
    }

    /// The fleet view's figures for every gateway; coverage from UTC day `from_day` on.
    pub async fn gateway_rows(&self, from_day: i64) -> Res<Vec<GatewayRow>> {
        self.with(move |c, p| {
            let err = e(p, "read the fleet summary");
            let mut rows: Vec<GatewayRow> = Vec::new();
            {
                let mut st = c
                    .prepare(
                        "SELECT gateway, origin, public_key, city, enterprise, project, records, horizon,
                                first_wall_ms, last_wall_ms, last_received_ms, topic_prefix, mqtt_user
                         FROM gateways ORDER BY gateway",
                    )
                    .map_err(err)?;
                let mut q = st.query([]).map_err(e(p, "read gateways"))?;
                while let Some(r) = q.next().map_err(e(p, "read gateways"))? {
                    let get = |i| r.get::<_, Option<i64>>(i).map(|v| v.map(|v| v as u64));
                    rows.push(GatewayRow {
                        reg: Registration {
                            gateway: r.get(0).map_err(e(p, "read gateways"))?,
                            origin: r.get(1).map_err(e(p, "read gateways"))?,
                            public_key: r.get(2).map_err(e(p, "read gateways"))?,
                            city: r.get(3).map_err(e(p, "read gateways"))?,
                            enterprise: r.get(4).map_err(e(p, "read gateways"))?,
                            project: r.get(5).map_err(e(p, "read gateways"))?,
                            topic_prefix: r.get(11).map_err(e(p, "read gateways"))?,
                            mqtt_user: r.get(12).map_err(e(p, "read gateways"))?,
                        },
                        records: get(6).map_err(e(p, "read gateways"))?.unwrap_or(0),
                        horizon: get(7).map_err(e(p, "read gateways"))?,
                        first_wall_ms: get(8).map_err(e(p, "read gateways"))?,
                        last_wall_ms: get(9).map_err(e(p, "read gateways"))?,
                        last_received_ms: get(10).map_err(e(p, "read gateways"))?,
                        covered_by_day: BTreeMap::new(),
                        last_checkpoint: None,
                        anomalies: BTreeMap::new(),
                        spans: BTreeMap::new(),
                    });
                }
            }
            let index: HashMap<String, usize> =
                rows.iter().enumerate().map(|(i, r)| (r.reg.origin.clone(), i)).collect();
            let mut st = c
                .prepare("SELECT origin, day, covered_ms FROM coverage_days WHERE day >= ?1")
                .map_err(e(p, "read coverage"))?;
            let mut q = st.query([from_day]).map_err(e(p, "read coverage"))?;
            while let Some(r) = q.next().map_err(e(p, "read coverage"))? {
                let origin: String = r.get(0).map_err(e(p, "read coverage"))?;
                if let Some(&i) = index.get(&origin) {
                    let day: i64 = r.get(1).map_err(e(p, "read coverage"))?;
                    let ms: i64 = r.get(2).map_err(e(p, "read coverage"))?;
                    rows[i].covered_by_day.insert(day, ms as u64);
                }
            }
            let mut st = c
                .prepare(
                    "SELECT c.origin, c.size, c.signatures, c.received_ms, c.root_checked, c.note, c.unverified FROM checkpoints c
                     JOIN (SELECT origin, MAX(size) AS size FROM checkpoints GROUP BY origin) m
                       ON m.origin = c.origin AND m.size = c.size",
                )
                .map_err(e(p, "read checkpoints"))?;
            let mut q = st.query([]).map_err(e(p, "read checkpoints"))?;
            while let Some(r) = q.next().map_err(e(p, "read checkpoints"))? {
                let origin: String = r.get(0).map_err(e(p, "read checkpoints"))?;
                if let Some(&i) = index.get(&origin) {
                    let g = |k| r.get::<_, i64>(k).map_err(e(p, "read checkpoints"));
                    rows[i].last_checkpoint = Some(LastCheckpoint {
                        size: g(1)? as u64,
                        signatures: g(2)? as u64,
                        received_ms: g(3)? as u64,
                        root_checked: g(4)?,
                        note: r.get(5).map_err(e(p, "read checkpoints"))?,
                        unverified: r.get(6).map_err(e(p, "read checkpoints"))?,
                    });
                }
            }
            let mut st = c
                .prepare(
                    "SELECT origin, kind, COUNT(*), SUM(COALESCE(last_seq - first_seq + 1, 0))
                     FROM anomalies GROUP BY origin, kind",
                )
                .map_err(e(p, "read anomalies"))?;
            let mut q = st.query([]).map_err(e(p, "read anomalies"))?;
            while let Some(r) = q.next().map_err(e(p, "read anomalies"))? {
                let origin: String = r.get(0).map_err(e(p, "read anomalies"))?;
                let kind: String = r.get(1).map_err(e(p, "read anomalies"))?;
                let n: i64 = r.get(2).map_err(e(p, "read anomalies"))?;
                let seqs: i64 = r.get(3).map_err(e(p, "read anomalies"))?;
                if let (Some(&i), Some(k)) = (index.get(&origin), AnomalyKind::parse(&kind)) {
                    rows[i].anomalies.insert(k, (n as u64, seqs as u64));
                }
            }
            let mut st = c.prepare(SPANS_SQL).map_err(e(p, "read anomalies"))?;
            let mut q = st.query([]).map_err(e(p, "read anomalies"))?;
            while let Some(r) = q.next().map_err(e(p, "read anomalies"))? {
                let origin: String = r.get(0).map_err(e(p, "read anomalies"))?;
                let kind: String = r.get(1).map_err(e(p, "read anomalies"))?;
                if let (Some(&i), Some(k)) = (index.get(&origin), AnomalyKind::parse(&kind)) {
                    let o = |n| r.get::<_, Option<i64>>(n).map_err(e(p, "read anomalies"));
                    let t = |n| r.get::<_, i64>(n).map_err(e(p, "read anomalies"));
                    add_span(&mut rows[i], k, o(2)?, o(3)?, t(4)?, t(5)?, o(6)?, o(7)?);
                }
            }
            Ok(rows)
        })
        .await
    }
}

pub(super) fn e<'a>(
    path: &'a str,
    op: &'static str,
) -> impl Fn(rusqlite::Error) -> ArchiveError + 'a {
    move |source| ArchiveError::Sqlite { path: path.to_string(), op, source }
}

fn migrate_sqlite(conn: &mut Connection, path: &str) -> Res<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(e(path, "migrate"))?;
    tx.execute_batch(CREATE_VERSION_TABLE).map_err(e(path, "migrate"))?;
    let current: i64 = tx
        .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_version", [], |r| r.get(0))
        .map_err(e(path, "migrate"))?;
    let todo = migrate::pending(migrate::SQLITE, current).map_err(|known| {
        ArchiveError::NewerSchema { db: path.to_string(), found: current, known }
    })?;
    for m in todo {
        tx.execute_batch(m.sql).map_err(e(path, "migrate"))?;
        tx.execute(
            "INSERT INTO schema_version (version, name, applied_ms) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, crate::archive::store::now_ms() as i64],
        )
        .map_err(e(path, "migrate"))?;
        tracing::info!(
            archive = path,
            version = m.version,
            migration = m.name,
            "applied archive schema migration"
        );
    }
    tx.commit().map_err(e(path, "migrate"))
}

pub(super) fn hash_of(path: &str, bytes: Vec<u8>) -> Res<Hash> {
    let arr: [u8; 32] = bytes.try_into().map_err(|_| ArchiveError::Corrupt {
        db: path.to_string(),
        what: "a stored hash is not 32 bytes".into(),
    })?;
    Ok(Hash(arr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_apply_once_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let a = SqliteArchive::open(&path).await.unwrap();
        assert_eq!(a.schema_version().await.unwrap(), migrate::latest(migrate::SQLITE));
        drop(a);
        // Opening again applies nothing and keeps the data.
        let a = SqliteArchive::open(&path).await.unwrap();
        assert_eq!(a.schema_version().await.unwrap(), 2);
        drop(a);
        let c = Connection::open(&path).unwrap();
        c.execute("INSERT INTO schema_version (version, name, applied_ms) VALUES (99, 'x', 0)", [])
            .unwrap();
        drop(c);
        let err = SqliteArchive::open(&path).await.err().expect("refused");
        assert!(matches!(err, ArchiveError::NewerSchema { found: 99, known: 2, .. }), "{err}");
    }
}
