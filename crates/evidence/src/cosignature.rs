//! Witness cosignatures: C2SP tlog-cosignature, Ed25519 flavour (signature type 0x04).
//!
//! A cosignature is a signature line on a checkpoint note whose blob is
//! `key id (4) || timestamp (u64, big-endian, POSIX seconds) || Ed25519 signature (64)` over
//!
//! ```text
//! cosignature/v1
//! time <timestamp>
//! <the checkpoint note text, extension lines included>
//! ```
//!
//! and whose key id is `SHA-256(name || "\n" || 0x04 || public key)[:4]`. It states that as of
//! `timestamp` this is the largest consistent tree the witness has seen for the origin.
//! Witness keys are configured as C2SP vkeys of type 0x04.

use ed25519_dalek::{Signature, Signer};

use super::keys::{GatewayKey, KeyError, PublicKey, VerifierKey, SIG_TYPE_COSIGNATURE};
use super::note::{NoteError, NoteSignature, SignedNote};

/// Header line of the cosigned message.
const HEADER: &str = "cosignature/v1\n";

/// A witness the reviewer trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessKey {
    /// Key name (a schema-less URL).
    pub name: String,
    /// Ed25519 key.
    pub key: PublicKey,
}

impl WitnessKey {
    /// From a C2SP vkey of type 0x04.
    pub fn from_vkey(v: VerifierKey, what: &str) -> Result<Self, KeyError> {
        if v.sig_type != SIG_TYPE_COSIGNATURE {
            return Err(KeyError::Format {
                what: what.into(),
                why: format!(
                    "signature type {:#04x} is not a tlog-cosignature key (0x04)",
                    v.sig_type
                ),
            });
        }
        Ok(WitnessKey { name: v.name, key: v.key })
    }

    /// Parses a vkey string.
    pub fn parse(text: &str, what: &str) -> Result<Self, KeyError> {
        Self::from_vkey(VerifierKey::parse(text, what)?, what)
    }

    /// The key id of this witness.
    pub fn key_id(&self) -> [u8; 4] {
        self.key.key_id(&self.name, SIG_TYPE_COSIGNATURE)
    }

    /// The vkey string.
    pub fn vkey(&self) -> String {
        self.key.vkey(&self.name, SIG_TYPE_COSIGNATURE)
    }
}

/// A cosignature that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosignature {
    /// Witness key name.
    pub name: String,
    /// Witness key id.
    pub key_id: [u8; 4],
    /// When the witness signed (POSIX seconds).
    pub timestamp: u64,
    /// The signature line as it appears in the note (no newline).
    pub line: String,
}

/// The message a cosignature covers.
pub fn cosigned_message(note_text: &str, timestamp: u64) -> Vec<u8> {
    format!("{HEADER}time {timestamp}\n{note_text}").into_bytes()
}

/// Produces a cosignature line over a checkpoint note text (for witnesses and tests).
pub fn cosign(note_text: &str, name: &str, key: &GatewayKey, timestamp: u64) -> NoteSignature {
    let sig = key.signing_key().sign(&cosigned_message(note_text, timestamp)).to_bytes();
    let mut blob = timestamp.to_be_bytes().to_vec();
    blob.extend_from_slice(&sig);
    NoteSignature {
        name: name.into(),
        key_id: key.public().key_id(name, SIG_TYPE_COSIGNATURE),
        sig: blob,
    }
}

/// Verifies the cosignature lines of `witness` on `note`. Lines from other keys are ignored;
/// a line from this witness that fails to verify, or whose timestamp exceeds 2^63 − 1, is an
/// error. Returns every verified cosignature (normally one).
pub fn verify_cosignatures(
    note: &SignedNote,
    witness: &WitnessKey,
) -> Result<Vec<Cosignature>, NoteError> {
    let id = witness.key_id();
    let bad = || NoteError::BadSignature { name: witness.name.clone() };
    let mut out = Vec::new();
    for s in note.signatures.iter().filter(|s| s.name == witness.name && s.key_id == id) {
        if s.sig.len() != 8 + 64 {
            return Err(bad());
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&s.sig[..8]);
        let timestamp = u64::from_be_bytes(ts);
        if timestamp > i64::MAX as u64 {
            return Err(bad());
        }
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&s.sig[8..]);
        witness
            .key
            .0
            .verify_strict(&cosigned_message(&note.text, timestamp), &Signature::from_bytes(&sig))
            .map_err(|_| bad())?;
        out.push(Cosignature { name: s.name.clone(), key_id: id, timestamp, line: s.line() });
    }
    if out.is_empty() {
        return Err(NoteError::NoSignature {
            name: witness.name.clone(),
            key_id: super::keys::hex(&id),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::merkle::leaf_hash;

    #[test]
    fn c2sp_example_cosignature_blob_layout() {
        // The witness line of the tlog-cosignature example: key id, then the example's
        // timestamp 1679315147 big-endian, then 64 signature bytes.
        let note = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\
— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
        let n = SignedNote::parse(note).unwrap();
        let w = &n.signatures[1];
        assert_eq!(w.name, "witness.example.com/w1");
        assert_eq!(w.sig.len(), 72);
        assert_eq!(u64::from_be_bytes(w.sig[..8].try_into().unwrap()), 1_679_315_147);
        assert_eq!(
            String::from_utf8(cosigned_message(&n.text, 1_679_315_147)).unwrap(),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn cosignature_verifies_only_for_its_witness_and_body() {
        let gw = GatewayKey::from_seed([1; 32]);
        let wk = GatewayKey::from_seed([2; 32]);
        let witness = WitnessKey { name: "witness.example/w1".into(), key: wk.public() };
        assert_eq!(WitnessKey::parse(&witness.vkey(), "t").unwrap(), witness);
        let mut note = Checkpoint::new("edgeproof/gw-1", 10, leaf_hash(b"r")).sign(&gw);
        note.signatures.push(cosign(&note.text, &witness.name, &wk, 1_760_000_000));
        let back = SignedNote::parse(&note.to_text()).unwrap();
        let got = verify_cosignatures(&back, &witness).unwrap();
        assert_eq!(got[0].timestamp, 1_760_000_000);
        // Another body under the same line: fails.
        let mut moved = back.clone();
        moved.text = moved.text.replace("\n10\n", "\n11\n");
        assert!(matches!(
            verify_cosignatures(&moved, &witness),
            Err(NoteError::BadSignature { .. })
        ));
        // Another timestamp under the same signature: fails.
        let mut retimed = back.clone();
        retimed.signatures[1].sig[7] ^= 1;
        assert!(verify_cosignatures(&retimed, &witness).is_err());
        // A gateway (type 0x01) key is not a witness key.
        let gw_vkey = gw.public().vkey("edgeproof/gw-1", 0x01);
        assert!(WitnessKey::parse(&gw_vkey, "t").is_err());
        // A witness nobody cosigned with.
        let stranger = WitnessKey { name: "w2".into(), key: wk.public() };
        assert!(matches!(
            verify_cosignatures(&back, &stranger),
            Err(NoteError::NoSignature { .. })
        ));
    }
}
