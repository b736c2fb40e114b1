//! The evidence table: signed records from `evidence::recorder`, stored durably before they
//! are published, marked published on ack, and never dropped by the size bound.
//!
//! The journal treats a record as opaque bytes; the evidence module owns their format and
//! their seqs (gap-free from 0, EVIDENCE.md), which this table enforces on append.

use rusqlite::{OptionalExtension, TransactionBehavior};

use super::bound;
use super::disk;
use super::error::JournalError;
use super::store::Journal;

/// One stored evidence record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvidence {
    /// The record's own seq (gap-free from 0).
    pub seq: u64,
    /// The record's bytes as appended.
    pub payload: Vec<u8>,
}

impl Journal {
    /// Appends evidence record `seq` in its own fsynced transaction. `seq` must be one more
    /// than the last record's (0 for the first). Telemetry is dropped, oldest first, if
    /// the record pushes the journal past its bound.
    pub fn append_evidence(&mut self, seq: u64, payload: &[u8]) -> Result<(), JournalError> {
        match self.append_evidence_once(seq, payload) {
            // Evidence is never dropped: on a full disk, telemetry makes room for it.
            Err(JournalError::Sqlite { source, .. }) if disk::is_disk_full(&source) => {
                self.prepare_retry_on_full_disk(payload.len() as u64);
                let retried = self.append_evidence_once(seq, payload);
                self.squeeze = 0;
                retried
            }
            other => other,
        }
    }

    fn append_evidence_once(&mut self, seq: u64, payload: &[u8]) -> Result<(), JournalError> {
        // The total bound: evidence may use the room kept free of telemetry.
        let bound = self.bound_now().total;
        let growth = self.growth_estimate(payload.len() as u64);
        let page_size = self.page_size;
        let path = &self.path;
        let sqlite =
            |source| JournalError::Sqlite { path: path.clone(), op: "append evidence", source };
        let Ok(seq_i64) = i64::try_from(seq) else {
            return Err(JournalError::SeqRange { path: path.clone(), seq });
        };
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
        let last: Option<i64> =
            tx.query_row("SELECT max(seq) FROM evidence", [], |r| r.get(0)).map_err(sqlite)?;
        let expected = last.map_or(0, |s| s as u64 + 1);
        if seq != expected {
            return Err(JournalError::EvidenceOutOfOrder {
                path: path.clone(),
                expected,
                got: seq,
            });
        }
        // Telemetry makes room first when the evidence room is used up, so the record reuses
        // its pages instead of growing the file.
        let mut evicted =
            bound::evict_to(&tx, self.page_size, bound.saturating_sub(growth)).map_err(sqlite)?;
        tx.prepare_cached("INSERT INTO evidence (seq, payload) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute((seq_i64, payload)))
            .map_err(sqlite)?;
        evicted = evicted + bound::evict_to(&tx, self.page_size, bound).map_err(sqlite)?;
        disk::claim_pages(&tx, path, page_size).map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
        self.forget_evicted(evicted);
        Ok(())
    }

    /// Up to `limit` records not yet acknowledged, with seq greater than `after` (all when
    /// `None`), oldest first.
    pub fn read_unpublished_evidence(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredEvidence>, JournalError> {
        let sqlite =
            |source| JournalError::Sqlite { path: self.path.clone(), op: "read evidence", source };
        // -1 so that `None` includes seq 0.
        let after = after.map_or(Ok(-1), i64::try_from);
        let Ok(after) = after else { return Ok(Vec::new()) };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, payload FROM evidence WHERE seq > ?1 AND published = 0 \
                 ORDER BY seq LIMIT ?2",
            )
            .map_err(sqlite)?;
        let rows = stmt
            .query_map((after, limit), |r| {
                Ok(StoredEvidence { seq: r.get::<_, i64>(0)? as u64, payload: r.get(1)? })
            })
            .map_err(sqlite)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sqlite)
    }

