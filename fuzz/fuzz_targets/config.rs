//! libFuzzer driver of `bodies/config.rs` (what it feeds and asserts is documented there).

#![no_main]

/// Only this target's body, so the target builds against its own crate alone.
#[path = "../bodies"]
mod bodies {
    pub mod config;
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::config::run(data));
