//! Turning the registers (or the bit) a device returned for one point into a
//! [`Value`]: byte order, sign, IEEE 754, text, then scale and offset.
//!
//! Pure functions without I/O; the poll path calls them once per point per cycle, so the
//! converter is chosen by matching the compiled enums ([`DataType`], [`Order`]), never by
//! looking at strings.
//!
//! Rules, in the order they apply:
//! - **Length**: exactly [`ModbusPoint::width`] registers, or [`DecodeError::Length`].
//! - **Byte order** (4- and 8-byte types): the big-endian value `A B C D (E F G H)` is
//!   rebuilt from the wire layout named by [`Order`]. `ABCD`: registers in order, high byte
//!   first (the Modbus default, Application Protocol §4.2). `CDAB`/`GHEFCDAB`: registers
//!   reversed, bytes big-endian in each. `BADC`/`BADCFEHG`: registers in order, bytes swapped
//!   in each. `DCBA`/`HGFEDCBA`: fully little-endian. 16-bit types take no order.
//! - **Bits**: `bool` on a register is true when the register is non-zero; `bit` n is bit n
//!   of the register, 0 = least significant.
//! - **f32**: widened to the f64 whose shortest decimal is the f32's shortest decimal
//!   (`0.1f32` becomes `0.1`, not `0.10000000149011612`), because a person wrote `0.1` into
//!   the PLC and expects to read `0.1` back from the JSON.
//! - **Scale and offset**: `value = raw * scale + offset`. A point without either keeps
//!   integers exact ([`Value::Int`] / [`Value::UInt`], so `u64::MAX` survives); with either,
//!   every numeric type becomes [`Value::Float`].
//! - **Finite only**: NaN or an infinity, read from the device or produced by scaling, is
//!   [`DecodeError::NotFinite`]; a [`Value::Float`] is never non-finite.
//! - **Text**: two bytes per register, high byte first; cut at the first NUL, trailing spaces
//!   trimmed; invalid UTF-8 is replaced by U+FFFD and reported in [`Decoded::lossy_text`] so
//!   the caller can count it.

use std::fmt::Write as _;

use super::point::{DataType, ModbusPoint, Order};
use crate::value::Value;

/// Why a point's registers could not be turned into a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The response held a different number of registers than the point occupies.
    #[error("expected {expected} register(s) for this point, the response held {got}")]
    Length {
        /// Registers the point occupies.
        expected: usize,
        /// Registers given.
        got: usize,
    },
    /// The value is NaN or an infinity, as read or after scale and offset.
    #[error("value is NaN or infinite (as read, or after scale and offset)")]
    NotFinite,
}

/// A decoded value and what the caller should know about how it was obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The value after scale and offset.
    pub value: Value,
    /// True when the text held invalid UTF-8 that was replaced by U+FFFD.
    pub lossy_text: bool,
}

impl Decoded {
    fn exact(value: Value) -> Self {
        Decoded { value, lossy_text: false }
    }
}

/// Decodes the registers read for a register-area point (`input` or `holding`).
///
/// `regs` must hold exactly [`ModbusPoint::width`] registers, starting at the point's
/// address.
pub fn decode_registers(point: &ModbusPoint, regs: &[u16]) -> Result<Decoded, DecodeError> {
    let expected = usize::from(point.width());
    if regs.len() != expected {
        return Err(DecodeError::Length { expected, got: regs.len() });
    }
    let value = match (point.dtype, regs) {
        (DataType::Bool, [r]) => Value::Bool(*r != 0),
        (DataType::Bit(n), [r]) => {
            Value::Bool(r.checked_shr(u32::from(n)).is_some_and(|v| v & 1 == 1))
        }
        (DataType::U16, [r]) => unsigned(point, u64::from(*r))?,
        (DataType::I16, [r]) => signed(point, i64::from(*r as i16))?,
        (DataType::U32, &[a, b]) => unsigned(point, u64::from(be32(point.order, a, b)))?,
        (DataType::I32, &[a, b]) => signed(point, i64::from(be32(point.order, a, b) as i32))?,
        (DataType::F32, &[a, b]) => {
            float(point, shortest_f64(f32::from_bits(be32(point.order, a, b))))?
        }
        (DataType::U64, &[a, b, c, d]) => unsigned(point, be64(point.order, [a, b, c, d]))?,
        (DataType::I64, &[a, b, c, d]) => signed(point, be64(point.order, [a, b, c, d]) as i64)?,
        (DataType::F64, &[a, b, c, d]) => {
            float(point, f64::from_bits(be64(point.order, [a, b, c, d])))?
        }
        (DataType::String(_), _) => return Ok(text(regs)),
        // Unreachable: the length check above matches every type's width.
        _ => return Err(DecodeError::Length { expected, got: regs.len() }),
    };
    Ok(Decoded::exact(value))
}

