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
