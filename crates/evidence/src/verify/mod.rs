//! `edgeproof verify`: the six checks of EVIDENCE.md §Verification over a bundle, one file
//! per check.
//!
//! 1. **signatures** (`signatures.rs`) — every record's signature verifies strictly under the
//!    enrolled key;
//! 2. **chain** (`chain.rs`) — seq gap-free from 0, `prev` links, no duplicates, every record
//!    a readable v1 record (an unknown record version is one finding with its seq here);
//! 3. **checkpoints** (`checkpoints.rs`) — every checkpoint's signature verifies and its root
//!    equals the tree of the records at seq positions `[0, size)`; over missing records a
//!    checkpoint *cannot be checked* (noted, the gap is check 2's); a checkpoint beyond the
//!    last record present means the tail was cut;
//! 4. **witness** (`witness.rs`) — cosignatures of the trusted witnesses verify (C2SP
//!    tlog-cosignature), cosigned trees match the records, successive cosigned trees are
//!    consistent (RFC 6962 consistency proofs), no witness went backwards; and the witness
//!    reach: which records were cosigned, and how soon;
//! 5. **time** (`time.rs`) — within one kernel boot id wall-clock deltas track CLOCK_BOOTTIME
//!    deltas, unless a `clock` record explains the step (and every claimed step must show);
//!    the start counter strictly increases and each start opens with a `boot` record whose
//!    claims match the log; no record is later than a cosignature covering it;
//! 6. **identity** (`identity.rs`) — origin and gateway id of every record, checkpoint and
//!    header agree with the `enroll` record, whose USCC is valid, whose key is the
//!    reviewer's key, and whose gateway, USCC and project match what the reviewer expects.
//!
//! Each failure is reported with the seq range (or bundle line) involved. Whatever the input,
//! this never panics, holds one line at a time plus ~100 bytes per record, and runs in time
//! linear in the input (roots and proofs are O(log n) each on a `merkle::Tree`). Exit 2
//! (a [`VerifyError`]) only when the header cannot be read, its bundle version is unknown,
//! or the input exceeds the limits.
//!
//! A bundle is *intact* when no check fails. The witness check is *skipped* when no witness
//! key is given — and then truncation after the last checkpoint, or a history re-signed by
//! whoever holds the gateway key, cannot be excluded; the verdict says so.

mod chain;
mod checkpoints;
mod identity;
mod signatures;
mod time;
mod witness;

use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;

use serde::Serialize;
use serde_json::Value;

use super::bundle::{BundleReader, Header, Limits, Line, LineError, BUNDLE_VERSION};
use super::canonical;
use super::cosignature::WitnessKey;
use super::keys::PublicKey;
use super::merkle::{leaf_hash, Hash};
use super::record::{self, Body, RecordType, SignedRecord};
use super::sign::signed_parts;

use checkpoints::{Placed, Positions};
use signatures::{PendingSig, SIG_BATCH};
use time::StartStep;
pub use witness::{LateRun, WitnessReach, DEFAULT_MAX_WITNESS_LAG_MS};

/// Most findings kept per check; the rest are counted.
pub const MAX_FINDINGS: usize = 50;

/// The six checks, in EVIDENCE.md's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckName {
    /// 1: record signatures.
    Signatures,
    /// 2: seq, prev, duplicates.
    Chain,
    /// 3: checkpoint signatures and roots.
    Checkpoints,
    /// 4: witness cosignatures and consistency.
    Witness,
    /// 5: clocks and runs.
    Time,
    /// 6: origin, gateway, enterprise, project, key.
    Identity,
}

impl CheckName {
    /// All checks in order.
    pub const ALL: [CheckName; 6] = [
        CheckName::Signatures,
        CheckName::Chain,
        CheckName::Checkpoints,
        CheckName::Witness,
        CheckName::Time,
        CheckName::Identity,
    ];

    /// 1-based number as in EVIDENCE.md.
    pub fn number(self) -> u8 {
        self as u8 + 1
    }

