//! The pure half of submitting checkpoints (C2SP tlog-witness §add-checkpoint): the request
//! body, what an answer means, and which old size to send next. No sockets, no clocks.

use std::sync::{Arc, Mutex, PoisonError};

use crate::evidence::cosignature::{verify_cosignatures, Cosignature, WitnessKey};
use crate::evidence::merkle::{Hash, ProofError, Tree};
use crate::evidence::note::SignedNote;

use super::client::Response;

/// The full Merkle tree of the log, shared by the recorder (which appends) and the witness
/// tasks (which take consistency proofs from it).
pub type SharedTree = Arc<Mutex<Tree>>;

/// `Content-Type` of a 409 answer that carries the witness's size.
pub const SIZE_TYPE: &str = "text/x.tlog.size";

/// Most proof lines a request may carry (tlog-witness: "MUST NOT send more than 63").
const MAX_PROOF_LINES: usize = 63;

/// Immediate re-sends after a 409 before backing off (a second 409 in a row means the
/// witness and we disagree about more than a size).
pub const MAX_RESENDS: u32 = 2;

/// A checkpoint a witness cosigned, with the cosignature lines that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// The witness URL (logs).
    pub url: String,
    /// The witness's key name.
    pub witness: String,
    /// Tree size cosigned.
    pub size: u64,
    /// Root cosigned.
    pub root: Hash,
    /// The signed note as submitted, with the verified cosignature lines appended.
    pub note: String,
    /// The cosignatures that verified under the configured key (normally one).
    pub cosignatures: Vec<Cosignature>,
}

/// The consistency proof from `old` to `new` out of the shared tree.
pub fn proof(tree: &SharedTree, old: u64, new: u64) -> Result<Vec<Hash>, ProofError> {
    let t = tree.lock().unwrap_or_else(PoisonError::into_inner);
    t.consistency_proof(old, new)
}

/// The `add-checkpoint` body: `old <size>`, one base64 hash per line, a blank line, the note.
pub fn request_body(old: u64, proof: &[Hash], note: &str) -> Result<String, String> {
    if proof.len() > MAX_PROOF_LINES {
        return Err(format!("consistency proof of {} hashes exceeds 63", proof.len()));
    }
    let mut body = format!("old {old}\n");
    for h in proof {
        body.push_str(&h.to_base64());
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    Ok(body)
}

/// What a witness's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200 with at least one cosignature that verified under the configured key.
    Cosigned(Vec<Cosignature>),
    /// 409 with the size of the latest checkpoint the witness cosigned.
    Conflict(u64),
    /// A 4xx the witness means (unknown log, untrusted key, bad proof, …): won't change by
    /// itself.
    Refused(String),
    /// No usable answer: down, slow, 5xx, malformed, or cosignatures that do not verify.
    Failed(String),
}

/// Reads an answer to a submission of `note` (the full signed note sent).
pub fn classify(resp: &Response, note: &str, key: &WitnessKey) -> Answer {
    let body = String::from_utf8_lossy(&resp.body);
    let snippet: String = body.trim().chars().take(200).collect();
    match resp.status {
        200 => {
            let Ok(sent) = SignedNote::parse(note) else {
                return Answer::Failed("the submitted note does not parse (a bug)".into());
            };
            // tlog-witness: the client may concatenate the answer to the checkpoint and verify
            // it as a note with the witness keys it trusts; lines of other keys are ignored.
            let mut joined = sent.text.clone();
            joined.push('\n');
            joined.push_str(&body);
            match SignedNote::parse(&joined).map(|n| verify_cosignatures(&n, key)) {
                Ok(Ok(list)) => Answer::Cosigned(list),
                Ok(Err(e)) => Answer::Failed(format!("200 but {e}")),
                Err(e) => {
                    Answer::Failed(format!("200 but the cosignature lines do not parse: {e}"))
                }
            }
        }
        409 if resp.content_type == SIZE_TYPE => match parse_size(&body) {
            Some(n) => Answer::Conflict(n),
            None => Answer::Failed(format!("409 with a malformed size {snippet:?}")),
        },
        408 | 429 | 500..=599 => Answer::Failed(format!("{} {snippet}", resp.status)),
        s @ 400..=499 => Answer::Refused(format!("{s} {snippet}")),
        s => Answer::Failed(format!("unexpected status {s} {snippet}")),
    }
}

