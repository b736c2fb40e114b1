//! The SQLite archive: one file, WAL mode, writers serialised by SQLite's own lock
//! (`BEGIN IMMEDIATE`), so several collectors may share a file on one machine. Every call runs
//! on a blocking thread.

mod archive;
mod ingest;

pub use archive::SqliteArchive;
