//! Clock steps: the agent runs under libfaketime (wall clock only; CLOCK_MONOTONIC and
//! CLOCK_BOOTTIME stay real), and the test steps its wall clock back two minutes, then
//! forward ten, while it polls and records evidence. Nothing is lost and seqs stay in order
//! whatever `ts` says; the evidence log records each step in a `clock` record; `verify`
//! reports them as time notes with exit 0 — an explained anomaly, not tampering.
//!
//! Needs Debian's `libfaketime` (scripts/test installs it); fails and says so without it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use edgeproof::model::now_ms;

use crate::support::agent::{mqtt_plain, write_config, Agent};
use crate::support::faults::{assert_nothing_lost, pick};
use crate::support::mosquitto::Mosquitto;
use crate::support::plant::{Plant, Points};
use crate::support::subscriber::{seq, Subscriber};
use crate::support::{bin, describe, free_port, run, tamper, wait_for};

const WAIT: Duration = Duration::from_secs(60);
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// Sets the faked wall clock's offset from the real one, e.g. `-120` (seconds); the agent
/// reads it on every clock call (`FAKETIME_NO_CACHE=1`).
fn set_offset(file: &Path, offset: &str) {
    std::fs::write(file, format!("{offset}\n")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wall_clock_stepped_back_and_forward_is_recorded_and_verifies_as_a_time_anomaly() {
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "faults_clock needs libfaketime ({LIBFAKETIME}): apt-get install libfaketime"
    );
    let steps: &[(&str, i64)] = pick(
        &[("-120", -120_000), ("+600", 600_000)],
        &[("-120", -120_000), ("+600", 600_000), ("-3600", -3_600_000), ("+0", 0)],
    );
    let plant = Plant::start(&[
        ("press-01", Points::U16(10), "100ms"),
        ("meter-01", Points::U16(10), "200ms"),
    ])
    .await;
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let sub = Subscriber::start(port, "edgeproof/gw-test/#").await;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("data/keys");
    let out = run(Command::new(bin()).arg("keygen").arg("--dir").arg(&keys));
    assert!(out.status.success(), "{}", describe(&out));
    let config = write_config(
        dir.path(),
        &format!(
            "{}\n[evidence]\ninterval = \"1s\"\ncheckpoint_interval = \"2s\"\n\n{}",
            mqtt_plain(port),
            plant.toml()
        ),
    );
    let offset = dir.path().join("faketime.rc");
    set_offset(&offset, "+0");
    let offset_s = offset.display().to_string();
    let mut agent = Agent::start_with_env(
        &config,
        &[
            ("LD_PRELOAD", LIBFAKETIME),
            ("FAKETIME_TIMESTAMP_FILE", &offset_s),
            ("FAKETIME_NO_CACHE", "1"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    wait_for("live data", WAIT, || sub.data_count() >= 20).await;

    // Distinct clock records published (a re-send after a reconnect counts once).
    let clock_records = |sub: &Subscriber| {
        sub.all()
            .iter()
            .filter(|m| m.topic.ends_with("/evidence"))
            .map(|m| m.json())
            .filter(|v| v["typ"] == "clock")
            .map(|v| v["seq"].as_u64())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    for (i, (text, step_ms)) in steps.iter().enumerate() {
        let from = sub.data_count();
        set_offset(&offset, text);
        // The step shows in the data (ts on the new clock), and data keeps flowing.
        let want = now_ms() as i64 + step_ms;
        wait_for(&format!("data on the clock stepped {text} s"), WAIT, || {
            let data = sub.data();
            let on_new = data[from..]
                .iter()
                .filter(|m| (m["ts"].as_i64().unwrap() - want).abs() < 30_000)
                .count();
            on_new >= 20
        })
        .await;
        // The recorder compares the clocks every second: wait until it has recorded this
        // step, so the next one is not folded into it.
        let steps_so_far = steps[..=i]
            .iter()
            .scan(0i64, |at, (_, s)| {
                let d = s - *at;
                *at = *s;
                Some(d)
            })
            .filter(|d| *d != 0)
            .count();
        wait_for(&format!("the clock record of the step to {text} s"), WAIT, || {
            clock_records(&sub) >= steps_so_far
        })
        .await;
    }
    // Two more usage intervals on the last clock.
    let usage_now =
        |sub: &Subscriber| sub.all().iter().filter(|m| m.topic.ends_with("/evidence")).count();
    let before = usage_now(&sub);
    wait_for("evidence after the last step", WAIT, || usage_now(&sub) >= before + 2).await;
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");

    // Nothing lost, seqs in order whatever the timestamps did.
    let data = sub.data();
    let ledger = assert_nothing_lost(&plant, &data, &config);
    let ts_back = data
        .windows(2)
        .filter(|w| seq(&w[1]) > seq(&w[0]))
        .filter(|w| w[0]["ts"].as_i64().unwrap() - w[1]["ts"].as_i64().unwrap() > 60_000)
        .count();
    assert!(ts_back > 0, "the step back shows in the data's ts while seqs go on");

    // The evidence records each step; verify: intact, the steps noted under "time".
    let bundle = dir.path().join("bundle.jsonl");
    let out = run(Command::new(bin()).args(["export", "-c"]).arg(&config).arg("-o").arg(&bundle));
    assert!(out.status.success(), "{}", describe(&out));
    let clock_steps: Vec<i64> = tamper::parse(&std::fs::read(&bundle).unwrap())
        .iter()
        .filter_map(|i| match i {
            tamper::Item::Record(v) if v["typ"] == "clock" => v["body"]["step_ms"].as_i64(),
            _ => None,
        })
        .collect();
    let wanted: Vec<i64> = steps
        .iter()
        .scan(0i64, |at, (_, s)| {
            let step = s - *at;
            *at = *s;
            Some(step)
        })
        .filter(|s| *s != 0)
        .collect();
    assert_eq!(clock_steps.len(), wanted.len(), "one clock record per step: {clock_steps:?}");
    for (got, want) in clock_steps.iter().zip(&wanted) {
        assert!((got - want).abs() < 2_000, "clock record {got} ms for a {want} ms step");
    }
    let out = run(Command::new(bin())
        .arg("verify")
        .arg(&bundle)
        .arg("--public-key")
        .arg(keys.join("evidence.pub"))
        .args(["--gateway", "gw-test", "--uscc", "91440300MA5DEM0A0G", "--project", "P-TEST"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "a recorded step is not tampering: {}", describe(&out));
    assert_eq!(
        stdout.matches("wall clock was stepped").count(),
        wanted.len(),
        "each step reported under the time check: {stdout}"
    );
    eprintln!(
        "faults_clock: steps {wanted:?} ms recorded as {clock_steps:?}; {} seqs, {ts_back} \
         places where ts went back while seq went on; verify exit 0",
        ledger.report.distinct
    );
}
