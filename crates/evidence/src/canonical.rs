//! RFC 8785 JSON Canonicalization Scheme (JCS) for the evidence value domain.
//!
//! Records hold only strings, booleans, integers of magnitude below 2^53, arrays and objects
//! (EVIDENCE.md §Log). In that domain JCS is small enough to state in full:
//!
//! - no whitespace anywhere;
//! - object members sorted by their names compared as arrays of UTF-16 code units
//!   (RFC 8785 §3.2.3), which differs from UTF-8 byte order only above U+FFFF;
//! - strings escaped as ECMAScript's `JSON.stringify` does (RFC 8785 §3.2.2.2): `\"`, `\\`,
//!   `\b \f \n \r \t`, other code points below U+0020 as `\u00xx` (lower-case hex), everything
//!   else — including U+007F and U+2028 — as literal UTF-8;
//! - integers in plain decimal, which is what ECMAScript's number serialisation produces for
//!   every integer in ±(2^53 − 1) (RFC 8785 §3.2.2.3);
//! - `null` is encoded as `null` (JCS allows it; records never contain it).
//!
//! Floats are **rejected**, not canonicalised: a float in a record is a bug on the writing side
//! or a forgery, never data (times are in ms or µs, ratios in parts per million). So are
//! integers outside ±(2^53 − 1), which not every JSON reader keeps exact.
//!
//! [`parse`] reads untrusted JSON into a [`serde_json::Value`] with the same domain and one
//! more rule: an object with a repeated member name is rejected, because readers disagree on
//! which copy wins and a reviewer must see exactly what was signed.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::{Map, Number, Value};

/// The largest integer magnitude records may hold: 2^53 − 1 (ECMAScript's
/// `Number.MAX_SAFE_INTEGER`), exact in every JSON implementation.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why a value is outside the canonical domain or not JSON at all.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum CanonicalError {
    /// A number with a fraction or exponent, or an integer too large for u64/i64.
    #[error("{path}: {number} is not an integer; evidence holds no floats")]
    Float {
        /// JSON path of the value, e.g. `$.body.devices[0].rt_p50_us`.
        path: String,
        /// The number as read.
        number: String,
    },
    /// An integer of magnitude 2^53 or more.
    #[error("{path}: {number} is outside ±(2^53 − 1)")]
    IntegerRange {
        /// JSON path of the value.
        path: String,
        /// The number as read.
        number: String,
    },
    /// The text is not JSON, has a repeated member name, or nests too deep.
    #[error("not canonicalisable JSON: {0}")]
    Syntax(String),
    /// A Rust value could not be turned into JSON (a map with non-string keys).
    #[error("cannot serialise to JSON: {0}")]
    Serialize(String),
}

/// Serialises `value` to its RFC 8785 canonical bytes.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let v = serde_json::to_value(value).map_err(|e| CanonicalError::Serialize(e.to_string()))?;
    encode(&v)
}

/// Encodes an already-built JSON value canonically.
pub fn encode(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out).map_err(rooted)?;
    Ok(out)
}

/// Encodes an object without one top-level member (e.g. a record without `sig`), without
/// copying it. A value that is not an object is encoded whole.
pub fn encode_without(value: &Value, skip: &str) -> Result<Vec<u8>, CanonicalError> {
    let Value::Object(map) = value else {
        return encode(value);
    };
    let mut out = Vec::with_capacity(256);
    write_object(map.iter().filter(|(k, _)| k.as_str() != skip), &mut out).map_err(rooted)?;
    Ok(out)
}

/// Parses untrusted JSON text into a value of the canonical domain: no floats, integers within
/// ±(2^53 − 1), no repeated member names, nesting within serde_json's limit (128).
pub fn parse(text: &[u8]) -> Result<Value, CanonicalError> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let v = StrictValue.deserialize(&mut de).map_err(classify_parse_error)?;
    de.end().map_err(|e| CanonicalError::Syntax(e.to_string()))?;
    Ok(v)
}

// Paths are built only on the error path: each level of the recursion prepends its segment
// to the error on the way out, so valid input costs no path strings at all.

/// Prepends a path segment (`.name` or `[i]`) to a domain error.
fn within(e: CanonicalError, segment: impl FnOnce() -> String) -> CanonicalError {
    match e {
        CanonicalError::Float { path, number } => {
            CanonicalError::Float { path: segment() + &path, number }
        }
        CanonicalError::IntegerRange { path, number } => {
            CanonicalError::IntegerRange { path: segment() + &path, number }
        }
        other => other,
    }
}

fn rooted(e: CanonicalError) -> CanonicalError {
    within(e, || "$".to_string())
}

