//! From the records of a bundle to what a reviewer asks: was the gateway running, were the
//! declared devices talking to it, day by day; where are the holes and why; what looks odd.
//!
//! Definitions (the report shows them next to the figures):
//!
//! - **Period**: the window asked for: from `--from` (default: the `enroll` record) to `--to`
//!   (default: `--at`, which defaults to now; without either, the last record). Never
//!   clipped to the records: a silent or cut tail is uncovered time and lowers coverage.
//! - **Coverage of a day**: the share of the day's part of the period covered by `usage`
//!   intervals in which at least one device answered a poll (`polls.ok > 0`).
//! - **Witnessed coverage**: the same, counting only usage intervals whose record a trusted
//!   witness cosigned within `--max-witness-lag` of its wall time (see
//!   [`crate::verify::WitnessReach`]). Without a witness key it is 0: nothing bounds when
//!   the records were written.
//! - **Active device on a day**: a device with `polls.ok > 0` in a `usage` interval that
//!   starts that day.
//! - **设备联网率 (networked rate)**: declared devices active on at least one day of the period,
//!   over the factory's production-device total from `enroll`; the band is its 10-point band.
//! - **Gaps**: time between consecutive `usage` intervals (every restart; within one run, holes
//!   of 1 s or more), classed by what the log
//!   says about it — a `shutdown` before it (clean stop); a `boot` saying the previous run
//!   ended unclean, with a new kernel boot id (power loss or OS restart) or the same one
//!   (agent killed or crashed); nothing (unexplained). **Outages** are not holes in the log
//!   but in delivery: consecutive intervals in which samples were journaled and none was
//!   acknowledged by the broker. One is *back-filled* once the samples acknowledged after it
//!   add up to at least the journal backlog at its end (the journal delivers oldest first).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::calendar::{self, UtcOffset};
use super::model::*;
use super::text;
use crate::keys::PublicKey;
use crate::record::{Body, DeviceChange, PreviousRun, SignedRecord};
use crate::verify::{Status, Verdict, WitnessReach};

/// Shortest gap between usage intervals of one run that is reported.
const MIN_GAP_MS: u64 = 1_000;

/// Consecutive usage intervals with reads but no value change before that is reported.
const STATIC_RUN: usize = 12;

/// What to report on.
#[derive(Debug, Clone, Copy)]
pub struct ReportOptions {
    /// Days are civil days in this offset.
    pub offset: UtcOffset,
    /// Start of the period (Unix ms); default: the `enroll` record.
    pub from_ms: Option<u64>,
    /// End of the period (Unix ms); default: `at_ms`.
    pub to_ms: Option<u64>,
    /// The moment the report is made for (Unix ms), the default end of the period; default:
    /// the last record.
    pub at_ms: Option<u64>,
}

/// Now, in Unix ms (the default `--at`).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions { offset: UtcOffset::CST, from_ms: None, to_ms: None, at_ms: None }
    }
}

/// One device's figures in one usage interval, compactly (a year of 5-minute records for
/// many devices must fit a reviewer's laptop).
#[derive(Debug, Clone, Copy)]
struct DevStat {
    dev: u32,
    ok: u64,
    failed: u64,
    read: u64,
    changed: u64,
    local: bool,
}

/// A usage record, compactly.
#[derive(Debug, Clone)]
struct Interval {
    seq: u64,
    run: u64,
    boot: u32,
    start: u64,
    end: u64,
    journaled: u64,
    acked: u64,
    backlog: u64,
    dropped: u64,
    devs: Vec<DevStat>,
}

/// A boot record.
#[derive(Debug, Clone, Copy)]
struct BootAt {
    seq: u64,
    run: u64,
    boot: u32,
    previous: PreviousRun,
}

/// A device seen in usage records.
#[derive(Debug, Clone)]
struct DeviceMeta {
    id: String,
    protocol: String,
    endpoint: String,
}

/// The report being built, record by record.
#[derive(Debug)]
pub struct Analysis {
    opts: ReportOptions,
    header: Header,
    enroll_ms: Option<u64>,
    first_ms: Option<u64>,
    last_ms: u64,
    inventory: Vec<crate::record::InventoryDevice>,
    intervals: Vec<Interval>,
    boots: Vec<BootAt>,
    boot_ids: Vec<String>,
    devices: Vec<DeviceMeta>,
    device_index: HashMap<String, u32>,
    anomalies: Vec<Anomaly>,
    identities: HashMap<String, (BTreeSet<String>, BTreeMap<String, String>)>,
    records: u64,
}

