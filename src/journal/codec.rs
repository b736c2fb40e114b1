//! A [`Batch`] ⇄ the bytes stored in `telemetry.payload`.
//!
//! A hand-rolled binary format rather than JSON: measured on a realistic 10-point batch
//! (floats, counters, a bit, a text, one timeout) it is 181 bytes here against 621 as
//! `serde_json` of a mirror struct — and that JSON already loses the Int/UInt/Float
//! distinction, which would need tags on top. Encoding is a straight copy with no escaping
//! or float formatting, so the writer thread spends its time in SQLite.
//!
//! **Changing this breaks stored data.** A journal can hold a year of backlog written by an
//! older build; a change means a new `FORMAT_VERSION` and a decoder kept for every version
//! ever written.
//!
//! Format version 1 (varint = unsigned LEB128, at most 10 bytes; zigzag maps signed to
//! unsigned as in protobuf; str = varint byte length + UTF-8):
//!
//! ```text
//! payload := version:u8 (=1)  device:str  ts_ms:varint  count:varint  sample*count
//! sample  := point:str  dts:zigzag(sample.ts_ms − batch.ts_ms, wrapping)  tag:u8
//!            [code:u8 if quality is Exception]  [status:u16 LE if quality is Status]
//!            [value by kind]
//! tag     := quality << 4 | kind
//! quality := 0 good · 1 timeout · 2 exception(code follows) · 3 disconnected
//!            · 4 malformed · 5 not_finite · 6 status (OPC UA StatusCode, upper 16 bits)
//! kind    := 0 no value · 1 false · 2 true · 3 Int zigzag varint · 4 UInt varint
//!            · 5 Float f64 bits, 8 bytes little-endian · 6 Text str
//! ```
//!
//! Value and quality are encoded independently, so even a sample that breaks the model's
//! "value is `None` exactly when bad" rule round-trips as it was.

use std::sync::Arc;

use super::error::CodecError;
use crate::model::{BadReason, Batch, Quality, Sample, Value};

/// The version byte written first in every payload.
const FORMAT_VERSION: u8 = 1;

const Q_GOOD: u8 = 0;
const Q_TIMEOUT: u8 = 1;
const Q_EXCEPTION: u8 = 2;
const Q_DISCONNECTED: u8 = 3;
const Q_MALFORMED: u8 = 4;
const Q_NOT_FINITE: u8 = 5;
/// Added with the OPC UA source: an additive code, so every journal written before decodes
/// unchanged (a build older than it cannot read samples carrying it).
const Q_STATUS: u8 = 6;

const K_NONE: u8 = 0;
const K_FALSE: u8 = 1;
const K_TRUE: u8 = 2;
const K_INT: u8 = 3;
const K_UINT: u8 = 4;
const K_FLOAT: u8 = 5;
const K_TEXT: u8 = 6;

/// Appends the encoding of `batch` to `out`.
pub(crate) fn encode(batch: &Batch, out: &mut Vec<u8>) {
    out.push(FORMAT_VERSION);
    put_str(out, &batch.device);
    put_varint(out, batch.ts_ms);
    put_varint(out, batch.samples.len() as u64);
    for sample in &batch.samples {
        put_str(out, &sample.point);
        put_varint(out, zigzag(sample.ts_ms.wrapping_sub(batch.ts_ms) as i64));
        let (quality, code, status) = match sample.quality {
            Quality::Good => (Q_GOOD, None, None),
            Quality::Bad(BadReason::Timeout) => (Q_TIMEOUT, None, None),
            Quality::Bad(BadReason::Exception(code)) => (Q_EXCEPTION, Some(code), None),
            Quality::Bad(BadReason::Disconnected) => (Q_DISCONNECTED, None, None),
            Quality::Bad(BadReason::Malformed) => (Q_MALFORMED, None, None),
            Quality::Bad(BadReason::NotFinite) => (Q_NOT_FINITE, None, None),
            Quality::Bad(BadReason::Status(s)) => (Q_STATUS, None, Some(s)),
        };
        let kind = match &sample.value {
            None => K_NONE,
            Some(Value::Bool(false)) => K_FALSE,
            Some(Value::Bool(true)) => K_TRUE,
            Some(Value::Int(_)) => K_INT,
            Some(Value::UInt(_)) => K_UINT,
            Some(Value::Float(_)) => K_FLOAT,
            Some(Value::Text(_)) => K_TEXT,
        };
        out.push(quality << 4 | kind);
        if let Some(code) = code {
            out.push(code);
        }
        if let Some(status) = status {
            out.extend_from_slice(&status.to_le_bytes());
        }
        match &sample.value {
            None | Some(Value::Bool(_)) => {}
            Some(Value::Int(i)) => put_varint(out, zigzag(*i)),
            Some(Value::UInt(u)) => put_varint(out, *u),
            Some(Value::Float(x)) => out.extend_from_slice(&x.to_bits().to_le_bytes()),
            Some(Value::Text(s)) => put_str(out, s),
        }
    }
}

