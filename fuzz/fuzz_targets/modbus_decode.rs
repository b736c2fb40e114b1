//! libFuzzer driver of `bodies/modbus_decode.rs` (what it feeds and asserts is documented there).

#![no_main]

/// Only this target's body, so the target builds against its own crate alone.
#[path = "../bodies"]
mod bodies {
    pub mod cursor;
    pub use cursor::Cursor;
    pub mod modbus_decode;
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::modbus_decode::run(data));