    /// Marks records as acknowledged by the broker. They stay in the table (an `export`
    /// needs the whole log); returns how many were newly marked.
    pub fn ack_evidence(&mut self, seqs: &[u64]) -> Result<usize, JournalError> {
        let path = &self.path;
        let sqlite =
            |source| JournalError::Sqlite { path: path.clone(), op: "ack evidence", source };
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
        let mut marked = 0;
        {
            let mut mark = tx
                .prepare_cached(
                    "UPDATE evidence SET published = 1 WHERE seq = ?1 AND published = 0 \
                     RETURNING seq",
                )
                .map_err(sqlite)?;
            for seq in seqs.iter().filter_map(|&s| i64::try_from(s).ok()) {
                if mark
                    .query_row([seq], |r| r.get::<_, i64>(0))
                    .optional()
                    .map_err(sqlite)?
                    .is_some()
                {
                    marked += 1;
                }
            }
        }
        tx.commit().map_err(sqlite)?;
        Ok(marked)
    }

    /// Every stored record from `from` on, published or not, oldest first (for `export`).
    pub fn read_evidence(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvidence>, JournalError> {
        read_from(&self.conn, &self.path, from, limit)
    }
}

/// Up to `limit` stored records from seq `from` on, published or not, oldest first. Shared by
/// the journal and the read-only [`super::evidence_reader::EvidenceReader`] of `export`.
pub(super) fn read_from(
    conn: &rusqlite::Connection,
    path: &std::path::Path,
    from: u64,
    limit: usize,
) -> Result<Vec<StoredEvidence>, JournalError> {
    let sqlite =
        |source| JournalError::Sqlite { path: path.to_owned(), op: "read evidence", source };
    let Ok(from) = i64::try_from(from) else { return Ok(Vec::new()) };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached("SELECT seq, payload FROM evidence WHERE seq >= ?1 ORDER BY seq LIMIT ?2")
        .map_err(sqlite)?;
    let rows = stmt
        .query_map((from, limit), |r| {
            Ok(StoredEvidence { seq: r.get::<_, i64>(0)? as u64, payload: r.get(1)? })
        })
        .map_err(sqlite)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sqlite)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::test_support::open;

    fn seqs(records: &[StoredEvidence]) -> Vec<u64> {
        records.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn evidence_appends_gap_free_and_stays_after_ack() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = open(dir.path(), 1 << 20);
        let out_of_order = |e: JournalError| match e {
            JournalError::EvidenceOutOfOrder { expected, got, .. } => (expected, got),
            other => panic!("{other}"),
        };
        assert_eq!(out_of_order(journal.append_evidence(1, b"x").unwrap_err()), (0, 1));
        for seq in 0..3 {
            journal.append_evidence(seq, format!("record {seq}").as_bytes()).unwrap();
        }
        assert_eq!(out_of_order(journal.append_evidence(2, b"dup").unwrap_err()), (3, 2));
        assert_eq!(out_of_order(journal.append_evidence(4, b"gap").unwrap_err()), (3, 4));

        assert_eq!(seqs(&journal.read_unpublished_evidence(None, 10).unwrap()), vec![0, 1, 2]);
        assert_eq!(seqs(&journal.read_unpublished_evidence(Some(0), 1).unwrap()), vec![1]);
        assert_eq!(journal.ack_evidence(&[0, 1, 7]).unwrap(), 2);
        assert_eq!(journal.ack_evidence(&[0]).unwrap(), 0, "already published");
        assert_eq!(seqs(&journal.read_unpublished_evidence(None, 10).unwrap()), vec![2]);

        drop(journal);
        let (journal, _) = open(dir.path(), 1 << 20);
        let all = journal.read_evidence(0, 10).unwrap();
        assert_eq!(seqs(&all), vec![0, 1, 2], "acked records are kept");
        assert_eq!(all[2].payload, b"record 2");
        let stats = journal.stats().unwrap();
        assert_eq!((stats.evidence_records, stats.evidence_unpublished), (3, 1));
        assert_eq!(stats.entries, 0, "evidence is not telemetry");
    }
}
