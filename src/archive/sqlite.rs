//! The SQLite archive: one file, WAL mode, writers serialised by SQLite's own lock
//! (`BEGIN IMMEDIATE`), so several collectors may share a file on one machine. Every call runs
//! on a blocking thread.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::batch::{group, mismatched_roots, root_mismatch, unknown_gateway};
use super::error::ArchiveError;
use super::migrate::{self, CREATE_VERSION_TABLE};
use super::model::{Anomaly, AnomalyKind, Arrival, BatchOutcome, NewAnomaly, Registration, Span};
use super::plan::{
    complete_prefix, plan_origin, CheckpointWrite, Link, OriginState, StoredCheckpoint,
};
use super::summary::{GatewayRow, LastCheckpoint};
use crate::evidence::merkle::Hash;

/// An open SQLite archive.
#[derive(Clone)]
pub struct SqliteArchive {
    path: Arc<str>,
    conn: Arc<Mutex<Connection>>,
}

type Res<T> = Result<T, ArchiveError>;

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
            super::store::check_reregistration(&reg, existing)?;
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
            tx.execute(
                "INSERT INTO gateways (gateway, origin, public_key, city, enterprise, project, registered_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (gateway) DO UPDATE SET city = excluded.city,
                     enterprise = excluded.enterprise, project = excluded.project",
                params![reg.gateway, reg.origin, reg.public_key, reg.city, reg.enterprise, reg.project, now_ms as i64],
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
                .prepare("SELECT gateway, origin, public_key, city, enterprise, project FROM gateways ORDER BY gateway")
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
                    })
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(e(p, "read gateways"))?;
            Ok(rows)
        })
        .await
    }

    /// Stores a batch in one transaction (see [`super::plan`] for the rules).
    pub async fn ingest(&self, arrivals: Vec<Arrival>, now_ms: u64) -> Res<BatchOutcome> {
        self.with(move |c, p| ingest(c, p, arrivals, now_ms)).await
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

    /// Stored anomalies, of one origin or all, by origin, kind and seq.
    pub async fn anomalies(&self, origin: Option<String>) -> Res<Vec<Anomaly>> {
        self.with(move |c, p| {
            let mut st = c
                .prepare(
                    "SELECT origin, kind, first_seq, last_seq, detail, count, first_seen_ms FROM anomalies
                     WHERE ?1 IS NULL OR origin = ?1 ORDER BY origin, kind, first_seq, id",
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
                    ))
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(e(p, "read anomalies"))?;
            rows.into_iter()
                .map(|(origin, kind, f, l, detail, count, seen)| {
                    super::store::anomaly_row(p, origin, &kind, f, l, detail, count, seen)
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
                                first_wall_ms, last_wall_ms, last_received_ms FROM gateways ORDER BY gateway",
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
                        },
                        records: get(6).map_err(e(p, "read gateways"))?.unwrap_or(0),
                        horizon: get(7).map_err(e(p, "read gateways"))?,
                        first_wall_ms: get(8).map_err(e(p, "read gateways"))?,
                        last_wall_ms: get(9).map_err(e(p, "read gateways"))?,
                        last_received_ms: get(10).map_err(e(p, "read gateways"))?,
                        covered_by_day: BTreeMap::new(),
                        last_checkpoint: None,
                        anomalies: BTreeMap::new(),
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
                    "SELECT c.origin, c.size, c.signatures, c.received_ms, c.root_checked FROM checkpoints c
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
            Ok(rows)
        })
        .await
    }
}

