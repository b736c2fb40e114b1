//! Days and times for reviewers: civil dates in a fixed UTC offset (China Standard Time,
//! +08:00, by default), and the time arguments of `export` and `report`. Proleptic Gregorian
//! arithmetic after H. Hinnant's `days_from_civil` / `civil_from_days`; no time zone database
//! is needed for a fixed offset.

use std::fmt;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// A fixed offset from UTC, in minutes (China Standard Time is +480).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcOffset(pub i32);

impl UtcOffset {
    /// China Standard Time, UTC+08:00: the default for Guangdong's reviewers.
    pub const CST: UtcOffset = UtcOffset(8 * 60);

    /// Parses `+08:00`, `-05:30`, `+8`, `Z` or `UTC`.
    pub fn parse(text: &str) -> Result<UtcOffset, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
            return Ok(UtcOffset(0));
        }
        let bad = || format!("{text:?} is not a UTC offset; write e.g. \"+08:00\"");
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return Err(bad()),
        };
        let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
        let h: i32 = h.parse().map_err(|_| bad())?;
        let m: i32 = m.parse().map_err(|_| bad())?;
        if !(0..=14).contains(&h) || !(0..60).contains(&m) {
            return Err(bad());
        }
        Ok(UtcOffset(sign * (h * 60 + m)))
    }

    fn ms(self) -> i64 {
        i64::from(self.0) * 60_000
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { '-' } else { '+' };
        let a = self.0.abs();
        write!(f, "{sign}{:02}:{:02}", a / 60, a % 60)
    }
}

/// A civil date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year.
    pub year: i64,
    /// Month 1–12.
    pub month: u32,
    /// Day 1–31.
    pub day: u32,
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(d: Date) -> i64 {
    let (m, day) = (i64::from(d.month), i64::from(d.day));
    let y = if m <= 2 { d.year - 1 } else { d.year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `z` days after 1970-01-01.
pub fn civil_from_days(z: i64) -> Date {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Date { year, month, day }
}

/// Day number (days since 1970-01-01 in `offset`) of a Unix ms time.
pub fn day_of(ms: u64, offset: UtcOffset) -> i64 {
    (i64::try_from(ms).unwrap_or(i64::MAX) + offset.ms()).div_euclid(DAY_MS)
}

/// Unix ms of the start of day number `day` in `offset`.
pub fn day_start_ms(day: i64, offset: UtcOffset) -> i64 {
    day * DAY_MS - offset.ms()
}

/// Day of the week of day number `day`, Monday = 0.
pub fn weekday(day: i64) -> u32 {
    // 1970-01-01 was a Thursday.
    (day + 3).rem_euclid(7) as u32
}

/// `YYYY-MM-DD HH:MM` of a Unix ms time in `offset`.
pub fn format_ms(ms: u64, offset: UtcOffset) -> String {
    let local = i64::try_from(ms).unwrap_or(i64::MAX) + offset.ms();
    let date = civil_from_days(local.div_euclid(DAY_MS));
    let in_day = local.rem_euclid(DAY_MS) / 1000;
    format!("{date} {:02}:{:02}:{:02}", in_day / 3600, in_day / 60 % 60, in_day % 60)
}

/// A duration in words: `3 d 4 h`, `2 h 5 min`, `40 s`, `548 ms`.
pub fn format_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms} ms"),
        1..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h {} min", s / 3600, s / 60 % 60),
        _ => format!("{} d {} h", s / 86_400, s / 3600 % 24),
    }
}

/// Parses a time argument: Unix ms (`1767225600000`), a date (`2026-01-01`, midnight in
/// `offset`), or a date and time (`2026-01-01T08:00:00`, `2026-01-01 08:00`), in `offset`
/// unless it ends in `Z` or an explicit `+hh:mm` / `-hh:mm`.
pub fn parse_time(text: &str, offset: UtcOffset) -> Result<u64, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "{text:?} is not a time; write 2026-01-31, 2026-01-31T08:00:00, \
             2026-01-31T08:00:00+08:00 or Unix ms"
        )
    };
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && t.len() > 8 {
        return t.parse().map_err(|_| bad());
    }
    let (body, zone) = split_zone(t);
    let zone = match zone {
        Some(z) => UtcOffset::parse(z).map_err(|_| bad())?,
        None => offset,
    };
    let (date, time) = match body.split_once(['T', ' ']) {
        Some((d, tm)) => (d, tm),
        None => (body, "00:00:00"),
    };
    let mut parts = date.splitn(3, '-');
    let mut num = |max: i64| -> Result<i64, String> {
        let v: i64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if (1..=max).contains(&v) {
            Ok(v)
        } else {
            Err(bad())
        }
    };
    let (y, m, d) = (num(9999)?, num(12)?, num(31)?);
    let mut hms = time.split(':');
    let mut field = |max: i64| -> Result<i64, String> {
        match hms.next() {
            None => Ok(0),
            Some(v) => {
                let v: f64 = v.parse().map_err(|_| bad())?;
                if (0.0..max as f64).contains(&v) {
                    Ok(v as i64)
                } else {
                    Err(bad())
                }
            }
        }
    };
    let (h, mi, s) = (field(24)?, field(60)?, field(61)?);
    let day = days_from_civil(Date { year: y, month: m as u32, day: d as u32 });
    let ms = day * DAY_MS + ((h * 60 + mi) * 60 + s) * 1000 - zone.ms();
    u64::try_from(ms).map_err(|_| bad())
}

