//! `edgeproof scan`: which unit ids answer, and which addresses of each area they let us
//! read — using read function codes only (01-04), one request at a time with a pause between
//! requests, so a scan never writes and never floods a bus.
//!
//! A unit is **present** when it answers with data or with an exception only a live unit
//! gives (see [`find_unit`]).
//!
//! Readable ranges are found by bisection (Modbus Application Protocol §7: exception 02
//! ILLEGAL DATA ADDRESS, 03 ILLEGAL DATA VALUE, which some devices give for a count running
//! into a hole; 04 from devices that fail on unmapped registers): a block is read whole; if
//! refused, its halves are tried, down to single registers. Exception 01 ILLEGAL FUNCTION
//! means the unit has no such area. A timeout or a lost connection ends the area's scan (and
//! is reported): a unit that stops answering is not asked thousands of times.

use std::time::Duration;

use crate::source::modbus::{Area, ModbusLink, TransportError};

/// The outcome of one request, as far as a scan cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Data came back.
    Data,
    /// A Modbus exception with this code.
    Exception(u8),
    /// No answer within the timeout.
    Silent,
    /// The link failed (connection refused or lost, no such serial port): the message.
    Failed(String),
}

impl Answer {
    fn of<T>(result: &Result<T, TransportError>) -> Answer {
        match result {
            Ok(_) => Answer::Data,
            Err(TransportError::Exception { code, .. }) => Answer::Exception(*code),
            Err(TransportError::Timeout { .. }) => Answer::Silent,
            Err(e) => Answer::Failed(e.to_string()),
        }
    }
}

/// Exceptions that do not show a unit is there: a TCP gateway's "no such unit" (Modbus
/// Application Protocol §7: 0A gateway path unavailable, 0B target failed to respond), and 04
/// server device failure, which some gateways (pymodbus among them) give for every unknown id.
const NOT_A_UNIT: [u8; 3] = [0x04, 0x0A, 0x0B];

/// Whether `unit`'s link reaches a live unit: it is asked for address 0 of each area in turn
/// (holding, input, coil, discrete) until it answers with data or an exception a live unit
/// gives (01 no such function, 02 no such address, 03). Silence ends the asking at once (an
/// absent unit on a bus costs one timeout). Returns the answer that decided.
pub async fn find_unit<L: ModbusLink>(link: &mut L, gap: Duration) -> (bool, Answer) {
    let mut last = Answer::Silent;
    for area in [Area::Holding, Area::Input, Area::Coil, Area::Discrete] {
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        last = Answer::of(&link.read(area, 0, 1).await);
        match &last {
            Answer::Data => return (true, last),
            Answer::Exception(code) if !NOT_A_UNIT.contains(code) => return (true, last),
            Answer::Exception(_) => {}
            Answer::Silent | Answer::Failed(_) => return (false, last),
        }
    }
    (false, last)
}

/// What a scan of one area of one unit found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AreaScan {
    /// Readable ranges `(start, count)`, ascending and merged.
    pub ranges: Vec<(u16, u32)>,
    /// The unit said it has no such area (exception 01).
    pub unsupported: bool,
    /// Requests sent.
    pub requests: usize,
    /// Why the scan stopped early (a timeout, a lost link, the request budget).
    pub stopped: Option<String>,
}

impl AreaScan {
    /// Addresses found readable.
    pub fn readable(&self) -> u64 {
        self.ranges.iter().map(|(_, c)| u64::from(*c)).sum()
    }
}

/// Limits of one area scan.
#[derive(Debug, Clone, Copy)]
pub struct ScanLimits {
    /// Pause before every request (the rate limit).
    pub gap: Duration,
    /// Most requests for the area.
    pub max_requests: usize,
    /// A refused block is sampled with single reads this far apart. 1 is exact, and costs one
    /// request per unreadable address (a refused read only says *some* address in it is bad,
    /// so proving a stretch empty takes one read per address). With 4, a readable stretch
    /// shorter than 4 that falls between two samples is missed. Coils and discrete inputs
    /// are sampled four times as far apart.
    pub stride: u32,
}

