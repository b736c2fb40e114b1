//! Poll cycles over the real transport and simulator: exceptions split merged reads, and a
//! dead or silent device never slows another device's polls.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgeproof::config::{self, Config, DeviceProtocol};
use edgeproof::model::{BadReason, Batch, Quality};
use edgeproof::source::modbus::{Area, DeviceReader};
use edgeproof::source::{run_device, ChannelSink, NoObserver};
use edgeproof_sim::{RegisterImage, SimServer};
use tokio_util::sync::CancellationToken;

use crate::support::gateway;

fn config(devices: &str) -> Config {
    let text = format!("{}\n{devices}", gateway(Path::new("/tmp/unused")));
    config::load_str(Path::new("test.toml"), &text, false).expect("test config is valid")
}

fn u16_points(addrs: &[(&str, u16)]) -> String {
    addrs
        .iter()
        .map(|(n, a)| format!("  [[devices.points]]\n  name = \"{n}\"\n  area = \"holding\"\n  address = {a}\n  type = \"u16\"\n"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exception_02_inside_a_merged_read_splits_it_and_marks_only_the_unmapped_point_bad() {
    let mut image = RegisterImage::new();
    image.holding.set_u16(0, 10).set_u16(1, 11).set_u16(6, 16);
    image.add_hole(Area::Holding, 2, 2); // registers 2 and 3 are not mapped by the device
    let sim = SimServer::start("127.0.0.1:0".parse().unwrap(), Arc::new(Mutex::new(image)))
        .await
        .unwrap();
    let cfg = config(&format!(
        "[[devices]]\nname = \"plc\"\nprotocol = \"modbus-tcp\"\naddress = \"{}\"\n{}",
        sim.local_addr(),
        u16_points(&[("a", 0), ("b", 1), ("c", 3), ("d", 6)])
    ));
    let DeviceProtocol::ModbusTcp(m) = &cfg.devices[0].protocol else {
        panic!("a modbus-tcp device")
    };
    let mut reader = DeviceReader::new(cfg.devices[0].name.clone(), m);
    assert_eq!(reader.plan().requests_per_cycle(), 1, "a, b, c, d merge into one read");

    for cycle in 1..=3 {
        let before = sim.request_count();
        let mut out = Vec::new();
        reader.read_group(0, &mut out).await;
        out.sort_by_key(|r| r.index);
        let q: Vec<(String, Quality)> =
            out.iter().map(|r| (r.sample.point.to_string(), r.sample.quality)).collect();
        assert_eq!(
            q,
            vec![
                ("a".into(), Quality::Good),
                ("b".into(), Quality::Good),
                ("c".into(), Quality::Bad(BadReason::Exception(2))),
                ("d".into(), Quality::Good),
            ],
            "cycle {cycle}"
        );
        let requests = sim.request_count() - before;
        if cycle == 1 {
            assert_eq!(requests, 5, "merged, then halves, then the second half's halves");
        } else {
            assert_eq!(requests, 3, "cycle {cycle}: the splits are remembered");
        }
    }
    assert_eq!(reader.plan().requests_per_cycle(), 3);
}

fn device(name: &str, addr: &str, poll: &str, timeout: &str) -> String {
    format!(
        "[[devices]]\nname = \"{name}\"\nprotocol = \"modbus-tcp\"\naddress = \"{addr}\"\npoll = \"{poll}\"\ntimeout = \"{timeout}\"\n{}",
        u16_points(&[("p", 0)])
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_and_a_silent_device_do_not_slow_a_healthy_one() {
    let mut image = RegisterImage::new();
    image.holding.set_u16(0, 42);
    let sim = SimServer::start("127.0.0.1:0".parse().unwrap(), Arc::new(Mutex::new(image)))
        .await
        .unwrap();
    // Accepts connections, never answers: every request costs the full timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = crate::support::free_port();
    let cfg = config(&format!(
        "{}{}{}",
        device("healthy", &sim.local_addr().to_string(), "200ms", "1s"),
        device("dead", &format!("127.0.0.1:{closed_port}"), "200ms", "1s"),
        device("silent", &silent.local_addr().unwrap().to_string(), "200ms", "1s"),
    ));

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(1024);
    let sink = Arc::new(ChannelSink::new(tx));
    let cancel = CancellationToken::new();
    let mut tasks = Vec::new();
    for d in &cfg.devices {
        let DeviceProtocol::ModbusTcp(m) = &d.protocol else { panic!("a modbus-tcp device") };
        let reader = DeviceReader::new(d.name.clone(), m);
        tasks.push(tokio::spawn(run_device(
            reader,
            sink.clone(),
            Arc::new(NoObserver),
            cancel.clone(),
        )));
    }

    // Counted, not timed: every cycle of the silent device costs its 1 s timeout, five of the
    // healthy device's 200 ms intervals. Were the healthy device held up by it (one task, a
    // shared lock, a blocked runtime), it could not finish many more cycles than the silent
    // one; on its own it finishes about five per silent cycle, however loaded the machine.
    let mut healthy = 0usize;
    let mut silent = 0usize;
    let mut dead = 0usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while healthy < 16 {
        let batch = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("healthy device kept polling")
            .expect("channel open");
        match &*batch.device {
            "healthy" => {
                assert!(batch.samples.iter().all(|s| s.quality.is_good()));
                healthy += 1;
            }
            "silent" => {
                assert!(batch.samples.iter().all(|s| !s.quality.is_good()));
                silent += 1;
            }
            _ => {
                assert!(batch.samples.iter().all(|s| !s.quality.is_good()));
                dead += 1;
            }
        }
    }
    cancel.cancel();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    assert!(silent + dead > 0, "the dead and silent devices were polled too");
    assert!(
        healthy >= 2 * silent.max(1),
        "the healthy device finished {healthy} cycles while the silent one finished {silent}: \
         the silent device's timeouts held it up"
    );
}