/// Decodes one payload. Never panics, whatever the bytes.
pub(crate) fn decode(bytes: &[u8]) -> Result<Batch, CodecError> {
    let mut r = Reader { bytes, pos: 0 };
    let version = r.u8()?;
    if version != FORMAT_VERSION {
        return Err(CodecError::Version(version));
    }
    let device: Arc<str> = r.str()?.into();
    let ts_ms = r.varint()?;
    let count = r.varint()?;
    // A sample takes at least 3 bytes; don't let a damaged count reserve gigabytes.
    let reserve = (count as usize).min(r.remaining() / 3);
    let mut samples = Vec::with_capacity(reserve);
    for _ in 0..count {
        let point: Arc<str> = r.str()?.into();
        let sample_ts = ts_ms.wrapping_add(unzigzag(r.varint()?) as u64);
        let tag_at = r.pos;
        let tag = r.u8()?;
        let quality = match tag >> 4 {
            Q_GOOD => Quality::Good,
            Q_TIMEOUT => Quality::Bad(BadReason::Timeout),
            Q_EXCEPTION => Quality::Bad(BadReason::Exception(r.u8()?)),
            Q_DISCONNECTED => Quality::Bad(BadReason::Disconnected),
            Q_MALFORMED => Quality::Bad(BadReason::Malformed),
            Q_NOT_FINITE => Quality::Bad(BadReason::NotFinite),
            Q_STATUS => Quality::Bad(BadReason::Status(u16::from_le_bytes(r.array()?))),
            _ => return Err(CodecError::Tag { tag, offset: tag_at }),
        };
        let value = match tag & 0x0f {
            K_NONE => None,
            K_FALSE => Some(Value::Bool(false)),
            K_TRUE => Some(Value::Bool(true)),
            K_INT => Some(Value::Int(unzigzag(r.varint()?))),
            K_UINT => Some(Value::UInt(r.varint()?)),
            K_FLOAT => Some(Value::Float(f64::from_bits(u64::from_le_bytes(r.array()?)))),
            K_TEXT => Some(Value::Text(r.str()?.to_owned())),
            _ => return Err(CodecError::Tag { tag, offset: tag_at }),
        };
        samples.push(Sample { point, ts_ms: sample_ts, value, quality });
    }
    if r.remaining() != 0 {
        return Err(CodecError::Trailing(r.remaining()));
    }
    Ok(Batch { device, ts_ms, samples })
}