/// `<decimal>\n`, no leading zeros (as a tree size line).
fn parse_size(body: &str) -> Option<u64> {
    let t = body.strip_suffix('\n').unwrap_or(body);
    let ok =
        !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && (t == "0" || !t.starts_with('0'));
    ok.then(|| t.parse().ok()).flatten()
}

/// Why a submission waits before the next try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    /// The witness could not be reached or answered nonsense; transient.
    Unreachable(String),
    /// The witness refused (4xx).
    Refused(String),
    /// The witness has cosigned a larger tree of this log than we have.
    Ahead {
        /// Its size.
        witness: u64,
        /// Ours.
        ours: u64,
    },
    /// The witness insists on a size we already sent from: it holds another root for it.
    Disagrees {
        /// The size in question.
        size: u64,
    },
}

/// What to do after an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Cosigned: hand these over.
    Done(Vec<Cosignature>),
    /// Send again at once, from this old size.
    Resend(u64),
    /// Wait (backoff), then try the latest checkpoint again.
    Wait(Trouble),
}

/// One witness's submission state: the size we believe it last cosigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    cosigned: Option<u64>,
}

impl Submission {
    /// Starts from the size the log's `anchor` records say this witness cosigned.
    pub fn new(cosigned: Option<u64>) -> Self {
        Submission { cosigned }
    }

    /// The size we believe the witness last cosigned.
    pub fn cosigned(&self) -> Option<u64> {
        self.cosigned
    }

    /// Whether a checkpoint of `size` still needs this witness.
    pub fn wants(&self, size: u64) -> bool {
        self.cosigned != Some(size)
    }

    /// The old size to send with a checkpoint of `size`: the last cosigned one if we can
    /// prove from it, else 0 (a witness that knows more says so with a 409).
    pub fn old_size(&self, size: u64) -> u64 {
        self.cosigned.filter(|c| *c <= size).unwrap_or(0)
    }

