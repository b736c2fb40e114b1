//! Retry delays for every stage that reconnects — the MQTT publisher, Modbus TCP devices,
//! RTU units, OPC UA sessions, witness submissions: exponential, capped, with jitter, so a
//! fleet of gateways (or a gateway's devices) that lost the same peer does not come back in
//! lock-step. One policy type, [`BackoffPolicy`], and one stateful counter, [`Backoff`].

use std::time::Duration;

/// The longest wait between two MQTT connection attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(30);

/// Where in the band below the ceiling a delay falls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jitter {
    /// Uniform in `[0, ceiling]` ("full jitter"): spreads retries the most; a delay may be 0.
    Full,
    /// Uniform in `[ceiling/2, ceiling]` ("equal jitter"): grows, never drops to zero.
    Equal,
    /// Uniform in `ceiling · [1 − f, 1 + f]`, e.g. `0.2` for ±20 %.
    Around(f64),
}

/// Failure *n* (1-based) waits about `min(base · 2ⁿ⁻¹, max)`, jittered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    base: Duration,
    max: Duration,
    jitter: Jitter,
}

impl BackoffPolicy {
    /// Starts at `base`, ceilings never above `max` (raised to `base` if below it).
    pub const fn new(base: Duration, max: Duration, jitter: Jitter) -> Self {
        let max = if max.as_nanos() < base.as_nanos() { base } else { max };
        BackoffPolicy { base, max, jitter }
    }

    /// The ceiling before jitter for failure `failures` (1-based; 0 counts as 1).
    pub fn ceiling(&self, failures: u32) -> Duration {
        // 2^20 · base is far above any sane max already; stop doubling there.
        let exp = failures.saturating_sub(1).min(20);
        self.base.saturating_mul(1 << exp).min(self.max)
    }

    /// The delay for failure `failures` at `unit`, a number in `[0, 1]` (the pure core).
    pub fn delay_at(&self, failures: u32, unit: f64) -> Duration {
        let ceiling = self.ceiling(failures);
        let unit = unit.clamp(0.0, 1.0);
        match self.jitter {
            Jitter::Full => ceiling.mul_f64(unit),
            Jitter::Equal => {
                let half = ceiling / 2;
                half + half.mul_f64(unit)
            }
            Jitter::Around(f) => ceiling.mul_f64((1.0 - f) + 2.0 * f * unit),
        }
    }

    /// The delay for failure `failures`, at a random point of its band.
    pub fn delay(&self, failures: u32) -> Duration {
        self.delay_at(failures, fastrand::f64())
    }
}

/// Counts failures for one connection and hands out the next delay.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    failures: u32,
}

impl Backoff {
    /// Equal jitter from `base` up to `max`: the publisher's and the witness client's policy.
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff::with_policy(BackoffPolicy::new(base, max, Jitter::Equal))
    }

    /// Any policy.
    pub fn with_policy(policy: BackoffPolicy) -> Self {
        Backoff { policy, failures: 0 }
    }

    /// The delay before the next attempt; each call doubles the ceiling up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.policy.delay(self.failures)
    }

    /// Back to `base` after a connection proved stable.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_jitter_stays_in_its_band() {
        let base = Duration::from_millis(100);
        let cases = [
            ("full, bottom", Jitter::Full, 1, 0.0, Duration::ZERO),
            ("full, top", Jitter::Full, 1, 1.0, base),
            ("equal, bottom", Jitter::Equal, 2, 0.0, base),
            ("equal, top", Jitter::Equal, 2, 1.0, base * 2),
            ("around, bottom", Jitter::Around(0.2), 3, 0.0, Duration::from_millis(320)),
            ("around, top", Jitter::Around(0.2), 3, 1.0, Duration::from_millis(480)),
            ("capped", Jitter::Full, 40, 1.0, Duration::from_secs(1)),
            ("no overflow", Jitter::Full, u32::MAX, 1.0, Duration::from_secs(1)),
        ];
        for (name, jitter, failures, unit, want) in cases {
            let p = BackoffPolicy::new(base, Duration::from_secs(1), jitter);
            assert_eq!(p.delay_at(failures, unit), want, "{name}");
        }
    }

    #[test]
    fn delays_grow_stay_in_band_and_cap() {
        let base = Duration::from_millis(500);
        let mut b = Backoff::new(base, MAX_DELAY);
        let ceilings_ms = [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000];
        for (n, ceiling) in ceilings_ms.iter().enumerate() {
            let d = b.next_delay();
            let ceiling = Duration::from_millis(*ceiling);
            assert!(
                d >= ceiling / 2 && d <= ceiling,
                "attempt {n}: {d:?} not in [{:?}, {ceiling:?}]",
                ceiling / 2
            );
        }
        for _ in 0..100 {
            assert!(b.next_delay() <= MAX_DELAY, "never above the cap, however many attempts");
        }
    }

    #[test]
    fn reset_goes_back_to_base() {
        let base = Duration::from_millis(100);
        let mut b = Backoff::new(base, MAX_DELAY);
        for _ in 0..10 {
            b.next_delay();
        }
        b.reset();
        assert!(b.next_delay() <= base);
    }

    #[test]
    fn max_below_base_is_raised_to_base() {
        let mut b = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        let d = b.next_delay();
        assert!(d >= Duration::from_secs(1) && d <= Duration::from_secs(2));
    }
}
