//! The bodies of the fuzz targets, shared by two drivers:
//!
//! - `fuzz/fuzz_targets/*.rs`: libFuzzer through cargo-fuzz (nightly; coverage-guided; run
//!   locally, see `fuzz/README.md`);
//! - `tests/fuzz_smoke.rs`: the normal test binary on stable, in CI: every committed corpus
//!   file, then seeded random mutations of them for a bounded time.
//!
//! Each body takes arbitrary bytes and must return without panicking; where a cheap property
//! holds it asserts it too (a panic is a finding either way).

#![allow(dead_code)]

pub mod bundle;
pub mod config;
pub mod modbus_decode;
pub mod rtu_frame;
pub mod verify;
pub mod witness_request;

pub mod cursor;

pub use cursor::Cursor;
