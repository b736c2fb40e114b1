//! The on-disk schema and its version.
//!
//! **Changing this breaks stored data.** A gateway upgraded in the field opens a journal
//! written by the previous build, possibly holding weeks of unacknowledged backlog. Any
//! change to a table, a column's meaning or a `meta` key needs a new [`SCHEMA_VERSION`] and a
//! migration step in [`ensure`] from every older version; never edit version 1 in place.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use super::error::JournalError;

/// `PRAGMA user_version` of a journal this build writes.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// Version 1. `seq INTEGER PRIMARY KEY` aliases the rowid, so each table is one B-tree in
/// seq order: appends go to its right edge and oldest-first reads and deletes walk its left
/// edge.
const CREATE_V1: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES
    ('next_seq', 1),
    ('dropped_entries', 0),
    ('dropped_samples', 0);
CREATE TABLE telemetry (
    seq     INTEGER PRIMARY KEY,
    ts_ms   INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE evidence (
    seq       INTEGER PRIMARY KEY,
    payload   BLOB NOT NULL,
    published INTEGER NOT NULL DEFAULT 0
);
";

/// `meta` key: the seq the next telemetry entry gets. Only ever increases.
pub(crate) const META_NEXT_SEQ: &str = "next_seq";
/// `meta` key: telemetry entries dropped by the size bound since the journal was created.
pub(crate) const META_DROPPED_ENTRIES: &str = "dropped_entries";
/// `meta` key: samples in those entries.
pub(crate) const META_DROPPED_SAMPLES: &str = "dropped_samples";

/// Creates the schema in a fresh file, or checks that an existing file has one this build
/// understands. Creation and the version stamp commit together, so a crash leaves either
/// an empty file or a complete schema.
pub(crate) fn ensure(conn: &mut Connection, path: &Path) -> Result<(), JournalError> {
    let sqlite = |source| JournalError::Sqlite { path: path.to_owned(), op: "schema", source };
    let tx =
        conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sqlite)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(sqlite)?;
    match version {
        0 => {
            let any_table: Option<String> = tx
                .query_row("SELECT name FROM sqlite_schema LIMIT 1", [], |r| r.get(0))
                .optional()
                .map_err(sqlite)?;
            if any_table.is_some() {
                return Err(JournalError::Foreign { path: path.to_owned() });
            }
            tx.execute_batch(CREATE_V1).map_err(sqlite)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(sqlite)?;
        }
        SCHEMA_VERSION => {}
        found if found > SCHEMA_VERSION => {
            return Err(JournalError::NewerSchema {
                path: path.to_owned(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        // Negative: nothing of ours ever wrote that.
        _ => return Err(JournalError::Foreign { path: path.to_owned() }),
    }
    tx.commit().map_err(sqlite)
}

/// Reads one `meta` value.
pub(crate) fn meta(conn: &Connection, key: &str) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?.query_row([key], |r| r.get(0))
}

/// Writes one `meta` value.
pub(crate) fn set_meta(conn: &Connection, key: &str, value: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE meta SET value = ?2 WHERE key = ?1")?.execute((key, value))?;
    Ok(())
}
