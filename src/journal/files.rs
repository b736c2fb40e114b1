//! The journal's files on a small or full disk: space claimed ahead, so that a disk full to
//! the last byte never leaves SQLite unable to write. See "Disk full" in the module docs of
//! [`super`] for the rules these primitives serve.
//!
//! - The main file is extended in chunks with real blocks *before* a transaction that grows
//!   the database commits ([`claim_main`], SQLite's `SQLITE_FCNTL_SIZE_HINT` with
//!   `SQLITE_FCNTL_CHUNK_SIZE`). A WAL checkpoint then only ever overwrites blocks the main
//!   file already has: it cannot fail for want of space, so the WAL can always be reset.
//! - The WAL's blocks are claimed ahead up to its budget ([`claim_wal`], `fallocate` with
//!   `FALLOC_FL_KEEP_SIZE`), so a transaction after a reset writes into blocks it already has.
//! - The WAL and its `-shm` index are kept at close (`SQLITE_FCNTL_PERSIST_WAL`, no size
//!   limit at close), so a start on a full disk finds them and needs no new space.

use std::ffi::{c_int, c_void};
use std::path::Path;

use rusqlite::{ffi, Connection};

/// Chunk in which SQLite extends (and truncates) the main file.
pub(crate) const MAIN_CHUNK_BYTES: i32 = 64 * 1024;

/// One `sqlite3_file_control` call on the main database.
fn file_control(conn: &Connection, op: c_int, arg: *mut c_void) -> rusqlite::Result<()> {
    // SAFETY: `conn.handle()` is the live connection this `Connection` owns, used on this
    // thread only; "main" is a NUL-terminated name; `arg` points at the integer type `op`
    // takes, alive for the call.
    let rc = unsafe { ffi::sqlite3_file_control(conn.handle(), c"main".as_ptr(), op, arg) };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None))
    }
}

/// Makes SQLite extend the main file in [`MAIN_CHUNK_BYTES`] chunks of real blocks and keep
/// up to one chunk when a checkpoint truncates it.
pub(crate) fn set_main_chunk(conn: &Connection) -> rusqlite::Result<()> {
    let mut chunk: c_int = MAIN_CHUNK_BYTES;
    file_control(conn, ffi::SQLITE_FCNTL_CHUNK_SIZE, (&mut chunk as *mut c_int).cast())
}

/// Keeps the WAL and `-shm` files when the connection closes.
pub(crate) fn persist_wal(conn: &Connection) -> rusqlite::Result<()> {
    let mut on: c_int = 1;
    file_control(conn, ffi::SQLITE_FCNTL_PERSIST_WAL, (&mut on as *mut c_int).cast())
}

/// Makes sure the main file has real blocks for its first `bytes` (rounded up to the
/// chunk). Fails with `SQLITE_FULL` (or an I/O error) when the file system has no room;
/// nothing the database holds changes either way.
pub(crate) fn claim_main(conn: &Connection, bytes: u64) -> rusqlite::Result<()> {
    let mut size = i64::try_from(bytes).unwrap_or(i64::MAX);
    file_control(conn, ffi::SQLITE_FCNTL_SIZE_HINT, (&mut size as *mut i64).cast())
}

/// Bytes of real blocks a file holds (its allocation, which for the WAL can exceed its
/// length); 0 when it does not exist.
pub(crate) fn allocated_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).map(|m| m.blocks().saturating_mul(512)).unwrap_or(0)
}

/// Length of a file; 0 when it does not exist.
pub(crate) fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Claims blocks for the WAL at `wal` up to `bytes` without changing its length (SQLite
/// reads the length to find the frames), once SQLite made it. The WAL file takes
/// no POSIX locks (those are on the main file and `-shm`), so opening and closing it here
/// does not disturb SQLite's. Best effort: `Err` when the file system has no room or does
/// not support it.
pub(crate) fn claim_wal(wal: &Path, bytes: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd as _;
    if allocated_bytes(wal) >= bytes {
        return Ok(());
    }
    let f = std::fs::OpenOptions::new().write(true).open(wal)?;
    let len = libc::off_t::try_from(bytes).unwrap_or(libc::off_t::MAX);
    // SAFETY: a valid open descriptor; fallocate only changes the file's allocation.
    let rc = unsafe { libc::fallocate(f.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::recovery::with_suffix;
    use crate::journal::test_support::{batch, open, path_in};

    #[test]
    fn the_wal_is_claimed_at_open_and_kept_with_its_blocks_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let wal = with_suffix(&path_in(dir.path()), "-wal");
        let (mut journal, _) = open(dir.path(), 1 << 30);
        let budget = journal.budget.wal;
        assert!(
            journal.wal_claimable,
            "this test needs a file system with fallocate (the temp dir's cannot): run it on ext4/xfs/tmpfs"
        );
        assert!(allocated_bytes(&wal) >= budget, "claimed at open: {}", allocated_bytes(&wal));
        journal.append(&[batch(1, 10)]).unwrap();
        assert!(allocated_bytes(&wal) >= budget, "kept while writing");
        drop(journal);
        assert!(allocated_bytes(&wal) >= budget, "kept at close: {}", allocated_bytes(&wal));
        assert!(with_suffix(&path_in(dir.path()), "-shm").exists(), "-shm kept at close");
        let (mut journal, report) = open(dir.path(), 1 << 30);
        assert_eq!(report.resumed_entries, 1);
        assert_eq!(journal.read_after(None, 10).unwrap()[0].batch, batch(1, 10));
    }

    #[test]
    fn the_main_file_has_blocks_for_every_page_after_each_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let (mut journal, _) = open(dir.path(), 1 << 30);
        for i in 0..50 {
            let batches: Vec<_> = (0..20).map(|k| batch(i * 20 + k, 50)).collect();
            journal.append(&batches).unwrap();
            let pages: i64 =
                journal.conn.pragma_query_value(None, "page_count", |r| r.get(0)).unwrap();
            let need = pages as u64 * journal.page_size;
            assert!(file_len(&path) >= need, "commit {i}: file {} < pages {need}", file_len(&path));
            assert_eq!(file_len(&path) % MAIN_CHUNK_BYTES as u64, 0, "whole chunks");
        }
    }
}
