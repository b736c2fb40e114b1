//! The register image a simulated device serves: four tables, holes that answer exception 02,
//! and what the device says about itself (FC 43/14).
//!
//! A table's length is its size: addresses `0..len` are readable (unset ones read 0), reads
//! past the end answer IllegalDataAddress. Setters grow the table to cover what they write,
//! so an image is laid out by writing values. Typed setters encode exactly as a device using
//! the given [`Order`] would, so tests can cover every type and order.

use std::ops::Range;

use tokio_modbus::ExceptionCode;

use edgeproof_modbus::{Area, Order};

/// Highest number of addresses a table can hold (protocol addresses are 16-bit).
const ADDRESS_SPACE: u32 = 65536;
/// Most registers one FC 03/04 request may ask for (Modbus Application Protocol §6.3).
const MAX_REGISTERS: u16 = 125;
/// Most bits one FC 01/02 request may ask for (Modbus Application Protocol §6.1).
const MAX_BITS: u16 = 2000;

/// Object ids of the basic Device Identification objects (Modbus Application Protocol §6.21).
pub mod object {
    /// VendorName.
    pub const VENDOR_NAME: u8 = 0x00;
    /// ProductCode.
    pub const PRODUCT_CODE: u8 = 0x01;
    /// MajorMinorRevision.
    pub const REVISION: u8 = 0x02;
}

/// How the simulated device answers Device Identification (FC 43 / MEI 14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimIdentity {
    /// Answers with these objects: (object id, value).
    Objects(Vec<(u8, Vec<u8>)>),
    /// Answers exception 01 (IllegalFunction), as most small devices do.
    Unsupported,
    /// Never answers FC 43 (the request times out); other requests are answered.
    Silent,
}

impl SimIdentity {
    /// The three basic objects: vendor name, product code, revision.
    pub fn basic(vendor: &str, product_code: &str, revision: &str) -> Self {
        SimIdentity::Objects(vec![
            (object::VENDOR_NAME, vendor.as_bytes().to_vec()),
            (object::PRODUCT_CODE, product_code.as_bytes().to_vec()),
            (object::REVISION, revision.as_bytes().to_vec()),
        ])
    }
}

/// Encode big-endian bytes (`A B C D …`, even length) into registers laid out in `order`.
///
/// `Abcd` keeps words and bytes; `Cdab` reverses the word order; `Badc` swaps the bytes in
/// each word; `Dcba` does both (so the wire holds the value fully little-endian).
pub fn encode_words(be_bytes: &[u8], order: Order) -> Vec<u16> {
    let mut words: Vec<u16> = be_bytes
        .chunks(2)
        .map(|pair| {
            let hi = pair[0];
            let lo = pair.get(1).copied().unwrap_or(0);
            if order.swaps_bytes() {
                u16::from_be_bytes([lo, hi])
            } else {
                u16::from_be_bytes([hi, lo])
            }
        })
        .collect();
    if order.swaps_words() {
        words.reverse();
    }
    words
}

/// Check a read's quantity and range against a table (Modbus Application Protocol §6.1–6.4):
/// quantity out of range → 03, past the end or touching a hole → 02.
fn check_read(
    len: usize,
    holes: &[Range<u32>],
    start: u16,
    count: u16,
    max: u16,
) -> Result<Range<usize>, ExceptionCode> {
    if count == 0 || count > max {
        return Err(ExceptionCode::IllegalDataValue);
    }
    let range = u32::from(start)..u32::from(start) + u32::from(count);
    if range.end as usize > len {
        return Err(ExceptionCode::IllegalDataAddress);
    }
    if holes.iter().any(|hole| hole.start < range.end && range.start < hole.end) {
        return Err(ExceptionCode::IllegalDataAddress);
    }
    Ok(range.start as usize..range.end as usize)
}

fn hole(start: u16, count: u16) -> Range<u32> {
    u32::from(start)..(u32::from(start) + u32::from(count)).min(ADDRESS_SPACE)
}

/// A register table (input or holding).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterTable {
    words: Vec<u16>,
    holes: Vec<Range<u32>>,
}

