//! libFuzzer driver of `bodies/modbus_decode.rs` (what it feeds and asserts is documented there).

#![no_main]

#[path = "../bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::modbus_decode::run(data));
