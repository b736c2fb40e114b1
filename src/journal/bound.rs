//! The size bound: what is counted, what is evicted when full, and when free space goes
//! back to the file system. See the module docs of [`super`] for the rules.

use std::path::Path;

use rusqlite::Connection;

use super::schema;

/// Bytes a telemetry row costs beyond its payload in a table leaf page: cell pointer (2),
/// cell header and rowid varints (~10), three small integer columns (~4). An estimate used
/// only to pick how many rows to delete; the page count decides when to stop.
const ROW_OVERHEAD: u64 = 16;

/// Rows looked at per eviction query.
const EVICT_CHUNK: i64 = 1024;

/// Free space kept in the file for the next flushes when giving space back.
const RECLAIM_KEEP_BYTES: u64 = 8 * 1024 * 1024;

/// Most space given back per [`reclaim`] call, so one call moves at most this much data
/// and does not stall the writer thread for long.
const RECLAIM_STEP_BYTES: u64 = 32 * 1024 * 1024;

/// Bytes the bound counts: pages in use (all pages minus the freelist) × page size.
pub(crate) fn used_bytes(conn: &Connection, page_size: u64) -> rusqlite::Result<u64> {
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
    Ok((pages - free).max(0) as u64 * page_size)
}

/// Bytes on the freelist: inside the file, free for reuse.
pub(crate) fn free_bytes(conn: &Connection, page_size: u64) -> rusqlite::Result<u64> {
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
    Ok(free.max(0) as u64 * page_size)
}

/// Telemetry dropped by one or more evictions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Evicted {
    /// Entries deleted.
    pub(crate) entries: u64,
    /// Samples in them.
    pub(crate) samples: u64,
}

impl std::ops::Add for Evicted {
    type Output = Evicted;
    fn add(self, o: Evicted) -> Evicted {
        Evicted { entries: self.entries + o.entries, samples: self.samples + o.samples }
    }
}

/// Deletes the oldest telemetry entries until the used bytes are at most `target`, or no
/// telemetry is left (evidence and the schema are never touched). Adds what it dropped to
/// the persisted totals in `meta`. Runs inside the caller's transaction.
pub(crate) fn evict_to(
    conn: &Connection,
    page_size: u64,
    target: u64,
) -> rusqlite::Result<Evicted> {
    let mut evicted = Evicted::default();
    loop {
        let used = used_bytes(conn, page_size)?;
        if used <= target {
            break;
        }
        let need = used - target;
        // Pick the oldest rows whose stored size covers what must go. Pages free up only
        // when emptied, so the loop re-measures and goes around until the count agrees.
        let mut cut = None;
        let mut picked = Evicted::default();
        let mut freed = 0u64;
        {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, samples, length(payload) FROM telemetry ORDER BY seq LIMIT ?1",
            )?;
            let mut rows = stmt.query([EVICT_CHUNK])?;
            while let Some(row) = rows.next()? {
                cut = Some(row.get::<_, i64>(0)?);
                picked.entries += 1;
                picked.samples += row.get::<_, i64>(1)?.max(0) as u64;
                freed += row.get::<_, i64>(2)?.max(0) as u64 + ROW_OVERHEAD;
                if freed >= need {
                    break;
                }
            }
        }
        let Some(cut) = cut else { break };
        conn.prepare_cached("DELETE FROM telemetry WHERE seq <= ?1")?.execute([cut])?;
        evicted = evicted + picked;
    }
    if evicted.entries > 0 {
        let mut add = conn.prepare_cached("UPDATE meta SET value = value + ?2 WHERE key = ?1")?;
        add.execute((schema::META_DROPPED_ENTRIES, evicted.entries as i64))?;
        add.execute((schema::META_DROPPED_SAMPLES, evicted.samples as i64))?;
    }
    Ok(evicted)
}

/// The level the journal must fall to before a full episode counts as over: 90% of the
/// bound, so a journal hovering at the bound logs once, not on every flush.
pub(crate) fn low_water(max_bytes: u64) -> u64 {
    max_bytes / 10 * 9
}

/// One "journal full" episode: from the first eviction until the journal is below
/// [`low_water`] again. Logged once at each end, counted throughout.
#[derive(Debug, Default)]
pub(crate) struct Episode {
    active: bool,
    dropped: Evicted,
}

