//! What recording evidence costs the gateway, storage included. Run with
//! `cargo bench --bench evidence_store`.
//!
//! - `store_usage_record/{10,100}_devices`: one `usage` record, the recorder's whole path —
//!   sign (Ed25519) + canonicalise (JCS) + leaf-hash ([`Chain::prepare`]), append to the
//!   journal's evidence table in its own fsynced transaction (`synchronous=FULL`), advance the
//!   chain. Once per interval (5 min by default).
//! - `store_usage_record_via_handle/10_devices`: the same through the journal's writer thread
//!   (`JournalHandle::append_evidence`), as the running agent does it.
//! - `usage_book/on_batch_10_samples`: what the sources pay per batch for the usage figures
//!   (value digest, deadband change detection, counts), per 10-sample batch.
//! - `usage_book/rotate_100_devices`: closing an interval of 100 devices (percentiles,
//!   digests).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use edgeproof::config::Config;
use edgeproof::evidence::merkle::Hash;
use edgeproof::evidence::record::{DeviceUsage, Polls, Totals, Usage};
use edgeproof::evidence::usage::UsageBook;
use edgeproof::evidence::{Body, Chain, GatewayKey, Stamp};
use edgeproof::journal::{HandleOptions, Journal, JournalHandle, JournalOptions};
use edgeproof::model::{now_ms, Batch, Sample, Value};
use edgeproof::source::modbus::CycleStats;

const INTERVAL_MS: u64 = 300_000;

fn usage(start: Stamp, devices: usize) -> Body {
    let end = Stamp { wall_ms: start.wall_ms + INTERVAL_MS, mono_ms: start.mono_ms + INTERVAL_MS };
    Body::Usage(Usage {
        start,
        end,
        devices: (0..devices)
            .map(|d| DeviceUsage {
                id: format!("device-{d:03}"),
                protocol: "modbus-tcp".into(),
                endpoint: format!("10.0.{}.{}:502", d / 200, 10 + d % 200),
                endpoint_local: false,
                fingerprint: Hash::sha256(format!("device-{d}").as_bytes()),
                polls: Polls { ok: 300, error: 1, timeout: 0 },
                exceptions: [(2u8, 1u64)].into_iter().collect(),
                points_read: 3_000,
                points_changed: 412,
                rt_p50_us: Some(850),
                rt_p95_us: Some(2_100),
                digest: Hash::sha256(format!("stream-{d}").as_bytes()),
            })
            .collect(),
        totals: Totals { journaled: 30_000, acked: 30_000, backlog: 0, dropped: 0, refused: 0 },
    })
}

/// An enrolled chain in a fresh journal, ready for usage records.
fn chain_in(dir: &Path, key: &GatewayKey) -> (Chain, Journal) {
    let (mut journal, _) =
        Journal::open(dir.join("journal.sqlite3"), JournalOptions::default()).expect("journal");
    let mut chain = Chain::new("edgeproof/gw-bench", "gw-bench");
    chain.start_run("boot-bench", 1);
    let seed = edgeproof::evidence::record::Enroll {
        uscc: "91440300MA5DEM0A0G".into(),
        project: "P".into(),
        contract: "P".into(),
        key: key.public().to_base64(),
        key_assurance: edgeproof::evidence::record::KeyAssurance::Software,
        agent_version: "bench".into(),
        build: "bench".into(),
        inventory: vec![],
        production_devices: 1,
    };
    let p = chain.prepare(key, stamp(), Body::Enroll(seed)).expect("prepare");
    journal.append_evidence(p.record.record.seq, &p.canonical).expect("append");
    chain.commit(&p).expect("commit");
    (chain, journal)
}

fn stamp() -> Stamp {
    Stamp { wall_ms: now_ms(), mono_ms: 1_000 }
}

