//! Check 5, **time**: within one kernel boot id, wall-clock deltas track CLOCK_BOOTTIME
//! deltas (slack: `time_tolerance_ms` plus `drift_ppm` of the monotonic delta); every
//! `clock` record's claimed step is what the two clocks show; the start counter strictly
//! increases and each start opens with a `boot` record whose claims match the log; no record
//! is later than a trusted cosignature covering it.
//!
//! A `clock` record explains the step between the record before it and itself. One
//! exception: the agent checks the clocks at start against the last record of the same boot
//! and, when they disagree, writes the `clock` record right after the run's `boot` record
//! (record 1 of the run); its step is then the jump between the previous run's last record
//! and the `boot` record. So a jump at a `boot` record waits for the next record before it
//! is reported.

use super::checkpoints::Positions;
use super::witness::Witnessed;
use super::{CheckName, Run};
use crate::record::{Body, PreviousRun, RecordType, SignedRecord};

/// The wall-clock jump at a `boot` record, within the same kernel boot as the record before
/// it, kept for the `clock` record the agent may write right after it.
pub(super) struct StartStep {
    /// The boot record.
    seq: u64,
    /// The record before it.
    prev_seq: u64,
    /// Its run.
    n: u64,
    /// Wall minus monotonic delta, ms.
    jump: i128,
    dw: i128,
    dm: i128,
    slack: i128,
    /// Beyond the slack: a failure unless a `clock` record explains it.
    unexplained: bool,
}

