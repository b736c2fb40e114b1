//! C2SP signed notes (c2sp.org/signed-note): a text ending in a newline, a blank line, and
//! one or more signature lines `— <key name> <base64(key id (4 bytes, big-endian) ||
//! signature)>`.
//!
//! Parsing is strict where the spec says MUST (valid UTF-8, no control characters other than
//! newline, non-empty key names without spaces or `+`, text ending in newline, separated from
//! the signatures by the *last* blank line) and bounded: at most [`MAX_NOTE_BYTES`] and
//! [`MAX_SIGNATURES`] signature lines (the spec asks verifiers to accept at least 16).
//! Unknown signatures are kept, not dropped, so a note can be re-emitted unchanged.

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer};

use super::keys::{hex, valid_key_name, GatewayKey, PublicKey, SIG_TYPE_ED25519};

/// Largest note accepted, in bytes.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;
/// Most signature lines accepted on one note.
pub const MAX_SIGNATURES: usize = 100;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Why a note is malformed or does not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoteError {
    /// The note breaks the signed-note format.
    #[error("malformed signed note: {0}")]
    Malformed(String),
    /// No signature line from the expected key (name and key id).
    #[error("no signature from {name} (key id {key_id})")]
    NoSignature {
        /// Expected key name.
        name: String,
        /// Expected key id, hex.
        key_id: String,
    },
    /// A signature line from the expected key does not verify.
    #[error("signature from {name} does not verify")]
    BadSignature {
        /// Key name.
        name: String,
    },
}

/// One signature line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key id (first 4 decoded bytes).
    pub key_id: [u8; 4],
    /// The signature bytes after the key id.
    pub sig: Vec<u8>,
}

impl NoteSignature {
    /// The line as it appears in a note, without the trailing newline.
    pub fn line(&self) -> String {
        let mut blob = self.key_id.to_vec();
        blob.extend_from_slice(&self.sig);
        format!("\u{2014} {} {}", self.name, B64.encode(blob))
    }
}

/// A parsed signed note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedNote {
    /// The note text, including its final newline (what signatures cover).
    pub text: String,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// Parses a signed note.
    pub fn parse(note: &str) -> Result<SignedNote, NoteError> {
        let bad = |m: &str| NoteError::Malformed(m.into());
        if note.len() > MAX_NOTE_BYTES {
            return Err(bad("note too large"));
        }
        if note.chars().any(|c| c < ' ' && c != '\n') {
            return Err(bad("control character other than newline"));
        }
        // The text ends at the last "\n\n"; signatures follow.
        let split = note.rfind("\n\n").ok_or_else(|| bad("no blank line before the signatures"))?;
        let text = &note[..=split];
        let sigs = &note[split + 2..];
        if !sigs.ends_with('\n') {
            return Err(bad("signature block does not end with a newline"));
        }
        let lines: Vec<&str> = sigs[..sigs.len() - 1].split('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(bad("too many signatures"));
        }
        let mut signatures = Vec::with_capacity(lines.len());
        for line in lines {
            signatures.push(parse_signature_line(line)?);
        }
        if signatures.is_empty() {
            return Err(bad("no signatures"));
        }
        Ok(SignedNote { text: text.to_string(), signatures })
    }

    /// The note in its text form.
    pub fn to_text(&self) -> String {
        let mut s = self.text.clone();
        s.push('\n');
        for sig in &self.signatures {
            s.push_str(&sig.line());
            s.push('\n');
        }
        s
    }

    /// Verifies the Ed25519 (type 0x01) signature of `key` under `name`. Lines from other keys
    /// are ignored, as the spec requires; a line from this key that fails is an error.
    pub fn verify_ed25519(&self, name: &str, key: &PublicKey) -> Result<(), NoteError> {
        let id = key.key_id(name, SIG_TYPE_ED25519);
        let mut found = false;
        for s in self.signatures.iter().filter(|s| s.name == name && s.key_id == id) {
            found = true;
            let sig: [u8; 64] = s
                .sig
                .as_slice()
                .try_into()
                .map_err(|_| NoteError::BadSignature { name: name.into() })?;
            key.0
                .verify_strict(self.text.as_bytes(), &Signature::from_bytes(&sig))
                .map_err(|_| NoteError::BadSignature { name: name.into() })?;
        }
        if found {
            Ok(())
        } else {
            Err(NoteError::NoSignature { name: name.into(), key_id: hex(&id) })
        }
    }
}

