//! Opening a journal file: connect, check, configure, and move a damaged file aside.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use super::error::JournalError;
use super::schema;

/// How long a statement waits for a lock held by another connection (an `export` reading
/// the file) before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// WAL pages after which a commit also checkpoints into the main file (SQLite's default,
/// set explicitly because the size bound's WAL allowance depends on it).
pub(crate) const WAL_AUTOCHECKPOINT_PAGES: i64 = 1000;

/// Size the WAL file is truncated back to after a checkpoint.
pub(crate) const JOURNAL_SIZE_LIMIT: i64 = 4 * 1024 * 1024;

/// Opens `path`, runs `PRAGMA quick_check`, sets the journal's pragmas and makes sure the
/// schema is there. A damaged file shows up as an error whose
/// [`JournalError::is_damage`] is true.
pub(crate) fn connect(path: &Path) -> Result<Connection, JournalError> {
    let sqlite = |op| move |source| JournalError::Sqlite { path: path.to_owned(), op, source };
    let mut conn = Connection::open(path).map_err(sqlite("open"))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite("open"))?;

    // The first read parses the header: a file of garbage fails here with SQLITE_NOTADB.
    let problems = quick_check(&conn).map_err(sqlite("quick_check"))?;
    if !problems.is_empty() {
        return Err(JournalError::Damaged { path: path.to_owned(), detail: problems.join("; ") });
    }

    // Takes effect only before the first table exists, i.e. for a fresh file; see the
    // module docs on space reclaim.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").map_err(sqlite("configure"))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(sqlite("configure"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(JournalError::NotWal { path: path.to_owned(), mode });
    }
    // FULL: in WAL mode every commit fsyncs the WAL, so a committed flush survives power
    // loss. NORMAL would only fsync at checkpoints and can lose the last commits.
    conn.pragma_update(None, "synchronous", "FULL").map_err(sqlite("configure"))?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)
        .map_err(sqlite("configure"))?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
        .map_err(sqlite("configure"))?;
    schema::ensure(&mut conn, path)?;
    Ok(conn)
}

/// The lines `PRAGMA quick_check` reports, without the single `ok` of a sound file; at most
/// five, which is enough to say what is wrong in a log line.
fn quick_check(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA quick_check(5)")?;
    let lines = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    Ok(lines.into_iter().filter(|l| l != "ok").collect())
}

/// Renames `path` and its `-wal`/`-shm` companions to `<name>.corrupt-<unix ms>` (and
/// `…-wal`, `…-shm`), so `sqlite3 <name>.corrupt-<ms>` still sees the WAL's content.
/// Companions go first: a stale `-wal` must never sit beside the fresh file.
pub(crate) fn move_aside(path: &Path) -> Result<PathBuf, JournalError> {
    let mut ms = crate::model::now_ms();
    let target = loop {
        let candidate = with_suffix(path, &format!(".corrupt-{ms}"));
        if !candidate.exists() {
            break candidate;
        }
        ms += 1;
    };
    for companion in ["-wal", "-shm", ""] {
        let from = with_suffix(path, companion);
        let to = with_suffix(&target, companion);
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !companion.is_empty() => {}
            Err(source) => {
                return Err(JournalError::MoveAside { path: from, target: to, source });
            }
        }
    }
    // Make the renames durable before a fresh file takes the name; best effort, the
    // renames themselves already succeeded.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(target)
}

