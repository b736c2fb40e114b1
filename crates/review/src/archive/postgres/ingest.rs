//! One batch into PostgreSQL, in one transaction: lock the gateways touched, read their
//! state in bulk, plan each ([`crate::archive::plan`]), write in bulk, check checkpoint roots.

use std::collections::{BTreeMap, HashMap};

use tokio_postgres::Transaction;

use super::archive::{PgArchive, Res};
use crate::archive::batch::{group, mismatched_roots, root_mismatch, unknown_gateway};
use crate::archive::model::{Arrival, BatchOutcome, NewAnomaly, Span, VerifiedRecord};
use crate::archive::plan::{
    complete_prefix, plan_origin, CheckpointWrite, Link, OriginState, StoredCheckpoint,
};
use edgeproof_evidence::merkle::Hash;

impl PgArchive {
    /// Stores a batch in one transaction (see [`crate::archive::plan`]).
    pub async fn ingest(&self, arrivals: Vec<Arrival>, now_ms: u64) -> Res<BatchOutcome> {
        let mut g = self.client.lock().await;
        let c = self.connected(&mut g).await?;
        let tx = c.transaction().await.map_err(self.e("begin"))?;
        let out = self.ingest_in(&tx, arrivals, now_ms).await?;
        tx.commit().await.map_err(self.e("commit"))?;
        Ok(out)
    }

