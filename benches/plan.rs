//! Cost of planning one device's reads, for device maps of 1,000 and 10,000 points of
//! mixed types, areas and poll intervals. Planning runs once per device at start and on
//! reload, so this bounds start-up time for large gateways. Run with
//! `cargo bench --bench plan`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use edgeproof::source::modbus::{plan, Area, DataType, ModbusPoint, Order, ReadLimits};

/// A device map of `n` points shaped like real ones: runs of adjacent registers, small
/// holes, the odd alias and status-word bits, four areas and two poll intervals. Seeded,
/// so every run plans the same map.
fn device_map(n: usize) -> Vec<ModbusPoint> {
    let mut rng = fastrand::Rng::with_seed(0x00ED_6E00 + n as u64);
    let mut next = [0u32; 4]; // next free address per area
    (0..n)
        .map(|i| {
            let area = Area::ALL[rng.usize(0..4)];
            let dtype = if area.is_bits() {
                DataType::Bool
            } else {
                match rng.u8(0..10) {
                    0..=2 => DataType::U16,
                    3 => DataType::I16,
                    4 => DataType::Bit(rng.u8(0..16)),
                    5 | 6 => DataType::F32,
                    7 => DataType::U32,
                    8 => DataType::I64,
                    _ => DataType::String(rng.u16(2..=10)),
                }
            };
            let slot = &mut next[area as usize];
            let hole = if rng.u8(0..8) == 0 { rng.u32(1..=20) } else { 0 };
            // Status-word bits and aliases reuse the previous register.
            let address = if matches!(dtype, DataType::Bit(_)) && *slot > 0 {
                *slot - 1
            } else {
                *slot + hole
            };
            *slot = (address + u32::from(dtype.width())).max(*slot);
            let poll = Duration::from_millis(if rng.u8(0..5) == 0 { 5_000 } else { 1_000 });
            ModbusPoint {
                name: Arc::from(format!("p{i}")),
                area,
                address: address.min(65535 - 10) as u16,
                dtype,
                order: Order::Abcd,
                scale: 1.0,
                offset: 0.0,
                unit: None,
                poll,
                deadband: None,
            }
        })
        .collect()
}

fn plan_bench(c: &mut Criterion) {
    let limits = ReadLimits::default();
    let mut group = c.benchmark_group("plan");
    for n in [1_000, 10_000] {
        let points = device_map(n);
        let reads = plan(&points, &limits).requests_per_cycle();
        eprintln!("plan/{n}: {reads} reads per cycle");
        group.bench_with_input(BenchmarkId::from_parameter(n), &points, |b, points| {
            b.iter(|| plan(black_box(points), black_box(&limits)))
        });
    }
    group.finish();
}

criterion_group!(benches, plan_bench);
criterion_main!(benches);
