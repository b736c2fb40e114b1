//! `edgeproof verify`: the six checks of EVIDENCE.md §Verification over a bundle.
//!
//! 1. **signatures** — every record's signature verifies strictly under the enrolled key;
//! 2. **chain** — seq gap-free from 0, `prev` links, no duplicates, every record readable;
//! 3. **checkpoints** — every checkpoint's signature verifies and its root equals the tree
//!    rebuilt from records `[0, size)`; a checkpoint larger than the record count means the
//!    tail was cut;
//! 4. **witness** — cosignatures of the trusted witnesses verify (C2SP tlog-cosignature),
//!    cosigned trees match the records, successive cosigned trees are consistent (RFC 6962
//!    consistency proofs), no witness went backwards;
//! 5. **time** — within one kernel boot id wall-clock deltas track CLOCK_BOOTTIME deltas;
//!    the start counter strictly increases and each start opens with a `boot` record whose
//!    claims match the log; no record is later than a cosignature covering it;
//! 6. **identity** — origin and gateway id of every record, checkpoint and header agree with
//!    the `enroll` record, whose USCC is valid, whose key is the reviewer's key, and whose
//!    gateway, USCC and project match what the reviewer expects.
//!
//! Each failure is reported with the seq range (or bundle line) involved. Whatever the input,
//! this never panics, holds one line at a time plus ~100 bytes per record, and runs in time
//! linear in the input (roots and proofs are O(log n) each on a [`Tree`]).
//!
//! A bundle is *intact* when no check fails. The witness check is *skipped* when no witness
//! key is given — and then truncation after the last checkpoint, or a history re-signed by
//! whoever holds the gateway key, cannot be excluded; the verdict says so.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;

use serde::Serialize;
use serde_json::Value;

use super::bundle::{BundleReader, Header, Limits, Line, LineError, BUNDLE_VERSION};
use super::canonical;
use super::checkpoint::{verify_checkpoint, Checkpoint};
use super::cosignature::{verify_cosignatures, WitnessKey};
use super::keys::PublicKey;
use super::merkle::{leaf_hash, verify_consistency, Hash, Tree};
use super::note::{NoteError, SignedNote};
use super::record::{self, Body, PreviousRun, RecordType, SignedRecord, RECORD_VERSION};
use super::sign::{signed_parts, verify_parts, SignatureError};

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

/// A cosignature from a trusted witness that verified.
struct Witnessed {
    witness: String,
    size: u64,
    root: Hash,
    timestamp: u64,
    line: u64,
}

/// Verification state while streaming through the bundle.
struct Run<'o> {
    opts: &'o VerifyOptions,
    origin: String,
    f: Findings,
    /// Leaf hashes in bundle order.
    leaves: Vec<Hash>,
    /// Wall time of each record in bundle order (0 when unreadable).
    walls: Vec<u64>,
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

/// One record signature to check (or the reason it cannot be).
struct PendingSig {
    seq: Option<u64>,
    line: u64,
    parts: Result<(Vec<u8>, [u8; 64]), SignatureError>,
}

/// Signatures verified per parallel batch.
const SIG_BATCH: usize = 1024;

