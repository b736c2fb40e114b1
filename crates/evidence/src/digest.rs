//! The `digest` of a device's interval in a `usage` record: SHA-256 over a stream of every
//! value the device's data messages of the interval carry, in order. Specified byte by byte
//! in `docs/evidence-format.md` ("Usage digest"); the golden fixtures below pin it.
//!
//! # Stream v2 (written since the digest was defined over the published payload)
//!
//! `"edgeproof-usage-digest/v2\n"`, then per entry of a data message's `values` object:
//!
//! ```text
//! u32 BE length of the point name || point name (UTF-8, unescaped)
//! || u64 BE `ts` of the message (Unix ms) || tag || value
//! ```
//!
//! | tag | JSON value | value bytes |
//! |---|---|---|
//! | `0` | `null` | none |
//! | `1` | `true` / `false` | one byte, 1 / 0 |
//! | `5` | string | `u32 BE length ‖ UTF-8` of the string after JSON unescaping |
//! | `6` | number | `u32 BE length ‖` the number token exactly as the payload spells it (ASCII, e.g. `1234.5`, `20.0`, `1e-7`, `-3`, `18446744073709551615`) |
//!
//! Numbers are taken as the payload's text, not as a parsed value, so that a recomputation
//! never depends on how a JSON library maps numbers to types: the gateway writes the token
//! with serde_json (integers in full, floats as the shortest round-trip decimal) and hashes
//! the same bytes.
//!
//! # Stream v1 (records written before v2; kept so that typed readings can be re-hashed)
//!
//! Prefix `"edgeproof-usage-digest/v1\n"`, the same framing, tags `0` no value, `1` bool,
//! `2` i64 BE, `3` u64 BE, `4` f64 IEEE 754 bits BE, `5` text. v1 tagged integers by the
//! gateway's internal type, which the JSON payload does not carry, so a v1 digest can only be
//! recomputed from the gateway's own readings; that is why v2 exists. Tags 2–4 are never
//! written in a v2 stream and tag 6 never in a v1 stream.
//!
//! Binary and length-prefixed so that no two streams encode alike. Changing any of this
//! breaks every stored `usage` record's digest: make a v3 instead.

use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// One value as the digest stream encodes it (the tags above). `None` (tag 0) is a JSON
/// `null` (v2) or a reading without a value (v1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// Tag 1 (v1 and v2).
    Bool(bool),
    /// Tag 2 (v1 only): a signed integer reading.
    Int(i64),
    /// Tag 3 (v1 only): an unsigned integer reading.
    UInt(u64),
    /// Tag 4 (v1 only): a float reading.
    Float(f64),
    /// Tag 5 (v1 and v2).
    Text(&'a str),
    /// Tag 6 (v2 only): a JSON number token exactly as the payload spells it.
    Number(&'a str),
}

/// The stream versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamVersion {
    /// Typed readings (tags 2–4); not recomputable from JSON.
    V1,
    /// Values as the published JSON payload carries them; what the gateway writes.
    V2,
}

impl StreamVersion {
    /// The prefix the stream starts with.
    pub fn prefix(self) -> &'static [u8] {
        match self {
            StreamVersion::V1 => PREFIX_V1,
            StreamVersion::V2 => PREFIX_V2,
        }
    }
}

const PREFIX_V1: &[u8] = b"edgeproof-usage-digest/v1\n";
const PREFIX_V2: &[u8] = b"edgeproof-usage-digest/v2\n";

/// Incremental usage digest of one device over one interval.
#[derive(Clone)]
pub struct UsageDigest {
    h: Sha256,
    samples: u64,
}

impl Default for UsageDigest {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for UsageDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UsageDigest({} samples)", self.samples)
    }
}

impl UsageDigest {
    /// An empty digest of the current stream version (v2).
    pub fn new() -> Self {
        Self::of_version(StreamVersion::V2)
    }

    /// An empty digest of stream `version`.
    pub fn of_version(version: StreamVersion) -> Self {
        let mut h = Sha256::new();
        h.update(version.prefix());
        UsageDigest { h, samples: 0 }
    }

