//! A noisy RS-485 line: a proxy between two pty pairs corrupts the CRC of some answers, cuts
//! others short and puts a stray byte in front of others. Every kind is counted, the read is
//! resent, nothing panics, and once the noise stops every value reads exactly again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgeproof::config::{self, DeviceProtocol};
use edgeproof::source::modbus::rtu::{FrameErrorKind, RtuBuses};
use edgeproof::source::modbus::DeviceReader;
use edgeproof::source::PollObserver;
use edgeproof_sim::{RegisterImage, SimRtuServer};

use crate::modbus_rtu::{rtu_device, serial_bus, unit_fixture};
use crate::support::gateway;
use crate::support::serial::{ManglingProxy, PtyPair, RecordingObserver};

/// Answers 0..NOISY are mangled by their index; later ones pass untouched.
const NOISY: usize = 24;

/// Set to corrupt the CRC of the next answer only.
static CORRUPT_NEXT: AtomicBool = AtomicBool::new(false);

fn mangle(n: usize, mut frame: Vec<u8>) -> Vec<u8> {
    if CORRUPT_NEXT.swap(false, Ordering::SeqCst) {
        if let Some(last) = frame.last_mut() {
            *last ^= 0x01;
        }
        return frame;
    }
    if n >= NOISY {
        return frame;
    }
    match n % 4 {
        // A flipped bit in the CRC: line noise on the last byte.
        1 => {
            if let Some(last) = frame.last_mut() {
                *last ^= 0x10;
            }
            frame
        }
        // The answer stops three bytes short.
        2 => {
            frame.truncate(frame.len().saturating_sub(3));
            frame
        }
        // A stray byte before the answer.
        3 => {
            frame.insert(0, 0xFF);
            frame
        }
        _ => frame,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crc_corrupt_truncated_and_garbled_answers_are_counted_resent_and_the_bus_recovers() {
    let dir = tempfile::tempdir().unwrap();
    // agent ⇄ agent_line ⇄ proxy ⇄ server_line ⇄ RTU server
    let agent_line = PtyPair::new(dir.path(), "agent");
    let server_line = PtyPair::new(dir.path(), "server");
    let proxy = ManglingProxy::start(&agent_line.a, &server_line.b, mangle);
    let fixtures: Vec<(u8, _)> = [1u8, 2].map(|u| (u, unit_fixture(u))).into();
    let units = fixtures
        .iter()
        .map(|(u, f)| (*u, Arc::new(Mutex::new(f.image.clone()))))
        .collect::<Vec<(u8, Arc<Mutex<RegisterImage>>)>>();
    let server = SimRtuServer::start(&server_line.a.to_string_lossy(), 19200, units).unwrap();

    let devices: String = fixtures
        .iter()
        .map(|(u, f)| rtu_device(*u, &serial_bus(&agent_line.b), f).replace("\"1s\"", "\"200ms\""))
        .collect();
    let text = format!("{}\n{devices}", gateway(dir.path()));
    let cfg = config::load_str(std::path::Path::new("t.toml"), &text, false).expect("valid");

    let observer = Arc::new(RecordingObserver::default());
    let mut buses = RtuBuses::new(observer.clone() as Arc<dyn PollObserver>);
    let mut readers = Vec::new();
    for d in &cfg.devices {
        let DeviceProtocol::ModbusRtu(m) = &d.protocol else { panic!("an RTU device") };
        let unit = buses.unit(d.name.clone(), m);
        readers.push(DeviceReader::with_link(d.name.clone(), m.points.clone(), &m.limits, unit));
    }
    let bus_tasks = buses.into_tasks();

    // Poll both units, cycle after cycle, until the noise is over and one clean cycle of each
    // reads every value exactly.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut bad_seen = 0;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "the bus never recovered");
        let mut all_exact = true;
        for (reader, (_, fixture)) in readers.iter_mut().zip(&fixtures) {
            let mut out = Vec::new();
            for g in 0..reader.plan().groups.len() {
                reader.read_group(g, &mut out).await;
            }
            for r in &out {
                let point = &reader.points()[r.index];
                let expect = fixture.expect.iter().find(|e| *e.point == *point.name).unwrap();
                let got = r.sample.value.as_ref().map(edgeproof_value_json);
                if got.as_ref() != Some(&expect.value) {
                    all_exact = false;
                    bad_seen += 1;
                }
            }
        }
        if all_exact && proxy.answers.load(Ordering::SeqCst) > NOISY {
            break;
        }
    }
    for t in &bus_tasks {
        assert!(!t.is_finished(), "the bus task survived the noise");
    }
    let crc = observer.frame_errors(FrameErrorKind::Crc);
    let truncated = observer.frame_errors(FrameErrorKind::Truncated);
    let garbage = observer.frame_errors(FrameErrorKind::Garbage);
    assert!(crc >= 3, "CRC errors counted: {crc}");
    assert!(truncated >= 3, "truncated frames counted: {truncated}");
    assert!(garbage >= 3, "stray bytes counted: {garbage}");
    assert!(bad_seen > 0, "the noise did cost some readings");
    assert!(observer.discarded() > 0, "the bytes after a stray byte were drained");

    // One corrupt answer on a quiet line: counted, resent, and the read still returns
    // every value.
    CORRUPT_NEXT.store(true, Ordering::SeqCst);
    let (reader, (_, fixture)) = (&mut readers[0], &fixtures[0]);
    let before = server.request_count(1);
    let mut out = Vec::new();
    for g in 0..reader.plan().groups.len() {
        reader.read_group(g, &mut out).await;
    }
    assert_eq!(observer.frame_errors(FrameErrorKind::Crc), crc + 1);
    assert_eq!(out.len(), fixture.expect.len());
    for r in &out {
        let point = &reader.points()[r.index];
        let expect = fixture.expect.iter().find(|e| *e.point == *point.name).unwrap();
        assert_eq!(r.sample.value.as_ref().map(edgeproof_value_json), Some(expect.value.clone()));
    }
    assert_eq!(
        server.request_count(1) - before,
        reader.plan().requests_per_cycle() as u64 + 1,
        "the corrupt answer's read was sent twice"
    );
    assert_eq!(server.write_count(), 0);
    drop(readers);
    for t in bus_tasks {
        tokio::time::timeout(Duration::from_secs(5), t).await.expect("bus task ends").unwrap();
    }
    server.stop().await;
}

/// A value as `probe --json` prints it (the fixture's expectations are in that form).
fn edgeproof_value_json(v: &edgeproof::model::Value) -> serde_json::Value {
    use edgeproof::model::Value;
    match v {
        Value::Bool(b) => serde_json::json!(b),
        Value::Int(i) => serde_json::json!(i),
        Value::UInt(u) => serde_json::json!(u),
        Value::Float(f) => serde_json::json!(f),
        Value::Text(s) => serde_json::json!(s),
    }
}
