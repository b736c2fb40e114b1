//! `edgeproof run` as a service: SIGHUP reloads (a bad file is refused and the old config runs
//! on; a changed device is the only one restarted; no sample is lost), SIGTERM under load
//! stops within the bound without losing anything committed, and the sd_notify messages a
//! service manager sees (READY, WATCHDOG, RELOADING, STOPPING) over a socket the test binds.

use std::collections::BTreeSet;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::agent::{journal_contents, mqtt_plain, write_config, Agent};
use crate::support::mosquitto::Mosquitto;
use crate::support::plant::{Plant, Points};
use crate::support::subscriber::{check_seqs, Subscriber};
use crate::support::{free_port, wait_for};

const WAIT: Duration = Duration::from_secs(60);
/// `edgeproof run`'s own bound on a clean stop (`cli::run::STOP_BOUND`).
const STOP_BOUND: Duration = Duration::from_secs(20);

fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Log lines of the current run that contain every one of `parts`.
fn count_lines(log: &str, parts: &[&str]) -> usize {
    log.lines().filter(|l| parts.iter().all(|p| l.contains(p))).count()
}

/// Poll-task starts of `device` in the log ("polling device", not "stopped polling device").
fn task_starts(agent: &Agent, device: &str) -> usize {
    let log = agent.log();
    let key = format!("device={device} ");
    log.lines()
        .filter(|l| l.contains(" polling device ") && !l.contains("stopped") && l.contains(&key))
        .count()
}

fn task_stops(agent: &Agent, device: &str) -> usize {
    count_lines(&agent.log(), &["stopped polling device", &format!("device={device}")])
}

/// Data messages from `device` so far.
fn from_device(sub: &Subscriber, device: &str) -> usize {
    sub.data().iter().filter(|m| m["device"] == device).count()
}

/// Waits until every one of `devices` has `more` messages beyond what it has now.
async fn wait_each_device_moves(sub: &Subscriber, devices: &[&str], more: usize, what: &str) {
    let before: Vec<usize> = devices.iter().map(|d| from_device(sub, d)).collect();
    wait_for(what, WAIT, || {
        devices.iter().zip(&before).all(|(d, b)| from_device(sub, d) >= b + more)
    })
    .await;
}

/// Replaces the first `from` after `anchor` in `text`.
fn replace_after(text: &str, anchor: &str, from: &str, to: &str) -> String {
    let at = text.find(anchor).unwrap_or_else(|| panic!("no {anchor:?} in config"));
    let (head, tail) = text.split_at(at);
    assert!(tail.contains(from), "no {from:?} after {anchor:?}");
    format!("{head}{}", tail.replacen(from, to, 1))
}

