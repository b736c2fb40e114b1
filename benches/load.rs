//! End-to-end load bench: the real `edgeproof run` (release build, a child process) polls
//! simulated devices served from this process and publishes to a real mosquitto; a subscriber
//! here measures what arrives. Reports, for the agent process alone: CPU (share of one core),
//! peak RSS, and the poll jitter seen in the published timestamps. A second scenario fills a
//! journal with a backlog and measures how fast the publisher drains it to the broker.
//!
//! `cargo bench --bench load` runs the full scenarios (100 devices × 1,000 points at 1 Hz for
//! `EDGEPROOF_LOAD_SECS`, default 60 s; a 1,000,000-sample backlog). Under `cargo test` (no
//! `--bench` argument) it runs a seconds-long smoke version so the harness stays tested.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edgeproof::journal::{Journal, JournalOptions};
use edgeproof::model::{Batch, Sample, Value};
use edgeproof_sim::{RegisterImage, SimServer};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

struct Mosquitto(Child);

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18830)
}

fn mosquitto(dir: &Path) -> (Mosquitto, u16) {
    let port = free_port();
    let conf = dir.join("mosquitto.conf");
    let user = if std::env::var("USER").as_deref() == Ok("root") || is_root() {
        "user root\n"
    } else {
        ""
    };
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000000\n{user}"),
    )
    .expect("write mosquitto.conf");
    let bin =
        if Path::new("/usr/sbin/mosquitto").exists() { "/usr/sbin/mosquitto" } else { "mosquitto" };
    let child = Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mosquitto (scripts/test installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Mosquitto(child), port)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// CPU seconds (user + system) and RSS of a process, from /proc.
fn proc_usage(pid: u32) -> Option<(f64, u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
    };
    Some((ticks / 100.0, kb("VmRSS:")?, kb("VmHWM:")?))
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Received {
    by_device: HashMap<String, Vec<i64>>,
    messages: u64,
    samples: u64,
}

