//! What a successful read returns, before decoding.

/// The data of one successful read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawRead {
    /// FC 03/04: exactly the requested number of registers.
    Registers(Vec<u16>),
    /// FC 01/02: exactly the requested number of bits (the padding of the last byte removed).
    Bits(Vec<bool>),
}
