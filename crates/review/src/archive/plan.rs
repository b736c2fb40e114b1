//! The pure core of ingest: given what the archive holds for a gateway near the incoming seqs
//! (its horizon, open gaps, neighbouring records, checkpoints of the same sizes) and a batch
//! of verified arrivals, decide what to write. No I/O: the backends fetch the state under the
//! gateway's lock, call [`plan_origin`], and apply the result in the same transaction.
//!
//! Rules:
//! - a record whose `(origin, seq)` is stored with the same leaf hash is a duplicate (a
//!   re-delivery) and changes nothing; with another leaf hash it is a `conflict` (the gateway
//!   key signed two records for one seq) and the stored one stays;
//! - the *horizon* is the highest seq known to exist: the highest stored seq, or a verified
//!   checkpoint's size − 1. Every seq at or below it that is not stored is in exactly one
//!   `gap` span; a record arriving late shrinks, splits or closes its gap, so at rest the gap
//!   rows list exactly the records missing;
//! - a record whose `prev` is not the leaf of the stored record before it, or whose stored
//!   successor's `prev` is not its leaf, is a `broken_link` at the later seq;
//! - a checkpoint of a stored size with the same root adds its signature lines (witness
//!   cosignatures) to the stored note; with another root it is a `checkpoint_fork`.

use std::collections::BTreeMap;

use super::model::{AnomalyKind, NewAnomaly, Span, VerifiedCheckpointNote, VerifiedRecord};
use edgeproof_evidence::merkle::Hash;
use edgeproof_evidence::note::SignedNote;

/// A stored record's hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Its leaf hash.
    pub leaf: Hash,
    /// Its `prev`.
    pub prev: Hash,
}

/// A stored checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Root hash.
    pub root: Hash,
    /// The note with every verified signature line kept so far.
    pub note: String,
    /// Unverified signature lines kept apart, one per line (see [`MAX_UNVERIFIED`]).
    pub unverified: String,
}

/// Most unverified signature lines kept per checkpoint: enough to see what someone appended,
/// never a way to grow a row without bound.
pub const MAX_UNVERIFIED: usize = 16;

/// What the archive holds for one gateway, as far as a batch needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginState {
    /// Highest seq known to exist.
    pub horizon: Option<u64>,
    /// Open gaps, sorted, disjoint.
    pub gaps: Vec<Span>,
    /// Stored records at the incoming seqs and their neighbours (seq − 1, seq + 1).
    pub links: BTreeMap<u64, Link>,
    /// Stored checkpoints of the incoming sizes.
    pub checkpoints: BTreeMap<u64, StoredCheckpoint>,
}

impl OriginState {
    /// The seqs whose stored links a batch of records at `seqs` needs.
    pub fn seqs_needed(seqs: impl IntoIterator<Item = u64>) -> Vec<u64> {
        let mut out: Vec<u64> = seqs
            .into_iter()
            .flat_map(|s| [s.checked_sub(1), Some(s), s.checked_add(1)])
            .flatten()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// A checkpoint write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointWrite {
    /// A size not stored yet.
    Insert {
        /// Size.
        size: u64,
        /// Root.
        root: Hash,
        /// Note.
        note: String,
        /// Signature lines in it.
        signatures: u64,
        /// Unverified lines, kept apart.
        unverified: String,
    },
    /// New signature lines for a stored size.
    Merge {
        /// Size.
        size: u64,
        /// The merged note.
        note: String,
        /// Signature lines in it.
        signatures: u64,
        /// Unverified lines, kept apart.
        unverified: String,
    },
}

/// Records and time per UTC day, from the records inserted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DayDelta {
    /// Usage time with successful polls, ms.
    pub covered_ms: u64,
    /// Records.
    pub records: u64,
}

/// What to write for one gateway.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginPlan {
    /// Records to insert, in the order they arrived.
    pub inserts: Vec<VerifiedRecord>,
    /// Identical re-deliveries.
    pub duplicates: u64,
    /// Anomalies to record (not gaps).
    pub anomalies: Vec<NewAnomaly>,
    /// The gaps after the batch, if they changed.
    pub gaps: Option<Vec<Span>>,
    /// The horizon after the batch.
    pub horizon: Option<u64>,
    /// Checkpoint writes.
    pub checkpoints: Vec<CheckpointWrite>,
    /// Per UTC day (days since 1970-01-01).
    pub days: BTreeMap<i64, DayDelta>,
    /// Earliest and latest wall time among the inserts.
    pub wall_range: Option<(u64, u64)>,
}

/// Milliseconds in a day.
pub const DAY_MS: u64 = 86_400_000;

