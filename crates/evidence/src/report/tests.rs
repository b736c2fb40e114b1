//! The report over a synthetic log whose story is known: a clean stop, an agent killed, a
//! power loss, a broker outage that is back-filled, one declared device that never answers.

use std::collections::BTreeMap;
use std::io::Write;

use super::*;
use crate::bundle::{checkpoint_line, header_line, record_line, Header};
use crate::chain::Chain;
use crate::keys::GatewayKey;
use crate::merkle::Hash;
use crate::record::{
    Body, Boot, DeviceUsage, Enroll, InventoryDevice, KeyAssurance, Polls, PreviousRun, Shutdown,
    Stamp, Totals, Usage,
};

const T0: u64 = 1_767_196_800_000; // 2026-01-01T00:00:00+08:00
const MIN5: u64 = 300_000;

struct Log {
    key: GatewayKey,
    chain: Chain,
    bundle: Vec<u8>,
    /// Wall and mono "now"; mono restarts on a new kernel boot.
    wall: u64,
    mono: u64,
    last_seq: u64,
    last_wall: u64,
}

impl Log {
    fn new() -> Log {
        let key = GatewayKey::from_seed([5; 32]);
        let bundle = header_line(&Header {
            bundle: 1,
            origin: "edgeproof/gw-r".into(),
            public_key: key.public().to_base64(),
        })
        .into_bytes();
        Log {
            key,
            chain: Chain::new("edgeproof/gw-r", "gw-r"),
            bundle,
            wall: T0,
            mono: 10_000,
            last_seq: 0,
            last_wall: 0,
        }
    }

    fn at(&self) -> Stamp {
        Stamp { wall_ms: self.wall, mono_ms: self.mono }
    }

    fn advance(&mut self, ms: u64) {
        self.wall += ms;
        self.mono += ms;
    }

    fn put(&mut self, body: Body) -> u64 {
        let p = self.chain.prepare(&self.key, self.at(), body).unwrap();
        self.chain.commit(&p).unwrap();
        self.bundle.extend(record_line(&p.canonical));
        self.last_seq = p.record.record.seq;
        self.last_wall = self.wall;
        self.last_seq
    }

    fn boot(&mut self, kernel: &str, n: u64, previous: PreviousRun) {
        // The first run started before `enroll`; `boot` follows it as record 1.
        if n > 1 {
            self.chain.start_run(kernel, n);
        }
        let body = Body::Boot(Boot {
            previous,
            last_seq: self.last_seq,
            last_wall_ms: self.last_wall,
            agent_version: "0.1.0".into(),
            config_hash: Hash::ZERO,
        });
        self.put(body);
    }

    /// One 5-minute usage interval ending now+5min; `ok` polls for press, none for lathe.
    fn usage(&mut self, ok: u64, journaled: u64, acked: u64, backlog: u64) -> u64 {
        let start = self.at();
        self.advance(MIN5);
        let device = |id: &str, ok: u64| DeviceUsage {
            id: id.into(),
            protocol: "modbus-tcp".into(),
            endpoint: "127.0.0.1:502".into(),
            endpoint_local: id == "press",
            fingerprint: Hash::ZERO,
            polls: Polls { ok, error: 0, timeout: 0 },
            exceptions: BTreeMap::new(),
            points_read: ok * 10,
            points_changed: ok,
            rt_p50_us: None,
            rt_p95_us: None,
            digest: Hash::ZERO,
        };
        let body = Body::Usage(Usage {
            start,
            end: self.at(),
            devices: vec![device("press", ok), device("oven", 0)],
            totals: Totals { journaled, acked, backlog, dropped: 0, refused: 0 },
        });
        self.put(body)
    }

    fn checkpoint(&mut self) {
        let note = self.chain.checkpoint().sign(&self.key).to_text();
        self.bundle.extend(checkpoint_line(&note).into_bytes());
    }
}