impl Analysis {
    /// An empty analysis.
    pub fn new(opts: ReportOptions) -> Self {
        Analysis {
            opts,
            header: Header::default(),
            enroll_ms: None,
            first_ms: None,
            last_ms: 0,
            inventory: Vec::new(),
            intervals: Vec::new(),
            boots: Vec::new(),
            boot_ids: Vec::new(),
            devices: Vec::new(),
            device_index: HashMap::new(),
            anomalies: Vec::new(),
            identities: HashMap::new(),
            records: 0,
        }
    }

    fn boot_index(&mut self, id: &str) -> u32 {
        match self.boot_ids.iter().position(|b| b == id) {
            Some(k) => k as u32,
            None => {
                self.boot_ids.push(id.to_string());
                (self.boot_ids.len() - 1) as u32
            }
        }
    }

    fn device(&mut self, id: &str, protocol: &str, endpoint: &str) -> u32 {
        if let Some(&k) = self.device_index.get(id) {
            return k;
        }
        self.devices.push(DeviceMeta {
            id: id.to_string(),
            protocol: protocol.to_string(),
            endpoint: endpoint.to_string(),
        });
        let k = (self.devices.len() - 1) as u32;
        self.device_index.insert(id.to_string(), k);
        k
    }

    /// Takes the next readable record of the bundle (in bundle order).
    pub fn push(&mut self, sr: SignedRecord) {
        let r = sr.record;
        self.records += 1;
        self.first_ms.get_or_insert(r.t.wall_ms);
        self.last_ms = self.last_ms.max(r.t.wall_ms);
        match r.body {
            Body::Enroll(e) => {
                let h = &mut self.header;
                h.origin = r.origin.clone();
                h.gateway = r.gw.clone();
                h.uscc = e.uscc.clone();
                h.project = e.project.clone();
                h.contract = e.contract.clone();
                h.key_assurance = format!("{:?}", e.key_assurance).to_lowercase();
                h.agent_version = e.agent_version.clone();
                h.production_devices = e.production_devices;
                for d in &e.inventory {
                    self.device(&d.id, &d.protocol, &d.endpoint);
                }
                self.inventory = e.inventory;
                self.enroll_ms = Some(r.t.wall_ms);
            }
            Body::Boot(b) => {
                let boot = self.boot_index(&r.boot.id);
                self.boots.push(BootAt { seq: r.seq, run: r.boot.n, boot, previous: b.previous });
            }
            Body::Usage(u) => {
                let boot = self.boot_index(&r.boot.id);
                let devs = u
                    .devices
                    .iter()
                    .map(|d| DevStat {
                        dev: self.device(&d.id, &d.protocol, &d.endpoint),
                        ok: d.polls.ok,
                        failed: d.polls.error + d.polls.timeout,
                        read: d.points_read,
                        changed: d.points_changed,
                        local: d.endpoint_local,
                    })
                    .collect();
                self.intervals.push(Interval {
                    seq: r.seq,
                    run: r.boot.n,
                    boot,
                    start: u.start.wall_ms,
                    end: u.end.wall_ms,
                    journaled: u.totals.journaled,
                    acked: u.totals.acked,
                    backlog: u.totals.backlog,
                    dropped: u.totals.dropped,
                    devs,
                });
            }
            Body::Device(d) => {
                let entry = self.identities.entry(d.id.clone()).or_default();
                entry.0.insert(d.fingerprint.to_hex());
                entry.1 = d.identity.clone();
                if d.change == DeviceChange::Changed {
                    self.anomalies.push(Anomaly {
                        severity: "warn",
                        kind: "fingerprint_changed",
                        seq: Some(Seqs { first: r.seq, last: r.seq }),
                        en: format!(
                            "device {} answered with a different identity (fingerprint changed): \
                             replaced or re-flashed?",
                            d.id
                        ),
                        zh: format!("设备 {} 的身份标识（指纹）发生变化：是否被更换或改写？", d.id),
                    });
                }
            }
            Body::Config(c) => self.anomalies.push(Anomaly {
                severity: "info",
                kind: "config_changed",
                seq: Some(Seqs { first: r.seq, last: r.seq }),
                en: format!(
                    "device map changed: added [{}], removed [{}]",
                    c.added.join(", "),
                    c.removed.join(", ")
                ),
                zh: format!(
                    "设备配置变更：新增 [{}]，移除 [{}]",
                    c.added.join(", "),
                    c.removed.join(", ")
                ),
            }),
            Body::Clock(c) => {
                // Record 1 of a later start: the step the agent found at start, made while it
                // was stopped (the `clock` record right after `boot`).
                let at_start = r.boot.rec == 1 && r.boot.n > 1;
                let (when_en, when_zh) = if at_start {
                    ("while the agent was stopped (found at its start)", "代理停止期间")
                } else {
                    ("while the agent ran", "代理运行期间")
                };
                self.anomalies.push(Anomaly {
                    severity: "warn",
                    kind: "clock_stepped",
                    seq: Some(Seqs { first: r.seq, last: r.seq }),
                    en: format!(
                        "the gateway's wall clock was stepped {} by {} s {when_en} (recorded by \
                         the agent; times around it are in two frames)",
                        if c.step_ms < 0 { "back" } else { "forward" },
                        c.step_ms.unsigned_abs() / 1000
                    ),
                    zh: format!(
                        "{when_zh}网关系统时钟被{}调整 {} 秒（代理已记录；前后时间分属两个基准）",
                        if c.step_ms < 0 { "向后" } else { "向前" },
                        c.step_ms.unsigned_abs() / 1000
                    ),
                })
            }
            Body::Anchor(_) | Body::Shutdown(_) => {}
        }
    }

