//! Check 4, **witness**: cosignatures of the trusted witnesses verify (C2SP
//! tlog-cosignature/v1), the trees they cosigned match the records (by seq position, see
//! [`super::checkpoints`]), successive cosigned trees are consistent (RFC 6962 §2.1.2), no
//! witness cosigned two trees of one size or went backwards.
//!
//! It also states the **witness reach**: for every record, the first trusted cosignature
//! covering it and the lag (cosignature time − record wall time). A cosignature only bounds
//! a record's time from above: usage fabricated a month later, signed with the gateway key
//! and submitted then, is cosigned too. Only records cosigned within
//! [`VerifyOptions::max_witness_lag_ms`](super::VerifyOptions) of their wall time are
//! *timely witnessed*; the report's witnessed coverage counts only those. Records witnessed
//! late are noted (not a failure: a witness may have been offline), with their seq and time
//! ranges.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::checkpoints::{Compared, Positions};
use super::{CheckName, Run, SeqRange};
use crate::checkpoint::Checkpoint;
use crate::cosignature::verify_cosignatures;
use crate::merkle::{verify_consistency, Hash};
use crate::note::{NoteError, SignedNote};
use crate::report::calendar::{format_duration, format_ms, UtcOffset};

/// Default of `--max-witness-lag`: 6 hours. A gateway checkpoints about hourly and submits
/// each checkpoint to its witnesses at once; a witness offline for a few hours, or a gateway
/// whose uplink was down that long, still meets it. Usage fabricated days later does not.
pub const DEFAULT_MAX_WITNESS_LAG_MS: u64 = 6 * 3_600_000;

/// A cosignature from a trusted witness that verified.
pub(super) struct Witnessed {
    pub(super) witness: String,
    pub(super) size: u64,
    pub(super) root: Hash,
    /// Unix seconds, from the cosignature.
    pub(super) timestamp: u64,
    pub(super) line: u64,
    /// The cosigned tree matches the records.
    pub(super) matches: bool,
}

/// A run of consecutive records first cosigned later than the allowed lag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LateRun {
    /// The records.
    pub seq: SeqRange,
    /// Wall time of the first of them (Unix ms).
    pub from_ms: u64,
    /// Wall time of the last of them (Unix ms).
    pub to_ms: u64,
    /// The largest lag among them, ms.
    pub max_lag_ms: u64,
}

/// How far, and how timely, the trusted witnesses reach into the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WitnessReach {
    /// The lag allowed for a record to count as timely witnessed, ms.
    pub max_lag_ms: u64,
    /// First witnessed seq (0 when any record is witnessed).
    pub first_witnessed_seq: Option<u64>,
    /// Last seq covered by a trusted cosignature that matches the records.
    pub last_witnessed_seq: Option<u64>,
    /// Records no trusted cosignature covers yet (after the last witnessed one).
    pub not_yet_witnessed: u64,
    /// Their seq range.
    pub not_yet_witnessed_seq: Option<SeqRange>,
    /// Records witnessed, but later than `max_lag_ms` after their wall time.
    pub witnessed_late: u64,
    /// Those records as runs, with their time ranges (at most 50 runs).
    pub late_runs: Vec<LateRun>,
    /// Seq ranges witnessed within `max_lag_ms`: the records that count for witnessed
    /// coverage.
    pub timely: Vec<SeqRange>,
}

impl WitnessReach {
    /// True when `seq` was witnessed within the allowed lag.
    pub fn is_timely(&self, seq: u64) -> bool {
        let i = self.timely.partition_point(|r| r.last < seq);
        self.timely.get(i).is_some_and(|r| r.first <= seq)
    }
}