/// Splits a trailing `Z` or `±hh:mm` off a date-time.
fn split_zone(t: &str) -> (&str, Option<&str>) {
    if let Some(b) = t.strip_suffix(['Z', 'z']) {
        return (b, Some("Z"));
    }
    // An offset sign after the time part (the date's own '-' come before 'T' or ' ').
    if let Some(tpos) = t.find(['T', ' ']) {
        if let Some(p) = t[tpos..].rfind(['+', '-']) {
            return (&t[..tpos + p], Some(&t[tpos + p..]));
        }
    }
    (t, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip_known_days() {
        let cases = [
            ("epoch", 0, Date { year: 1970, month: 1, day: 1 }),
            ("leap day", 11_016, Date { year: 2000, month: 2, day: 29 }),
            ("2026 new year", 20_454, Date { year: 2026, month: 1, day: 1 }),
            ("before the epoch", -1, Date { year: 1969, month: 12, day: 31 }),
        ];
        for (case, z, date) in cases {
            assert_eq!(civil_from_days(z), date, "{case}");
            assert_eq!(days_from_civil(date), z, "{case}");
        }
        assert_eq!(weekday(20_454), 3, "2026-01-01 is a Thursday");
    }

    #[test]
    fn days_follow_the_offset() {
        // 2026-01-01T00:00:00Z is 08:00 in Guangdong; 2025-12-31T16:00:00Z is midnight there.
        let ms = 1_767_225_600_000;
        assert_eq!(day_of(ms, UtcOffset(0)), 20_454);
        assert_eq!(day_of(ms - 8 * 3_600_000, UtcOffset::CST), 20_454);
        assert_eq!(day_of(ms - 8 * 3_600_000 - 1, UtcOffset::CST), 20_453);
        assert_eq!(format_ms(ms, UtcOffset::CST), "2026-01-01 08:00:00");
        assert_eq!(day_start_ms(20_454, UtcOffset::CST), ms as i64 - 8 * 3_600_000);
    }

    #[test]
    fn time_arguments() {
        let ms = 1_767_225_600_000u64; // 2026-01-01T00:00:00Z
        let cst = UtcOffset::CST;
        let cases = [
            ("unix ms", "1767225600000", Ok(ms)),
            ("date at local midnight", "2026-01-01", Ok(ms - 8 * 3_600_000)),
            ("local date-time", "2026-01-01T08:00:00", Ok(ms)),
            ("space and minutes only", "2026-01-01 08:00", Ok(ms)),
            ("zulu", "2026-01-01T00:00:00Z", Ok(ms)),
            ("explicit offset", "2026-01-01T03:00:00+03:00", Ok(ms)),
            ("negative offset", "2025-12-31T19:00:00-05:00", Ok(ms)),
        ];
        for (case, text, want) in cases {
            assert_eq!(parse_time(text, cst), want, "{case}");
        }
        for bad in ["yesterday", "2026-13-01", "2026-01-01T25:00", ""] {
            assert!(parse_time(bad, cst).is_err(), "{bad:?}");
        }
        assert_eq!(UtcOffset::parse("+08:00"), Ok(UtcOffset::CST));
        assert_eq!(UtcOffset::parse("-05:30"), Ok(UtcOffset(-330)));
        assert_eq!(UtcOffset(-330).to_string(), "-05:30");
        assert!(UtcOffset::parse("8").is_err());
        assert_eq!(format_duration(90_000), "90 s");
        assert_eq!(format_duration(548), "548 ms");
        assert_eq!(format_duration(3 * 86_400_000 + 4 * 3_600_000), "3 d 4 h");
    }
}
