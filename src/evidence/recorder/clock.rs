//! The two clocks every record carries, and the kernel's boot id.
//!
//! `wall_ms` is Unix time (NTP may step it); `mono_ms` is CLOCK_BOOTTIME, which keeps counting
//! through suspend and restarts only when the OS boots — exactly when the boot id changes.
//! Within one boot id a reviewer can therefore check that wall time moved as much as
//! monotonic time did.

use super::super::record::Stamp;
use crate::model::now_ms;

/// Where Linux publishes the id of the current OS boot.
const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// The kernel's boot id (a UUID), or `unknown` where there is none (not Linux, no /proc).
pub fn boot_id() -> String {
    match std::fs::read_to_string(BOOT_ID_PATH) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
        Ok(_) | Err(_) => "unknown".to_string(),
    }
}

/// CLOCK_BOOTTIME in ms.
pub fn boottime_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec to the pointer it is given, which points to a
    // live, properly aligned local; CLOCK_BOOTTIME is a valid clock id on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
}

/// Both clocks now.
pub fn now() -> Stamp {
    Stamp { wall_ms: now_ms(), mono_ms: boottime_ms() }
}

/// The stamp of an earlier wall time `wall_ms` on the monotonic clock, derived from `now`
/// (interval boundaries are decided on the wall clock and stamped a moment later).
pub fn at_wall(now: Stamp, wall_ms: u64) -> Stamp {
    let back = now.wall_ms.saturating_sub(wall_ms);
    Stamp { wall_ms, mono_ms: now.mono_ms.saturating_sub(back) }
}

/// Smallest wall-clock step the recorder records: below verify's default tolerance (2 s),
/// so every step `verify` would flag is explained by a `clock` record.
pub const STEP_THRESHOLD_MS: i64 = 1000;

/// How often the recorder compares the clocks while it has nothing to write.
pub const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The wall-clock step between `from` and `now`: wall ms elapsed minus monotonic ms elapsed,
/// when it exceeds [`STEP_THRESHOLD_MS`] plus 500 ppm of the monotonic time (drift, not a
/// step).
pub fn step(from: Stamp, now: Stamp) -> Option<i64> {
    let dm =
        i64::try_from(now.mono_ms).unwrap_or(i64::MAX) - i64::try_from(from.mono_ms).unwrap_or(0);
    let dw =
        i64::try_from(now.wall_ms).unwrap_or(i64::MAX) - i64::try_from(from.wall_ms).unwrap_or(0);
    let step = dw.saturating_sub(dm);
    (step.saturating_abs() > STEP_THRESHOLD_MS + dm.max(0) / 2000).then_some(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_told_from_drift() {
        let from = Stamp { wall_ms: 1_000_000, mono_ms: 5_000 };
        let at = |dw: i64, dm: u64| Stamp { wall_ms: (1_000_000 + dw) as u64, mono_ms: 5_000 + dm };
        let cases = [
            ("in step", at(1000, 1000), None),
            ("half a second off", at(1500, 1000), None),
            ("stepped back two minutes", at(-119_000, 1000), Some(-120_000)),
            ("stepped forward ten minutes", at(601_000, 1000), Some(600_000)),
            ("drift over a day stays drift", at(86_400_000 + 20_000, 86_400_000), None),
        ];
        for (case, now, want) in cases {
            assert_eq!(step(from, now), want, "{case}");
        }
    }

    #[test]
    fn boottime_counts_at_least_the_time_slept() {
        let a = now();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let b = now();
        assert!(a.mono_ms > 0, "CLOCK_BOOTTIME is available");
        // A sleep of 30 ms lasts at least that long; ms truncation can lose one.
        assert!(b.mono_ms - a.mono_ms >= 29, "{a:?} -> {b:?}");
        assert!(!boot_id().is_empty());
    }

    #[test]
    fn earlier_wall_time_maps_back_on_the_monotonic_clock() {
        let now = Stamp { wall_ms: 10_500, mono_ms: 700 };
        assert_eq!(at_wall(now, 10_000), Stamp { wall_ms: 10_000, mono_ms: 200 });
        assert_eq!(at_wall(now, 11_000), Stamp { wall_ms: 11_000, mono_ms: 700 }, "not after now");
    }
}
