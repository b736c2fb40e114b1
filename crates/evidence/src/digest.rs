//! The `digest` of a device's interval in a `usage` record: SHA-256 over the stream of every
//! (point, source timestamp, value) read, in read order.
//!
//! Stream encoding (v1), after the prefix `"edgeproof-usage-digest/v1\n"`, per sample:
//! `u32 BE length of point name || point name (UTF-8) || u64 BE source timestamp (Unix ms) ||
//! tag || value` with tag `0` no value (bad quality), `1` bool (1 byte), `2` i64 BE,
//! `3` u64 BE, `4` f64 as IEEE 754 bits BE, `5` text (`u32 BE length || UTF-8`). Binary and
//! length-prefixed so that no two streams encode alike; anyone holding the same readings
//! (e.g. the MQTT data) can recompute it.

use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// One value as the digest stream encodes it (the tags above). The gateway converts its
/// readings into this; a reviewer converts what the data messages carry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// Tag 1.
    Bool(bool),
    /// Tag 2.
    Int(i64),
    /// Tag 3.
    UInt(u64),
    /// Tag 4.
    Float(f64),
    /// Tag 5.
    Text(&'a str),
}

const PREFIX: &[u8] = b"edgeproof-usage-digest/v1\n";

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
    /// An empty digest.
    pub fn new() -> Self {
        let mut h = Sha256::new();
        h.update(PREFIX);
        UsageDigest { h, samples: 0 }
    }

    /// Adds one reading.
    pub fn push(&mut self, point: &str, ts_ms: u64, value: Option<Value<'_>>) {
        let len = u32::try_from(point.len()).unwrap_or(u32::MAX);
        self.h.update(len.to_be_bytes());
        self.h.update(&point.as_bytes()[..len as usize]);
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
                let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
                self.h.update([5u8]);
                self.h.update(len.to_be_bytes());
                self.h.update(&s.as_bytes()[..len as usize]);
            }
        }
        self.samples += 1;
    }

    /// Readings added so far.
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

    #[test]
    fn stream_encoding_is_pinned() {
        let mut d = UsageDigest::new();
        d.push("p", 1, Some(Value::Bool(true)));
        d.push("q", 2, None);
        let mut want = PREFIX.to_vec();
        want.extend_from_slice(&[0, 0, 0, 1, b'p', 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
        want.extend_from_slice(&[0, 0, 0, 1, b'q', 0, 0, 0, 0, 0, 0, 0, 2, 0]);
        assert_eq!(d.finish(), Hash::sha256(&want));
    }

    #[test]
    fn different_streams_give_different_digests() {
        let digest = |items: &[(&str, u64, Value)]| {
            let mut d = UsageDigest::new();
            for (p, t, v) in items {
                d.push(p, *t, Some(*v));
            }
            d.finish()
        };
        let a = digest(&[("ab", 1, Value::Text("c"))]);
        let b = digest(&[("a", 1, Value::Text("bc"))]);
        let c = digest(&[("ab", 1, Value::Int(1))]);
        let d = digest(&[("ab", 1, Value::UInt(1))]);
        let e = digest(&[("ab", 1, Value::Float(1.0))]);
        let all = [a, b, c, d, e];
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j], "{i} vs {j}");
            }
        }
    }
}