fn e<'a>(path: &'a str, op: &'static str) -> impl Fn(rusqlite::Error) -> ArchiveError + 'a {
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
            params![m.version, m.name, super::store::now_ms() as i64],
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

fn hash_of(path: &str, bytes: Vec<u8>) -> Res<Hash> {
    let arr: [u8; 32] = bytes.try_into().map_err(|_| ArchiveError::Corrupt {
        db: path.to_string(),
        what: "a stored hash is not 32 bytes".into(),
    })?;
    Ok(Hash(arr))
}

fn ingest(c: &mut Connection, p: &str, arrivals: Vec<Arrival>, now_ms: u64) -> Res<BatchOutcome> {
    let grouped = group(arrivals);
    let mut out = BatchOutcome::default();
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(e(p, "begin"))?;
    let mut anomalies: Vec<NewAnomaly> = grouped.anomalies;
    for (origin, (records, checkpoints)) in grouped.by_origin {
        let horizon: Option<Option<i64>> = tx
            .query_row("SELECT horizon FROM gateways WHERE origin = ?1", [&origin], |r| r.get(0))
            .optional()
            .map_err(e(p, "read gateway"))?;
        let Some(horizon) = horizon else {
            anomalies.push(unknown_gateway(&origin, records.iter().map(|r| r.seq)));
            continue;
        };
        let mut state =
            OriginState { horizon: horizon.map(|h| h as u64), ..OriginState::default() };
        {
            let mut st = tx
                .prepare_cached("SELECT first_seq, last_seq FROM anomalies WHERE origin = ?1 AND kind = 'gap' ORDER BY first_seq")
                .map_err(e(p, "read gaps"))?;
            state.gaps = st
                .query_map([&origin], |r| {
                    Ok(Span { first: r.get::<_, i64>(0)? as u64, last: r.get::<_, i64>(1)? as u64 })
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(e(p, "read gaps"))?;
            let mut st = tx
                .prepare_cached("SELECT leaf, prev FROM records WHERE origin = ?1 AND seq = ?2")
                .map_err(e(p, "read records"))?;
            for seq in OriginState::seqs_needed(records.iter().map(|r| r.seq)) {
                let row: Option<(Vec<u8>, Vec<u8>)> = st
                    .query_row(params![origin, seq as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .map_err(e(p, "read records"))?;
                if let Some((leaf, prev)) = row {
                    state
                        .links
                        .insert(seq, Link { leaf: hash_of(p, leaf)?, prev: hash_of(p, prev)? });
                }
            }
            let mut st = tx
                .prepare_cached(
                    "SELECT root, note FROM checkpoints WHERE origin = ?1 AND size = ?2",
                )
                .map_err(e(p, "read checkpoints"))?;
            for cp in &checkpoints {
                let row: Option<(Vec<u8>, String)> = st
                    .query_row(params![origin, cp.size as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .map_err(e(p, "read checkpoints"))?;
                if let Some((root, note)) = row {
                    state
                        .checkpoints
                        .insert(cp.size, StoredCheckpoint { root: hash_of(p, root)?, note });
                }
            }
        }
        let plan = plan_origin(&origin, &mut state, records, checkpoints);
        out.stored += plan.inserts.len() as u64;
        out.duplicates += plan.duplicates;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO records (origin, seq, typ, wall_ms, leaf, prev, body, received_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(e(p, "store records"))?;
            for r in &plan.inserts {
                let body = std::str::from_utf8(&r.canonical).unwrap_or_default();
                st.execute(params![
                    origin,
                    r.seq as i64,
                    r.typ,
                    r.wall_ms as i64,
                    &r.leaf.0[..],
                    &r.prev.0[..],
                    body,
                    now_ms as i64
                ])
                .map_err(e(p, "store records"))?;
            }
            let (fw, lw) =
                plan.wall_range.map_or((None, None), |(a, b)| (Some(a as i64), Some(b as i64)));
            tx.execute(
                "UPDATE gateways SET horizon = ?2, records = records + ?3,
                     first_wall_ms = CASE WHEN ?4 IS NULL THEN first_wall_ms ELSE MIN(COALESCE(first_wall_ms, ?4), ?4) END,
                     last_wall_ms = CASE WHEN ?5 IS NULL THEN last_wall_ms ELSE MAX(COALESCE(last_wall_ms, ?5), ?5) END,
                     last_received_ms = ?6
                 WHERE origin = ?1",
                params![origin, plan.horizon.map(|h| h as i64), plan.inserts.len() as i64, fw, lw, now_ms as i64],
            )
            .map_err(e(p, "update gateway"))?;
            if let Some(gaps) = &plan.gaps {
                tx.execute("DELETE FROM anomalies WHERE origin = ?1 AND kind = 'gap'", [&origin])
                    .map_err(e(p, "store gaps"))?;
                let mut st = tx
                    .prepare_cached(
                        "INSERT INTO anomalies (origin, kind, first_seq, last_seq, detail, first_seen_ms, last_seen_ms)
                         VALUES (?1, 'gap', ?2, ?3, ?4, ?5, ?5)",
                    )
                    .map_err(e(p, "store gaps"))?;
                for g in gaps {
                    st.execute(params![
                        origin,
                        g.first as i64,
                        g.last as i64,
                        super::store::gap_detail(*g),
                        now_ms as i64
                    ])
                    .map_err(e(p, "store gaps"))?;
                }
            }
            out.missing += state.gaps.iter().map(|g| g.len()).sum::<u64>();
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO coverage_days (origin, day, covered_ms, records) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (origin, day) DO UPDATE SET covered_ms = covered_ms + excluded.covered_ms,
                         records = records + excluded.records",
                )
                .map_err(e(p, "store coverage"))?;
            for (day, d) in &plan.days {
                st.execute(params![origin, day, d.covered_ms as i64, d.records as i64])
                    .map_err(e(p, "store coverage"))?;
            }
            for w in &plan.checkpoints {
                out.checkpoints += 1;
                match w {
                    CheckpointWrite::Insert { size, root, note, signatures } => tx.execute(
                        "INSERT INTO checkpoints (origin, size, root, note, signatures, received_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![origin, *size as i64, &root.0[..], note, *signatures as i64, now_ms as i64],
                    ),
                    CheckpointWrite::Merge { size, note, signatures } => tx.execute(
                        "UPDATE checkpoints SET note = ?3, signatures = ?4, received_ms = ?5
                         WHERE origin = ?1 AND size = ?2",
                        params![origin, *size as i64, note, *signatures as i64, now_ms as i64],
                    ),
                }
                .map_err(e(p, "store checkpoints"))?;
            }
        }
        anomalies.extend(plan.anomalies);
        // Checkpoints whose records are now all stored: compare roots.
        let prefix = complete_prefix(state.horizon, &state.gaps);
        let pending: Vec<(u64, Hash)> = {
            let mut st = tx
                .prepare_cached("SELECT size, root FROM checkpoints WHERE origin = ?1 AND root_checked = 0 AND size <= ?2")
                .map_err(e(p, "read checkpoints"))?;
            let rows = st
                .query_map(params![origin, prefix as i64], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(e(p, "read checkpoints"))?;
            rows.into_iter().map(|(s, r)| Ok((s as u64, hash_of(p, r)?))).collect::<Res<_>>()?
        };
        if let Some(max) = pending.iter().map(|(s, _)| *s).max() {
            let mut st = tx
                .prepare_cached(
                    "SELECT leaf FROM records WHERE origin = ?1 AND seq < ?2 ORDER BY seq",
                )
                .map_err(e(p, "read leaves"))?;
            let leaves = st
                .query_map(params![origin, max as i64], |r| r.get::<_, Vec<u8>>(0))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(e(p, "read leaves"))?
                .into_iter()
                .map(|l| hash_of(p, l))
                .collect::<Res<Vec<_>>>()?;
            let bad = mismatched_roots(leaves, &pending);
            for (size, _) in &pending {
                let code = if bad.contains(size) { 2 } else { 1 };
                tx.execute(
                    "UPDATE checkpoints SET root_checked = ?3 WHERE origin = ?1 AND size = ?2",
                    params![origin, *size as i64, code],
                )
                .map_err(e(p, "store checkpoints"))?;
            }
            anomalies.extend(bad.into_iter().map(|s| root_mismatch(&origin, s)));
        }
    }
    {
        let mut st = tx
            .prepare_cached(
                "INSERT INTO anomalies (origin, kind, first_seq, last_seq, detail, fingerprint, first_seen_ms, last_seen_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
                 ON CONFLICT (fingerprint) DO UPDATE SET count = count + 1, last_seen_ms = excluded.last_seen_ms,
                     first_seq = MIN(COALESCE(first_seq, excluded.first_seq), COALESCE(excluded.first_seq, first_seq)),
                     last_seq = MAX(COALESCE(last_seq, excluded.last_seq), COALESCE(excluded.last_seq, last_seq))",
            )
            .map_err(e(p, "store anomalies"))?;
        for a in &anomalies {
            st.execute(params![
                a.origin,
                a.kind.as_str(),
                a.seqs.map(|s| s.first as i64),
                a.seqs.map(|s| s.last as i64),
                a.detail,
                a.fingerprint,
                now_ms as i64
            ])
            .map_err(e(p, "store anomalies"))?;
        }
    }
    out.anomalies += anomalies.len() as u64;
    tx.commit().map_err(e(p, "commit"))?;
    Ok(out)
}
