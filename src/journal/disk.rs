//! The file system's say in the size bound: the journal never takes the last free space of
//! the file system it lives on, and on a full one it keeps working inside the space it
//! already holds. See "Disk full" in the module docs of [`super`].

use std::path::Path;

use rusqlite::Connection;

use super::bound::Evicted;
use super::files;
use super::recovery::with_suffix;
use super::store::Journal;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// What the journal leaves free and claims on a file system, scaled to its size so that an
/// 8 MiB data partition works as well as a large disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Free space the journal never takes (the stated margin): `size / 16`, from 512 KiB to
    /// 6 MiB.
    pub(crate) margin: u64,
    /// Blocks claimed for the WAL (`size / 8`, from 1 MiB to 8 MiB); the WAL is
    /// checkpointed at half of it, so a transaction up to the other half fits without new
    /// blocks.
    pub(crate) wal: u64,
    /// Free pages kept inside the main file for evidence while the disk bounds the journal:
    /// telemetry is held this much lower, so an evidence record never needs the file to
    /// grow (`size / 64`, from 64 KiB to 1 MiB).
    pub(crate) evidence_room: u64,
}

impl Budget {
    /// The budget on a file system of `size` bytes (`None`: unknown, a large disk's).
    pub(crate) fn for_size(size: Option<u64>) -> Budget {
        let size = size.unwrap_or(u64::MAX);
        Budget {
            margin: (size / 16).clamp(512 * KIB, 6 * MIB),
            wal: (size / 8).clamp(MIB, 8 * MIB),
            evidence_room: (size / 64).clamp(64 * KIB, MIB),
        }
    }

    /// `wal_autocheckpoint` in pages: half the WAL's blocks, at most SQLite's default 1000.
    pub(crate) fn autocheckpoint_pages(&self, page_size: u64) -> i64 {
        (self.wal / 2 / page_size.max(512)).clamp(16, 1000) as i64
    }
}

/// The reserve file older versions kept beside the journal (`<journal>-reserve`). Deleted
/// at open: the space is the journal's, and the claimed WAL does that job now.
pub(crate) fn reserve_path(journal: &Path) -> std::path::PathBuf {
    with_suffix(journal, "-reserve")
}

/// Deletes an old version's reserve file; returns whether there was one.
pub(crate) fn release_reserve(journal: &Path) -> bool {
    let path = reserve_path(journal);
    let released = std::fs::remove_file(&path).is_ok();
    if released {
        tracing::info!(path = %path.display(), "deleted the reserve file of an older edgeproof");
    }
    released
}

/// What `statvfs` says about the file system holding `path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FsSpace {
    /// Bytes it still gives an unprivileged writer.
    pub(crate) available: u64,
    /// Its size.
    pub(crate) size: u64,
}

/// The file system holding `path`, or `None` when it cannot be asked (then only
/// `max_bytes` bounds the journal).
pub(crate) fn fs_space(path: &Path) -> Option<FsSpace> {
    use std::os::unix::ffi::OsStrExt as _;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs that the call
    // fills in; nothing is read from it unless the call succeeded.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| FsSpace {
        available: (st.f_bavail as u64).saturating_mul(st.f_frsize as u64),
        size: (st.f_blocks as u64).saturating_mul(st.f_frsize as u64),
    })
}

/// What the file system allowed at the last change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DiskBound {
    /// The bound the disk set, when lower than `max_bytes`.
    pub(crate) bound: Option<u64>,
    /// The file system's free bytes then, when known.
    pub(crate) available: Option<u64>,
}

/// The bounds in force for the next change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// What telemetry may fill (pages in use).
    pub(crate) telemetry: u64,
    /// What telemetry and evidence together may fill: above `telemetry` by the evidence
    /// room while the disk sets the bound.
    pub(crate) total: u64,
}

/// The disk's bound: the main file's blocks (which it keeps, and reuses, however full the
/// disk), plus what the file system has left beyond the margin, the WAL blocks still to
/// claim and one chunk the main file may grow by; `None` when that is no lower than
/// `max_bytes`.
fn disk_bound(
    main: u64,
    wal_unclaimed: u64,
    budget: &Budget,
    max_bytes: u64,
    available: u64,
) -> Option<u64> {
    let spare =
        available.saturating_sub(budget.margin + wal_unclaimed + files::MAIN_CHUNK_BYTES as u64);
    let cap = main + spare;
    (cap < max_bytes).then_some(cap)
}

