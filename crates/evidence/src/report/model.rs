//! What the report says, as data: the [`Report`] the HTML page renders and `--json` writes.
//! Field names are part of the JSON output other tools may read: add fields, do not rename.

use std::collections::BTreeMap;

use serde::Serialize;

use super::text;

/// An inclusive seq range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Seqs {
    /// First seq.
    pub first: u64,
    /// Last seq.
    pub last: u64,
}

impl std::fmt::Display for Seqs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}–{}", self.first, self.last)
        }
    }
}

/// Who and what the log is about.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Header {
    /// Log origin.
    pub origin: String,
    /// Gateway id.
    pub gateway: String,
    /// Enterprise USCC.
    pub uscc: String,
    /// Project id.
    pub project: String,
    /// Contract id.
    pub contract: String,
    /// Fingerprint of the key the bundle was verified against.
    pub key_fingerprint: String,
    /// Key protection declared at enrolment.
    pub key_assurance: String,
    /// Agent version at enrolment.
    pub agent_version: String,
    /// Production devices in the factory.
    pub production_devices: u64,
    /// Records in the bundle.
    pub records: u64,
    /// Records that could not be read.
    pub unreadable_records: u64,
    /// Checkpoints in the bundle.
    pub checkpoints: u64,
    /// Agent starts in the log.
    pub starts: u64,
}

/// One of the six checks.
#[derive(Debug, Clone, Serialize)]
pub struct CheckLine {
    /// Number in EVIDENCE.md.
    pub number: u8,
    /// Name.
    pub name: String,
    /// `pass`, `fail` or `skipped`.
    pub status: String,
    /// Findings, each with its seq range.
    pub findings: Vec<String>,
    /// What the check established.
    pub notes: Vec<String>,
}

/// The verification verdict.
#[derive(Debug, Clone, Serialize)]
pub struct VerdictSummary {
    /// No check failed.
    pub intact: bool,
    /// A witness cosigned part of the log.
    pub witnessed: bool,
    /// The six checks.
    pub checks: Vec<CheckLine>,
}

/// The report period.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Period {
    /// Start (Unix ms).
    pub from_ms: u64,
    /// End (Unix ms).
    pub to_ms: u64,
    /// The UTC offset days are counted in, e.g. `+08:00`.
    pub utc_offset: i32,
}

/// One civil day.
#[derive(Debug, Clone, Serialize)]
pub struct DayReport {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Days since 1970-01-01.
    pub day: i64,
    /// Part of the day inside the period, ms.
    pub expected_ms: u64,
    /// Part covered by intervals with successful polls, ms.
    pub covered_ms: u64,
    /// Part of `covered_ms` whose usage records a trusted witness cosigned in time, ms.
    pub witnessed_ms: u64,
    /// Part covered by usage intervals at all (agent running), ms.
    pub running_ms: u64,
    /// `covered / expected` in parts per million.
    pub coverage_ppm: u64,
    /// Devices with successful polls that day.
    pub active_devices: Vec<String>,
    /// Good samples read that day.
    pub points_read: u64,
}

/// Why a gap is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapClass {
    /// The agent was stopped cleanly (`shutdown` recorded).
    CleanStop,
    /// The run ended without `shutdown` and the OS booted again.
    PowerLoss,
    /// The run ended without `shutdown` within the same OS boot: killed or crashed.
    UncleanStop,
    /// The broker was unreachable; the journal kept the data and delivered it later.
    OutageBackfilled,
    /// The broker was unreachable and the backlog was not (yet) delivered in this log.
    OutageOpen,
    /// A hole in the log nothing explains.
    Unexplained,
}

impl GapClass {
    /// Chinese and English label.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            GapClass::CleanStop => ("正常停机", "clean stop"),
            GapClass::PowerLoss => ("断电或系统重启", "power loss / OS restart"),
            GapClass::UncleanStop => {
                ("非正常停止（进程被杀或崩溃）", "unclean stop (agent killed or crashed)")
            }
            GapClass::OutageBackfilled => ("网络中断，已补传", "outage, back-filled"),
            GapClass::OutageOpen => ("网络中断，未补传", "outage, not back-filled"),
            GapClass::Unexplained => ("原因不明", "unexplained"),
        }
    }
}