/// Everything the journal ever numbered is at the subscriber or still in the journal.
fn assert_nothing_committed_lost(config: &Path, sub: &Subscriber) {
    let (journal, left) = journal_contents(config);
    let mut all: BTreeSet<u64> = sub.seqs();
    all.extend(left.iter().map(|e| e.seq));
    let numbered: BTreeSet<u64> = (1..journal.next_seq).collect();
    let missing: Vec<u64> = numbered.difference(&all).copied().take(20).collect();
    assert!(missing.is_empty(), "committed seqs neither delivered nor kept: {missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_refuses_a_bad_file_then_restarts_only_the_changed_device_and_loses_no_sample() {
    let plant = Plant::start(&[
        ("press-01", Points::U16(20), "100ms"),
        ("press-02", Points::U16(20), "100ms"),
        ("meter-01", Points::U16(10), "100ms"),
    ])
    .await;
    let devices = ["press-01", "press-02", "meter-01"];
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let sub = Subscriber::start(port, "edgeproof/gw-test/#").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!("{}\n[journal]\nflush_interval = \"100ms\"\n\n{}", mqtt_plain(port), plant.toml()),
    );
    let good = std::fs::read_to_string(&config).unwrap();
    let mut agent = Agent::start(&config);
    wait_each_device_moves(&sub, &devices, 5, "data from every device").await;

    // A file with two mistakes: refused, each mistake logged with its path, old config runs on.
    let bad = replace_after(&good, "name = \"press-01\"", "poll = \"100ms\"", "poll = \"often\"");
    let bad = replace_after(&bad, "name = \"meter-01\"", "type = \"u16\"", "type = \"float3\"");
    std::fs::write(&config, bad).unwrap();
    send_signal(agent.pid(), "HUP");
    wait_for("the reload to be refused", WAIT, || {
        agent.log().contains("reload refused: 2 problem(s)")
    })
    .await;
    let log = agent.log();
    assert_eq!(count_lines(&log, &["reload refused: devices[0].poll:", "often"]), 1, "{log}");
    assert_eq!(
        count_lines(&log, &["reload refused: devices[2].points[0].type:", "float3"]),
        1,
        "{log}"
    );
    wait_each_device_moves(&sub, &devices, 5, "data from every device after the refusal").await;
    assert!(agent.is_running(), "a refused reload must not stop the agent");
    for d in devices {
        assert_eq!((task_starts(&agent, d), task_stops(&agent, d)), (1, 0), "{d} untouched");
    }

    // press-02 changes (its poll interval): only its task restarts.
    let changed =
        replace_after(&good, "name = \"press-02\"", "poll = \"100ms\"", "poll = \"150ms\"");
    std::fs::write(&config, changed).unwrap();
    send_signal(agent.pid(), "HUP");
    wait_for("the reload to be applied", WAIT, || agent.log().contains("reload applied")).await;
    assert!(
        agent.log().contains("added [], removed [], changed [press-02], 2 unchanged"),
        "{}",
        agent.log()
    );
    assert_eq!((task_starts(&agent, "press-02"), task_stops(&agent, "press-02")), (2, 1));
    for d in ["press-01", "meter-01"] {
        assert_eq!((task_starts(&agent, d), task_stops(&agent, d)), (1, 0), "{d} untouched");
    }
    wait_each_device_moves(&sub, &devices, 5, "data from every device after the reload").await;

    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    let data = sub.data();
    let report = check_seqs(&data).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.first, 1, "from the first seq");
    for m in &data {
        plant.check_message(m).unwrap();
    }
    assert_nothing_committed_lost(&config, &sub);
}

/// A proxy between the agent and the broker that can hold back everything the broker sends
/// (PUBACKs included) while still forwarding the agent's publishes: the broker delivers them
/// to subscribers, the agent never hears that they arrived.
struct AckHoldingProxy {
    port: u16,
    hold: Arc<AtomicBool>,
    accept: tokio::task::JoinHandle<()>,
}

impl AckHoldingProxy {
    async fn start(broker: u16) -> AckHoldingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = Arc::new(AtomicBool::new(false));
        let gate = hold.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", broker)).await else {
                    continue;
                };
                let (mut client_rx, mut client_tx) = client.into_split();
                let (mut broker_rx, mut broker_tx) = upstream.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_rx, &mut broker_tx).await;
                });
                let gate = gate.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        if gate.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                        match broker_rx.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if client_tx.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        AckHoldingProxy { port, hold, accept }
    }
}

impl Drop for AckHoldingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_0_within_the_bound_and_loses_nothing_committed() {
    // Eight devices at 20 Hz with 100 points each. Just before the SIGTERM the broker's
    // PUBACKs stop reaching the agent, so the stop has to give up waiting for them at its
    // bound, with a full window in flight.
    let names: Vec<String> = (0..8).map(|i| format!("dev-{i:02}")).collect();
    let specs: Vec<(&str, Points, &str)> =
        names.iter().map(|n| (n.as_str(), Points::U16(100), "50ms")).collect();
    let plant = Plant::start(&specs).await;
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let proxy = AckHoldingProxy::start(port).await;
    let sub = Subscriber::start(port, "edgeproof/gw-test/#").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "{}\n[journal]\nflush_interval = \"100ms\"\n\n{}",
            mqtt_plain(proxy.port),
            plant.toml()
        ),
    );
    let mut agent = Agent::start(&config);
    wait_for("load flowing", WAIT, || sub.data_count() >= 400).await;

    proxy.hold.store(true, Ordering::SeqCst);
    let held_at = sub.seqs().last().copied().unwrap_or(0);
    wait_for("publishes going out with no PUBACK coming back", WAIT, || {
        sub.seqs().last().copied().unwrap_or(0) >= held_at + 20
    })
    .await;
    let sent = Instant::now();
    let status = agent.terminate(STOP_BOUND).await;
    let took = sent.elapsed();
    assert!(status.success(), "exit after SIGTERM: {status}");
    assert!(took <= STOP_BOUND, "stop took {took:?}, bound {STOP_BOUND:?}");
    assert!(agent.log().contains("stopped cleanly"), "{}", agent.log());

    // Unacknowledged entries stayed in the journal; everything else reached the broker.
    let (journal, left) = journal_contents(&config);
    assert!(!left.is_empty(), "the held PUBACKs left entries in the journal");
    let kept: BTreeSet<u64> = left.iter().map(|e| e.seq).collect();
    let numbered = journal.next_seq - 1;
    wait_for("every committed seq delivered or kept", WAIT, || {
        let mut all = sub.seqs();
        all.extend(&kept);
        all.range(1..=numbered).count() as u64 == numbered
    })
    .await;
    check_seqs(&sub.data()).unwrap_or_else(|e| panic!("{e}"));
}