    /// The report, with the bundle's verdict.
    pub fn finish(
        mut self,
        verdict: &Verdict,
        key: &PublicKey,
        unreadable: u64,
        checkpoints: u64,
    ) -> Report {
        let mut header = std::mem::take(&mut self.header);
        header.key_fingerprint = key.fingerprint();
        header.records = self.records + unreadable;
        header.unreadable_records = unreadable;
        header.checkpoints = checkpoints;
        header.starts = self.boots.len() as u64;
        let first_ms = self.enroll_ms.or(self.first_ms).unwrap_or(0);
        let from_ms = self.opts.from_ms.unwrap_or(first_ms);
        let to_ms = self.opts.to_ms.or(self.opts.at_ms).unwrap_or(self.last_ms).max(from_ms);
        let period = Period { from_ms, to_ms, utc_offset: self.opts.offset.0 };
        let mut anomalies = std::mem::take(&mut self.anomalies);
        let summary = summarize(verdict, &mut anomalies);
        let interval_ms = median(self.intervals.iter().map(|i| i.end.saturating_sub(i.start)));
        let days = self.days(&period, verdict.witness_reach.as_ref());
        let expected: u64 = days.iter().map(|d| d.expected_ms).sum();
        let coverage_ppm = ppm(days.iter().map(|d| d.covered_ms).sum(), expected);
        let witnessed_coverage_ppm = ppm(days.iter().map(|d| d.witnessed_ms).sum(), expected);
        let witness = witness_summary(verdict, &mut anomalies);
        let mut gaps = self.gaps();
        gaps.extend(self.outages(&mut anomalies));
        gaps.sort_by_key(|g| g.from_ms);
        let devices = self.device_reports(&days, &mut anomalies);
        let declared_active =
            devices.iter().filter(|d| d.declared && d.active_days > 0).count() as u64;
        let rate_ppm = ppm(declared_active, header.production_devices).min(1_000_000);
        let networking = Networking {
            production_devices: header.production_devices,
            declared: self.inventory.len() as u64,
            active: declared_active,
            rate_ppm,
            band: band(rate_ppm),
        };
        let scenes = scenes(&devices, &days);
        anomalies.sort_by_key(|a| (severity_rank(a.severity), a.seq.map_or(0, |s| s.first)));
        Report {
            generated_by: format!("edgeproof {}", env!("CARGO_PKG_VERSION")),
            header,
            verdict: summary,
            period,
            interval_ms,
            coverage_ppm,
            witnessed_coverage_ppm,
            witness,
            days,
            gaps,
            devices,
            networking,
            scenes,
            anomalies,
            limits: text::limits(),
        }
    }

