//! libFuzzer driver of `bodies/verify.rs` (what it feeds and asserts is documented there).

#![no_main]

/// Only this target's body, so the target builds against its own crate alone.
#[path = "../bodies"]
mod bodies {
    pub mod verify;
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::verify::run(data));
