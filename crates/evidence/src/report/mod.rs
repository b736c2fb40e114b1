//! The reviewer's report (`edgeproof report`): from a bundle and the gateway's enrolled key to
//! a verdict, a calendar of daily coverage, gaps with their class, devices active per day
//! against the declared inventory and the resulting 设备联网率, scene tags with data flowing,
//! anomalies with seq ranges, and the limits statement — as one self-contained HTML page
//! ([`html`]) and as JSON (the [`Report`] serialized).
//!
//! The bundle is read twice, streaming: once by [`verify_bundle`] for the verdict, once here
//! for the figures ([`analysis`]); only compact per-interval figures are kept in memory (a few
//! dozen bytes per device and interval). Unreadable records are counted, never fatal: the
//! verdict already says what is wrong with them.

pub mod analysis;
pub mod calendar;
pub mod html;
pub mod model;
pub mod text;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::bundle::{BundleReader, Line};
use super::record::SignedRecord;
use super::verify::{verify_bundle, Verdict, VerifyError, VerifyOptions};

pub use analysis::{Analysis, ReportOptions};
pub use calendar::UtcOffset;
pub use model::{GapClass, Report};

/// Why no report could be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The bundle file could not be opened.
    #[error("{path}: {source}")]
    Open {
        /// The bundle.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bundle could not be verified at all (not a bundle, unsupported version, too large).
    #[error("{path}: {source}")]
    Verify {
        /// The bundle.
        path: PathBuf,
        /// Why.
        source: VerifyError,
    },
}

/// Verifies the bundle at `path` and builds its report.
pub fn report_file(
    path: &Path,
    verify: &VerifyOptions,
    opts: ReportOptions,
) -> Result<(Report, Verdict), ReportError> {
    let open = || {
        File::open(path)
            .map(|f| BufReader::with_capacity(1 << 16, f))
            .map_err(|source| ReportError::Open { path: path.to_path_buf(), source })
    };
    let verdict = verify_bundle(open()?, verify)
        .map_err(|source| ReportError::Verify { path: path.to_path_buf(), source })?;
    let mut analysis = Analysis::new(opts);
    let (mut unreadable, mut checkpoints) = (0u64, 0u64);
    for line in BundleReader::new(open()?, verify.limits) {
        match line {
            Ok((_, Line::Record(v))) => match SignedRecord::from_json(v) {
                Ok(r) => analysis.push(r),
                Err(_) => unreadable += 1,
            },
            Ok((_, Line::Checkpoint(_))) => checkpoints += 1,
            Ok(_) => {}
            Err(e) if e.is_fatal() => break,
            Err(_) => {}
        }
    }
    let report = analysis.finish(&verdict, &verify.public_key, unreadable, checkpoints);
    Ok((report, verdict))
}

#[cfg(test)]
mod tests;
