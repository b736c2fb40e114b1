//! The fleet view (`edgeproof fleet`): every registered gateway's coverage over the last 30
//! and 90 days, latest checkpoint and whether a witness cosigned it, and red flags, worst
//! first, optionally only one city / enterprise / project. Pure: from the archive's
//! [`GatewayRow`]s and a moment "now"; [`super::fleet_html`] renders it.
//!
//! Red flags and their weight (the order sorts by the heaviest flag, then the number of
//! flags, then 30-day coverage, lowest first):
//! - 3 *integrity*: conflicts, bad signatures, broken links, bad records, bad / forked /
//!   mismatched checkpoints — evidence that something was altered or forged;
//! - 2 *missing*: records missing in gaps; no record written for longer than `silent_after`
//!   (by the records' wall time, so a back-filled outage does not stay flagged);
//! - 1 *attention*: latest checkpoint not cosigned by a trusted witness (its cosignature lines
//!   are verified against the witness keys given; without keys they count as unverified);
//!   30-day coverage below 80 %.
//!
//! Every flag says where (seq range) and when (time range) it lies, so that a reviewer knows
//! what to open. The headline counts gateways by their heaviest class. When no gateway shown
//! has a witnessed checkpoint, the view says so once at the top instead of flagging every
//! row: a flag that every gateway carries tells nothing about any of them.

use serde::Serialize;

use super::model::{AnomalyKind, Span};
use super::plan::DAY_MS;
use super::summary::{AnomalySpan, GatewayRow, LastCheckpoint};
use edgeproof_evidence::cosignature::WitnessKey;
use edgeproof_evidence::note::SignedNote;

/// Which gateways, as of when.
#[derive(Clone, Debug)]
pub struct FleetOptions {
    /// "Now", Unix ms.
    pub now_ms: u64,
    /// No evidence received for longer than this is a red flag.
    pub silent_after_ms: u64,
    /// Only this city.
    pub city: Option<String>,
    /// Only this enterprise.
    pub enterprise: Option<String>,
    /// Only this project.
    pub project: Option<String>,
    /// Witnesses whose cosignatures count.
    pub witnesses: Vec<WitnessKey>,
}

/// A red flag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// 3 integrity, 2 missing, 1 attention.
    pub weight: u8,
    /// `integrity`, `missing` or `attention` (by weight).
    pub class: &'static str,
    /// What, in words (Chinese / English).
    pub text: String,
    /// The records it concerns, overall (first to last of [`Flag::ranges`]).
    pub seqs: Option<Span>,
    /// When, overall: start, Unix ms.
    pub from_ms: Option<u64>,
    /// When, overall: end, Unix ms.
    pub to_ms: Option<u64>,
    /// Each place it lies (up to ten), for flags made of several rows (gaps, anomalies).
    pub ranges: Vec<FlagRange>,
    /// About the latest checkpoint's witness (dropped for the fleet-wide notice).
    #[serde(skip)]
    witness: bool,
}

/// One place a flag lies: seqs and a time range (see [`AnomalySpan`] for which clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FlagRange {
    /// The records.
    pub seqs: Option<Span>,
    /// Start, Unix ms.
    pub from_ms: Option<u64>,
    /// End, Unix ms.
    pub to_ms: Option<u64>,
}

/// The class word for a weight.
pub fn class_of(weight: u8) -> &'static str {
    match weight {
        3.. => "integrity",
        2 => "missing",
        1 => "attention",
        0 => "none",
    }
}

impl Flag {
    fn new(weight: u8, text: String) -> Flag {
        Flag {
            weight,
            class: class_of(weight),
            text,
            seqs: None,
            from_ms: None,
            to_ms: None,
            ranges: Vec::new(),
            witness: false,
        }
    }

    fn about_witness(mut self) -> Flag {
        self.witness = true;
        self
    }

    fn at(mut self, seqs: Option<Span>, from_ms: Option<u64>, to_ms: Option<u64>) -> Flag {
        self.seqs = seqs;
        self.from_ms = from_ms;
        self.to_ms = to_ms;
        self
    }

    /// Sets the ranges and the overall seq and time range they span.
    fn over(mut self, spans: &[AnomalySpan]) -> Flag {
        self.ranges = spans
            .iter()
            .map(|s| FlagRange { seqs: s.seqs, from_ms: s.from_ms, to_ms: s.to_ms })
            .collect();
        let firsts = spans.iter().filter_map(|s| s.seqs);
        self.seqs = firsts
            .clone()
            .map(|s| s.first)
            .min()
            .zip(firsts.map(|s| s.last).max())
            .map(|(first, last)| Span { first, last });
        self.from_ms = spans.iter().filter_map(|s| s.from_ms).min();
        self.to_ms = spans.iter().filter_map(|s| s.to_ms).max();
        self
    }
}

