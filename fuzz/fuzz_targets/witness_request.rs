//! libFuzzer driver of `bodies/witness_request.rs` (what it feeds and asserts is documented
//! there).

#![no_main]

/// Only this target's body, so the target builds against its own crate alone.
#[path = "../bodies"]
mod bodies {
    pub mod witness_request;
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::witness_request::run(data));
