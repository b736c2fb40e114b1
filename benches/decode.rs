//! Cost of decoding one point's registers into a value, per type: the work the poll path
//! does for every point of every cycle. Run with `cargo bench --bench decode`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use edgeproof::source::modbus::{decode_registers, Area, DataType, ModbusPoint, Order};

fn point(dtype: DataType, order: Order, scale: f64) -> ModbusPoint {
    ModbusPoint {
        name: Arc::from("bench"),
        area: Area::Holding,
        address: 0,
        dtype,
        order,
        scale,
        offset: 0.0,
        unit: None,
        poll: Duration::from_secs(1),
        deadband: None,
    }
}

fn decode(c: &mut Criterion) {
    // 21.37f32 = 0x41AAF5C3, wire order CDAB: low word first.
    let cases: Vec<(&str, ModbusPoint, Vec<u16>)> = vec![
        ("f32_cdab", point(DataType::F32, Order::Cdab, 1.0), vec![0xF5C3, 0x41AA]),
        ("f32_cdab_integral", point(DataType::F32, Order::Cdab, 1.0), vec![0x0000, 0x42C8]),
        ("u16", point(DataType::U16, Order::Abcd, 1.0), vec![4711]),
        ("u16_scaled", point(DataType::U16, Order::Abcd, 0.1), vec![4711]),
        ("i64", point(DataType::I64, Order::Abcd, 1.0), vec![0xFFFF, 0xFFFE, 0x1DC0, 0x0001]),
        ("f64_dcba", point(DataType::F64, Order::Dcba, 1.0), vec![0, 0x8054, 0x346F, 0x9D41]),
        (
            "string_10",
            point(DataType::String(10), Order::Abcd, 1.0),
            b"PUMP-07 LINE 3\0\0\0\0\0\0"
                .chunks(2)
                .map(|w| u16::from_be_bytes([w[0], w[1]]))
                .collect(),
        ),
    ];
    let mut group = c.benchmark_group("decode");
    for (name, point, regs) in &cases {
        assert!(decode_registers(point, regs).is_ok(), "{name} decodes");
        group.bench_function(*name, |b| {
            b.iter(|| decode_registers(black_box(point), black_box(regs)))
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