impl RegisterTable {
    /// Registers in the table (`0..len` are readable outside holes).
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// True when the table has no registers: every read answers exception 02.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Make the table hold `len` registers (at most 65536); new ones read 0.
    pub fn resize(&mut self, len: u32) -> &mut Self {
        self.words.resize(len.min(ADDRESS_SPACE) as usize, 0);
        self
    }

    /// Mark `count` registers from `start` as a hole: any read touching them answers
    /// exception 02 (the table grows to cover the hole).
    pub fn add_hole(&mut self, start: u16, count: u16) -> &mut Self {
        let hole = hole(start, count);
        if self.words.len() < hole.end as usize {
            self.resize(hole.end);
        }
        self.holes.push(hole);
        self
    }

    /// The register at `addr`, if inside the table.
    pub fn get(&self, addr: u16) -> Option<u16> {
        self.words.get(usize::from(addr)).copied()
    }

    /// Answer a read of `count` registers from `start`.
    pub fn read(&self, start: u16, count: u16) -> Result<Vec<u16>, ExceptionCode> {
        let range = check_read(self.words.len(), &self.holes, start, count, MAX_REGISTERS)?;
        Ok(self.words[range].to_vec())
    }

    /// Write raw registers from `addr`, growing the table. Registers that would lie past
    /// address 65535 are dropped.
    pub fn set_words(&mut self, addr: u16, words: &[u16]) -> &mut Self {
        let start = usize::from(addr);
        let fit = words.len().min(ADDRESS_SPACE as usize - start);
        let end = start + fit;
        if self.words.len() < end {
            self.words.resize(end, 0);
        }
        self.words[start..end].copy_from_slice(&words[..fit]);
        self
    }

    /// One unsigned register.
    pub fn set_u16(&mut self, addr: u16, value: u16) -> &mut Self {
        self.set_words(addr, &[value])
    }

    /// One signed register (two's complement).
    pub fn set_i16(&mut self, addr: u16, value: i16) -> &mut Self {
        self.set_words(addr, &[value as u16])
    }

    /// Two registers in `order`.
    pub fn set_u32(&mut self, addr: u16, value: u32, order: Order) -> &mut Self {
        self.set_words(addr, &encode_words(&value.to_be_bytes(), order))
    }

    /// Two registers in `order`.
    pub fn set_i32(&mut self, addr: u16, value: i32, order: Order) -> &mut Self {
        self.set_words(addr, &encode_words(&value.to_be_bytes(), order))
    }

    /// Four registers in `order`.
    pub fn set_u64(&mut self, addr: u16, value: u64, order: Order) -> &mut Self {
        self.set_words(addr, &encode_words(&value.to_be_bytes(), order))
    }

    /// Four registers in `order`.
    pub fn set_i64(&mut self, addr: u16, value: i64, order: Order) -> &mut Self {
        self.set_words(addr, &encode_words(&value.to_be_bytes(), order))
    }

    /// IEEE 754 single, two registers in `order`.
    pub fn set_f32(&mut self, addr: u16, value: f32, order: Order) -> &mut Self {
        self.set_words(addr, &encode_words(&value.to_be_bytes(), order))
    }

    /// IEEE 754 double, four registers in `order`.
    pub fn set_f64(&mut self, addr: u16, value: f64, order: Order) -> &mut Self {
        self.set_words(addr, &encode_words(&value.to_be_bytes(), order))
    }

    /// Text in `registers` registers, two bytes each, first character in the high byte;
    /// padded with NUL, cut at `2 * registers` bytes.
    pub fn set_string(&mut self, addr: u16, text: &str, registers: u16) -> &mut Self {
        let mut bytes = text.as_bytes().to_vec();
        bytes.resize(usize::from(registers) * 2, 0);
        self.set_words(addr, &encode_words(&bytes, Order::Abcd))
    }

    /// Set or clear bit `bit` (0 = least significant, 0..=15) of the register at `addr`;
    /// other bits are kept.
    pub fn set_bit(&mut self, addr: u16, bit: u8, on: bool) -> &mut Self {
        let mask = 1u16 << (bit & 15);
        let word = self.get(addr).unwrap_or(0);
        self.set_u16(addr, if on { word | mask } else { word & !mask })
    }
}

