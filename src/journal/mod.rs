//! Durable store-and-forward: every batch a source produces is committed to a local SQLite
//! file before anything publishes it, and stays there until the broker acknowledged it.
//!
//! # Invariants
//!
//! - **Durable before published.** A batch becomes visible to readers only when the
//!   transaction that wrote it has committed with `synchronous=FULL`, i.e. the WAL was
//!   fsynced. [`JournalHandle::committed`] moves only after that.
//! - **Seqs are never reused.** Each telemetry entry (one [`crate::model::Batch`], one MQTT
//!   message later) gets the next per-gateway sequence number, from 1, strictly increasing.
//!   The next value lives in `meta.next_seq` and is written in the same transaction as the
//!   entries, so it survives restarts, acks and evictions; 0 means "none".
//! - **Oldest first.** Seq order is append order; readers and eviction walk it from the
//!   oldest end.
//! - **An entry leaves only three ways:** the broker acknowledged it ([`Journal::ack`]);
//!   the size bound dropped it (oldest first, counted, logged); or its bytes cannot be
//!   decoded (logged with its seq, counted; only a bug or undetected damage does this).
//! - **Evidence is never dropped.** The evidence table is outside the size bound's reach;
//!   acknowledged records are marked published and kept for `export`.
//!
//! # On-disk layout
//!
//! One SQLite file (default name [`JOURNAL_FILE_NAME`] in the data directory) in WAL mode,
//! `auto_vacuum=INCREMENTAL`, page size 4096. `PRAGMA user_version` is the schema version
//! (1); tables, in `schema.rs`:
//!
//! ```text
//! meta      (key TEXT PRIMARY KEY, value INTEGER)   next_seq, dropped_entries, dropped_samples
//! telemetry (seq INTEGER PRIMARY KEY, ts_ms, samples, payload BLOB)
//! evidence  (seq INTEGER PRIMARY KEY, payload BLOB, published 0/1)
//! ```
//!
//! `payload` is a batch in the versioned binary format described in `codec.rs`. Changing the
//! schema or the payload format breaks stored data: both carry a version, and a new version
//! must keep reading every old one.
//!
//! # Writing
//!
//! [`JournalHandle::start`] moves the [`Journal`] onto its own thread. Sources call
//! [`JournalSender::try_send`], which never blocks: the in-memory queue is bounded in samples
//! and refuses (counts, logs once per episode) the newest batch when full. The thread commits
//! the pending batches as one transaction every `flush_interval` (group commit), or earlier
//! once `flush_samples` are pending. A failed commit keeps its batches and retries.
//!
//! Durability choice: `synchronous=FULL`. In WAL mode `NORMAL` fsyncs only at checkpoints,
//! so a power cut can take the last commits — the very readings this module exists to keep.
//! FULL costs one WAL fsync per group commit. Measured with `benches/journal.rs` on the
//! 2-core box (ext4), 40,000 samples per commit: FULL 4.4 ms per commit (9.1 M samples/s),
//! NORMAL 3.8 ms (10.6 M samples/s) — the fsync is ~0.7 ms, irrelevant next to the
//! 200,000 samples/s target. Through the writer thread: 6.1 M samples/s; at the bound, with
//! eviction in every commit: 5.5 M samples/s.
//! Acks run with `NORMAL`: a lost ack only makes an entry be sent twice (delivery is
//! at-least-once, receivers de-duplicate by seq), and the next fsync covers it anyway.
//!
//! # Size bound
//!
//! `max_bytes` (default 1 GiB) bounds the **pages in use**: `(page_count − freelist_count) ×
//! page_size`, which counts telemetry, evidence, indexes and SQLite's own structure. Each
//! commit first drops the oldest telemetry to make room for the incoming payload, inserts,
//! then drops more until the pages in use are within the bound — all in the same
//! transaction, so a crash never leaves a half-applied eviction. Dropped entries and samples
//! are added to persisted totals in `meta` and to [`JournalCounters`]. A "full" episode is
//! logged once when it starts, and once when the journal is back below 90% of the bound.
//! If evidence alone outgrows the bound, all telemetry goes and the evidence stays.
//!
//! Freed pages go to SQLite's freelist and are reused by the next inserts, so the main file
//! only grows when the pages in use do. On disk, beyond `max_bytes`, there is:
//! - main file: at most one flush's worth of pages above the bound (the first eviction pass
//!   estimates the incoming size from payload bytes; the insert can use a little more), plus
//!   free pages kept for reuse;
//! - main file: up to one 64 KiB chunk of claimed blocks beyond its last page;
//! - WAL: up to `wal_autocheckpoint` pages (1000, 4 MiB, on a large disk; half the WAL's
//!   claim on a small one, see "Disk full") plus the pages of one transaction before a
//!   checkpoint copies it back; its blocks are claimed up to the budget (8 MiB on a large
//!   disk) and kept, also across restarts;
//! - `-shm`: 32 KiB per 4096 WAL pages.
//!
//! Space goes back to the file system with `PRAGMA incremental_vacuum` ([`Journal::reclaim`],
//! run by the writer every 10 s): only when the freelist is larger than the pages in use
//! (an outage's backlog has drained), keeping 8 MiB for reuse, at most 32 MiB per call.
//! Vacuuming on every eviction instead would copy live pages on each flush while full.
//! `auto_vacuum=INCREMENTAL` costs its pointer-map pages (one per ~800 pages) and, measured,
//! no ingest rate beyond noise against `NONE`.
//!
//! # Disk full
//!
//! The journal never takes the last free space of its file system, and on a full one it
//! keeps working inside the space it already holds, whatever the file system's size
//! (`disk.rs`, `files.rs`). Its budget (`disk::Budget`) scales with the file system:
//!
//! | file system | margin left free | WAL claimed | evidence room |
//! |---|---|---|---|
//! | 8 MiB | 512 KiB | 1 MiB | 128 KiB |
//! | 16 MiB | 1 MiB | 2 MiB | 256 KiB |
//! | ≥ 96 MiB (≥ 64 MiB for the WAL) | 6 MiB | 8 MiB | 1 MiB |
//!
//! (margin `size/16` in 512 KiB..6 MiB, WAL `size/8` in 1..8 MiB, evidence room `size/64`
//! in 64 KiB..1 MiB.)
//!
//! - **Claimed ahead.** The main file grows in 64 KiB chunks of real blocks, claimed
//!   (`SQLITE_FCNTL_SIZE_HINT`) *before* a transaction that adds pages commits; so the WAL
//!   never holds a page the main file has no block for, and a checkpoint never needs new
//!   space. The WAL's blocks are claimed up to its budget (`fallocate`, keeping its length)
//!   and it is checkpointed at half of it (`wal_autocheckpoint`, at most 1000 pages), so a
//!   transaction after a checkpoint rewrites blocks the WAL already has. The WAL and `-shm`
//!   persist across close (`SQLITE_FCNTL_PERSIST_WAL`; the size limit is lifted at close), so
//!   a start on a full disk finds them and needs no new block.
//! - **The bound.** Before each change the journal asks the file system (`statvfs`) what is
//!   left; the bound in force is the lower of `max_bytes` and *the main file's blocks plus
//!   the free space beyond the margin, the WAL blocks still to claim and one chunk*. So on a
//!   filling disk the journal stops growing, reuses the pages it holds, and drops the oldest
//!   telemetry exactly as under `max_bytes` (same counters).
//! - **Evidence first.** While the disk sets the bound, telemetry is held lower by the
//!   evidence room: those free pages inside the file are there for evidence records, which
//!   then never need the file to grow; the next telemetry commit drops old telemetry to
//!   give the room back. An evidence record that finds the room used up drops telemetry
//!   itself, in the same transaction. Evidence is never dropped.
//! - **Another writer takes the last byte.** A write that still meets `SQLITE_FULL` (the
//!   space went between the measurement and the write) is rolled back, a checkpoint lets
//!   the WAL be rewritten from its start, and the append — telemetry or evidence — is
//!   retried once with the bound held 256 KiB (or twice the incoming size) below the main
//!   file's blocks, so old telemetry makes room in place. `edgeproof_journal_disk_full_total`
//!   counts these. If that fails too, the error goes to the caller: the writer thread keeps
//!   the batches and retries on its timer, and the evidence recorder retries a record for
//!   about 50 s.
//! - A "disk full" episode is logged once when the disk first forces a drop, and once when
//!   the file system has twice the margin free again; the bound rises back to `max_bytes`
//!   by itself as space returns.
//!
//! Older versions kept a 4 MiB `<name>-reserve` file for the last byte; it is deleted at
//! open (the claimed WAL does its job). A journal whose WAL is missing (its last connection
//! was not the agent's) needs room for a new one at open.
//!
//! # Recovery
//!
//! - Open: `PRAGMA quick_check`, then the schema version. SQLite itself replays a committed
//!   WAL and discards a torn last transaction, so after a crash the journal holds exactly the
//!   committed batches; readers resume from the oldest unacknowledged entry.
//! - A file that is not a database, or that `quick_check` finds damaged, is renamed to
//!   `<name>.corrupt-<unix ms>` (its `-wal`/`-shm` to `<name>.corrupt-<unix ms>-wal`/`-shm`,
//!   so `sqlite3` on the moved file still sees its WAL; closing the damaged file may already
//!   have folded a valid WAL into it, or removed an empty one), an error is logged, and a
//!   fresh journal starts. Collection goes on; the unpublished readings in the old file are not sent.
//! - A file with a newer schema version, or an SQLite database that is not a journal, is left
//!   untouched and opening fails: moving it aside could hide data a newer edgeproof can send.
//! - I/O and permission errors fail the open; they are not damage.
//!
//! One process writes a journal at a time; the next seq is cached in memory.

mod bound;
mod codec;
mod counters;
mod disk;
mod error;
mod evidence;
mod evidence_handle;
mod evidence_reader;
mod files;
mod handle;
mod recovery;
mod schema;
mod store;

pub use counters::{CountersSnapshot, JournalCounters};
pub use error::JournalError;
pub use evidence::StoredEvidence;
pub use evidence_reader::EvidenceReader;
pub use handle::{
    HandleOptions, JournalHandle, JournalSender, TrySendError, DEFAULT_FLUSH_INTERVAL,
    DEFAULT_FLUSH_SAMPLES, DEFAULT_MAX_QUEUED_SAMPLES,
};
pub use store::{
    Journal, JournalOptions, JournalStats, OpenReport, StoredBatch, DEFAULT_MAX_BYTES,
    JOURNAL_FILE_NAME,
};

#[cfg(test)]
mod test_support;
