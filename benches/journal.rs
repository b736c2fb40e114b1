//! Durable journal ingest, in samples per second: what one group commit costs when the
//! sources produce ~200 ms worth of batches (4,000 batches × 10 samples = 40,000 samples in
//! one fsynced transaction). Target: ≥ 200,000 samples/s on the 2-core gateway-class box.
//! Run with `cargo bench --bench journal`.
//!
//! - `append_4000x10`: the publisher keeps up; each commit is acked (untimed) afterwards, so
//!   the file stays small and freed pages are reused.
//! - `append_4000x10_full`: the journal sits at its bound (64 MiB), so each commit also
//!   evicts the oldest entries in the same transaction.
//! - `handle_4000x10`: the path sources use: `try_send` 4,000 batches to the writer thread
//!   (default options: commits at 20,000 pending samples), then wait for the last commit.
//! - `read_1000`: the publisher's read of 1,000 entries (10,000 samples) from the backlog.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use edgeproof::journal::{HandleOptions, Journal, JournalHandle, JournalOptions};
use edgeproof::model::{BadReason, Batch, Sample, Value};

const BATCHES_PER_COMMIT: usize = 4_000;
const SAMPLES_PER_BATCH: usize = 10;

/// A realistic 10-point cycle: floats, counters, a status bit, a text, one bad point.
fn batches(n: usize) -> Vec<Batch> {
    let names: Vec<Arc<str>> = [
        "oil_temp",
        "motor_current",
        "spindle_rpm",
        "pressure",
        "flow_rate",
        "energy_kwh",
        "part_count",
        "running",
        "program",
        "vibration",
    ]
    .iter()
    .map(|&s| Arc::from(s))
    .collect();
    (0..n)
        .map(|i| {
            let ts = 1_700_000_000_000 + i as u64 * 250;
            let v = i as f64;
            let samples = vec![
                Sample::good(names[0].clone(), ts, Value::Float(61.25 + v * 0.01)),
                Sample::good(names[1].clone(), ts, Value::Float(12.5 + v * 0.001)),
                Sample::good(names[2].clone(), ts, Value::UInt(1450 + i as u64 % 20)),
                Sample::good(names[3].clone(), ts, Value::Float(6.02)),
                Sample::good(names[4].clone(), ts, Value::Float(33.3)),
                Sample::good(names[5].clone(), ts, Value::UInt(987_654 + i as u64)),
                Sample::good(names[6].clone(), ts, Value::UInt(i as u64)),
                Sample::good(names[7].clone(), ts, Value::Bool(true)),
                Sample::good(names[8].clone(), ts, Value::Text("O1234".into())),
                Sample::bad(names[9].clone(), ts, BadReason::Timeout),
            ];
            debug_assert_eq!(samples.len(), SAMPLES_PER_BATCH);
            Batch { device: format!("cnc_{:02}", i % 50).into(), ts_ms: ts, samples }
        })
        .collect()
}

fn open(dir: &tempfile::TempDir, max_bytes: u64) -> Journal {
    Journal::open(dir.path().join("journal.sqlite3"), JournalOptions { max_bytes }).unwrap().0
}

fn ingest(c: &mut Criterion) {
    let input = batches(BATCHES_PER_COMMIT);
    let mut group = c.benchmark_group("journal");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements((BATCHES_PER_COMMIT * SAMPLES_PER_BATCH) as u64));

    group.bench_function("append_4000x10", |b| {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = open(&dir, 1 << 30);
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let seqs = journal.append(black_box(&input)).unwrap();
                spent += start.elapsed();
                journal.ack(&seqs).unwrap();
            }
            spent
        })
    });

    group.bench_function("append_4000x10_full", |b| {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = open(&dir, 64 << 20);
        // Fill to the bound first (about 200 commits).
        while journal.stats().unwrap().dropped_entries_total == 0 {
            journal.append(&input).unwrap();
        }
        b.iter(|| journal.append(black_box(&input)).unwrap())
    });

    group.bench_function("handle_4000x10", |b| {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (handle, sender, thread) =
            JournalHandle::start(open(&dir, 1 << 30), HandleOptions::default()).unwrap();
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let owned = input.clone();
                let start = Instant::now();
                for batch in owned {
                    sender.try_send(batch).unwrap();
                }
                runtime.block_on(handle.flush()).unwrap();
                spent += start.elapsed();
                let committed = *handle.committed().borrow();
                let first = committed + 1 - BATCHES_PER_COMMIT as u64;
                runtime.block_on(handle.ack((first..=committed).collect())).unwrap();
            }
            spent
        });
        runtime.block_on(handle.shutdown()).unwrap();
        thread.join().unwrap();
    });

    group.throughput(Throughput::Elements((1_000 * SAMPLES_PER_BATCH) as u64));
    group.bench_function("read_1000", |b| {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = open(&dir, 1 << 30);
        journal.append(&input).unwrap();
        b.iter(|| journal.read_after(None, 1_000).unwrap())
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