fn store_usage_record(c: &mut Criterion) {
    let key = GatewayKey::from_seed([7; 32]);
    let mut g = c.benchmark_group("store_usage_record");
    g.measurement_time(Duration::from_secs(10));
    for devices in [10usize, 100] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut chain, mut journal) = chain_in(dir.path(), &key);
        let body = usage(stamp(), devices);
        let size = chain.prepare(&key, stamp(), body.clone()).expect("prepare").canonical.len();
        println!("usage record of {devices} devices: {size} bytes canonical");
        g.bench_function(format!("{devices}_devices"), |b| {
            b.iter(|| {
                let p = chain.prepare(&key, stamp(), black_box(body.clone())).expect("prepare");
                journal.append_evidence(p.record.record.seq, &p.canonical).expect("append");
                chain.commit(&p).expect("commit");
            })
        });
    }
    g.finish();
}

fn store_via_handle(c: &mut Criterion) {
    let key = GatewayKey::from_seed([7; 32]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let (chain, journal) = chain_in(dir.path(), &key);
    let (handle, _sender, thread) =
        JournalHandle::start(journal, HandleOptions::default()).expect("handle");
    let mut chain = chain;
    let body = usage(stamp(), 10);
    let mut g = c.benchmark_group("store_usage_record_via_handle");
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("10_devices", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                let p = chain.prepare(&key, stamp(), body.clone()).expect("prepare");
                rt.block_on(handle.append_evidence(p.record.record.seq, p.canonical.clone()))
                    .expect("append");
                chain.commit(&p).expect("commit");
            }
            t.elapsed()
        })
    });
    g.finish();
    rt.block_on(handle.shutdown()).expect("shutdown");
    thread.join().expect("writer");
}

fn config(devices: usize) -> Config {
    let mut text = String::from(
        "[gateway]\nid = \"gw\"\nenterprise = \"91440300MA5DEM0A0G\"\nproject = \"P\"\n",
    );
    for d in 0..devices {
        text.push_str(&format!(
            "[[devices]]\nname = \"d{d}\"\nprotocol = \"modbus-tcp\"\naddress = \"10.0.0.1:502\"\n"
        ));
        for p in 0..10 {
            text.push_str(&format!(
                "  [[devices.points]]\n  name = \"p{p}\"\n  area = \"holding\"\n  address = {p}\n  \
                 type = \"f32\"\n  deadband = 0.5\n"
            ));
        }
    }
    edgeproof::config::load_str(Path::new("bench.toml"), &text, false).expect("config")
}

fn usage_book(c: &mut Criterion) {
    let mut g = c.benchmark_group("usage_book");
    let book = UsageBook::new(&config(1), Duration::from_secs(3600 * 24 * 365), now_ms());
    let names: Vec<Arc<str>> = (0..10).map(|p| Arc::from(format!("p{p}"))).collect();
    let mut i = 0u64;
    g.throughput(Throughput::Elements(10));
    g.bench_function("on_batch_10_samples", |b| {
        b.iter(|| {
            i += 1;
            let ts = now_ms();
            let batch = Batch {
                device: Arc::from("d0"),
                ts_ms: ts,
                samples: names
                    .iter()
                    .map(|n| Sample::good(n.clone(), ts, Value::Float(20.0 + (i % 7) as f64)))
                    .collect(),
            };
            book.on_batch(black_box(&batch));
        })
    });
    g.throughput(Throughput::Elements(1));
    let book = UsageBook::new(&config(100), Duration::from_secs(300), now_ms());
    let stats = CycleStats {
        requests: 2,
        ok: 2,
        response_times: vec![Duration::from_micros(800); 2],
        ..CycleStats::default()
    };
    g.bench_function("rotate_100_devices", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                // An interval's worth of cycles per device (untimed), then the close (timed).
                for d in 0..100 {
                    for _ in 0..300 {
                        book.on_cycle(&format!("d{d}"), &stats);
                    }
                }
                let t = Instant::now();
                black_box(book.rotate(now_ms()));
                spent += t.elapsed();
            }
            spent
        })
    });
    g.finish();
}

criterion_group!(benches, store_usage_record, store_via_handle, usage_book);
criterion_main!(benches);