/// The latest checkpoint, for the view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckpointView {
    /// Tree size.
    pub size: u64,
    /// Cosigned by at least one trusted witness whose signature verified.
    pub witnessed: bool,
    /// Trusted witnesses whose cosignature verified.
    pub trusted_cosignatures: u64,
    /// Signature lines besides the gateway's (verified or not).
    pub other_signatures: u64,
    /// When received, Unix ms.
    pub received_ms: u64,
    /// `matches`, `mismatch` or `pending` (records not all stored yet).
    pub root: &'static str,
}

/// One gateway's line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FleetRow {
    /// Gateway id.
    pub gateway: String,
    /// Log origin.
    pub origin: String,
    /// City.
    pub city: String,
    /// Enterprise.
    pub enterprise: String,
    /// Project.
    pub project: String,
    /// Records stored.
    pub records: u64,
    /// Records missing in gaps.
    pub missing: u64,
    /// Coverage over the last 30 days (since enrolment if later), parts per million.
    pub coverage_30_ppm: u64,
    /// Coverage over the last 90 days.
    pub coverage_90_ppm: u64,
    /// Wall time of the latest record.
    pub last_record_ms: Option<u64>,
    /// The latest checkpoint.
    pub checkpoint: Option<CheckpointView>,
    /// Red flags, heaviest first.
    pub flags: Vec<Flag>,
}

impl FleetRow {
    /// The heaviest flag's weight (0 without flags).
    pub fn weight(&self) -> u8 {
        self.flags.iter().map(|f| f.weight).max().unwrap_or(0)
    }
}

/// Gateways shown, by their heaviest flag's class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Headline {
    /// With an integrity flag (something altered or forged).
    pub integrity: usize,
    /// Whose heaviest flag is missing evidence (gaps, silence).
    pub missing: usize,
    /// Whose heaviest flag needs attention (no witness, low coverage).
    pub attention: usize,
    /// Without flags.
    pub clean: usize,
}

/// The fleet view.
#[derive(Clone, Debug, Serialize)]
pub struct Fleet {
    /// As of, Unix ms.
    pub now_ms: u64,
    /// The filter, in words.
    pub filter: String,
    /// Gateways registered in all.
    pub registered: usize,
    /// Counts by class.
    pub headline: Headline,
    /// Said once at the top when no gateway shown has a witnessed checkpoint (and then no
    /// row carries a witness flag); `None` when some have.
    pub witness_notice: Option<String>,
    /// The rows, worst first.
    pub rows: Vec<FleetRow>,
}

/// The first UTC day whose coverage the view needs.
pub fn first_day(now_ms: u64) -> i64 {
    (now_ms.saturating_sub(90 * DAY_MS) / DAY_MS) as i64
}

fn coverage(row: &GatewayRow, now_ms: u64, days: u64) -> u64 {
    let window_start = now_ms.saturating_sub(days * DAY_MS);
    let start = window_start.max(row.first_wall_ms.unwrap_or(now_ms));
    let span = now_ms.saturating_sub(start);
    if span == 0 {
        return 0;
    }
    let from_day = (window_start / DAY_MS) as i64;
    let covered: u64 = row.covered_by_day.range(from_day..).map(|(_, ms)| *ms).sum();
    (u128::from(covered) * 1_000_000 / u128::from(span)).min(1_000_000) as u64
}

fn duration_words(ms: u64) -> String {
    let h = ms / 3_600_000;
    if h >= 48 {
        format!("{} d", h / 24)
    } else if h >= 1 {
        format!("{h} h")
    } else {
        format!("{} min", ms / 60_000)
    }
}