    async fn ingest_in(
        &self,
        tx: &Transaction<'_>,
        arrivals: Vec<Arrival>,
        now_ms: u64,
    ) -> Res<BatchOutcome> {
        let grouped = group(arrivals);
        let mut out = BatchOutcome::default();
        let mut anomalies: Vec<NewAnomaly> = grouped.anomalies;
        let origins: Vec<String> = grouped.by_origin.keys().cloned().collect();
        let now = now_ms as i64;

        // Lock the gateways touched, in origin order.
        let mut horizons: HashMap<String, Option<u64>> = HashMap::new();
        for r in tx
            .query("SELECT origin, horizon FROM gateways WHERE origin = ANY($1) ORDER BY origin FOR UPDATE", &[&origins])
            .await
            .map_err(self.e("lock gateways"))?
        {
            horizons.insert(r.get(0), r.get::<_, Option<i64>>(1).map(|h| h as u64));
        }
        let mut states: BTreeMap<String, OriginState> = BTreeMap::new();
        let (mut want_o, mut want_s) = (Vec::<String>::new(), Vec::<i64>::new());
        let (mut cp_o, mut cp_s) = (Vec::<String>::new(), Vec::<i64>::new());
        for (origin, (records, cps)) in &grouped.by_origin {
            let Some(h) = horizons.get(origin) else { continue };
            states.insert(origin.clone(), OriginState { horizon: *h, ..OriginState::default() });
            for s in OriginState::seqs_needed(records.iter().map(|r| r.seq)) {
                want_o.push(origin.clone());
                want_s.push(s as i64);
            }
            for cp in cps {
                cp_o.push(origin.clone());
                cp_s.push(cp.size as i64);
            }
        }
        let locked: Vec<String> = states.keys().cloned().collect();
        for r in tx
            .query(
                "SELECT origin, first_seq, last_seq FROM anomalies WHERE kind = 'gap' AND origin = ANY($1)
                 ORDER BY origin, first_seq",
                &[&locked],
            )
            .await
            .map_err(self.e("read gaps"))?
        {
            if let Some(st) = states.get_mut(r.get::<_, &str>(0)) {
                st.gaps.push(Span { first: r.get::<_, i64>(1) as u64, last: r.get::<_, i64>(2) as u64 });
            }
        }
        for r in tx
            .query(
                "SELECT r.origin, r.seq, r.leaf, r.prev FROM records r
                 JOIN unnest($1::text[], $2::bigint[]) AS w(origin, seq) ON r.origin = w.origin AND r.seq = w.seq",
                &[&want_o, &want_s],
            )
            .await
            .map_err(self.e("read records"))?
        {
            if let Some(st) = states.get_mut(r.get::<_, &str>(0)) {
                let link = Link { leaf: self.hash(r.get(2))?, prev: self.hash(r.get(3))? };
                st.links.insert(r.get::<_, i64>(1) as u64, link);
            }
        }
        for r in tx
            .query(
                "SELECT c.origin, c.size, c.root, c.note, c.unverified FROM checkpoints c
                 JOIN unnest($1::text[], $2::bigint[]) AS w(origin, size) ON c.origin = w.origin AND c.size = w.size",
                &[&cp_o, &cp_s],
            )
            .await
            .map_err(self.e("read checkpoints"))?
        {
            if let Some(st) = states.get_mut(r.get::<_, &str>(0)) {
                let stored = StoredCheckpoint {
                    root: self.hash(r.get(2))?,
                    note: r.get(3),
                    unverified: r.get(4),
                };
                st.checkpoints.insert(r.get::<_, i64>(1) as u64, stored);
            }
        }

        // Plan every gateway, then write in bulk.
        let mut rec = RecordColumns::default();
        let mut gw = GatewayColumns::default();
        let mut days = DayColumns::default();
        let mut gap_origins: Vec<String> = Vec::new();
        let (mut gap_o, mut gap_f, mut gap_l, mut gap_d) =
            (Vec::<String>::new(), Vec::<i64>::new(), Vec::<i64>::new(), Vec::<String>::new());
        let mut cp_writes: Vec<(String, CheckpointWrite)> = Vec::new();
        for (origin, (records, cps)) in grouped.by_origin {
            let Some(state) = states.get_mut(&origin) else {
                anomalies.push(unknown_gateway(&origin, records.iter().map(|r| r.seq)));
                continue;
            };
            let plan = plan_origin(&origin, state, records, cps);
            out.stored += plan.inserts.len() as u64;
            out.duplicates += plan.duplicates;
            out.missing += state.gaps.iter().map(|g| g.len()).sum::<u64>();
            for r in &plan.inserts {
                rec.push(&origin, r);
            }
            gw.origin.push(origin.clone());
            gw.horizon.push(plan.horizon.map(|h| h as i64));
            gw.records.push(plan.inserts.len() as i64);
            gw.first.push(plan.wall_range.map(|(a, _)| a as i64));
            gw.last.push(plan.wall_range.map(|(_, b)| b as i64));
            for (day, d) in &plan.days {
                days.origin.push(origin.clone());
                days.day.push(*day);
                days.covered.push(d.covered_ms as i64);
                days.records.push(d.records as i64);
            }
            if let Some(gaps) = &plan.gaps {
                gap_origins.push(origin.clone());
                for g in gaps {
                    gap_o.push(origin.clone());
                    gap_f.push(g.first as i64);
                    gap_l.push(g.last as i64);
                    gap_d.push(crate::archive::store::gap_detail(*g));
                }
            }
            cp_writes.extend(plan.checkpoints.into_iter().map(|w| (origin.clone(), w)));
            anomalies.extend(plan.anomalies);
        }
        if !rec.origin.is_empty() {
            tx.execute(
                "INSERT INTO records (origin, seq, typ, wall_ms, leaf, prev, body, received_ms)
                 SELECT o, s, t, w, l, p, b, $8 FROM unnest($1::text[], $2::bigint[], $3::text[],
                     $4::bigint[], $5::bytea[], $6::bytea[], $7::text[]) AS x(o, s, t, w, l, p, b)",
                &[
                    &rec.origin,
                    &rec.seq,
                    &rec.typ,
                    &rec.wall,
                    &rec.leaf,
                    &rec.prev,
                    &rec.body,
                    &now,
                ],
            )
            .await
            .map_err(self.e("store records"))?;
        }
        if !gw.origin.is_empty() {
            tx.execute(
                "UPDATE gateways g SET horizon = x.h, records = g.records + x.n,
                     first_wall_ms = LEAST(g.first_wall_ms, x.fw), last_wall_ms = GREATEST(g.last_wall_ms, x.lw),
                     last_received_ms = $6
                 FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS x(o, h, n, fw, lw)
                 WHERE g.origin = x.o",
                &[&gw.origin, &gw.horizon, &gw.records, &gw.first, &gw.last, &now],
            )
            .await
            .map_err(self.e("update gateways"))?;
        }
        if !gap_origins.is_empty() {
            tx.execute(
                "DELETE FROM anomalies WHERE kind = 'gap' AND origin = ANY($1)",
                &[&gap_origins],
            )
            .await
            .map_err(self.e("store gaps"))?;
            tx.execute(
                "INSERT INTO anomalies (origin, kind, first_seq, last_seq, detail, first_seen_ms, last_seen_ms)
                 SELECT o, 'gap', f, l, d, $5, $5 FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[]) AS x(o, f, l, d)",
                &[&gap_o, &gap_f, &gap_l, &gap_d, &now],
            )
            .await
            .map_err(self.e("store gaps"))?;
        }
        if !days.origin.is_empty() {
            tx.execute(
                "INSERT INTO coverage_days (origin, day, covered_ms, records)
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])
                 ON CONFLICT (origin, day) DO UPDATE SET covered_ms = coverage_days.covered_ms + EXCLUDED.covered_ms,
                     records = coverage_days.records + EXCLUDED.records",
                &[&days.origin, &days.day, &days.covered, &days.records],
            )
            .await
            .map_err(self.e("store coverage"))?;
        }
        for (origin, w) in &cp_writes {
            out.checkpoints += 1;
            match w {
                CheckpointWrite::Insert { size, root, note, signatures, unverified } => {
                    let (size, root, sigs) = (*size as i64, root.0.to_vec(), *signatures as i64);
                    tx.execute(
                        "INSERT INTO checkpoints (origin, size, root, note, signatures, received_ms, unverified)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &[origin, &size, &root, note, &sigs, &now, unverified],
                    )
                    .await
                }
                // Only new verified lines make the checkpoint newly received.
                CheckpointWrite::Merge { size, note, signatures, unverified } => {
                    let (size, sigs) = (*size as i64, *signatures as i64);
                    tx.execute(
                        "UPDATE checkpoints SET received_ms = CASE WHEN note = $3 THEN received_ms ELSE $5 END,
                             note = $3, signatures = $4, unverified = $6
                         WHERE origin = $1 AND size = $2",
                        &[origin, &size, note, &sigs, &now, unverified],
                    )
                    .await
                }
            }
            .map_err(self.e("store checkpoints"))?;
        }
        // Checkpoints whose records are now all stored: compare roots.
        for (origin, state) in &states {
            let prefix = complete_prefix(state.horizon, &state.gaps) as i64;
            let pending: Vec<(u64, Hash)> = tx
                .query(
                    "SELECT size, root FROM checkpoints WHERE origin = $1 AND root_checked = 0 AND size <= $2",
                    &[origin, &prefix],
                )
                .await
                .map_err(self.e("read checkpoints"))?
                .iter()
                .map(|r| Ok((r.get::<_, i64>(0) as u64, self.hash(r.get(1))?)))
                .collect::<Res<_>>()?;
            let Some(max) = pending.iter().map(|(s, _)| *s).max() else { continue };
            let leaves = tx
                .query(
                    "SELECT leaf FROM records WHERE origin = $1 AND seq < $2 ORDER BY seq",
                    &[origin, &(max as i64)],
                )
                .await
                .map_err(self.e("read leaves"))?
                .iter()
                .map(|r| self.hash(r.get(0)))
                .collect::<Res<Vec<_>>>()?;
            let bad = mismatched_roots(leaves, &pending);
            for (size, _) in &pending {
                let code: i64 = if bad.contains(size) { 2 } else { 1 };
                tx.execute(
                    "UPDATE checkpoints SET root_checked = $3 WHERE origin = $1 AND size = $2",
                    &[origin, &(*size as i64), &code],
                )
                .await
                .map_err(self.e("store checkpoints"))?;
            }
            anomalies.extend(bad.into_iter().map(|s| root_mismatch(origin, s)));
        }
        // In fingerprint order: two collectors upserting the same rows take their index locks
        // in the same order, so they wait for each other instead of deadlocking.
        anomalies.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        for a in &anomalies {
            tx.execute(
                "INSERT INTO anomalies (origin, kind, first_seq, last_seq, detail, fingerprint, first_seen_ms, last_seen_ms, topic, claimed_origin)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9)
                 ON CONFLICT (fingerprint) DO UPDATE SET count = anomalies.count + 1,
                     last_seen_ms = EXCLUDED.last_seen_ms,
                     first_seq = LEAST(anomalies.first_seq, EXCLUDED.first_seq),
                     last_seq = GREATEST(anomalies.last_seq, EXCLUDED.last_seq)",
                &[
                    &a.origin,
                    &a.kind.as_str(),
                    &a.seqs.map(|s| s.first as i64),
                    &a.seqs.map(|s| s.last as i64),
                    &a.detail,
                    &a.fingerprint,
                    &now,
                    &a.topic,
                    &a.claimed_origin,
                ],
            )
            .await
            .map_err(self.e("store anomalies"))?;
        }
        out.anomalies += anomalies.len() as u64;
        for a in &anomalies {
            *out.anomalies_by_kind.entry(a.kind).or_default() += 1;
        }
        Ok(out)
    }
}

#[derive(Default)]
struct RecordColumns {
    origin: Vec<String>,
    seq: Vec<i64>,
    typ: Vec<&'static str>,
    wall: Vec<i64>,
    leaf: Vec<Vec<u8>>,
    prev: Vec<Vec<u8>>,
    body: Vec<String>,
}

impl RecordColumns {
    fn push(&mut self, origin: &str, r: &VerifiedRecord) {
        self.origin.push(origin.to_string());
        self.seq.push(r.seq as i64);
        self.typ.push(r.typ);
        self.wall.push(r.wall_ms as i64);
        self.leaf.push(r.leaf.0.to_vec());
        self.prev.push(r.prev.0.to_vec());
        self.body.push(String::from_utf8_lossy(&r.canonical).into_owned());
    }
}

#[derive(Default)]
struct GatewayColumns {
    origin: Vec<String>,
    horizon: Vec<Option<i64>>,
    records: Vec<i64>,
    first: Vec<Option<i64>>,
    last: Vec<Option<i64>>,
}

#[derive(Default)]
struct DayColumns {
    origin: Vec<String>,
    day: Vec<i64>,
    covered: Vec<i64>,
    records: Vec<i64>,
}
