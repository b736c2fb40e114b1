//! The `add-checkpoint` request body (C2SP tlog-witness, "add-checkpoint"):
//!
//! ```text
//! old <size>\n
//! <base64 hash>\n        zero to 63 consistency proof lines
//! \n                     an empty line
//! <checkpoint>           a signed note (C2SP signed-note, tlog-checkpoint)
//! ```
//!
//! [`parse`] is pure and total: any bytes give a request or a [`RequestError`] naming what is
//! wrong, never a panic (a fuzz target calls it). Everything the spec answers with
//! "400 Bad Request" is decided here, including an old size above the checkpoint's size;
//! what needs the witness's state (404, 403, 409, 422) is decided later.

use edgeproof_evidence::checkpoint::{Checkpoint, CheckpointError};
use edgeproof_evidence::merkle::Hash;
use edgeproof_evidence::note::{SignedNote, MAX_NOTE_BYTES};

/// Most consistency proof lines a client may send (tlog-witness: "MUST NOT send more than 63").
pub const MAX_PROOF_LINES: usize = 63;
/// Largest body accepted: the largest note plus the old size line and a full proof.
pub const MAX_BODY_BYTES: usize = MAX_NOTE_BYTES + 32 + MAX_PROOF_LINES * 46;
/// Largest tree size the witness stores (sizes are kept as signed 64-bit integers in SQL).
pub const MAX_TREE_SIZE: u64 = i64::MAX as u64;

/// A parsed `add-checkpoint` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness cosigned last.
    pub old_size: u64,
    /// RFC 6962 §2.1.2 consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The checkpoint note, signatures included.
    pub note: SignedNote,
    /// The checkpoint body parsed from the note's text.
    pub checkpoint: Checkpoint,
}

/// Why a request body is malformed (all answered with 400 Bad Request).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// Longer than [`MAX_BODY_BYTES`].
    #[error("request body of {0} bytes is larger than {MAX_BODY_BYTES}")]
    TooLarge(usize),
    /// Not UTF-8 (notes must be).
    #[error("request body is not UTF-8")]
    NotUtf8,
    /// The first line is not `old <decimal>`.
    #[error("first line must be `old <size>` (decimal, no leading zeros): {0}")]
    OldLine(String),
    /// A proof line is not standard base64 of a 32-byte hash.
    #[error("consistency proof line {line} is not base64 of a 32-byte hash")]
    ProofLine {
        /// 1-based line number in the body.
        line: usize,
    },
    /// More than [`MAX_PROOF_LINES`] proof lines.
    #[error("more than {MAX_PROOF_LINES} consistency proof lines")]
    TooManyProofLines,
    /// No empty line between the proof and the checkpoint.
    #[error("no empty line before the checkpoint")]
    NoSeparator,
    /// The checkpoint is not a signed note with a tlog-checkpoint body.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The tree size cannot be stored.
    #[error("tree size {0} is larger than {MAX_TREE_SIZE}")]
    SizeTooLarge(u64),
    /// `old` above the checkpoint's size (tlog-witness: 400).
    #[error("old size {old} is larger than the checkpoint's size {size}")]
    OldAboveSize {
        /// The old size line's value.
        old: u64,
        /// The checkpoint's size.
        size: u64,
    },
}

/// Parses an `add-checkpoint` request body.
pub fn parse(body: &[u8]) -> Result<AddCheckpoint, RequestError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(RequestError::TooLarge(body.len()));
    }
    let text = std::str::from_utf8(body).map_err(|_| RequestError::NotUtf8)?;
    let (old_line, mut rest) = text
        .split_once('\n')
        .ok_or_else(|| RequestError::OldLine("the body has no complete line".into()))?;
    let old_size = parse_old_line(old_line)?;
    let mut proof = Vec::new();
    loop {
        let (line, after) = rest.split_once('\n').ok_or(RequestError::NoSeparator)?;
        rest = after;
        if line.is_empty() {
            break;
        }
        if proof.len() == MAX_PROOF_LINES {
            return Err(RequestError::TooManyProofLines);
        }
        let hash =
            Hash::from_base64(line).ok_or(RequestError::ProofLine { line: proof.len() + 2 })?;
        proof.push(hash);
    }
    let note = SignedNote::parse(rest).map_err(CheckpointError::from)?;
    let checkpoint = Checkpoint::parse_body(&note.text)?;
    if checkpoint.size > MAX_TREE_SIZE {
        return Err(RequestError::SizeTooLarge(checkpoint.size));
    }
    if old_size > checkpoint.size {
        return Err(RequestError::OldAboveSize { old: old_size, size: checkpoint.size });
    }
    Ok(AddCheckpoint { old_size, proof, note, checkpoint })
}

fn parse_old_line(line: &str) -> Result<u64, RequestError> {
    let bad = |why: &str| RequestError::OldLine(why.into());
    let digits = line.strip_prefix("old ").ok_or_else(|| bad("it does not start with `old `"))?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return Err(bad("the size is not a decimal without leading zeros"));
    }
    digits.parse().map_err(|_| bad("the size does not fit in 64 bits"))
}