/// Decodes one coil or discrete input.
pub fn decode_bit(point: &ModbusPoint, bit: bool) -> Value {
    debug_assert!(point.area.is_bits(), "decode_bit on register point {:?}", point.name);
    Value::Bool(bit)
}

/// One wire register as the big-endian word it stands for.
#[inline]
fn word(order: Order, w: u16) -> u16 {
    if order.swaps_bytes() {
        w.swap_bytes()
    } else {
        w
    }
}

/// The big-endian 32-bit value `ABCD` from two wire registers.
#[inline]
fn be32(order: Order, r0: u16, r1: u16) -> u32 {
    let (hi, lo) = if order.swaps_words() { (r1, r0) } else { (r0, r1) };
    u32::from(word(order, hi)) << 16 | u32::from(word(order, lo))
}

/// The big-endian 64-bit value `ABCDEFGH` from four wire registers.
#[inline]
fn be64(order: Order, mut regs: [u16; 4]) -> u64 {
    if order.swaps_words() {
        regs.reverse();
    }
    regs.iter().fold(0u64, |acc, &w| acc << 16 | u64::from(word(order, w)))
}

fn unsigned(point: &ModbusPoint, raw: u64) -> Result<Value, DecodeError> {
    if point.is_unscaled() {
        Ok(Value::UInt(raw))
    } else {
        scaled(point, raw as f64)
    }
}

fn signed(point: &ModbusPoint, raw: i64) -> Result<Value, DecodeError> {
    if point.is_unscaled() {
        Ok(Value::Int(raw))
    } else {
        scaled(point, raw as f64)
    }
}

fn float(point: &ModbusPoint, raw: f64) -> Result<Value, DecodeError> {
    if !raw.is_finite() {
        return Err(DecodeError::NotFinite);
    }
    if point.is_unscaled() {
        // Skipping the arithmetic keeps -0.0 as read (-0.0 * 1 + 0 would be +0.0).
        Ok(Value::Float(raw))
    } else {
        scaled(point, raw)
    }
}

fn scaled(point: &ModbusPoint, raw: f64) -> Result<Value, DecodeError> {
    let v = raw * point.scale + point.offset;
    if v.is_finite() {
        Ok(Value::Float(v))
    } else {
        Err(DecodeError::NotFinite)
    }
}

/// The f64 nearest to the shortest decimal that round-trips `x` as an f32.
///
/// Integers below 2^24 in magnitude are their own shortest decimal and widen exactly, which
/// skips the formatting for counters and zero. Otherwise the decimal comes from Rust's
/// shortest-representation formatter (`{:e}`, Grisu with a Dragon4 fallback) written into a
/// stack buffer, and is parsed back as f64. Non-finite values pass through unchanged.
fn shortest_f64(x: f32) -> f64 {
    const EXACT_INT: f32 = 16_777_216.0; // 2^24
    if !x.is_finite() || (x.abs() <= EXACT_INT && x.fract() == 0.0) {
        return f64::from(x);
    }
    let mut buf = StackText::default();
    if write!(buf, "{x:e}").is_err() {
        return f64::from(x);
    }
    buf.as_str().parse::<f64>().unwrap_or(f64::from(x))
}

/// A fixed-size text buffer: `{:e}` of an f32 needs at most 15 bytes (`-1.17549435e-38`).
#[derive(Default)]
struct StackText {
    buf: [u8; 32],
    len: usize,
}

