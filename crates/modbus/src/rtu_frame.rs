//! RTU frames for the four read function codes, without I/O: encode a request, and tell from
//! the bytes received so far whether the answer is complete, still arriving, or unusable.
//!
//! An RTU frame is `unit · PDU · CRC-16` (Modbus over Serial Line §2.5.1), the CRC low byte
//! first (§6.2.2). The master knows from its own request how long the answer must be: an
//! exception is always 5 bytes, a read answer `3 + byte count + 2` with the byte count fixed
//! by the request (Modbus Application Protocol §6.1–6.4). So framing here is by length, not
//! by the 1.5/3.5-character gaps: gap timing is not observable through USB adapters, pseudo
//! terminals or serial-to-Ethernet converters, and a length check plus the CRC rejects
//! everything a gap check would. Silence is still honoured before sending (see
//! the gateway's RTU timing).
//!
//! Everything that does not fit is a [`FrameError`], never a panic: the bus counts it,
//! resynchronises and retries.

use std::fmt;

use crate::point::Area;
use crate::raw::RawRead;

/// Longest RTU frame (Modbus over Serial Line §2.5.1.1).
pub const MAX_FRAME: usize = 256;
/// Length of a read request frame: unit, function, start (2), count (2), CRC (2).
pub const REQUEST_LEN: usize = 8;
/// Length of an exception answer: unit, function | 0x80, code, CRC (2).
const EXCEPTION_LEN: usize = 5;

/// CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF; Modbus over Serial Line §6.2.2).
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xA001 } else { crc >> 1 };
        }
    }
    crc
}

/// Why received bytes are not the answer to the request. Grouped by [`FrameError::kind`]
/// for counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The frame has the expected shape but its CRC does not match: line noise.
    Crc {
        /// CRC computed over the received bytes.
        computed: u16,
        /// CRC the frame carried.
        received: u16,
    },
    /// The first byte is not the unit that was asked.
    WrongUnit {
        /// The unit id received.
        got: u8,
    },
    /// The function code is neither the request's nor its exception.
    WrongFunction {
        /// The function code received.
        got: u8,
    },
    /// The byte count does not match the number of registers or bits asked for.
    WrongByteCount {
        /// Byte count received.
        got: u8,
        /// Byte count the request implies.
        expected: u8,
    },
    /// The answer stopped before it was complete (the response timeout ended it).
    Truncated {
        /// Bytes received.
        got: usize,
        /// Bytes the frame needs.
        expected: usize,
    },
    /// The line never fell silent before the request could be sent.
    LineBusy {
        /// Bytes discarded while waiting.
        discarded: usize,
    },
}

/// How a bad frame is counted (the `kind` label of the frame-error metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameErrorKind {
    /// CRC mismatch.
    Crc,
    /// Bytes that cannot be the answer: wrong unit, function or byte count, a busy line.
    Garbage,
    /// An answer cut short.
    Truncated,
}

impl FrameErrorKind {
    /// The metric label value (one of [`FrameErrorKind::ALL`]'s names).
    pub fn as_str(&self) -> &'static str {
        match self {
            FrameErrorKind::Crc => "crc",
            FrameErrorKind::Garbage => "garbage",
            FrameErrorKind::Truncated => "truncated",
        }
    }

    /// Every kind, for metric label pre-registration.
    pub const ALL: [FrameErrorKind; 3] =
        [FrameErrorKind::Crc, FrameErrorKind::Garbage, FrameErrorKind::Truncated];
}

impl FrameError {
    /// How this error is counted.
    pub fn kind(&self) -> FrameErrorKind {
        match self {
            FrameError::Crc { .. } => FrameErrorKind::Crc,
            FrameError::Truncated { .. } => FrameErrorKind::Truncated,
            FrameError::WrongUnit { .. }
            | FrameError::WrongFunction { .. }
            | FrameError::WrongByteCount { .. }
            | FrameError::LineBusy { .. } => FrameErrorKind::Garbage,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Crc { computed, received } => {
                write!(f, "CRC mismatch (frame says {received:04X}, bytes give {computed:04X})")
            }
            FrameError::WrongUnit { got } => write!(f, "answer from unit {got}"),
            FrameError::WrongFunction { got } => write!(f, "unexpected function code {got:02X}"),
            FrameError::WrongByteCount { got, expected } => {
                write!(f, "byte count {got}, expected {expected}")
            }
            FrameError::Truncated { got, expected } => {
                write!(f, "truncated frame: {got} of {expected} bytes")
            }
            FrameError::LineBusy { discarded } => {
                write!(f, "line never fell silent ({discarded} bytes discarded)")
            }
        }
    }
}