/// The socket `$NOTIFY_SOCKET` names, bound by the test in place of systemd.
struct FakeServiceManager {
    _dir: tempfile::TempDir,
    socket: UnixDatagram,
    path: String,
    seen: Vec<String>,
}

impl FakeServiceManager {
    fn bind() -> FakeServiceManager {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_nonblocking(true).unwrap();
        let path = path.to_str().unwrap().to_string();
        FakeServiceManager { _dir: dir, socket, path, seen: Vec::new() }
    }

    fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.socket.recv(&mut buf) {
            self.seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }

    /// Waits until a message starting with `prefix` arrived after the first `from` messages;
    /// returns its index.
    async fn wait_for(&mut self, prefix: &str, from: usize) -> usize {
        let deadline = Instant::now() + WAIT;
        loop {
            self.drain();
            if let Some(i) = self.seen.iter().skip(from).position(|m| m.starts_with(prefix)) {
                return from + i;
            }
            assert!(Instant::now() < deadline, "no {prefix:?} within {WAIT:?}: {:?}", self.seen);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_manager_sees_ready_watchdog_reloading_and_stopping() {
    let plant = Plant::start(&[("press-01", Points::U16(10), "100ms")]).await;
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &format!("{}\n{}", mqtt_plain(port), plant.toml()));
    let mut manager = FakeServiceManager::bind();
    let mut agent = Agent::start_with_env(
        &config,
        &[("NOTIFY_SOCKET", &manager.path), ("WATCHDOG_USEC", "400000")],
    );

    let ready = manager.wait_for("READY=1", 0).await;
    assert!(agent.started(), "READY=1 only once the agent runs\n{}", agent.log());
    assert!(manager.seen[ready].contains("STATUS=polling 1 device(s)"), "{:?}", manager.seen);
    let first_ping = manager.wait_for("WATCHDOG=1", ready).await;
    manager.wait_for("WATCHDOG=1", first_ping + 1).await;

    send_signal(agent.pid(), "HUP");
    let reloading = manager.wait_for("RELOADING=1", ready + 1).await;
    assert!(manager.seen[reloading].contains("MONOTONIC_USEC="), "{:?}", manager.seen);
    manager.wait_for("READY=1", reloading).await;

    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    manager.wait_for("STOPPING=1", reloading).await;
    let pings = manager.seen.iter().filter(|m| *m == "WATCHDOG=1").count();
    assert!(pings >= 2, "{:?}", manager.seen);
}

/// A measurement for the README, not a check: the time from spawning a release `edgeproof
/// run` (fresh data directory, so a new journal) to the first data message at a subscriber —
/// the first sample polled, committed to the journal and published.
/// `EDGEPROOF_BIN=target/dist/edgeproof-… cargo test --test tests measure_start -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for the README; run by hand against a release build"]
async fn measure_start_to_first_published_sample() {
    let bin = std::env::var("EDGEPROOF_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/edgeproof").into()
    });
    let plant = Plant::start(&[("press-01", Points::U16(20), "1s")]).await;
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let sub = Subscriber::start(port, "edgeproof/gw-test/data/#").await;
    let mut took = Vec::new();
    for _ in 0..7 {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), &format!("{}\n{}", mqtt_plain(port), plant.toml()));
        let before = sub.data_count();
        let started = Instant::now();
        let mut child = Command::new(&bin)
            .args(["run", "-c"])
            .arg(&config)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn the release binary");
        wait_for("the first data message", WAIT, || sub.data_count() > before).await;
        took.push(started.elapsed());
        send_signal(child.id(), "TERM");
        child.wait().unwrap();
    }
    took.sort();
    println!(
        "{bin}: spawn to first published sample over {} runs: min {:?}, median {:?}, max {:?}",
        took.len(),
        took[0],
        took[took.len() / 2],
        took[took.len() - 1]
    );
}