    fn days(&self, period: &Period, reach: Option<&WitnessReach>) -> Vec<DayReport> {
        let offset = self.opts.offset;
        let (p0, p1) = (period.from_ms as i64, period.to_ms as i64);
        let first = calendar::day_of(period.from_ms, offset);
        let last = calendar::day_of(period.to_ms.saturating_sub(1).max(period.from_ms), offset);
        let mut out: Vec<DayReport> = (first..=last)
            .map(|day| {
                let d0 = calendar::day_start_ms(day, offset);
                DayReport {
                    date: calendar::civil_from_days(day).to_string(),
                    day,
                    expected_ms: overlap(d0, d0 + calendar::DAY_MS, p0, p1),
                    covered_ms: 0,
                    witnessed_ms: 0,
                    running_ms: 0,
                    coverage_ppm: 0,
                    active_devices: Vec::new(),
                    points_read: 0,
                }
            })
            .collect();
        let mut active: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); out.len()];
        for i in &self.intervals {
            let (s, e) = ((i.start as i64).max(p0), (i.end as i64).min(p1));
            if e <= s {
                continue;
            }
            let ok = i.devs.iter().any(|d| d.ok > 0);
            let timely = reach.is_some_and(|r| r.is_timely(i.seq));
            let (ds, de) =
                (calendar::day_of(s as u64, offset), calendar::day_of((e - 1) as u64, offset));
            for day in ds..=de {
                let Some(k) = usize::try_from(day - first).ok().filter(|k| *k < out.len()) else {
                    continue;
                };
                let d0 = calendar::day_start_ms(day, offset);
                let o = overlap(d0, d0 + calendar::DAY_MS, s, e);
                out[k].running_ms += o;
                if ok {
                    out[k].covered_ms += o;
                    if timely {
                        out[k].witnessed_ms += o;
                    }
                }
                if day == ds {
                    out[k].points_read += i.devs.iter().map(|x| x.read).sum::<u64>();
                    active[k].extend(i.devs.iter().filter(|x| x.ok > 0).map(|x| x.dev));
                }
            }
        }
        for (d, a) in out.iter_mut().zip(active) {
            d.covered_ms = d.covered_ms.min(d.expected_ms);
            d.witnessed_ms = d.witnessed_ms.min(d.covered_ms);
            d.running_ms = d.running_ms.min(d.expected_ms);
            d.coverage_ppm = ppm(d.covered_ms, d.expected_ms);
            d.active_devices = a
                .into_iter()
                .filter_map(|k| self.devices.get(k as usize).map(|m| m.id.clone()))
                .collect();
        }
        out
    }

    fn gaps(&self) -> Vec<Gap> {
        let mut out = Vec::new();
        for w in self.intervals.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            // Every stop between runs is reported, however short the restart; within a run
            // only holes of a second or more.
            if b.run == a.run && b.start < a.end + MIN_GAP_MS {
                continue;
            }
            // The first start after a's run, when b belongs to a later run.
            let boot = (b.run != a.run)
                .then(|| {
                    self.boots.iter().find(|x| x.seq > a.seq && x.seq <= b.seq && x.run > a.run)
                })
                .flatten();
            let (class, detail) = match boot {
                None => (
                    GapClass::Unexplained,
                    "no usage recorded within one run of the agent".to_string(),
                ),
                Some(x) => match x.previous {
                    PreviousRun::Clean => (
                        GapClass::CleanStop,
                        format!("shutdown recorded; start {} at seq {}", x.run, x.seq),
                    ),
                    PreviousRun::Unclean if x.boot != a.boot => (
                        GapClass::PowerLoss,
                        format!(
                            "no shutdown recorded and the OS booted again; start {} at seq {}",
                            x.run, x.seq
                        ),
                    ),
                    PreviousRun::Unclean => (
                        GapClass::UncleanStop,
                        format!(
                            "no shutdown recorded, same OS boot (killed or crashed); start {} at seq {}",
                            x.run, x.seq
                        ),
                    ),
                    PreviousRun::None => (
                        GapClass::Unexplained,
                        format!("start {} at seq {} claims no earlier run", x.run, x.seq),
                    ),
                },
            };
            out.push(Gap {
                class,
                from_ms: a.end,
                to_ms: b.start,
                duration_ms: b.start.saturating_sub(a.end),
                seq: Seqs { first: a.seq, last: b.seq },
                detail,
            });
        }
        out
    }

    fn outages(&self, anomalies: &mut Vec<Anomaly>) -> Vec<Gap> {
        let iv = &self.intervals;
        if !iv.iter().any(|i| i.acked > 0) {
            if iv.iter().any(|i| i.journaled > 0) {
                anomalies.push(Anomaly {
                    severity: "info",
                    kind: "never_published",
                    seq: None,
                    en: "no sample was acknowledged by a broker in this log: publishing not \
                         configured, or the broker never reached"
                        .into(),
                    zh: "本日志中没有任何数据被 MQTT 服务器确认：未配置上传，或从未连上服务器"
                        .into(),
                });
            }
            return Vec::new();
        }
        let down = |i: &Interval| i.acked == 0 && i.journaled > 0;
        let mut out = Vec::new();
        let mut k = 0;
        while k < iv.len() {
            if !down(&iv[k]) {
                k += 1;
                continue;
            }
            let first = k;
            while k < iv.len() && down(&iv[k]) {
                k += 1;
            }
            let (a, b) = (&iv[first], &iv[k - 1]);
            let backlog = b.backlog;
            // The journal delivers oldest first: what it held at the outage's end has left
            // it once the samples acknowledged since add up to that backlog, or once what it
            // holds is no more than what was journaled since (this also holds across a
            // restart, when the acknowledgements of a lost interval are missing).
            let (mut acked_after, mut journaled_after) = (0u64, 0u64);
            let filled_at = iv[k..].iter().find(|later| {
                acked_after += later.acked;
                journaled_after += later.journaled;
                acked_after >= backlog || later.backlog <= journaled_after
            });
            let journaled: u64 = iv[first..k].iter().map(|i| i.journaled).sum();
            let (class, detail) = match filled_at {
                Some(f) => (
                    GapClass::OutageBackfilled,
                    format!(
                        "{journaled} samples journaled while the broker acknowledged none; the \
                         backlog of {backlog} was delivered by seq {}",
                        f.seq
                    ),
                ),
                None => (
                    GapClass::OutageOpen,
                    format!(
                        "{journaled} samples journaled while the broker acknowledged none; the \
                         backlog of {backlog} is not all delivered within this log"
                    ),
                ),
            };
            out.push(Gap {
                class,
                from_ms: a.start,
                to_ms: b.end,
                duration_ms: b.end.saturating_sub(a.start),
                seq: Seqs { first: a.seq, last: b.seq },
                detail,
            });
        }
        out
    }

    /// Merges positions in `intervals` into runs of consecutive usage records.
    fn runs(&self, positions: &[usize]) -> Vec<(usize, Seqs)> {
        let mut out: Vec<(usize, usize, Seqs)> = Vec::new();
        for &p in positions {
            let seq = self.intervals[p].seq;
            match out.last_mut() {
                Some((_, end, s)) if *end + 1 == p => {
                    *end = p;
                    s.last = seq;
                }
                _ => out.push((p, p, Seqs { first: seq, last: seq })),
            }
        }
        out.into_iter().map(|(a, b, s)| (b - a + 1, s)).collect()
    }

    fn device_reports(
        &self,
        days: &[DayReport],
        anomalies: &mut Vec<Anomaly>,
    ) -> Vec<DeviceReport> {
        let declared: HashMap<&str, &crate::record::InventoryDevice> =
            self.inventory.iter().map(|d| (d.id.as_str(), d)).collect();
        let mut out: Vec<DeviceReport> = self
            .devices
            .iter()
            .map(|m| {
                let inv = declared.get(m.id.as_str());
                DeviceReport {
                    id: m.id.clone(),
                    protocol: m.protocol.clone(),
                    endpoint: m.endpoint.clone(),
                    vendor: inv.map(|d| d.vendor.clone()).unwrap_or_default(),
                    model: inv.map(|d| d.model.clone()).unwrap_or_default(),
                    scene: inv.map(|d| d.scene.clone()).unwrap_or_default(),
                    declared: inv.is_some(),
                    ..DeviceReport::default()
                }
            })
            .collect();
        let mut local: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        let mut static_: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        let mut dropped: Vec<usize> = Vec::new();
        for (p, i) in self.intervals.iter().enumerate() {
            if i.dropped > 0 {
                dropped.push(p);
            }
            for d in &i.devs {
                let Some(r) = out.get_mut(d.dev as usize) else { continue };
                r.points_read += d.read;
                r.points_changed += d.changed;
                r.polls_ok += d.ok;
                r.polls_failed += d.failed;
                if d.local {
                    r.endpoint_local = true;
                    local.entry(d.dev).or_default().push(p);
                }
                if d.read > 0 && d.changed == 0 {
                    static_.entry(d.dev).or_default().push(p);
                }
            }
        }
        for r in &mut out {
            r.active_days = days.iter().filter(|d| d.active_devices.contains(&r.id)).count() as u64;
            if let Some((fps, identity)) = self.identities.get(&r.id) {
                r.fingerprints = fps.len() as u64;
                r.identity = identity.clone();
            }
            if !r.declared {
                anomalies.push(Anomaly {
                    severity: "warn",
                    kind: "undeclared_device",
                    seq: None,
                    en: format!("device {} sent data but is not in the enrolled inventory", r.id),
                    zh: format!("设备 {} 有数据上报，但不在登记的设备清单中", r.id),
                });
            }
        }
        let name = |dev: &u32| self.devices.get(*dev as usize).map_or("?", |m| m.id.as_str());
        for (dev, positions) in &local {
            let id = name(dev);
            for (_, seqs) in self.runs(positions) {
                anomalies.push(Anomaly {
                    severity: "warn",
                    kind: "endpoint_local",
                    seq: Some(seqs),
                    en: format!(
                        "device {id}'s endpoint resolves to the gateway itself: its data may \
                         come from software on the gateway, not from a machine; check on site"
                    ),
                    zh: format!(
                        "设备 {id} 的地址指向网关本机：数据可能来自网关上的软件而非真实设备，请现场核查"
                    ),
                });
            }
        }
        let min_run = STATIC_RUN.min(self.intervals.len()).max(2);
        for (dev, positions) in &static_ {
            let id = name(dev);
            for (n, seqs) in self.runs(positions).into_iter().filter(|(n, _)| *n >= min_run) {
                anomalies.push(Anomaly {
                    severity: "info",
                    kind: "static_values",
                    seq: Some(seqs),
                    en: format!(
                        "device {id}: values read but none changed over {n} consecutive \
                         intervals (an idle machine, or a fixed register image)"
                    ),
                    zh: format!(
                        "设备 {id}：连续 {n} 个统计周期读数无任何变化（设备空闲，或寄存器为固定值）"
                    ),
                });
            }
        }
        for (_, seqs) in self.runs(&dropped) {
            anomalies.push(Anomaly {
                severity: "warn",
                kind: "samples_dropped",
                seq: Some(seqs),
                en: "the journal was full and dropped its oldest samples (the broker was away \
                     longer than max_bytes holds)"
                    .into(),
                zh: "本地缓存已满，最早的数据被丢弃（服务器断开时间超出缓存容量）".into(),
            });
        }
        out
    }
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "fail" => 0,
        "warn" => 1,
        _ => 2,
    }
}

