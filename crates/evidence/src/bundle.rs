//! The bundle a reviewer receives: one JSON Lines file (EVIDENCE.md §Bundle).
//!
//! ```text
//! {"bundle":1,"origin":"edgeproof/gw-1","public_key":"<base64 of the 32-byte key>"}
//! {"record":{…the record's canonical JSON…}}
//! {"checkpoint":"<signed note text>"}
//! {"cosignature":"<signed note: checkpoint text, blank line, witness signature line(s)>"}
//! ```
//!
//! The header comes first; records follow in seq order; checkpoint and cosignature lines may
//! appear anywhere after the header. A cosignature line is a whole signed note, so it says by
//! itself which checkpoint it cosigns. The header's key is informative only: verification
//! uses the key the reviewer got at enrolment.
//!
//! [`BundleReader`] never panics and bounds what it holds: one line of at most
//! [`Limits::max_line_bytes`] at a time, at most [`Limits::max_lines`] lines.

use std::io::BufRead;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::canonical;

/// The bundle format version.
pub const BUNDLE_VERSION: u64 = 1;

/// The first line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// [`BUNDLE_VERSION`].
    pub bundle: u64,
    /// Log origin.
    pub origin: String,
    /// Gateway public key, standard base64 of 32 bytes (informative).
    pub public_key: String,
}

/// One parsed line.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    /// The header.
    Header(Header),
    /// A record, as parsed JSON (canonical domain).
    Record(Value),
    /// A checkpoint note.
    Checkpoint(String),
    /// A cosigned checkpoint note.
    Cosignature(String),
}

/// Bounds on what a reader accepts.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest line, in bytes.
    pub max_line_bytes: usize,
    /// Most lines.
    pub max_lines: u64,
    /// Most bytes in all (so that endless input, e.g. `/dev/zero`, ends).
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        // A record of 1,000 devices is about 600 KB; ten years of 5-minute records ≈ 1.1 M.
        Limits { max_line_bytes: 4 << 20, max_lines: 5_000_000, max_bytes: 8 << 30 }
    }
}

/// A line that could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LineError {
    /// Reading the input failed; nothing after it can be read.
    #[error("line {line}: read error: {msg}")]
    Io {
        /// 1-based line number.
        line: u64,
        /// The OS error.
        msg: String,
    },
    /// The line is longer than the limit (it is skipped).
    #[error("line {line}: longer than {limit} bytes")]
    TooLong {
        /// 1-based line number.
        line: u64,
        /// The limit.
        limit: usize,
    },
    /// More lines than the limit; reading stops.
    #[error("more than {limit} lines")]
    TooMany {
        /// The limit.
        limit: u64,
    },
    /// More bytes than the limit; reading stops.
    #[error("more than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The line is not JSON of the canonical domain, or not one of the four line kinds.
    #[error("line {line}: {msg}")]
    Invalid {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        msg: String,
    },
}

impl LineError {
    /// Whether reading cannot go on after this error.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            LineError::Io { .. } | LineError::TooMany { .. } | LineError::TooLarge { .. }
        )
    }
}

/// Reads a bundle line by line.
pub struct BundleReader<R> {
    input: R,
    limits: Limits,
    line: u64,
    buf: Vec<u8>,
    done: bool,
    bytes: u64,
}

impl<R: BufRead> BundleReader<R> {
    /// A reader with the given limits.
    pub fn new(input: R, limits: Limits) -> Self {
        BundleReader { input, limits, line: 0, buf: Vec::new(), done: false, bytes: 0 }
    }

    /// Reads the next physical line into `buf`, up to the limit. Returns `Ok(None)` at EOF,
    /// `Ok(Some(false))` if the line was too long (and has been skipped).
    fn read_line(&mut self) -> std::io::Result<Option<bool>> {
        self.buf.clear();
        let mut any = false;
        let mut too_long = false;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(if any { Some(!too_long) } else { None });
            }
            any = true;
            let (take, end) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                if self.buf.len() + take > self.limits.max_line_bytes {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(&chunk[..take]);
                }
            }
            let used = if end { take + 1 } else { take };
            self.input.consume(used);
            self.bytes += used as u64;
            if self.bytes > self.limits.max_bytes {
                return Err(std::io::Error::new(std::io::ErrorKind::FileTooLarge, "limit"));
            }
            if end {
                return Ok(Some(!too_long));
            }
        }
    }
}

impl<R: BufRead> Iterator for BundleReader<R> {
    type Item = Result<(u64, Line), LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if self.line >= self.limits.max_lines {
                self.done = true;
                return Some(Err(LineError::TooMany { limit: self.limits.max_lines }));
            }
            let res = self.read_line();
            self.line += 1;
            let line = self.line;
            match res {
                Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                    self.done = true;
                    return Some(Err(LineError::TooLarge { limit: self.limits.max_bytes }));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(LineError::Io { line, msg: e.to_string() }));
                }
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Ok(Some(false)) => {
                    return Some(Err(LineError::TooLong {
                        line,
                        limit: self.limits.max_line_bytes,
                    }))
                }
                Ok(Some(true)) => {}
            }
            let text = self.buf.strip_suffix(b"\r").unwrap_or(&self.buf);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(
                parse_line(text).map(|l| (line, l)).map_err(|msg| LineError::Invalid { line, msg }),
            );
        }
    }
}

