//! `edgeproof read`'s request: a span of one area (`--holding 0:20`), read in as few requests
//! as the protocol allows and decoded as one type and byte order, every value beside its raw
//! registers.

use std::sync::Arc;
use std::time::Duration;

use crate::model::Value;
use crate::source::modbus::{decode_bit, decode_registers, Area, DataType, ModbusLink};
use crate::source::modbus::{ModbusPoint, Order, RawRead, TransportError};

/// A mistake in a span, type or order argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpanError(pub String);

/// `count` registers (or bits) of `area` from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Which table.
    pub area: Area,
    /// First 0-based address.
    pub start: u16,
    /// Registers or bits.
    pub count: u16,
}

impl Span {
    /// `START:COUNT` or `START` (one register or bit); 0-based protocol addresses.
    pub fn parse(area: Area, text: &str) -> Result<Span, SpanError> {
        let bad = || {
            SpanError(format!(
                "--{} {text:?}: expected START:COUNT (0-based start, count of {}), e.g. 0:10",
                area.as_str(),
                if area.is_bits() { "bits" } else { "registers" }
            ))
        };
        let (start, count) = match text.split_once(':') {
            Some((s, c)) => (
                s.trim().parse::<u16>().map_err(|_| bad())?,
                c.trim().parse::<u32>().map_err(|_| bad())?,
            ),
            None => (text.trim().parse::<u16>().map_err(|_| bad())?, 1),
        };
        if count == 0 || u32::from(start) + count > 65536 {
            return Err(SpanError(format!(
                "--{} {text:?}: count must be 1 or more and end by address 65535",
                area.as_str()
            )));
        }
        Ok(Span { area, start, count: count as u16 })
    }
}

/// The type named `text` for values of `span` (`None`: `u16` for registers, `bool` for bits).
/// `string` takes the whole span as one text.
pub fn parse_type(text: Option<&str>, span: &Span) -> Result<DataType, SpanError> {
    let t = match (text, span.area.is_bits()) {
        (None, true) | (Some("bool"), true) => return Ok(DataType::Bool),
        (Some(t), true) => {
            return Err(SpanError(format!("--type {t}: {}s are bits; use bool", span.area)))
        }
        (None, false) => DataType::U16,
        (Some(t), false) => match t {
            "u16" => DataType::U16,
            "i16" => DataType::I16,
            "u32" => DataType::U32,
            "i32" => DataType::I32,
            "u64" => DataType::U64,
            "i64" => DataType::I64,
            "f32" => DataType::F32,
            "f64" => DataType::F64,
            "bool" => DataType::Bool,
            "string" => DataType::String(span.count),
            other => {
                return Err(SpanError(format!(
                    "--type {other}: one of u16, i16, u32, i32, u64, i64, f32, f64, bool, string"
                )))
            }
        },
    };
    if span.count % t.width() != 0 {
        return Err(SpanError(format!(
            "{} registers do not divide into {} values of {} registers each",
            span.count,
            t.as_str(),
            t.width()
        )));
    }
    Ok(t)
}

/// The byte order `text` for `dtype` (`ABCD` names for 4-byte types, `ABCDEFGH` names for
/// 8-byte ones; the 4-letter names are accepted for 8-byte types too).
pub fn parse_order(text: Option<&str>, dtype: DataType) -> Result<Order, SpanError> {
    let Some(o) = text else { return Ok(Order::Abcd) };
    let o = o.to_ascii_uppercase();
    match dtype.order_bytes() {
        None => Err(SpanError(format!("--order {o}: type {} has no byte order", dtype.as_str()))),
        Some(_) => Order::ALL
            .into_iter()
            .find(|x| x.name4() == o || x.name8() == o)
            .ok_or_else(|| SpanError(format!("--order {o}: one of ABCD, CDAB, BADC, DCBA"))),
    }
}

/// One decoded value of a span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanValue {
    /// Its first address.
    pub address: u16,
    /// The value (scale 1, offset 0); `None` if the registers do not decode (a NaN float
    /// still decodes, text that is not UTF-8 is shown lossily).
    pub value: Option<Value>,
    /// The registers it came from, or its bit as 0/1.
    pub raw: Vec<u16>,
}

/// Reads `span` with as few requests as the protocol allows (125 registers, 2000 bits, cut
/// at value boundaries) and decodes it as `dtype` in `order`. The first failed request ends
/// the read with its error.
pub async fn read_span<L: ModbusLink>(
    link: &mut L,
    span: Span,
    dtype: DataType,
    order: Order,
) -> Result<Vec<SpanValue>, TransportError> {
    let width = dtype.width();
    // Cut at value boundaries when a value fits in one request; a longer string is read in
    // full requests and put together.
    let per_request = match (span.area.is_bits(), width) {
        (true, _) => 2000,
        (false, w) if w <= 125 => 125 / w * w,
        (false, _) => 125,
    };
    let mut words: Vec<u16> = Vec::with_capacity(usize::from(span.count));
    let mut at = u32::from(span.start);
    let end = u32::from(span.start) + u32::from(span.count);
    while at < end {
        let count = (end - at).min(u32::from(per_request)) as u16;
        match link.read(span.area, at as u16, count).await? {
            RawRead::Registers(r) => words.extend(r),
            RawRead::Bits(b) => words.extend(b.into_iter().map(u16::from)),
        }
        at += u32::from(count);
    }
    let mut values = Vec::new();
    for (i, chunk) in words.chunks(usize::from(width)).enumerate() {
        let address = span.start + (i as u16) * width;
        let point = ModbusPoint {
            name: Arc::from(address.to_string()),
            area: span.area,
            address,
            dtype,
            order,
            scale: 1.0,
            offset: 0.0,
            unit: None,
            poll: Duration::from_secs(1),
            deadband: None,
        };
        let value = if span.area.is_bits() {
            Some(decode_bit(&point, chunk[0] != 0))
        } else {
            decode_registers(&point, chunk).ok().map(|d| d.value)
        };
        values.push(SpanValue { address, value, raw: chunk.to_vec() });
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_types_and_orders_parse_with_errors_that_say_the_form() {
        assert_eq!(
            Span::parse(Area::Holding, "0:20"),
            Ok(Span { area: Area::Holding, start: 0, count: 20 })
        );
        assert_eq!(Span::parse(Area::Coil, "7").map(|s| s.count), Ok(1));
        assert_eq!(Span::parse(Area::Input, "65535:1").map(|s| s.start), Ok(65535));
        for bad in ["", "a:2", "0:0", "65535:2", "-1:2", "0:x"] {
            assert!(Span::parse(Area::Holding, bad).is_err(), "{bad:?}");
        }
        let span = Span::parse(Area::Holding, "0:20").unwrap();
        assert_eq!(parse_type(Some("f32"), &span), Ok(DataType::F32));
        assert_eq!(parse_type(None, &span), Ok(DataType::U16));
        assert_eq!(parse_type(Some("string"), &span), Ok(DataType::String(20)));
        assert!(parse_type(Some("f64"), &Span::parse(Area::Holding, "0:6").unwrap()).is_err());
        assert!(parse_type(Some("u16"), &Span::parse(Area::Coil, "0:6").unwrap()).is_err());
        assert_eq!(parse_order(Some("cdab"), DataType::F32), Ok(Order::Cdab));
        assert_eq!(parse_order(Some("GHEFCDAB"), DataType::F64), Ok(Order::Cdab));
        assert!(parse_order(Some("CDAB"), DataType::U16).is_err());
    }
}