    /// Adds one entry: point name, the message's `ts`, and the value.
    pub fn push(&mut self, point: &str, ts_ms: u64, value: Option<Value<'_>>) {
        self.bytes(point.as_bytes());
        self.h.update(ts_ms.to_be_bytes());
        match value {
            None => self.h.update([0u8]),
            Some(Value::Bool(b)) => self.h.update([1u8, u8::from(b)]),
            Some(Value::Int(i)) => {
                self.h.update([2u8]);
                self.h.update(i.to_be_bytes());
            }
            Some(Value::UInt(u)) => {
                self.h.update([3u8]);
                self.h.update(u.to_be_bytes());
            }
            Some(Value::Float(x)) => {
                self.h.update([4u8]);
                self.h.update(x.to_bits().to_be_bytes());
            }
            Some(Value::Text(s)) => {
                self.h.update([5u8]);
                self.bytes(s.as_bytes());
            }
            Some(Value::Number(token)) => {
                self.h.update([6u8]);
                self.bytes(token.as_bytes());
            }
        }
        self.samples += 1;
    }

    /// `u32 BE length || bytes`; longer than 4 GiB is cut at 4 GiB (no point name or value
    /// of a data message comes near).
    fn bytes(&mut self, b: &[u8]) {
        let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        self.h.update(len.to_be_bytes());
        self.h.update(&b[..len as usize]);
    }

