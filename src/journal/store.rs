//! [`Journal`]: the synchronous store over one SQLite connection. Append in group commits,
//! read oldest first, delete on ack, keep within the size bound.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::bound::{self, Episode, Evicted, ReclaimPolicy};
use super::codec;
use super::counters::JournalCounters;
use super::disk::{self, Budget, DiskBound, DiskEpisode};
use super::error::JournalError;
use super::files;
use super::recovery;
use super::schema;
use crate::model::Batch;

/// The default size bound: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// The journal's file name inside the gateway's data directory.
pub const JOURNAL_FILE_NAME: &str = "journal.sqlite3";

/// How a journal is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalOptions {
    /// The size bound in bytes (pages in use; see the module docs for what else is on disk).
    pub max_bytes: u64,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions { max_bytes: DEFAULT_MAX_BYTES }
    }
}

/// What [`Journal::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The journal file.
    pub path: PathBuf,
    /// Unacknowledged entries found, to be published first.
    pub resumed_entries: u64,
    /// Samples in them.
    pub resumed_samples: u64,
    /// The oldest of them.
    pub oldest_seq: Option<u64>,
    /// The seq the next appended batch gets.
    pub next_seq: u64,
    /// Where a damaged file was moved before a fresh journal was started.
    pub moved_aside: Option<PathBuf>,
}

/// One telemetry entry: a batch and the message sequence number it was given.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBatch {
    /// Per-gateway message sequence number; strictly increasing, never reused.
    pub seq: u64,
    /// The batch as appended.
    pub batch: Batch,
}

/// The journal's state at one moment, for `status` output and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalStats {
    /// Unacknowledged telemetry entries.
    pub entries: u64,
    /// Samples in them.
    pub samples: u64,
    /// The oldest entry's seq.
    pub oldest_seq: Option<u64>,
    /// The oldest entry's batch timestamp (Unix ms).
    pub oldest_ts_ms: Option<u64>,
    /// The seq the next appended batch gets.
    pub next_seq: u64,
    /// Bytes the size bound counts (pages in use × page size).
    pub used_bytes: u64,
    /// Bytes on disk: the main file and its WAL.
    pub file_bytes: u64,
    /// The size bound.
    pub max_bytes: u64,
    /// Entries dropped by the size bound since the file was created.
    pub dropped_entries_total: u64,
    /// Samples in them.
    pub dropped_samples_total: u64,
    /// Evidence records stored (published or not; they are never dropped).
    pub evidence_records: u64,
    /// Evidence records not yet acknowledged by the broker.
    pub evidence_unpublished: u64,
}

