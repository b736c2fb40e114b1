//! Record signatures: Ed25519 (RFC 8032) over `"edgeproof-evidence/v1\n" || JCS(record
//! without "sig")`, verified strictly (`verify_strict`: canonical S, no small-order keys or R).
//!
//! Verification works on the raw JSON of a record, not on the typed [`Record`]: what was
//! signed is checked exactly as it arrived, whatever this version of edgeproof understands of
//! its fields.

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer};
use serde_json::Value;

use super::canonical::{self, CanonicalError};
use super::keys::{GatewayKey, PublicKey};
use super::record::{decode_sig, Record, RecordError, SignedRecord};

/// Domain separation prefix of record signatures; the version in it is the record format's.
pub const SIGNATURE_DOMAIN: &[u8] = b"edgeproof-evidence/v1\n";

/// Why a record signature does not verify.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// The value is not an object or has no `sig` string.
    #[error("no \"sig\" field")]
    Missing,
    /// `sig` is not standard base64 of 64 bytes.
    #[error("\"sig\" is not base64 of a 64-byte signature")]
    Malformed,
    /// The rest of the record is outside the canonical domain.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
    /// The signature is not valid for this content under this key.
    #[error("signature does not verify under the gateway key")]
    Invalid,
}

/// The exact bytes a record signature covers.
pub fn signing_message(record_without_sig: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut msg = SIGNATURE_DOMAIN.to_vec();
    msg.extend_from_slice(&canonical::encode(record_without_sig)?);
    Ok(msg)
}

/// Signs a record.
pub fn sign_record(key: &GatewayKey, record: Record) -> Result<SignedRecord, RecordError> {
    let msg = signing_message(&record.to_value()?)?;
    let sig = key.signing_key().sign(&msg).to_bytes();
    Ok(SignedRecord { record, sig })
}

/// Verifies the `sig` of a record given as JSON, strictly.
pub fn verify_record_value(key: &PublicKey, record: &Value) -> Result<(), SignatureError> {
    let (msg, sig) = signed_parts(record)?;
    verify_parts(key, &msg, &sig)
}

/// Splits a record given as JSON into the message its signature covers and the signature,
/// so that the (costly) verification can run elsewhere, e.g. on another thread.
pub fn signed_parts(record: &Value) -> Result<(Vec<u8>, [u8; 64]), SignatureError> {
    let obj = record.as_object().ok_or(SignatureError::Missing)?;
    let sig = obj.get("sig").and_then(Value::as_str).ok_or(SignatureError::Missing)?;
    let sig = decode_sig(sig).ok_or(SignatureError::Malformed)?;
    let mut msg = SIGNATURE_DOMAIN.to_vec();
    msg.extend_from_slice(&canonical::encode_without(record, "sig")?);
    Ok((msg, sig))
}

/// Strict Ed25519 verification of `sig` over `msg`.
pub fn verify_parts(key: &PublicKey, msg: &[u8], sig: &[u8; 64]) -> Result<(), SignatureError> {
    key.0.verify_strict(msg, &Signature::from_bytes(sig)).map_err(|_| SignatureError::Invalid)
}

/// Verifies a typed signed record.
pub fn verify_record(key: &PublicKey, record: &SignedRecord) -> Result<(), SignatureError> {
    let v = record.to_value().map_err(|_| SignatureError::Malformed)?;
    verify_record_value(key, &v)
}