/// A gap or an outage.
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    /// Its class.
    pub class: GapClass,
    /// Start (Unix ms).
    pub from_ms: u64,
    /// End (Unix ms).
    pub to_ms: u64,
    /// Length, ms.
    pub duration_ms: u64,
    /// The records around it (the last before and the first after, or the outage's usage
    /// records).
    pub seq: Seqs,
    /// Details in English.
    pub detail: String,
}

/// One device over the period.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeviceReport {
    /// Device id.
    pub id: String,
    /// Protocol.
    pub protocol: String,
    /// Endpoint.
    pub endpoint: String,
    /// Nameplate vendor.
    pub vendor: String,
    /// Nameplate model.
    pub model: String,
    /// Scene tag.
    pub scene: String,
    /// In the enroll inventory.
    pub declared: bool,
    /// Days with successful polls.
    pub active_days: u64,
    /// Good samples read.
    pub points_read: u64,
    /// Of which changed.
    pub points_changed: u64,
    /// Requests answered.
    pub polls_ok: u64,
    /// Requests failed or timed out.
    pub polls_failed: u64,
    /// Its endpoint resolved to the gateway itself at some point.
    pub endpoint_local: bool,
    /// Distinct fingerprints recorded.
    pub fingerprints: u64,
    /// Identity as last recorded (`VendorName`, … or `mei` = `unsupported`).
    pub identity: BTreeMap<String, String>,
}

/// 设备联网率.
#[derive(Debug, Clone, Serialize)]
pub struct Networking {
    /// Factory total from `enroll`.
    pub production_devices: u64,
    /// Declared devices (inventory).
    pub declared: u64,
    /// Declared devices active on at least one day.
    pub active: u64,
    /// `active / production_devices`, ppm (at most 1,000,000).
    pub rate_ppm: u64,
    /// The 10-point band, e.g. `60–70%`.
    pub band: String,
}

/// A scene tag.
#[derive(Debug, Clone, Serialize)]
pub struct SceneReport {
    /// The tag (empty: untagged).
    pub scene: String,
    /// Devices declared with it.
    pub devices: Vec<String>,
    /// Of which active on at least one day.
    pub active_devices: u64,
    /// Days on which one of them was active.
    pub days_with_data: u64,
    /// Good samples read from them.
    pub points_read: u64,
}

/// Something a reviewer should look at.
#[derive(Debug, Clone, Serialize)]
pub struct Anomaly {
    /// `fail` (verification), `warn`, `info`.
    pub severity: &'static str,
    /// Short machine name.
    pub kind: &'static str,
    /// Records involved.
    pub seq: Option<Seqs>,
    /// In English.
    pub en: String,
    /// In Chinese.
    pub zh: String,
}

/// How far and how timely the trusted witnesses reach into the log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WitnessSummary {
    /// A witness key was given.
    pub trusted_witnesses: bool,
    /// Lag allowed for timely witnessing, ms.
    pub max_lag_ms: u64,
    /// First witnessed seq.
    pub first_witnessed_seq: Option<u64>,
    /// Last witnessed seq.
    pub last_witnessed_seq: Option<u64>,
    /// Records after the last witnessed one.
    pub not_yet_witnessed: u64,
    /// Records witnessed later than allowed.
    pub witnessed_late: u64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `edgeproof <version>`.
    pub generated_by: String,
    /// Who and what.
    pub header: Header,
    /// Verification.
    pub verdict: VerdictSummary,
    /// The period.
    pub period: Period,
    /// The usual usage interval, ms (median).
    pub interval_ms: Option<u64>,
    /// Coverage of the whole period, ppm.
    pub coverage_ppm: u64,
    /// Witnessed coverage of the whole period, ppm: only intervals cosigned by a trusted
    /// witness within the allowed lag.
    pub witnessed_coverage_ppm: u64,
    /// How far the trusted witnesses reach.
    pub witness: WitnessSummary,
    /// Each day of the period.
    pub days: Vec<DayReport>,
    /// Gaps and outages, in time order.
    pub gaps: Vec<Gap>,
    /// Declared devices, then undeclared ones seen in usage records.
    pub devices: Vec<DeviceReport>,
    /// 设备联网率.
    pub networking: Networking,
    /// Scene tags.
    pub scenes: Vec<SceneReport>,
    /// Findings for a reviewer.
    pub anomalies: Vec<Anomaly>,
    /// What this evidence can and cannot prove.
    pub limits: text::Limits,
}