async fn subscribe(port: u16, topic: &str) -> Arc<Mutex<Received>> {
    let rec = Arc::new(Mutex::new(Received { by_device: HashMap::new(), messages: 0, samples: 0 }));
    let mut opts = MqttOptions::new(format!("load-sub-{}", std::process::id()), "127.0.0.1", port);
    opts.set_max_packet_size(16 << 20, 16 << 20);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(opts, 1000);
    client.subscribe(topic, QoS::AtMostOnce).await.expect("subscribe");
    let sink = rec.clone();
    tokio::spawn(async move {
        let _client = client;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&p.payload) else {
                        continue;
                    };
                    let mut r = sink.lock().unwrap();
                    r.messages += 1;
                    r.samples += v["values"].as_object().map_or(0, |m| m.len()) as u64
                        + v["bad"].as_object().map_or(0, |m| m.len()) as u64;
                    let device = v["device"].as_str().unwrap_or("").to_string();
                    r.by_device.entry(device).or_default().push(v["ts"].as_i64().unwrap_or(0));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec
}

fn config(
    dir: &Path,
    port: u16,
    devices: &[std::net::SocketAddr],
    points: u16,
    poll: &str,
) -> PathBuf {
    let mut t = format!(
        "[gateway]\nid = \"gw-load\"\nenterprise = \"91440300MA5DEM0A0G\"\nproject = \"LOAD\"\ndata_dir = {:?}\n\n[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\nmax_inflight = 1000\n\n",
        dir.display().to_string()
    );
    for (i, addr) in devices.iter().enumerate() {
        t.push_str(&format!(
            "[[devices]]\nname = \"dev-{i:03}\"\nprotocol = \"modbus-tcp\"\naddress = \"{addr}\"\npoll = \"{poll}\"\ntimeout = \"1s\"\n"
        ));
        for p in 0..points {
            t.push_str(&format!(
                "  [[devices.points]]\n  name = \"p{p}\"\n  area = \"holding\"\n  address = {p}\n  type = \"u16\"\n"
            ));
        }
    }
    let path = dir.join("load.toml");
    std::fs::write(&path, t).expect("write config");
    path
}

async fn poll_scenario(devices: usize, points: u16, secs: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_broker, port) = mosquitto(dir.path());
    let mut image = RegisterImage::new();
    for a in 0..points {
        image.holding.set_u16(a, a);
    }
    let mut sims = Vec::new();
    for _ in 0..devices {
        let img = Arc::new(Mutex::new(image.clone()));
        sims.push(SimServer::start("127.0.0.1:0".parse().unwrap(), img).await.expect("sim"));
    }
    let addrs: Vec<_> = sims.iter().map(|s| s.local_addr()).collect();
    let cfg = config(dir.path(), port, &addrs, points, "1s");
    let rec = subscribe(port, "edgeproof/gw-load/data/#").await;
    let log = std::fs::File::create(dir.path().join("agent.log")).expect("log");
    let mut agent = Command::new(env!("CARGO_BIN_EXE_edgeproof"))
        .args(["run", "-c"])
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn edgeproof run");
    let pid = agent.id();
    // Warm-up: connections, first cycles.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (cpu0, _, _) = proc_usage(pid).unwrap_or_default();
    let t0 = Instant::now();
    rec.lock().unwrap().by_device.values_mut().for_each(Vec::clear);
    let (m0, s0) = {
        let r = rec.lock().unwrap();
        (r.messages, r.samples)
    };
    let mut rss_max = 0;
    while t0.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some((_, rss, _)) = proc_usage(pid) {
            rss_max = rss_max.max(rss);
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let (cpu1, rss_now, hwm) = proc_usage(pid).unwrap_or_default();
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = agent.wait();
    let report = {
        let r = rec.lock().unwrap();
        let mut jitter: Vec<i64> = r
            .by_device
            .values()
            .flat_map(|ts| ts.windows(2).map(|w| (w[1] - w[0] - 1000).abs()))
            .collect();
        jitter.sort_unstable();
        format!(
        "poll load: {devices} devices × {points} points at 1 Hz for {elapsed:.0} s\n  \
         published {:.0} msg/s, {:.0} samples/s\n  \
         agent CPU {:.1}% of one core ({:.2} µs per sample)\n  \
         agent RSS {} KiB now, {} KiB peak while measured, {} KiB high-water\n  \
         poll jitter (interval − 1 s between a device's published timestamps): p50 {} ms, p99 {} ms, max {} ms over {} intervals",
        (r.messages - m0) as f64 / elapsed,
        (r.samples - s0) as f64 / elapsed,
        (cpu1 - cpu0) / elapsed * 100.0,
        (cpu1 - cpu0) * 1e6 / ((r.samples - s0).max(1) as f64),
        rss_now,
        rss_max,
        hwm,
        percentile(&jitter, 0.5),
        percentile(&jitter, 0.99),
        jitter.last().copied().unwrap_or(0),
        jitter.len(),
    )
    };
    println!("{report}");
    for s in sims {
        s.stop().await;
    }
}

async fn drain_scenario(samples: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_broker, port) = mosquitto(dir.path());
    let path = dir.path().join(edgeproof::journal::JOURNAL_FILE_NAME);
    let per_batch = 10u64;
    {
        let (mut journal, _) =
            Journal::open(&path, JournalOptions { max_bytes: 4 << 30 }).expect("open journal");
        let device: Arc<str> = Arc::from("dev-000");
        let names: Vec<Arc<str>> =
            (0..per_batch).map(|i| Arc::from(format!("p{i}").as_str())).collect();
        let mut chunk = Vec::new();
        for b in 0..samples / per_batch {
            let samples = names
                .iter()
                .enumerate()
                .map(|(i, n)| Sample::good(n.clone(), b, Value::Float(b as f64 + i as f64 * 0.5)))
                .collect();
            chunk.push(Batch { device: device.clone(), ts_ms: b, samples });
            if chunk.len() == 10_000 {
                journal.append(&chunk).expect("append");
                chunk.clear();
            }
        }
        if !chunk.is_empty() {
            journal.append(&chunk).expect("append");
        }
    }
    let (journal, report) =
        Journal::open(&path, JournalOptions { max_bytes: 4 << 30 }).expect("reopen");
    let entries = report.resumed_entries;
    let (handle, _sender, writer) = edgeproof::journal::JournalHandle::start(
        journal,
        edgeproof::journal::HandleOptions::default(),
    )
    .expect("start");
    let text = format!(
        "[gateway]\nid = \"gw-load\"\nenterprise = \"91440300MA5DEM0A0G\"\nproject = \"LOAD\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\nmax_inflight = 1000\n"
    );
    let cfg = edgeproof::config::load_str(Path::new("drain.toml"), &text, false).expect("config");
    let counters = Arc::new(edgeproof::publish::PublishCounters::default());
    let cancel = tokio_util::sync::CancellationToken::new();
    let t0 = Instant::now();
    let task = tokio::spawn(edgeproof::publish::run(
        cfg.mqtt.expect("mqtt"),
        "gw-load".into(),
        handle.clone(),
        counters.clone(),
        cancel.clone(),
        Duration::from_secs(5),
    ));
    while counters.snapshot().acknowledged < entries {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(t0.elapsed() < Duration::from_secs(600), "drain did not finish in 10 minutes");
    }
    let elapsed = t0.elapsed().as_secs_f64();
    cancel.cancel();
    let _ = task.await;
    let _ = handle.shutdown().await;
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    println!(
        "drain: {entries} messages / {} samples from the journal to mosquitto, all acknowledged, in {elapsed:.1} s = {:.0} samples/s ({:.0} msg/s)",
        entries * per_batch,
        (entries * per_batch) as f64 / elapsed,
        entries as f64 / elapsed
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let secs = std::env::var("EDGEPROOF_LOAD_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let only = std::env::var("EDGEPROOF_LOAD_ONLY").unwrap_or_default();
    rt.block_on(async {
        if full {
            if only.is_empty() || only == "poll" {
                poll_scenario(100, 1000, secs).await;
            }
            if only.is_empty() || only == "rss" {
                poll_scenario(10, 1000, secs.min(30)).await;
            }
            if only.is_empty() || only == "drain" {
                drain_scenario(1_000_000).await;
            }
        } else {
            poll_scenario(3, 50, 3).await;
            drain_scenario(20_000).await;
        }
    });
}
