//! Simulated gateways for the collector tests: each writes a real evidence log with the
//! library (enroll, boot, 5-minute usage records, a final checkpoint), signed with its own
//! key, and a publisher sends them through a real broker as the agent does: one QoS 1
//! message per record on `edgeproof/<gw>/evidence` (payload = canonical JSON), the checkpoint
//! note on `edgeproof/<gw>/checkpoint`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use edgeproof::evidence::merkle::Hash;
use edgeproof::evidence::record::{
    Boot, DeviceUsage, Enroll, InventoryDevice, KeyAssurance, Polls, PreviousRun, Totals, Usage,
};
use edgeproof::evidence::{Body, Chain, GatewayKey, Stamp};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

use super::fake_gateway::{INTERVAL_MS, PROJECT, USCC};

/// One simulated gateway's log.
pub struct SimLog {
    /// Gateway id.
    pub gw: String,
    /// Its key.
    pub key: GatewayKey,
    /// Every record's canonical bytes, by seq.
    pub records: Vec<Vec<u8>>,
    /// The checkpoint over all of them.
    pub checkpoint: String,
}

/// The gateway id of simulated gateway `i`.
pub fn gw_id(i: usize) -> String {
    format!("gw-{i:04}")
}

/// A log of `n` records (enroll, boot, usage…) for gateway `i`, from 2026-01-01T00:00:00Z.
pub fn sim_log(i: usize, n: usize) -> SimLog {
    sim_log_from(i, n, 1_767_225_600_000)
}

/// The same gateway's log written from another time: validly signed, different records.
pub fn sim_log_from(i: usize, n: usize, start_wall_ms: u64) -> SimLog {
    let gw = gw_id(i);
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    let key = GatewayKey::from_seed(seed);
    let mut chain = Chain::new(Chain::origin_for(&gw), gw.clone());
    chain.start_run(format!("{gw}-boot"), 1);
    let mut wall = start_wall_ms;
    let mut mono = 5_000u64;
    let mut records = Vec::with_capacity(n);
    for seq in 0..n {
        let body = match seq {
            0 => Body::Enroll(Enroll {
                uscc: USCC.into(),
                project: PROJECT.into(),
                contract: "HT-1".into(),
                key: key.public().to_base64(),
                key_assurance: KeyAssurance::Software,
                agent_version: "0.1.0".into(),
                build: "test".into(),
                inventory: vec![InventoryDevice {
                    id: "press-1".into(),
                    protocol: "modbus-tcp".into(),
                    endpoint: "10.0.0.5:502".into(),
                    vendor: "Schneider".into(),
                    model: "M221".into(),
                    scene: "生产管控".into(),
                }],
                production_devices: 4,
            }),
            1 => Body::Boot(Boot {
                previous: PreviousRun::None,
                last_seq: 0,
                last_wall_ms: wall,
                agent_version: "0.1.0".into(),
                config_hash: Hash::sha256(b"config"),
            }),
            _ => {
                let start = Stamp { wall_ms: wall, mono_ms: mono };
                wall += INTERVAL_MS;
                mono += INTERVAL_MS;
                Body::Usage(Usage {
                    start,
                    end: Stamp { wall_ms: wall, mono_ms: mono },
                    devices: vec![DeviceUsage {
                        id: "press-1".into(),
                        protocol: "modbus-tcp".into(),
                        endpoint: "10.0.0.5:502".into(),
                        endpoint_local: false,
                        fingerprint: Hash::sha256(b"press-1"),
                        polls: Polls { ok: 300, error: 0, timeout: 0 },
                        exceptions: BTreeMap::new(),
                        points_read: 3_000,
                        points_changed: 120,
                        rt_p50_us: Some(900),
                        rt_p95_us: Some(2_000),
                        digest: Hash::sha256(&seq.to_le_bytes()),
                    }],
                    totals: Totals {
                        journaled: 3_000,
                        acked: 3_000,
                        backlog: 0,
                        dropped: 0,
                        refused: 0,
                    },
                })
            }
        };
        wall += 1;
        mono += 1;
        let p = chain.prepare(&key, Stamp { wall_ms: wall, mono_ms: mono }, body).expect("prepare");
        chain.commit(&p).expect("commit");
        records.push(p.canonical);
    }
    let checkpoint = chain.checkpoint().sign(&key).to_text();
    SimLog { gw, key, records, checkpoint }
}

/// Logs for gateways `0..gateways`, `n` records each, built on all cores.
pub fn sim_fleet(gateways: usize, n: usize) -> Vec<SimLog> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = gateways.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..gateways)
            .collect::<Vec<_>>()
            .chunks(per)
            .map(|c| {
                let c = c.to_vec();
                s.spawn(move || c.into_iter().map(|i| sim_log(i, n)).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("generator thread")).collect()
    })
}

/// Writes each gateway's public key to `dir/<gw>.pub`.
pub fn write_keys(dir: &Path, logs: &[SimLog]) -> Vec<PathBuf> {
    logs.iter()
        .map(|l| {
            let p = dir.join(format!("{}.pub", l.gw));
            std::fs::write(&p, l.key.public().to_spki_pem()).expect("write key");
            p
        })
        .collect()
}

/// One message to publish.
pub struct Message {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
}

/// The messages of `logs` as the agents would publish them, gateways interleaved record by
/// record (as a fleet's traffic is), leaving out `(gateway index, seq)` in `drop`, each
/// gateway's checkpoint last.
pub fn messages(logs: &[SimLog], drop: &BTreeSet<(usize, u64)>) -> Vec<Message> {
    let longest = logs.iter().map(|l| l.records.len()).max().unwrap_or(0);
    let mut out = Vec::new();
    for seq in 0..longest {
        for (i, l) in logs.iter().enumerate() {
            if let Some(r) = l.records.get(seq) {
                if !drop.contains(&(i, seq as u64)) {
                    out.push(Message {
                        topic: format!("edgeproof/{}/evidence", l.gw),
                        payload: r.clone(),
                    });
                }
            }
        }
    }
    for l in logs {
        out.push(Message {
            topic: format!("edgeproof/{}/checkpoint", l.gw),
            payload: l.checkpoint.clone().into_bytes(),
        });
    }
    out
}

/// Publishes every message QoS 1 and returns when the broker acknowledged them all.
pub async fn publish_all(port: u16, messages: Vec<Message>) {
    let mut opts = MqttOptions::new(format!("fleet-pub-{}", fastrand::u32(..)), "127.0.0.1", port);
    opts.set_inflight(1000).set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(opts, 1000);
    let total = messages.len();
    let sender = tokio::spawn(async move {
        for m in messages {
            client
                .publish(m.topic, QoS::AtLeastOnce, false, m.payload)
                .await
                .expect("queue publish");
        }
        client
    });
    let mut acked = 0usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    while acked < total {
        let Ok(ev) = tokio::time::timeout_at(deadline, eventloop.poll()).await else {
            panic!("publisher: {acked} of {total} acknowledged before the deadline")
        };
        match ev {
            Ok(Event::Incoming(Incoming::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(e) => panic!("publisher connection failed: {e}"),
        }
    }
    let client = sender.await.expect("sender");
    let _ = client.disconnect().await;
}
