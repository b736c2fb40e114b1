//! The Modbus RTU answer parser (`src/source/modbus/rtu/frame.rs`): for any read request a
//! valid config can plan (unit 1..=247, any area, start, 1..=125 registers or 1..=2000 bits),
//! any bytes from the line.
//!
//! Properties: `Incomplete` asks for more bytes than it was given; `Data` claims no more bytes
//! than it was given, exactly the frame length the request implies, and exactly as many
//! registers or bits as asked; a frame that parsed still parses the same with bytes after it
//! (the next frame's), and the same frame with its CRC changed never parses as data.

use edgeproof_modbus::rtu_frame::{crc16, Parsed, ReadFrame};
use edgeproof_modbus::{Area, RawRead};

use super::Cursor;

pub fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    let area = [Area::Coil, Area::Discrete, Area::Input, Area::Holding][usize::from(c.u8() % 4)];
    let unit = c.u8() % 247 + 1;
    let start = c.u16();
    let max = if matches!(area, Area::Coil | Area::Discrete) { 2000 } else { 125 };
    let count = c.u16() % max + 1;
    let frame = ReadFrame { unit, area, start, count };
    let mode = c.u8();
    let mut buf = c.rest().to_vec();
    // Half the time, make the answer well-formed up to what the fuzzer chose, so the paths
    // past the unit, function and CRC checks are reached without guessing a CRC.
    if mode & 1 == 1 && buf.len() >= 3 {
        buf[0] = unit;
        buf[1] = frame.function_code() | (mode & 0x80);
        let len = if mode & 0x80 != 0 { 5 } else { frame.response_len() };
        if mode & 0x80 == 0 {
            buf[2] = u8::try_from(len - 5).unwrap_or(u8::MAX);
        }
        buf.resize(buf.len().max(len), 0);
        let [lo, hi] = crc16(&buf[..len - 2]).to_le_bytes();
        buf[len - 2] = lo;
        buf[len - 1] = hi;
    }

    let parsed = frame.parse(&buf);
    assert_eq!(parsed, frame.parse(&buf), "parsing is a function of its input");
    match &parsed {
        Parsed::Incomplete { need } => assert!(*need > buf.len(), "{need} <= {}", buf.len()),
        Parsed::Data { read, len } => {
            assert!(*len <= buf.len());
            assert_eq!(*len, frame.response_len());
            let items = match read {
                RawRead::Registers(r) => {
                    assert!(!matches!(area, Area::Coil | Area::Discrete));
                    r.len()
                }
                RawRead::Bits(b) => {
                    assert!(matches!(area, Area::Coil | Area::Discrete));
                    b.len()
                }
            };
            assert_eq!(items, usize::from(count));
            let mut longer = buf.clone();
            longer.extend_from_slice(&[unit, 0x03, 0x00]);
            assert_eq!(frame.parse(&longer), parsed, "bytes after a frame change nothing");
            let mut bad = buf[..*len].to_vec();
            bad[*len - 1] ^= 0x5A;
            assert!(!matches!(frame.parse(&bad), Parsed::Data { .. }), "a wrong CRC parsed");
        }
        Parsed::Exception { .. } | Parsed::Bad(_) => {}
    }
}
