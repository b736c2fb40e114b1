//! libFuzzer driver of `bodies/witness_request.rs` (what it feeds and asserts is documented
//! there).

#![no_main]

#[path = "../bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::witness_request::run(data));
