//! What the collector costs per record. Run with `cargo bench --bench collect`.
//!
//! - `verify_record_on_arrival`: strict parse, Ed25519 verification, JCS and leaf hash, typed
//!   read of one 1-device usage record — the collector's CPU per message.
//! - `ingest_sqlite_1000_records`: one batch of 1,000 verified records from 10 gateways into
//!   a SQLite archive (`synchronous=FULL`, one transaction): records, gap bookkeeping,
//!   coverage, counters. Records are made and verified outside the timing.
//!
//! The end-to-end rate through MQTT and PostgreSQL is the scale test's
//! (`EDGEPROOF_SCALE_FULL=1 cargo test --test tests collect_scale -- --nocapture`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use edgeproof::evidence::merkle::Hash;
use edgeproof::evidence::record::{DeviceUsage, Polls, Totals, Usage};
use edgeproof::evidence::{Body, Chain, GatewayKey, Stamp};
use edgeproof_review::archive::{Archive, Arrival, Registration};
use edgeproof_review::collect::arrival::{verify_message, Keys};

const INTERVAL_MS: u64 = 300_000;

/// A gateway writing usage records (its chain resumed past enrolment).
struct Gateway {
    gw: String,
    key: GatewayKey,
    chain: Chain,
    wall: u64,
}

impl Gateway {
    fn new(i: u8) -> Gateway {
        let gw = format!("gw-bench-{i}");
        let mut chain = Chain::resume(Chain::origin_for(&gw), gw.clone(), [Hash::ZERO]);
        chain.start_run("boot", 1);
        Gateway { gw, key: GatewayKey::from_seed([i + 1; 32]), chain, wall: 1_767_225_600_000 }
    }

    fn next(&mut self) -> (String, Vec<u8>) {
        let start = Stamp { wall_ms: self.wall, mono_ms: self.wall / 1000 };
        self.wall += INTERVAL_MS;
        let end = Stamp { wall_ms: self.wall, mono_ms: self.wall / 1000 };
        let body = Body::Usage(Usage {
            start,
            end,
            devices: vec![DeviceUsage {
                id: "press-1".into(),
                protocol: "modbus-tcp".into(),
                endpoint: "10.0.0.5:502".into(),
                endpoint_local: false,
                fingerprint: Hash::sha256(b"press-1"),
                polls: Polls { ok: 300, error: 0, timeout: 0 },
                exceptions: BTreeMap::new(),
                points_read: 3_000,
                points_changed: 120,
                rt_p50_us: Some(900),
                rt_p95_us: Some(2_000),
                digest: Hash::sha256(&self.wall.to_le_bytes()),
            }],
            totals: Totals { journaled: 3_000, acked: 3_000, backlog: 0, dropped: 0, refused: 0 },
        });
        let p = self.chain.prepare(&self.key, end, body).expect("prepare");
        self.chain.commit(&p).expect("commit");
        (format!("edgeproof/{}/evidence", self.gw), p.canonical)
    }
}

fn keys(gateways: &[Gateway]) -> Keys {
    let mut k = Keys::default();
    for g in gateways {
        k.insert(Chain::origin_for(&g.gw), g.gw.clone(), g.key.public());
    }
    k
}

fn verify_record_on_arrival(c: &mut Criterion) {
    let mut g = Gateway::new(0);
    let keys = keys(std::slice::from_ref(&g));
    let (topic, payload) = g.next();
    c.bench_function("verify_record_on_arrival", |b| {
        b.iter(|| black_box(verify_message(&topic, &payload, &keys)))
    });
}

fn ingest_sqlite(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("archive.db").display().to_string();
    let archive = rt.block_on(Archive::open(&path)).expect("archive");
    let mut gateways: Vec<Gateway> = (0..10).map(Gateway::new).collect();
    let keys = keys(&gateways);
    for g in &gateways {
        let reg = Registration {
            gateway: g.gw.clone(),
            origin: Chain::origin_for(&g.gw),
            public_key: g.key.public().to_base64(),
            city: String::new(),
            enterprise: String::new(),
            project: String::new(),
            topic_prefix: format!("edgeproof/{}", g.gw),
            mqtt_user: g.gw.clone(),
        };
        rt.block_on(archive.register(reg)).expect("register");
    }
    // Seq 0 is the enroll position, which these gateways skipped: one gap of 1 each.
    let mut group = c.benchmark_group("collect");
    group.throughput(Throughput::Elements(1_000)).sample_size(10);
    group.bench_function("ingest_sqlite_1000_records", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let batch: Vec<Arrival> = (0..1_000)
                    .map(|i| {
                        let (topic, payload) = gateways[i % 10].next();
                        verify_message(&topic, &payload, &keys)
                    })
                    .collect();
                let t = Instant::now();
                rt.block_on(archive.ingest(batch)).expect("ingest");
                total += t.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, verify_record_on_arrival, ingest_sqlite);
criterion_main!(benches);
