//! `edgeproof demo`, the newcomer's first command, both ways: with no broker (it says so,
//! keeps journaling, and `--duration` ends it with exit 0) and with a spawned mosquitto (the
//! simulated devices' data arrives on `edgeproof/gw-demo-01/data/#`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use edgeproof::journal::{Journal, JournalOptions};
use edgeproof_sim::Profile;

use crate::support::mosquitto::Mosquitto;
use crate::support::subscriber::{check_seqs, Subscriber};
use crate::support::{bin, describe, free_port, run, wait_for};

const WAIT: Duration = Duration::from_secs(60);

fn demo(broker: &str, data_dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(["demo", "--broker", broker, "--metrics"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--status-every", "1s"])
        .env("RUST_LOG", "info");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_without_a_broker_says_so_keeps_journaling_and_exits_0_after_duration() {
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let broker = format!("mqtt://127.0.0.1:{closed}");
    let mut cmd = demo(&broker, dir.path());
    cmd.args(["--duration", "4s"]);
    let out = tokio::task::spawn_blocking(move || run(&mut cmd)).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout.contains(&format!("none at {broker}")),
        "says there is no broker\n{}",
        describe(&out)
    );
    for p in Profile::ALL {
        assert!(stdout.contains(p.device_name()), "lists {}\n{}", p.device_name(), describe(&out));
    }
    assert!(stdout.contains("broker disconnected"), "status lines\n{}", describe(&out));
    assert!(stdout.contains("stopped cleanly"), "{}", describe(&out));

    // Everything polled is still in the journal, waiting for a broker.
    let (_, report) = Journal::open(
        dir.path().join(edgeproof::journal::JOURNAL_FILE_NAME),
        JournalOptions::default(),
    )
    .unwrap_or_else(|e| panic!("journal in the data dir: {e}\n{}", describe(&out)));
    assert!(report.resumed_entries >= 3, "journaled without a broker: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_with_a_broker_publishes_every_simulated_device_on_gw_demo_01_topics() {
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let sub = Subscriber::start(port, "edgeproof/gw-demo-01/data/#").await;
    let dir = tempfile::tempdir().unwrap();
    let stdout_path = dir.path().join("demo.out");
    let stderr_path = dir.path().join("demo.err");
    let mut child = demo(&format!("mqtt://127.0.0.1:{port}"), &dir.path().join("data"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("spawn edgeproof demo");
    let output = || {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            std::fs::read_to_string(&stdout_path).unwrap_or_default(),
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        )
    };

    let mut want: BTreeSet<String> =
        Profile::ALL.iter().map(|p| p.device_name().to_string()).collect();
    want.insert("molder-01".to_string()); // the OPC UA machine
    let devices_seen = || -> BTreeSet<String> {
        sub.all()
            .iter()
            .filter_map(|m| m.topic.strip_prefix("edgeproof/gw-demo-01/data/").map(str::to_string))
            .collect()
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while !want.is_subset(&devices_seen()) {
        if tokio::time::Instant::now() >= deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no data from every device: {:?}\n{}", devices_seen(), output());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for m in sub.data() {
        assert_eq!(m["gw"], "gw-demo-01", "{m}");
        assert!(!m["values"].as_object().unwrap().is_empty(), "simulated values: {m}");
    }
    check_seqs(&sub.data()).unwrap_or_else(|e| panic!("{e}\n{}", output()));

    wait_for("a status line showing the broker connected", WAIT, || {
        std::fs::read_to_string(&stdout_path).unwrap_or_default().contains("broker connected")
    })
    .await;

    // Ctrl-C (here SIGTERM, handled the same) stops it cleanly.
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    wait_for("the demo to exit", WAIT, || child.try_wait().unwrap().is_some()).await;
    let status = child.wait().unwrap();
    let out = output();
    assert!(status.success(), "{status}\n{out}");
    assert!(out.contains("mosquitto_sub -t 'edgeproof/#'"), "says where to subscribe\n{out}");
    assert!(out.contains("stopped cleanly"), "{out}");
}

/// Issue 14: the demo shows what the product is for. It makes a key, runs a local witness
/// (`edgeproof-review witness serve`, the binary next to `edgeproof`), records usage
/// evidence, and at the end exports the bundle, verifies it (with the witness's key) and
/// writes the report, printing the paths and the one-line verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_records_evidence_with_a_witness_and_ends_with_a_verified_bundle_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let broker = format!("mqtt://127.0.0.1:{}", free_port());
    let mut cmd = demo(&broker, dir.path());
    cmd.args(["--duration", "12s"]);
    let out = tokio::task::spawn_blocking(move || run(&mut cmd)).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("usage evidence is off"));
    let key = dir.path().join("keys").join("evidence.pub");
    assert!(key.is_file(), "the demo made its key\n{}", describe(&out));
    assert!(stdout.contains("witness      http://127.0.0.1:"), "{}", describe(&out));

    let bundle = dir.path().join("bundle.jsonl");
    let report = dir.path().join("report.html");
    assert!(stdout.contains(&format!("bundle       {}", bundle.display())), "{}", describe(&out));
    assert!(stdout.contains(&format!("report       {}", report.display())), "{}", describe(&out));
    let verdict = stdout.lines().find(|l| l.starts_with("verdict")).unwrap_or_default();
    assert!(verdict.contains("INTACT") && !verdict.contains("TAMPERED"), "{}", describe(&out));
    assert!(std::fs::read_to_string(&report).unwrap().contains("gw-demo-01"), "a real report");

    // The bundle holds usage records and a checkpoint the witness cosigned.
    let text = std::fs::read_to_string(&bundle).unwrap();
    assert!(text.contains(r#""typ":"usage""#), "usage records in the bundle");
    assert!(text.lines().any(|l| l.starts_with(r#"{"cosignature""#)), "cosigned:\n{text}");
    // And it verifies independently of the demo, with the witness key it printed.
    let vkey = dir.path().join("witness").join("witness.vkey");
    let out = run(Command::new(bin())
        .arg("verify")
        .arg(&bundle)
        .arg("--public-key")
        .arg(&key)
        .arg("--witness-key")
        .arg(&vkey));
    assert!(out.status.success(), "{}", describe(&out));
}
