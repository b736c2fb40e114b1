//! The PostgreSQL archive: connecting, migrating, registrations, and the queries the reports
//! need.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::sync::Mutex;
use tokio_postgres::Client;

use crate::postgres::{Connection, Timeouts};

use crate::archive::error::ArchiveError;
use crate::archive::migrate::{self, CREATE_VERSION_TABLE};
use crate::archive::model::{Anomaly, AnomalyKind, Registration};
use crate::archive::summary::{add_span, GatewayRow, LastCheckpoint, SPANS_SQL};
use crate::postgres::describe;
use edgeproof_evidence::merkle::Hash;

/// Arbitrary constant naming the advisory lock that serialises migrations.
const MIGRATION_LOCK: i64 = 0x6564_6765_7072_6f66; // "edgeprof"

/// An open PostgreSQL archive (one connection, re-opened when it breaks).
#[derive(Clone)]
pub struct PgArchive {
    url: Arc<str>,
    pub(super) shown: Arc<str>,
    pub(super) client: Arc<Mutex<Option<Connection>>>,
}

pub(super) type Res<T> = Result<T, ArchiveError>;

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl PgArchive {
    /// Connects and migrates.
    pub async fn open(url: &str) -> Res<PgArchive> {
        let a = PgArchive { url: url.into(), shown: redact(url).into(), client: Arc::default() };
        let mut guard = a.client.lock().await;
        let client = a.connected(&mut guard).await?;
        let tx = client.transaction().await.map_err(a.e("migrate"))?;
        tx.query("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(a.e("migrate"))?;
        tx.batch_execute(CREATE_VERSION_TABLE).await.map_err(a.e("migrate"))?;
        let current: i64 = tx
            .query_one("SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_version", &[])
            .await
            .map_err(a.e("migrate"))?
            .get(0);
        let todo = migrate::pending(migrate::POSTGRES, current).map_err(|known| {
            ArchiveError::NewerSchema { db: a.shown.to_string(), found: current, known }
        })?;
        for m in todo {
            tx.batch_execute(m.sql).await.map_err(a.e("migrate"))?;
            tx.execute(
                "INSERT INTO schema_version (version, name, applied_ms) VALUES ($1, $2, $3)",
                &[&m.version, &m.name, &(crate::archive::store::now_ms() as i64)],
            )
            .await
            .map_err(a.e("migrate"))?;
            tracing::info!(archive = %a.shown, version = m.version, migration = m.name, "applied archive schema migration");
        }
        tx.commit().await.map_err(a.e("migrate"))?;
        drop(guard);
        Ok(a)
    }

    pub(super) fn e(
        &self,
        op: &'static str,
    ) -> impl Fn(tokio_postgres::Error) -> ArchiveError + '_ {
        move |err| ArchiveError::Postgres { url: self.shown.to_string(), op, msg: describe(&err) }
    }

    pub(super) async fn connected<'g>(
        &self,
        slot: &'g mut Option<Connection>,
    ) -> Res<&'g mut Client> {
        if slot.as_ref().is_none_or(|c| c.is_closed()) {
            let client = crate::postgres::connect(&self.url, &self.shown, &Timeouts::ARCHIVE)
                .await
                .map_err(self.e("connect"))?;
            *slot = Some(client);
        }
        slot.as_mut()
            .map(|c| &mut **c)
            .ok_or_else(|| ArchiveError::Task("no PostgreSQL connection".into()))
    }

    /// Runs `op` within [`Timeouts::ARCHIVE`]'s answer deadline. When the database does not
    /// answer in time (a black-holed path that no kernel timer notices), the connection is
    /// dropped — its driver task stopped — and the caller gets an error to retry on a fresh
    /// one; nothing was committed, so nothing is lost.
    pub async fn bounded<T>(
        &self,
        what: &'static str,
        op: impl std::future::Future<Output = Res<T>>,
    ) -> Res<T> {
        let deadline = Timeouts::ARCHIVE.answer;
        match tokio::time::timeout(deadline, op).await {
            Ok(r) => r,
            Err(_) => {
                *self.client.lock().await = None;
                Err(ArchiveError::Postgres {
                    url: self.shown.to_string(),
                    op: what,
                    msg: format!("no answer within {deadline:?}; dropped the connection"),
                })
            }
        }
    }

    /// The schema version.
    pub async fn schema_version(&self) -> Res<i64> {
        let mut g = self.client.lock().await;
        let c = self.connected(&mut g).await?;
        let row = c
            .query_one("SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_version", &[])
            .await
            .map_err(self.e("read schema version"))?;
        Ok(row.get(0))
    }

    /// See [`crate::archive::Archive::register`].
    pub async fn register(&self, reg: Registration, now_ms: u64) -> Res<()> {
        let mut g = self.client.lock().await;
        let c = self.connected(&mut g).await?;
        let tx = c.transaction().await.map_err(self.e("register"))?;
        tx.query("SELECT pg_advisory_xact_lock($1)", &[&(MIGRATION_LOCK + 1)])
            .await
            .map_err(self.e("register"))?;
        let existing = tx
            .query_opt(
                "SELECT origin, public_key FROM gateways WHERE gateway = $1",
                &[&reg.gateway],
            )
            .await
            .map_err(self.e("register"))?
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)));
        crate::archive::store::check_reregistration(&reg, existing)?;
        if let Some(r) = tx
            .query_opt(
                "SELECT gateway FROM gateways WHERE origin = $1 AND gateway <> $2",
                &[&reg.origin, &reg.gateway],
            )
            .await
            .map_err(self.e("register"))?
        {
            let other: String = r.get(0);
            return Err(ArchiveError::Registration {
                gateway: reg.gateway.clone(),
                why: format!("origin {:?} is already registered to gateway {other:?}", reg.origin),
            });
        }
        if let Some(r) = tx
            .query_opt(
                "SELECT gateway FROM gateways WHERE topic_prefix = $1 AND gateway <> $2",
                &[&reg.topic_prefix, &reg.gateway],
            )
            .await
            .map_err(self.e("register"))?
        {
            let other: String = r.get(0);
            return Err(ArchiveError::Registration {
                gateway: reg.gateway.clone(),
                why: format!(
                    "topic prefix {:?} is already registered to gateway {other:?}",
                    reg.topic_prefix
                ),
            });
        }
        tx.execute(
            "INSERT INTO gateways (gateway, origin, public_key, city, enterprise, project, registered_ms, topic_prefix, mqtt_user)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (gateway) DO UPDATE SET city = EXCLUDED.city,
                 enterprise = EXCLUDED.enterprise, project = EXCLUDED.project,
                 topic_prefix = EXCLUDED.topic_prefix, mqtt_user = EXCLUDED.mqtt_user",
            &[&reg.gateway, &reg.origin, &reg.public_key, &reg.city, &reg.enterprise, &reg.project, &(now_ms as i64), &reg.topic_prefix, &reg.mqtt_user],
        )
        .await
        .map_err(self.e("register"))?;
        tx.commit().await.map_err(self.e("register"))
    }

    /// Every registration.
    pub async fn registrations(&self) -> Res<Vec<Registration>> {
        let mut g = self.client.lock().await;
        let c = self.connected(&mut g).await?;
        let rows = c
            .query("SELECT gateway, origin, public_key, city, enterprise, project, topic_prefix, mqtt_user FROM gateways ORDER BY gateway", &[])
            .await
            .map_err(self.e("read gateways"))?;
        Ok(rows
            .iter()
            .map(|r| Registration {
                gateway: r.get(0),
                origin: r.get(1),
                public_key: r.get(2),
                city: r.get(3),
                enterprise: r.get(4),
                project: r.get(5),
                topic_prefix: r.get(6),
                mqtt_user: r.get(7),
            })
            .collect())
    }

    pub(super) fn hash(&self, bytes: Vec<u8>) -> Res<Hash> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| ArchiveError::Corrupt {
            db: self.shown.to_string(),
            what: "a stored hash is not 32 bytes".into(),
        })?;
        Ok(Hash(arr))
    }

    /// See [`crate::archive::Archive::records`].
    pub async fn records(
        &self,
        origin: &str,
        after: Option<u64>,
        limit: u64,
    ) -> Res<Vec<(u64, String)>> {
        let mut g = self.client.lock().await;
        let c = self.connected(&mut g).await?;
        let after = after.map_or(-1, |a| a as i64);
        let rows = c
            .query(
                "SELECT seq, body FROM records WHERE origin = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&origin, &after, &(limit as i64)],
            )
            .await
            .map_err(self.e("read records"))?;
        Ok(rows.iter().map(|r| (r.get::<_, i64>(0) as u64, r.get(1))).collect())
    }

    /// See [`crate::archive::Archive::checkpoints`].
    pub async fn checkpoints(&self, origin: &str) -> Res<Vec<(u64, String)>> {
        let mut g = self.client.lock().await;
        let c = self.connected(&mut g).await?;
        let rows = c
            .query("SELECT size, note FROM checkpoints WHERE origin = $1 ORDER BY size", &[&origin])
            .await
            .map_err(self.e("read checkpoints"))?;
        Ok(rows.iter().map(|r| (r.get::<_, i64>(0) as u64, r.get(1))).collect())
    }

    /// The unverified signature lines of `origin`'s checkpoints, by size.
    pub async fn unverified(&self, origin: &str) -> Res<Vec<(u64, String)>> {
        let mut g = self.client.lock().await;
        let c = self.connected(&mut g).await?;
        let rows = c
            .query(
                "SELECT size, unverified FROM checkpoints WHERE origin = $1 AND unverified <> '' ORDER BY size",
                &[&origin],
            )
            .await
            .map_err(self.e("read checkpoints"))?;
        Ok(rows.iter().map(|r| (r.get::<_, i64>(0) as u64, r.get(1))).collect())
    }

    /// See [`crate::archive::Archive::register_witness`].
    pub async fn register_witness(&self, name: &str, vkey: &str, now_ms: u64) -> Res<()> {
        let mut g = self.client.lock().await;
        let c = self.connected(&mut g).await?;
        c.execute(
            "INSERT INTO witnesses (name, vkey, registered_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET vkey = EXCLUDED.vkey",
            &[&name, &vkey, &(now_ms as i64)],
        )
        .await
        .map_err(self.e("register witness"))?;
        Ok(())
    }

    /// See [`crate::archive::Archive::witnesses`].
    pub async fn witnesses(&self) -> Res<Vec<String>> {
        let mut g = self.client.lock().await;
        let c = self.connected(&mut g).await?;
        let rows = c
            .query("SELECT vkey FROM witnesses ORDER BY name", &[])
            .await
            .map_err(self.e("read witnesses"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// See [`crate::archive::Archive::anomalies`].
    pub async fn anomalies(&self, origin: Option<&str>) -> Res<Vec<Anomaly>> {
        let mut g = self.client.lock().await;
        let c = self.connected(&mut g).await?;
        let rows = c
            .query(
                "SELECT origin, kind, first_seq, last_seq, detail, count, first_seen_ms, topic, claimed_origin
                 FROM anomalies WHERE $1::text IS NULL OR origin = $1 ORDER BY origin, kind, first_seq, id",
                &[&origin],
            )
            .await
            .map_err(self.e("read anomalies"))?;
        rows.iter()
            .map(|r| {
                crate::archive::store::anomaly_row(
                    &self.shown,
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                    r.get(7),
                    r.get(8),
                )
            })
            .collect()
    }

    /// See [`crate::archive::Archive::gateway_rows`].
    pub async fn gateway_rows(&self, from_day: i64) -> Res<Vec<GatewayRow>> {
        let mut g = self.client.lock().await;
        let c = self.connected(&mut g).await?;
        let mut rows: Vec<GatewayRow> = c
            .query(
                "SELECT gateway, origin, public_key, city, enterprise, project, records, horizon,
                        first_wall_ms, last_wall_ms, last_received_ms, topic_prefix, mqtt_user
                 FROM gateways ORDER BY gateway",
                &[],
            )
            .await
            .map_err(self.e("read gateways"))?
            .iter()
            .map(|r| {
                let opt = |i| r.get::<_, Option<i64>>(i).map(|v| v as u64);
                GatewayRow {
                    reg: Registration {
                        gateway: r.get(0),
                        origin: r.get(1),
                        public_key: r.get(2),
                        city: r.get(3),
                        enterprise: r.get(4),
                        project: r.get(5),
                        topic_prefix: r.get(11),
                        mqtt_user: r.get(12),
                    },
                    records: r.get::<_, i64>(6) as u64,
                    horizon: opt(7),
                    first_wall_ms: opt(8),
                    last_wall_ms: opt(9),
                    last_received_ms: opt(10),
                    covered_by_day: BTreeMap::new(),
                    last_checkpoint: None,
                    anomalies: BTreeMap::new(),
                    spans: BTreeMap::new(),
                }
            })
            .collect();
        let index: HashMap<String, usize> =
            rows.iter().enumerate().map(|(i, r)| (r.reg.origin.clone(), i)).collect();
        for r in c
            .query(
                "SELECT origin, day, covered_ms FROM coverage_days WHERE day >= $1",
                &[&from_day],
            )
            .await
            .map_err(self.e("read coverage"))?
        {
            if let Some(&i) = index.get(r.get::<_, &str>(0)) {
                rows[i].covered_by_day.insert(r.get(1), r.get::<_, i64>(2) as u64);
            }
        }
        for r in c
            .query(
                "SELECT DISTINCT ON (origin) origin, size, signatures, received_ms, root_checked, note, unverified
                 FROM checkpoints ORDER BY origin, size DESC",
                &[],
            )
            .await
            .map_err(self.e("read checkpoints"))?
        {
            if let Some(&i) = index.get(r.get::<_, &str>(0)) {
                rows[i].last_checkpoint = Some(LastCheckpoint {
                    size: r.get::<_, i64>(1) as u64,
                    signatures: r.get::<_, i64>(2) as u64,
                    received_ms: r.get::<_, i64>(3) as u64,
                    root_checked: r.get(4),
                    note: r.get(5),
                    unverified: r.get(6),
                });
            }
        }
        for r in c
            .query(
                "SELECT origin, kind, COUNT(*)::BIGINT, COALESCE(SUM(last_seq - first_seq + 1), 0)::BIGINT
                 FROM anomalies GROUP BY origin, kind",
                &[],
            )
            .await
            .map_err(self.e("read anomalies"))?
        {
            if let (Some(&i), Some(k)) = (index.get(r.get::<_, &str>(0)), AnomalyKind::parse(r.get(1))) {
                rows[i].anomalies.insert(k, (r.get::<_, i64>(2) as u64, r.get::<_, i64>(3) as u64));
            }
        }
        for r in c.query(SPANS_SQL, &[]).await.map_err(self.e("read anomalies"))? {
            if let (Some(&i), Some(k)) =
                (index.get(r.get::<_, &str>(0)), AnomalyKind::parse(r.get(1)))
            {
                add_span(
                    &mut rows[i],
                    k,
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                    r.get(7),
                );
            }
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }
}
