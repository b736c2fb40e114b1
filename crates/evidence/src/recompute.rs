//! Recomputing `usage` digests from the data messages, as anyone who archived them can: the
//! reviewer's check that the usage a gateway claims is the data it published.
//!
//! Input: the `usage` records of a bundle and a capture of data messages (one per line,
//! `TOPIC PAYLOAD` as `mosquitto_sub -v` prints them; lines of other topics are ignored).
//! For every device of every `usage` record, the messages of that device with
//! `start.wall_ms <= ts < end.wall_ms`, in `seq` order, each `values` entry in payload order,
//! are hashed as [`digest`](super::digest) stream v2 and compared with the record's `digest`.
//! A message delivered twice (MQTT QoS 1 re-sends, the `historical` re-publication after a
//! restart) counts once: the same `seq` means the same journal entry.
//!
//! What it cannot tell: a message that never reached the capture looks the same as a
//! message the gateway made up in the digest; the seq gaps it lists say which journal
//! entries the capture lacks, so a reviewer can tell "not captured" from "edited".

use std::collections::BTreeMap;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value as Json;

use super::digest::{UsageDigest, Value};
use super::merkle::Hash;

/// Why a capture line or a payload could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CaptureError {
    /// The payload is not a data message.
    #[error("line {line}: not a data message: {msg}")]
    Payload {
        /// 1-based line number in the capture.
        line: u64,
        /// What was wrong.
        msg: String,
    },
    /// Two messages with the same seq but different content.
    #[error("seq {seq} captured twice with different content (lines {first} and {second})")]
    Conflict {
        /// The journal seq.
        seq: u64,
        /// Line of the first message.
        first: u64,
        /// Line of the second.
        second: u64,
    },
}

/// A value of a data message's `values` object as the digest takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number token, exactly as the payload spells it.
    Number(String),
    /// A string, unescaped.
    Text(String),
}

impl Reading {
    fn digest_value(&self) -> Option<Value<'_>> {
        match self {
            Reading::Null => None,
            Reading::Bool(b) => Some(Value::Bool(*b)),
            Reading::Number(n) => Some(Value::Number(n)),
            Reading::Text(t) => Some(Value::Text(t)),
        }
    }
}

/// One data message, as the digest needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataMessage {
    /// `device`.
    pub device: String,
    /// `seq`: the journal's sequence number.
    pub seq: u64,
    /// `ts`: the poll cycle's tick, Unix ms.
    pub ts: u64,
    /// `values`, in payload order.
    pub values: Vec<(String, Reading)>,
}

/// The `values` object with its order and raw tokens kept (serde_json's own map would sort
/// the keys and parse numbers).
struct OrderedValues(Vec<(String, Reading)>);

impl<'de> Deserialize<'de> for OrderedValues {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedValues;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of point name to value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedValues, A::Error> {
                let mut out = Vec::new();
                while let Some((k, raw)) = map.next_entry::<String, &RawValue>()? {
                    out.push((k, reading(raw).map_err(serde::de::Error::custom)?));
                }
                Ok(OrderedValues(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn reading(raw: &RawValue) -> Result<Reading, String> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'n') => Ok(Reading::Null),
        Some(b't') => Ok(Reading::Bool(true)),
        Some(b'f') => Ok(Reading::Bool(false)),
        Some(b'"') => serde_json::from_str(text).map(Reading::Text).map_err(|e| e.to_string()),
        Some(b'-' | b'0'..=b'9') => Ok(Reading::Number(text.to_string())),
        _ => Err(format!("value {text} is not null, a bool, a number or a string")),
    }
}

#[derive(Deserialize)]
struct Payload<'a> {
    device: String,
    seq: u64,
    ts: u64,
    #[serde(borrow)]
    values: Option<&'a RawValue>,
}

/// Parses a data message payload (the JSON object of `publish::payload`).
pub fn parse_payload(payload: &str) -> Result<DataMessage, String> {
    let p: Payload<'_> = serde_json::from_str(payload).map_err(|e| e.to_string())?;
    let values = match p.values {
        Some(raw) => serde_json::from_str::<OrderedValues>(raw.get()).map_err(|e| e.to_string())?.0,
        None => return Err("no \"values\"".into()),
    };
    Ok(DataMessage { device: p.device, seq: p.seq, ts: p.ts, values })
}