/// A bit table (coils or discrete inputs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BitTable {
    bits: Vec<bool>,
    holes: Vec<Range<u32>>,
}

impl BitTable {
    /// Bits in the table.
    pub fn len(&self) -> usize {
        self.bits.len()
    }

    /// True when the table has no bits: every read answers exception 02.
    pub fn is_empty(&self) -> bool {
        self.bits.is_empty()
    }

    /// Make the table hold `len` bits (at most 65536); new ones read false.
    pub fn resize(&mut self, len: u32) -> &mut Self {
        self.bits.resize(len.min(ADDRESS_SPACE) as usize, false);
        self
    }

    /// Mark `count` bits from `start` as a hole (answers exception 02).
    pub fn add_hole(&mut self, start: u16, count: u16) -> &mut Self {
        let hole = hole(start, count);
        if self.bits.len() < hole.end as usize {
            self.resize(hole.end);
        }
        self.holes.push(hole);
        self
    }

    /// The bit at `addr`, if inside the table.
    pub fn get(&self, addr: u16) -> Option<bool> {
        self.bits.get(usize::from(addr)).copied()
    }

    /// Answer a read of `count` bits from `start`.
    pub fn read(&self, start: u16, count: u16) -> Result<Vec<bool>, ExceptionCode> {
        let range = check_read(self.bits.len(), &self.holes, start, count, MAX_BITS)?;
        Ok(self.bits[range].to_vec())
    }

    /// One bit, growing the table.
    pub fn set(&mut self, addr: u16, on: bool) -> &mut Self {
        self.set_bits(addr, &[on])
    }

    /// Consecutive bits from `addr`, growing the table; bits past 65535 are dropped.
    pub fn set_bits(&mut self, addr: u16, bits: &[bool]) -> &mut Self {
        let start = usize::from(addr);
        let fit = bits.len().min(ADDRESS_SPACE as usize - start);
        let end = start + fit;
        if self.bits.len() < end {
            self.bits.resize(end, false);
        }
        self.bits[start..end].copy_from_slice(&bits[..fit]);
        self
    }
}

/// Everything a simulated device serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterImage {
    /// FC 01.
    pub coils: BitTable,
    /// FC 02.
    pub discrete: BitTable,
    /// FC 04.
    pub input: RegisterTable,
    /// FC 03.
    pub holding: RegisterTable,
    /// FC 43/14.
    pub identity: SimIdentity,
}

impl Default for RegisterImage {
    fn default() -> Self {
        RegisterImage::new()
    }
}

impl RegisterImage {
    /// An empty image (every read answers 02) without Device Identification.
    pub fn new() -> Self {
        RegisterImage {
            coils: BitTable::default(),
            discrete: BitTable::default(),
            input: RegisterTable::default(),
            holding: RegisterTable::default(),
            identity: SimIdentity::Unsupported,
        }
    }

    /// The register table of `area`; `None` for the bit areas.
    pub fn registers_mut(&mut self, area: Area) -> Option<&mut RegisterTable> {
        match area {
            Area::Input => Some(&mut self.input),
            Area::Holding => Some(&mut self.holding),
            Area::Coil | Area::Discrete => None,
        }
    }

    /// The bit table of `area`; `None` for the register areas.
    pub fn bits_mut(&mut self, area: Area) -> Option<&mut BitTable> {
        match area {
            Area::Coil => Some(&mut self.coils),
            Area::Discrete => Some(&mut self.discrete),
            Area::Input | Area::Holding => None,
        }
    }