/// Plans one gateway's part of a batch. `state` is updated as if the plan were applied, so
/// that [`complete_prefix`] can be asked afterwards.
pub fn plan_origin(
    origin: &str,
    state: &mut OriginState,
    records: Vec<VerifiedRecord>,
    checkpoints: Vec<VerifiedCheckpointNote>,
) -> OriginPlan {
    let mut plan = OriginPlan { horizon: state.horizon, ..OriginPlan::default() };
    let mut stored_seqs = Vec::new();
    for r in records {
        if let Some(link) = state.links.get(&r.seq) {
            if link.leaf == r.leaf {
                plan.duplicates += 1;
            } else {
                plan.anomalies.push(NewAnomaly {
                    origin: origin.into(),
                    kind: AnomalyKind::Conflict,
                    seqs: Some(Span::one(r.seq)),
                    detail: format!(
                        "a validly signed record with leaf {} differs from the stored one ({}): \
                         the gateway key signed two records for this seq",
                        r.leaf, link.leaf
                    ),
                    fingerprint: format!("conflict|{origin}|{}|{}", r.seq, r.leaf),
                    topic: None,
                    claimed_origin: None,
                });
            }
            continue;
        }
        state.links.insert(r.seq, Link { leaf: r.leaf, prev: r.prev });
        stored_seqs.push(r.seq);
        let day = (r.wall_ms / DAY_MS) as i64;
        let d = plan.days.entry(day).or_default();
        d.records += 1;
        d.covered_ms += r.covered_ms.unwrap_or(0);
        plan.wall_range = Some(match plan.wall_range {
            None => (r.wall_ms, r.wall_ms),
            Some((a, b)) => (a.min(r.wall_ms), b.max(r.wall_ms)),
        });
        plan.inserts.push(r);
    }
    for &seq in &stored_seqs {
        check_links(origin, state, seq, &mut plan.anomalies);
    }
    plan.anomalies.dedup_by(|a, b| a.fingerprint == b.fingerprint);

    let mut horizon = state.horizon;
    for &s in &stored_seqs {
        horizon = horizon.max(Some(s));
    }
    for cp in &checkpoints {
        if cp.size > 0 {
            horizon = horizon.max(Some(cp.size - 1));
        }
    }
    let mut gaps = state.gaps.clone();
    if let Some(h) = horizon {
        let from = state.horizon.map_or(0, |old| old + 1);
        if from <= h {
            gaps.push(Span { first: from, last: h });
        }
    }
    for &s in &stored_seqs {
        remove_seq(&mut gaps, s);
    }
    if gaps != state.gaps {
        state.gaps = gaps.clone();
        plan.gaps = Some(gaps);
    }
    state.horizon = horizon;
    plan.horizon = horizon;

    for cp in checkpoints {
        plan_checkpoint(origin, state, cp, &mut plan);
    }
    plan
}

/// Checks the `prev` links between a newly stored record and its stored neighbours.
fn check_links(origin: &str, state: &OriginState, seq: u64, out: &mut Vec<NewAnomaly>) {
    let Some(me) = state.links.get(&seq) else { return };
    let want =
        if seq == 0 { Some(Hash::ZERO) } else { state.links.get(&(seq - 1)).map(|l| l.leaf) };
    let broken = |at: u64, detail: String| NewAnomaly {
        origin: origin.into(),
        kind: AnomalyKind::BrokenLink,
        seqs: Some(Span::one(at)),
        detail,
        fingerprint: format!("broken_link|{origin}|{at}"),
        topic: None,
        claimed_origin: None,
    };
    if let Some(want) = want {
        if me.prev != want {
            let detail = if seq == 0 {
                "prev of seq 0 is not 64 zeros".to_string()
            } else {
                format!("prev does not match the leaf hash of the stored seq {}", seq - 1)
            };
            out.push(broken(seq, detail));
        }
    }
    if let Some(next) = seq.checked_add(1).and_then(|n| state.links.get(&n)) {
        if next.prev != me.leaf {
            out.push(broken(
                seq + 1,
                format!("prev does not match the leaf hash of the stored seq {seq}"),
            ));
        }
    }
}

/// Takes `seq` out of the gap holding it, if any.
fn remove_seq(gaps: &mut Vec<Span>, seq: u64) {
    let Some(i) = gaps.iter().position(|g| g.first <= seq && seq <= g.last) else { return };
    let g = gaps[i];
    match (g.first == seq, g.last == seq) {
        (true, true) => {
            gaps.remove(i);
        }
        (true, false) => gaps[i].first = seq + 1,
        (false, true) => gaps[i].last = seq - 1,
        (false, false) => {
            gaps[i].last = seq - 1;
            gaps.insert(i + 1, Span { first: seq + 1, last: g.last });
        }
    }
}

