//! Usage evidence from a real agent: `edgeproof run` with a key, simulated devices and a real
//! mosquitto, shortened intervals (2 s), a broker outage and a SIGKILL + restart in the
//! middle, then a clean stop. The records reach the broker byte for byte; the exported bundle
//! verifies (exit 0); the report classes the outage as back-filled and the kill as an unclean
//! stop, and renders in headless Chromium without console errors; usage digests recompute
//! from the archived data messages; and the tamper suite, run on this real bundle, catches
//! every tamper with the right check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use edgeproof::evidence::keys::{GatewayKey, PublicKey};
use edgeproof::evidence::recompute::{check_record, parse_payload, Capture};
use edgeproof::evidence::verify::{verify_bundle, CheckName, VerifyOptions};
use serde_json::Value;

use crate::support::agent::{mqtt_plain, Agent};
use crate::support::fake_gateway::{self, FakeWitness};
use crate::support::mosquitto::Mosquitto;
use crate::support::plant::{Plant, Points};
use crate::support::proxy::{FaultProxy, Mode};
use crate::support::subscriber::{Msg, Subscriber};
use crate::support::{bin, describe, free_port, gateway, run, tamper, wait_for};

const WAIT: Duration = Duration::from_secs(60);
/// Long enough for at least two whole 2-second usage intervals without a PUBACK.
const OUTAGE: Duration = Duration::from_secs(7);
const PREFIX: &str = "edgeproof/gw-test";

/// Evidence records received, parsed, by seq (re-sends collapse; they must be identical).
fn records(msgs: &[Msg]) -> BTreeMap<u64, (Value, Vec<u8>)> {
    let mut out: BTreeMap<u64, (Value, Vec<u8>)> = BTreeMap::new();
    for m in msgs.iter().filter(|m| m.topic == format!("{PREFIX}/evidence")) {
        let v = m.json();
        let seq = v["seq"].as_u64().expect("record seq");
        if let Some((_, earlier)) = out.get(&seq) {
            assert_eq!(earlier, &m.payload, "seq {seq} re-sent with different bytes");
        }
        out.insert(seq, (v, m.payload.clone()));
    }
    out
}

fn usage_of_run(msgs: &[Msg], n: u64) -> usize {
    records(msgs).values().filter(|(v, _)| v["typ"] == "usage" && v["boot"]["n"] == n).count()
}

