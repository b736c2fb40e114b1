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
//! - WAL: up to 1000 pages (4 MiB, `wal_autocheckpoint`) plus the pages of one transaction
//!   before a checkpoint copies it back; truncated to 4 MiB (`journal_size_limit`) after;
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
//! The journal never takes the last free space of its file system (`disk.rs`). Before each
//! change it asks the file system (`statvfs`) what is left, and the bound in force is the
//! lower of `max_bytes` and *the main file's current size plus the free space beyond a
//! 6 MiB headroom* (room for the WAL to reach its checkpoint size and for one transaction).
//! So on a filling disk the journal stops growing, keeps reusing the pages it already
//! holds, and drops the oldest telemetry exactly as under `max_bytes` (same counters).
//! Evidence is never dropped. A "disk full" episode is logged once when the disk first
//! forces a drop, and once when the file system has twice the headroom free again; the
//! bound rises back to `max_bytes` by itself as space returns.
//!
//! Another writer can still fill the disk to the last byte. For that moment the journal
//! keeps a **reserve file** beside it, `<name>-reserve` (4 MiB of real blocks, made at open and
//! later when the file system has 16 MiB free). On `SQLITE_FULL` (SQLite's unix VFS reports `ENOSPC` so) the
//! transaction is rolled back, the reserve file is deleted, at least 1 MiB (twice the
//! incoming size if larger) of the oldest telemetry is dropped in its own transaction (a
//! delete writes to the WAL too: that is what the reserve's space is for), a checkpoint lets
//! the WAL be reused, and the append — telemetry or evidence — is retried once. The reserve
//! is made again at the first commit that finds the space. An open that fails on a full
//! disk (SQLite cannot make its `-wal`/`-shm` files) deletes the reserve and tries once more.
//! If all that fails, the error goes to the caller: the writer thread keeps the batches and
//! retries on its timer, and the evidence recorder retries a record for about 50 s before
//! giving it up. `edgeproof_journal_disk_full_total` counts the `SQLITE_FULL`s met.
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