fn plan_checkpoint(
    origin: &str,
    state: &mut OriginState,
    cp: VerifiedCheckpointNote,
    plan: &mut OriginPlan,
) {
    match state.checkpoints.get(&cp.size) {
        None => {
            let unverified = merge_lines("", &cp.unverified).unwrap_or_default();
            plan.checkpoints.push(CheckpointWrite::Insert {
                size: cp.size,
                root: cp.root,
                note: cp.note.clone(),
                signatures: signature_lines(&cp.note),
                unverified: unverified.clone(),
            });
            state
                .checkpoints
                .insert(cp.size, StoredCheckpoint { root: cp.root, note: cp.note, unverified });
        }
        Some(stored) if stored.root != cp.root => plan.anomalies.push(NewAnomaly {
            origin: origin.into(),
            kind: AnomalyKind::CheckpointFork,
            seqs: cp.size.checked_sub(1).map(|l| Span { first: 0, last: l }),
            detail: format!(
                "two signed checkpoints of size {} with different roots ({} stored, {} now): \
                 the log forked",
                cp.size, stored.root, cp.root
            ),
            fingerprint: format!("checkpoint_fork|{origin}|{}|{}", cp.size, cp.root),
            topic: None,
            claimed_origin: None,
        }),
        Some(stored) => {
            let note = merge_notes(&stored.note, &cp.note);
            let unverified = merge_lines(&stored.unverified, &cp.unverified);
            if note.is_none() && unverified.is_none() {
                return;
            }
            let note = note.unwrap_or_else(|| stored.note.clone());
            let unverified = unverified.unwrap_or_else(|| stored.unverified.clone());
            plan.checkpoints.push(CheckpointWrite::Merge {
                size: cp.size,
                note: note.clone(),
                signatures: signature_lines(&note),
                unverified: unverified.clone(),
            });
            if let Some(s) = state.checkpoints.get_mut(&cp.size) {
                s.note = note;
                s.unverified = unverified;
            }
        }
    }
}

/// `stored` (lines joined by newlines) with the lines of `new` it lacks, up to
/// [`MAX_UNVERIFIED`] lines; `None` if nothing changes.
fn merge_lines(stored: &str, new: &[String]) -> Option<String> {
    let mut lines: Vec<&str> = stored.lines().filter(|l| !l.is_empty()).collect();
    let before = lines.len();
    for l in new {
        if lines.len() >= MAX_UNVERIFIED {
            break;
        }
        if !lines.contains(&l.as_str()) {
            lines.push(l);
        }
    }
    (lines.len() > before).then(|| lines.join("\n"))
}

/// Signature lines of a note (0 if it does not parse).
pub fn signature_lines(note: &str) -> u64 {
    SignedNote::parse(note).map_or(0, |n| n.signatures.len() as u64)
}

/// `stored` with the signature lines of `new` it lacks, if there are any and both notes sign
/// the same text.
pub fn merge_notes(stored: &str, new: &str) -> Option<String> {
    let (mut a, b) = (SignedNote::parse(stored).ok()?, SignedNote::parse(new).ok()?);
    if a.text != b.text {
        return None;
    }
    let before = a.signatures.len();
    for s in b.signatures {
        if !a.signatures.iter().any(|x| x.line() == s.line()) {
            a.signatures.push(s);
        }
    }
    (a.signatures.len() > before).then(|| a.to_text())
}