fn zigzag(i: i64) -> u64 {
    ((i << 1) ^ (i >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        let b = *self.bytes.get(self.pos).ok_or(CodecError::Truncated(self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if n > self.remaining() {
            return Err(CodecError::Truncated(self.pos));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn varint(&mut self) -> Result<u64, CodecError> {
        let start = self.pos;
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            // The 10th byte may only carry the top bit of a u64.
            if shift == 63 && b > 1 {
                return Err(CodecError::Varint(start));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError::Varint(start))
    }

    fn str(&mut self) -> Result<&'a str, CodecError> {
        let len = self.varint()?;
        let at = self.pos;
        let len = usize::try_from(len).map_err(|_| CodecError::Truncated(at))?;
        std::str::from_utf8(self.take(len)?).map_err(|_| CodecError::Utf8(at))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn sample(point: &str, ts_ms: u64, value: Option<Value>, quality: Quality) -> Sample {
        Sample { point: point.into(), ts_ms, value, quality }
    }

    /// One sample of every value kind and every quality, plus edge values.
    pub(crate) fn every_variant() -> Vec<Sample> {
        let t = 1_700_000_000_000;
        vec![
            sample("bool_false", t, Some(Value::Bool(false)), Quality::Good),
            sample("bool_true", t, Some(Value::Bool(true)), Quality::Good),
            sample("int_min", t + 1, Some(Value::Int(i64::MIN)), Quality::Good),
            sample("int_max", t - 1, Some(Value::Int(i64::MAX)), Quality::Good),
            sample("int_neg", t, Some(Value::Int(-42)), Quality::Good),
            sample("uint_max", t, Some(Value::UInt(u64::MAX)), Quality::Good),
            sample("uint_zero", t, Some(Value::UInt(0)), Quality::Good),
            sample("float", t, Some(Value::Float(-273.15)), Quality::Good),
            sample("float_neg_zero", t, Some(Value::Float(-0.0)), Quality::Good),
            sample("float_tiny", t, Some(Value::Float(f64::MIN_POSITIVE)), Quality::Good),
            sample("text", t, Some(Value::Text("Línea 1 温度".into())), Quality::Good),
            sample("text_empty", t, Some(Value::Text(String::new())), Quality::Good),
            sample("timeout", t, None, Quality::Bad(BadReason::Timeout)),
            sample("exc_02", t, None, Quality::Bad(BadReason::Exception(2))),
            sample("exc_255", t, None, Quality::Bad(BadReason::Exception(255))),
            sample("exc_0", t, None, Quality::Bad(BadReason::Exception(0))),
            sample("disconnected", t, None, Quality::Bad(BadReason::Disconnected)),
            sample("malformed", t, None, Quality::Bad(BadReason::Malformed)),
            sample("not_finite", t, None, Quality::Bad(BadReason::NotFinite)),
            sample("status", t, None, Quality::Bad(BadReason::Status(0x8034))),
            // Outside the model's rule, still stored as given.
            sample("bad_with_value", t, Some(Value::UInt(7)), Quality::Bad(BadReason::Timeout)),
            sample("good_without_value", t, None, Quality::Good),
            sample("ts_zero", 0, Some(Value::Int(1)), Quality::Good),
            sample("ts_max", u64::MAX, Some(Value::Int(1)), Quality::Good),
        ]
    }

    pub(crate) fn batch_of_every_variant() -> Batch {
        Batch { device: "press_1".into(), ts_ms: 1_700_000_000_000, samples: every_variant() }
    }

    fn round_trip(batch: &Batch) -> Batch {
        let mut bytes = Vec::new();
        encode(batch, &mut bytes);
        decode(&bytes).unwrap()
    }

    #[test]
    fn every_variant_round_trips_exactly() {
        let batch = batch_of_every_variant();
        let back = round_trip(&batch);
        assert_eq!(back, batch);
        // PartialEq on f64 treats -0.0 == 0.0; compare the bits too.
        for (a, b) in batch.samples.iter().zip(&back.samples) {
            if let (Some(Value::Float(x)), Some(Value::Float(y))) = (&a.value, &b.value) {
                assert_eq!(x.to_bits(), y.to_bits(), "{}", a.point);
            }
        }
    }

    /// The v1 bytes of `batch_of_every_variant`, committed: every build must decode them to
    /// the same batch and encode that batch to the same bytes (a journal may hold a year of
    /// backlog). `EDGEPROOF_WRITE_GOLDEN=1` rewrites the file — only with a new version.
    #[test]
    fn golden_v1_bytes_decode_forever() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/journal-codec-v1.bin");
        let mut bytes = Vec::new();
        encode(&batch_of_every_variant(), &mut bytes);
        if std::env::var_os("EDGEPROOF_WRITE_GOLDEN").is_some() {
            std::fs::write(path, &bytes).unwrap();
        }
        let golden = std::fs::read(path).expect("tests/fixtures/journal-codec-v1.bin");
        assert_eq!(golden[0], 1, "format version byte");
        assert_eq!(round_trip_bytes(&golden), batch_of_every_variant());
        assert_eq!(bytes, golden, "v1 encoding changed: that breaks stored journals");
    }

    fn round_trip_bytes(bytes: &[u8]) -> Batch {
        decode(bytes).expect("golden bytes decode")
    }

    #[test]
    fn nan_bits_round_trip() {
        let nan = f64::from_bits(0x7ff8_dead_beef_0001);
        let batch = Batch {
            device: "d".into(),
            ts_ms: 5,
            samples: vec![sample("nan", 5, Some(Value::Float(nan)), Quality::Good)],
        };
        let Some(Value::Float(back)) = &round_trip(&batch).samples[0].value else {
            panic!("not a float");
        };
        assert_eq!(back.to_bits(), nan.to_bits());
    }

    #[test]
    fn edge_batches_round_trip() {
        let cases = [
            ("empty batch", Batch { device: "d".into(), ts_ms: 0, samples: vec![] }),
            ("empty device name", Batch { device: "".into(), ts_ms: u64::MAX, samples: vec![] }),
            (
                "sample far before batch",
                Batch {
                    device: "d".into(),
                    ts_ms: u64::MAX,
                    samples: vec![sample("p", 0, None, Quality::Good)],
                },
            ),
        ];
        for (name, batch) in cases {
            assert_eq!(round_trip(&batch), batch, "{name}");
        }
    }

    #[test]
    fn small_integer_batch_is_compact() {
        let batch = Batch {
            device: "press_1".into(),
            ts_ms: 1_700_000_000_000,
            samples: (0..10)
                .map(|i| {
                    sample(&format!("p{i}"), 1_700_000_000_000, Some(Value::Int(i)), Quality::Good)
                })
                .collect(),
        };
        let mut bytes = Vec::new();
        encode(&batch, &mut bytes);
        // version 1 + device 8 + ts 6 + count 1 + 10 × (name 3 + dts 1 + tag 1 + value 1)
        assert_eq!(bytes.len(), 76);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let mut bytes = Vec::new();
        encode(&batch_of_every_variant(), &mut bytes);
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "prefix of {len} bytes decoded");
        }
    }

    #[test]
    fn bad_payloads_are_named() {
        let mut good = Vec::new();
        encode(&Batch { device: "d".into(), ts_ms: 1, samples: vec![] }, &mut good);
        let mut trailing = good.clone();
        trailing.push(0);
        let cases: Vec<(&str, Vec<u8>, CodecError)> = vec![
            ("empty", vec![], CodecError::Truncated(0)),
            ("future version", vec![2, 0, 0, 0], CodecError::Version(2)),
            ("trailing byte", trailing, CodecError::Trailing(1)),
            ("device not utf-8", vec![1, 1, 0xff, 0, 0], CodecError::Utf8(2)),
            (
                "varint of 11 bytes",
                [&[1u8, 0][..], &[0xff; 10], &[0]].concat(),
                CodecError::Varint(2),
            ),
            ("string longer than payload", vec![1, 9, b'a'], CodecError::Truncated(2)),
            (
                "unknown quality",
                vec![1, 0, 0, 1, 1, b'p', 0, 0x70],
                CodecError::Tag { tag: 0x70, offset: 7 },
            ),
            (
                "unknown kind",
                vec![1, 0, 0, 1, 1, b'p', 0, 0x07],
                CodecError::Tag { tag: 0x07, offset: 7 },
            ),
            ("huge count, no samples", vec![1, 0, 0, 0xff, 0xff, 0x7f], CodecError::Truncated(6)),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(decode(&bytes).unwrap_err(), want, "{name}");
        }
    }

    #[test]
    fn zigzag_round_trips_extremes() {
        for i in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(i)), i, "{i}");
        }
    }
}