fn story() -> Log {
    let mut log = Log::new();
    log.chain.start_run("kernel-a", 1);
    let inventory = ["press", "oven", "lathe"]
        .iter()
        .map(|id| InventoryDevice {
            id: id.to_string(),
            protocol: if *id == "lathe" { "none" } else { "modbus-tcp" }.into(),
            endpoint: String::new(),
            vendor: "Acme".into(),
            model: "X".into(),
            scene: if *id == "oven" { "能耗管理" } else { "生产管控" }.into(),
        })
        .collect();
    log.put(Body::Enroll(Enroll {
        uscc: "91440300MA5DEM0A0G".into(),
        project: "P-1".into(),
        contract: "C-1".into(),
        key: log.key.public().to_base64(),
        key_assurance: KeyAssurance::Software,
        agent_version: "0.1.0".into(),
        build: "test".into(),
        inventory,
        production_devices: 4,
    }));
    log.boot("kernel-a", 1, PreviousRun::None);
    log.usage(300, 3000, 3000, 0);
    log.usage(300, 3000, 3000, 0);
    // Broker away for two intervals, then the backlog drains.
    log.usage(300, 3000, 0, 3000);
    log.usage(300, 3000, 0, 6000);
    log.usage(300, 3000, 9000, 0);
    log.put(Body::Shutdown(Shutdown { reason: "SIGTERM".into(), totals: Totals::default() }));
    log.checkpoint();
    // Clean restart ten minutes later.
    log.advance(2 * MIN5);
    log.boot("kernel-a", 2, PreviousRun::Clean);
    log.usage(300, 3000, 3000, 0);
    // Killed; restarted in the same OS boot.
    log.advance(MIN5);
    log.boot("kernel-a", 3, PreviousRun::Unclean);
    log.usage(300, 3000, 3000, 0);
    // Power loss: a new kernel boot, the monotonic clock starts again.
    log.advance(3 * MIN5);
    log.mono = 5_000;
    log.boot("kernel-b", 4, PreviousRun::Unclean);
    log.usage(300, 3000, 3000, 0);
    log.checkpoint();
    log
}

fn report_of(log: &Log, opts: ReportOptions) -> (Report, Verdict) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundle.jsonl");
    std::fs::File::create(&path).unwrap().write_all(&log.bundle).unwrap();
    report_file(&path, &VerifyOptions::new(log.key.public()), opts).unwrap()
}

#[test]
fn gaps_are_classed_from_what_the_log_says() {
    let log = story();
    let (r, verdict) = report_of(&log, ReportOptions::default());
    assert!(verdict.intact, "{:#?}", r.verdict.checks);
    assert!(r.verdict.intact);
    let classes: Vec<GapClass> = r.gaps.iter().map(|g| g.class).collect();
    assert_eq!(
        classes,
        vec![
            GapClass::OutageBackfilled,
            GapClass::CleanStop,
            GapClass::UncleanStop,
            GapClass::PowerLoss
        ]
    );
    let outage = &r.gaps[0];
    assert_eq!(outage.duration_ms, 2 * MIN5);
    assert_eq!((outage.seq.first, outage.seq.last), (4, 5), "the two usage records without acks");
    let clean = &r.gaps[1];
    assert_eq!(clean.duration_ms, 2 * MIN5);
    assert_eq!(r.header.starts, 4);
    assert_eq!(r.header.checkpoints, 2);
}

#[test]
fn coverage_devices_networked_rate_and_scenes() {
    let (r, _) = report_of(&story(), ReportOptions::default());
    assert_eq!(r.days.len(), 1, "all on 2026-01-01 in +08:00");
    let day = &r.days[0];
    assert_eq!(day.date, "2026-01-01");
    assert_eq!(day.active_devices, vec!["press".to_string()]);
    // 8 usage intervals of 5 min covered, out of the period from enroll to the last record.
    assert_eq!(day.covered_ms, 8 * MIN5);
    assert_eq!(day.expected_ms, r.period.to_ms - r.period.from_ms);
    assert_eq!(r.interval_ms, Some(MIN5));
    assert_eq!(r.networking.active, 1);
    assert_eq!(r.networking.declared, 3);
    assert_eq!(r.networking.production_devices, 4);
    assert_eq!((r.networking.rate_ppm, r.networking.band.as_str()), (250_000, "20–30%"));
    let scenes: Vec<(&str, u64, u64)> =
        r.scenes.iter().map(|s| (s.scene.as_str(), s.active_devices, s.days_with_data)).collect();
    assert_eq!(scenes, vec![("生产管控", 1, 1), ("能耗管理", 0, 0)]);
    let press = r.devices.iter().find(|d| d.id == "press").unwrap();
    assert_eq!((press.points_read, press.polls_ok, press.active_days), (8 * 3000, 8 * 300, 1));
    let kinds: Vec<&str> = r.anomalies.iter().map(|a| a.kind).collect();
    assert!(kinds.contains(&"endpoint_local"), "{kinds:?}");
    // Days in UTC: the same log starts on 2025-12-31.
    let (utc, _) =
        report_of(&story(), ReportOptions { offset: UtcOffset(0), ..Default::default() });
    assert_eq!(utc.days[0].date, "2025-12-31");
}

