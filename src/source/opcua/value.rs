//! OPC UA values into samples: a [`DataValue`]'s StatusCode becomes the [`Quality`](crate::model::Quality), its
//! Variant the [`Value`], its source timestamp the sample time.

use opcua::types::{DataValue, DateTime, StatusCode, Variant};

use crate::model::{BadReason, Value};

/// 100 ns ticks between 1601-01-01 (OPC UA's epoch, Part 6 §5.2.2.5) and 1970-01-01.
const UNIX_EPOCH_TICKS: i64 = 116_444_736_000_000_000;

/// An OPC UA DateTime as Unix milliseconds; `None` for the null DateTime or a time before
/// 1970.
pub fn unix_ms(t: &DateTime) -> Option<u64> {
    if t.is_null() {
        return None;
    }
    let ms = (t.ticks() - UNIX_EPOCH_TICKS) / 10_000;
    u64::try_from(ms).ok().filter(|ms| *ms > 0)
}

/// The reason a non-good StatusCode gives: its upper 16 bits (severity and sub-code).
pub fn status_reason(status: StatusCode) -> BadReason {
    BadReason::Status((status.bits() >> 16) as u16)
}

/// What a DataValue says: its value (or why there is none) and its source timestamp.
pub fn decode(dv: &DataValue) -> (Result<Value, BadReason>, Option<u64>) {
    let ts = dv.source_timestamp.as_ref().and_then(unix_ms);
    let status = dv.status.unwrap_or(StatusCode::Good);
    if !status.is_good() {
        // Uncertain values are kept out too: the model has one kind of good.
        return (Err(status_reason(status)), ts);
    }
    (dv.value.as_ref().map_or(Err(BadReason::Malformed), variant), ts)
}

/// A scalar Variant as a [`Value`]. Arrays, structures and other non-scalar types are
/// [`BadReason::Malformed`]: a point is one number, flag or text.
pub fn variant(v: &Variant) -> Result<Value, BadReason> {
    Ok(match v {
        Variant::Boolean(b) => Value::Bool(*b),
        Variant::SByte(x) => Value::Int(i64::from(*x)),
        Variant::Int16(x) => Value::Int(i64::from(*x)),
        Variant::Int32(x) => Value::Int(i64::from(*x)),
        Variant::Int64(x) => Value::Int(*x),
        Variant::Byte(x) => Value::UInt(u64::from(*x)),
        Variant::UInt16(x) => Value::UInt(u64::from(*x)),
        Variant::UInt32(x) => Value::UInt(u64::from(*x)),
        Variant::UInt64(x) => Value::UInt(*x),
        // The shortest decimal that round-trips the f32, not its exact binary expansion:
        // 0.1f32 is published as 0.1, not 0.10000000149011612.
        Variant::Float(x) => finite(format!("{x}").parse::<f64>().unwrap_or(f64::from(*x)))?,
        Variant::Double(x) => finite(*x)?,
        Variant::String(s) => Value::Text(s.as_ref().to_string()),
        Variant::LocalizedText(t) => Value::Text(t.text.as_ref().to_string()),
        Variant::DateTime(t) => Value::Text(t.to_string()),
        Variant::Variant(inner) => return variant(inner),
        _ => return Err(BadReason::Malformed),
    })
}

fn finite(x: f64) -> Result<Value, BadReason> {
    if x.is_finite() {
        Ok(Value::Float(x))
    } else {
        Err(BadReason::NotFinite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_map_to_values() {
        let cases: Vec<(&str, Variant, Result<Value, BadReason>)> = vec![
            ("bool", Variant::Boolean(true), Ok(Value::Bool(true))),
            ("int16 negative", Variant::Int16(-5), Ok(Value::Int(-5))),
            ("uint64 max stays exact", Variant::UInt64(u64::MAX), Ok(Value::UInt(u64::MAX))),
            ("float shortest decimal", Variant::Float(0.1), Ok(Value::Float(0.1))),
            ("double", Variant::Double(231.25), Ok(Value::Float(231.25))),
            ("nan", Variant::Double(f64::NAN), Err(BadReason::NotFinite)),
            ("string", Variant::String("PP-H 40".into()), Ok(Value::Text("PP-H 40".into()))),
            ("empty", Variant::Empty, Err(BadReason::Malformed)),
            ("array", Variant::from(vec![1i32, 2]), Err(BadReason::Malformed)),
        ];
        for (name, v, want) in cases {
            assert_eq!(variant(&v), want, "{name}");
        }
    }

    #[test]
    fn status_codes_map_to_quality() {
        let good = DataValue::new_now(5i32);
        assert_eq!(decode(&good).0, Ok(Value::Int(5)));
        let mut unknown = DataValue::new_now(5i32);
        unknown.status = Some(StatusCode::BadNodeIdUnknown);
        assert_eq!(decode(&unknown).0, Err(BadReason::Status(0x8034)));
        assert_eq!(BadReason::Status(0x8034).as_str(), "opcua_node_id_unknown");
        let mut uncertain = DataValue::new_now(5i32);
        uncertain.status = Some(StatusCode::UncertainLastUsableValue);
        assert_eq!(decode(&uncertain).0, Err(BadReason::Status(0x4090)));
    }

    #[test]
    fn source_timestamps_become_unix_ms() {
        let t = DateTime::from(UNIX_EPOCH_TICKS + 1_700_000_000_123 * 10_000);
        assert_eq!(unix_ms(&t), Some(1_700_000_000_123));
        assert_eq!(unix_ms(&DateTime::null()), None);
    }
}
