//! The JSON payload of a data message: one stored batch (one device, one poll cycle) becomes
//! one message on `<prefix>/data/<device>`.
//!
//! ```json
//! {"gw":"gw-demo-01","device":"press-01","seq":1234,"ts":1732300000123,"historical":false,
//!  "values":{"spindle_rpm":1234.5},"bad":{"oil_temp":"timeout"}}
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `gw` | the gateway id (`[gateway] id`) |
//! | `device` | the device name from the config |
//! | `seq` | the journal's sequence number; unique and increasing per gateway, so receivers can de-duplicate at-least-once deliveries |
//! | `ts` | the poll cycle's scheduled tick, Unix ms, UTC |
//! | `historical` | `true` when the batch was journaled before the current broker connection came up, i.e. it is sent late, from backlog (see the `publish` module docs) |
//! | `values` | point name → value for every good sample: JSON bool, number or string. Integers are written exactly (a `u64` counter of 18446744073709551615 stays that), floats as the shortest round-trip decimal |
//! | `bad` | point name → reason (`BadReason::as_str`) for every sample without a usable value |
//!
//! Both maps are always present (possibly `{}`) and list points in the order the source
//! produced them. This layout is a contract with every subscriber: changing a field name or
//! meaning breaks them, so add fields, never repurpose one.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::model::{Batch, Quality, Sample, Value};

/// The retained message on `<prefix>/status`: `online` after every connect, `offline` on clean
/// shutdown and as the Last Will when the connection dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// The gateway is connected.
    Online,
    /// The gateway is gone (shut down, or its connection was lost).
    Offline,
}

impl Presence {
    /// The payload bytes: `online` or `offline`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Presence::Online => "online",
            Presence::Offline => "offline",
        }
    }
}

/// Encodes one stored batch as the data message payload.
pub fn encode(gateway_id: &str, seq: u64, batch: &Batch, historical: bool) -> Vec<u8> {
    let message = Message {
        gw: gateway_id,
        device: &batch.device,
        seq,
        ts: batch.ts_ms,
        historical,
        values: GoodValues(&batch.samples),
        bad: BadReasons(&batch.samples),
    };
    // Serializing into a Vec cannot fail: every key is a string and no Serialize impl below
    // returns an error. Fall back to an empty object rather than panic if that ever changes.
    serde_json::to_vec(&message).unwrap_or_else(|_| b"{}".to_vec())
}

/// Field order here is the order on the wire.
#[derive(serde::Serialize)]
struct Message<'a> {
    gw: &'a str,
    device: &'a str,
    seq: u64,
    ts: u64,
    historical: bool,
    values: GoodValues<'a>,
    bad: BadReasons<'a>,
}

/// `"values"`: good samples in source order.
struct GoodValues<'a>(&'a [Sample]);

impl Serialize for GoodValues<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for sample in self.0.iter().filter(|s| s.quality.is_good()) {
            // A good sample always has a value (model invariant); if one ever does not, say
            // so with `null` instead of inventing a value or dropping the point silently.
            map.serialize_entry(&*sample.point, &sample.value.as_ref().map(JsonValue))?;
        }
        map.end()
    }
}

/// `"bad"`: point → reason for samples without a usable value.
struct BadReasons<'a>(&'a [Sample]);

impl Serialize for BadReasons<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for sample in self.0 {
            if let Quality::Bad(reason) = sample.quality {
                map.serialize_entry(&*sample.point, reason.as_str())?;
            }
        }
        map.end()
    }
}

/// A [`Value`] as its natural JSON type. Integers go through serde_json's integer path, so
/// they are never rounded through `f64`.
struct JsonValue<'a>(&'a Value);