fn classify_parse_error(e: serde_json::Error) -> CanonicalError {
    let msg = e.to_string();
    // Our domain errors travel through serde as custom messages with a fixed prefix.
    for (prefix, float) in [(FLOAT_PREFIX, true), (RANGE_PREFIX, false)] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let mut parts = rest.splitn(2, '\u{1}');
            let path = format!("${}", parts.next().unwrap_or_default());
            let number = parts.next().unwrap_or_default();
            let number = number.split(" at line ").next().unwrap_or_default().to_string();
            return if float {
                CanonicalError::Float { path, number }
            } else {
                CanonicalError::IntegerRange { path, number }
            };
        }
    }
    CanonicalError::Syntax(msg)
}

const FLOAT_PREFIX: &str = "edgeproof-float\u{1}";
const RANGE_PREFIX: &str = "edgeproof-range\u{1}";

/// Re-raises a child's error with `segment` prepended to the path of a domain error.
fn nest<E: de::Error>(e: E, segment: impl FnOnce() -> String) -> E {
    let msg = e.to_string();
    for prefix in [FLOAT_PREFIX, RANGE_PREFIX] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            // Drop serde_json's " at line L column C": the outermost error gets it again.
            let rest = rest.split(" at line ").next().unwrap_or_default();
            return E::custom(format!("{prefix}{}{rest}", segment()));
        }
    }
    e
}

fn write_value(v: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out).map_err(|e| within(e, || format!("[{i}]")))?;
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map.iter(), out)?,
    }
    Ok(())
}

fn write_object<'a>(
    members: impl Iterator<Item = (&'a String, &'a Value)>,
    out: &mut Vec<u8>,
) -> Result<(), CanonicalError> {
    let mut members: Vec<(&String, &Value)> = members.collect();
    // RFC 8785 §3.2.3: order by UTF-16 code units. serde_json's map iterates in UTF-8 byte
    // order, which is the same for every name without characters above U+FFFF; only names
    // with such characters need the UTF-16 sort.
    if members.iter().any(|(k, _)| k.chars().any(|c| c > '\u{ffff}')) {
        members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    } else {
        members.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
    out.push(b'{');
    for (i, (k, item)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(k, out);
        out.push(b':');
        write_value(item, out).map_err(|e| within(e, || format!(".{k}")))?;
    }
    out.push(b'}');
    Ok(())
}

fn write_number(n: &Number, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    let range = |number: String| CanonicalError::IntegerRange { path: String::new(), number };
    if let Some(u) = n.as_u64() {
        if u > MAX_SAFE_INTEGER {
            return Err(range(u.to_string()));
        }
        out.extend_from_slice(u.to_string().as_bytes());
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(range(i.to_string()));
        }
        out.extend_from_slice(i.to_string().as_bytes());
    } else {
        return Err(CanonicalError::Float { path: String::new(), number: n.to_string() });
    }
    Ok(())
}

/// RFC 8785 §3.2.2.2 string serialisation.
fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Builds a `Value` from serde_json's events, enforcing the canonical domain as it goes.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

