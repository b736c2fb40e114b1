//! What the witness parses from the network (`src/witness/`): the first input byte picks
//! either an `add-checkpoint` body for `witness::request::parse`, or raw bytes for the HTTP/1.1
//! head reader (`witness::http1::head_end` then `parse_head`).
//!
//! Properties: a body that parses re-encodes (`request::encode`) to a body that parses to the
//! same old size, proof, note and checkpoint; a head end lies within the input and after a
//! line break; a parsed head has a method of capitals and a path starting with `/`.

use edgeproof_review::witness::{http1, request};

pub fn run(data: &[u8]) {
    let Some((&knob, input)) = data.split_first() else { return };
    if knob % 2 == 0 {
        body(input);
    } else {
        head(input);
    }
}

fn body(input: &[u8]) {
    let Ok(req) = request::parse(input) else { return };
    assert!(req.old_size <= req.checkpoint.size, "old size above the checkpoint's size");
    let again = request::encode(req.old_size, &req.proof, &req.note.to_text());
    let back = request::parse(&again).expect("a re-encoded request parses");
    assert_eq!(back.old_size, req.old_size);
    assert_eq!(back.proof, req.proof);
    assert_eq!(back.note, req.note);
    assert_eq!(back.checkpoint, req.checkpoint);
}

fn head(input: &[u8]) {
    let Some(end) = http1::head_end(input) else { return };
    assert!(end <= input.len() && end >= 2, "head end {end} outside the input");
    assert_eq!(input[end - 1], b'\n', "a head ends with a line break");
    if let Ok(h) = http1::parse_head(&input[..end]) {
        assert!(!h.method.is_empty() && h.method.bytes().all(|b| b.is_ascii_uppercase()));
        assert!(h.path.starts_with('/'));
    }
}