impl Serialize for JsonValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::UInt(u) => serializer.serialize_u64(*u),
            Value::Float(x) => serializer.serialize_f64(*x),
            Value::Text(s) => serializer.serialize_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::BadReason;

    fn batch(device: &str, ts_ms: u64, samples: Vec<Sample>) -> Batch {
        Batch { device: Arc::from(device), ts_ms, samples }
    }

    fn good(point: &str, v: Value) -> Sample {
        Sample::good(Arc::from(point), 1, v)
    }

    fn bad(point: &str, r: BadReason) -> Sample {
        Sample::bad(Arc::from(point), 1, r)
    }

    #[test]
    fn payload_is_exact() {
        let cases: Vec<(&str, u64, Batch, bool, &str)> = vec![
            (
                "example from the contract",
                1234,
                batch(
                    "press-01",
                    1732300000123,
                    vec![
                        good("spindle_rpm", Value::Float(1234.5)),
                        bad("oil_temp", BadReason::Timeout),
                    ],
                ),
                false,
                r#"{"gw":"gw-demo-01","device":"press-01","seq":1234,"ts":1732300000123,"historical":false,"values":{"spindle_rpm":1234.5},"bad":{"oil_temp":"timeout"}}"#,
            ),
            (
                "historical flag and empty bad map",
                7,
                batch("m", 5, vec![good("on", Value::Bool(true))]),
                true,
                r#"{"gw":"gw-demo-01","device":"m","seq":7,"ts":5,"historical":true,"values":{"on":true},"bad":{}}"#,
            ),
            (
                "u64::MAX and i64::MIN keep every digit",
                u64::MAX,
                batch(
                    "meter",
                    0,
                    vec![
                        good("energy_wh", Value::UInt(u64::MAX)),
                        good("delta", Value::Int(i64::MIN)),
                    ],
                ),
                false,
                r#"{"gw":"gw-demo-01","device":"meter","seq":18446744073709551615,"ts":0,"historical":false,"values":{"energy_wh":18446744073709551615,"delta":-9223372036854775808},"bad":{}}"#,
            ),
            (
                "floats, text with escapes, source order kept",
                1,
                batch(
                    "d",
                    1,
                    vec![
                        good("z_last_name_first", Value::Float(20.0)),
                        good("tiny", Value::Float(1e-7)),
                        good("label", Value::Text("A \"q\"\n".into())),
                        good("neg", Value::Float(-0.5)),
                    ],
                ),
                false,
                r#"{"gw":"gw-demo-01","device":"d","seq":1,"ts":1,"historical":false,"values":{"z_last_name_first":20.0,"tiny":1e-7,"label":"A \"q\"\n","neg":-0.5},"bad":{}}"#,
            ),
            (
                "every bad reason spelled as_str",
                2,
                batch(
                    "d",
                    1,
                    vec![
                        bad("a", BadReason::Timeout),
                        bad("b", BadReason::Exception(2)),
                        bad("c", BadReason::Exception(0x0B)),
                        bad("d", BadReason::Disconnected),
                        bad("e", BadReason::Malformed),
                        bad("f", BadReason::NotFinite),
                    ],
                ),
                false,
                r#"{"gw":"gw-demo-01","device":"d","seq":2,"ts":1,"historical":false,"values":{},"bad":{"a":"timeout","b":"exception_02_illegal_address","c":"exception","d":"disconnected","e":"malformed","f":"not_finite"}}"#,
            ),
            (
                "empty batch",
                3,
                batch("d", 9, vec![]),
                false,
                r#"{"gw":"gw-demo-01","device":"d","seq":3,"ts":9,"historical":false,"values":{},"bad":{}}"#,
            ),
            (
                "good sample without value is null, not dropped",
                4,
                batch(
                    "d",
                    1,
                    vec![Sample {
                        point: Arc::from("p"),
                        ts_ms: 1,
                        value: None,
                        quality: Quality::Good,
                    }],
                ),
                false,
                r#"{"gw":"gw-demo-01","device":"d","seq":4,"ts":1,"historical":false,"values":{"p":null},"bad":{}}"#,
            ),
        ];
        for (case, seq, batch, historical, want) in cases {
            let got = encode("gw-demo-01", seq, &batch, historical);
            assert_eq!(String::from_utf8(got).unwrap(), want, "{case}");
        }
    }

    #[test]
    fn payload_parses_back_without_precision_loss() {
        let b = batch("meter", 1, vec![good("c", Value::UInt(u64::MAX - 1))]);
        let v: serde_json::Value = serde_json::from_slice(&encode("g", 1, &b, false)).unwrap();
        assert_eq!(v["values"]["c"].as_u64(), Some(u64::MAX - 1));
    }
}
