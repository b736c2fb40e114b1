//! libFuzzer driver of `bodies/bundle.rs` (what it feeds and asserts is documented there).

#![no_main]

/// Only this target's body, so the target builds against its own crate alone.
#[path = "../bodies"]
mod bodies {
    pub mod bundle;
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::bundle::run(data));
