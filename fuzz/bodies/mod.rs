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

/// Reads typed values off the front of the fuzz input; past the end every read gives zero,
/// so a short input is still a valid (small) case.
pub struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data }
    }

    /// The next byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, big-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// The next eight bytes as an f64 (any bit pattern, NaN and infinities included).
    pub fn f64(&mut self) -> f64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        f64::from_be_bytes(b)
    }

    /// Everything not read yet.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}
