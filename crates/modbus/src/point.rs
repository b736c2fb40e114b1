//! The compiled form of a Modbus point: the enums and numbers the poll path works with.
//! Built once from the config by the gateway's `config` module; the poll path never looks at strings.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The four Modbus data tables (Modbus Application Protocol §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Area {
    /// Read/write bits, FC 01.
    Coil,
    /// Read-only bits, FC 02.
    Discrete,
    /// Read-only registers, FC 04.
    Input,
    /// Read/write registers, FC 03.
    Holding,
}

impl Area {
    /// Every area, in config spelling order.
    pub const ALL: [Area; 4] = [Area::Coil, Area::Discrete, Area::Input, Area::Holding];

    /// Config spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Area::Coil => "coil",
            Area::Discrete => "discrete",
            Area::Input => "input",
            Area::Holding => "holding",
        }
    }

    /// Coils and discrete inputs are bit tables; the others hold 16-bit registers.
    pub fn is_bits(&self) -> bool {
        matches!(self, Area::Coil | Area::Discrete)
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the bytes of a multi-register value are laid out, named by where the big-endian
/// bytes `A B C D (E F G H)` end up on the wire.
///
/// For 8-byte types the same four layouts are spelt `ABCDEFGH`, `GHEFCDAB`, `BADCFEHG`,
/// `HGFEDCBA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    /// `ABCD` / `ABCDEFGH`: big-endian words, big-endian bytes (the Modbus default).
    Abcd,
    /// `CDAB` / `GHEFCDAB`: words swapped (least significant word first), bytes big-endian.
    Cdab,
    /// `BADC` / `BADCFEHG`: words in order, bytes swapped inside each word.
    Badc,
    /// `DCBA` / `HGFEDCBA`: fully little-endian.
    Dcba,
}

impl Order {
    /// Every order.
    pub const ALL: [Order; 4] = [Order::Abcd, Order::Cdab, Order::Badc, Order::Dcba];

    /// Spelling for 4-byte types.
    pub fn name4(&self) -> &'static str {
        match self {
            Order::Abcd => "ABCD",
            Order::Cdab => "CDAB",
            Order::Badc => "BADC",
            Order::Dcba => "DCBA",
        }
    }

    /// Spelling for 8-byte types.
    pub fn name8(&self) -> &'static str {
        match self {
            Order::Abcd => "ABCDEFGH",
            Order::Cdab => "GHEFCDAB",
            Order::Badc => "BADCFEHG",
            Order::Dcba => "HGFEDCBA",
        }
    }

    /// Words reversed on the wire (`CDAB`, `DCBA`).
    pub fn swaps_words(&self) -> bool {
        matches!(self, Order::Cdab | Order::Dcba)
    }

    /// Bytes swapped inside each word (`BADC`, `DCBA`).
    pub fn swaps_bytes(&self) -> bool {
        matches!(self, Order::Badc | Order::Dcba)
    }
}

/// What a point's registers (or bit) hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// A coil or discrete input; on a register, true when non-zero.
    Bool,
    /// One bit of a register, 0 = least significant.
    Bit(u8),
    /// Unsigned 16-bit.
    U16,
    /// Signed 16-bit.
    I16,
    /// Unsigned 32-bit, two registers.
    U32,
    /// Signed 32-bit, two registers.
    I32,
    /// Unsigned 64-bit, four registers.
    U64,
    /// Signed 64-bit, four registers.
    I64,
    /// IEEE 754 single, two registers.
    F32,
    /// IEEE 754 double, four registers.
    F64,
    /// Text of this many registers (two bytes each).
    String(u16),
}

impl DataType {
    /// Config spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            DataType::Bool => "bool",
            DataType::Bit(_) => "bit",
            DataType::U16 => "u16",
            DataType::I16 => "i16",
            DataType::U32 => "u32",
            DataType::I32 => "i32",
            DataType::U64 => "u64",
            DataType::I64 => "i64",
            DataType::F32 => "f32",
            DataType::F64 => "f64",
            DataType::String(_) => "string",
        }
    }

    /// How many registers (or bits, in a bit area) the value occupies.
    pub fn width(&self) -> u16 {
        match self {
            DataType::Bool | DataType::Bit(_) | DataType::U16 | DataType::I16 => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
            DataType::U64 | DataType::I64 | DataType::F64 => 4,
            DataType::String(n) => *n,
        }
    }

    /// Byte width for which an [`Order`] applies: `Some(4)` or `Some(8)`; `None` for types
    /// that take no order.
    pub fn order_bytes(&self) -> Option<u8> {
        match self {
            DataType::U32 | DataType::I32 | DataType::F32 => Some(4),
            DataType::U64 | DataType::I64 | DataType::F64 => Some(8),
            _ => None,
        }
    }
}

/// One compiled Modbus point.
#[derive(Debug, Clone, PartialEq)]
pub struct ModbusPoint {
    /// Unique within the device.
    pub name: Arc<str>,
    /// Which table.
    pub area: Area,
    /// 0-based protocol address of the first register or bit.
    pub address: u16,
    /// What the registers hold.
    pub dtype: DataType,
    /// Byte layout for 4- and 8-byte types ([`Order::Abcd`] otherwise).
    pub order: Order,
    /// `value = raw * scale + offset`.
    pub scale: f64,
    /// See `scale`.
    pub offset: f64,
    /// Engineering unit, for people.
    pub unit: Option<String>,
    /// How often this point is read.
    pub poll: Duration,
    /// Minimum change before a new value counts as changed (evidence "points changed").
    pub deadband: Option<f64>,
}

impl ModbusPoint {
    /// Registers (or bits) occupied.
    pub fn width(&self) -> u16 {
        self.dtype.width()
    }

    /// One past the last register, as u32 so that 65535 + width does not overflow.
    pub fn end(&self) -> u32 {
        u32::from(self.address) + u32::from(self.width())
    }

    /// True when scale and offset leave the raw value unchanged.
    pub fn is_unscaled(&self) -> bool {
        self.scale == 1.0 && self.offset == 0.0
    }
}

/// The rules a merged read must keep (per device).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Unmapped registers (or bits) a merged read may skip over.
    pub max_gap: u16,
    /// Registers per read (FC 03/04 allow at most 125).
    pub max_registers: u16,
    /// Bits per read (FC 01/02 allow at most 2000).
    pub max_bits: u16,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits { max_gap: 8, max_registers: 125, max_bits: 2000 }
    }
}

impl ReadLimits {
    /// The per-read maximum for an area.
    pub fn max_for(&self, area: Area) -> u16 {
        if area.is_bits() {
            self.max_bits
        } else {
            self.max_registers
        }
    }
}
