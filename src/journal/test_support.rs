//! Helpers shared by the journal's tests.

use std::path::{Path, PathBuf};

use super::store::{Journal, JournalOptions, OpenReport};
use crate::model::{Batch, Sample, Value};

/// The journal path inside a test's temp dir.
pub(crate) fn path_in(dir: &Path) -> PathBuf {
    dir.join("journal.sqlite3")
}

/// Opens (or creates) the journal in `dir` with the given bound.
pub(crate) fn open(dir: &Path, max_bytes: u64) -> (Journal, OpenReport) {
    Journal::open(path_in(dir), JournalOptions { max_bytes }).unwrap()
}

/// A batch of `n` good integer samples; `i` makes it distinguishable.
pub(crate) fn batch(i: u64, n: usize) -> Batch {
    let ts_ms = 1_700_000_000_000 + i * 1000;
    Batch {
        device: format!("dev_{}", i % 7).into(),
        ts_ms,
        samples: (0..n)
            .map(|p| {
                Sample::good(format!("p{p}").into(), ts_ms, Value::Int(i as i64 * 100 + p as i64))
            })
            .collect(),
    }
}

/// Size of a file, 0 when missing.
pub(crate) fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
