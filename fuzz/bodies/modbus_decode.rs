//! Modbus register decoding (`src/source/modbus/decode.rs`) of whatever a device answers, for
//! every point a valid config can compile: any type, order, bit, string length, scale and
//! offset, against register blocks of any length.
//!
//! Properties: the result is `Length` exactly when the block is not the point's width; a
//! value is never a non-finite float; scale 1 and offset 0 keep integers exact; decoding is
//! a function of its input (twice gives the same).

use std::sync::Arc;
use std::time::Duration;

use edgeproof_modbus::decode::{decode_bit, decode_registers, DecodeError};
use edgeproof_modbus::Value;
use edgeproof_modbus::{Area, DataType, ModbusPoint, Order};

use super::Cursor;

pub fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    let dtype = match c.u8() % 11 {
        0 => DataType::Bool,
        1 => DataType::Bit(c.u8() % 16),
        2 => DataType::U16,
        3 => DataType::I16,
        4 => DataType::U32,
        5 => DataType::I32,
        6 => DataType::U64,
        7 => DataType::I64,
        8 => DataType::F32,
        9 => DataType::F64,
        // Config allows 1..=125 registers of text.
        _ => DataType::String(u16::from(c.u8() % 125) + 1),
    };
    let order = [Order::Abcd, Order::Cdab, Order::Badc, Order::Dcba][usize::from(c.u8() % 4)];
    let flags = c.u8();
    // Config accepts any finite scale and offset; 1 and 0 are the defaults.
    let finite = |x: f64, default: f64| if x.is_finite() { x } else { default };
    let scale = if flags & 1 == 1 { finite(c.f64(), 1.0) } else { 1.0 };
    let offset = if flags & 2 == 2 { finite(c.f64(), 0.0) } else { 0.0 };
    let point = ModbusPoint {
        name: Arc::from("p"),
        area: Area::Holding,
        address: c.u16(),
        dtype,
        order: if dtype.order_bytes().is_some() { order } else { Order::Abcd },
        scale,
        offset,
        unit: None,
        poll: Duration::from_secs(1),
        deadband: None,
    };
    let bit = c.u8() & 1 == 1;
    let regs: Vec<u16> =
        c.rest().chunks(2).map(|w| u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])).collect();

    let width = usize::from(point.width());
    let got = decode_registers(&point, &regs);
    assert_eq!(got, decode_registers(&point, &regs), "decoding is a function of its input");
    match &got {
        Err(DecodeError::Length { expected, got }) => {
            assert_ne!(regs.len(), width);
            assert_eq!((*expected, *got), (width, regs.len()));
        }
        Err(DecodeError::NotFinite) => assert_eq!(regs.len(), width),
        Ok(d) => {
            assert_eq!(regs.len(), width);
            if let Value::Float(f) = d.value {
                assert!(f.is_finite(), "{point:?} {regs:?} gave {f}");
            }
            let integer = !matches!(point.dtype, DataType::F32 | DataType::F64);
            if point.is_unscaled() && integer {
                assert!(!matches!(d.value, Value::Float(_)), "{point:?} {regs:?}: {:?}", d.value);
            }
        }
    }
    let coil = ModbusPoint { area: Area::Coil, dtype: DataType::Bool, ..point };
    assert_eq!(decode_bit(&coil, bit), Value::Bool(bit));
}
