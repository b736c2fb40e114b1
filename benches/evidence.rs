//! What evidence costs. Run with `cargo bench --bench evidence`.
//!
//! - `sign_hash_usage_record`: building, signing (Ed25519), canonicalising (JCS) and
//!   leaf-hashing one 5-minute `usage` record of 10 devices — the gateway's work per interval,
//!   storage aside (the record is one row in the journal's evidence table).
//! - `verify_year_bundle`: `verify` of a year of 5-minute records (105,120 usage records plus
//!   enroll/boot, an hourly checkpoint, a daily cosignature) with a trusted witness — the
//!   reviewer's wait. The bundle is generated once, untimed.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use edgeproof::evidence::bundle::{
    checkpoint_line, cosignature_line, header_line, record_line, Header, BUNDLE_VERSION,
};
use edgeproof::evidence::cosignature::{cosign, WitnessKey};
use edgeproof::evidence::merkle::Hash;
use edgeproof::evidence::record::{
    Boot, DeviceUsage, Enroll, KeyAssurance, Polls, PreviousRun, Totals, Usage,
};
use edgeproof::evidence::verify::{verify_bundle, VerifyOptions};
use edgeproof::evidence::{Body, Chain, GatewayKey, Stamp};

const INTERVAL_MS: u64 = 300_000;
const YEAR_RECORDS: u64 = 365 * 24 * 12;

fn usage(start: Stamp, devices: usize) -> Body {
    let end = Stamp { wall_ms: start.wall_ms + INTERVAL_MS, mono_ms: start.mono_ms + INTERVAL_MS };
    Body::Usage(Usage {
        start,
        end,
        devices: (0..devices)
            .map(|d| DeviceUsage {
                id: format!("device-{d:02}"),
                protocol: "modbus-tcp".into(),
                endpoint: format!("10.0.0.{}:502", 10 + d),
                endpoint_local: false,
                fingerprint: Hash::sha256(format!("device-{d}").as_bytes()),
                polls: Polls { ok: 300, error: 1, timeout: 0 },
                exceptions: BTreeMap::from([(2, 1)]),
                points_read: 3_000,
                points_changed: 412,
                rt_p50_us: Some(1_850),
                rt_p95_us: Some(4_200),
                digest: Hash::sha256(format!("stream {d} {}", start.wall_ms).as_bytes()),
            })
            .collect(),
        totals: Totals { journaled: 30_000, acked: 30_000, backlog: 0, dropped: 0, refused: 0 },
    })
}

fn sign_hash_usage_record(c: &mut Criterion) {
    let key = GatewayKey::from_seed([7; 32]);
    // Past the enroll position: the next record may be a usage record.
    let mut chain = Chain::resume("edgeproof/gw-bench", "gw-bench", [Hash::ZERO]);
    chain.start_run("boot", 1);
    let mut wall = 1_767_225_600_000u64;
    c.bench_function("sign_hash_usage_record", |b| {
        b.iter(|| {
            wall += INTERVAL_MS;
            let t = Stamp { wall_ms: wall, mono_ms: wall - 1_767_000_000_000 };
            let p = chain.prepare(&key, t, usage(t, 10)).expect("prepare");
            black_box((p.leaf, p.canonical.len()))
        })
    });
}

