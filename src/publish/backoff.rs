//! Reconnect delays: exponential with jitter, capped, so a fleet of gateways that lost the
//! same broker does not come back in lock-step.

use std::time::Duration;

/// The longest wait between two connection attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(30);

/// Exponential backoff: attempt n waits a random time in `[d/2, d]` with
/// `d = min(base · 2ⁿ, max)` ("equal jitter"), so the delay grows but never drops to zero.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `base`, never waits longer than `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max: max.max(base), attempt: 0 }
    }

    /// The delay before the next attempt; each call doubles the ceiling up to `max`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// Back to `base` after a connection proved stable.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    fn ceiling(&self) -> Duration {
        // 2^20 · base is far above any sane max already; stop doubling there.
        let factor = 1u32 << self.attempt.min(20);
        self.base.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