/// The durable store-and-forward journal. Owns its SQLite connection; use it from one thread
/// (see [`super::JournalHandle`] for the async face).
pub struct Journal {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
    pub(super) max_bytes: u64,
    pub(super) page_size: u64,
    next_seq: u64,
    entries: u64,
    samples: u64,
    dropped_total: Evicted,
    pub(super) episode: Episode,
    /// The disk-full episode and what the file system allowed at the last change.
    pub(super) disk_episode: DiskEpisode,
    pub(super) disk_bound: DiskBound,
    /// Margin, WAL claim and evidence room for the file system the journal is on.
    pub(super) budget: Budget,
    /// Extra bytes the bound is held below the disk's for the retry after `SQLITE_FULL`.
    pub(super) squeeze: u64,
    /// False once the file system said it cannot claim blocks ahead (no `fallocate`).
    pub(super) wal_claimable: bool,
    pub(super) counters: Arc<JournalCounters>,
    /// Encoded payloads of the batch being appended, reused between appends.
    encoded: Vec<u8>,
    spans: Vec<std::ops::Range<usize>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("max_bytes", &self.max_bytes)
            .field("next_seq", &self.next_seq)
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens the journal at `path`, creating it (and its directory) if missing. A file that
    /// is damaged or not a database is moved aside with an error log and replaced by a
    /// fresh journal; see the module docs for the recovery rules.
    pub fn open(
        path: impl AsRef<Path>,
        options: JournalOptions,
    ) -> Result<(Journal, OpenReport), JournalError> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| JournalError::CreateDir { path: dir.to_owned(), source })?;
        }
        // An older version's reserve file: space this journal may use, first of all to make
        // its -wal and -shm files on a disk full to the last byte.
        disk::release_reserve(path);
        let (journal, moved_aside) = match Journal::open_once(path, options) {
            Ok(journal) => (journal, None),
            Err(e) if e.is_damage() => {
                let target = recovery::move_aside(path)?;
                tracing::error!(
                    path = %path.display(),
                    moved_to = %target.display(),
                    error = %e,
                    "journal file is damaged or not a database: moved it aside and started a \
                     fresh journal; readings still unpublished in it are not sent (the moved \
                     file can be inspected with sqlite3)"
                );
                (Journal::open_once(path, options)?, Some(target))
            }
            Err(e) => return Err(e),
        };
        // Claims the WAL's blocks now, while there may be room (see `files.rs`).
        let mut journal = journal;
        journal.bound_now();
        let oldest_seq = journal.oldest().unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the oldest entry");
            None
        });
        let report = OpenReport {
            path: path.to_owned(),
            resumed_entries: journal.entries,
            resumed_samples: journal.samples,
            oldest_seq: oldest_seq.map(|(seq, _)| seq),
            next_seq: journal.next_seq,
            moved_aside,
        };
        tracing::info!(
            path = %path.display(),
            resumed_entries = report.resumed_entries,
            resumed_samples = report.resumed_samples,
            next_seq = report.next_seq,
            "journal opened"
        );
        Ok((journal, report))
    }

    fn open_once(path: &Path, options: JournalOptions) -> Result<Journal, JournalError> {
        let conn = recovery::connect(path)?;
        let sqlite = |source| JournalError::Sqlite { path: path.to_owned(), op: "load", source };
        let page_size: i64 =
            conn.pragma_query_value(None, "page_size", |r| r.get(0)).map_err(sqlite)?;
        let page_size = page_size.max(512) as u64;
        let budget = Budget::for_size(disk::fs_space(path).map(|s| s.size));
        configure_files(&conn, path, &budget, page_size)?;
        let mut next_seq =
            schema::meta(&conn, schema::META_NEXT_SEQ).map_err(sqlite)?.max(1) as u64;
        let (entries, samples, max_seq): (i64, i64, Option<i64>) = conn
            .query_row(
                "SELECT count(*), coalesce(sum(samples), 0), max(seq) FROM telemetry",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(sqlite)?;
        // next_seq and the rows commit together, so this cannot happen; if it ever did,
        // reusing a seq would make receivers discard new data as duplicates.
        if let Some(max_seq) = max_seq.map(|s| s as u64).filter(|&s| s >= next_seq) {
            tracing::warn!(
                path = %path.display(),
                next_seq,
                max_seq,
                "journal's stored next seq is behind its entries; continuing after the highest"
            );
            next_seq = max_seq + 1;
        }
        let dropped_total = Evicted {
            entries: schema::meta(&conn, schema::META_DROPPED_ENTRIES).map_err(sqlite)?.max(0)
                as u64,
            samples: schema::meta(&conn, schema::META_DROPPED_SAMPLES).map_err(sqlite)?.max(0)
                as u64,
        };
        let mut journal = Journal {
            conn,
            path: path.to_owned(),
            max_bytes: options.max_bytes,
            page_size,
            next_seq,
            entries: entries.max(0) as u64,
            samples: samples.max(0) as u64,
            dropped_total,
            episode: Episode::default(),
            disk_episode: DiskEpisode::default(),
            disk_bound: DiskBound::default(),
            budget,
            squeeze: 0,
            wal_claimable: true,
            counters: Arc::new(JournalCounters::default()),
            encoded: Vec::new(),
            spans: Vec::new(),
        };
        journal.counters.committed_seq.store(next_seq - 1, Relaxed);
        journal.after_change(Evicted::default());
        Ok(journal)
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The shared counters, for metrics.
    pub fn counters(&self) -> Arc<JournalCounters> {
        Arc::clone(&self.counters)
    }

    /// The seq the next appended batch gets. Everything below it was committed once.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Appends `batches` in one transaction and returns their seqs, in order. When this
    /// returns `Ok` the batches are durable. The size bound is applied in the same
    /// transaction: the oldest entries (possibly some of these) are dropped to fit.
    pub fn append(&mut self, batches: &[Batch]) -> Result<Vec<u64>, JournalError> {
        if batches.is_empty() {
            return Ok(Vec::new());
        }
        let first = self.next_seq;
        let next = first + batches.len() as u64;
        if i64::try_from(next).is_err() {
            return Err(JournalError::SeqRange { path: self.path.clone(), seq: next });
        }
        self.encoded.clear();
        self.spans.clear();
        for batch in batches {
            let start = self.encoded.len();
            codec::encode(batch, &mut self.encoded);
            self.spans.push(start..self.encoded.len());
        }
        let incoming = self.encoded.len() as u64;
        let evicted = match self.commit_encoded(batches, first, incoming) {
            Err(JournalError::Sqlite { source, .. }) if disk::is_disk_full(&source) => {
                // The file system filled faster than measured (another writer took the
                // space): retry once in place, dropping old telemetry to reuse its pages.
                self.prepare_retry_on_full_disk(incoming);
                let retried = self.commit_encoded(batches, first, incoming);
                self.squeeze = 0;
                retried?
            }
            other => other?,
        };

        // Committed: from here on nothing may fail, or a caller would append the batches again.
        let appended_samples: u64 = batches.iter().map(|b| b.samples.len() as u64).sum();
        self.next_seq = next;
        self.entries += batches.len() as u64;
        self.samples += appended_samples;
        self.counters.appended_entries.fetch_add(batches.len() as u64, Relaxed);
        self.counters.appended_samples.fetch_add(appended_samples, Relaxed);
        self.counters.committed_seq.store(next - 1, Relaxed);
        self.forget_evicted(evicted);
        Ok((first..next).collect())
    }

    /// One try at committing the batches encoded in `self.encoded`, as seqs from `first`,
    /// within the bound in force; returns what the bound evicted.
    fn commit_encoded(
        &mut self,
        batches: &[Batch],
        first: u64,
        incoming: u64,
    ) -> Result<Evicted, JournalError> {
        let next = first + batches.len() as u64;
        let bound = self.bound_now().telemetry;
        let growth = self.growth_estimate(incoming);
        let page_size = self.page_size;
        let path = &self.path;
        let sqlite = |source| JournalError::Sqlite { path: path.clone(), op: "append", source };
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
        // Make room first (payload bytes are a lower bound on the growth), so the file does
        // not grow past the bound and then shrink; the second pass settles the exact count.
        // Under the disk's bound the file must not grow at all: allow for page overhead.
        let mut evicted =
            bound::evict_to(&tx, self.page_size, bound.saturating_sub(growth)).map_err(sqlite)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO telemetry (seq, ts_ms, samples, payload) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(sqlite)?;
            for ((seq, batch), span) in (first..).zip(batches).zip(&self.spans) {
                insert
                    .execute((
                        seq as i64,
                        batch.ts_ms as i64,
                        batch.samples.len() as i64,
                        &self.encoded[span.clone()],
                    ))
                    .map_err(sqlite)?;
            }
        }
        schema::set_meta(&tx, schema::META_NEXT_SEQ, next as i64).map_err(sqlite)?;
        evicted = evicted + bound::evict_to(&tx, self.page_size, bound).map_err(sqlite)?;
        disk::claim_pages(&tx, path, page_size).map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
        Ok(evicted)
    }

    /// What an insert of `payload` bytes may add to the pages in use: the payload itself
    /// under `max_bytes`; under the disk's bound (where the file must not grow) also the
    /// cells', overflow and interior pages' share, one part in eight, and four pages.
    pub(super) fn growth_estimate(&self, payload: u64) -> u64 {
        match self.disk_bound.bound {
            Some(_) => payload + payload / 8 + 4 * self.page_size,
            None => payload,
        }
    }

    /// Up to `limit` entries with seq greater than `after` (all when `None`), oldest first.
    ///
    /// An entry whose bytes cannot be decoded (a bug, or damage `quick_check` missed) can
    /// never be published; it is logged with its seq, counted and deleted, so it cannot
    /// block the entries behind it.
    pub fn read_after(
        &mut self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredBatch>, JournalError> {
        let Ok(after) = i64::try_from(after.unwrap_or(0)) else { return Ok(Vec::new()) };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sqlite = |source| JournalError::Sqlite { path: self.path.clone(), op: "read", source };
        let mut out = Vec::new();
        let mut undecodable = Vec::new();
        {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT seq, payload FROM telemetry WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .map_err(sqlite)?;
            let mut rows = stmt.query((after, limit)).map_err(sqlite)?;
            while let Some(row) = rows.next().map_err(sqlite)? {
                let seq = row.get::<_, i64>(0).map_err(sqlite)? as u64;
                let payload = row.get_ref(1).map_err(sqlite)?.as_blob().unwrap_or_default();
                match codec::decode(payload) {
                    Ok(batch) => out.push(StoredBatch { seq, batch }),
                    Err(error) => {
                        tracing::error!(
                            path = %self.path.display(),
                            seq,
                            %error,
                            "journal entry cannot be decoded; deleting it so the entries \
                             behind it can be published"
                        );
                        undecodable.push(seq);
                    }
                }
            }
        }
        if !undecodable.is_empty() {
            self.counters.undecodable_entries.fetch_add(undecodable.len() as u64, Relaxed);
            self.delete(&undecodable, "delete undecodable")?;
        }
        Ok(out)
    }

    /// Deletes the entries the broker acknowledged. Seqs that are already gone (acked
    /// before, or dropped by the bound) are skipped. Returns how many were deleted.
    ///
    /// Not fsynced on its own: a lost ack only means the entry is sent again, which
    /// at-least-once delivery allows, and the next append's fsync covers it.
    pub fn ack(&mut self, seqs: &[u64]) -> Result<usize, JournalError> {
        let (entries, samples) = self.delete(seqs, "ack")?;
        self.counters.acked_entries.fetch_add(entries, Relaxed);
        self.counters.acked_samples.fetch_add(samples, Relaxed);
        Ok(entries as usize)
    }

    /// Deletes telemetry rows by seq in one transaction with `synchronous=NORMAL`; returns
    /// the entries and samples deleted.
    fn delete(&mut self, seqs: &[u64], op: &'static str) -> Result<(u64, u64), JournalError> {
        if seqs.is_empty() {
            return Ok((0, 0));
        }
        let path = &self.path;
        let sqlite = |source| JournalError::Sqlite { path: path.clone(), op, source };
        self.conn.pragma_update(None, "synchronous", "NORMAL").map_err(sqlite)?;
        let result = (|| {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (mut entries, mut samples) = (0u64, 0u64);
            {
                let mut delete =
                    tx.prepare_cached("DELETE FROM telemetry WHERE seq = ?1 RETURNING samples")?;
                for seq in seqs.iter().filter_map(|&s| i64::try_from(s).ok()) {
                    if let Some(n) = delete.query_row([seq], |r| r.get::<_, i64>(0)).optional()? {
                        entries += 1;
                        samples += n.max(0) as u64;
                    }
                }
            }
            tx.commit()?;
            Ok((entries, samples))
        })();
        // Appends must be fsynced again whatever happened above.
        let restored = self.conn.pragma_update(None, "synchronous", "FULL");
        let (entries, samples) = result.map_err(sqlite)?;
        restored.map_err(sqlite)?;
        self.entries = self.entries.saturating_sub(entries);
        self.samples = self.samples.saturating_sub(samples);
        self.after_change(Evicted::default());
        Ok((entries, samples))
    }

    /// Gives free space back to the file system when an outage's backlog has drained (see
    /// the module docs). Returns the bytes the file shrank by; cheap when there is nothing
    /// to do. Call it now and then (the handle does, every few seconds).
    pub fn reclaim(&mut self) -> Result<u64, JournalError> {
        self.reclaim_with(ReclaimPolicy::for_bound(self.max_bytes))
    }

    pub(crate) fn reclaim_with(&mut self, policy: ReclaimPolicy) -> Result<u64, JournalError> {
        let freed = bound::reclaim(&self.conn, self.page_size, policy).map_err(|source| {
            JournalError::Sqlite { path: self.path.clone(), op: "reclaim", source }
        })?;
        if freed > 0 {
            tracing::debug!(path = %self.path.display(), freed, "journal gave space back");
            self.after_change(Evicted::default());
        }
        Ok(freed)
    }

    /// The journal's state now.
    pub fn stats(&self) -> Result<JournalStats, JournalError> {
        let sqlite = |source| JournalError::Sqlite { path: self.path.clone(), op: "stats", source };
        let oldest = self.oldest().map_err(sqlite)?;
        let (evidence_records, evidence_unpublished): (i64, i64) = self
            .conn
            .query_row("SELECT count(*), coalesce(sum(published = 0), 0) FROM evidence", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(sqlite)?;
        Ok(JournalStats {
            entries: self.entries,
            samples: self.samples,
            oldest_seq: oldest.map(|(seq, _)| seq),
            oldest_ts_ms: oldest.map(|(_, ts)| ts),
            next_seq: self.next_seq,
            used_bytes: bound::used_bytes(&self.conn, self.page_size).map_err(sqlite)?,
            file_bytes: self.file_bytes(),
            max_bytes: self.max_bytes,
            dropped_entries_total: self.dropped_total.entries,
            dropped_samples_total: self.dropped_total.samples,
            evidence_records: evidence_records as u64,
            evidence_unpublished: evidence_unpublished as u64,
        })
    }

    /// The oldest entry's seq and batch timestamp.
    fn oldest(&self) -> rusqlite::Result<Option<(u64, u64)>> {
        self.conn
            .prepare_cached("SELECT seq, ts_ms FROM telemetry ORDER BY seq LIMIT 1")?
            .query_row([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)))
            .optional()
    }

    /// Main file plus WAL on disk.
    fn file_bytes(&self) -> u64 {
        [recovery::with_suffix(&self.path, ""), recovery::with_suffix(&self.path, "-wal")]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// After a committed eviction: takes the dropped entries off the live figures.
    pub(super) fn forget_evicted(&mut self, evicted: Evicted) {
        self.entries = self.entries.saturating_sub(evicted.entries);
        self.samples = self.samples.saturating_sub(evicted.samples);
        self.after_change(evicted);
    }

    /// After a committed change: updates the dropped totals, the gauges and the full
    /// episode. Never fails — the change is already durable; a gauge that cannot be read
    /// keeps its old value.
    pub(super) fn after_change(&mut self, evicted: Evicted) {
        self.dropped_total = self.dropped_total + evicted;
        let c = &self.counters;
        c.dropped_entries_total.store(self.dropped_total.entries, Relaxed);
        c.dropped_samples_total.store(self.dropped_total.samples, Relaxed);
        c.entries.store(self.entries, Relaxed);
        c.samples.store(self.samples, Relaxed);
        c.file_bytes.store(self.file_bytes(), Relaxed);
        match self.oldest() {
            Ok(oldest) => c.oldest_ts_ms.store(oldest.map_or(0, |(_, ts)| ts), Relaxed),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot read the oldest entry")
            }
        }
        match bound::used_bytes(&self.conn, self.page_size) {
            Ok(used) => {
                c.used_bytes.store(used, Relaxed);
                // Drops forced by the disk belong to the disk-full episode, not to max_bytes.
                let DiskBound { bound, available } = self.disk_bound;
                let (by_max, by_disk) = match bound {
                    Some(_) => (Evicted::default(), evicted),
                    None => (evicted, Evicted::default()),
                };
                self.episode.observe(&self.path, by_max, used, self.max_bytes);
                self.disk_episode.observe(
                    &self.path,
                    by_disk,
                    bound,
                    available,
                    self.budget.margin,
                );
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot measure the journal")
            }
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Keep the WAL's blocks at close (persistent WAL, no size limit): the next start,
        // maybe on a full disk, finds them. The checkpoint at close still runs.
        let _ = self.conn.pragma_update(None, "journal_size_limit", -1);
    }
}

/// Sets the journal's file handling for its budget: the main file grows in claimed chunks,
/// the WAL is checkpointed at half its claim and truncated back to the claim, and the WAL
/// and `-shm` outlive the connection. See `files.rs`.
fn configure_files(
    conn: &Connection,
    path: &Path,
    budget: &Budget,
    page_size: u64,
) -> Result<(), JournalError> {
    let sqlite = |source| JournalError::Sqlite { path: path.to_owned(), op: "configure", source };
    files::set_main_chunk(conn).map_err(sqlite)?;
    files::persist_wal(conn).map_err(sqlite)?;
    conn.pragma_update(None, "journal_size_limit", budget.wal as i64).map_err(sqlite)?;
    conn.pragma_update(None, "wal_autocheckpoint", budget.autocheckpoint_pages(page_size))
        .map_err(sqlite)?;
    // A file from before claims were made may have pages only in its WAL: claim them now if
    // the disk allows (a full disk's checkpoint may otherwise fail until space returns).
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0)).map_err(sqlite)?;
    let need = pages.max(0) as u64 * page_size;
    if need > files::file_len(path) {
        if let Err(e) = files::claim_main(conn, need) {
            tracing::warn!(path = %path.display(), error = %e, "cannot claim the journal's blocks yet");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::codec::tests::batch_of_every_variant;
    use crate::journal::test_support::{batch, open, path_in};

    #[test]
    fn append_read_ack_round_trips_every_variant() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, report) = open(dir.path(), DEFAULT_MAX_BYTES);
        assert_eq!((report.resumed_entries, report.next_seq, report.moved_aside), (0, 1, None));

        let batches = vec![batch_of_every_variant(), batch(1, 3)];
        assert_eq!(journal.append(&batches).unwrap(), vec![1, 2]);

        let read = journal.read_after(None, 10).unwrap();
        assert_eq!(
            read,
            vec![
                StoredBatch { seq: 1, batch: batches[0].clone() },
                StoredBatch { seq: 2, batch: batches[1].clone() },
            ]
        );
        assert_eq!(journal.read_after(Some(1), 10).unwrap()[0].seq, 2);
        assert_eq!(journal.read_after(None, 1).unwrap().len(), 1, "limit");
        assert!(journal.read_after(Some(2), 10).unwrap().is_empty());
        assert!(journal.read_after(Some(u64::MAX), 10).unwrap().is_empty());

        assert_eq!(journal.ack(&[1]).unwrap(), 1);
        assert_eq!(journal.ack(&[1, 99, u64::MAX]).unwrap(), 0, "already gone or never there");
        let read = journal.read_after(None, 10).unwrap();
        assert_eq!(read.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2]);

        let stats = journal.stats().unwrap();
        assert_eq!((stats.entries, stats.samples, stats.oldest_seq), (1, 3, Some(2)));
        assert_eq!(stats.oldest_ts_ms, Some(batches[1].ts_ms));
        let c = journal.counters().snapshot();
        assert_eq!((c.appended_entries, c.acked_entries, c.entries, c.committed_seq), (2, 1, 1, 2));
        assert_eq!(c.acked_samples, batches[0].samples.len() as u64);
    }

    #[test]
    fn seqs_strictly_increase_across_reopens_even_after_everything_was_acked() {
        let dir = tempfile::tempdir().unwrap();
        let mut all = Vec::new();
        for round in 0..3u64 {
            let (mut journal, report) = open(dir.path(), DEFAULT_MAX_BYTES);
            assert_eq!(report.next_seq, round * 2 + 1);
            let seqs = journal.append(&[batch(round, 1), batch(round, 2)]).unwrap();
            assert_eq!(journal.ack(&seqs).unwrap(), 2);
            assert_eq!(journal.stats().unwrap().entries, 0);
            all.extend(seqs);
        }
        assert_eq!(all, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn reopen_resumes_the_unacked_entries_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let batches: Vec<_> = (0..5).map(|i| batch(i, 2)).collect();
        {
            let (mut journal, _) = open(dir.path(), DEFAULT_MAX_BYTES);
            journal.append(&batches[..3]).unwrap();
            journal.append(&batches[3..]).unwrap();
            journal.ack(&[2, 4]).unwrap();
        }
        let (mut journal, report) = open(dir.path(), DEFAULT_MAX_BYTES);
        assert_eq!(report.resumed_entries, 3);
        assert_eq!(report.resumed_samples, 6);
        assert_eq!(report.oldest_seq, Some(1));
        assert_eq!(report.next_seq, 6);
        let read = journal.read_after(None, 100).unwrap();
        let want: Vec<_> = [1u64, 3, 5]
            .iter()
            .map(|&seq| StoredBatch { seq, batch: batches[seq as usize - 1].clone() })
            .collect();
        assert_eq!(read, want);
    }

    #[test]
    fn committed_batches_survive_a_crash_without_close() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = open(dir.path(), DEFAULT_MAX_BYTES);
        for i in 0..10 {
            journal.append(&[batch(i, 4)]).unwrap();
        }
        // No destructor runs on a crash: the connection is never closed, the WAL is never
        // checkpointed. Copy the files as they are now, as a power cut would leave them.
        std::mem::forget(journal);
        let crashed = tempfile::tempdir().unwrap();
        for suffix in ["", "-wal"] {
            let from = recovery::with_suffix(&path_in(dir.path()), suffix);
            std::fs::copy(&from, recovery::with_suffix(&path_in(crashed.path()), suffix)).unwrap();
        }
        for (case, dir) in [("copy taken at the crash", crashed.path()), ("same file", dir.path())]
        {
            let (mut journal, report) = open(dir, DEFAULT_MAX_BYTES);
            assert_eq!(report.resumed_entries, 10, "{case}");
            assert_eq!(report.next_seq, 11, "{case}");
            let read = journal.read_after(None, 100).unwrap();
            assert_eq!(read.len(), 10, "{case}");
            assert_eq!(read[9].batch, batch(9, 4), "{case}");
        }
    }

    #[test]
    fn an_undecodable_entry_is_deleted_and_counted_not_returned() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = open(dir.path(), DEFAULT_MAX_BYTES);
        journal.append(&[batch(1, 1)]).unwrap();
        journal
            .conn
            .execute(
                "INSERT INTO telemetry (seq, ts_ms, samples, payload) VALUES (2, 0, 1, x'09')",
                [],
            )
            .unwrap();
        journal.next_seq = 3;
        journal.entries += 1;
        journal.append(&[batch(3, 1)]).unwrap();

        let seqs: Vec<_> = journal.read_after(None, 10).unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![1, 3]);
        assert_eq!(journal.counters().snapshot().undecodable_entries, 1);
        assert_eq!(journal.stats().unwrap().entries, 2);
        assert_eq!(journal.read_after(None, 10).unwrap().len(), 2, "gone for good");
    }

    #[test]
    fn empty_append_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = open(dir.path(), DEFAULT_MAX_BYTES);
        assert!(journal.append(&[]).unwrap().is_empty());
        assert_eq!(journal.next_seq(), 1);
        assert_eq!(journal.ack(&[]).unwrap(), 0);
    }
}