impl Journal {
    /// The bounds in force for the next change: `max_bytes`, or less when the file system
    /// is nearly full. Claims the WAL's blocks when there is room. Remembered for the
    /// episode logs.
    pub(super) fn bound_now(&mut self) -> Bounds {
        let space = fs_space(&self.path);
        let wal = with_suffix(&self.path, "-wal");
        let mut wal_unclaimed = self.budget.wal.saturating_sub(files::allocated_bytes(&wal));
        if wal_unclaimed > 0
            && self.wal_claimable
            && space.is_some_and(|s| s.available >= wal_unclaimed + 2 * self.budget.margin)
        {
            match files::claim_wal(&wal, self.budget.wal) {
                Ok(()) => wal_unclaimed = 0,
                // A file system without fallocate: the WAL grows as it is written, and the
                // bound keeps the unclaimed part free for it. Not asked again.
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                    tracing::info!(path = %wal.display(), "the file system cannot claim blocks ahead for the WAL");
                    self.wal_claimable = false;
                }
                Err(e) => {
                    tracing::debug!(path = %wal.display(), error = %e, "no room to claim the WAL's blocks yet")
                }
            }
        }
        let available = fs_space(&self.path).map(|s| s.available);
        let main = files::file_len(&self.path);
        let bound = available
            .and_then(|a| disk_bound(main, wal_unclaimed, &self.budget, self.max_bytes, a))
            .map(|b| b.saturating_sub(self.squeeze));
        self.disk_bound = DiskBound { bound, available };
        match bound {
            Some(total) => {
                Bounds { telemetry: total.saturating_sub(self.budget.evidence_room), total }
            }
            None => Bounds { telemetry: self.max_bytes, total: self.max_bytes },
        }
    }

    /// Before the one retry after `SQLITE_FULL` (another writer took the space between the
    /// measurement and the write, or the WAL had to grow): lets a checkpoint make the WAL
    /// reusable from its start, and holds the retry's bound below the main file's blocks by
    /// twice `need` (at least 256 KiB), so it drops old telemetry and reuses its pages in
    /// place. Counted; the drops are logged like any eviction under the disk's bound.
    pub(super) fn prepare_retry_on_full_disk(&mut self, need: u64) {
        self.counters.disk_full.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // An old version's reserve file, if any, is space this journal may use.
        release_reserve(&self.path);
        // The main file holds every page the WAL has (claimed before each commit), so the
        // checkpoint needs no new blocks.
        if let Err(e) = self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(path = %self.path.display(), error = %e, "checkpoint on a full disk");
        }
        self.squeeze = (2 * need).max(256 * KIB);
    }
}

/// Makes sure the main file at `path` has blocks for every page the open transaction on
/// `conn` ends with, before it commits: a checkpoint may then always copy the WAL back.
/// `SQLITE_FULL` when the file system has no room (the caller rolls back and retries in
/// place).
pub(crate) fn claim_pages(conn: &Connection, path: &Path, page_size: u64) -> rusqlite::Result<()> {
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    let need = pages.max(0) as u64 * page_size;
    if need <= files::file_len(path) {
        return Ok(());
    }
    files::claim_main(conn, need).map_err(|_| {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some(format!("no room to extend the journal's main file to {need} bytes")),
        )
    })
}

/// One "disk full" episode: from the first eviction forced by the file system (not by
/// `max_bytes`) until the file system has twice the margin free again. Logged once at
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
        margin: u64,
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
        } else if self.active && available.is_some_and(|a| a >= 2 * margin) {
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
        let small = Bounds { telemetry: 64 * 1024, total: 64 * 1024 };
        assert_eq!(journal.bound_now(), small, "a small max_bytes is the bound");
        assert_eq!(journal.disk_bound.bound, None);

        let (mut journal, _) = open(dir.path(), u64::MAX);
        journal.append(&[batch(1, 10)]).unwrap();
        let available = fs_space(&journal.path).expect("statvfs works here").available;
        let bounds = journal.bound_now();
        let bound = bounds.total;
        assert_eq!(journal.disk_bound.bound, Some(bound), "an unbounded journal: the disk");
        assert_eq!(bounds.telemetry, bound - journal.budget.evidence_room, "room for evidence");
        // The file's pages plus what is free beyond the margin (the free space moves
        // between the two measurements on a shared disk: compare loosely).
        let want = available.saturating_sub(journal.budget.margin);
        assert!(bound.abs_diff(want) < 64 * 1024 * 1024, "bound {bound}, free-reserve {want}");
    }

    #[test]
    fn the_budget_scales_with_the_file_system() {
        let cases = [
            ("8 MiB partition", Some(8 * MIB), (512 * KIB, MIB, 128 * KIB, 128)),
            ("16 MiB partition", Some(16 * MIB), (MIB, 2 * MIB, 256 * KIB, 256)),
            ("1 GiB disk", Some(1 << 30), (6 * MIB, 8 * MIB, MIB, 1000)),
            ("unknown", None, (6 * MIB, 8 * MIB, MIB, 1000)),
        ];
        for (name, size, (margin, wal, room, ckpt)) in cases {
            let b = Budget::for_size(size);
            assert_eq!(
                (b.margin, b.wal, b.evidence_room, b.autocheckpoint_pages(4096)),
                (margin, wal, room, ckpt),
                "{name}"
            );
        }
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
