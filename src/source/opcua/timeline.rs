//! Per-point ordering rules. A point's samples leave the source in time order, each at most
//! once, whatever the server re-sends after a reconnect.
//!
//! - A subscribed value re-delivered unchanged (same value, same source timestamp) with no
//!   bad sample in between is a duplicate: dropped.
//! - A value whose source timestamp is not newer than the point's last sample (an unchanged
//!   value reported again after a reconnect, or read again by a poll) is still the current
//!   value: it is kept, stamped with the time it was received.
//! - A gap is a bad sample (`disconnected`) at the time the link was lost, never the last
//!   value repeated.

use crate::model::Value;

/// What to do with one arriving sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Emit it with this timestamp (Unix ms).
    Emit(u64),
    /// Drop it: a duplicate.
    Skip,
}

/// The last sample of one point.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    last_ts: Option<u64>,
    last_good: Option<(Option<u64>, Value)>,
    bad_since_good: bool,
}

impl Timeline {
    /// Decides on a sample that arrived at `received` (Unix ms) with `source_ts` and, when
    /// good, `value`. `dedupe` drops exact re-deliveries (subscriptions; a poll reads the
    /// current value on purpose every cycle).
    pub fn admit(
        &mut self,
        source_ts: Option<u64>,
        received: u64,
        value: Option<&Value>,
        dedupe: bool,
    ) -> Verdict {
        if let (Some(v), Some((last_src, last_v))) = (value, &self.last_good) {
            if dedupe && !self.bad_since_good && *last_src == source_ts && last_v == v {
                return Verdict::Skip;
            }
        }
        let mut ts = source_ts.unwrap_or(received);
        if let Some(last) = self.last_ts {
            if ts <= last {
                ts = received.max(last + 1);
            }
        }
        self.last_ts = Some(ts);
        match value {
            Some(v) => {
                self.last_good = Some((source_ts, v.clone()));
                self.bad_since_good = false;
            }
            None => self.bad_since_good = true,
        }
        Verdict::Emit(ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_rules() {
        let v = |x: i64| Value::Int(x);
        // (name, steps of (source_ts, received, value, dedupe), expected verdicts)
        type Step = (Option<u64>, u64, Option<Value>, bool);
        let cases: Vec<(&str, Vec<Step>, Vec<Verdict>)> = vec![
            (
                "source timestamps are kept",
                vec![(Some(100), 150, Some(v(1)), true), (Some(200), 250, Some(v(2)), true)],
                vec![Verdict::Emit(100), Verdict::Emit(200)],
            ),
            (
                "a re-delivered notification is dropped",
                vec![(Some(100), 150, Some(v(1)), true), (Some(100), 400, Some(v(1)), true)],
                vec![Verdict::Emit(100), Verdict::Skip],
            ),
            (
                "after a gap the unchanged value comes back stamped when received",
                vec![
                    (Some(100), 150, Some(v(1)), true),
                    (None, 300, None, true),
                    (Some(100), 900, Some(v(1)), true),
                ],
                vec![Verdict::Emit(100), Verdict::Emit(300), Verdict::Emit(900)],
            ),
            (
                "a poll of an unchanged value is a new sample at read time",
                vec![(Some(100), 150, Some(v(1)), false), (Some(100), 1150, Some(v(1)), false)],
                vec![Verdict::Emit(100), Verdict::Emit(1150)],
            ),
            (
                "a value without source timestamp takes the receive time",
                vec![(None, 500, Some(v(3)), true)],
                vec![Verdict::Emit(500)],
            ),
            (
                "never goes back in time even when the clock does",
                vec![(Some(1000), 1000, Some(v(1)), true), (Some(900), 950, Some(v(2)), true)],
                vec![Verdict::Emit(1000), Verdict::Emit(1001)],
            ),
        ];
        for (name, steps, want) in cases {
            let mut t = Timeline::default();
            let got: Vec<Verdict> =
                steps.iter().map(|(s, r, val, d)| t.admit(*s, *r, val.as_ref(), *d)).collect();
            assert_eq!(got, want, "{name}");
        }
    }
}