/// Verifies a bundle read from `input`.
pub fn verify_bundle<R: BufRead>(input: R, opts: &VerifyOptions) -> Result<Verdict, VerifyError> {
    let mut lines = BundleReader::new(input, opts.limits);
    let header = read_header(&mut lines)?;
    let mut run = Run {
        opts,
        origin: header.origin.clone(),
        f: Findings::new(),
        leaves: Vec::new(),
        walls: Vec::new(),
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
            Ok((n, Line::Record(v))) => run.record(n, v)?,
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
    fn record(&mut self, line: u64, v: Value) -> Result<(), VerifyError> {
        use CheckName::*;
        let position = self.records;
        self.records += 1;
        let raw_seq = record::seq_of(&v);
        match record::version_of(&v) {
            Some(RECORD_VERSION) | None => {}
            Some(other) => {
                return Err(VerifyError::Unsupported(format!(
                    "record at line {line} has format version {other} (this edgeproof reads \
                     {RECORD_VERSION})"
                )))
            }
        }
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
        self.leaves.push(leaf);
        let typed = match SignedRecord::from_json(v) {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("record does not match the v1 format: {e}");
                match raw_seq {
                    Some(s) => self.f.seq(Chain, s, msg),
                    None => self.f.line(Chain, line, msg),
                }
                self.walls.push(0);
                self.next_seq = raw_seq.map_or(self.next_seq + 1, |s| s.saturating_add(1));
                self.prev = None;
                return Ok(());
            }
        };
        let r = &typed.record;
        self.walls.push(r.t.wall_ms);
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
        Ok(())
    }

    /// Check 2 between this record and the one before it in the bundle.
    fn chain(&mut self, seq: u64, prev_hash: Hash, position: u64) {
        use CheckName::Chain;
        let expected = self.next_seq;
        let duplicate = !self.seen.insert(seq);
        if duplicate {
            self.f.seq(Chain, seq, "duplicate: this seq appeared earlier in the bundle");
        } else if seq > expected {
            self.f.range(
                Chain,
                expected,
                seq - 1,
                format!("missing: {} record(s) absent before seq {seq}", seq - expected),
            );
        } else if seq < expected {
            self.f.seq(Chain, seq, format!("out of order: found after seq {}", expected - 1));
        }
        // The prev link only means something against the record actually before it.
        let want_prev = match (&self.prev, position) {
            (_, 0) => Some(Hash::ZERO),
            (Some(p), _) if p.seq.checked_add(1) == Some(seq) => Some(p.leaf),
            _ => None,
        };
        if let Some(want) = want_prev {
            if prev_hash != want && !duplicate {
                let msg = if position == 0 {
                    "prev of the first record is not 64 zeros".to_string()
                } else {
                    format!("prev does not match the leaf hash of seq {}", seq.saturating_sub(1))
                };
                self.f.seq(Chain, seq, msg);
            }
        }
        self.next_seq = seq.saturating_add(1).max(expected);
    }

    /// Check 6 for one record.
    fn identity(&mut self, sr: &SignedRecord) {
        use CheckName::Identity;
        let r = &sr.record;
        if r.origin != self.origin {
            self.f.seq(
                Identity,
                r.seq,
                format!("origin {:?} is not the bundle's {:?}", r.origin, self.origin),
            );
        }
        match (&r.body, r.seq) {
            (Body::Enroll(e), 0) if !self.enrolled => {
                self.enrolled = true;
                self.gateway = Some(r.gw.clone());
                if let Err(why) = crate::uscc::validate(&e.uscc) {
                    self.f.seq(Identity, 0, format!("enrolled USCC is not valid: {why}"));
                }
                if e.key != self.opts.public_key.to_base64() {
                    self.f.seq(
                        Identity,
                        0,
                        "the enroll record names another key than the one given",
                    );
                }
                let expect = [
                    ("gateway id", &self.opts.gateway, &r.gw),
                    ("USCC", &self.opts.uscc, &e.uscc),
                    ("project", &self.opts.project, &e.project),
                ];
                for (what, want, got) in expect {
                    if let Some(want) = want {
                        if want != got {
                            self.f.seq(
                                Identity,
                                0,
                                format!("{what} is {got:?}, expected {want:?}"),
                            );
                        }
                    }
                }
            }
            (Body::Enroll(_), s) => {
                self.f.seq(Identity, s, "an enroll record other than the first (seq 0)");
            }
            (_, 0) => self.f.seq(Identity, 0, "seq 0 is not an enroll record"),
            _ => {}
        }
        if let Some(gw) = &self.gateway {
            if &r.gw != gw {
                self.f.seq(
                    Identity,
                    r.seq,
                    format!("gateway {:?} is not the enrolled {gw:?}", r.gw),
                );
            }
        }
    }

    /// Check 5 between this record and the one before it.
    fn time(&mut self, sr: &SignedRecord) {
        use CheckName::Time;
        let r = &sr.record;
        let Some(p) = &self.prev else {
            if r.boot.rec != 0 {
                self.f.seq(Time, r.seq, "the first record is not record 0 of its run");
            }
            return;
        };
        let seq = r.seq;
        if r.boot.id == p.boot_id {
            let dm = i128::from(r.t.mono_ms) - i128::from(p.mono_ms);
            let dw = i128::from(r.t.wall_ms) - i128::from(p.wall_ms);
            if dm < 0 {
                self.f.seq(
                    Time,
                    seq,
                    format!("monotonic clock went back {} ms within one boot", -dm),
                );
            } else {
                let slack = i128::from(self.opts.time_tolerance_ms)
                    + dm * i128::from(self.opts.drift_ppm) / 1_000_000;
                let recorded = match &r.body {
                    Body::Clock(c) => Some(i128::from(c.step_ms)),
                    _ => None,
                };
                if let Some(step) = recorded.filter(|s| (dw - dm - s).abs() <= slack) {
                    // A step the agent saw and recorded: an anomaly to report, not tampering.
                    self.f.note(
                        Time,
                        format!(
                            "seq {seq}: the wall clock was stepped {step} ms since seq {} \
                             (recorded by the agent in a clock record)",
                            p.seq
                        ),
                    );
                } else if (dw - dm).abs() > slack {
                    self.f.seq(
                        Time,
                        seq,
                        format!(
                            "wall clock moved {dw} ms but the monotonic clock {dm} ms since seq {} \
                             (same boot): a {} ms jump",
                            p.seq,
                            dw - dm
                        ),
                    );
                }
            }
        }
        if r.boot.n == p.n {
            if r.boot.id != p.boot_id {
                self.f.seq(Time, seq, "kernel boot id changed but the start counter did not");
            }
            if r.boot.rec != p.rec.saturating_add(1) {
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
                        "the boot record says the previous run ended {:?}, the log shows {:?}",
                        b.previous, want
                    ),
                );
            }
        }
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

    /// Verifies the pending signatures on all cores, then records failures in bundle order.
    fn verify_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let key = self.opts.public_key;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        let chunk = pending.len().div_ceil(threads).max(1);
        let check = |p: &PendingSig| match &p.parts {
            Ok((msg, sig)) => verify_parts(&key, msg, sig),
            Err(e) => Err(e.clone()),
        };
        let results: Vec<Result<(), SignatureError>> = if threads == 1 || pending.len() < 64 {
            pending.iter().map(check).collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = pending
                    .chunks(chunk)
                    .map(|c| s.spawn(move || c.iter().map(check).collect::<Vec<_>>()))
                    .collect();
                // A verifier thread cannot panic on any input; if one did, count its records
                // as unverified rather than passing them.
                handles
                    .into_iter()
                    .zip(pending.chunks(chunk))
                    .flat_map(|(h, c)| {
                        h.join().unwrap_or_else(|_| vec![Err(SignatureError::Invalid); c.len()])
                    })
                    .collect()
            })
        };
        for (p, r) in pending.iter().zip(results) {
            if let Err(e) = r {
                match p.seq {
                    Some(s) => self.f.seq(CheckName::Signatures, s, e.to_string()),
                    None => self.f.line(CheckName::Signatures, p.line, e.to_string()),
                }
            }
        }
        self.pending = pending;
        self.pending.clear();
    }

    fn finish(mut self) -> Verdict {
        use CheckName::*;
        self.verify_pending();
        let n = self.leaves.len() as u64;
        if n == 0 {
            self.f.general(Chain, "the bundle holds no records");
        }
        if !self.enrolled && n > 0 {
            self.f.general(Identity, "no enroll record at seq 0: nothing says whose log this is");
        }
        let tree = Tree::from_leaves(std::mem::take(&mut self.leaves));
        let checkpoints = self.checkpoints.len() as u64;
        self.check_checkpoints(&tree);
        let (witnessed, witnessed_size) = self.check_witness(&tree);
        self.check_cosignature_times(&witnessed);
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
            checks,
        }
    }

    /// Check 3.
    fn check_checkpoints(&mut self, tree: &Tree) {
        use CheckName::Checkpoints;
        let n = tree.size();
        let mut largest = None::<u64>;
        let mut roots: HashMap<u64, Hash> = HashMap::new();
        for (line, text) in self.checkpoints.clone().iter() {
            let cp = match verify_checkpoint(text, &self.origin, &self.opts.public_key) {
                Ok(v) => v.checkpoint,
                Err(e) => {
                    self.f.line(Checkpoints, *line, format!("checkpoint rejected: {e}"));
                    continue;
                }
            };
            largest = largest.max(Some(cp.size));
            if let Some(r) = roots.insert(cp.size, cp.root) {
                if r != cp.root {
                    self.f.line(
                        Checkpoints,
                        *line,
                        format!(
                            "two signed checkpoints of size {} with different roots (a fork)",
                            cp.size
                        ),
                    );
                }
            }
            self.compare_tree(Checkpoints, *line, &cp, tree, "checkpoint");
        }
        match largest {
            None if n > 0 => self.f.general(
                Checkpoints,
                "no signed checkpoint in the bundle: nothing ties these records to a published tree head",
            ),
            Some(s) if s < n => self.f.note(
                Checkpoints,
                format!("records seq {s}–{} are not yet covered by a checkpoint", n - 1),
            ),
            Some(s) => self.f.note(Checkpoints, format!("latest checkpoint covers all {s} records")),
            None => {}
        }
    }

    /// Compares a tree head with the tree rebuilt from the records.
    fn compare_tree(
        &mut self,
        check: CheckName,
        line: u64,
        cp: &Checkpoint,
        tree: &Tree,
        what: &str,
    ) -> bool {
        let n = tree.size();
        match tree.root_at(cp.size) {
            None => {
                self.f.range(
                    check,
                    n,
                    cp.size - 1,
                    format!(
                        "missing: the {what} at line {line} covers {} records, the bundle has {n} \
                         (the tail was cut)",
                        cp.size
                    ),
                );
                false
            }
            Some(root) if root != cp.root => {
                self.f.range(
                    check,
                    0,
                    cp.size.saturating_sub(1),
                    format!(
                        "the {what} at line {line} (size {}) has another root than these records: \
                         records in this range were changed, removed, added or reordered",
                        cp.size
                    ),
                );
                false
            }
            Some(_) => true,
        }
    }

    /// Check 4. Returns the cosignatures that verified and the largest matching size.
    fn check_witness(&mut self, tree: &Tree) -> (Vec<Witnessed>, Option<u64>) {
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
        for w in &out {
            let cp = Checkpoint::new(self.origin.clone(), w.size, w.root);
            if self.compare_tree(
                Witness,
                w.line,
                &cp,
                tree,
                &format!("checkpoint cosigned by {}", w.witness),
            ) {
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
            .filter(|(s, _)| **s <= tree.size())
            .map(|(s, (r, _))| (*s, *r))
            .collect();
        for pair in provable.windows(2) {
            let ((s1, r1), (s2, r2)) = (pair[0], pair[1]);
            let ok = tree
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

    /// Check 5, second half: no record later than a cosignature covering it.
    fn check_cosignature_times(&mut self, witnessed: &[Witnessed]) {
        // Prefix maxima of wall times: the latest record within [0, i].
        let mut prefix_max = Vec::with_capacity(self.walls.len());
        let mut m = 0u64;
        for w in &self.walls {
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
                let first =
                    self.walls[..covered as usize].iter().position(|x| *x > limit).unwrap_or(0);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{checkpoint_line, header_line, record_line};
    use crate::chain::Chain;
    use crate::keys::GatewayKey;
    use crate::record::{Boot, ConfigChange, Enroll, KeyAssurance, Stamp};

    /// A four-record log: enroll, boot, two config records, and a checkpoint.
    fn tiny(key: &GatewayKey) -> Vec<u8> {
        let mut c = Chain::new("edgeproof/gw", "gw");
        c.start_run("k1", 1);
        let mut out = header_line(&Header {
            bundle: 1,
            origin: "edgeproof/gw".into(),
            public_key: key.public().to_base64(),
        })
        .into_bytes();
        let mut t = Stamp { wall_ms: 1_767_225_600_000, mono_ms: 1_000 };
        let bodies = vec![
            Body::Enroll(Enroll {
                uscc: "91350100M000100Y43".into(),
                project: "P".into(),
                contract: "C".into(),
                key: key.public().to_base64(),
                key_assurance: KeyAssurance::Software,
                agent_version: "0".into(),
                build: "b".into(),
                inventory: vec![],
                production_devices: 1,
            }),
            Body::Boot(Boot {
                previous: PreviousRun::None,
                last_seq: 0,
                last_wall_ms: t.wall_ms,
                agent_version: "0".into(),
                config_hash: Hash::ZERO,
            }),
            Body::Config(ConfigChange { hash: Hash::ZERO, added: vec![], removed: vec![] }),
            Body::Config(ConfigChange { hash: Hash::ZERO, added: vec![], removed: vec![] }),
        ];
        for (i, b) in bodies.into_iter().enumerate() {
            if i > 0 {
                t.wall_ms += 10;
                t.mono_ms += 10;
            }
            let p = c.prepare(key, t, b).unwrap();
            c.commit(&p).unwrap();
            out.extend(record_line(&p.canonical));
        }
        out.extend(checkpoint_line(&c.checkpoint().sign(key).to_text()).into_bytes());
        out
    }

    fn verdict(bundle: &[u8], key: &GatewayKey) -> Verdict {
        verify_bundle(bundle, &VerifyOptions::new(key.public())).unwrap()
    }

    #[test]
    fn tiny_log_is_intact_and_witness_is_skipped() {
        let key = GatewayKey::from_seed([1; 32]);
        let v = verdict(&tiny(&key), &key);
        assert!(v.intact, "{v:#?}");
        assert_eq!(v.records, 4);
        assert_eq!(v.check(CheckName::Witness).status, Status::Skipped);
        assert_eq!(v.gateway.as_deref(), Some("gw"));
    }

    #[test]
    fn input_that_is_not_a_bundle_is_an_error_not_a_verdict() {
        let key = GatewayKey::from_seed([1; 32]);
        let opts = VerifyOptions::new(key.public());
        let cases: &[(&str, &[u8])] = &[
            ("empty", b""),
            ("blank lines only", b"\n\n"),
            ("record first", b"{\"record\":{}}\n"),
            ("garbage", b"\x00\x01\x02"),
            ("future bundle", b"{\"bundle\":2,\"origin\":\"o\",\"public_key\":\"k\"}\n"),
        ];
        for (name, input) in cases {
            assert!(verify_bundle(*input, &opts).is_err(), "{name}");
        }
        let mut future_record = tiny(&key);
        let text =
            String::from_utf8(future_record.clone()).unwrap().replacen("\"v\":1}", "\"v\":2}", 1);
        future_record = text.into_bytes();
        assert!(matches!(
            verify_bundle(&future_record[..], &opts),
            Err(VerifyError::Unsupported(_))
        ));
    }

    #[test]
    fn header_only_bundle_fails_the_chain() {
        let key = GatewayKey::from_seed([1; 32]);
        let b = tiny(&key);
        let header = &b[..=b.iter().position(|c| *c == b'\n').unwrap()];
        let v = verdict(header, &key);
        assert_eq!(v.failed(), vec![CheckName::Chain]);
    }

    #[test]
    fn consecutive_failures_merge_into_one_seq_range() {
        let mut f = Findings::new();
        for s in 3..=7 {
            f.seq(CheckName::Signatures, s, "bad");
        }
        f.seq(CheckName::Signatures, 9, "bad");
        let (list, omitted) = &f.by_check[&CheckName::Signatures];
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].seq, Some(SeqRange { first: 3, last: 7 }));
        assert_eq!(list[0].to_string(), "seq 3–7: bad");
        assert_eq!(*omitted, 0);
        for s in 0..200 {
            f.seq(CheckName::Chain, s * 2, format!("x{s}"));
        }
        assert_eq!(f.by_check[&CheckName::Chain].0.len(), MAX_FINDINGS);
        assert_eq!(f.by_check[&CheckName::Chain].1, 200 - MAX_FINDINGS as u64);
    }

    #[test]
    fn a_signed_checkpoint_beyond_the_records_is_truncation() {
        let key = GatewayKey::from_seed([1; 32]);
        let b = tiny(&key);
        let text = String::from_utf8(b).unwrap();
        // Drop the last record line, keep the checkpoint of size 4.
        let lines: Vec<&str> = text.lines().collect();
        let cut = [&lines[..4], &lines[5..]].concat().join("\n") + "\n";
        let v = verdict(cut.as_bytes(), &key);
        assert_eq!(v.failed(), vec![CheckName::Checkpoints]);
        let f = &v.check(CheckName::Checkpoints).findings[0];
        assert_eq!(f.seq, Some(SeqRange { first: 3, last: 3 }));
    }
}
