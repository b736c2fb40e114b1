//! A gateway's bundle rebuilt from the archive (EVIDENCE.md §Bundle: "reviewers may also
//! rebuild a bundle from an MQTT archive"): the header with the registered key, the stored
//! records in seq order, then every stored checkpoint note, cosignatures included as extra
//! signature lines (which `verify` reads as such). Whatever the archive lacks (a gap) is
//! missing from the bundle too, and `verify` says so.

use std::io::Write;

use super::error::ArchiveError;
use super::model::Registration;
use super::store::Archive;
use edgeproof_evidence::bundle::{
    checkpoint_line, header_line, record_line, Header, BUNDLE_VERSION,
};

/// Records read from the archive per query.
const PAGE: u64 = 10_000;

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the archive failed.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// Writing the bundle failed.
    #[error("writing the bundle: {0}")]
    Write(#[from] std::io::Error),
}

/// Writes the bundle of `reg`'s log to `out`; returns the records written.
pub async fn write_bundle(
    archive: &Archive,
    reg: &Registration,
    out: &mut impl Write,
) -> Result<u64, ExportError> {
    let header = Header {
        bundle: BUNDLE_VERSION,
        origin: reg.origin.clone(),
        public_key: reg.public_key.clone(),
    };
    out.write_all(header_line(&header).as_bytes())?;
    let mut after = None;
    let mut n = 0;
    loop {
        let page = archive.records(&reg.origin, after, PAGE).await?;
        let Some(&(last, _)) = page.last() else { break };
        for (_, body) in &page {
            out.write_all(&record_line(body.as_bytes()))?;
        }
        n += page.len() as u64;
        after = Some(last);
    }
    for (_, note) in archive.checkpoints(&reg.origin).await? {
        out.write_all(checkpoint_line(&note).as_bytes())?;
    }
    out.flush()?;
    Ok(n)
}
