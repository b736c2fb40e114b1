//! One batch into SQLite, in one `BEGIN IMMEDIATE` transaction: per gateway, read its state,
//! plan ([`crate::archive::plan`]), write; then checkpoint roots; then anomalies.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::archive::{e, hash_of, Res};
use crate::archive::batch::{group, mismatched_roots, root_mismatch, unknown_gateway};
use crate::archive::model::{Arrival, BatchOutcome, NewAnomaly, Span};
use crate::archive::plan::{
    complete_prefix, plan_origin, CheckpointWrite, Link, OriginState, StoredCheckpoint,
};
use edgeproof_evidence::merkle::Hash;

pub(super) fn ingest(
    c: &mut Connection,
    p: &str,
    arrivals: Vec<Arrival>,
    now_ms: u64,
) -> Res<BatchOutcome> {
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
                    "SELECT root, note, unverified FROM checkpoints WHERE origin = ?1 AND size = ?2",
                )
                .map_err(e(p, "read checkpoints"))?;
            for cp in &checkpoints {
                let row: Option<(Vec<u8>, String, String)> = st
                    .query_row(params![origin, cp.size as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()
                    .map_err(e(p, "read checkpoints"))?;
                if let Some((root, note, unverified)) = row {
                    let root = hash_of(p, root)?;
                    state.checkpoints.insert(cp.size, StoredCheckpoint { root, note, unverified });
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
                        crate::archive::store::gap_detail(*g),
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
                    CheckpointWrite::Insert { size, root, note, signatures, unverified } => tx.execute(
                        "INSERT INTO checkpoints (origin, size, root, note, signatures, received_ms, unverified)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![origin, *size as i64, &root.0[..], note, *signatures as i64, now_ms as i64, unverified],
                    ),
                    // Only new verified lines make the checkpoint newly received.
                    CheckpointWrite::Merge { size, note, signatures, unverified } => tx.execute(
                        "UPDATE checkpoints SET received_ms = CASE WHEN note = ?3 THEN received_ms ELSE ?5 END,
                             note = ?3, signatures = ?4, unverified = ?6
                         WHERE origin = ?1 AND size = ?2",
                        params![origin, *size as i64, note, *signatures as i64, now_ms as i64, unverified],
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
                "INSERT INTO anomalies (origin, kind, first_seq, last_seq, detail, fingerprint, first_seen_ms, last_seen_ms, topic, claimed_origin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)
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
                now_ms as i64,
                a.topic,
                a.claimed_origin
            ])
            .map_err(e(p, "store anomalies"))?;
        }
    }
    out.anomalies += anomalies.len() as u64;
    for a in &anomalies {
        *out.anomalies_by_kind.entry(a.kind).or_default() += 1;
    }
    tx.commit().map_err(e(p, "commit"))?;
    Ok(out)
}