impl Episode {
    /// Feeds the outcome of one change (a flush, an ack) and logs an episode's start or end.
    pub(crate) fn observe(&mut self, path: &Path, evicted: Evicted, used: u64, max_bytes: u64) {
        if evicted.entries > 0 {
            if !self.active {
                tracing::warn!(
                    path = %path.display(),
                    max_bytes,
                    dropped_entries = evicted.entries,
                    dropped_samples = evicted.samples,
                    "journal reached its size bound: dropping the oldest unpublished telemetry \
                     to make room (the broker is unreachable or slower than the devices); \
                     logged once until the journal is below 90% of the bound again"
                );
                self.active = true;
            }
            self.dropped = self.dropped + evicted;
        } else if self.active && used <= low_water(max_bytes) {
            tracing::info!(
                path = %path.display(),
                used_bytes = used,
                max_bytes,
                dropped_entries = self.dropped.entries,
                dropped_samples = self.dropped.samples,
                "journal is below its size bound again; this episode dropped the entries and \
                 samples counted here"
            );
            *self = Episode::default();
        }
    }

    /// True between an episode's start and end.
    #[cfg(test)]
    pub(crate) fn active(&self) -> bool {
        self.active
    }
}

/// When and how much free space [`reclaim`] gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReclaimPolicy {
    /// Free bytes left in the file for reuse by the next flushes.
    pub(crate) keep_bytes: u64,
    /// Most bytes given back per call.
    pub(crate) step_bytes: u64,
}

impl ReclaimPolicy {
    /// The policy for a journal bounded at `max_bytes`.
    pub(crate) fn for_bound(max_bytes: u64) -> Self {
        ReclaimPolicy {
            keep_bytes: RECLAIM_KEEP_BYTES.min(max_bytes / 4),
            step_bytes: RECLAIM_STEP_BYTES,
        }
    }
}