/// Every data message of a capture, by seq.
#[derive(Debug, Default)]
pub struct Capture {
    messages: BTreeMap<u64, (u64, DataMessage)>,
    /// Lines that were not data messages (other topics, blank lines).
    pub other_lines: u64,
    /// Data message lines, re-sends included.
    pub data_lines: u64,
}

impl Capture {
    /// Reads a capture: lines `TOPIC PAYLOAD`; a line counts as a data message when its
    /// topic has a `data` level (`<prefix>/data/<device>`). Stops at the first payload that
    /// is not a data message or a seq seen with other content.
    pub fn read(text: &str) -> Result<Capture, CaptureError> {
        let mut capture = Capture::default();
        for (i, line) in text.lines().enumerate() {
            let line_no = i as u64 + 1;
            let Some((topic, payload)) = line.split_once(' ') else {
                capture.other_lines += 1;
                continue;
            };
            if !topic.split('/').any(|level| level == "data") {
                capture.other_lines += 1;
                continue;
            }
            let msg = parse_payload(payload)
                .map_err(|msg| CaptureError::Payload { line: line_no, msg })?;
            capture.add(line_no, msg)?;
        }
        Ok(capture)
    }

    /// Adds one message seen on line `line`.
    pub fn add(&mut self, line: u64, msg: DataMessage) -> Result<(), CaptureError> {
        self.data_lines += 1;
        if let Some((first, earlier)) = self.messages.get(&msg.seq) {
            if *earlier != msg {
                return Err(CaptureError::Conflict { seq: msg.seq, first: *first, second: line });
            }
            return Ok(());
        }
        self.messages.insert(msg.seq, (line, msg));
        Ok(())
    }

    /// Distinct messages.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// No message.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Seq ranges between the first and the last captured seq that the capture lacks.
    pub fn seq_gaps(&self) -> Vec<(u64, u64)> {
        let mut gaps = Vec::new();
        let mut prev: Option<u64> = None;
        for &seq in self.messages.keys() {
            if let Some(p) = prev {
                if seq > p + 1 {
                    gaps.push((p + 1, seq - 1));
                }
            }
            prev = Some(seq);
        }
        gaps
    }

    /// The v2 digest of `device` over `[start, end)` and the messages and entries in it.
    pub fn digest(&self, device: &str, start: u64, end: u64) -> (Hash, u64, u64) {
        let mut d = UsageDigest::new();
        let mut messages = 0;
        let mut good = 0;
        for (_, m) in self.messages.values() {
            if m.device != device || !(start..end).contains(&m.ts) {
                continue;
            }
            messages += 1;
            for (point, value) in &m.values {
                good += u64::from(*value != Reading::Null);
                d.push(point, m.ts, value.digest_value());
            }
        }
        (d.finish(), messages, good)
    }
}

/// One device of one `usage` record, recomputed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCheck {
    /// The `usage` record's seq.
    pub record_seq: u64,
    /// Interval start, Unix ms.
    pub start_ms: u64,
    /// Interval end, Unix ms.
    pub end_ms: u64,
    /// Device id.
    pub device: String,
    /// The record's `digest`.
    pub claimed: Hash,
    /// The record's `points_read`.
    pub points_read: u64,
    /// The digest recomputed from the capture.
    pub recomputed: Hash,
    /// Captured messages of the device in the interval.
    pub messages: u64,
    /// Non-null values in them.
    pub values: u64,
}

impl DeviceCheck {
    /// The recomputed digest equals the record's.
    pub fn matches(&self) -> bool {
        self.claimed == self.recomputed
    }

    /// Fewer values captured than the record counts: messages are missing from the capture
    /// (or the record claims reads that were never published).
    pub fn values_missing(&self) -> u64 {
        self.points_read.saturating_sub(self.values)
    }
}

/// Why a bundle's `usage` record could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("usage record seq {seq}: {msg}")]
pub struct UsageRecordError {
    /// Its seq (or 0 when even that is missing).
    pub seq: u64,
    /// What is wrong.
    pub msg: String,
}