/// The body of a request, as a client writes it (for tests and the agent's submitter).
pub fn encode(old_size: u64, proof: &[Hash], note: &str) -> Vec<u8> {
    let mut s = format!("old {old_size}\n");
    for h in proof {
        s.push_str(&h.to_base64());
        s.push('\n');
    }
    s.push('\n');
    s.push_str(note);
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeproof_evidence::keys::GatewayKey;
    use edgeproof_evidence::merkle::leaf_hash;

    /// The example request body of C2SP tlog-witness, "add-checkpoint", copied from the spec.
    const SPEC_EXAMPLE: &str = "old 20852014\n\
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n\
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\
\n\
example.com/behind-the-sofa\n\
20852163\n\
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
\n\
\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
\u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";

    #[test]
    fn parses_the_c2sp_example_request() {
        let r = parse(SPEC_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(r.old_size, 20_852_014);
        assert_eq!(r.proof.len(), 4);
        assert_eq!(r.proof[0].to_base64(), "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=");
        assert_eq!(r.proof[3].to_base64(), "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=");
        assert_eq!(r.checkpoint.origin, "example.com/behind-the-sofa");
        assert_eq!(r.checkpoint.size, 20_852_163);
        assert_eq!(r.checkpoint.root.to_base64(), "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
        // "The submitted checkpoint MAY include multiple signatures."
        assert_eq!(r.note.signatures.len(), 2);
        assert!(r.note.signatures.iter().all(|s| s.name == "example.com/behind-the-sofa"));
        // Writing it back gives the spec's bytes.
        assert_eq!(encode(r.old_size, &r.proof, &r.note.to_text()), SPEC_EXAMPLE.as_bytes());
    }

    #[test]
    fn old_size_zero_without_proof() {
        let note = Checkpoint::new("o", 3, leaf_hash(b"x")).sign(&GatewayKey::from_seed([1; 32]));
        let r = parse(&encode(0, &[], &note.to_text())).unwrap();
        assert_eq!((r.old_size, r.proof.len(), r.checkpoint.size), (0, 0, 3));
    }

    #[test]
    fn malformed_requests_are_rejected_with_the_reason() {
        let h = leaf_hash(b"p").to_base64();
        let note = Checkpoint::new("o", 10, leaf_hash(b"x"))
            .sign(&GatewayKey::from_seed([1; 32]))
            .to_text();
        let many = format!("old 1\n{}\n{note}", format!("{h}\n").repeat(64));
        type Expect = fn(&RequestError) -> bool;
        let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
            ("empty", vec![], |e| matches!(e, RequestError::OldLine(_))),
            ("binary", vec![0xff, 0xfe, b'\n'], |e| *e == RequestError::NotUtf8),
            ("no old line", format!("\n{note}").into_bytes(), |e| {
                matches!(e, RequestError::OldLine(_))
            }),
            ("leading zero", format!("old 07\n\n{note}").into_bytes(), |e| {
                matches!(e, RequestError::OldLine(_))
            }),
            ("two spaces", format!("old  7\n\n{note}").into_bytes(), |e| {
                matches!(e, RequestError::OldLine(_))
            }),
            ("CRLF", format!("old 7\r\n\r\n{note}").into_bytes(), |e| {
                matches!(e, RequestError::OldLine(_))
            }),
            ("negative", format!("old -1\n\n{note}").into_bytes(), |e| {
                matches!(e, RequestError::OldLine(_))
            }),
            ("overflow", format!("old 18446744073709551616\n\n{note}").into_bytes(), |e| {
                matches!(e, RequestError::OldLine(_))
            }),
            ("short hash", format!("old 7\nAAAA\n\n{note}").into_bytes(), |e| {
                *e == RequestError::ProofLine { line: 2 }
            }),
            ("hex hash", format!("old 7\n{h}\n{}\n\n{note}", "ab".repeat(32)).into_bytes(), |e| {
                *e == RequestError::ProofLine { line: 3 }
            }),
            ("64 proof lines", many.into_bytes(), |e| *e == RequestError::TooManyProofLines),
            ("no separator", b"old 7\n".to_vec(), |e| *e == RequestError::NoSeparator),
            ("no checkpoint", b"old 7\n\n".to_vec(), |e| matches!(e, RequestError::Checkpoint(_))),
            ("unsigned checkpoint", format!("old 7\n\no\n10\n{h}\n").into_bytes(), |e| {
                matches!(e, RequestError::Checkpoint(_))
            }),
            ("old above size", format!("old 11\n\n{note}").into_bytes(), |e| {
                *e == RequestError::OldAboveSize { old: 11, size: 10 }
            }),
            ("too large", vec![b'a'; MAX_BODY_BYTES + 1], |e| {
                matches!(e, RequestError::TooLarge(_))
            }),
        ];
        for (name, body, want) in cases {
            match parse(&body) {
                Ok(r) => panic!("{name}: accepted as {r:?}"),
                Err(e) => assert!(want(&e), "{name}: unexpected error {e:?}"),
            }
        }
    }

    #[test]
    fn huge_tree_sizes_are_refused() {
        let key = GatewayKey::from_seed([1; 32]);
        let note = Checkpoint::new("o", u64::MAX, leaf_hash(b"x")).sign(&key).to_text();
        assert_eq!(parse(&encode(0, &[], &note)), Err(RequestError::SizeTooLarge(u64::MAX)));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // Cheap deterministic sweep; the fuzz target goes further.
        let note = Checkpoint::new("o", 5, leaf_hash(b"x"))
            .sign(&GatewayKey::from_seed([1; 32]))
            .to_text();
        let good = encode(2, &[leaf_hash(b"a"), leaf_hash(b"b")], &note);
        let mut rng = fastrand::Rng::with_seed(6);
        for _ in 0..2_000 {
            let mut b = good.clone();
            for _ in 0..rng.usize(1..4) {
                let i = rng.usize(..b.len());
                match rng.u8(..3) {
                    0 => b[i] = rng.u8(..),
                    1 => b.truncate(i),
                    _ => b.insert(i, b'\n'),
                }
                if b.is_empty() {
                    break;
                }
            }
            let _ = parse(&b);
        }
    }
}