    /// The name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Signatures => "signatures",
            CheckName::Chain => "chain",
            CheckName::Checkpoints => "checkpoints",
            CheckName::Witness => "witness",
            CheckName::Time => "time",
            CheckName::Identity => "identity",
        }
    }
}

/// Outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing wrong found.
    Pass,
    /// At least one failure.
    Fail,
    /// Could not be run (no witness key given).
    Skipped,
}

/// An inclusive range of seqs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SeqRange {
    /// First seq.
    pub first: u64,
    /// Last seq (inclusive).
    pub last: u64,
}

impl std::fmt::Display for SeqRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "seq {}", self.first)
        } else {
            write!(f, "seq {}–{}", self.first, self.last)
        }
    }
}

/// One problem found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The records involved, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<SeqRange>,
    /// The bundle line, for lines that are not (readable) records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// What is wrong, in words.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.seq, self.line) {
            (Some(s), _) => write!(f, "{s}: {}", self.message),
            (None, Some(l)) => write!(f, "line {l}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// The result of one check.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// Which check.
    pub check: CheckName,
    /// Its outcome.
    pub status: Status,
    /// What it found wrong (at most [`MAX_FINDINGS`]).
    pub findings: Vec<Finding>,
    /// Findings beyond [`MAX_FINDINGS`], counted.
    pub omitted: u64,
    /// What it established or could not establish, in words.
    pub notes: Vec<String>,
}

/// The result of verifying a bundle.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// True when no check failed.
    pub intact: bool,
    /// Log origin from the bundle header.
    pub origin: String,
    /// Gateway id from the enroll record, if readable.
    pub gateway: Option<String>,
    /// Fingerprint of the key verified against.
    pub key_fingerprint: String,
    /// Record lines read.
    pub records: u64,
    /// Distinct checkpoint notes read.
    pub checkpoints: u64,
    /// Cosignatures from trusted witnesses that verified.
    pub cosignatures: u64,
    /// Largest tree size a trusted witness cosigned and the records match, if any.
    pub witnessed_size: Option<u64>,
    /// How far and how timely trusted witnesses reach into the log (`None`: no witness key
    /// given).
    pub witness_reach: Option<WitnessReach>,
    /// The six checks, in order.
    pub checks: Vec<CheckReport>,
}

impl Verdict {
    /// The report of one check.
    pub fn check(&self, name: CheckName) -> &CheckReport {
        // `checks` always holds all six, in order.
        &self.checks[name as usize]
    }

    /// The checks that failed.
    pub fn failed(&self) -> Vec<CheckName> {
        self.checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.check).collect()
    }
}

/// The input could not be verified at all (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Reading the bundle failed.
    #[error("cannot read the bundle: {0}")]
    Read(String),
    /// The first line is not a bundle header.
    #[error("not an edgeproof bundle: {0}")]
    NotABundle(String),
    /// Bundle or record format version unknown to this edgeproof.
    #[error("{0}; upgrade edgeproof to verify this bundle")]
    Unsupported(String),
    /// The bundle is larger than the configured limits.
    #[error("bundle exceeds the limits: {0}")]
    TooLarge(String),
}

/// What the reviewer expects and trusts.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// The gateway key from enrolment.
    pub public_key: PublicKey,
    /// Witnesses the reviewer trusts.
    pub witnesses: Vec<WitnessKey>,
    /// Expected gateway id, if the reviewer knows it.
    pub gateway: Option<String>,
    /// Expected enterprise USCC.
    pub uscc: Option<String>,
    /// Expected project id.
    pub project: Option<String>,
    /// Absolute slack between wall and monotonic deltas within a boot, in ms.
    pub time_tolerance_ms: u64,
    /// Relative slack between wall and monotonic deltas, in parts per million of the
    /// monotonic delta (NTP slews at most 500 ppm).
    pub drift_ppm: u64,
    /// Allowed difference between the gateway's and a witness's clocks, in ms.
    pub witness_skew_ms: u64,
    /// Longest time from a record's wall time to the first trusted cosignature covering it
    /// for the record to count as *timely witnessed*, in ms (default
    /// [`DEFAULT_MAX_WITNESS_LAG_MS`]).
    pub max_witness_lag_ms: u64,
    /// Input bounds.
    pub limits: Limits,
}

