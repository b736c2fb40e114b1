//! Checkpoints: C2SP tlog-checkpoint signed notes over the log's RFC 6962 tree head.
//!
//! Note text: the origin line (`edgeproof/<gateway id>`, the records' `origin`), the tree size
//! in decimal without leading zeros, the standard base64 root hash, then optional extension
//! lines (edgeproof writes none, but carries others'). The gateway signs with a type 0x01
//! Ed25519 line whose key name is the origin, as tlog-checkpoint recommends.

use super::keys::{GatewayKey, PublicKey};
use super::merkle::Hash;
use super::note::{sign_ed25519, NoteError, SignedNote};

/// A tree head: which log, how many leaves, which root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Log origin.
    pub origin: String,
    /// Number of records covered.
    pub size: u64,
    /// RFC 6962 root over records `[0, size)`.
    pub root: Hash,
    /// Extension lines (opaque; none written by edgeproof).
    pub extensions: Vec<String>,
}

/// Why a checkpoint body is malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    /// The body breaks tlog-checkpoint.
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    /// The note around it is malformed or does not verify.
    #[error(transparent)]
    Note(#[from] NoteError),
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Self {
        Checkpoint { origin: origin.into(), size, root, extensions: Vec::new() }
    }

    /// The note text (what the log and the witnesses sign).
    pub fn body(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64());
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a note text as a checkpoint body.
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let bad = |m: String| CheckpointError::Malformed(m);
        let body =
            text.strip_suffix('\n').ok_or_else(|| bad("text must end in a newline".into()))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(bad("empty origin line".into()));
        }
        let size_text = lines.next().ok_or_else(|| bad("no tree size line".into()))?;
        let size_ok = !size_text.is_empty()
            && size_text.bytes().all(|b| b.is_ascii_digit())
            && (size_text == "0" || !size_text.starts_with('0'));
        let size: u64 = size_text.parse().ok().filter(|_| size_ok).ok_or_else(|| {
            bad(format!("tree size {size_text:?} is not a decimal without leading zeros"))
        })?;
        let root_text = lines.next().ok_or_else(|| bad("no root hash line".into()))?;
        let root = Hash::from_base64(root_text)
            .ok_or_else(|| bad(format!("root {root_text:?} is not base64 of 32 bytes")))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("empty extension line".into()));
        }
        Ok(Checkpoint { origin: origin.into(), size, root, extensions })
    }

    /// Signs the checkpoint with the gateway key (key name = origin) as a signed note.
    pub fn sign(&self, key: &GatewayKey) -> SignedNote {
        let text = self.body();
        let sig = sign_ed25519(&text, &self.origin, key);
        SignedNote { text, signatures: vec![sig] }
    }
}

/// A checkpoint note that parsed and whose gateway signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    /// The tree head.
    pub checkpoint: Checkpoint,
    /// The whole note, including any cosignatures it carries.
    pub note: SignedNote,
}

/// Parses a checkpoint note and verifies the gateway's signature (key name = the note's origin
/// line, which must equal `origin`).
pub fn verify_checkpoint(
    note_text: &str,
    origin: &str,
    key: &PublicKey,
) -> Result<VerifiedCheckpoint, CheckpointError> {
    let note = SignedNote::parse(note_text)?;
    let checkpoint = Checkpoint::parse_body(&note.text)?;
    if checkpoint.origin != origin {
        return Err(CheckpointError::Malformed(format!(
            "origin {:?} is not this log's {origin:?}",
            checkpoint.origin
        )));
    }
    note.verify_ed25519(origin, key)?;
    Ok(VerifiedCheckpoint { checkpoint, note })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::leaf_hash;

    #[test]
    fn parses_the_c2sp_example_body() {
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let cp = Checkpoint::parse_body(text).unwrap();
        assert_eq!(cp.origin, "example.com/behind-the-sofa");
        assert_eq!(cp.size, 20852163);
        assert_eq!(cp.body(), text);
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        let root = leaf_hash(b"x").to_base64();
        for (name, text) in [
            ("leading zero", format!("o\n010\n{root}\n")),
            ("signed size", format!("o\n+10\n{root}\n")),
            ("empty origin", format!("\n10\n{root}\n")),
            ("short root", "o\n10\nAAAA\n".to_string()),
            ("no final newline", format!("o\n10\n{root}")),
            ("missing root", "o\n10\n".to_string()),
            ("empty extension", format!("o\n10\n{root}\n\n")),
            ("size overflow", format!("o\n18446744073709551616\n{root}\n")),
        ] {
            assert!(Checkpoint::parse_body(&text).is_err(), "{name}");
        }
        assert_eq!(Checkpoint::parse_body(&format!("o\n0\n{root}\n")).unwrap().size, 0);
    }

    #[test]
    fn signed_checkpoint_verifies_only_under_its_key_and_origin() {
        let key = GatewayKey::from_seed([5; 32]);
        let cp = Checkpoint::new("edgeproof/gw-1", 42, leaf_hash(b"r"));
        let note = cp.sign(&key).to_text();
        let v = verify_checkpoint(&note, "edgeproof/gw-1", &key.public()).unwrap();
        assert_eq!(v.checkpoint, cp);
        assert!(verify_checkpoint(&note, "edgeproof/gw-2", &key.public()).is_err());
        let other = GatewayKey::from_seed([6; 32]);
        assert!(verify_checkpoint(&note, "edgeproof/gw-1", &other.public()).is_err());
        let forged = note.replace("\n42\n", "\n43\n");
        assert!(verify_checkpoint(&forged, "edgeproof/gw-1", &key.public()).is_err());
    }
}