/// Recomputes every device of one `usage` record (a bundle line's `record` value). Records of
/// other types give an empty list.
pub fn check_record(
    record: &Json,
    capture: &Capture,
) -> Result<Vec<DeviceCheck>, UsageRecordError> {
    if record["typ"] != "usage" {
        return Ok(Vec::new());
    }
    let seq = record["seq"].as_u64().unwrap_or(0);
    let err = |msg: &str| UsageRecordError { seq, msg: msg.to_string() };
    let body = &record["body"];
    let start = body["start"]["wall_ms"].as_u64().ok_or_else(|| err("no body.start.wall_ms"))?;
    let end = body["end"]["wall_ms"].as_u64().ok_or_else(|| err("no body.end.wall_ms"))?;
    let devices = body["devices"].as_array().ok_or_else(|| err("no body.devices"))?;
    let mut out = Vec::with_capacity(devices.len());
    for d in devices {
        let id = d["id"].as_str().ok_or_else(|| err("a device without id"))?;
        let claimed = d["digest"]
            .as_str()
            .and_then(Hash::from_hex)
            .ok_or_else(|| err("a device without a hex digest"))?;
        let (recomputed, messages, values) = capture.digest(id, start, end);
        out.push(DeviceCheck {
            record_seq: seq,
            start_ms: start,
            end_ms: end,
            device: id.to_string(),
            claimed,
            points_read: d["points_read"].as_u64().unwrap_or(0),
            recomputed,
            messages,
            values,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE_1: &str = r#"edgeproof/gw/data/press {"gw":"gw","device":"press","seq":1,"ts":1000,"historical":false,"values":{"z":20.0,"a":1e-7,"n":18446744073709551615,"s":"A \"q\"\n","b":true,"x":null},"bad":{"t":"timeout"}}"#;

    /// The worked example of `docs/evidence-format.md` ("Usage digest"); the hash was
    /// computed by the independent Python recomputation printed there.
    #[test]
    fn worked_example_of_the_format_doc() {
        let text = concat!(
            r#"edgeproof/gw-demo-01/data/press-01 {"gw":"gw-demo-01","device":"press-01","seq":1234,"ts":1732300000123,"historical":false,"values":{"spindle_rpm":1234.5,"count":7,"delta":-2,"running":true,"label":"A \"q\"\n°C","temp":20.0},"bad":{"oil_temp":"timeout"}}"#,
            "\n",
            r#"edgeproof/gw-demo-01/data/press-01 {"gw":"gw-demo-01","device":"press-01","seq":1235,"ts":1732300000623,"historical":false,"values":{"spindle_rpm":1e-7,"count":18446744073709551615,"x":null},"bad":{}}"#,
        );
        let c = Capture::read(text).unwrap();
        let (digest, messages, values) = c.digest("press-01", 1_732_300_000_000, 1_732_300_300_000);
        assert_eq!((messages, values), (2, 8));
        assert_eq!(
            digest.to_hex(),
            "266e1e7f19a41ce4dcdb360e0fe712e1b8d55cea502666ba0bd936c31c864e97"
        );
    }

    #[test]
    fn payload_order_and_tokens_are_kept() {
        let c = Capture::read(LINE_1).unwrap();
        let (digest, messages, values) = c.digest("press", 1000, 1001);
        let mut want = UsageDigest::new();
        want.push("z", 1000, Some(Value::Number("20.0")));
        want.push("a", 1000, Some(Value::Number("1e-7")));
        want.push("n", 1000, Some(Value::Number("18446744073709551615")));
        want.push("s", 1000, Some(Value::Text("A \"q\"\n")));
        want.push("b", 1000, Some(Value::Bool(true)));
        want.push("x", 1000, None);
        assert_eq!((digest, messages, values), (want.finish(), 1, 5));
        assert_eq!(c.digest("press", 1001, 2000).1, 0, "ts outside the interval");
    }

    #[test]
    fn capture_lines_are_sorted_by_seq_deduplicated_and_other_topics_skipped() {
        let second = LINE_1.replace("\"seq\":1", "\"seq\":3").replace("\"ts\":1000", "\"ts\":1500");
        let text = format!(
            "edgeproof/gw/status online\n{second}\n{LINE_1}\n{LINE_1}\nedgeproof/gw/evidence {{}}\n"
        );
        let c = Capture::read(&text).unwrap();
        assert_eq!((c.len(), c.data_lines, c.other_lines), (2, 3, 2));
        assert_eq!(c.seq_gaps(), vec![(2, 2)]);
        let (_, messages, values) = c.digest("press", 0, 2000);
        assert_eq!((messages, values), (2, 10));
        let edited = LINE_1.replace("20.0", "21.0");
        assert_eq!(
            Capture::read(&format!("{LINE_1}\n{edited}")).unwrap_err(),
            CaptureError::Conflict { seq: 1, first: 1, second: 2 }
        );
        assert!(matches!(
            Capture::read("a/data/b {\"seq\":1}"),
            Err(CaptureError::Payload { line: 1, .. })
        ));
    }
}