impl VerifyOptions {
    /// Defaults: 2 s + 1000 ppm time tolerance, 5 min witness clock skew, default limits.
    pub fn new(public_key: PublicKey) -> Self {
        VerifyOptions {
            public_key,
            witnesses: Vec::new(),
            gateway: None,
            uscc: None,
            project: None,
            time_tolerance_ms: 2_000,
            drift_ppm: 1_000,
            witness_skew_ms: 300_000,
            max_witness_lag_ms: DEFAULT_MAX_WITNESS_LAG_MS,
            limits: Limits::default(),
        }
    }
}

/// Collects findings per check.
struct Findings {
    by_check: BTreeMap<CheckName, (Vec<Finding>, u64)>,
    notes: BTreeMap<CheckName, Vec<String>>,
}

impl Findings {
    fn new() -> Self {
        Findings { by_check: BTreeMap::new(), notes: BTreeMap::new() }
    }

    fn add(&mut self, check: CheckName, seq: Option<u64>, line: Option<u64>, message: String) {
        let (list, omitted) = self.by_check.entry(check).or_default();
        // Merge a run of the same problem on consecutive seqs into one range.
        if let (Some(s), Some(last)) = (seq, list.last_mut()) {
            if let Some(r) = &mut last.seq {
                if r.last.checked_add(1) == Some(s) && last.message == message {
                    r.last = s;
                    return;
                }
            }
        }
        if list.len() >= MAX_FINDINGS {
            *omitted += 1;
            return;
        }
        list.push(Finding { seq: seq.map(|s| SeqRange { first: s, last: s }), line, message });
    }

    fn seq(&mut self, check: CheckName, seq: u64, message: impl Into<String>) {
        self.add(check, Some(seq), None, message.into());
    }

    fn range(&mut self, check: CheckName, first: u64, last: u64, message: impl Into<String>) {
        let (list, omitted) = self.by_check.entry(check).or_default();
        if list.len() >= MAX_FINDINGS {
            *omitted += 1;
            return;
        }
        list.push(Finding {
            seq: Some(SeqRange { first, last }),
            line: None,
            message: message.into(),
        });
    }

    fn line(&mut self, check: CheckName, line: u64, message: impl Into<String>) {
        self.add(check, None, Some(line), message.into());
    }

    fn general(&mut self, check: CheckName, message: impl Into<String>) {
        self.add(check, None, None, message.into());
    }

    fn note(&mut self, check: CheckName, message: impl Into<String>) {
        self.notes.entry(check).or_default().push(message.into());
    }

    fn failed(&self, check: CheckName) -> bool {
        self.by_check.get(&check).is_some_and(|(l, o)| !l.is_empty() || *o > 0)
    }
}

/// What is kept of the previous record for the checks between neighbours.
struct Prev {
    seq: u64,
    leaf: Hash,
    typ: RecordType,
    boot_id: String,
    n: u64,
    rec: u64,
    wall_ms: u64,
    mono_ms: u64,
}

/// Verification state while streaming through the bundle.
struct Run<'o> {
    opts: &'o VerifyOptions,
    origin: String,
    f: Findings,
    /// Seq, leaf hash and wall time of every record with a readable seq, in bundle order;
    /// trees are rebuilt by seq position from these.
    placed: Vec<Placed>,
    /// The largest readable seq.
    last_seq: Option<u64>,
    /// A wall-clock jump at a run's start, waiting for the `clock` record that may explain it.
    start_step: Option<StartStep>,
    seen: HashSet<u64>,
    next_seq: u64,
    prev: Option<Prev>,
    gateway: Option<String>,
    enrolled: bool,
    checkpoints: Vec<(u64, String)>,
    cosigned: Vec<(u64, String)>,
    note_hashes: HashSet<Hash>,
    anchors: Vec<(u64, record::Anchor)>,
    records: u64,
    /// Signatures waiting for a parallel batch verification, in bundle order.
    pending: Vec<PendingSig>,
}