/// Finds the readable ranges of `area` within `start .. start + count`.
///
/// Each protocol block (125 registers, 2000 bits) is read whole. A refused block is sampled
/// with single reads `stride` apart; from each sample that reads, the readable stretch around
/// it is grown: its start by bisecting back to the last refused address, its end by reading
/// ever longer runs (doubling) and bisecting the last step. So a stretch costs a few requests
/// whatever its length, and an empty block `block / stride`.
pub async fn scan_area<L: ModbusLink>(
    link: &mut L,
    area: Area,
    start: u16,
    count: u32,
    limits: ScanLimits,
) -> AreaScan {
    let block = if area.is_bits() { 2000u32 } else { 125 };
    let end = (u32::from(start) + count).min(65536);
    // Bit areas are mapped in longer stretches (a byte or word of bits at a time).
    let stride = limits.stride.max(1) * if area.is_bits() { 4 } else { 1 };
    let mut s = Scanner { link, area, limits, scan: AreaScan::default() };
    let mut from = u32::from(start);
    'blocks: while from < end {
        let n = block.min(end - from);
        match s.ask(from, n).await {
            Err(()) => break,
            Ok(true) => {
                add_range(&mut s.scan.ranges, from as u16, n);
                from += n;
                continue;
            }
            Ok(false) => {}
        }
        // Sample the refused block. Below `refused_below`, every address not in a range is
        // known (or, between samples, taken) to be unreadable.
        let block_end = from + n;
        let mut refused_below = from;
        let mut p = from;
        while p < block_end {
            let Ok(readable) = s.ask(p, 1).await else { break 'blocks };
            if !readable {
                refused_below = p + 1;
                p += stride;
                continue;
            }
            let Ok(lo) = s.first_readable(refused_below, p).await else { break 'blocks };
            let Ok(hi) = s.end_of_stretch(p, end).await else { break 'blocks };
            add_range(&mut s.scan.ranges, lo as u16, hi - lo);
            // `hi` is refused (or the end): sample again just past it.
            refused_below = hi + 1;
            p = hi + 1;
        }
        from = p.max(block_end);
    }
    s.scan
}

/// One area scan in progress: the requests it made and what it found.
struct Scanner<'a, L> {
    link: &'a mut L,
    area: Area,
    limits: ScanLimits,
    scan: AreaScan,
}

impl<L: ModbusLink> Scanner<'_, L> {
    /// Reads `n` at `from`: `Ok(true)` data, `Ok(false)` refused (exception 02-04), `Err` the
    /// scan of this area is over (the reason noted in the scan).
    async fn ask(&mut self, from: u32, n: u32) -> Result<bool, ()> {
        if self.scan.requests >= self.limits.max_requests {
            self.scan.stopped =
                Some(format!("stopped after {} requests (--max-requests)", self.scan.requests));
            return Err(());
        }
        if !self.limits.gap.is_zero() {
            tokio::time::sleep(self.limits.gap).await;
        }
        self.scan.requests += 1;
        match Answer::of(&self.link.read(self.area, from as u16, n as u16).await) {
            Answer::Data => Ok(true),
            Answer::Exception(2..=4) => Ok(false),
            Answer::Exception(1) => {
                self.scan.unsupported = true;
                Err(())
            }
            Answer::Exception(code) => {
                self.scan.stopped = Some(format!("exception {code:02} at {from}+{n}"));
                Err(())
            }
            Answer::Silent => {
                self.scan.stopped = Some(format!("no answer to a read of {n} at {from}"));
                Err(())
            }
            Answer::Failed(e) => {
                self.scan.stopped = Some(e);
                Err(())
            }
        }
    }

    /// The first address of the readable stretch holding `p`: the smallest `a` in
    /// `lo_bound..=p` with `a..=p` readable.
    async fn first_readable(&mut self, lo_bound: u32, p: u32) -> Result<u32, ()> {
        let (mut lo, mut hi) = (lo_bound, p); // the answer is in lo..=hi; hi reads
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.ask(mid, p + 1 - mid).await? {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(hi)
    }

    /// One past the last address of the readable stretch starting at readable `p`, at most
    /// `end`.
    async fn end_of_stretch(&mut self, p: u32, end: u32) -> Result<u32, ()> {
        let max = if self.area.is_bits() { 2000 } else { 125 };
        let mut start = p; // start..good reads
        let mut good = p + 1;
        while good < end {
            let want = ((good - start) * 2).min(max).min(end - start);
            if start + want <= good {
                // A whole request's worth reads: go on from near its end.
                start = good - 1;
                continue;
            }
            if self.ask(start, want).await? {
                good = start + want;
                continue;
            }
            // start..good reads, start..start+want does not: bisect the end in between.
            let (mut lo, mut hi) = (good, start + want - 1); // the end is in lo..=hi
            while lo < hi {
                let mid = lo + (hi - lo).div_ceil(2);
                if self.ask(start, mid - start).await? {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            return Ok(lo);
        }
        Ok(end)
    }
}

/// Adds `(from, n)`, merging it with the last range when they touch or overlap (ranges are
/// found in ascending order).
fn add_range(ranges: &mut Vec<(u16, u32)>, from: u16, n: u32) {
    if n == 0 {
        return;
    }
    if let Some(last) = ranges.last_mut() {
        let last_end = u32::from(last.0) + last.1;
        if last_end >= u32::from(from) {
            last.1 = last_end.max(u32::from(from) + n) - u32::from(last.0);
            return;
        }
    }
    ranges.push((from, n));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::modbus::{DeviceIdentity, RawRead};
    use std::sync::Arc;

    /// A unit whose readable addresses are `map`; refuses any read touching another with
    /// `exception`.
    struct Planted {
        readable: Vec<(u32, u32)>,
        exception: u8,
        requests: usize,
    }

    impl ModbusLink for Planted {
        fn read(
            &mut self,
            _area: Area,
            start: u16,
            count: u16,
        ) -> impl std::future::Future<Output = Result<RawRead, TransportError>> + Send {
            self.requests += 1;
            let (s, e) = (u32::from(start), u32::from(start) + u32::from(count));
            let ok = self.readable.iter().any(|(a, n)| s >= *a && e <= a + n);
            let code = self.exception;
            async move {
                if ok {
                    Ok(RawRead::Registers(vec![0; usize::from(count)]))
                } else {
                    Err(TransportError::Exception {
                        device: Arc::from("d"),
                        address: "a".into(),
                        code,
                    })
                }
            }
        }
        fn is_connected(&self) -> bool {
            true
        }
        fn identity(&self) -> Option<&DeviceIdentity> {
            None
        }
        fn address(&self) -> &str {
            "planted"
        }
    }

    fn scan(readable: &[(u32, u32)], exception: u8, start: u16, count: u32) -> AreaScan {
        scan_with(readable, exception, start, count, 1)
    }

    fn scan_with(
        readable: &[(u32, u32)],
        exception: u8,
        start: u16,
        count: u32,
        stride: u32,
    ) -> AreaScan {
        let mut link = Planted { readable: readable.to_vec(), exception, requests: 0 };
        let limits = ScanLimits { gap: Duration::ZERO, max_requests: 10_000, stride };
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(scan_area(
            &mut link,
            Area::Holding,
            start,
            count,
            limits,
        ))
    }

    #[test]
    fn bisection_finds_planted_ranges_and_holes() {
        /// Case, planted readable stretches, the exception for the rest, scanned range, found.
        type Case<'a> = (&'a str, &'a [(u32, u32)], u8, u16, u32, &'a [(u16, u32)]);
        let cases: &[Case] = &[
            ("all readable", &[(0, 1000)], 2, 0, 300, &[(0, 300)]),
            ("nothing readable", &[], 2, 0, 300, &[]),
            ("two islands", &[(0, 20), (100, 10)], 2, 0, 200, &[(0, 20), (100, 10)]),
            ("one hole in a block", &[(0, 40), (41, 59)], 3, 0, 100, &[(0, 40), (41, 59)]),
            ("single registers", &[(7, 1), (9, 1)], 4, 0, 16, &[(7, 1), (9, 1)]),
            ("offset start", &[(1000, 30)], 2, 990, 100, &[(1000, 30)]),
            ("across block boundary", &[(120, 10)], 2, 0, 250, &[(120, 10)]),
            ("top of the address space", &[(65530, 6)], 2, 65500, 36, &[(65530, 6)]),
        ];
        for (case, readable, exception, start, count, want) in cases {
            let got = scan(readable, *exception, *start, *count);
            assert_eq!(got.ranges, *want, "{case}");
            assert_eq!(got.stopped, None, "{case}");
        }
    }

    #[test]
    fn sampling_finds_stretches_as_long_as_the_stride_for_a_fraction_of_the_requests() {
        let readable = [(0, 10), (20, 8), (300, 40), (1001, 9)];
        let exact = scan_with(&readable, 2, 0, 2000, 1);
        let sampled = scan_with(&readable, 2, 0, 2000, 8);
        assert_eq!(exact.ranges, vec![(0, 10), (20, 8), (300, 40), (1001, 9)]);
        assert_eq!(sampled.ranges, exact.ranges);
        assert!(
            sampled.requests * 2 < exact.requests,
            "{} vs {}",
            sampled.requests,
            exact.requests
        );
        let empty = scan_with(&[], 2, 0, 2000, 8);
        assert_eq!(
            (empty.ranges.len(), empty.requests),
            (0, 16 + 2000 / 8),
            "one read per block and a sample every 8: {empty:?}"
        );
    }

    #[test]
    fn exception_01_means_no_such_area_and_other_codes_stop() {
        let got = scan(&[], 1, 0, 500);
        assert!(got.unsupported && got.requests == 1, "{got:?}");
        let got = scan(&[], 6, 0, 500);
        assert!(got.stopped.as_deref().is_some_and(|s| s.contains("exception 06")), "{got:?}");
    }

    #[test]
    fn units_behind_a_gateway_that_says_no_such_unit_are_absent() {
        let found = |readable: &[(u32, u32)], exception: u8| {
            let mut link = Planted { readable: readable.to_vec(), exception, requests: 0 };
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (present, _) = rt.block_on(find_unit(&mut link, Duration::ZERO));
            (present, link.requests)
        };
        assert_eq!(found(&[(0, 1)], 2), (true, 1));
        assert_eq!(found(&[], 2), (true, 1), "an exception 02 comes from a live unit");
        assert_eq!(found(&[], 0x0B), (false, 4), "a gateway's no-such-unit, for every area");
        assert_eq!(found(&[], 4), (false, 4));
    }
}