    /// Digests the answer to a request that sent `old` with a checkpoint of `size`.
    pub fn on_answer(&mut self, old: u64, size: u64, answer: Answer) -> Step {
        match answer {
            Answer::Cosigned(list) => {
                self.cosigned = Some(size);
                Step::Done(list)
            }
            Answer::Conflict(n) if n == old => Step::Wait(Trouble::Disagrees { size: n }),
            Answer::Conflict(n) if n > size => {
                self.cosigned = Some(n);
                Step::Wait(Trouble::Ahead { witness: n, ours: size })
            }
            Answer::Conflict(n) => {
                self.cosigned = Some(n);
                Step::Resend(n)
            }
            Answer::Refused(why) => Step::Wait(Trouble::Refused(why)),
            Answer::Failed(why) => Step::Wait(Trouble::Unreachable(why)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::checkpoint::Checkpoint;
    use crate::evidence::cosignature::cosign;
    use crate::evidence::keys::GatewayKey;
    use crate::evidence::merkle::{leaf_hash, verify_consistency};

    fn resp(status: u16, ctype: &str, body: &str) -> Response {
        Response { status, content_type: ctype.into(), body: body.as_bytes().to_vec() }
    }

    #[test]
    fn the_body_follows_the_spec_example_layout() {
        let leaves: Vec<Hash> = (0..7u8).map(|i| leaf_hash(&[i])).collect();
        let tree: SharedTree = Arc::new(Mutex::new(Tree::from_leaves(leaves)));
        let p = proof(&tree, 3, 7).unwrap();
        let t = tree.lock().unwrap();
        verify_consistency(3, 7, &p, &t.root_at(3).unwrap(), &t.root()).unwrap();
        let note = "o\n7\nROOT\n\n— o sig\n";
        let body = request_body(3, &p, note).unwrap();
        let lines: Vec<&str> = body.split('\n').collect();
        assert_eq!(lines[0], "old 3");
        assert_eq!(lines.len(), 1 + p.len() + 1 + 5 + 1, "{body}");
        assert_eq!(lines[1], p[0].to_base64());
        assert_eq!(lines[1 + p.len()], "", "blank line before the note");
        assert!(body.ends_with(note));
        assert_eq!(request_body(0, &[], note).unwrap(), format!("old 0\n\n{note}"));
        assert!(request_body(0, &[Hash::ZERO; 64], note).is_err(), "64 proof lines");
    }

    #[test]
    fn answers_are_classified_and_only_our_witness_counts() {
        let gw = GatewayKey::from_seed([1; 32]);
        let wk = GatewayKey::from_seed([2; 32]);
        let key = WitnessKey { name: "w.example/1".into(), key: wk.public() };
        let note = Checkpoint::new("edgeproof/gw", 5, leaf_hash(b"r")).sign(&gw);
        let text = note.to_text();
        let ours = cosign(&note.text, &key.name, &wk, 1_760_000_000).line();
        let other = cosign(&note.text, "other.example", &gw, 1_760_000_000).line();
        let forged = cosign("edgeproof/gw\n6\nx\n", &key.name, &wk, 1_760_000_000).line();
        let got = classify(&resp(200, "", &format!("{other}\n{ours}\n")), &text, &key);
        match got {
            Answer::Cosigned(list) => {
                assert_eq!(list.len(), 1);
                assert_eq!(
                    (list[0].line.as_str(), list[0].timestamp),
                    (ours.as_str(), 1_760_000_000)
                );
            }
            other => panic!("{other:?}"),
        }
        let cases = [
            ("only another witness's line", resp(200, "", &format!("{other}\n")), "Failed"),
            ("our line over another body", resp(200, "", &format!("{forged}\n")), "Failed"),
            ("not note lines", resp(200, "", "ok\n"), "Failed"),
            ("409 with a size", resp(409, SIZE_TYPE, "12\n"), "Conflict(12)"),
            ("409 bad size", resp(409, SIZE_TYPE, "012\n"), "Failed"),
            ("409 without the type", resp(409, "text/plain", "fork"), "Refused"),
            ("unknown log", resp(404, "", "unknown origin"), "Refused"),
            ("bad proof", resp(422, "", "bad proof"), "Refused"),
            ("server error", resp(503, "", "busy"), "Failed"),
            ("too many requests", resp(429, "", ""), "Failed"),
            ("redirect", resp(301, "", ""), "Failed"),
        ];
        for (case, r, want) in cases {
            let got = format!("{:?}", classify(&r, &text, &key));
            assert!(got.starts_with(want), "{case}: {got}");
        }
    }

    #[test]
    fn the_old_size_follows_what_the_witness_says() {
        let ok = || Answer::Cosigned(Vec::new());
        // (case, believed, checkpoint size, answer, step, believed after)
        let cases = [
            ("first contact", None, 10, ok(), "Done", Some(10)),
            ("witness knows 7: resend from 7", None, 10, Answer::Conflict(7), "Resend(7)", Some(7)),
            (
                "witness already has this size",
                Some(4),
                10,
                Answer::Conflict(10),
                "Resend(10)",
                Some(10),
            ),
            (
                "witness ahead of us: another history",
                Some(4),
                10,
                Answer::Conflict(12),
                "Wait(Ahead { witness: 12, ours: 10 })",
                Some(12),
            ),
            (
                "409 naming the size we sent: another root",
                Some(10),
                10,
                Answer::Conflict(10),
                "Wait(Disagrees { size: 10 })",
                Some(10),
            ),
            ("refused", Some(4), 10, Answer::Refused("422".into()), "Wait(Refused(", Some(4)),
            (
                "offline",
                Some(4),
                10,
                Answer::Failed("refused".into()),
                "Wait(Unreachable(",
                Some(4),
            ),
        ];
        for (case, believed, size, answer, want, after) in cases {
            let mut s = Submission::new(believed);
            let old = s.old_size(size);
            let step = format!("{:?}", s.on_answer(old, size, answer));
            assert!(step.starts_with(want), "{case}: {step}");
            assert_eq!(s.cosigned(), after, "{case}");
        }
        let s = Submission::new(Some(12));
        assert_eq!(s.old_size(10), 0, "cannot prove from a size larger than ours");
        assert_eq!(s.old_size(20), 12);
        assert!(!s.wants(12) && s.wants(20));
    }
}
