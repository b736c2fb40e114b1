//! The evidence bundle reader (`src/evidence/bundle.rs`): any bytes as a JSON Lines bundle,
//! read through a buffer of any size (1 to 64 bytes, so lines cross buffer boundaries) under
//! small limits.
//!
//! Properties: line numbers strictly increase; nothing follows a fatal error; at most
//! `max_lines` lines are read; a line too long is reported, not held; a record re-encodes to
//! canonical JSON (RFC 8785) that parses back to the same value and encodes to the same
//! bytes, and its record line parses back to the same record; a checkpoint or cosignature
//! note survives its own line format.

use std::io::BufReader;

use edgeproof_evidence::bundle::{
    checkpoint_line, cosignature_line, header_line, parse_line, record_line, BundleReader, Limits,
    Line, LineError,
};
use edgeproof_evidence::canonical;

pub fn run(data: &[u8]) {
    let Some((&knob, input)) = data.split_first() else { return };
    let limits = Limits { max_line_bytes: 1 << 12, max_lines: 64, max_bytes: 1 << 16 };
    let reader = BufReader::with_capacity(usize::from(knob % 64) + 1, input);
    let mut last = 0;
    let mut fatal = false;
    let mut n = 0u64;
    for item in BundleReader::new(reader, limits) {
        assert!(!fatal, "an item after a fatal error");
        n += 1;
        assert!(n <= limits.max_lines + 1, "more lines than the limit");
        let (line, parsed) = match item {
            Ok(x) => x,
            Err(e) => {
                fatal = e.is_fatal();
                if let LineError::TooLong { line, .. } | LineError::Invalid { line, .. } = e {
                    assert!(line > last, "line numbers go back");
                    last = line;
                }
                continue;
            }
        };
        assert!(line > last, "line numbers go back");
        last = line;
        let again = match &parsed {
            Line::Header(h) => header_line(h).into_bytes(),
            Line::Record(v) => {
                let bytes = canonical::encode(v).expect("a parsed record encodes");
                let back = canonical::parse(&bytes).expect("canonical output parses");
                assert_eq!(&back, v, "canonical round trip");
                assert_eq!(canonical::encode(&back).expect("encodes"), bytes, "JCS is idempotent");
                record_line(&bytes)
            }
            Line::Checkpoint(s) => checkpoint_line(s).into_bytes(),
            Line::Cosignature(s) => cosignature_line(s).into_bytes(),
        };
        let reparsed = parse_line(again.strip_suffix(b"\n").unwrap_or(&again));
        assert_eq!(reparsed.as_ref(), Ok(&parsed), "a line survives its own format");
    }
}