fn check_int<E: de::Error>(
    magnitude: u64,
    text: impl FnOnce() -> String,
    v: Value,
) -> Result<Value, E> {
    if magnitude > MAX_SAFE_INTEGER {
        return Err(E::custom(format!("{RANGE_PREFIX}\u{1}{}", text())));
    }
    Ok(v)
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value without floats")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        check_int(u, || u.to_string(), Value::from(u))
    }
    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        check_int(i.unsigned_abs(), || i.to_string(), Value::from(i))
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Value, E> {
        Err(E::custom(format!("{FLOAT_PREFIX}\u{1}{x}")))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let i = items.len();
            match seq.next_element_seed(StrictValue).map_err(|e| nest(e, || format!("[{i}]")))? {
                Some(v) => items.push(v),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let v = map.next_value_seed(StrictValue).map_err(|e| nest(e, || format!(".{key}")))?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("member {key:?} appears twice")));
            }
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> String {
        let v = parse(text.as_bytes()).unwrap();
        String::from_utf8(encode(&v).unwrap()).unwrap()
    }

    /// Vectors from the RFC 8785 reference implementation's test data
    /// (cyberphone/json-canonicalization `testdata/{input,output}`), where they fit the
    /// float-free domain.
    #[test]
    fn reference_vectors_in_our_domain() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "weird: sorting by UTF-16 code units, U+0080 and U+007F literal",
                "{\n  \"\\u20ac\": \"Euro Sign\",\n  \"1\": \"One\",\n  \"\\u0080\": \"Control\\u007f\",\n  \"\\ud83d\\ude02\": \"Smiley\",\n  \"\\u00f6\": \"Latin Small Letter O With Diaeresis\",\n  \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\",\n  \"</script>\": \"Browser Challenge\"\n}\n",
                "{\"1\":\"One\",\"</script>\":\"Browser Challenge\",\"\u{80}\":\"Control\u{7f}\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😂\":\"Smiley\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}",
            ),
            (
                // The reference input has 56.0 for the "\n" member; floats are outside our
                // domain, so this case uses the integer the reference output shows.
                "structures: nested objects, empty members, key order",
                "{\n  \"1\": {\"f\": {\"f\": \"hi\",\"F\": 5} ,\"\\n\": 56},\n  \"10\": { },\n  \"\": \"empty\",\n  \"a\": { },\n  \"111\": [ { } ],\n  \"A\": { }\n}",
                "{\"\":\"empty\",\"1\":{\"\\n\":56,\"f\":{\"F\":5,\"f\":\"hi\"}},\"10\":{},\"111\":[{}],\"A\":{},\"a\":{}}",
            ),
            (
                "french: locale-independent ordering",
                "{\n  \"peach\": \"This sorting order\",\n  \"péché\": \"is wrong according to French\",\n  \"pêche\": \"but canonicalization MUST\",\n  \"sin\":   \"ingnore locale\"\n}\n",
                "{\"peach\":\"This sorting order\",\"péché\":\"is wrong according to French\",\"pêche\":\"but canonicalization MUST\",\"sin\":\"ingnore locale\"}",
            ),
            (
                "unicode: no normalisation",
                "{\n  \"Unnormalized Unicode\":\"\\u1e0d\\u0307\"\n}\n",
                "{\"Unnormalized Unicode\":\"\u{1e0d}\u{307}\"}",
            ),
            (
                // RFC 8785 §3.2.4's example string member and literals (its numbers are floats).
                "rfc8785 3.2.4 string escapes and literals",
                r#"{"string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}"#,
                "{\"literals\":[null,true,false],\"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}",
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(&canon(input), want, "{name}");
        }
    }

    #[test]
    fn escapes_every_control_character_the_jcs_way() {
        let all: String = (0u8..0x20).map(char::from).collect();
        let got = String::from_utf8(to_vec(&all).unwrap()).unwrap();
        let want = "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\"";
        assert_eq!(got, want);
        assert_eq!(
            String::from_utf8(to_vec("\u{2028}\u{7f}").unwrap()).unwrap(),
            "\"\u{2028}\u{7f}\""
        );
    }

    #[test]
    fn utf16_order_differs_from_code_point_order_above_the_bmp() {
        // By code point U+FB33 < U+1F602; in UTF-16 the emoji's lead surrogate 0xD83D is
        // below 0xFB33, so the emoji sorts first.
        let got = canon("{\"\\ufb33\":1,\"\\ud83d\\ude02\":2,\"\\uffff\":3}");
        assert_eq!(got, "{\"😂\":2,\"\u{fb33}\":1,\"\u{ffff}\":3}");
    }

    #[test]
    fn integers_at_the_safe_limits() {
        let cases: &[(&str, Result<&str, ()>)] = &[
            ("[9007199254740991]", Ok("[9007199254740991]")),
            ("[-9007199254740991]", Ok("[-9007199254740991]")),
            ("[9007199254740992]", Err(())),
            ("[-9007199254740992]", Err(())),
            ("[18446744073709551616]", Err(())),
            // serde_json reads -0 as a float; records never hold it.
            ("[0,-0,1]", Err(())),
            ("[0,-1,1]", Ok("[0,-1,1]")),
        ];
        for (input, want) in cases {
            let got =
                parse(input.as_bytes()).map(|v| String::from_utf8(encode(&v).unwrap()).unwrap());
            match want {
                Ok(w) => assert_eq!(got.as_deref(), Ok(*w), "{input}"),
                Err(()) => assert!(got.is_err(), "{input} accepted as {got:?}"),
            }
        }
        let big = serde_json::json!({"n": MAX_SAFE_INTEGER + 1});
        assert!(
            matches!(encode(&big), Err(CanonicalError::IntegerRange { path, .. }) if path == "$.n")
        );
    }

    #[test]
    fn rejects_floats_with_their_path() {
        for input in
            ["{\"a\":[1,{\"b\":1.5}]}", "{\"a\":[1,{\"b\":56.0}]}", "{\"a\":[1,{\"b\":1e3}]}"]
        {
            match parse(input.as_bytes()) {
                Err(CanonicalError::Float { path, .. }) => assert_eq!(path, "$.a[1].b", "{input}"),
                other => panic!("{input}: {other:?}"),
            }
        }
        let v = serde_json::json!({"ratio": 0.5});
        assert!(matches!(encode(&v), Err(CanonicalError::Float { .. })));
    }

    #[test]
    fn rejects_repeated_member_names_and_trailing_garbage() {
        for input in [
            "{\"seq\":1,\"seq\":2}",
            "{\"a\":{\"x\":1,\"x\":1}}",
            "{\"a\":1} x",
            "{\"a\":1",
            "\"\\ud800\"",
            "",
        ] {
            assert!(matches!(parse(input.as_bytes()), Err(CanonicalError::Syntax(_))), "{input}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