impl Run<'_> {
    /// Check 4. Returns the cosignatures that verified and the largest matching size.
    pub(super) fn check_witness(&mut self, pos: &Positions) -> (Vec<Witnessed>, Option<u64>) {
        use CheckName::Witness;
        let mut out = Vec::new();
        if self.opts.witnesses.is_empty() {
            self.f.note(
                Witness,
                "no witness key given: a cut-off tail or a history re-signed with the gateway \
                 key cannot be ruled out",
            );
            return (out, None);
        }
        // Cosignatures arrive as their own lines, or as extra lines on a checkpoint note.
        // Problems of checkpoint lines are check 3's; here they only may carry cosignatures.
        let own = self.cosigned.len();
        let mut notes: Vec<(u64, String)> = std::mem::take(&mut self.cosigned);
        notes.extend(std::mem::take(&mut self.checkpoints));
        for (i, (line, text)) in notes.iter().enumerate() {
            let from_checkpoint_line = i >= own;
            let note = match SignedNote::parse(text) {
                Ok(n) => n,
                Err(_) if from_checkpoint_line => continue,
                Err(e) => {
                    self.f.line(Witness, *line, format!("cosignature note rejected: {e}"));
                    continue;
                }
            };
            let cp = match Checkpoint::parse_body(&note.text) {
                Ok(c) if c.origin == self.origin => c,
                Ok(_) | Err(_) if from_checkpoint_line => continue,
                Ok(c) => {
                    self.f.line(
                        Witness,
                        *line,
                        format!("cosigned checkpoint of another log {:?}", c.origin),
                    );
                    continue;
                }
                Err(e) => {
                    self.f.line(Witness, *line, format!("cosigned note is not a checkpoint: {e}"));
                    continue;
                }
            };
            for w in &self.opts.witnesses {
                match verify_cosignatures(&note, w) {
                    Ok(list) => {
                        for c in list {
                            out.push(Witnessed {
                                witness: w.name.clone(),
                                size: cp.size,
                                root: cp.root,
                                timestamp: c.timestamp,
                                line: *line,
                                matches: false,
                            });
                        }
                    }
                    Err(NoteError::NoSignature { .. }) => {}
                    Err(e) => self.f.line(Witness, *line, format!("cosignature rejected: {e}")),
                }
            }
        }
        let mut best = None;
        let mut distinct: BTreeMap<u64, (Hash, u64)> = BTreeMap::new();
        for w in &mut out {
            let cp = Checkpoint::new(self.origin.clone(), w.size, w.root);
            let what = format!("checkpoint cosigned by {}", w.witness);
            if self.compare_tree(Witness, w.line, &cp, pos, &what) == Compared::Matches {
                w.matches = true;
                best = best.max(Some(w.size));
            }
            match distinct.get(&w.size) {
                Some((r, l)) if *r != w.root => {
                    let msg = format!("witnesses cosigned two different trees of size {} (lines {l} and {}): a fork", w.size, w.line);
                    self.f.general(Witness, msg);
                }
                Some(_) => {}
                None => {
                    distinct.insert(w.size, (w.root, w.line));
                }
            }
        }
        // RFC 6962 consistency between successive cosigned trees the records can prove.
        let provable: Vec<(u64, Hash)> = distinct
            .iter()
            .filter(|(s, _)| **s <= pos.tree.size())
            .map(|(s, (r, _))| (*s, *r))
            .collect();
        for pair in provable.windows(2) {
            let ((s1, r1), (s2, r2)) = (pair[0], pair[1]);
            let ok = pos
                .tree
                .consistency_proof(s1, s2)
                .map(|p| verify_consistency(s1, s2, &p, &r1, &r2).is_ok())
                .unwrap_or(false);
            if !ok {
                self.f.range(
                    Witness,
                    s1,
                    s2 - 1,
                    format!("cosigned trees of size {s1} and {s2} are not consistent"),
                );
            }
        }
        // A witness never cosigns a smaller tree later.
        let mut by_witness: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
        for w in &out {
            by_witness.entry(&w.witness).or_default().push((w.timestamp, w.size));
        }
        for (name, mut v) in by_witness {
            v.sort_unstable();
            for pair in v.windows(2) {
                if pair[1].1 < pair[0].1 {
                    self.f.general(
                        Witness,
                        format!(
                            "witness {name} cosigned size {} at {} after size {} at {}: a rollback",
                            pair[1].1, pair[1].0, pair[0].1, pair[0].0
                        ),
                    );
                }
            }
        }
        for w in &self.opts.witnesses {
            if !out.iter().any(|c| c.witness == w.name) {
                self.f.general(
                    Witness,
                    format!("no cosignature from trusted witness {} in the bundle", w.name),
                );
            }
        }
        // Anchors the gateway logged for trusted witnesses should be backed by a cosignature.
        let lines: HashSet<Hash> = notes
            .iter()
            .filter_map(|(_, t)| SignedNote::parse(t).ok())
            .flat_map(|n| n.signatures.into_iter().map(|s| Hash::sha256(s.line().as_bytes())))
            .collect();
        for (seq, a) in std::mem::take(&mut self.anchors) {
            if self.opts.witnesses.iter().any(|w| w.name == a.witness)
                && !lines.contains(&a.cosignature)
            {
                self.f.note(Witness, format!("seq {seq}: anchor for a cosignature by {} (size {}) that is not in the bundle", a.witness, a.size));
            }
        }
        if let Some(s) = best {
            self.f.note(Witness, format!("a trusted witness cosigned the first {s} records"));
        }
        (out, best)
    }

    /// The witness reach over the gap-free prefix of the log.
    pub(super) fn witness_reach(
        &mut self,
        witnessed: &[Witnessed],
        pos: &Positions,
        best: Option<u64>,
    ) -> WitnessReach {
        let max_lag = self.opts.max_witness_lag_ms;
        let mut reach = WitnessReach { max_lag_ms: max_lag, ..WitnessReach::default() };
        let n = self.records;
        let covered = best.unwrap_or(0).min(pos.prefix());
        if covered > 0 {
            reach.first_witnessed_seq = Some(0);
            reach.last_witnessed_seq = Some(covered - 1);
        }
        let last_seq = self.last_seq.unwrap_or(0).max(n.saturating_sub(1));
        if n > 0 && covered <= last_seq {
            reach.not_yet_witnessed = last_seq + 1 - covered;
            reach.not_yet_witnessed_seq = Some(SeqRange { first: covered, last: last_seq });
        }
        // First cosignature covering each seq: over matching cosignatures sorted by size,
        // the earliest timestamp among those of at least that size.
        let mut cos: Vec<(u64, u64)> =
            witnessed.iter().filter(|w| w.matches).map(|w| (w.size, w.timestamp)).collect();
        cos.sort_unstable();
        let mut suffix_min = vec![u64::MAX; cos.len() + 1];
        for i in (0..cos.len()).rev() {
            suffix_min[i] = suffix_min[i + 1].min(cos[i].1);
        }
        let mut k = 0usize;
        let mut late: Option<LateRun> = None;
        let mut timely: Option<SeqRange> = None;
        for seq in 0..covered {
            while k < cos.len() && cos[k].0 <= seq {
                k += 1;
            }
            let first_ms = suffix_min[k].saturating_mul(1000);
            let wall = pos.walls[seq as usize];
            let lag = first_ms.saturating_sub(wall);
            if lag > max_lag {
                reach.witnessed_late += 1;
                if let Some(t) = timely.take() {
                    reach.timely.push(t);
                }
                match &mut late {
                    Some(r) if r.seq.last + 1 == seq => {
                        r.seq.last = seq;
                        r.from_ms = r.from_ms.min(wall);
                        r.to_ms = r.to_ms.max(wall);
                        r.max_lag_ms = r.max_lag_ms.max(lag);
                    }
                    _ => {
                        if let Some(r) = late.take() {
                            push_late(&mut reach, r);
                        }
                        late = Some(LateRun {
                            seq: SeqRange { first: seq, last: seq },
                            from_ms: wall,
                            to_ms: wall,
                            max_lag_ms: lag,
                        });
                    }
                }
            } else {
                match &mut timely {
                    Some(r) => r.last = seq,
                    None => timely = Some(SeqRange { first: seq, last: seq }),
                }
            }
        }
        if let Some(r) = late.take() {
            push_late(&mut reach, r);
        }
        if let Some(t) = timely.take() {
            reach.timely.push(t);
        }
        use CheckName::Witness;
        match (reach.last_witnessed_seq, reach.not_yet_witnessed_seq) {
            (Some(l), None) => self
                .f
                .note(Witness, format!("witness reach: every record (seq 0–{l}) is witnessed")),
            (Some(l), Some(r)) => self.f.note(
                Witness,
                format!(
                    "witness reach: seq 0–{l} witnessed; {r} not yet witnessed ({} record(s))",
                    reach.not_yet_witnessed
                ),
            ),
            (None, Some(r)) => self.f.note(
                Witness,
                format!("witness reach: no record witnessed; {r} not yet witnessed"),
            ),
            (None, None) => {}
        }
        if reach.witnessed_late > 0 {
            self.f.note(
                Witness,
                format!(
                    "{} record(s) witnessed late (first cosigned more than {} after they were \
                     written): they do not count as timely witnessed",
                    reach.witnessed_late,
                    format_duration(max_lag)
                ),
            );
            for r in &reach.late_runs {
                self.f.note(
                    Witness,
                    format!(
                        "{}: written {} – {} UTC, first cosigned up to {} later",
                        r.seq,
                        format_ms(r.from_ms, UtcOffset(0)),
                        format_ms(r.to_ms, UtcOffset(0)),
                        format_duration(r.max_lag_ms)
                    ),
                );
            }
        }
        reach
    }
}

fn push_late(reach: &mut WitnessReach, r: LateRun) {
    if reach.late_runs.len() < super::MAX_FINDINGS {
        reach.late_runs.push(r);
    }
}
