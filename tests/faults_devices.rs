//! Device chaos: beside two healthy devices, the agent polls a slow one (answers after
//! 700 ms), one that answers every read with a Modbus exception, one that answers with
//! malformed frames, and one behind the fault proxy in blackhole (half-open: connects, never
//! answers). The healthy devices keep their poll interval and their exact values, and
//! nothing is lost — the failing devices' cycles are journalled too, as bad samples.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::agent::{metrics_on, mqtt_plain, write_config, Agent};
use crate::support::faults::{assert_nothing_lost, pick};
use crate::support::metrics::scrape;
use crate::support::mosquitto::Mosquitto;
use crate::support::plant::{Plant, Points};
use crate::support::proxy::{FaultProxy, Mode};
use crate::support::subscriber::Subscriber;
use crate::support::{free_port, wait_for};

const WAIT: Duration = Duration::from_secs(60);

/// A Modbus TCP server that answers every request with a broken frame, in turn: a byte
/// count that disagrees with the data, the wrong function code, the wrong transaction id.
async fn malformed_device() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut n = 0u32;
                loop {
                    let mut head = [0u8; 7];
                    if s.read_exact(&mut head).await.is_err() {
                        return;
                    }
                    let len = u16::from_be_bytes([head[4], head[5]]) as usize;
                    let mut pdu = vec![0u8; len.saturating_sub(1)];
                    if s.read_exact(&mut pdu).await.is_err() {
                        return;
                    }
                    let (tid, fc) = ([head[0], head[1]], pdu.first().copied().unwrap_or(3));
                    let reply: Vec<u8> = match n % 3 {
                        // Byte count 200, two data bytes.
                        0 => [&tid[..], &[0, 0, 0, 5, head[6], fc, 200, 1, 2]].concat(),
                        // Another function code than asked.
                        1 => [&tid[..], &[0, 0, 0, 5, head[6], fc ^ 0x07, 2, 1, 2]].concat(),
                        // Another transaction id.
                        _ => [&[tid[0] ^ 0x55, tid[1]][..], &[0, 0, 0, 5, head[6], fc, 2, 1, 2]]
                            .concat(),
                    };
                    n += 1;
                    if s.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn device_toml(name: &str, addr: impl std::fmt::Display, poll: &str, timeout: &str) -> String {
    format!(
        "[[devices]]\nname = \"{name}\"\nprotocol = \"modbus-tcp\"\naddress = \"{addr}\"\n\
         poll = \"{poll}\"\ntimeout = \"{timeout}\"\n  [[devices.points]]\n  name = \"p000\"\n  \
         area = \"holding\"\n  address = 0\n  type = \"u16\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_exception_malformed_and_half_open_devices_leave_healthy_ones_untouched() {
    let per_device = pick(25, 300);
    let plant = Plant::start(&[
        ("healthy-01", Points::U16(20), "200ms"),
        ("healthy-02", Points::U16(20), "200ms"),
        ("slow-01", Points::U16(4), "200ms"),
    ])
    .await;
    plant.device("slow-01").sim.set_delay(Duration::from_millis(700));
    // No registers at all: every read is answered with exception 02.
    let exceptions = Plant::start(&[("unused", Points::U16(0), "1s")]).await;
    let malformed = malformed_device().await;
    let half_open = FaultProxy::start(free_port()).await;
    half_open.set_mode(Mode::Blackhole);

    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let sub = Subscriber::start(port, "edgeproof/gw-test/#").await;
    let dir = tempfile::tempdir().unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "{}\n{}\n{}{}{}{}",
            mqtt_plain(port),
            metrics_on(metrics),
            plant.toml(),
            device_toml("exceptions-01", exceptions.devices[0].sim.local_addr(), "200ms", "1s"),
            device_toml("malformed-01", malformed, "200ms", "1s"),
            device_toml("half-open-01", format!("127.0.0.1:{}", half_open.port), "200ms", "1s"),
        ),
    );
    let mut agent = Agent::start(&config);

    let count = |name: &str| sub.data().iter().filter(|m| m["device"] == name).count();
    wait_for(&format!("{per_device} cycles of every device"), WAIT * 3, || {
        ["healthy-01", "healthy-02", "slow-01", "exceptions-01", "malformed-01", "half-open-01"]
            .iter()
            .all(|d| count(d) >= if d.starts_with("healthy") { per_device * 2 } else { 3 })
    })
    .await;
    let s = scrape(metrics).await;
    let errors = |device: &str, kind: &str| {
        s.sum(
            "edgeproof_device_poll_errors_total",
            &[&format!("device=\"{device}\""), &format!("kind=\"{kind}\"")],
        )
    };
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");

    let data = sub.data();
    let ledger = assert_nothing_lost(&plant, &data, &config);
    let mut by_device: BTreeMap<String, Vec<&serde_json::Value>> = BTreeMap::new();
    for m in &data {
        by_device.entry(m["device"].as_str().unwrap().to_string()).or_default().push(m);
    }

    // Healthy devices: exact values (checked above), and never held up by the failing ones.
    // Counted, not timed: every cycle of the half-open device costs its 1 s timeout (five of
    // the healthy devices' 200 ms intervals), so a healthy device that waited on it could not
    // finish many more cycles than it; on its own it finishes about five per half-open cycle,
    // however loaded the machine. The mean gap is printed as a figure, never asserted.
    let mut figures = Vec::new();
    let half_open_cycles = by_device["half-open-01"].len().max(1);
    for name in ["healthy-01", "healthy-02"] {
        let mut ts: Vec<u64> = by_device[name].iter().map(|m| m["ts"].as_u64().unwrap()).collect();
        ts.sort_unstable();
        ts.dedup();
        assert!(
            ts.len() >= 2 * half_open_cycles,
            "{name}: {} cycles while half-open-01 did {half_open_cycles}: held up by it",
            ts.len()
        );
        let gaps: Vec<u64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<u64>() as f64 / gaps.len().max(1) as f64;
        let max = gaps.iter().copied().max().unwrap_or(0);
        figures.push(format!("{name} mean {mean:.0} ms max {max} ms over {} cycles", ts.len()));
    }
    // The failing devices: journalled as bad samples, each failure counted by kind.
    for (name, kind) in
        [("exceptions-01", "exception"), ("malformed-01", "malformed"), ("half-open-01", "timeout")]
    {
        assert!(
            by_device[name].iter().all(|m| m["values"] == serde_json::json!({})),
            "{name}: no good value ever: {:?}",
            by_device[name].first()
        );
        assert!(errors(name, kind) > 0.0, "{name}: {kind} errors counted\n{}", s.text);
    }
    eprintln!(
        "faults_devices: {}; {} seqs, nothing lost",
        figures.join("; "),
        ledger.report.distinct
    );
}