/// `[gateway]` with the factory total, then `sections`; fails the test on an invalid config.
fn write_config(dir: &Path, sections: &str) -> PathBuf {
    let text = format!("{}production_devices = 4\n\n{sections}", gateway(&dir.join("data")));
    let path = dir.join("edgeproof.toml");
    std::fs::write(&path, &text).expect("write config");
    if let Err(e) = edgeproof::config::load(&path) {
        panic!("test config is invalid: {e}\n{text}");
    }
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_with_outage_and_sigkill_exports_a_bundle_that_verifies_and_reports_both() {
    let plant = Plant::start(&[
        ("press-01", Points::U16(8), "200ms"),
        ("meter-01", Points::U16(4), "200ms"),
    ])
    .await;
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let sub = Subscriber::start(port, &format!("{PREFIX}/#")).await;
    let gate = FaultProxy::start(port).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("data").join("keys");

    // Without a key, a config asking for evidence does not start, and says how to make one.
    let devices = plant
        .toml()
        .replacen("protocol = \"modbus-tcp\"\n", "protocol = \"modbus-tcp\"\nscene = \"生产管控\"\nvendor = \"Acme\"\nmodel = \"PX-1\"\n", 1)
        .replacen("name = \"meter-01\"\nprotocol = \"modbus-tcp\"\n", "name = \"meter-01\"\nprotocol = \"modbus-tcp\"\nscene = \"能耗管理\"\n", 1);
    let config = write_config(
        dir.path(),
        &format!(
            "{}\n[journal]\nflush_interval = \"100ms\"\n\n[evidence]\ninterval = \"2s\"\n\
             checkpoint_interval = \"5s\"\n\n{devices}\n[[inventory]]\nname = \"lathe-07\"\n\
             vendor = \"沈阳机床\"\nmodel = \"CAK6150\"\nscene = \"设备管理\"\n",
            mqtt_plain(gate.port)
        ),
    );
    let out = run(Command::new(bin()).args(["run", "-c"]).arg(&config).stdin(Stdio::null()));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("edgeproof keygen --dir {}", keys.display())),
        "names the keygen command: {stderr}"
    );
    let out = run(Command::new(bin()).arg("keygen").arg("--dir").arg(&keys));
    assert!(out.status.success(), "{}", describe(&out));

    // Run 1: live, then a broker outage, then the backlog drains.
    let mut agent = Agent::start(&config);
    wait_for("usage records published", WAIT, || usage_of_run(&sub.all(), 1) >= 3).await;
    gate.set_mode(Mode::Down);
    gate.cut();
    let before_outage = records(&sub.all()).keys().last().copied().unwrap_or(0);
    tokio::time::sleep(OUTAGE).await;
    gate.set_mode(Mode::Pass);
    wait_for("the evidence backlog after the outage", WAIT, || {
        records(&sub.all()).keys().last().is_some_and(|&s| s >= before_outage + 4)
    })
    .await;
    wait_for("a usage interval with acknowledgements after the outage", WAIT, || {
        records(&sub.all()).range(before_outage + 1..).any(|(_, (v, _))| {
            v["typ"] == "usage" && v["body"]["totals"]["acked"].as_u64() > Some(0)
        })
    })
    .await;

    // SIGKILL mid-interval, restart, then a clean stop.
    agent.kill();
    agent.restart();
    wait_for("usage records of the restarted agent", WAIT, || usage_of_run(&sub.all(), 2) >= 2)
        .await;
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");

    // Export, verify, report — the reviewer's three commands.
    let bundle_path = dir.path().join("bundle.jsonl");
    let out =
        run(Command::new(bin()).args(["export", "-c"]).arg(&config).arg("-o").arg(&bundle_path));
    assert!(out.status.success(), "{}", describe(&out));
    let bundle = std::fs::read(&bundle_path).unwrap();
    std::fs::write(target_dir().join("evidence-bundle.jsonl"), &bundle).unwrap();
    let public_key = keys.join("evidence.pub");
    let out = run(Command::new(bin())
        .arg("verify")
        .arg(&bundle_path)
        .arg("--public-key")
        .arg(&public_key)
        .args(["--gateway", "gw-test", "--uscc", "91440300MA5DEM0A0G", "--project", "P-TEST"]));
    assert_eq!(out.status.code(), Some(0), "the exported bundle verifies: {}", describe(&out));

    // --to cuts the tail consistently: the checkpoints covering later records go too.
    let usage_walls: Vec<u64> = tamper::parse(&bundle)
        .iter()
        .filter_map(|i| match i {
            tamper::Item::Record(v) if v["typ"] == "usage" => v["t"]["wall_ms"].as_u64(),
            _ => None,
        })
        .collect();
    let cut = usage_walls[usage_walls.len() / 2];
    let early = dir.path().join("early.jsonl");
    let out = run(Command::new(bin())
        .args(["export", "-c"])
        .arg(&config)
        .arg("-o")
        .arg(&early)
        .args(["--to", &cut.to_string()]));
    assert!(out.status.success(), "{}", describe(&out));
    let early_bundle = std::fs::read(&early).unwrap();
    assert!(tamper::record_count(&early_bundle) < tamper::record_count(&bundle));
    let v = verify_bundle(
        &early_bundle[..],
        &VerifyOptions::new(PublicKey::load(&public_key).unwrap()),
    )
    .unwrap();
    assert!(v.intact, "a bundle cut with --to verifies: {:?}", v.failed());

    let html = target_dir().join("evidence-report.html");
    let json = target_dir().join("evidence-report.json");
    let out = run(Command::new(bin())
        .arg("report")
        .arg(&bundle_path)
        .arg("--public-key")
        .arg(&public_key)
        .arg("--html")
        .arg(&html)
        .arg("--json")
        .arg(&json));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let classes: Vec<&str> =
        report["gaps"].as_array().unwrap().iter().map(|g| g["class"].as_str().unwrap()).collect();
    assert!(classes.contains(&"outage_backfilled"), "the outage is back-filled: {classes:?}");
    assert!(classes.contains(&"unclean_stop"), "the kill is an unclean stop: {classes:?}");
    assert!(!classes.contains(&"unexplained"), "{:#}", report["gaps"]);
    assert_eq!(report["verdict"]["intact"], true);
    assert_eq!(report["networking"]["active"], 2);
    assert_eq!(report["networking"]["production_devices"], 4);
    assert_eq!(report["networking"]["band"], "50–60%");
    let page = std::fs::read_to_string(&html).unwrap();
    for want in ["网络中断，已补传", "非正常停止", "设备联网率", "生产管控", "能耗管理"]
    {
        assert!(page.contains(want), "report page lacks {want:?}");
    }
    render_in_chromium(&html, &target_dir().join("evidence-report.png"));

    // Everything stored reached the broker, byte for byte; the retained checkpoint is the last.
    let items = tamper::parse(&bundle);
    let stored: Vec<Value> = items
        .iter()
        .filter_map(|i| match i {
            tamper::Item::Record(v) => Some(v.clone()),
            _ => None,
        })
        .collect();
    let published = records(&sub.all());
    assert_eq!(
        published.keys().copied().collect::<BTreeSet<u64>>(),
        (0..stored.len() as u64).collect(),
        "every record published"
    );
    for v in &stored {
        assert_eq!(&published[&v["seq"].as_u64().unwrap()].0, v, "published as stored");
    }
    let last_checkpoint = items.iter().rev().find_map(|i| match i {
        tamper::Item::Checkpoint(c) => Some(c.clone()),
        _ => None,
    });
    let retained = sub.all().into_iter().rev().find(|m| m.topic == format!("{PREFIX}/checkpoint"));
    assert_eq!(
        retained.map(|m| String::from_utf8(m.payload).unwrap()),
        last_checkpoint,
        "the final checkpoint is the one published last"
    );
    let types: Vec<&str> = stored.iter().map(|v| v["typ"].as_str().unwrap()).collect();
    assert_eq!(types[..2], ["enroll", "boot"]);
    assert_eq!(types.last(), Some(&"shutdown"));
    let boots: Vec<&Value> = stored.iter().filter(|v| v["typ"] == "boot").collect();
    assert_eq!(boots.len(), 2);
    assert_eq!(boots[1]["body"]["previous"], "unclean");
    assert_eq!(stored.iter().filter(|v| v["typ"] == "device").count(), 2, "each device once");

    digests_recompute_from_the_data_messages(&stored, &sub.all());
    tamper_suite_on_the_real_bundle(&bundle, &keys);
}