/// Verifies a bundle read from `input`.
pub fn verify_bundle<R: BufRead>(input: R, opts: &VerifyOptions) -> Result<Verdict, VerifyError> {
    let mut lines = BundleReader::new(input, opts.limits);
    let header = read_header(&mut lines)?;
    let mut run = Run {
        opts,
        origin: header.origin.clone(),
        f: Findings::new(),
        placed: Vec::new(),
        last_seq: None,
        start_step: None,
        seen: HashSet::new(),
        next_seq: 0,
        prev: None,
        gateway: None,
        enrolled: false,
        checkpoints: Vec::new(),
        cosigned: Vec::new(),
        note_hashes: HashSet::new(),
        anchors: Vec::new(),
        records: 0,
        pending: Vec::with_capacity(SIG_BATCH),
    };
    if header.public_key != opts.public_key.to_base64() {
        run.f.line(
            CheckName::Identity,
            1,
            "the bundle header names another public key than the enrolled one",
        );
    }
    for item in lines {
        match item {
            Ok((n, Line::Header(_))) => {
                run.f.line(CheckName::Identity, n, "a second bundle header");
            }
            Ok((n, Line::Record(v))) => run.record(n, v),
            Ok((n, Line::Checkpoint(text))) => run.note(n, text, false),
            Ok((n, Line::Cosignature(text))) => run.note(n, text, true),
            Err(e @ LineError::Io { .. }) => return Err(VerifyError::Read(e.to_string())),
            Err(e @ (LineError::TooMany { .. } | LineError::TooLarge { .. })) => {
                return Err(VerifyError::TooLarge(e.to_string()))
            }
            Err(LineError::TooLong { line, limit }) => run.f.line(
                CheckName::Chain,
                line,
                format!("unreadable line longer than {limit} bytes; a record may be missing here"),
            ),
            Err(LineError::Invalid { line, msg }) => run.f.line(
                CheckName::Chain,
                line,
                format!("unreadable line ({msg}); a record may be missing here"),
            ),
        }
    }
    Ok(run.finish())
}

fn read_header<R: BufRead>(lines: &mut BundleReader<R>) -> Result<Header, VerifyError> {
    match lines.next() {
        None => Err(VerifyError::NotABundle("the file is empty".into())),
        Some(Err(e @ LineError::Io { .. })) => Err(VerifyError::Read(e.to_string())),
        Some(Err(e)) => Err(VerifyError::NotABundle(e.to_string())),
        Some(Ok((_, Line::Header(h)))) => {
            if h.bundle != BUNDLE_VERSION {
                return Err(VerifyError::Unsupported(format!(
                    "bundle format version {} (this edgeproof reads {BUNDLE_VERSION})",
                    h.bundle
                )));
            }
            Ok(h)
        }
        Some(Ok((n, _))) => Err(VerifyError::NotABundle(format!(
            "line {n} is not a bundle header {{\"bundle\":1,\"origin\":…,\"public_key\":…}}"
        ))),
    }
}

