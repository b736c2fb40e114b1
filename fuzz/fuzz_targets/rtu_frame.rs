//! libFuzzer driver of `bodies/rtu_frame.rs` (what it feeds and asserts is documented there).

#![no_main]

/// Only this target's body, so the target builds against its own crate alone.
#[path = "../bodies"]
mod bodies {
    pub mod cursor;
    pub use cursor::Cursor;
    pub mod rtu_frame;
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::rtu_frame::run(data));
