//! Issue 14, finding 7: the usage digest is recomputable from the data messages. A real
//! agent polls a simulator whose values change (a counter, a signed value, floats, a scaled
//! register, a coil, text), an independent subscriber (`mosquitto_sub -v`, not our MQTT
//! client) captures every data message, and `edgeproof digest` recomputes **every** usage
//! record's per-device digest — the last one of the clean stop included — with no mismatch.
//! One edited data message is then reported with its device and interval, and nothing else.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgeproof_modbus::Order;
use edgeproof_sim::{RegisterImage, SimServer};
use serde_json::Value;

use crate::support::agent::{mqtt_plain, write_config, Agent};
use crate::support::mosquitto::Mosquitto;
use crate::support::{bin, describe, free_port, run, wait_for};

const WAIT: Duration = Duration::from_secs(60);
const PREFIX: &str = "edgeproof/gw-test";

/// `mosquitto_sub -v` on the gateway's whole prefix, writing to a file.
struct Capture {
    child: Child,
    path: PathBuf,
}

impl Capture {
    async fn start(port: u16, path: &Path) -> Capture {
        let file = std::fs::File::create(path).unwrap();
        let child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-v"])
            .args(["-t", &format!("{PREFIX}/#")])
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub (package mosquitto-clients) must be installed");
        let capture = Capture { child, path: path.to_path_buf() };
        // Subscribed once a marker published after the start comes back.
        wait_for("mosquitto_sub subscribed", WAIT, || {
            let _ = Command::new("mosquitto_pub")
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
                .args(["-t", &format!("{PREFIX}/marker"), "-m", "ready"])
                .status();
            capture.text().contains("/marker ready")
        })
        .await;
        capture
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap_or_default()
    }

    /// Evidence records captured, parsed.
    fn records(&self) -> Vec<Value> {
        let topic = format!("{PREFIX}/evidence ");
        self.text()
            .lines()
            .filter_map(|l| l.strip_prefix(&topic))
            .map(|p| serde_json::from_str(p).expect("evidence JSON"))
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn image() -> RegisterImage {
    let mut image = RegisterImage::new();
    image.holding.set_u16(0, 0);
    image.holding.set_i16(1, -5);
    image.holding.set_f32(2, 20.0, Order::Abcd);
    image.holding.set_string(4, "OK-1", 2);
    image.holding.set_u32(6, 4_000_000_000, Order::Abcd);
    image.coils.set(0, false);
    image
}

/// Changes the values every 70 ms, so every interval hashes different data.
fn keep_changing(image: Arc<Mutex<RegisterImage>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for n in 1u16.. {
            tokio::time::sleep(Duration::from_millis(70)).await;
            let mut i = image.lock().unwrap();
            i.holding.set_u16(0, n);
            i.holding.set_i16(1, -5 - (n % 7) as i16);
            i.holding.set_f32(2, 20.0 + f32::from(n % 9) * 0.5, Order::Abcd);
            i.coils.set(0, n % 2 == 0);
        }
    })
}

const DEVICES: &str = r#"
[[devices]]
name = "press-01"
protocol = "modbus-tcp"
address = "ADDR"
poll = "100ms"
timeout = "5s"
  [[devices.points]]
  name = "count"
  area = "holding"
  address = 0
  type = "u16"
  [[devices.points]]
  name = "delta"
  area = "holding"
  address = 1
  type = "i16"
  [[devices.points]]
  name = "temp"
  area = "holding"
  address = 2
  type = "f32"
  [[devices.points]]
  name = "label"
  area = "holding"
  address = 4
  type = "string"
  length = 2
  [[devices.points]]
  name = "running"
  area = "coil"
  address = 0
  type = "bool"

[[devices]]
name = "meter-01"
protocol = "modbus-tcp"
address = "ADDR"
poll = "150ms"
timeout = "5s"
  [[devices.points]]
  name = "energy_wh"
  area = "holding"
  address = 6
  type = "u32"
  [[devices.points]]
  name = "count_tenths"
  area = "holding"
  address = 0
  type = "u16"
  scale = 0.1
"#;

