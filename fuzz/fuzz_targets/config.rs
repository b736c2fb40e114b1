//! libFuzzer driver of `bodies/config.rs` (what it feeds and asserts is documented there).

#![no_main]

/// Only this target's body, so the target builds against its own crate alone.
mod bodies {
    #[path = "../../bodies/config.rs"]
    pub mod config;
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::config::run(data));
