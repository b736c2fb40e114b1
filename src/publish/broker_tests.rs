//! The publisher against a real `mosquitto` (spawned per test on a free port): delivery of
//! every journal entry, acks back to the journal, status and Last Will, reconnects after a
//! cut connection and a broker that starts late, and TLS (server verification, mTLS, the
//! one-line error for an untrusted broker).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::backlog::MemoryBacklog;
use super::counters::PublishCounters;
use super::link::LinkLog;
use super::publisher::Publisher;
use super::session::{run_session, SessionEnd};
use super::tls::tests::{mqtt_config, Pki};
use crate::config::MqttConfig;
use crate::model::{Batch, Sample, Value};

const WAIT: Duration = Duration::from_secs(30);
const PREFIX: &str = "edgeproof/gw-test";

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
}

pub(super) fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A mosquitto child process, killed on drop.
pub(super) struct Mosquitto {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts mosquitto with `listeners` (conf lines) and waits until `wait_port` accepts.
    async fn start(listeners: &str, wait_port: u16) -> Mosquitto {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("mosquitto.conf");
        let mut text = String::from("per_listener_settings false\nallow_anonymous true\npersistence false\nlog_dest stderr\n");
        if running_as_root() {
            // Otherwise mosquitto drops to its own user and cannot read the temp dir.
            text.push_str("user root\n");
        }
        text.push_str(listeners);
        std::fs::write(&conf, text).unwrap();
        let log = std::fs::File::create(dir.path().join("mosquitto.log")).unwrap();
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn /usr/sbin/mosquitto");
        let m = Mosquitto { child, _dir: dir };
        wait_for("mosquitto to listen", || async {
            TcpStream::connect(("127.0.0.1", wait_port)).await.is_ok()
        })
        .await;
        m
    }

    pub(super) async fn plain(port: u16) -> Mosquitto {
        Mosquitto::start(&format!("listener {port} 127.0.0.1\n"), port).await
    }

    /// A TLS listener on `tls_port` (client certificates required if `mtls`) and a plain one
    /// on `plain_port` for the test's subscriber.
    async fn tls(pki: &Pki, tls_port: u16, plain_port: u16, mtls: bool) -> Mosquitto {
        let p = |p: &Path| p.display().to_string();
        let listeners = format!(
            "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {mtls}\n\
             listener {plain_port} 127.0.0.1\n",
            p(&pki.ca),
            p(&pki.server_cert),
            p(&pki.server_key),
        );
        Mosquitto::start(&listeners, plain_port).await
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` every 20 ms until it holds; panics after [`WAIT`].
pub(super) async fn wait_for<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(Debug, Clone)]
struct Msg {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
}

/// A second rumqttc client subscribed to `<prefix>/#`, resubscribing after reconnects.
pub(super) struct Subscriber {
    msgs: Arc<Mutex<Vec<Msg>>>,
    task: JoinHandle<()>,
}

impl Subscriber {
    pub(super) async fn start(port: u16) -> Subscriber {
        let mut opts = MqttOptions::new(format!("sub-{}", fastrand::u32(..)), "127.0.0.1", port);
        opts.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(opts, 10);
        let msgs = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, mut ready) = watch::channel(false);
        let sink = msgs.clone();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        client.try_subscribe(format!("{PREFIX}/#"), QoS::AtLeastOnce).unwrap();
                    }
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        ready_tx.send_replace(true);
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => sink.lock().unwrap().push(Msg {
                        topic: p.topic.clone(),
                        payload: p.payload.to_vec(),
                        retain: p.retain,
                    }),
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(WAIT, ready.wait_for(|r| *r)).await.unwrap().unwrap();
        Subscriber { msgs, task }
    }

    fn all(&self) -> Vec<Msg> {
        self.msgs.lock().unwrap().clone()
    }

    /// Data messages, parsed, in arrival order.
    fn data(&self) -> Vec<serde_json::Value> {
        self.all()
            .iter()
            .filter(|m| m.topic.starts_with(&format!("{PREFIX}/data/")))
            .map(|m| serde_json::from_slice(&m.payload).unwrap())
            .collect()
    }

    pub(super) fn seqs(&self) -> BTreeSet<u64> {
        self.data().iter().map(|v| v["seq"].as_u64().unwrap()).collect()
    }