/// For usage records of the first run (but its last two, whose final cycles a SIGKILL may
/// have kept out of the journal), the digest of each device equals the one recomputed from
/// the data messages a subscriber archived: every message of the device with
/// `start <= ts < end`, in seq order, each value in order.
fn digests_recompute_from_the_data_messages(stored: &[Value], msgs: &[Msg]) {
    let mut capture = Capture::default();
    for (i, m) in msgs.iter().enumerate() {
        if m.topic.starts_with(&format!("{PREFIX}/data/")) {
            let msg = parse_payload(std::str::from_utf8(&m.payload).unwrap()).unwrap();
            capture.add(i as u64 + 1, msg).unwrap();
        }
    }
    let run1: Vec<&Value> =
        stored.iter().filter(|v| v["typ"] == "usage" && v["boot"]["n"] == 1).collect();
    assert!(run1.len() >= 6, "{} usage records in run 1", run1.len());
    for u in &run1[..run1.len() - 2] {
        for d in check_record(u, &capture).unwrap() {
            assert!(
                d.matches(),
                "usage seq {} device {}: digest recomputed from the data messages",
                u["seq"],
                d.device
            );
        }
    }
}

/// The tamper list, on the bundle a real agent wrote: each is caught by its check.
fn tamper_suite_on_the_real_bundle(bundle: &[u8], keys: &Path) {
    let public = PublicKey::load(&keys.join("evidence.pub")).unwrap();
    let key = GatewayKey::load(&keys.join("evidence.key")).unwrap();
    let verdict = |b: &[u8]| verify_bundle(b, &VerifyOptions::new(public)).unwrap();
    assert!(verdict(bundle).intact, "the original is intact");
    let usage = tamper::seqs_of_type(bundle, "usage");
    let witness = FakeWitness::new("witness.example.org/w1", 77);
    let other = fake_gateway::standard("gw-099", 12, &witness).bundle();
    let size = tamper::largest_checkpoint(bundle);
    assert!(size > 3, "checkpoints cover the log");
    let edit =
        tamper::edit_field(bundle, usage[2], "/body/devices/0/points_read", Value::from(9_999));
    let cases: Vec<(&str, Vec<u8>, CheckName)> = vec![
        ("delete a record", tamper::delete_record(bundle, usage[1]), CheckName::Chain),
        ("edit a field", edit, CheckName::Signatures),
        ("swap two records", tamper::swap_records(bundle, usage[1], usage[2]), CheckName::Chain),
        ("duplicate a record", tamper::duplicate_record(bundle, usage[3]), CheckName::Chain),
        (
            "splice another gateway's record",
            tamper::splice_record(bundle, &other, 3),
            CheckName::Signatures,
        ),
        (
            "cut the tail below a checkpoint",
            tamper::truncate_from(bundle, size - 2),
            CheckName::Checkpoints,
        ),
        (
            "wall clock jump in one boot",
            tamper::wall_clock_jump(bundle, &key, usage[2], 3_600_000),
            CheckName::Time,
        ),
    ];
    for (name, tampered, check) in cases {
        let v = verdict(&tampered);
        assert!(!v.intact, "{name}: not caught");
        assert!(v.failed().contains(&check), "{name}: {check:?} not among {:?}", v.failed());
    }
}

/// `target/tmp`: the test artifacts directory cargo gives integration tests.
pub(crate) fn target_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Opens the page in headless Chromium (Debian's `chromium`), saves a screenshot, and fails
/// on any console error or failed resource load.
pub(crate) fn render_in_chromium(html: &Path, png: &Path) {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("headless Chromium is required for the report test: apt-get install chromium");
    let _ = std::fs::remove_file(png);
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
        .args(["--enable-logging=stderr", "--v=0", "--window-size=1200,2600"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + WAIT;
    while child.try_wait().expect("chromium status").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("headless chromium did not finish within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("chromium output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed:\n{stderr}");
    let console: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            l.contains("CONSOLE")
                || l.contains("Uncaught")
                || l.contains("Failed to load resource")
                || l.contains("Refused to")
        })
        .collect();
    assert!(console.is_empty(), "console errors in the report page: {console:#?}");
    let shot = std::fs::read(png).expect("screenshot written");
    assert!(shot.starts_with(b"\x89PNG"), "a PNG screenshot");
    assert!(shot.len() > 20_000, "the screenshot shows a rendered page ({} bytes)", shot.len());
}