/// What the bytes received so far amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not enough bytes yet: the frame needs at least `need` bytes in total.
    Incomplete {
        /// Total bytes needed to decide.
        need: usize,
    },
    /// A complete, valid answer with data; `len` bytes of the buffer belong to it.
    Data {
        /// The registers or bits, exactly as many as asked for.
        read: RawRead,
        /// Frame length.
        len: usize,
    },
    /// A complete, valid exception answer.
    Exception {
        /// The exception code (Modbus Application Protocol §7).
        code: u8,
    },
    /// The bytes cannot be the answer.
    Bad(FrameError),
}

/// One read request to one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadFrame {
    /// Unit id (1..=247).
    pub unit: u8,
    /// Which table.
    pub area: Area,
    /// First address.
    pub start: u16,
    /// Registers or bits; the caller keeps it within the protocol limits.
    pub count: u16,
}

impl ReadFrame {
    /// The function code: 01, 02, 03 or 04. Never a write.
    pub fn function_code(&self) -> u8 {
        match self.area {
            Area::Coil => 0x01,
            Area::Discrete => 0x02,
            Area::Holding => 0x03,
            Area::Input => 0x04,
        }
    }

    /// The request as sent on the line.
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let [s1, s0] = self.start.to_be_bytes();
        let [c1, c0] = self.count.to_be_bytes();
        let head = [self.unit, self.function_code(), s1, s0, c1, c0];
        let [crc_lo, crc_hi] = crc16(&head).to_le_bytes();
        [head[0], head[1], head[2], head[3], head[4], head[5], crc_lo, crc_hi]
    }

    /// Data bytes in a successful answer.
    fn byte_count(&self) -> usize {
        let count = usize::from(self.count);
        if self.area.is_bits() {
            count.div_ceil(8)
        } else {
            count * 2
        }
    }

    /// Length of a successful answer.
    pub fn response_len(&self) -> usize {
        3 + self.byte_count() + 2
    }

    /// Judges the bytes received so far (from the first byte after the request).
    pub fn parse(&self, buf: &[u8]) -> Parsed {
        let Some(&unit) = buf.first() else { return Parsed::Incomplete { need: 1 } };
        if unit != self.unit {
            return Parsed::Bad(FrameError::WrongUnit { got: unit });
        }
        let Some(&function) = buf.get(1) else { return Parsed::Incomplete { need: 2 } };
        let fc = self.function_code();
        let len = if function == fc | 0x80 {
            EXCEPTION_LEN
        } else if function == fc {
            let Some(&count) = buf.get(2) else { return Parsed::Incomplete { need: 3 } };
            let expected = self.byte_count();
            if usize::from(count) != expected {
                return Parsed::Bad(FrameError::WrongByteCount {
                    got: count,
                    expected: u8::try_from(expected).unwrap_or(u8::MAX),
                });
            }
            self.response_len()
        } else {
            return Parsed::Bad(FrameError::WrongFunction { got: function });
        };
        let Some(frame) = buf.get(..len) else { return Parsed::Incomplete { need: len } };
        let (body, crc) = frame.split_at(len - 2);
        let received = u16::from_le_bytes([crc[0], crc[1]]);
        let computed = crc16(body);
        if received != computed {
            return Parsed::Bad(FrameError::Crc { computed, received });
        }
        if function & 0x80 != 0 {
            return Parsed::Exception { code: body[2] };
        }
        let data = &body[3..];
        let read = if self.area.is_bits() {
            RawRead::Bits(
                (0..usize::from(self.count)).map(|i| data[i / 8] >> (i % 8) & 1 == 1).collect(),
            )
        } else {
            RawRead::Registers(
                data.chunks_exact(2).map(|w| u16::from_be_bytes([w[0], w[1]])).collect(),
            )
        };
        Parsed::Data { read, len }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends the CRC, low byte first.
    fn framed(body: &[u8]) -> Vec<u8> {
        let mut f = body.to_vec();
        f.extend_from_slice(&crc16(body).to_le_bytes());
        f
    }

    #[test]
    fn crc_matches_the_specification_examples() {
        let cases: [(&str, &[u8], u16); 3] = [
            (
                "Modbus over Serial Line §6.2.2 example",
                &[0x11, 0x03, 0x00, 0x6B, 0x00, 0x03],
                0x8776,
            ),
            ("read 10 holding registers of unit 1", &[0x01, 0x03, 0x00, 0x00, 0x00, 0x0A], 0xCDC5),
            ("empty input is the initial value", &[], 0xFFFF),
        ];
        for (name, bytes, crc) in cases {
            assert_eq!(crc16(bytes), crc, "{name}");
        }
    }

    #[test]
    fn requests_encode_read_function_codes_with_the_crc_low_byte_first() {
        let cases = [
            ("coils", Area::Coil, 0x01),
            ("discrete inputs", Area::Discrete, 0x02),
            ("holding registers", Area::Holding, 0x03),
            ("input registers", Area::Input, 0x04),
        ];
        for (name, area, fc) in cases {
            let f = ReadFrame { unit: 0x11, area, start: 0x006B, count: 3 }.encode();
            assert_eq!(&f[..6], &[0x11, fc, 0x00, 0x6B, 0x00, 0x03], "{name}");
            assert_eq!(crc16(&f), 0, "{name}: a frame with its CRC checks to zero");
        }
        let spec = ReadFrame { unit: 0x11, area: Area::Holding, start: 0x6B, count: 3 }.encode();
        assert_eq!(&spec[6..], &[0x76, 0x87], "§6.2.2: CRC 0x8776 is sent as 76 87");
    }

    #[test]
    fn parse_table() {
        let regs = ReadFrame { unit: 3, area: Area::Holding, start: 0, count: 2 };
        let bits = ReadFrame { unit: 3, area: Area::Coil, start: 0, count: 10 };
        let good = framed(&[3, 3, 4, 0x12, 0x34, 0xAB, 0xCD]);
        let mut bad_crc = good.clone();
        *bad_crc.last_mut().unwrap() ^= 0xFF;
        let bad_received = u16::from_le_bytes([bad_crc[7], bad_crc[8]]);
        let mut with_tail = good.clone();
        with_tail.extend_from_slice(&[0x00, 0xFF]);
        let cases: Vec<(&str, ReadFrame, Vec<u8>, Parsed)> = vec![
            ("nothing yet", regs, vec![], Parsed::Incomplete { need: 1 }),
            ("unit only", regs, vec![3], Parsed::Incomplete { need: 2 }),
            ("no byte count yet", regs, vec![3, 3], Parsed::Incomplete { need: 3 }),
            ("half the data", regs, good[..5].to_vec(), Parsed::Incomplete { need: 9 }),
            (
                "two registers",
                regs,
                good.clone(),
                Parsed::Data { read: RawRead::Registers(vec![0x1234, 0xABCD]), len: 9 },
            ),
            (
                "bytes after the frame are not part of it",
                regs,
                with_tail,
                Parsed::Data { read: RawRead::Registers(vec![0x1234, 0xABCD]), len: 9 },
            ),
            (
                "ten coils, padding dropped",
                bits,
                framed(&[3, 1, 2, 0b1000_0101, 0b1111_1110]),
                Parsed::Data {
                    read: RawRead::Bits(vec![
                        true, false, true, false, false, false, false, true, false, true,
                    ]),
                    len: 7,
                },
            ),
            ("exception 02", regs, framed(&[3, 0x83, 2]), Parsed::Exception { code: 2 }),
            ("exception not complete", regs, vec![3, 0x83, 2, 0], Parsed::Incomplete { need: 5 }),
            (
                "corrupt CRC",
                regs,
                bad_crc,
                Parsed::Bad(FrameError::Crc {
                    computed: crc16(&good[..7]),
                    received: bad_received,
                }),
            ),
            (
                "another unit",
                regs,
                framed(&[4, 3, 4, 0, 0, 0, 0]),
                Parsed::Bad(FrameError::WrongUnit { got: 4 }),
            ),
            (
                "garbage byte first",
                regs,
                vec![0xFF, 3, 3],
                Parsed::Bad(FrameError::WrongUnit { got: 0xFF }),
            ),
            (
                "wrong function",
                regs,
                vec![3, 4, 4],
                Parsed::Bad(FrameError::WrongFunction { got: 4 }),
            ),
            (
                "byte count for one register",
                regs,
                vec![3, 3, 2, 0, 0],
                Parsed::Bad(FrameError::WrongByteCount { got: 2, expected: 4 }),
            ),
        ];
        for (name, frame, bytes, want) in cases {
            assert_eq!(frame.parse(&bytes), want, "{name}");
        }
    }

    #[test]
    fn response_lengths_fit_an_rtu_frame_at_the_protocol_limits() {
        let cases = [
            ("125 registers", Area::Input, 125, 255),
            ("2000 coils", Area::Coil, 2000, 255),
            ("one register", Area::Holding, 1, 7),
            ("nine bits", Area::Discrete, 9, 7),
        ];
        for (name, area, count, len) in cases {
            let f = ReadFrame { unit: 1, area, start: 0, count };
            assert_eq!(f.response_len(), len, "{name}");
            assert!(f.response_len() <= MAX_FRAME, "{name}");
        }
    }

    #[test]
    fn error_kinds_for_counting() {
        let cases = [
            ("crc", FrameError::Crc { computed: 1, received: 2 }, FrameErrorKind::Crc),
            ("unit", FrameError::WrongUnit { got: 9 }, FrameErrorKind::Garbage),
            ("busy", FrameError::LineBusy { discarded: 3 }, FrameErrorKind::Garbage),
            ("cut", FrameError::Truncated { got: 3, expected: 9 }, FrameErrorKind::Truncated),
        ];
        for (name, err, kind) in cases {
            assert_eq!(err.kind(), kind, "{name}");
            assert!(!err.to_string().is_empty(), "{name}");
        }
    }
}
