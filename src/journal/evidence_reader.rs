//! Reading the evidence table of a journal from another process (`edgeproof export`), without
//! ever writing to it: the file is opened read-only, nothing is created, migrated, checked
//! for damage or moved aside — that is the agent's business. SQLite's WAL mode lets this
//! reader run beside the agent's writer without blocking it.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::error::JournalError;
use super::evidence::StoredEvidence;
use super::schema::SCHEMA_VERSION;

/// A read-only view of a journal's evidence records.
#[derive(Debug)]
pub struct EvidenceReader {
    conn: Connection,
    path: PathBuf,
}

impl EvidenceReader {
    /// Opens the journal at `path` read-only. Fails if it is missing, not a journal, or of a
    /// schema version this build does not know.
    pub fn open(path: &Path) -> Result<EvidenceReader, JournalError> {
        let sqlite =
            |source| JournalError::Sqlite { path: path.to_owned(), op: "open read-only", source };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sqlite)?;
        let version: i64 =
            conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(sqlite)?;
        match version {
            SCHEMA_VERSION => {}
            found if found > SCHEMA_VERSION => {
                return Err(JournalError::NewerSchema {
                    path: path.to_owned(),
                    found,
                    supported: SCHEMA_VERSION,
                })
            }
            _ => return Err(JournalError::Foreign { path: path.to_owned() }),
        }
        Ok(EvidenceReader { conn, path: path.to_owned() })
    }

    /// Up to `limit` records from seq `from` on, oldest first.
    pub fn read(&self, from: u64, limit: usize) -> Result<Vec<StoredEvidence>, JournalError> {
        super::evidence::read_from(&self.conn, &self.path, from, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::test_support::{open, path_in};

    #[test]
    fn reads_beside_a_writer_and_refuses_what_is_not_a_journal() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = open(dir.path(), 1 << 20);
        journal.append_evidence(0, b"r0").unwrap();
        let reader = EvidenceReader::open(&path_in(dir.path())).unwrap();
        journal.append_evidence(1, b"r1").unwrap();
        let got: Vec<u64> = reader.read(0, 10).unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(got, vec![0, 1], "sees what the writer committed");
        assert_eq!(reader.read(1, 10).unwrap()[0].payload, b"r1");

        let missing = dir.path().join("nope.sqlite3");
        assert!(EvidenceReader::open(&missing).is_err());
        assert!(!missing.exists(), "a reader creates nothing");
        let foreign = dir.path().join("foreign.sqlite3");
        Connection::open(&foreign).unwrap().execute_batch("CREATE TABLE t (x);").unwrap();
        assert!(matches!(EvidenceReader::open(&foreign), Err(JournalError::Foreign { .. })));
    }
}
