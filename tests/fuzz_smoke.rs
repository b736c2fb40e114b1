//! The fuzz targets on stable, in the normal test binary: each body of `fuzz/bodies/` runs
//! over its committed corpus (`fuzz/corpus/<target>/seed-*`), then over seeded random
//! mutations of it for a bounded time (`EDGEPROOF_FUZZ_SMOKE_SECS`, default 2 s per target;
//! `EDGEPROOF_FUZZ_SMOKE_SEED` to replay a run). Not coverage-guided: that is libFuzzer's job,
//! run locally (`fuzz/README.md`), whose findings become seeds or regression tests here.
//! A panic saves the input under `target/fuzz-smoke/` and names the seed that found it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "../fuzz/bodies/mod.rs"]
mod bodies;

/// Bytes a mutation likes to plant: boundaries of integer types and JSON/TOML structure.
const INTERESTING: &[&[u8]] = &[
    b"\x00",
    b"\xff",
    b"\x7f",
    b"\x80",
    b"\xff\xff",
    b"\x7f\xff",
    b"\x80\x00",
    b"\n",
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b"[[devices]]\n",
    b"[[devices.points]]\n",
    b"=",
    b"9007199254740993",
    b"-0",
    b"1e400",
    b"\\u0000",
    b"\xf0\x9f\x98\x80",
];

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("seed-")))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seed-* files in {}", dir.display());
    files.iter().map(|p| std::fs::read(p).expect("read a seed")).collect()
}

/// One to four random edits of a random seed (or of nothing).
fn mutate(rng: &mut fastrand::Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = if rng.u8(..8) == 0 { Vec::new() } else { seeds[rng.usize(..seeds.len())].clone() };
    for _ in 0..rng.usize(1..=4) {
        let at = rng.usize(..=v.len());
        match rng.u8(..8) {
            0 if !v.is_empty() => {
                let i = rng.usize(..v.len());
                v[i] ^= 1 << rng.u8(..8);
            }
            1 if !v.is_empty() => {
                let i = rng.usize(..v.len());
                v[i] = rng.u8(..);
            }
            2 => {
                let token = INTERESTING[rng.usize(..INTERESTING.len())];
                v.splice(at..at, token.iter().copied());
            }
            3 if !v.is_empty() => {
                let end = (at + rng.usize(1..=16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            4 if !v.is_empty() => {
                let from = rng.usize(..v.len());
                let end = (from + rng.usize(1..=32)).min(v.len());
                let piece = v[from..end].to_vec();
                v.splice(at..at, piece);
            }
            5 => {
                let other = &seeds[rng.usize(..seeds.len())];
                let from = rng.usize(..=other.len());
                v.truncate(at);
                v.extend_from_slice(&other[from..]);
            }
            6 => v.truncate(at),
            _ => {
                let n = rng.usize(1..=8);
                v.splice(at..at, std::iter::repeat_with(|| rng.u8(..)).take(n));
            }
        }
    }
    v
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn smoke(target: &str, run: fn(&[u8])) {
    let seeds = corpus(target);
    let budget = Duration::from_secs_f64(env_or("EDGEPROOF_FUZZ_SMOKE_SECS", 2.0));
    let seed: u64 = env_or("EDGEPROOF_FUZZ_SMOKE_SEED", fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let fail = |what: String, input: &[u8]| -> ! {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-smoke");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{target}-crash.bin"));
        let _ = std::fs::write(&file, input);
        panic!(
            "{target}: {what} panicked (EDGEPROOF_FUZZ_SMOKE_SEED={seed}); input saved to {}; \
             replay with `cd fuzz && cargo +nightly fuzz run {target} {}`",
            file.display(),
            file.display()
        )
    };
    for (i, s) in seeds.iter().enumerate() {
        if catch_unwind(AssertUnwindSafe(|| run(s))).is_err() {
            fail(format!("seed {i}"), s);
        }
    }
    let start = Instant::now();
    let mut execs = 0u64;
    while start.elapsed() < budget {
        let input = mutate(&mut rng, &seeds);
        if catch_unwind(AssertUnwindSafe(|| run(&input))).is_err() {
            fail(format!("mutation {execs}"), &input);
        }
        execs += 1;
    }
    eprintln!("{target}: {} seeds and {execs} mutations (seed {seed}), no panic", seeds.len());
}

#[test]
fn fuzz_smoke_modbus_decode() {
    smoke("modbus_decode", bodies::modbus_decode::run);
}

#[test]
fn fuzz_smoke_rtu_frame() {
    smoke("rtu_frame", bodies::rtu_frame::run);
}

#[test]
fn fuzz_smoke_config() {
    smoke("config", bodies::config::run);
}

#[test]
fn fuzz_smoke_bundle() {
    smoke("bundle", bodies::bundle::run);
}

#[test]
fn fuzz_smoke_verify() {
    smoke("verify", bodies::verify::run);
}

#[test]
fn fuzz_smoke_witness_request() {
    smoke("witness_request", bodies::witness_request::run);
}
