//! Check 1, **signatures**: every record's signature verifies strictly (Ed25519, RFC 8032
//! §5.1.7 with the canonical-S rule) under the enrolled key, over the record's canonical bytes
//! without `sig`. Verified in parallel batches.

use super::{CheckName, Run};
use crate::sign::{verify_parts, SignatureError};

/// One record signature to check (or the reason it cannot be).
pub(super) struct PendingSig {
    pub(super) seq: Option<u64>,
    pub(super) line: u64,
    pub(super) parts: Result<(Vec<u8>, [u8; 64]), SignatureError>,
}

/// Signatures verified per parallel batch.
pub(super) const SIG_BATCH: usize = 1024;

impl Run<'_> {
    /// Verifies the pending signatures on all cores, then records failures in bundle order.
    pub(super) fn verify_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let key = self.opts.public_key;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        let chunk = pending.len().div_ceil(threads).max(1);
        let check = |p: &PendingSig| match &p.parts {
            Ok((msg, sig)) => verify_parts(&key, msg, sig),
            Err(e) => Err(e.clone()),
        };
        let results: Vec<Result<(), SignatureError>> = if threads == 1 || pending.len() < 64 {
            pending.iter().map(check).collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = pending
                    .chunks(chunk)
                    .map(|c| s.spawn(move || c.iter().map(check).collect::<Vec<_>>()))
                    .collect();
                // A verifier thread cannot panic on any input; if one did, count its records
                // as unverified rather than passing them.
                handles
                    .into_iter()
                    .zip(pending.chunks(chunk))
                    .flat_map(|(h, c)| {
                        h.join().unwrap_or_else(|_| vec![Err(SignatureError::Invalid); c.len()])
                    })
                    .collect()
            })
        };
        for (p, r) in pending.iter().zip(results) {
            if let Err(e) = r {
                match p.seq {
                    Some(s) => self.f.seq(CheckName::Signatures, s, e.to_string()),
                    None => self.f.line(CheckName::Signatures, p.line, e.to_string()),
                }
            }
        }
        self.pending = pending;
        self.pending.clear();
    }
}