fn flags(
    row: &GatewayRow,
    opts: &FleetOptions,
    cov30: u64,
    cp: Option<&CheckpointView>,
) -> Vec<Flag> {
    let mut out = Vec::new();
    let none = Vec::new();
    for (kind, (n, seqs)) in &row.anomalies {
        let spans = row.spans.get(kind).unwrap_or(&none);
        let (weight, text) = match kind {
            AnomalyKind::Gap => {
                (2, format!("缺失 {seqs} 条记录 / {seqs} record(s) missing in {n} gap(s)"))
            }
            AnomalyKind::UnknownGateway => continue,
            k => (3, format!("{} × {n}", integrity_label(*k))),
        };
        out.push(Flag::new(weight, text).over(spans));
    }
    // The gateway's own time of its latest record: what arrived late still counts.
    let last = row.last_wall_ms;
    let after_last = row.horizon.map(|h| Span { first: h + 1, last: h + 1 });
    match last {
        None => out.push(Flag::new(2, "从未收到证据 / no evidence received".into()).at(
            None,
            row.last_received_ms,
            Some(opts.now_ms),
        )),
        Some(t) if opts.now_ms.saturating_sub(t) > opts.silent_after_ms => {
            out.push(
                Flag::new(2, format!("静默 {0} / silent for {0}", duration_words(opts.now_ms - t)))
                    .at(after_last, Some(t), Some(opts.now_ms)),
            )
        }
        Some(_) => {}
    }
    let whole = |size: u64| size.checked_sub(1).map(|last| Span { first: 0, last });
    match cp {
        Some(c) if c.witnessed => {}
        Some(c) if c.other_signatures > 0 => out.push(
            Flag::new(
                1,
                "最新检查点的见证签名未经可信见证人验证 / latest checkpoint cosigned, but by no \
                 trusted witness (--witness-key)"
                    .into(),
            )
            .at(whole(c.size), Some(c.received_ms), Some(c.received_ms))
            .about_witness(),
        ),
        Some(c) => out.push(
            Flag::new(1, "最新检查点无见证 / latest checkpoint not witnessed".into())
                .at(whole(c.size), Some(c.received_ms), Some(c.received_ms))
                .about_witness(),
        ),
        None if row.records > 0 => out.push(Flag::new(1, "无检查点 / no checkpoint".into()).at(
            row.horizon.map(|h| Span { first: 0, last: h }),
            row.first_wall_ms,
            row.last_wall_ms,
        )),
        None => {}
    }
    if row.records > 0 && cov30 < 800_000 {
        let window_start = opts.now_ms.saturating_sub(30 * DAY_MS);
        out.push(
            Flag::new(
                1,
                format!(
                    "30 天覆盖率 {0}.{1}% / 30-day coverage {0}.{1}%",
                    cov30 / 10_000,
                    cov30 / 1_000 % 10
                ),
            )
            .at(
                None,
                Some(window_start.max(row.first_wall_ms.unwrap_or(window_start))),
                Some(opts.now_ms),
            ),
        );
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.weight));
    out
}

/// The words for an integrity anomaly kind.
pub fn integrity_label(k: AnomalyKind) -> &'static str {
    match k {
        AnomalyKind::Conflict => "同序号冲突记录 / conflicting records",
        AnomalyKind::BadSignature => "签名无效 / bad signatures",
        AnomalyKind::BadRecord => "无法读取的记录 / unreadable records",
        AnomalyKind::BrokenLink => "链接断裂 / broken prev links",
        AnomalyKind::BadCheckpoint => "检查点无效 / bad checkpoints",
        AnomalyKind::CheckpointFork => "检查点分叉 / forked checkpoints",
        AnomalyKind::CheckpointMismatch => "检查点与记录不符 / checkpoint ≠ records",
        AnomalyKind::Gap => "缺失 / gaps",
        AnomalyKind::UnknownGateway => "未登记网关 / unregistered gateway",
        AnomalyKind::Misrouted => {
            "在本网关主题上发布他人证据 / misrouted: another log's evidence on its topic"
        }
    }
}

/// The latest checkpoint with its cosignatures checked against the trusted witnesses.
fn checkpoint_view(c: &LastCheckpoint, witnesses: &[WitnessKey]) -> CheckpointView {
    // Line by line: an unverifiable line under a witness's name (stored by an older
    // collector) must not hide that witness's valid one; lines the collector kept apart count
    // when they verify under a key given here.
    let lines: Vec<String> = SignedNote::parse(&c.note)
        .map(|n| n.signatures.iter().map(|s| s.line()).collect())
        .unwrap_or_default();
    let lines = lines.iter().map(String::as_str).chain(c.unverified.lines());
    let verified = super::export::cosigned_by(&c.note, lines, witnesses);
    let trusted = witnesses
        .iter()
        .filter(|w| verified.iter().any(|l| l.starts_with(&format!("\u{2014} {} ", w.name))))
        .count() as u64;
    CheckpointView {
        size: c.size,
        witnessed: trusted > 0,
        trusted_cosignatures: trusted,
        other_signatures: c.signatures.saturating_sub(1),
        received_ms: c.received_ms,
        root: match c.root_checked {
            1 => "matches",
            2 => "mismatch",
            _ => "pending",
        },
    }
}

