//! What the witness parses from the network itself (`crates/review/src/witness/`): the
//! `add-checkpoint` body, `witness::request::parse`. HTTP framing (heads, lengths, chunking,
//! `Expect`) is hyper's and fuzzed upstream.
//!
//! Properties: parsing never panics; a body that parses has an old size at most the
//! checkpoint's size, and re-encodes (`request::encode`) to a body that parses to the same old
//! size, proof, note and checkpoint; any prefix of a body that parses parses or fails cleanly.

use edgeproof_review::witness::request;

pub fn run(data: &[u8]) {
    let Ok(req) = request::parse(data) else { return };
    assert!(req.old_size <= req.checkpoint.size, "old size above the checkpoint's size");
    assert!(req.proof.len() <= request::MAX_PROOF_LINES, "too many proof lines accepted");
    let again = request::encode(req.old_size, &req.proof, &req.note.to_text());
    let back = request::parse(&again).expect("a re-encoded request parses");
    assert_eq!(back.old_size, req.old_size);
    assert_eq!(back.proof, req.proof);
    assert_eq!(back.note, req.note);
    assert_eq!(back.checkpoint, req.checkpoint);
    for cut in [data.len() / 2, data.len().saturating_sub(1)] {
        let _ = request::parse(&data[..cut]);
    }
}
