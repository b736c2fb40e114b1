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
use edgeproof_evidence::cosignature::{verify_cosignatures, WitnessKey};
use edgeproof_evidence::note::SignedNote;

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

/// The signature lines of `lines` that verify, each on its own, as a cosignature over
/// `note`'s text by one of `witnesses`. Lines kept apart as unverified by a collector that did
/// not know these witnesses count this way for a reader who does; garbage never does.
pub fn cosigned_by<'a>(
    note: &str,
    lines: impl IntoIterator<Item = &'a str>,
    witnesses: &[WitnessKey],
) -> Vec<String> {
    let Ok(parsed) = SignedNote::parse(note) else { return Vec::new() };
    lines
        .into_iter()
        .filter(|l| {
            let one = format!("{}\n{l}\n", parsed.text);
            SignedNote::parse(&one).is_ok_and(|n| {
                witnesses
                    .iter()
                    .any(|w| n.signatures[0].name == w.name && verify_cosignatures(&n, w).is_ok())
            })
        })
        .map(str::to_string)
        .collect()
}

/// Writes the bundle of `reg`'s log to `out`; returns the records written.
pub async fn write_bundle(
    archive: &Archive,
    reg: &Registration,
    out: &mut impl Write,
) -> Result<u64, ExportError> {
    write_bundle_for(archive, reg, &[], out).await
}

/// [`write_bundle`] for a reader trusting `witnesses`: a stored checkpoint also carries the
/// lines kept apart as unverified that verify under one of them ([`cosigned_by`]).
pub async fn write_bundle_for(
    archive: &Archive,
    reg: &Registration,
    witnesses: &[WitnessKey],
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
    let apart = if witnesses.is_empty() {
        Vec::new()
    } else {
        archive.unverified_signatures(&reg.origin).await?
    };
    for (size, mut note) in archive.checkpoints(&reg.origin).await? {
        let lines = apart.iter().filter(|(s, _)| *s == size).map(|(_, l)| l.as_str());
        for line in cosigned_by(&note, lines, witnesses) {
            if note.lines().any(|l| l == line) {
                continue;
            }
            note.push_str(&line);
            note.push('\n');
        }
        out.write_all(checkpoint_line(&note).as_bytes())?;
    }
    out.flush()?;
    Ok(n)
}