    fn statuses(&self) -> Vec<String> {
        self.all()
            .iter()
            .filter(|m| m.topic == format!("{PREFIX}/status"))
            .map(|m| String::from_utf8(m.payload.clone()).unwrap())
            .collect()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Open proxied connections: the forwarding task and its stall switch.
type ProxiedConns = Arc<Mutex<Vec<(JoinHandle<()>, watch::Sender<bool>)>>>;

/// A TCP proxy between publisher and broker that can stall and cut the connections open at
/// the time, like a flaky uplink; connections made afterwards flow normally.
struct Proxy {
    port: u16,
    conns: ProxiedConns,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns = ProxiedConns::default();
        let list = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(broker) = TcpStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                let (stall_tx, mut stall) = watch::channel(false);
                let task = tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut br, mut bw) = broker.into_split();
                    let up = async {
                        let mut buf = vec![0u8; 8192];
                        loop {
                            if stall.wait_for(|s| !*s).await.is_err() {
                                return;
                            }
                            match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if bw.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    };
                    let down = tokio::io::copy(&mut br, &mut cw);
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                    }
                });
                list.lock().unwrap().push((task, stall_tx));
            }
        });
        Proxy { port, conns, accept }
    }

    /// Stops forwarding publisher → broker on every open connection.
    fn stall(&self) {
        for (_, stall) in self.conns.lock().unwrap().iter() {
            stall.send_replace(true);
        }
    }

    /// Drops every open connection (both sockets close).
    fn cut(&self) {
        for (task, _) in self.conns.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

pub(super) fn batch(device: &str, i: u64) -> Batch {
    Batch {
        device: Arc::from(device),
        ts_ms: 1_732_300_000_000 + i,
        samples: vec![
            Sample::good(Arc::from("count"), 1, Value::UInt(i)),
            Sample::good(Arc::from("temp"), 1, Value::Float(20.5)),
        ],
    }
}

fn fill(backlog: &MemoryBacklog, n: u64) {
    for i in 0..n {
        backlog.push(batch(if i % 2 == 0 { "press-01" } else { "oven-02" }, i));
    }
}

struct Running {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
    counters: Arc<PublishCounters>,
}

impl Running {
    async fn stop(self) -> Arc<PublishCounters> {
        self.cancel.cancel();
        tokio::time::timeout(WAIT, self.handle).await.expect("publisher stops").unwrap();
        self.counters
    }
}

fn start_publisher(cfg: MqttConfig, backlog: &MemoryBacklog) -> Running {
    start_publisher_with(cfg, backlog, |p| p)
}

fn start_publisher_with(
    cfg: MqttConfig,
    backlog: &MemoryBacklog,
    tweak: impl FnOnce(Publisher<MemoryBacklog>) -> Publisher<MemoryBacklog>,
) -> Running {
    let counters = Arc::new(PublishCounters::new());
    let cancel = CancellationToken::new();
    let publisher = Publisher::new(cfg, "gw-test".into(), backlog.clone(), counters.clone())
        .unwrap()
        .with_drain_timeout(Duration::from_secs(5))
        .with_backoff_base(Duration::from_millis(50));
    let publisher = tweak(publisher);
    let handle = tokio::spawn(publisher.run(cancel.clone()));
    Running { cancel, handle, counters }
}

fn all_seqs(n: u64) -> BTreeSet<u64> {
    (1..=n).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_every_entry_and_acks_it() {
    init_logs();
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let sub = Subscriber::start(port).await;
    let backlog = MemoryBacklog::new();
    fill(&backlog, 300);

    let cfg = MqttConfig { max_inflight: 16, ..mqtt_config("127.0.0.1", port) };
    let running = start_publisher(cfg, &backlog);
    wait_for("all backlog seqs at the subscriber", || async { sub.seqs() == all_seqs(300) }).await;

    // Live entries, committed while connected.
    fill(&backlog, 50);
    wait_for("live seqs at the subscriber", || async { sub.seqs() == all_seqs(350) }).await;
    wait_for("journal drained", || async { backlog.pending().is_empty() }).await;

    let counters = running.stop().await;
    wait_for("offline status", || async {
        sub.statuses().last().map(String::as_str) == Some("offline")
    })
    .await;

    // Every entry released exactly once: no reconnect happened, so no duplicates either.
    let mut acked = backlog.acked();
    acked.sort_unstable();
    assert_eq!(acked, (1..=350).collect::<Vec<_>>());
    let data = sub.data();
    assert_eq!(data.len(), 350, "one message per entry");

    // Payload and historical flag: backlog from before the connection vs live entries.
    let by_seq: BTreeMap<u64, &serde_json::Value> =
        data.iter().map(|v| (v["seq"].as_u64().unwrap(), v)).collect();
    for (seq, v) in &by_seq {
        assert_eq!(v["gw"], "gw-test");
        assert_eq!(v["historical"], *seq <= 300, "seq {seq}");
        assert_eq!(v["values"]["temp"], 20.5);
    }
    assert_eq!(by_seq[&1]["device"], "press-01");
    assert_eq!(by_seq[&2]["device"], "oven-02");
    let topics: BTreeSet<String> = sub.all().into_iter().map(|m| m.topic).collect();
    assert!(topics.contains(&format!("{PREFIX}/data/press-01")));
    assert!(topics.contains(&format!("{PREFIX}/data/oven-02")));
    assert_eq!(sub.statuses(), vec!["online", "offline"]);

    let s = counters.snapshot();
    assert_eq!((s.published, s.acknowledged, s.in_flight, s.connected), (350, 350, 0, 0));
    assert_eq!((s.connects, s.reconnects, s.connect_failures), (1, 0, 0));
    assert!(s.bytes > 350 * 100);

    // The status is retained: a late subscriber still learns the gateway is offline.
    let late = Subscriber::start(port).await;
    wait_for("retained status", || async { !late.statuses().is_empty() }).await;
    let retained = late.all().into_iter().find(|m| m.topic.ends_with("/status")).unwrap();
    assert!(retained.retain);
    assert_eq!(retained.payload, b"offline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connection_resends_unacked_without_gaps() {
    init_logs();
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let proxy = Proxy::start(port).await;
    let sub = Subscriber::start(port).await;
    let backlog = MemoryBacklog::new();
    fill(&backlog, 200);

    let window = 50;
    let cfg = MqttConfig { max_inflight: window, ..mqtt_config("127.0.0.1", proxy.port) };
    let running = start_publisher(cfg, &backlog);
    wait_for("first 200 delivered", || async { sub.seqs() == all_seqs(200) }).await;

    // The uplink stalls: publishes pile up unacknowledged until the window is full …
    proxy.stall();
    fill(&backlog, 300);
    let counters = running.counters.clone();
    wait_for("a full window in flight", || async {
        counters.snapshot().in_flight == u64::from(window)
    })
    .await;
    // … then the connection dies with the window in flight.
    proxy.cut();

    wait_for("every seq delivered after the reconnect", || async { sub.seqs() == all_seqs(500) })
        .await;
    wait_for("journal drained", || async { backlog.pending().is_empty() }).await;
    let counters = running.stop().await;

    let s = counters.snapshot();
    assert!(s.reconnects >= 1, "{s:?}");
    assert!(s.published > 500, "the stuck window was published again: {s:?}");
    // Released exactly once each: acks are flushed before the new connection re-reads.
    let mut acked = backlog.acked();
    acked.sort_unstable();
    assert_eq!(acked, (1..=500).collect::<Vec<_>>());
    // The broker published the Last Will when the connection died, then the birth again.
    let statuses = sub.statuses();
    assert!(statuses.windows(2).any(|w| w == ["offline", "online"]), "{statuses:?}");
    // Backlog before the first connection is historical; so are the resent stuck entries.
    let data = sub.data();
    for v in &data {
        if v["seq"].as_u64().unwrap() <= 200 {
            assert_eq!(v["historical"], true, "{v}");
        }
    }
    assert!(
        data.iter().any(|v| v["seq"].as_u64().unwrap() > 200 && v["historical"] == true),
        "resent entries are flagged historical"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_broker_link_is_dropped_and_entries_resent() {
    init_logs();
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let proxy = Proxy::start(port).await;
    let sub = Subscriber::start(port).await;
    let backlog = MemoryBacklog::new();
    fill(&backlog, 10);
    let cfg = MqttConfig { max_inflight: 20, ..mqtt_config("127.0.0.1", proxy.port) };
    let running =
        start_publisher_with(cfg, &backlog, |p| p.with_ack_timeout(Duration::from_millis(500)));
    wait_for("first entries delivered", || async { sub.seqs() == all_seqs(10) }).await;

    // The link goes silent without closing: no error, no PUBACK. Only the watchdog notices.
    proxy.stall();
    fill(&backlog, 90);
    wait_for("every seq delivered on a new connection", || async { sub.seqs() == all_seqs(100) })
        .await;
    wait_for("journal drained", || async { backlog.pending().is_empty() }).await;
    let s = running.stop().await.snapshot();
    assert!(s.reconnects >= 1, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_that_starts_late_gets_everything() {
    init_logs();
    let port = free_port();
    let backlog = MemoryBacklog::new();
    fill(&backlog, 100);
    let running = start_publisher(mqtt_config("127.0.0.1", port), &backlog);
    let counters = running.counters.clone();
    wait_for("failed attempts while the broker is down", || async {
        counters.snapshot().connect_failures >= 2
    })
    .await;
    assert_eq!(counters.snapshot().connected, 0);
    assert!(backlog.acked().is_empty());

    let _broker = Mosquitto::plain(port).await;
    wait_for("journal drained", || async { backlog.pending().is_empty() }).await;
    let s = running.stop().await.snapshot();
    assert_eq!((s.acknowledged, s.connects), (100, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_verified_broker_and_mutual_tls() {
    init_logs();
    let pki = Pki::generate();
    for mtls in [false, true] {
        let (tls_port, plain_port) = (free_port(), free_port());
        let _broker = Mosquitto::tls(&pki, tls_port, plain_port, mtls).await;
        let sub = Subscriber::start(plain_port).await;
        let backlog = MemoryBacklog::new();
        fill(&backlog, 20);
        let cfg = MqttConfig {
            tls: true,
            ca_file: Some(pki.ca.clone()),
            cert_file: mtls.then(|| pki.client_cert.clone()),
            key_file: mtls.then(|| pki.client_key.clone()),
            ..mqtt_config("127.0.0.1", tls_port)
        };
        let running = start_publisher(cfg, &backlog);
        wait_for("delivery over TLS", || async { sub.seqs() == all_seqs(20) }).await;
        wait_for("journal drained", || async { backlog.pending().is_empty() }).await;
        running.stop().await;
    }
}

/// One connection attempt, returning how it ended.
async fn connect_once(cfg: MqttConfig) -> SessionEnd {
    let publisher = Publisher::new(
        cfg,
        "gw-test".into(),
        MemoryBacklog::new(),
        Arc::new(PublishCounters::new()),
    )
    .unwrap();
    let mut link = LinkLog::new("test");
    let cancel = CancellationToken::new();
    tokio::time::timeout(WAIT, run_session(&publisher, &cancel, &mut link)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_failures_are_one_clear_line() {
    init_logs();
    let pki = Pki::generate();
    let (tls_port, plain_port) = (free_port(), free_port());
    let _broker = Mosquitto::tls(&pki, tls_port, plain_port, true).await;
    let base = || MqttConfig { tls: true, ..mqtt_config("127.0.0.1", tls_port) };
    let cases: Vec<(&str, MqttConfig, String)> = vec![
        (
            "broker signed by a CA we do not trust",
            MqttConfig { ca_file: Some(pki.other_ca.clone()), ..base() },
            format!(
                "TLS handshake with broker 127.0.0.1:{tls_port} failed: invalid peer \
                 certificate: UnknownIssuer — check mqtt.ca_file"
            ),
        ),
        (
            "broker requires a client certificate we do not have",
            MqttConfig { ca_file: Some(pki.ca.clone()), ..base() },
            "check mqtt.cert_file and mqtt.key_file".to_string(),
        ),
    ];
    for (case, cfg, want) in cases {
        match connect_once(cfg).await {
            SessionEnd::ConnectFailed(reason) => {
                assert!(reason.contains(&want), "{case}: {reason}");
                assert!(!reason.contains('\n'), "{case}: one line");
            }
            other => panic!("{case}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_is_a_connect_failure_naming_the_broker() {
    let port = free_port();
    match connect_once(mqtt_config("127.0.0.1", port)).await {
        SessionEnd::ConnectFailed(reason) => assert_eq!(
            reason,
            format!(
                "broker 127.0.0.1:{port} refused the TCP connection (is it running and \
                 listening on that port?)"
            )
        ),
        other => panic!("{other:?}"),
    }
}