impl Run<'_> {
    fn record(&mut self, line: u64, v: Value) {
        use CheckName::*;
        let position = self.records;
        self.records += 1;
        let raw_seq = record::seq_of(&v);
        // A record of an unknown format version is one chain finding (from_json below says
        // so with its seq), never the end of the verification: every other line still counts.
        // Check 1 on the raw JSON, exactly as it arrived; verified in parallel batches.
        self.pending.push(PendingSig { seq: raw_seq, line, parts: signed_parts(&v) });
        if self.pending.len() >= SIG_BATCH {
            self.verify_pending();
        }
        let leaf = match canonical::encode(&v) {
            Ok(bytes) => leaf_hash(&bytes),
            // Cannot happen for a parsed line (parse enforces the domain); hash nothing.
            Err(_) => Hash::ZERO,
        };
        let wall = v.get("t").and_then(|t| t.get("wall_ms")).and_then(Value::as_u64).unwrap_or(0);
        if let Some(seq) = raw_seq {
            self.placed.push(Placed { seq, leaf, wall_ms: wall });
            self.last_seq = self.last_seq.max(Some(seq));
        }
        let typed = match SignedRecord::from_json(v) {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("record does not match the v1 format: {e}");
                match raw_seq {
                    Some(s) => self.f.seq(Chain, s, msg),
                    None => self.f.line(Chain, line, msg),
                }
                self.flush_start_step();
                self.next_seq = raw_seq.map_or(self.next_seq + 1, |s| s.saturating_add(1));
                self.prev = None;
                return;
            }
        };
        let r = &typed.record;
        self.chain(r.seq, r.prev, position);
        self.identity(&typed);
        self.time(&typed);
        if let Body::Anchor(a) = &r.body {
            if self.anchors.len() < 100_000 {
                self.anchors.push((r.seq, a.clone()));
            }
        }
        self.prev = Some(Prev {
            seq: r.seq,
            leaf,
            typ: r.typ(),
            boot_id: r.boot.id.clone(),
            n: r.boot.n,
            rec: r.boot.rec,
            wall_ms: r.t.wall_ms,
            mono_ms: r.t.mono_ms,
        });
    }

    /// Collects a checkpoint or cosignature note (deduplicated).
    fn note(&mut self, line: u64, text: String, cosignature: bool) {
        let h = Hash::sha256(text.as_bytes());
        if !self.note_hashes.insert(h) {
            return;
        }
        if cosignature {
            self.cosigned.push((line, text));
        } else {
            self.checkpoints.push((line, text));
        }
    }

    fn finish(mut self) -> Verdict {
        use CheckName::*;
        self.verify_pending();
        self.flush_start_step();
        let n = self.records;
        if n == 0 {
            self.f.general(Chain, "the bundle holds no records");
        }
        if !self.enrolled && n > 0 {
            self.f.general(Identity, "no enroll record at seq 0: nothing says whose log this is");
        }
        let positions = Positions::from_placed(std::mem::take(&mut self.placed));
        let checkpoints = self.checkpoints.len() as u64;
        self.check_checkpoints(&positions);
        let (witnessed, witnessed_size) = self.check_witness(&positions);
        self.check_cosignature_times(&witnessed, &positions);
        let witness_reach = (!self.opts.witnesses.is_empty())
            .then(|| self.witness_reach(&witnessed, &positions, witnessed_size));
        if !self.f.failed(Signatures) && n > 0 {
            self.f.note(Signatures, format!("{n} records signed by the enrolled key"));
        }
        if !self.f.failed(Chain) && n > 0 {
            self.f.note(Chain, format!("seq 0–{} gap-free and linked", n - 1));
        }
        let mut checks = Vec::new();
        for c in CheckName::ALL {
            let (findings, omitted) = self.f.by_check.remove(&c).unwrap_or_default();
            let status = if !findings.is_empty() || omitted > 0 {
                Status::Fail
            } else if c == Witness && self.opts.witnesses.is_empty() {
                Status::Skipped
            } else {
                Status::Pass
            };
            let notes = self.f.notes.remove(&c).unwrap_or_default();
            checks.push(CheckReport { check: c, status, findings, omitted, notes });
        }
        Verdict {
            intact: checks.iter().all(|c| c.status != Status::Fail),
            origin: self.origin,
            gateway: self.gateway,
            key_fingerprint: self.opts.public_key.fingerprint(),
            records: n,
            checkpoints,
            cosignatures: witnessed.len() as u64,
            witnessed_size,
            witness_reach,
            checks,
        }
    }
}

#[cfg(test)]
mod tests;
