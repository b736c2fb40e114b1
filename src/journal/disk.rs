//! The file system's say in the size bound: the journal never takes the last free space of
//! the file system it lives on. See "Disk full" in the module docs of [`super`].

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::bound::{self, Evicted};
use super::error::JournalError;
use super::recovery::{with_suffix, JOURNAL_SIZE_LIMIT};
use super::store::Journal;

/// Space the journal leaves free on its file system: room for the WAL to grow to its
/// checkpoint size and for one more transaction, so commits, acks and evictions (which
/// write to the WAL too) keep working on a nearly full disk.
pub(crate) const RESERVE_BYTES: u64 = JOURNAL_SIZE_LIMIT as u64 + 2 * 1024 * 1024;

/// Size of the reserve file kept beside the journal (`<journal>-reserve`): space held back
/// for the moment another writer fills the disk to the last byte. Released on `SQLITE_FULL`
/// so the WAL can grow for the eviction, the checkpoint and the retried commit; made again
/// once the file system has room.
pub(crate) const RESERVE_FILE_BYTES: u64 = JOURNAL_SIZE_LIMIT as u64;

/// The reserve file of the journal at `journal`.
pub(crate) fn reserve_path(journal: &Path) -> std::path::PathBuf {
    with_suffix(journal, "-reserve")
}

/// Creates the reserve file (real blocks, zeros; not a sparse file) unless it exists.
/// Returns whether it is in place. Best effort: a disk without the room goes without.
pub(crate) fn ensure_reserve(journal: &Path) -> bool {
    let path = reserve_path(journal);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() >= RESERVE_FILE_BYTES) {
        return true;
    }
    let write = || -> std::io::Result<()> {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&path)?;
        let zeros = vec![0u8; 64 * 1024];
        let mut left = RESERVE_FILE_BYTES;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            f.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        f.sync_all()
    };
    match write() {
        Ok(()) => true,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            tracing::debug!(path = %path.display(), error = %e, "no room for the journal's reserve file yet");
            false
        }
    }
}

/// Deletes the reserve file; returns whether there was one.
pub(crate) fn release_reserve(journal: &Path) -> bool {
    let path = reserve_path(journal);
    let released = std::fs::remove_file(&path).is_ok();
    if released {
        tracing::warn!(
            path = %path.display(),
            bytes = RESERVE_FILE_BYTES,
            "the disk is full to the last byte: released the journal's reserve file so it can \
             keep writing (made again once space returns)"
        );
    }
    released
}

/// Bytes the file system holding `path` still gives an unprivileged writer, or `None` when
/// it cannot be asked (then only `max_bytes` bounds the journal).
pub(crate) fn available_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs that the call
    // fills in; nothing is read from it unless the call succeeded.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| (st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// What the file system allowed at the last change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DiskBound {
    /// The bound the disk set, when lower than `max_bytes`.
    pub(crate) bound: Option<u64>,
    /// The file system's free bytes then, when known.
    pub(crate) available: Option<u64>,
}

/// The disk's bound: what the main file already holds, plus what the file system has left
/// beyond [`RESERVE_BYTES`]; `None` when that is no lower than `max_bytes`. Pages the file
/// already holds stay the journal's even on a full disk: reusing them needs no new space.
fn disk_bound(conn: &Connection, page_size: u64, max_bytes: u64, available: u64) -> Option<u64> {
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0)).ok()?;
    let in_file = pages.max(0) as u64 * page_size;
    let cap = in_file + available.saturating_sub(RESERVE_BYTES);
    (cap < max_bytes).then_some(cap)
}

impl Journal {
    /// The bound in force for the next change: `max_bytes`, or less when the file system is
    /// nearly full. Remembered for the episode logs.
    pub(super) fn bound_now(&mut self) -> u64 {
        let mut available = available_bytes(&self.path);
        if !self.reserve_in_place
            && available.is_some_and(|a| a >= RESERVE_FILE_BYTES + 2 * RESERVE_BYTES)
        {
            self.reserve_in_place = ensure_reserve(&self.path);
            available = available_bytes(&self.path);
        }
        let bound =
            available.and_then(|a| disk_bound(&self.conn, self.page_size, self.max_bytes, a));
        self.disk_bound = DiskBound { bound, available };
        bound.unwrap_or(self.max_bytes)
    }