fn ppm(part: u64, whole: u64) -> u64 {
    if whole == 0 {
        return 0;
    }
    u64::try_from(u128::from(part) * 1_000_000 / u128::from(whole)).unwrap_or(u64::MAX)
}

fn median(values: impl Iterator<Item = u64>) -> Option<u64> {
    let mut v: Vec<u64> = values.collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// The 10-point band of a rate, e.g. `60–70%`; `100%` when complete.
pub fn band(rate_ppm: u64) -> String {
    if rate_ppm >= 1_000_000 {
        return "100%".into();
    }
    let low = rate_ppm / 100_000 * 10;
    format!("{low}–{}%", low + 10)
}

fn summarize(v: &Verdict, anomalies: &mut Vec<Anomaly>) -> VerdictSummary {
    let checks = v
        .checks
        .iter()
        .map(|c| {
            let status = match c.status {
                Status::Pass => "pass",
                Status::Fail => "fail",
                Status::Skipped => "skipped",
            };
            for f in &c.findings {
                anomalies.push(Anomaly {
                    severity: "fail",
                    kind: "verification",
                    seq: f.seq.map(|s| Seqs { first: s.first, last: s.last }),
                    en: format!(
                        "check {} ({}) failed: {}",
                        c.check.number(),
                        c.check.as_str(),
                        f.message
                    ),
                    zh: format!(
                        "校验 {}（{}）未通过：{}",
                        c.check.number(),
                        c.check.as_str(),
                        f.message
                    ),
                });
            }
            CheckLine {
                number: c.check.number(),
                name: c.check.as_str().to_string(),
                status: status.to_string(),
                findings: c.findings.iter().map(|f| f.to_string()).collect(),
                notes: c.notes.clone(),
            }
        })
        .collect();
    VerdictSummary { intact: v.intact, witnessed: v.witnessed_size.is_some(), checks }
}

/// The witness reach as the report shows it; late-witnessed runs become anomalies.
fn witness_summary(v: &Verdict, anomalies: &mut Vec<Anomaly>) -> WitnessSummary {
    let Some(r) = &v.witness_reach else {
        return WitnessSummary { trusted_witnesses: false, ..WitnessSummary::default() };
    };
    for run in &r.late_runs {
        let (from, to) = (
            calendar::format_ms(run.from_ms, UtcOffset(0)),
            calendar::format_ms(run.to_ms, UtcOffset(0)),
        );
        let lag = calendar::format_duration(run.max_lag_ms);
        anomalies.push(Anomaly {
            severity: "warn",
            kind: "witnessed_late",
            seq: Some(Seqs { first: run.seq.first, last: run.seq.last }),
            en: format!(
                "records written {from} – {to} UTC were first cosigned by a trusted witness up to \
                 {lag} later (allowed: {}): they could have been written after the fact and do \
                 not count for witnessed coverage",
                calendar::format_duration(r.max_lag_ms)
            ),
            zh: format!(
                "{from} – {to}（UTC）的记录最迟在 {lag} 后才由可信见证方联署（允许 {}）：可能为事后补写，\
                 不计入见证覆盖率",
                calendar::format_duration(r.max_lag_ms)
            ),
        });
    }
    WitnessSummary {
        trusted_witnesses: true,
        max_lag_ms: r.max_lag_ms,
        first_witnessed_seq: r.first_witnessed_seq,
        last_witnessed_seq: r.last_witnessed_seq,
        not_yet_witnessed: r.not_yet_witnessed,
        witnessed_late: r.witnessed_late,
    }
}

/// Overlap of `[a0, a1)` and `[b0, b1)`.
fn overlap(a0: i64, a1: i64, b0: i64, b1: i64) -> u64 {
    u64::try_from((a1.min(b1) - a0.max(b0)).max(0)).unwrap_or(0)
}

fn scenes(devices: &[DeviceReport], days: &[DayReport]) -> Vec<SceneReport> {
    let mut by: BTreeMap<&str, Vec<&DeviceReport>> = BTreeMap::new();
    for d in devices.iter().filter(|d| d.declared) {
        by.entry(d.scene.as_str()).or_default().push(d);
    }
    by.into_iter()
        .map(|(scene, ds)| {
            let ids: BTreeSet<&str> = ds.iter().map(|d| d.id.as_str()).collect();
            SceneReport {
                scene: scene.to_string(),
                devices: ds.iter().map(|d| d.id.clone()).collect(),
                active_devices: ds.iter().filter(|d| d.active_days > 0).count() as u64,
                days_with_data: days
                    .iter()
                    .filter(|day| day.active_devices.iter().any(|a| ids.contains(a.as_str())))
                    .count() as u64,
                points_read: ds.iter().map(|d| d.points_read).sum(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_are_ten_points_wide() {
        let cases = [
            (0, "0–10%"),
            (99_999, "0–10%"),
            (650_000, "60–70%"),
            (999_999, "90–100%"),
            (1_000_000, "100%"),
        ];
        for (rate, want) in cases {
            assert_eq!(band(rate), want, "{rate}");
        }
    }
}