#[test]
fn a_tampered_bundle_reports_the_failed_check_with_its_seq() {
    let mut log = story();
    // Edit one usage figure in place: the signature of that record no longer verifies.
    let text = String::from_utf8(log.bundle.clone()).unwrap();
    let edited = text.replacen("\"points_read\":3000", "\"points_read\":3001", 1);
    assert_ne!(text, edited);
    log.bundle = edited.into_bytes();
    let (r, verdict) = report_of(&log, ReportOptions::default());
    assert!(!verdict.intact && !r.verdict.intact);
    let fail = r
        .anomalies
        .iter()
        .find(|a| a.severity == "fail" && a.en.contains("signatures"))
        .unwrap_or_else(|| panic!("{:#?}", r.anomalies));
    assert_eq!(fail.seq.map(|s| (s.first, s.last)), Some((2, 2)), "{}", fail.en);
    let html = html::render(&r);
    assert!(html.contains("未通过：已篡改或不完整"));
}

#[test]
fn the_page_is_self_contained_and_bilingual() {
    let (r, _) = report_of(&story(), ReportOptions::default());
    let html = html::render(&r);
    for want in [
        "完整：未发现篡改 · INTACT",
        "每日运行覆盖率",
        "Daily coverage",
        "设备联网率",
        "网络中断，已补传",
        "非正常停止",
        "断电或系统重启",
        "正常停机",
        "Spot-check the devices on site",
        "<svg",
    ] {
        assert!(html.contains(want), "missing {want:?}");
    }
    for banned in ["<script", "http://", "https://", "<link", "@import", "url("] {
        let outside_svg_ns = html.replace("http://www.w3.org/2000/svg", "");
        assert!(!outside_svg_ns.contains(banned), "page must not reference {banned:?}");
    }
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["gaps"][0]["class"], "outage_backfilled");
    assert_eq!(json["networking"]["band"], "20–30%");
}

#[test]
fn coverage_is_over_the_window_asked_for_so_a_silent_tail_lowers_it() {
    let log = story();
    let (r, _) = report_of(&log, ReportOptions::default());
    let last = r.period.to_ms;
    // Asked up to an hour after the last record: silence, not clipped away.
    let (late, _) = report_of(
        &log,
        ReportOptions { at_ms: Some(last + 12 * MIN5), ..ReportOptions::default() },
    );
    assert_eq!(late.period.to_ms, last + 12 * MIN5);
    assert!(late.coverage_ppm < r.coverage_ppm, "{} !< {}", late.coverage_ppm, r.coverage_ppm);
    let covered: u64 = late.days.iter().map(|d| d.covered_ms).sum();
    let expected: u64 = late.days.iter().map(|d| d.expected_ms).sum();
    assert_eq!(covered, 8 * MIN5);
    assert_eq!(expected, r.period.to_ms - r.period.from_ms + 12 * MIN5);
    // --to wins over --at; --from before enrolment counts as uncovered too.
    let (window, _) = report_of(
        &log,
        ReportOptions {
            from_ms: Some(r.period.from_ms - MIN5),
            to_ms: Some(last + MIN5),
            at_ms: Some(last + 100 * MIN5),
            ..ReportOptions::default()
        },
    );
    assert_eq!(
        (window.period.from_ms, window.period.to_ms),
        (r.period.from_ms - MIN5, last + MIN5)
    );
    // Without a witness key, nothing is witnessed.
    assert_eq!(late.witnessed_coverage_ppm, 0);
    assert!(!late.witness.trusted_witnesses);
}