fn parse_signature_line(line: &str) -> Result<NoteSignature, NoteError> {
    let bad = |m: String| NoteError::Malformed(m);
    let rest = line
        .strip_prefix("\u{2014} ")
        .ok_or_else(|| bad(format!("signature line {line:?} does not start with an em dash")))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or_else(|| bad(format!("signature line {line:?} has no signature")))?;
    if !valid_key_name(name) {
        return Err(bad(format!("invalid key name {name:?}")));
    }
    let blob = B64.decode(b64).map_err(|_| bad(format!("signature of {name} is not base64")))?;
    if blob.len() < 5 {
        return Err(bad(format!("signature of {name} is too short")));
    }
    let key_id = [blob[0], blob[1], blob[2], blob[3]];
    Ok(NoteSignature { name: name.into(), key_id, sig: blob[4..].to_vec() })
}

/// Signs `text` (which must end in a newline) with `key` under `name`: one type 0x01 line.
pub fn sign_ed25519(text: &str, name: &str, key: &GatewayKey) -> NoteSignature {
    let sig = key.signing_key().sign(text.as_bytes()).to_bytes();
    NoteSignature {
        name: name.into(),
        key_id: key.public().key_id(name, SIG_TYPE_ED25519),
        sig: sig.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::VerifierKey;

    // golang.org/x/mod/sumdb/note note_test.go: the PeterNeumann key and note.
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const SKEY_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const SIG_LINE: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";

    fn go_note() -> String {
        format!("{TEXT}\n{SIG_LINE}\n")
    }

    #[test]
    fn reproduces_and_verifies_the_go_reference_note() {
        let seed = B64.decode(SKEY_B64).unwrap();
        assert_eq!(seed[0], SIG_TYPE_ED25519);
        let key = GatewayKey::from_seed(seed[1..].try_into().unwrap());
        let v = VerifierKey::parse(VKEY, "t").unwrap();
        assert_eq!(key.public(), v.key);
        // Ed25519 is deterministic: our signer must produce the published line exactly.
        assert_eq!(sign_ed25519(TEXT, "PeterNeumann", &key).line(), SIG_LINE);
        let n = SignedNote::parse(&go_note()).unwrap();
        assert_eq!(n.text, TEXT);
        assert_eq!(n.to_text(), go_note());
        n.verify_ed25519("PeterNeumann", &v.key).unwrap();
        let tampered =
            SignedNote::parse(&go_note().replace("cryptography", "cryptographY")).unwrap();
        assert_eq!(
            tampered.verify_ed25519("PeterNeumann", &v.key),
            Err(NoteError::BadSignature { name: "PeterNeumann".into() })
        );
        assert!(matches!(n.verify_ed25519("Someone", &v.key), Err(NoteError::NoSignature { .. })));
    }

    #[test]
    fn malformed_notes_are_rejected() {
        let good = go_note();
        let cases: Vec<(&str, String)> = vec![
            ("no blank line", good.replacen("\n\n", "\n", 1)),
            ("no final newline", good.trim_end().to_string()),
            ("hyphen instead of em dash", good.replace('\u{2014}', "-")),
            ("control character", good.replacen("If", "I\tf", 1)),
            ("empty signature block", format!("{TEXT}\n")),
            ("key name with plus", good.replace("PeterNeumann x08", "Peter+Neumann x08")),
            ("bad base64", good.replace("x08go", "x08g!")),
            ("too large", "a".repeat(MAX_NOTE_BYTES + 1)),
        ];
        for (name, note) in cases {
            assert!(SignedNote::parse(&note).is_err(), "{name} accepted");
        }
    }

    #[test]
    fn text_may_hold_blank_lines_and_unknown_signatures_are_kept() {
        let key = GatewayKey::from_seed([3; 32]);
        let text = "a\n\nb\n";
        let s1 = sign_ed25519(text, "k1", &key);
        let other = NoteSignature { name: "k2".into(), key_id: [1, 2, 3, 4], sig: vec![9; 70] };
        let note = SignedNote { text: text.into(), signatures: vec![other, s1] };
        let back = SignedNote::parse(&note.to_text()).unwrap();
        assert_eq!(back, note);
        back.verify_ed25519("k1", &key.public()).unwrap();
    }
}