/// Standard base64 of a signature.
pub fn sig_to_base64(sig: &[u8; 64]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sig)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::merkle::{leaf_hash, Hash};
    use crate::record::{Body, BootRef, ConfigChange, Stamp};

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// RFC 8032 §7.1 TEST 1 key.
    fn rfc8032_key() -> GatewayKey {
        GatewayKey::from_seed(
            unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .try_into()
                .unwrap(),
        )
    }

    #[test]
    fn ed25519_is_pure_rfc8032() {
        // RFC 8032 §7.1 TEST 1: empty message.
        let sig = rfc8032_key().signing_key().sign(b"").to_bytes();
        assert_eq!(
            sig.to_vec(),
            unhex(
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
                 5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
            )
        );
    }

    fn vector_record() -> Record {
        let _ = BTreeMap::<u8, u8>::new();
        Record {
            v: 1,
            origin: "edgeproof/gw-1".into(),
            gw: "gw-1".into(),
            seq: 3,
            prev: Hash::ZERO,
            boot: BootRef { id: "0f1e2d3c".into(), n: 1, rec: 3 },
            t: Stamp { wall_ms: 1_760_000_000_000, mono_ms: 12_345 },
            body: Body::Config(ConfigChange {
                hash: Hash::ZERO,
                added: vec!["压机-1".into()],
                removed: vec![],
            }),
        }
    }

    /// A fixed vector: the signing message, signature and leaf hash of one record under the
    /// RFC 8032 TEST 1 key. The message and leaf hash were cross-checked with Python
    /// (`json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`, equal to JCS
    /// for these ASCII member names) and the signature with pyca/cryptography's Ed25519.
    #[test]
    fn record_signature_and_leaf_hash_vector() {
        let key = rfc8032_key();
        let r = vector_record();
        let msg = signing_message(&r.to_value().unwrap()).unwrap();
        let want_msg = "edgeproof-evidence/v1\n{\"body\":{\"added\":[\"压机-1\"],\"hash\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"removed\":[]},\"boot\":{\"id\":\"0f1e2d3c\",\"n\":1,\"rec\":3},\"gw\":\"gw-1\",\"origin\":\"edgeproof/gw-1\",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"seq\":3,\"t\":{\"mono_ms\":12345,\"wall_ms\":1760000000000},\"typ\":\"config\",\"v\":1}";
        assert_eq!(String::from_utf8(msg).unwrap(), want_msg);
        let signed = sign_record(&key, r).unwrap();
        assert_eq!(sig_to_base64(&signed.sig), SIG_VECTOR);
        assert_eq!(signed.leaf_hash().unwrap().to_hex(), LEAF_VECTOR);
        assert_eq!(signed.leaf_hash().unwrap(), leaf_hash(&signed.canonical().unwrap()));
        verify_record(&key.public(), &signed).unwrap();
    }

    const SIG_VECTOR: &str =
        "Y/uU+hTGnFjliufraQnmNlXGsg68j4LYFLB4Y5vg03UqoyUQpI0gYtMGTVtl0sq1nQh/Sz+GTdXG4qHSv6lpBw==";
    const LEAF_VECTOR: &str = "a29626a549985a22d168c2bb6f899fc449dc60b9f79e3d4604b7bf4aa68ec65f";

    #[test]
    fn any_change_breaks_the_signature() {
        let key = rfc8032_key();
        let signed = sign_record(&key, vector_record()).unwrap();
        let good = signed.to_value().unwrap();
        verify_record_value(&key.public(), &good).unwrap();
        let mut edits: Vec<(&str, Value)> = Vec::new();
        let mut x = good.clone();
        x["seq"] = Value::from(4);
        edits.push(("seq", x));
        let mut x = good.clone();
        x["body"]["added"][0] = Value::from("压机-2");
        edits.push(("body string", x));
        let mut x = good.clone();
        x["extra"] = Value::from(true);
        edits.push(("added field", x));
        for (name, v) in edits {
            assert_eq!(
                verify_record_value(&key.public(), &v),
                Err(SignatureError::Invalid),
                "{name}"
            );
        }
        let other = GatewayKey::from_seed([9; 32]);
        assert_eq!(verify_record_value(&other.public(), &good), Err(SignatureError::Invalid));
        let mut x = good.clone();
        x["sig"] = Value::from("!!");
        assert_eq!(verify_record_value(&key.public(), &x), Err(SignatureError::Malformed));
        let mut x = good;
        x.as_object_mut().unwrap().remove("sig");
        assert_eq!(verify_record_value(&key.public(), &x), Err(SignatureError::Missing));
    }

    #[test]
    fn non_canonical_s_is_rejected() {
        // S + L (the group order) verifies under lax rules but not strict ones.
        let key = rfc8032_key();
        let signed = sign_record(&key, vector_record()).unwrap();
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut sig = signed.sig;
        let mut carry = 0u16;
        for i in 0..32 {
            let s = u16::from(sig[32 + i]) + u16::from(l[i]) + carry;
            sig[32 + i] = s as u8;
            carry = s >> 8;
        }
        let mut v = signed.to_value().unwrap();
        v["sig"] = Value::from(sig_to_base64(&sig));
        assert!(verify_record_value(&key.public(), &v).is_err());
    }
}