/// `path` with `suffix` appended to its file name (`journal.db` + `-wal`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::store::{Journal, JournalOptions};
    use crate::journal::test_support::{batch, file_len, open, path_in};

    /// Files in `dir` whose name contains `.corrupt-`, sorted.
    fn moved_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".corrupt-"))
            .collect();
        names.sort();
        names
    }

    fn assert_fresh_journal_works(dir: &Path) {
        let (mut journal, report) = open(dir, 1 << 20);
        assert_eq!((report.resumed_entries, report.next_seq), (0, 1));
        assert_eq!(journal.append(&[batch(1, 2)]).unwrap(), vec![1]);
        assert_eq!(journal.read_after(None, 10).unwrap()[0].batch, batch(1, 2));
    }

    #[test]
    fn a_file_of_garbage_is_moved_aside_and_a_fresh_journal_starts() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let garbage = b"this is not an SQLite database, just bytes ".repeat(200);
        std::fs::write(&path, &garbage).unwrap();
        // A WAL without a valid header holds no frames; SQLite removes it when it closes
        // the damaged file, so the fresh journal never sees it.
        std::fs::write(with_suffix(&path, "-wal"), b"stale wal").unwrap();

        let (journal, report) = open(dir.path(), 1 << 20);
        let moved = report.moved_aside.clone().expect("moved aside");
        let name = moved.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("journal.sqlite3.corrupt-"), "{name}");
        assert_eq!(std::fs::read(&moved).unwrap(), garbage, "moved, not rewritten");
        assert!(moved_files(dir.path()).iter().all(|n| n.starts_with(&name)));
        drop(journal);
        assert_fresh_journal_works(dir.path());
    }

    #[test]
    fn move_aside_takes_the_wal_and_shm_along() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        for (suffix, content) in [("", "db"), ("-wal", "wal"), ("-shm", "shm")] {
            std::fs::write(with_suffix(&path, suffix), content).unwrap();
        }
        let target = move_aside(&path).unwrap();
        for (suffix, content) in [("", "db"), ("-wal", "wal"), ("-shm", "shm")] {
            assert!(!with_suffix(&path, suffix).exists(), "{suffix} left behind");
            assert_eq!(std::fs::read_to_string(with_suffix(&target, suffix)).unwrap(), content);
        }
        // A second damage in the same millisecond does not overwrite the first.
        std::fs::write(&path, "db2").unwrap();
        let second = move_aside(&path).unwrap();
        assert_ne!(second, target);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "db");
    }

    #[test]
    fn a_damaged_page_found_by_quick_check_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        {
            let (mut journal, _) = open(dir.path(), 1 << 30);
            let batches: Vec<_> = (0..2000).map(|i| batch(i, 10)).collect();
            journal.append(&batches).unwrap();
        } // closed: the WAL is checkpointed into the main file (and kept, see files.rs)
        for suffix in ["-wal", "-shm"] {
            std::fs::remove_file(with_suffix(&path, suffix)).unwrap();
        }
        let len = file_len(&path);
        assert!(len > 16 * 4096, "several pages: {len}");
        // Overwrite the last page (a telemetry leaf) with garbage. The file may hold a
        // claimed chunk beyond it: the header's page count says where it is.
        let mut bytes = std::fs::read(&path).unwrap();
        let pages = u32::from_be_bytes(bytes[28..32].try_into().unwrap()) as usize;
        let start = (pages - 1) * 4096;
        bytes[start..start + 4096].fill(0x5a);
        std::fs::write(&path, &bytes).unwrap();

        let (_journal, report) = open(dir.path(), 1 << 30);
        assert!(report.moved_aside.is_some(), "{report:?}");
        assert_eq!(report.resumed_entries, 0);
        assert_eq!(moved_files(dir.path()).len(), 1);
    }

    #[test]
    fn an_empty_file_becomes_a_fresh_journal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path_in(dir.path()), b"").unwrap();
        let (_, report) = open(dir.path(), 1 << 20);
        assert_eq!(report.moved_aside, None);
        assert_fresh_journal_works(dir.path());
    }

    #[test]
    fn files_that_are_not_damaged_are_refused_and_left_untouched() {
        type Setup = fn(&Path);
        type Expect = fn(&JournalError) -> bool;
        let cases: [(&str, Setup, Expect); 3] = [
            (
                "newer schema version",
                |path| {
                    drop(Journal::open(path, JournalOptions::default()).unwrap());
                    let conn = Connection::open(path).unwrap();
                    conn.pragma_update(None, "user_version", 2).unwrap();
                },
                |e| matches!(e, JournalError::NewerSchema { found: 2, supported: 1, .. }),
            ),
            (
                "some other application's database",
                |path| {
                    let conn = Connection::open(path).unwrap();
                    conn.execute_batch("CREATE TABLE orders (id INTEGER)").unwrap();
                },
                |e| matches!(e, JournalError::Foreign { .. }),
            ),
            (
                "a directory where the file should be",
                |path| std::fs::create_dir(path).unwrap(),
                |e| matches!(e, JournalError::Sqlite { op: "open", .. }),
            ),
        ];
        for (case, setup, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            let path = path_in(dir.path());
            setup(&path);
            let err = Journal::open(&path, JournalOptions::default()).unwrap_err();
            assert!(expected(&err), "{case}: {err}");
            assert!(!err.is_damage(), "{case}");
            assert!(moved_files(dir.path()).is_empty(), "{case}: moved aside");
            assert!(path.exists(), "{case}: removed");
        }
    }

    #[test]
    fn the_journal_directory_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("journal.sqlite3");
        Journal::open(&path, JournalOptions::default()).unwrap();
        assert!(path.exists());
    }

    #[test]
    fn a_fresh_journal_uses_wal_full_sync_and_incremental_vacuum() {
        let dir = tempfile::tempdir().unwrap();
        let conn = connect(&path_in(dir.path())).unwrap();
        let get = |pragma: &str| -> String {
            conn.pragma_query_value(None, pragma, |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert_eq!(get("journal_mode"), "Text(\"wal\")");
        assert_eq!(get("synchronous"), "Integer(2)", "FULL");
        assert_eq!(get("auto_vacuum"), "Integer(2)", "INCREMENTAL");
        assert_eq!(get("user_version"), "Integer(1)");
    }
}