fn digest_cmd(bundle: &Path, capture: &Path) -> std::process::Output {
    run(Command::new(bin()).arg("digest").arg(bundle).arg(capture).arg("--all"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_usage_digest_recomputes_from_captured_data_messages_and_an_edit_is_named() {
    let image = Arc::new(Mutex::new(image()));
    let sim = SimServer::start("127.0.0.1:0".parse().unwrap(), image.clone()).await.unwrap();
    let changer = keep_changing(image);
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let dir = tempfile::tempdir().unwrap();
    let capture = Capture::start(port, &dir.path().join("capture.txt")).await;
    let keys = dir.path().join("data").join("keys");
    let out = run(Command::new(bin()).arg("keygen").arg("--dir").arg(&keys));
    assert!(out.status.success(), "{}", describe(&out));
    let config = write_config(
        dir.path(),
        &format!(
            "{}\n[journal]\nflush_interval = \"100ms\"\n\n[evidence]\ninterval = \"2s\"\n\
             checkpoint_interval = \"5s\"\n{}",
            mqtt_plain(port),
            DEVICES.replace("ADDR", &sim.local_addr().to_string())
        ),
    );

    let mut agent = Agent::start(&config);
    let usage = |c: &Capture| c.records().iter().filter(|r| r["typ"] == "usage").count();
    wait_for("four usage records", WAIT, || usage(&capture) >= 4).await;
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}\n{}", agent.log());
    changer.abort();
    // The clean stop publishes `offline` after its last data and evidence were acknowledged.
    wait_for("the shutdown record and offline status", WAIT, || {
        let t = capture.text();
        t.contains(&format!("{PREFIX}/status offline"))
            && capture.records().iter().any(|r| r["typ"] == "shutdown")
    })
    .await;

    let bundle = dir.path().join("bundle.jsonl");
    let out = run(Command::new(bin()).args(["export", "-c"]).arg(&config).arg("-o").arg(&bundle));
    assert!(out.status.success(), "{}", describe(&out));
    let records: Vec<Value> = std::fs::read_to_string(&bundle)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok()?.get("record").cloned())
        .filter(|r| r["typ"] == "usage")
        .collect();
    assert!(records.len() >= 4, "{} usage records", records.len());
    let last = records.last().unwrap();
    assert!(
        last["body"]["devices"][0]["points_read"].as_u64() > Some(0),
        "the last (stop) interval has data: {last}"
    );

    let out = digest_cmd(&bundle, &capture.path);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let ok_lines = stdout.lines().filter(|l| l.starts_with("[ok  ]")).count();
    assert_eq!(ok_lines, records.len() * 2, "every device of every usage record:\n{stdout}");
    assert!(!stdout.contains("missing"), "no data message missing:\n{stdout}");

    // Edit one value of one press-01 message inside the second usage interval.
    let (start, end) = (
        records[1]["body"]["start"]["wall_ms"].as_u64().unwrap(),
        records[1]["body"]["end"]["wall_ms"].as_u64().unwrap(),
    );
    let text = capture.text();
    let mut edited_seq: Option<u64> = None;
    let edited: Vec<String> = text
        .lines()
        .map(|line| {
            let Some(payload) = line.strip_prefix(&format!("{PREFIX}/data/press-01 ")) else {
                return line.to_string();
            };
            let v: Value = serde_json::from_str(payload).unwrap();
            let ts = v["ts"].as_u64().unwrap();
            let seq = v["seq"].as_u64().unwrap();
            if edited_seq.is_none_or(|s| s == seq) && (start..end).contains(&ts) {
                edited_seq = Some(seq);
                let delta = v["values"]["delta"].as_i64().unwrap();
                return line.replacen(
                    &format!("\"delta\":{delta}"),
                    &format!("\"delta\":{}", delta - 100),
                    1,
                );
            }
            line.to_string()
        })
        .collect();
    assert!(edited_seq.is_some(), "a press-01 message in the second interval");
    let edited_path = dir.path().join("edited.txt");
    std::fs::write(&edited_path, edited.join("\n")).unwrap();
    let out = digest_cmd(&bundle, &edited_path);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let diffs: Vec<&str> = stdout.lines().filter(|l| l.starts_with("[DIFF]")).collect();
    assert_eq!(diffs.len(), 1, "exactly one device interval differs:\n{stdout}");
    assert!(
        diffs[0].contains("device press-01")
            && diffs[0].contains(&format!("usage seq {}", records[1]["seq"])),
        "names the device and the interval: {}",
        diffs[0]
    );
    assert!(diffs[0].contains("the values differ"), "{}", diffs[0]);
}