impl StackText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Text from registers, high byte first; cut at the first NUL, trailing spaces trimmed.
fn text(regs: &[u16]) -> Decoded {
    let mut bytes: Vec<u8> = regs.iter().flat_map(|r| r.to_be_bytes()).collect();
    if let Some(nul) = bytes.iter().position(|&b| b == 0) {
        bytes.truncate(nul);
    }
    while bytes.last() == Some(&b' ') {
        bytes.pop();
    }
    match String::from_utf8(bytes) {
        Ok(s) => Decoded::exact(Value::Text(s)),
        Err(e) => Decoded {
            value: Value::Text(String::from_utf8_lossy(e.as_bytes()).into_owned()),
            lossy_text: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::point::Area;

    fn point(dtype: DataType, order: Order) -> ModbusPoint {
        ModbusPoint {
            name: Arc::from("p"),
            area: Area::Holding,
            address: 100,
            dtype,
            order,
            scale: 1.0,
            offset: 0.0,
            unit: None,
            poll: Duration::from_secs(1),
            deadband: None,
        }
    }

    fn scaled_point(dtype: DataType, order: Order, scale: f64, offset: f64) -> ModbusPoint {
        ModbusPoint { scale, offset, ..point(dtype, order) }
    }

    use DataType::*;
    use Order::*;

    /// (case, type, order, wire registers, expected value), no scaling.
    type UnscaledCase = (&'static str, DataType, Order, &'static [u16], Value);

    #[rustfmt::skip]
    const UNSCALED: &[UnscaledCase] = &[
        ("bool register zero is false", Bool, Abcd, &[0x0000], Value::Bool(false)),
        ("bool register any non-zero is true", Bool, Abcd, &[0x8000], Value::Bool(true)),
        ("bit 0 is the least significant bit", Bit(0), Abcd, &[0x0001], Value::Bool(true)),
        ("bit 0 clear while others set", Bit(0), Abcd, &[0xFFFE], Value::Bool(false)),
        ("bit 15 is the most significant bit", Bit(15), Abcd, &[0x8000], Value::Bool(true)),
        ("bit 15 clear while others set", Bit(15), Abcd, &[0x7FFF], Value::Bool(false)),
        ("u16 max", U16, Abcd, &[0xFFFF], Value::UInt(65535)),
        ("u16 is high byte first", U16, Abcd, &[0x0102], Value::UInt(0x0102)),
        ("i16 minus two", I16, Abcd, &[0xFFFE], Value::Int(-2)),
        ("i16 min", I16, Abcd, &[0x8000], Value::Int(-32768)),
        ("i16 max", I16, Abcd, &[0x7FFF], Value::Int(32767)),
        // 32-bit distinct bytes 0x01020304 in every layout.
        ("u32 ABCD distinct bytes", U32, Abcd, &[0x0102, 0x0304], Value::UInt(0x0102_0304)),
        ("u32 CDAB distinct bytes", U32, Cdab, &[0x0304, 0x0102], Value::UInt(0x0102_0304)),
        ("u32 BADC distinct bytes", U32, Badc, &[0x0201, 0x0403], Value::UInt(0x0102_0304)),
        ("u32 DCBA distinct bytes", U32, Dcba, &[0x0403, 0x0201], Value::UInt(0x0102_0304)),
        ("u32 max", U32, Abcd, &[0xFFFF, 0xFFFF], Value::UInt(u32::MAX as u64)),
        // -123456 = 0xFFFE1DC0.
        ("i32 ABCD -123456", I32, Abcd, &[0xFFFE, 0x1DC0], Value::Int(-123_456)),
        ("i32 CDAB -123456", I32, Cdab, &[0x1DC0, 0xFFFE], Value::Int(-123_456)),
        ("i32 BADC -123456", I32, Badc, &[0xFEFF, 0xC01D], Value::Int(-123_456)),
        ("i32 DCBA -123456", I32, Dcba, &[0xC01D, 0xFEFF], Value::Int(-123_456)),
        ("i32 min", I32, Abcd, &[0x8000, 0x0000], Value::Int(i32::MIN as i64)),
        // 1234.5f32 = 0x449A5000.
        ("f32 ABCD 1234.5", F32, Abcd, &[0x449A, 0x5000], Value::Float(1234.5)),
        ("f32 CDAB 1234.5", F32, Cdab, &[0x5000, 0x449A], Value::Float(1234.5)),
        ("f32 BADC 1234.5", F32, Badc, &[0x9A44, 0x0050], Value::Float(1234.5)),
        ("f32 DCBA 1234.5", F32, Dcba, &[0x0050, 0x9A44], Value::Float(1234.5)),
        // -1.0f32 = 0xBF800000.
        ("f32 ABCD minus one", F32, Abcd, &[0xBF80, 0x0000], Value::Float(-1.0)),
        ("f32 CDAB minus one", F32, Cdab, &[0x0000, 0xBF80], Value::Float(-1.0)),
        ("f32 BADC minus one", F32, Badc, &[0x80BF, 0x0000], Value::Float(-1.0)),
        ("f32 DCBA minus one", F32, Dcba, &[0x0000, 0x80BF], Value::Float(-1.0)),
        // 0.1f32 = 0x3DCCCCCD; shortest decimal 0.1, not 0.10000000149011612.
        ("f32 0.1 comes out as 0.1", F32, Abcd, &[0x3DCC, 0xCCCD], Value::Float(0.1)),
        ("f32 max keeps its shortest decimal", F32, Abcd, &[0x7F7F, 0xFFFF], Value::Float(3.4028235e38)),
        ("f32 smallest subnormal", F32, Abcd, &[0x0000, 0x0001], Value::Float(1e-45)),
        ("f32 zero", F32, Abcd, &[0x0000, 0x0000], Value::Float(0.0)),
        // 64-bit distinct bytes 0x0102030405060708 in every layout.
        ("u64 ABCDEFGH distinct bytes", U64, Abcd, &[0x0102, 0x0304, 0x0506, 0x0708], Value::UInt(0x0102_0304_0506_0708)),
        ("u64 GHEFCDAB distinct bytes", U64, Cdab, &[0x0708, 0x0506, 0x0304, 0x0102], Value::UInt(0x0102_0304_0506_0708)),
        ("u64 BADCFEHG distinct bytes", U64, Badc, &[0x0201, 0x0403, 0x0605, 0x0807], Value::UInt(0x0102_0304_0506_0708)),
        ("u64 HGFEDCBA distinct bytes", U64, Dcba, &[0x0807, 0x0605, 0x0403, 0x0201], Value::UInt(0x0102_0304_0506_0708)),
        ("u64 max survives unscaled", U64, Abcd, &[0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF], Value::UInt(u64::MAX)),
        ("i64 ABCDEFGH distinct bytes", I64, Abcd, &[0x0102, 0x0304, 0x0506, 0x0708], Value::Int(0x0102_0304_0506_0708)),
        ("i64 GHEFCDAB distinct bytes", I64, Cdab, &[0x0708, 0x0506, 0x0304, 0x0102], Value::Int(0x0102_0304_0506_0708)),
        ("i64 BADCFEHG distinct bytes", I64, Badc, &[0x0201, 0x0403, 0x0605, 0x0807], Value::Int(0x0102_0304_0506_0708)),
        ("i64 HGFEDCBA distinct bytes", I64, Dcba, &[0x0807, 0x0605, 0x0403, 0x0201], Value::Int(0x0102_0304_0506_0708)),
        ("i64 minus one", I64, Abcd, &[0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF], Value::Int(-1)),
        ("i64 min ABCDEFGH", I64, Abcd, &[0x8000, 0x0000, 0x0000, 0x0000], Value::Int(i64::MIN)),
        ("i64 min GHEFCDAB", I64, Cdab, &[0x0000, 0x0000, 0x0000, 0x8000], Value::Int(i64::MIN)),
        ("i64 min BADCFEHG", I64, Badc, &[0x0080, 0x0000, 0x0000, 0x0000], Value::Int(i64::MIN)),
        ("i64 min HGFEDCBA", I64, Dcba, &[0x0000, 0x0000, 0x0000, 0x0080], Value::Int(i64::MIN)),
        // 1.0 = 0x3FF0000000000000.
        ("f64 ABCDEFGH one", F64, Abcd, &[0x3FF0, 0x0000, 0x0000, 0x0000], Value::Float(1.0)),
        ("f64 GHEFCDAB one", F64, Cdab, &[0x0000, 0x0000, 0x0000, 0x3FF0], Value::Float(1.0)),
        ("f64 BADCFEHG one", F64, Badc, &[0xF03F, 0x0000, 0x0000, 0x0000], Value::Float(1.0)),
        ("f64 HGFEDCBA one", F64, Dcba, &[0x0000, 0x0000, 0x0000, 0xF03F], Value::Float(1.0)),
        // 123456789.125 = 0x419D6F3454800000.
        ("f64 ABCDEFGH 123456789.125", F64, Abcd, &[0x419D, 0x6F34, 0x5480, 0x0000], Value::Float(123_456_789.125)),
        ("f64 GHEFCDAB 123456789.125", F64, Cdab, &[0x0000, 0x5480, 0x6F34, 0x419D], Value::Float(123_456_789.125)),
        ("f64 BADCFEHG 123456789.125", F64, Badc, &[0x9D41, 0x346F, 0x8054, 0x0000], Value::Float(123_456_789.125)),
        ("f64 HGFEDCBA 123456789.125", F64, Dcba, &[0x0000, 0x8054, 0x346F, 0x9D41], Value::Float(123_456_789.125)),
        // -2.5 = 0xC004000000000000.
        ("f64 negative", F64, Abcd, &[0xC004, 0x0000, 0x0000, 0x0000], Value::Float(-2.5)),
    ];

    #[test]
    fn unscaled_values_by_type_and_order() {
        for (case, dtype, order, regs, want) in UNSCALED {
            let got = decode_registers(&point(*dtype, *order), regs);
            assert_eq!(got, Ok(Decoded::exact(want.clone())), "case {case:?}");
        }
    }

    #[test]
    fn scale_and_offset() {
        /// (case, type, order, registers, scale, offset, expected)
        type ScaledCase = (&'static str, DataType, Order, &'static [u16], f64, f64, f64);
        #[rustfmt::skip]
        let cases: &[ScaledCase] = &[
            ("u16 tenths", U16, Abcd, &[215], 0.1, 0.0, 21.5),
            ("u16 offset only turns it into a float", U16, Abcd, &[10], 1.0, -40.0, -30.0),
            ("i16 negative scaled", I16, Abcd, &[0xFFFE], 0.5, 0.0, -1.0),
            ("i32 CDAB scaled with offset", I32, Cdab, &[0x1DC0, 0xFFFE], 0.001, 100.0, -23.456),
            ("u64 max scaled", U64, Abcd, &[0xFFFF; 4], 2.0, 0.0, u64::MAX as f64 * 2.0),
            ("i64 min scaled", I64, Abcd, &[0x8000, 0, 0, 0], 1.0, 1.0, i64::MIN as f64 + 1.0),
            ("f32 0.1 is shortened before scaling", F32, Abcd, &[0x3DCC, 0xCCCD], 10.0, 0.0, 1.0),
            ("f32 DCBA scaled", F32, Dcba, &[0x0050, 0x9A44], 2.0, 1.0, 2470.0),
            ("f64 scaled", F64, Abcd, &[0x3FF0, 0, 0, 0], 3.0, 0.5, 3.5),
        ];
        for (case, dtype, order, regs, scale, offset, want) in cases {
            let p = scaled_point(*dtype, *order, *scale, *offset);
            let got = decode_registers(&p, regs).map(|d| d.value);
            match got {
                Ok(Value::Float(v)) => {
                    assert!((v - want).abs() <= want.abs() * 1e-12, "case {case:?}: {v} != {want}")
                }
                other => panic!("case {case:?}: expected a float, got {other:?}"),
            }
        }
    }

    #[test]
    fn non_finite_is_an_error() {
        #[rustfmt::skip]
        let cases: &[(&str, DataType, Order, &[u16], f64)] = &[
            ("f32 NaN", F32, Abcd, &[0x7FC0, 0x0000], 1.0),
            ("f32 NaN CDAB", F32, Cdab, &[0x0000, 0x7FC0], 1.0),
            ("f32 +inf", F32, Abcd, &[0x7F80, 0x0000], 1.0),
            ("f32 -inf", F32, Abcd, &[0xFF80, 0x0000], 1.0),
            ("f64 NaN", F64, Abcd, &[0x7FF8, 0, 0, 0], 1.0),
            ("f64 +inf", F64, Abcd, &[0x7FF0, 0, 0, 0], 1.0),
            ("f64 -inf HGFEDCBA", F64, Dcba, &[0, 0, 0, 0xF0FF], 1.0),
            ("f64 max overflows when scaled", F64, Abcd, &[0x7FEF, 0xFFFF, 0xFFFF, 0xFFFF], 10.0),
            ("f32 NaN scaled", F32, Abcd, &[0x7FC0, 0x0000], 2.0),
            ("u64 max overflows a huge scale", U64, Abcd, &[0xFFFF; 4], 1e300),
        ];
        for (case, dtype, order, regs, scale) in cases {
            let p = scaled_point(*dtype, *order, *scale, 0.0);
            assert_eq!(decode_registers(&p, regs), Err(DecodeError::NotFinite), "case {case:?}");
        }
    }

    #[test]
    fn wrong_length_is_an_error() {
        #[rustfmt::skip]
        let cases: &[(&str, DataType, &[u16])] = &[
            ("u16 given nothing", U16, &[]),
            ("u16 given two", U16, &[1, 2]),
            ("f32 given one", F32, &[1]),
            ("i64 given three", I64, &[1, 2, 3]),
            ("f64 given five", F64, &[1, 2, 3, 4, 5]),
            ("string(3) given two", String(3), &[0x4142, 0x4344]),
            ("bit given two", Bit(3), &[1, 2]),
        ];
        for (case, dtype, regs) in cases {
            let got = decode_registers(&point(*dtype, Abcd), regs);
            let expected = usize::from(dtype.width());
            assert_eq!(
                got,
                Err(DecodeError::Length { expected, got: regs.len() }),
                "case {case:?}"
            );
        }
    }

    #[test]
    fn strings() {
        // (case, registers, expected text, lossy)
        #[rustfmt::skip]
        let cases: &[(&str, &[u16], &str, bool)] = &[
            ("high byte first", &[0x4142, 0x4344], "ABCD", false),
            ("odd length padded with NUL", &[0x4142, 0x4300], "ABC", false),
            ("trailing NULs trimmed", &[0x4142, 0x0000, 0x0000], "AB", false),
            ("trailing spaces trimmed", &[0x4142, 0x2020, 0x2020], "AB", false),
            ("spaces then NULs trimmed", &[0x4142, 0x2000, 0x0000], "AB", false),
            ("leading and inner spaces kept", &[0x2041, 0x2042], " A B", false),
            ("cut at the first embedded NUL", &[0x4100, 0x4243], "A", false),
            ("all NUL is empty", &[0x0000, 0x0000], "", false),
            ("all spaces is empty", &[0x2020], "", false),
            ("UTF-8 across registers", &[0xE6B8, 0xA9E5, 0xBAA6], "温度", false),
            ("invalid UTF-8 replaced", &[0x41FF, 0x4200], "A\u{FFFD}B", true),
            ("truncated UTF-8 sequence replaced", &[0x41E6, 0xB800], "A\u{FFFD}", true),
        ];
        for (case, regs, want, lossy) in cases {
            let len = regs.len() as u16;
            let got = decode_registers(&point(String(len), Abcd), regs);
            assert_eq!(
                got,
                Ok(Decoded { value: Value::Text(want.to_string()), lossy_text: *lossy }),
                "case {case:?}"
            );
        }
    }

    #[test]
    fn bits_from_coils_and_discrete_inputs() {
        for area in [Area::Coil, Area::Discrete] {
            let p = ModbusPoint { area, ..point(Bool, Abcd) };
            assert_eq!(decode_bit(&p, true), Value::Bool(true), "{area} true");
            assert_eq!(decode_bit(&p, false), Value::Bool(false), "{area} false");
        }
    }

    #[test]
    fn every_register_bit_is_addressable() {
        for n in 0..16u8 {
            let p = point(Bit(n), Abcd);
            let set = decode_registers(&p, &[1 << n]).map(|d| d.value);
            let clear = decode_registers(&p, &[!(1u16 << n)]).map(|d| d.value);
            assert_eq!(set, Ok(Value::Bool(true)), "bit {n} set");
            assert_eq!(clear, Ok(Value::Bool(false)), "bit {n} clear among set bits");
        }
    }

    #[test]
    fn f32_widening_matches_the_shortest_decimal() {
        // Against the formatter's own shortest decimal, over random bit patterns and edges.
        let mut rng = fastrand::Rng::with_seed(0x005E_EDF3);
        let edges = [0.1f32, -0.1, 1.0 / 3.0, 16_777_216.0, 16_777_218.0, 8_388_607.5, -0.0];
        let random = (0..20_000).map(|_| f32::from_bits(rng.u32(..)));
        for x in edges.into_iter().chain(random).filter(|x| x.is_finite()) {
            let want: f64 = format!("{x}").parse().unwrap();
            let got = shortest_f64(x);
            assert_eq!(got.to_bits(), want.to_bits(), "{x:e} ({:#010x})", x.to_bits());
            assert_eq!(got as f32, x, "round-trips {x:e}");
        }
    }
}