/// A year of one gateway with 3 devices: the bundle bytes and the options to verify it.
fn year_bundle(records: u64) -> (Vec<u8>, VerifyOptions) {
    let key = GatewayKey::from_seed([7; 32]);
    let witness = GatewayKey::from_seed([8; 32]);
    let wname = "witness.example.org/w1";
    let origin = "edgeproof/gw-year";
    let mut chain = Chain::new(origin, "gw-year");
    chain.start_run("kernel-boot-1", 1);
    let mut out = header_line(&Header {
        bundle: BUNDLE_VERSION,
        origin: origin.into(),
        public_key: key.public().to_base64(),
    })
    .into_bytes();
    let mut t = Stamp { wall_ms: 1_767_225_600_000, mono_ms: 10_000 };
    let push = |chain: &mut Chain, out: &mut Vec<u8>, t: Stamp, body: Body| {
        let p = chain.prepare(&key, t, body).expect("prepare");
        chain.commit(&p).expect("commit");
        out.extend(record_line(&p.canonical));
    };
    push(
        &mut chain,
        &mut out,
        t,
        Body::Enroll(Enroll {
            uscc: "91350100M000100Y43".into(),
            project: "GD-2026-0042".into(),
            contract: "HT-1".into(),
            key: key.public().to_base64(),
            key_assurance: KeyAssurance::Software,
            agent_version: "0.1.0".into(),
            build: "bench".into(),
            inventory: vec![],
            production_devices: 3,
        }),
    );
    t.wall_ms += 5;
    t.mono_ms += 5;
    push(
        &mut chain,
        &mut out,
        t,
        Body::Boot(Boot {
            previous: PreviousRun::None,
            last_seq: 0,
            last_wall_ms: t.wall_ms - 5,
            agent_version: "0.1.0".into(),
            config_hash: Hash::ZERO,
        }),
    );
    for i in 0..records {
        let start = t;
        t.wall_ms += INTERVAL_MS;
        t.mono_ms += INTERVAL_MS;
        push(&mut chain, &mut out, t, usage(start, 3));
        if i % 12 == 11 {
            let note = chain.checkpoint().sign(&key);
            out.extend(checkpoint_line(&note.to_text()).into_bytes());
            if i % (12 * 24) == 12 * 24 - 1 {
                let sig = cosign(&note.text, wname, &witness, t.wall_ms / 1000 + 60);
                let cosigned = format!("{}\n{}\n", note.text, sig.line());
                out.extend(cosignature_line(&cosigned).into_bytes());
            }
        }
    }
    let mut opts = VerifyOptions::new(key.public());
    opts.witnesses.push(WitnessKey { name: wname.into(), key: witness.public() });
    (out, opts)
}

fn verify_year(c: &mut Criterion) {
    let started = Instant::now();
    // Under `cargo test` (no --bench) criterion runs each bench once to prove it works: a day
    // of records does that; the year (minutes to build unoptimised) is for `cargo bench`.
    let full = std::env::args().any(|a| a == "--bench");
    let (bundle, opts) = year_bundle(if full { YEAR_RECORDS } else { 288 });
    eprintln!(
        "year bundle: {} MB, generated in {:.1} s",
        bundle.len() / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    let (once, cpu) = (Instant::now(), cpu_seconds());
    let v = verify_bundle(&bundle[..], &opts).expect("verify");
    assert!(v.intact, "{v:#?}");
    eprintln!(
        "verify of {} records: {:.2} s wall, {:.2} s CPU (all threads) in a single run",
        v.records,
        once.elapsed().as_secs_f64(),
        cpu_seconds() - cpu
    );
    breakdown(&bundle, &opts);
    let mut g = c.benchmark_group("verify");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(60));
    g.bench_function("verify_year_bundle", |b| {
        b.iter(|| black_box(verify_bundle(&bundle[..], &opts).expect("verify").intact))
    });
    g.finish();
}

/// CPU time of this process so far (user + system, all threads): the machine is shared,
/// so wall time alone overstates the cost.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Where the time of one verification goes, stage by stage, in CPU seconds.
fn breakdown(bundle: &[u8], opts: &VerifyOptions) {
    use edgeproof::evidence::bundle::{parse_line, Line};
    use edgeproof::evidence::sign::{signed_parts, verify_parts};
    use edgeproof::evidence::SignedRecord;
    let lines: Vec<&[u8]> = bundle.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let stage = |name: &str, f: &mut dyn FnMut()| {
        let c = cpu_seconds();
        f();
        eprintln!("  {name:<28} {:.2} s CPU", cpu_seconds() - c);
    };
    let mut values = Vec::new();
    stage("parse lines (strict JSON)", &mut || {
        values = lines
            .iter()
            .filter_map(|l| match parse_line(l) {
                Ok(Line::Record(v)) => Some(v),
                _ => None,
            })
            .collect()
    });
    let mut parts = Vec::new();
    stage("JCS of record without sig", &mut || {
        parts = values.iter().map(|v| signed_parts(v).expect("parts")).collect()
    });
    stage("Ed25519 verify_strict", &mut || {
        for (m, s) in &parts {
            verify_parts(&opts.public_key, m, s).expect("valid");
        }
    });
    stage("JCS + leaf hash", &mut || {
        for v in &values {
            black_box(edgeproof::evidence::merkle::leaf_hash(
                &edgeproof::evidence::canonical::encode(v).expect("encode"),
            ));
        }
    });
    stage("typed v1 record", &mut || {
        for v in &values {
            black_box(SignedRecord::from_value(v).expect("typed"));
        }
    });
}

criterion_group!(benches, sign_hash_usage_record, verify_year);
criterion_main!(benches);