    /// Entries added so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The digest.
    pub fn finish(self) -> Hash {
        Hash(self.h.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden fixtures: for every tag, the exact stream bytes after the prefix and the
    /// SHA-256 of prefix ‖ bytes. The hashes are pinned literally so that a change to the
    /// encoding *or* to the prefix fails here; `docs/evidence-format.md` quotes these.
    #[allow(clippy::type_complexity)]
    const GOLDEN: &[(&str, StreamVersion, &str, u64, Option<Value<'static>>, &str, &str)] = &[
        (
            "v2 tag 0: null",
            StreamVersion::V2,
            "p",
            1,
            None,
            "0000000170000000000000000100",
            "66b4e78e8c427b65f07b65b24af32ec5bf4664c66269eede8398e3b60d21ac1c",
        ),
        (
            "v2 tag 1: true",
            StreamVersion::V2,
            "on",
            1732300000123,
            Some(Value::Bool(true)),
            "000000026f6e0000019355204b7b0101",
            "014447b9937b46bf795f168a5b48f175ac84f10ff667539e4db54f88d1c572a4",
        ),
        (
            "v2 tag 1: false",
            StreamVersion::V2,
            "on",
            1732300000123,
            Some(Value::Bool(false)),
            "000000026f6e0000019355204b7b0100",
            "4f8e0ed2e00182279ea5d7b315d72473a2dcdb085a6fbc1d5990d5286226e60b",
        ),
        (
            "v2 tag 5: text, unescaped UTF-8",
            StreamVersion::V2,
            "label",
            1732300000123,
            Some(Value::Text("A \"q\"\n°C")),
            "000000056c6162656c0000019355204b7b050000000941202271220ac2b043",
            "3753889328db00857df1eaf4fe442b81ec416ed3efe3583bdd840e965b845e0c",
        ),
        (
            "v2 tag 6: float token",
            StreamVersion::V2,
            "spindle_rpm",
            1732300000123,
            Some(Value::Number("1234.5")),
            "0000000b7370696e646c655f72706d0000019355204b7b0600000006313233342e35",
            "c28fff8887a0213ab0adcb464d988db8ad839e1f2186499aed403feb0be66116",
        ),
        (
            "v2 tag 6: integral float keeps .0",
            StreamVersion::V2,
            "t",
            5,
            Some(Value::Number("20.0")),
            "00000001740000000000000005060000000432302e30",
            "7f605c0b87e2aec16ae2d5ab2ca57305964401a179c866daaf87394f8ebb3ed7",
        ),
        (
            "v2 tag 6: exponent",
            StreamVersion::V2,
            "tiny",
            5,
            Some(Value::Number("1e-7")),
            "0000000474696e790000000000000005060000000431652d37",
            "a6c83c8220e807114d34f1e3d92895f957f7eda1fe91c23cd365c65197c5e421",
        ),
        (
            "v2 tag 6: u64::MAX in full",
            StreamVersion::V2,
            "energy_wh",
            0,
            Some(Value::Number("18446744073709551615")),
            "00000009656e657267795f7768000000000000000006000000143138343436373434303733373039353531363135",
            "cd54988580ad2e5eb67f220ebe840647381eb5b09a1c2c3ed2389892cc06d99d",
        ),
        (
            "v2 tag 6: negative integer",
            StreamVersion::V2,
            "delta",
            0,
            Some(Value::Number("-9223372036854775808")),
            "0000000564656c7461000000000000000006000000142d39323233333732303336383534373735383038",
            "e3eff698d7f072cfa8dbc3b01dfc69c82a6f5eccf4b8ed9b20115a207b6de07c",
        ),
        (
            "v1 tag 0: no value",
            StreamVersion::V1,
            "p",
            1,
            None,
            "0000000170000000000000000100",
            "a1f386b27919aff51466bfaa877d56fadbee7e0bc68a2adc18697ad4be32d016",
        ),
        (
            "v1 tag 1: bool",
            StreamVersion::V1,
            "on",
            2,
            Some(Value::Bool(true)),
            "000000026f6e00000000000000020101",
            "c3d8bc3b02f654b98b1c6a61ea74b3b143222a1906408adf4eb5f354f67d015d",
        ),
        (
            "v1 tag 2: i64",
            StreamVersion::V1,
            "delta",
            2,
            Some(Value::Int(-2)),
            "0000000564656c7461000000000000000202fffffffffffffffe",
            "7ed0be07137ac80aef6332078e139390eac288009f841ad257cf32715cc8f1a2",
        ),
        (
            "v1 tag 3: u64",
            StreamVersion::V1,
            "count",
            2,
            Some(Value::UInt(7)),
            "00000005636f756e740000000000000002030000000000000007",
            "16eeeba480d0aa8286a03761d53090572ae7a8e9ced684c464275589b3cf7ded",
        ),
        (
            "v1 tag 4: f64 bits",
            StreamVersion::V1,
            "rpm",
            2,
            Some(Value::Float(1234.5)),
            "0000000372706d00000000000000020440934a0000000000",
            "c0009da08e92f6db129d3dc683270b469f2413e2a2ec71269b7ed9d050d6fc8c",
        ),
        (
            "v1 tag 5: text",
            StreamVersion::V1,
            "label",
            2,
            Some(Value::Text("ok")),
            "000000056c6162656c000000000000000205000000026f6b",
            "12b9c6d1c8c6584d7c6f2b9fb7ad806edaf0c89f9b3a56f2bfdbaa35c24fd033",
        ),
    ];

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn golden_fixture_bytes_are_what_push_hashes() {
        for (case, version, point, ts, value, bytes, _) in GOLDEN {
            let mut d = UsageDigest::of_version(*version);
            d.push(point, *ts, *value);
            let mut want = version.prefix().to_vec();
            want.extend_from_slice(&unhex(bytes));
            assert_eq!(d.finish(), Hash::sha256(&want), "{case}");
        }
    }

    #[test]
    fn golden_fixture_hashes_are_pinned() {
        for (case, version, point, ts, value, _, hash) in GOLDEN {
            let mut d = UsageDigest::of_version(*version);
            d.push(point, *ts, *value);
            assert_eq!(d.finish().to_hex(), *hash, "{case}");
        }
    }

    #[test]
    fn different_streams_give_different_digests() {
        let digest = |version, items: &[(&str, u64, Value)]| {
            let mut d = UsageDigest::of_version(version);
            for (p, t, v) in items {
                d.push(p, *t, Some(*v));
            }
            d.finish()
        };
        use StreamVersion::{V1, V2};
        let all = [
            digest(V2, &[("ab", 1, Value::Text("c"))]),
            digest(V2, &[("a", 1, Value::Text("bc"))]),
            digest(V2, &[("ab", 1, Value::Number("1"))]),
            digest(V2, &[("ab", 1, Value::Number("1.0"))]),
            digest(V2, &[("ab", 1, Value::Text("1"))]),
            digest(V2, &[("ab", 2, Value::Number("1"))]),
            digest(V1, &[("ab", 1, Value::Int(1))]),
            digest(V1, &[("ab", 1, Value::UInt(1))]),
            digest(V1, &[("ab", 1, Value::Float(1.0))]),
            digest(V1, &[("ab", 1, Value::Text("c"))]),
        ];
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j], "{i} vs {j}");
            }
        }
    }
}