/// Builds the view: filters, figures, flags, order.
pub fn summarize(rows: Vec<GatewayRow>, opts: &FleetOptions) -> Fleet {
    let registered = rows.len();
    let keep = |want: &Option<String>, got: &str| want.as_deref().is_none_or(|w| w == got);
    let mut out: Vec<FleetRow> = rows
        .into_iter()
        .filter(|r| {
            keep(&opts.city, &r.reg.city)
                && keep(&opts.enterprise, &r.reg.enterprise)
                && keep(&opts.project, &r.reg.project)
        })
        .map(|r| {
            let cov30 = coverage(&r, opts.now_ms, 30);
            let cov90 = coverage(&r, opts.now_ms, 90);
            let checkpoint =
                r.last_checkpoint.as_ref().map(|c| checkpoint_view(c, &opts.witnesses));
            let flags = flags(&r, opts, cov30, checkpoint.as_ref());
            FleetRow {
                gateway: r.reg.gateway.clone(),
                origin: r.reg.origin.clone(),
                city: r.reg.city.clone(),
                enterprise: r.reg.enterprise.clone(),
                project: r.reg.project.clone(),
                records: r.records,
                missing: r.anomalies.get(&AnomalyKind::Gap).map_or(0, |(_, s)| *s),
                coverage_30_ppm: cov30,
                coverage_90_ppm: cov90,
                last_record_ms: r.last_wall_ms,
                checkpoint,
                flags,
            }
        })
        .collect();
    // Nobody witnessed: one notice instead of the same flag on every row.
    let witness_notice = (!out.is_empty()
        && !out.iter().any(|r| r.checkpoint.as_ref().is_some_and(|c| c.witnessed)))
    .then(|| {
        for r in &mut out {
            r.flags.retain(|f| !f.witness);
        }
        if opts.witnesses.is_empty() {
            "没有给出见证人公钥，见证签名未检查；所有网关均未见证 / no witness key given \
             (--witness-key): no gateway counts as witnessed"
                .to_string()
        } else {
            format!(
                "没有网关的最新检查点经可信见证人（{} 个）签名 / no gateway's latest checkpoint is \
                 cosigned by a trusted witness ({} key(s) given)",
                opts.witnesses.len(),
                opts.witnesses.len()
            )
        }
    });
    out.sort_by(|a, b| {
        b.weight()
            .cmp(&a.weight())
            .then(b.flags.len().cmp(&a.flags.len()))
            .then(a.coverage_30_ppm.cmp(&b.coverage_30_ppm))
            .then(a.gateway.cmp(&b.gateway))
    });
    let filter =
        [("city", &opts.city), ("enterprise", &opts.enterprise), ("project", &opts.project)]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} = {v}")))
            .collect::<Vec<_>>()
            .join(", ");
    let mut headline = Headline::default();
    for r in &out {
        match r.weight() {
            3.. => headline.integrity += 1,
            2 => headline.missing += 1,
            1 => headline.attention += 1,
            0 => headline.clean += 1,
        }
    }
    Fleet { now_ms: opts.now_ms, filter, registered, headline, witness_notice, rows: out }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::archive::model::Registration;

    const NOW: u64 = 1_767_225_600_000 + 40 * DAY_MS;

    fn row(
        gw: &str,
        city: &str,
        covered_days: u64,
        anomalies: &[(AnomalyKind, u64, u64)],
        last_ago: u64,
    ) -> GatewayRow {
        GatewayRow {
            reg: Registration {
                gateway: gw.into(),
                origin: format!("edgeproof/{gw}"),
                public_key: String::new(),
                city: city.into(),
                enterprise: String::new(),
                project: "P".into(),
                topic_prefix: format!("edgeproof/{gw}"),
                mqtt_user: gw.into(),
            },
            records: 100,
            horizon: Some(99),
            first_wall_ms: Some(NOW - 100 * DAY_MS),
            last_wall_ms: Some(NOW - last_ago),
            last_received_ms: Some(NOW - last_ago),
            covered_by_day: (0..covered_days)
                .map(|d| ((NOW / DAY_MS - d) as i64, DAY_MS))
                .collect(),
            last_checkpoint: Some(witnessed_checkpoint()),
            anomalies: anomalies.iter().map(|&(k, n, s)| (k, (n, s))).collect::<BTreeMap<_, _>>(),
            spans: BTreeMap::new(),
        }
    }

    const WITNESS: &str = "witness.example/w1";

    fn witness() -> WitnessKey {
        let key = edgeproof_evidence::GatewayKey::from_seed([9; 32]).public();
        WitnessKey { name: WITNESS.into(), key }
    }

    /// A checkpoint note with the gateway's line and a real cosignature of [`witness`].
    fn witnessed_checkpoint() -> LastCheckpoint {
        use edgeproof_evidence::cosignature::cosign;
        use edgeproof_evidence::{Checkpoint, GatewayKey, Hash};
        let cp = Checkpoint::new("edgeproof/gw", 100, Hash::sha256(b"root"));
        let mut note = cp.sign(&GatewayKey::from_seed([1; 32]));
        note.signatures.push(cosign(&note.text, WITNESS, &GatewayKey::from_seed([9; 32]), 1));
        LastCheckpoint {
            size: 100,
            signatures: 2,
            received_ms: NOW,
            root_checked: 1,
            note: note.to_text(),
            unverified: String::new(),
        }
    }

    #[test]
    fn worst_first_and_filtered() {
        let rows = vec![
            row("fine", "Foshan", 30, &[], 0),
            row("gappy", "Foshan", 30, &[(AnomalyKind::Gap, 2, 7)], 0),
            row("forged", "Foshan", 30, &[(AnomalyKind::BadSignature, 1, 1)], 0),
            row("silent", "Foshan", 30, &[], 3 * DAY_MS),
            row("idle", "Foshan", 12, &[], 0),
            row("elsewhere", "Shenzhen", 0, &[(AnomalyKind::Conflict, 1, 1)], 0),
        ];
        let mut opts = FleetOptions {
            now_ms: NOW,
            silent_after_ms: 3_600_000,
            city: Some("Foshan".into()),
            enterprise: None,
            project: None,
            witnesses: vec![witness()],
        };
        let f = summarize(rows.clone(), &opts);
        let order: Vec<&str> = f.rows.iter().map(|r| r.gateway.as_str()).collect();
        assert_eq!(order, ["forged", "gappy", "silent", "idle", "fine"]);
        assert_eq!((f.registered, f.filter.as_str()), (6, "city = Foshan"));
        let idle = &f.rows[3];
        assert_eq!(idle.coverage_30_ppm, 400_000);
        assert_eq!(idle.coverage_90_ppm, 133_333);
        assert!(idle.flags[0].text.contains("30-day coverage 40.0%"), "{:?}", idle.flags);
        assert!(f.rows[2].flags[0].text.contains("silent for 3 d"));
        assert_eq!(f.rows[1].missing, 7);
        assert!(f.rows[4].flags.is_empty());
        let fine = f.rows[4].checkpoint.as_ref().unwrap();
        assert!(fine.witnessed && fine.trusted_cosignatures == 1);
        assert_eq!(
            f.headline,
            Headline { integrity: 1, missing: 2, attention: 1, clean: 1 },
            "forged; gappy, silent; idle; fine"
        );
        assert_eq!(f.witness_notice, None);
        // Without the witness's key the cosignature counts for nothing, for every gateway:
        // said once, not on every row.
        opts.witnesses.clear();
        let f = summarize(rows.clone(), &opts);
        assert!(f.witness_notice.as_deref().is_some_and(|n| n.contains("no witness key given")));
        assert!(f.rows.iter().all(|r| !r.flags.iter().any(|f| f.text.contains("witness"))));
        assert_eq!(f.headline.clean, 1, "fine stays clean");
        opts.witnesses = vec![witness()];
        opts.city = None;
        assert_eq!(summarize(rows, &opts).rows[0].gateway, "elsewhere");
    }

    /// A cosignature the collector kept apart (it did not know the witness) counts when it
    /// verifies under a key the reader gives; garbage under the same name never does.
    #[test]
    fn lines_kept_apart_count_only_when_they_verify_here() {
        let mut c = witnessed_checkpoint();
        let note = SignedNote::parse(&c.note).unwrap();
        let valid = note.signatures[1].line();
        let mut bad = note.signatures[1].clone();
        bad.sig[30] ^= 1;
        c.note =
            SignedNote { text: note.text.clone(), signatures: vec![note.signatures[0].clone()] }
                .to_text();
        c.signatures = 1;
        c.unverified = bad.line();
        assert!(!checkpoint_view(&c, &[witness()]).witnessed);
        c.unverified = format!("{}\n{valid}", bad.line());
        let v = checkpoint_view(&c, &[witness()]);
        assert!(v.witnessed && v.trusted_cosignatures == 1, "{v:?}");
        assert!(!checkpoint_view(&c, &[]).witnessed);
    }
}