/// Gives free pages back to the file system with `PRAGMA incremental_vacuum`, once the
/// freelist is larger than the data in use (the backlog of an outage has drained) and
/// larger than `keep_bytes`. Returns the bytes the file shrank by.
pub(crate) fn reclaim(
    conn: &Connection,
    page_size: u64,
    policy: ReclaimPolicy,
) -> rusqlite::Result<u64> {
    let free = free_bytes(conn, page_size)?;
    let used = used_bytes(conn, page_size)?;
    if free <= used || free <= policy.keep_bytes {
        return Ok(0);
    }
    let pages = (free - policy.keep_bytes).min(policy.step_bytes) / page_size;
    if pages == 0 {
        return Ok(0);
    }
    let before: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    // incremental_vacuum moves pages from the end of the file into free slots and truncates.
    // It frees one page per step, so the statement must be stepped to the end
    // (execute_batch steps once).
    let mut vacuum = conn.prepare(&format!("PRAGMA incremental_vacuum({pages})"))?;
    let mut steps = vacuum.query([])?;
    while steps.next()?.is_some() {}
    drop(steps);
    drop(vacuum);
    // In WAL mode the main file is only truncated when a checkpoint copies the shrunken
    // database back; do it now rather than after the next 1000 pages of appends.
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    let after: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    Ok((before - after).max(0) as u64 * page_size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::recovery::{with_suffix, JOURNAL_SIZE_LIMIT, WAL_AUTOCHECKPOINT_PAGES};
    use crate::journal::store::Journal;
    use crate::journal::test_support::{batch, file_len, open, path_in};

    const PAGE: u64 = 4096;

    /// Appends `total` 10-sample batches in flushes of `per_flush`; returns the largest
    /// flush's payload bytes.
    fn fill(journal: &mut Journal, from: u64, total: u64, per_flush: u64) -> u64 {
        let mut largest = 0;
        for start in (from..from + total).step_by(per_flush as usize) {
            let batches: Vec<_> = (start..start + per_flush).map(|i| batch(i, 10)).collect();
            let mut bytes = Vec::new();
            for b in &batches {
                crate::journal::codec::encode(b, &mut bytes);
            }
            largest = largest.max(bytes.len() as u64);
            journal.append(&batches).unwrap();
            let stats = journal.stats().unwrap();
            assert!(stats.used_bytes <= stats.max_bytes, "{stats:?}");
        }
        largest
    }

    #[test]
    fn a_full_journal_drops_the_oldest_telemetry_and_stays_within_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let max_bytes = 256 * 1024;
        let (mut journal, _) = open(dir.path(), max_bytes);
        let evidence: Vec<Vec<u8>> = (0..3).map(|i| vec![i as u8; 3000]).collect();
        for (seq, payload) in evidence.iter().enumerate() {
            journal.append_evidence(seq as u64, payload).unwrap();
        }

        let total = 10_000;
        let largest_flush = fill(&mut journal, 1, total, 100);

        let stats = journal.stats().unwrap();
        // The documented overhead. WAL: up to the autocheckpoint size plus one transaction.
        let wal = file_len(&with_suffix(&path, "-wal"));
        let wal_allowance = (WAL_AUTOCHECKPOINT_PAGES as u64) * PAGE + largest_flush + 16 * PAGE;
        assert!(wal <= wal_allowance.max(JOURNAL_SIZE_LIMIT as u64), "wal {wal}");
        // Main file, once the WAL is checkpointed into it: at most one flush's worth of
        // pages above the bound.
        journal.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        let main = file_len(&path);
        assert!(main <= max_bytes + largest_flush + 4 * PAGE, "main file {main}, {stats:?}");

        // Dropped exactly what is not there any more, oldest first, newest kept.
        assert!(stats.dropped_entries_total > 0);
        assert_eq!(stats.dropped_entries_total + stats.entries, total);
        assert_eq!(stats.dropped_samples_total + stats.samples, total * 10);
        let kept = journal.read_after(None, usize::MAX).unwrap();
        assert_eq!(kept.last().unwrap().seq, total, "newest kept");
        assert_eq!(kept.first().unwrap().seq, stats.dropped_entries_total + 1, "a prefix went");
        assert_eq!(kept.last().unwrap().batch, batch(total, 10));
        let c = journal.counters().snapshot();
        assert_eq!(c.dropped_entries_total, stats.dropped_entries_total);
        assert_eq!(c.dropped_samples_total, stats.dropped_samples_total);

        // Evidence untouched.
        let stored = journal.read_evidence(0, 10).unwrap();
        assert_eq!(stored.iter().map(|r| r.payload.clone()).collect::<Vec<_>>(), evidence);

        // The episode ends once acks bring the journal below 90%.
        assert!(journal.episode.active());
        let seqs: Vec<u64> = kept.iter().map(|e| e.seq).collect();
        journal.ack(&seqs).unwrap();
        assert!(!journal.episode.active());

        // The totals are persisted.
        drop(journal);
        let (journal, _) = open(dir.path(), max_bytes);
        let reopened = journal.stats().unwrap();
        assert_eq!(reopened.dropped_entries_total, stats.dropped_entries_total);
        assert_eq!(reopened.dropped_samples_total, stats.dropped_samples_total);
        assert_eq!(reopened.next_seq, total + 1);
    }

    #[test]
    fn a_flush_bigger_than_the_bound_keeps_its_newest_batches() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = open(dir.path(), 64 * 1024);
        fill(&mut journal, 1, 3000, 3000);
        let kept = journal.read_after(None, usize::MAX).unwrap();
        assert!(!kept.is_empty() && kept.len() < 3000, "{}", kept.len());
        assert_eq!(kept.last().unwrap().seq, 3000);
    }

    #[test]
    fn evidence_beyond_the_bound_pushes_out_all_telemetry_but_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = open(dir.path(), 64 * 1024);
        fill(&mut journal, 1, 100, 100);
        for seq in 0..40 {
            journal.append_evidence(seq, &[7u8; 2000]).unwrap();
        }
        let stats = journal.stats().unwrap();
        assert_eq!(stats.entries, 0);
        assert_eq!(stats.dropped_entries_total, 100);
        assert_eq!(stats.evidence_records, 40);
    }

    #[test]
    fn reclaim_gives_space_back_only_after_the_backlog_drained() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let (mut journal, _) = open(dir.path(), 64 << 20);
        fill(&mut journal, 1, 30_000, 1000);
        let policy = ReclaimPolicy { keep_bytes: 64 * 1024, step_bytes: u64::MAX };
        assert_eq!(journal.reclaim_with(policy).unwrap(), 0, "nothing free yet");

        let all: Vec<u64> = (1..=30_000).collect();
        journal.ack(&all[..10_000]).unwrap();
        assert_eq!(journal.reclaim_with(policy).unwrap(), 0, "free space < data in use");

        journal.ack(&all[10_000..]).unwrap();
        let before = file_len(&path);
        let freed = journal.reclaim_with(policy).unwrap();
        let after = file_len(&path);
        assert!(freed > 0 && after < before, "freed {freed}, file {before} -> {after}");
        assert!(free_bytes(&journal.conn, PAGE).unwrap() <= policy.keep_bytes);

        // Still a working journal with its seqs.
        assert_eq!(journal.append(&[batch(1, 1)]).unwrap(), vec![30_001]);
    }

    #[test]
    fn reclaim_policy_scales_with_small_bounds() {
        let cases = [
            ("1 GiB bound keeps 8 MiB", 1 << 30, RECLAIM_KEEP_BYTES),
            ("1 MiB bound keeps a quarter", 1 << 20, 256 * 1024),
        ];
        for (name, max, keep) in cases {
            assert_eq!(ReclaimPolicy::for_bound(max).keep_bytes, keep, "{name}");
        }
    }
}