    /// After `SQLITE_FULL`: releases the reserve file, drops the oldest telemetry, at least twice `need` bytes' worth
    /// and at least 1 MiB, so the retry and the next flushes reuse the freed pages inside
    /// the file instead of growing it; then lets a checkpoint recycle the WAL. Counted and
    /// logged like any eviction under the disk's bound.
    pub(super) fn make_room_after_disk_full(&mut self, need: u64) -> Result<(), JournalError> {
        self.counters.disk_full.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Deleting rows writes to the WAL too: on a disk full to the last byte it needs the
        // reserve's space.
        if release_reserve(&self.path) {
            self.reserve_in_place = false;
        }
        let path = &self.path;
        let sqlite = |source| JournalError::Sqlite {
            path: path.clone(),
            op: "make room on a full disk",
            source,
        };
        let used = bound::used_bytes(&self.conn, self.page_size).map_err(sqlite)?;
        let target = used.saturating_sub((2 * need).max(1024 * 1024));
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
        let evicted = bound::evict_to(&tx, self.page_size, target).map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
        // Best effort: a checkpoint lets the next transaction write the WAL from its start.
        let _ = self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        self.disk_bound = DiskBound { bound: Some(target), available: available_bytes(&self.path) };
        self.forget_evicted(evicted);
        Ok(())
    }
}

/// One "disk full" episode: from the first eviction forced by the file system (not by
/// `max_bytes`) until the file system has twice the reserve free again. Logged once at
/// each end; the drops are counted with every other eviction.
#[derive(Debug, Default)]
pub(crate) struct DiskEpisode {
    active: bool,
    dropped: Evicted,
}

impl DiskEpisode {
    /// Feeds one change: what it evicted, whether the disk (not `max_bytes`) set the bound,
    /// and the file system's free bytes.
    pub(crate) fn observe(
        &mut self,
        path: &Path,
        evicted: Evicted,
        disk_bound: Option<u64>,
        available: Option<u64>,
    ) {
        if let (Some(bound), true) = (disk_bound, evicted.entries > 0) {
            if !self.active {
                tracing::warn!(
                    path = %path.display(),
                    available_bytes = available.unwrap_or(0),
                    held_at_bytes = bound,
                    dropped_entries = evicted.entries,
                    "the file system holding the journal is nearly full: holding the journal \
                     below its size bound and dropping the oldest unpublished telemetry to stay \
                     there (evidence is kept); logged once until space is free again"
                );
                self.active = true;
            }
            self.dropped = self.dropped + evicted;
        } else if self.active && available.is_some_and(|a| a >= 2 * RESERVE_BYTES) {
            tracing::info!(
                path = %path.display(),
                available_bytes = available.unwrap_or(0),
                dropped_entries = self.dropped.entries,
                dropped_samples = self.dropped.samples,
                "the journal's file system has space again; the disk-full episode dropped the \
                 entries and samples counted here"
            );
            *self = DiskEpisode::default();
        }
    }
}

/// Whether an SQLite error is the disk filling up (`SQLITE_FULL`, which SQLite's unix VFS
/// returns for `ENOSPC`).
pub(crate) fn is_disk_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::test_support::{batch, open};

    #[test]
    fn the_disk_bounds_the_journal_only_when_it_is_lower_than_max_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = open(dir.path(), 64 * 1024);
        assert_eq!(journal.bound_now(), 64 * 1024, "a small max_bytes is the bound");
        assert_eq!(journal.disk_bound.bound, None);

        let (mut journal, _) = open(dir.path(), u64::MAX);
        journal.append(&[batch(1, 10)]).unwrap();
        let available = available_bytes(&journal.path).expect("statvfs works here");
        let bound = journal.bound_now();
        assert_eq!(journal.disk_bound.bound, Some(bound), "an unbounded journal: the disk");
        // The file's pages plus what is free beyond the reserve (the free space moves
        // between the two measurements on a shared disk: compare loosely).
        let want = available.saturating_sub(RESERVE_BYTES);
        assert!(bound.abs_diff(want) < 64 * 1024 * 1024, "bound {bound}, free-reserve {want}");
    }

    #[test]
    fn sqlite_full_is_told_from_other_errors() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(is_disk_full(&full));
        assert!(!is_disk_full(&busy));
        assert!(!is_disk_full(&rusqlite::Error::QueryReturnedNoRows));
    }
}