    /// Mark a hole in any area.
    pub fn add_hole(&mut self, area: Area, start: u16, count: u16) -> &mut Self {
        match area {
            Area::Coil => {
                self.coils.add_hole(start, count);
            }
            Area::Discrete => {
                self.discrete.add_hole(start, count);
            }
            Area::Input => {
                self.input.add_hole(start, count);
            }
            Area::Holding => {
                self.holding.add_hole(start, count);
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_words_places_bytes_per_order() {
        // Big-endian bytes of 0x11223344 are A=11 B=22 C=33 D=44.
        let be = 0x1122_3344u32.to_be_bytes();
        let cases = [
            ("ABCD keeps everything", Order::Abcd, vec![0x1122, 0x3344]),
            ("CDAB swaps words", Order::Cdab, vec![0x3344, 0x1122]),
            ("BADC swaps bytes", Order::Badc, vec![0x2211, 0x4433]),
            ("DCBA is little-endian", Order::Dcba, vec![0x4433, 0x2211]),
        ];
        for (name, order, want) in cases {
            assert_eq!(encode_words(&be, order), want, "{name}");
        }
    }

    #[test]
    fn encode_words_8_byte_orders() {
        let be = 0x1122_3344_5566_7788u64.to_be_bytes();
        let cases = [
            ("ABCDEFGH", Order::Abcd, vec![0x1122, 0x3344, 0x5566, 0x7788]),
            ("GHEFCDAB", Order::Cdab, vec![0x7788, 0x5566, 0x3344, 0x1122]),
            ("BADCFEHG", Order::Badc, vec![0x2211, 0x4433, 0x6655, 0x8877]),
            ("HGFEDCBA", Order::Dcba, vec![0x8877, 0x6655, 0x4433, 0x2211]),
        ];
        for (name, order, want) in cases {
            assert_eq!(encode_words(&be, order), want, "{name}");
        }
    }

    #[test]
    fn typed_setters_lay_out_registers() {
        let mut t = RegisterTable::default();
        t.set_i16(0, -2)
            .set_f32(1, 1.5, Order::Abcd)
            .set_string(3, "ABC", 3)
            .set_bit(6, 0, true)
            .set_bit(6, 15, true);
        assert_eq!(t.read(0, 7).unwrap(), vec![0xFFFE, 0x3FC0, 0x0000, 0x4142, 0x4300, 0, 0x8001]);
    }

    #[test]
    fn string_longer_than_its_registers_is_cut() {
        let mut t = RegisterTable::default();
        t.set_string(0, "ABCDE", 2);
        assert_eq!(t.len(), 2);
        assert_eq!(t.read(0, 2).unwrap(), vec![0x4142, 0x4344]);
    }

    #[test]
    fn reads_answer_exceptions_like_a_device() {
        let mut t = RegisterTable::default();
        t.resize(20).add_hole(10, 2);
        let cases: [(&str, u16, u16, Result<usize, ExceptionCode>); 7] = [
            ("inside", 0, 10, Ok(10)),
            ("just after the hole", 12, 8, Ok(8)),
            ("touches the hole start", 5, 6, Err(ExceptionCode::IllegalDataAddress)),
            ("inside the hole", 11, 1, Err(ExceptionCode::IllegalDataAddress)),
            ("past the end", 15, 6, Err(ExceptionCode::IllegalDataAddress)),
            ("zero count", 0, 0, Err(ExceptionCode::IllegalDataValue)),
            ("over 125", 0, 126, Err(ExceptionCode::IllegalDataValue)),
        ];
        for (name, start, count, want) in cases {
            assert_eq!(t.read(start, count).map(|w| w.len()), want, "{name}");
        }
    }

    #[test]
    fn bit_tables_grow_and_read() {
        let mut b = BitTable::default();
        b.set(3, true).set_bits(5, &[true, false, true]);
        assert_eq!(b.len(), 8);
        assert_eq!(
            b.read(0, 8).unwrap(),
            vec![false, false, false, true, false, true, false, true]
        );
        assert_eq!(b.read(0, 9), Err(ExceptionCode::IllegalDataAddress));
        assert_eq!(b.read(0, 2001), Err(ExceptionCode::IllegalDataValue));
    }

    #[test]
    fn writes_past_the_address_space_are_dropped() {
        let mut t = RegisterTable::default();
        t.set_u32(65535, 0xAABB_CCDD, Order::Abcd);
        assert_eq!(t.len(), 65536);
        assert_eq!(t.get(65535), Some(0xAABB));
        let mut b = BitTable::default();
        b.set_bits(65535, &[true, true]);
        assert_eq!(b.len(), 65536);
    }
}