impl Run<'_> {
    /// Reports a start jump no `clock` record explained.
    pub(super) fn flush_start_step(&mut self) {
        if let Some(s) = self.start_step.take().filter(|s| s.unexplained) {
            self.f.seq(
                CheckName::Time,
                s.seq,
                format!(
                    "wall clock moved {} ms but the monotonic clock {} ms since seq {} (same \
                     boot): a {} ms jump that no clock record explains",
                    s.dw, s.dm, s.prev_seq, s.jump
                ),
            );
        }
    }

    /// Check 5 between this record and the one before it.
    pub(super) fn time(&mut self, sr: &SignedRecord) {
        use CheckName::Time;
        let r = &sr.record;
        let claimed = match &r.body {
            Body::Clock(c) => Some(i128::from(c.step_ms)),
            _ => None,
        };
        // A clock record right after a boot record may explain the jump at the start.
        if let Some(s) = self.start_step.take() {
            match claimed {
                Some(step) if r.boot.n == s.n && r.boot.rec == 1 => {
                    if (step - s.jump).abs() <= s.slack {
                        self.f.note(
                            Time,
                            format!(
                                "seq {}: the wall clock was stepped {step} ms between seq {} and \
                                 the start at seq {} (recorded by the agent at start in a clock \
                                 record)",
                                r.seq, s.prev_seq, s.seq
                            ),
                        );
                        self.check_clock_deltas(sr, None);
                        return self.time_runs(sr);
                    }
                    self.start_step = Some(s);
                    self.flush_start_step();
                }
                _ => {
                    self.start_step = Some(s);
                    self.flush_start_step();
                }
            }
        }
        self.check_clock_deltas(sr, claimed);
        self.time_runs(sr);
    }

    /// Wall against monotonic deltas since the record before, and a `clock` record's claim.
    fn check_clock_deltas(&mut self, sr: &SignedRecord, claimed: Option<i128>) {
        use CheckName::Time;
        let r = &sr.record;
        let Some(p) = &self.prev else { return };
        let seq = r.seq;
        if r.boot.id != p.boot_id {
            if let Some(step) = claimed {
                self.f.seq(
                    Time,
                    seq,
                    format!(
                        "a clock record claims a {step} ms step since seq {}, which ran in \
                         another kernel boot: no such step can be measured",
                        p.seq
                    ),
                );
            }
            return;
        }
        let dm = i128::from(r.t.mono_ms) - i128::from(p.mono_ms);
        let dw = i128::from(r.t.wall_ms) - i128::from(p.wall_ms);
        if dm < 0 {
            self.f.seq(Time, seq, format!("monotonic clock went back {} ms within one boot", -dm));
            return;
        }
        let slack = i128::from(self.opts.time_tolerance_ms)
            + dm * i128::from(self.opts.drift_ppm) / 1_000_000;
        let jump = dw - dm;
        match claimed {
            Some(step) if (jump - step).abs() <= slack => {
                // A step the agent saw and recorded: an anomaly to report, not tampering.
                self.f.note(
                    Time,
                    format!(
                        "seq {seq}: the wall clock was stepped {step} ms since seq {} (recorded \
                         by the agent in a clock record)",
                        p.seq
                    ),
                );
            }
            Some(step) => self.f.seq(
                Time,
                seq,
                format!(
                    "a clock record claims a {step} ms step since seq {}, but the wall clock moved \
                     {dw} ms and the monotonic clock {dm} ms: a {jump} ms step, not {step}",
                    p.seq
                ),
            ),
            None if matches!(r.body, Body::Boot(_)) && r.boot.n > p.n => {
                // The agent may explain it in the clock record it writes at start (it records
                // steps from 1 s on, below this slack, so keep small jumps too).
                let unexplained = jump.abs() > slack;
                self.start_step = Some(StartStep {
                    seq,
                    prev_seq: p.seq,
                    n: r.boot.n,
                    jump,
                    dw,
                    dm,
                    slack,
                    unexplained,
                });
            }
            None if jump.abs() <= slack => {}
            None => self.f.seq(
                Time,
                seq,
                format!(
                    "wall clock moved {dw} ms but the monotonic clock {dm} ms since seq {} \
                     (same boot): a {jump} ms jump",
                    p.seq
                ),
            ),
        }
    }

    /// Runs: start counter, record numbers, boot records.
    fn time_runs(&mut self, sr: &SignedRecord) {
        use CheckName::Time;
        let r = &sr.record;
        let Some(p) = &self.prev else {
            if r.boot.rec != 0 {
                self.f.seq(Time, r.seq, "the first record is not record 0 of its run");
            }
            return;
        };
        let seq = r.seq;
        if r.boot.n == p.n {
            if r.boot.id != p.boot_id {
                self.f.seq(Time, seq, "kernel boot id changed but the start counter did not");
            }
            // Across missing records (check 2's finding) the numbers skip by the gap.
            let missing = seq.saturating_sub(p.seq).saturating_sub(1);
            if r.boot.rec != p.rec.saturating_add(1).saturating_add(missing) {
                self.f.seq(
                    Time,
                    seq,
                    format!("record {} of its run follows record {}", r.boot.rec, p.rec),
                );
            }
            if matches!(r.body, Body::Boot(_)) && p.typ != RecordType::Enroll {
                self.f.seq(Time, seq, "a boot record in the middle of a run");
            }
        } else if r.boot.n < p.n {
            self.f.seq(Time, seq, format!("start counter went back from {} to {}", p.n, r.boot.n));
        } else {
            if r.boot.rec != 0 || !matches!(r.body, Body::Boot(_)) {
                self.f.seq(Time, seq, "a new run does not open with a boot record (record 0)");
            }
            if r.t.wall_ms < p.wall_ms {
                self.f.note(
                    Time,
                    format!(
                        "seq {seq}: the wall clock at this start is {} ms behind the last record \
                         before it (clock reset at power-on?)",
                        p.wall_ms - r.t.wall_ms
                    ),
                );
            }
        }
        if let Body::Boot(b) = &r.body {
            if p.seq.checked_add(1) == Some(seq)
                && (b.last_seq != p.seq || b.last_wall_ms != p.wall_ms)
            {
                self.f.seq(
                    Time,
                    seq,
                    "the boot record's last_seq/last_wall_ms do not match the record before it",
                );
            }
            let want = match p.typ {
                RecordType::Enroll => PreviousRun::None,
                RecordType::Shutdown => PreviousRun::Clean,
                _ => PreviousRun::Unclean,
            };
            if b.previous != want {
                self.f.seq(
                    Time,
                    seq,
                    format!(
                        "the boot record says the previous run ended {}, the log shows {}",
                        wording(b.previous),
                        wording(want)
                    ),
                );
            }
        }
    }

    /// Check 5, second half: no record later than a cosignature covering it.
    pub(super) fn check_cosignature_times(&mut self, witnessed: &[Witnessed], pos: &Positions) {
        // Prefix maxima of wall times: the latest record within [0, i].
        let walls = &pos.walls;
        let mut prefix_max = Vec::with_capacity(walls.len());
        let mut m = 0u64;
        for w in walls {
            m = m.max(*w);
            prefix_max.push(m);
        }
        let mut reported = 0;
        for w in witnessed {
            let covered = w.size.min(prefix_max.len() as u64);
            if covered == 0 {
                continue;
            }
            let limit = w.timestamp.saturating_mul(1000).saturating_add(self.opts.witness_skew_ms);
            if prefix_max[covered as usize - 1] > limit && reported < 10 {
                reported += 1;
                let first = walls[..covered as usize].iter().position(|x| *x > limit).unwrap_or(0);
                self.f.range(
                    CheckName::Time,
                    first as u64,
                    covered - 1,
                    format!(
                        "records dated after {}'s cosignature at {} s that already covers them \
                         (size {}): backdated or forged",
                        w.witness, w.timestamp, w.size
                    ),
                );
            }
        }
    }
}

/// The record's own word for how a run ended (`none`, `clean`, `unclean`).
fn wording(p: PreviousRun) -> &'static str {
    match p {
        PreviousRun::None => "none",
        PreviousRun::Clean => "clean",
        PreviousRun::Unclean => "unclean",
    }
}