/// Parses one line's bytes.
pub fn parse_line(text: &[u8]) -> Result<Line, String> {
    let v = canonical::parse(text).map_err(|e| e.to_string())?;
    let Value::Object(mut obj) = v else {
        return Err("not a JSON object".into());
    };
    if obj.contains_key("bundle") {
        let h: Header =
            serde_json::from_value(Value::Object(obj)).map_err(|e| format!("bad header: {e}"))?;
        return Ok(Line::Header(h));
    }
    if obj.len() != 1 {
        return Err("a line holds exactly one of record, checkpoint, cosignature".into());
    }
    let (k, v) = obj.iter_mut().next().map(|(k, v)| (k.clone(), v.take())).unwrap_or_default();
    match (k.as_str(), v) {
        ("record", v @ Value::Object(_)) => Ok(Line::Record(v)),
        ("checkpoint", Value::String(s)) => Ok(Line::Checkpoint(s)),
        ("cosignature", Value::String(s)) => Ok(Line::Cosignature(s)),
        (k, _) => Err(format!("unknown line kind {k:?} or wrong value type")),
    }
}

/// The header line, with newline.
pub fn header_line(h: &Header) -> String {
    let mut s = serde_json::to_string(h).unwrap_or_default();
    s.push('\n');
    s
}

/// A record line from the record's stored canonical bytes, with newline.
pub fn record_line(canonical: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(canonical.len() + 12);
    out.extend_from_slice(b"{\"record\":");
    out.extend_from_slice(canonical);
    out.extend_from_slice(b"}\n");
    out
}

/// A checkpoint line from a signed note's text, with newline.
pub fn checkpoint_line(note: &str) -> String {
    format!("{{\"checkpoint\":{}}}\n", Value::String(note.into()))
}

/// A cosignature line from a cosigned note's text, with newline.
pub fn cosignature_line(note: &str) -> String {
    format!("{{\"cosignature\":{}}}\n", Value::String(note.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8], limits: Limits) -> Vec<Result<(u64, Line), LineError>> {
        BundleReader::new(input, limits).collect()
    }

    #[test]
    fn reads_every_line_kind_and_skips_blank_lines() {
        let h = Header { bundle: 1, origin: "o".into(), public_key: "k".into() };
        let mut text = header_line(&h).into_bytes();
        text.extend(record_line(br#"{"seq":0}"#));
        text.extend(b"\n\r\n");
        text.extend(checkpoint_line("o\n1\nx\n\n\u{2014} o AAAA\n").into_bytes());
        text.extend(cosignature_line("c").into_bytes());
        let got: Vec<_> = read(&text, Limits::default()).into_iter().map(Result::unwrap).collect();
        assert_eq!(got[0], (1, Line::Header(h)));
        assert_eq!(got[1], (2, Line::Record(serde_json::json!({"seq":0}))));
        assert!(matches!(&got[2], (5, Line::Checkpoint(s)) if s.starts_with("o\n1\n")));
        assert_eq!(got[3], (6, Line::Cosignature("c".into())));
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn bad_lines_are_errors_with_their_number() {
        let cases: &[(&str, &[u8])] = &[
            ("not json", b"{\"record\":"),
            ("array", b"[1]"),
            ("two kinds", b"{\"record\":{},\"checkpoint\":\"x\"}"),
            ("unknown kind", b"{\"note\":\"x\"}"),
            ("record not object", b"{\"record\":\"x\"}"),
            ("float", b"{\"record\":{\"t\":1.5}}"),
            ("header extra field", b"{\"bundle\":1,\"origin\":\"o\",\"public_key\":\"k\",\"x\":1}"),
            ("invalid utf-8", b"{\"checkpoint\":\"\xff\"}"),
        ];
        for (name, line) in cases {
            let mut input = b"\n".to_vec();
            input.extend_from_slice(line);
            let got = read(&input, Limits::default());
            assert!(
                matches!(got[..], [Err(LineError::Invalid { line: 2, .. })]),
                "{name}: {got:?}"
            );
        }
    }

    #[test]
    fn limits_bound_line_length_and_count() {
        let limits = Limits { max_line_bytes: 16, max_lines: 3, max_bytes: 1 << 20 };
        let input = b"{\"cosignature\":\"a\"}\n{\"cosignature\":\"b\"}\n{\"cosignature\":\"c\"}\n";
        let got = read(input, limits);
        assert!(matches!(got[0], Err(LineError::TooLong { line: 1, limit: 16 })), "{got:?}");
        let limits = Limits { max_line_bytes: 100, max_lines: 2, max_bytes: 1 << 20 };
        let got = read(input, limits);
        assert_eq!(got.len(), 3);
        assert!(matches!(got[2], Err(LineError::TooMany { limit: 2 })));
        // A huge line without a newline is skipped without holding it.
        let mut big = vec![b'x'; 1 << 20];
        big.extend_from_slice(b"\n{\"cosignature\":\"z\"}");
        let got = read(&big, Limits { max_line_bytes: 1000, max_lines: 10, max_bytes: 2 << 20 });
        assert!(matches!(got[0], Err(LineError::TooLong { .. })));
        assert_eq!(got[1], Ok((2, Line::Cosignature("z".into()))));
        // Endless input ends at the byte limit.
        let zeros = std::io::BufReader::new(std::io::repeat(0));
        let got: Vec<_> = BundleReader::new(
            zeros,
            Limits { max_line_bytes: 10, max_lines: 10, max_bytes: 1 << 20 },
        )
        .collect();
        assert!(matches!(got[..], [Err(LineError::TooLarge { .. })]), "{got:?}");
    }
}