/// How many records from seq 0 are all stored: the first gap's start, or horizon + 1.
pub fn complete_prefix(horizon: Option<u64>, gaps: &[Span]) -> u64 {
    match gaps.first() {
        Some(g) => g.first,
        None => horizon.map_or(0, |h| h + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64, leaf: u8, prev: u8) -> VerifiedRecord {
        VerifiedRecord {
            origin: "o".into(),
            seq,
            typ: "usage",
            wall_ms: 1_767_225_600_000 + seq * 300_000,
            leaf: Hash([leaf; 32]),
            prev: if prev == 0 { Hash::ZERO } else { Hash([prev; 32]) },
            canonical: vec![],
            covered_ms: Some(300_000),
        }
    }

    /// A chain where record n has leaf n+1 and prev n (seq 0: zeros).
    fn chain(seq: u64) -> VerifiedRecord {
        rec(seq, seq as u8 + 1, seq as u8)
    }

    fn gaps(v: &[(u64, u64)]) -> Vec<Span> {
        v.iter().map(|&(first, last)| Span { first, last }).collect()
    }

    #[test]
    fn gaps_open_and_close_as_records_arrive_in_any_order() {
        // (case, batches of seqs, gaps at the end)
        type Case<'a> = (&'a str, &'a [&'a [u64]], &'a [(u64, u64)]);
        let cases: &[Case] = &[
            ("in order", &[&[0, 1, 2], &[3]], &[]),
            ("jump", &[&[0, 1], &[5]], &[(2, 4)]),
            ("late fill closes", &[&[0, 3], &[1, 2]], &[]),
            ("late fill splits", &[&[0, 6], &[3]], &[(1, 2), (4, 5)]),
            ("late fill shrinks from both ends", &[&[0, 6], &[1, 5]], &[(2, 4)]),
            ("first record not 0", &[&[2]], &[(0, 1)]),
            ("reverse order", &[&[4], &[3], &[2], &[1], &[0]], &[]),
        ];
        for (case, batches, want) in cases {
            let mut state = OriginState::default();
            for batch in *batches {
                let p =
                    plan_origin("o", &mut state, batch.iter().map(|&s| chain(s)).collect(), vec![]);
                assert!(p.anomalies.is_empty(), "{case}: {:?}", p.anomalies);
            }
            assert_eq!(state.gaps, gaps(want), "{case}");
        }
    }

    #[test]
    fn duplicates_are_no_ops_and_conflicts_are_anomalies() {
        let mut state = OriginState::default();
        let p = plan_origin("o", &mut state, vec![chain(0), chain(1)], vec![]);
        assert_eq!(p.inserts.len(), 2);
        let p = plan_origin("o", &mut state, vec![chain(1), chain(0)], vec![]);
        assert_eq!((p.inserts.len(), p.duplicates), (0, 2));
        assert!(p.anomalies.is_empty() && p.gaps.is_none() && p.days.is_empty());
        let p = plan_origin("o", &mut state, vec![rec(1, 99, 1)], vec![]);
        assert_eq!(p.inserts.len(), 0);
        assert_eq!(p.anomalies.len(), 1);
        assert_eq!(p.anomalies[0].kind, AnomalyKind::Conflict);
        assert_eq!(p.anomalies[0].seqs, Some(Span::one(1)));
    }

    #[test]
    fn broken_links_are_found_from_either_side() {
        // Record 2 claims a prev that is not record 1's leaf; it arrives before record 1.
        let mut state = OriginState::default();
        let p = plan_origin("o", &mut state, vec![chain(0), rec(2, 3, 77)], vec![]);
        assert!(p.anomalies.is_empty());
        let p = plan_origin("o", &mut state, vec![chain(1)], vec![]);
        let kinds: Vec<_> = p.anomalies.iter().map(|a| (a.kind, a.seqs)).collect();
        assert_eq!(kinds, vec![(AnomalyKind::BrokenLink, Some(Span::one(2)))]);
        // A first record with a non-zero prev.
        let p = plan_origin("o2", &mut OriginState::default(), vec![rec(0, 1, 5)], vec![]);
        assert_eq!(p.anomalies[0].kind, AnomalyKind::BrokenLink);
    }

    fn cp(size: u64, root: u8, note: &str) -> VerifiedCheckpointNote {
        VerifiedCheckpointNote {
            origin: "o".into(),
            size,
            root: Hash([root; 32]),
            note: note.into(),
            unverified: vec![],
        }
    }

    #[test]
    fn a_checkpoint_beyond_the_records_opens_a_gap_for_the_tail() {
        let mut state = OriginState::default();
        plan_origin("o", &mut state, vec![chain(0), chain(1)], vec![cp(5, 1, "n")]);
        assert_eq!(state.gaps, gaps(&[(2, 4)]));
        assert_eq!(complete_prefix(state.horizon, &state.gaps), 2);
        plan_origin("o", &mut state, (2..5).map(chain).collect(), vec![]);
        assert_eq!(complete_prefix(state.horizon, &state.gaps), 5);
    }

    #[test]
    fn checkpoints_merge_cosignatures_and_flag_forks() {
        use edgeproof_evidence::keys::GatewayKey;
        use edgeproof_evidence::note::sign_ed25519;
        let text = "o\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let gw = sign_ed25519(text, "o", &GatewayKey::from_seed([1; 32])).line();
        let w = sign_ed25519(text, "w", &GatewayKey::from_seed([2; 32])).line();
        let plain = format!("{text}\n{gw}\n");
        let cosigned = format!("{text}\n{gw}\n{w}\n");
        let mut state = OriginState::default();
        let p = plan_origin("o", &mut state, vec![], vec![cp(3, 0, &plain)]);
        assert!(matches!(p.checkpoints[..], [CheckpointWrite::Insert { signatures: 1, .. }]));
        let p = plan_origin("o", &mut state, vec![], vec![cp(3, 0, &cosigned)]);
        assert_eq!(
            p.checkpoints,
            vec![CheckpointWrite::Merge {
                size: 3,
                note: cosigned.clone(),
                signatures: 2,
                unverified: String::new()
            }]
        );
        let p = plan_origin("o", &mut state, vec![], vec![cp(3, 0, &plain)]);
        assert!(p.checkpoints.is_empty(), "nothing new");
        let p = plan_origin("o", &mut state, vec![], vec![cp(3, 9, &plain)]);
        assert_eq!(p.anomalies[0].kind, AnomalyKind::CheckpointFork);
    }
}
