//! How long characters take on a serial line, and the silence RTU needs between frames.
//!
//! A character is a start bit, the data bits, the parity bit if any, and the stop bits
//! (Modbus over Serial Line §2.5.1: 11 bits in the standard 8E1 / 8N2 formats, 10 in the
//! common 8N1). A frame ends with at least 3.5 characters of silence (§2.5.1.1), so a master
//! must keep the line quiet that long before its next request. Above 19200 baud the spec
//! fixes the silence at 1.75 ms instead, because the character time gets too short for UARTs
//! to time reliably.
//!
//! Over RTU-over-TCP there is no line to time: the converter owns the serial side. The bus
//! still waits [`MIN_SILENCE`] before a request, which is also its window to catch stray
//! bytes before they could be mistaken for an answer.

use std::time::Duration;

/// The fixed inter-frame silence above 19200 baud (Modbus over Serial Line §2.5.1.1).
pub const MIN_SILENCE: Duration = Duration::from_micros(1750);

/// Above this baud rate the silence is fixed (§2.5.1.1).
const FIXED_SILENCE_ABOVE_BAUD: u32 = 19_200;

/// Character timing of one bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTiming {
    /// Time on the wire of one character; zero when there is no line to time (TCP).
    char_time: Duration,
    /// Silence between frames.
    silence: Duration,
}

impl LineTiming {
    /// A serial line: `baud` bits per second, `data_bits` 7 or 8, a parity bit or not,
    /// `stop_bits` 1 or 2.
    pub fn serial(baud: u32, data_bits: u8, parity: bool, stop_bits: u8) -> Self {
        let bits = 1 + u32::from(data_bits) + u32::from(parity) + u32::from(stop_bits);
        let char_time = Duration::from_secs_f64(f64::from(bits) / f64::from(baud.max(1)));
        let chars = char_time.mul_f64(3.5);
        let silence = if baud > FIXED_SILENCE_ABOVE_BAUD { chars.max(MIN_SILENCE) } else { chars };
        LineTiming { char_time, silence }
    }

    /// No serial line to time (RTU-over-TCP).
    pub fn network() -> Self {
        LineTiming { char_time: Duration::ZERO, silence: MIN_SILENCE }
    }

    /// The inter-frame silence (3.5 characters, or the fixed value at high baud rates).
    pub fn silence(&self) -> Duration {
        self.silence
    }

    /// Time on the wire of `bytes` characters.
    pub fn transmit(&self, bytes: usize) -> Duration {
        self.char_time.saturating_mul(u32::try_from(bytes).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(d: Duration) -> u128 {
        d.as_micros()
    }

    #[test]
    fn silence_is_three_and_a_half_characters_up_to_19200_baud() {
        let cases = [
            ("9600 8N1: 10 bits a character", LineTiming::serial(9600, 8, false, 1), 3645),
            ("9600 8E1: 11 bits", LineTiming::serial(9600, 8, true, 1), 4010),
            ("9600 8N2: 11 bits", LineTiming::serial(9600, 8, false, 2), 4010),
            ("19200 8E1", LineTiming::serial(19_200, 8, true, 1), 2005),
            ("1200 7E1: 10 bits", LineTiming::serial(1200, 7, true, 1), 29_166),
            ("38400 8N1: fixed 1.75 ms", LineTiming::serial(38_400, 8, false, 1), 1750),
            ("115200 8E1: fixed 1.75 ms", LineTiming::serial(115_200, 8, true, 1), 1750),
            ("over TCP: the minimum", LineTiming::network(), 1750),
        ];
        for (name, timing, want) in cases {
            assert_eq!(micros(timing.silence()), want, "{name}");
        }
    }

    #[test]
    fn transmit_time_counts_whole_characters() {
        let t = LineTiming::serial(9600, 8, true, 1);
        assert_eq!(micros(t.transmit(8)), 9166, "a read request at 9600 8E1");
        assert_eq!(micros(t.transmit(255)), 292_187, "125 registers at 9600 8E1");
        assert_eq!(LineTiming::network().transmit(255), Duration::ZERO);
    }
}
