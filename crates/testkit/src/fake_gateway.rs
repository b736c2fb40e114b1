//! A small fake gateway that writes a real evidence log with the library — enroll, boots
//! (clean and unclean), usage, checkpoints, witness cosignatures and anchors — and returns it
//! as a bundle, so `verify` can be tested without running the agent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use edgeproof::evidence::bundle::{
    checkpoint_line, cosignature_line, header_line, record_line, Header, BUNDLE_VERSION,
};
use edgeproof::evidence::cosignature::{cosign, WitnessKey};
use edgeproof::evidence::keys::{hex, GatewayKey, SIG_TYPE_COSIGNATURE};
use edgeproof::evidence::merkle::Hash;
use edgeproof::evidence::record::{
    Anchor, Body, Boot, DeviceUsage, Enroll, InventoryDevice, KeyAssurance, Polls, PreviousRun,
    Shutdown, Totals, Usage,
};
use edgeproof::evidence::{Chain, Stamp};

/// A USCC with a valid check character (printed on a public business licence).
pub const USCC: &str = "91350100M000100Y43";
/// The project id the fake gateway enrols under.
pub const PROJECT: &str = "GD-2026-0042";
/// Five minutes, the default usage interval.
pub const INTERVAL_MS: u64 = 300_000;

/// A witness: key and name.
pub struct FakeWitness {
    /// Signing key.
    pub key: GatewayKey,
    /// Key name.
    pub name: String,
}

impl FakeWitness {
    /// A witness with a fixed key.
    pub fn new(name: &str, seed: u8) -> Self {
        FakeWitness { key: GatewayKey::from_seed([seed; 32]), name: name.into() }
    }

    /// Its verifier key (what a reviewer trusts).
    pub fn trusted(&self) -> WitnessKey {
        WitnessKey { name: self.name.clone(), key: self.key.public() }
    }
}

/// The gateway under test.
pub struct FakeGateway {
    /// Its signing key.
    pub key: GatewayKey,
    /// Gateway id.
    pub gw: String,
    chain: Chain,
    lines: Vec<Vec<u8>>,
    leaves: Vec<Hash>,
    wall_ms: u64,
    mono_ms: u64,
    boot_id: String,
    n: u64,
    last_typ: &'static str,
    last_wall: u64,
    latest_checkpoint: Option<String>,
}

impl FakeGateway {
    /// A gateway with a key derived from `seed`, not yet enrolled.
    pub fn new(gw: &str, seed: u8) -> Self {
        FakeGateway {
            key: GatewayKey::from_seed([seed; 32]),
            gw: gw.into(),
            chain: Chain::new(Chain::origin_for(gw), gw),
            lines: Vec::new(),
            leaves: Vec::new(),
            wall_ms: 1_767_225_600_000, // 2026-01-01T00:00:00Z
            mono_ms: 8_000,
            boot_id: format!("{gw}-kernel-boot-1"),
            n: 1,
            last_typ: "",
            last_wall: 0,
            latest_checkpoint: None,
        }
    }

    /// The log origin.
    pub fn origin(&self) -> String {
        Chain::origin_for(&self.gw)
    }

    fn append(&mut self, body: Body) {
        self.wall_ms += 7;
        self.mono_ms += 7;
        let t = Stamp { wall_ms: self.wall_ms, mono_ms: self.mono_ms };
        self.last_typ = body.typ().as_str();
        let p = self.chain.prepare(&self.key, t, body).expect("prepare");
        self.chain.commit(&p).expect("commit");
        self.last_wall = t.wall_ms;
        self.lines.push(record_line(&p.canonical));
        self.leaves.push(p.leaf);
    }

    /// First start: enroll and boot.
    pub fn enroll(&mut self) {
        self.chain.start_run(self.boot_id.clone(), self.n);
        self.append(Body::Enroll(Enroll {
            uscc: USCC.into(),
            project: PROJECT.into(),
            contract: "HT-2025-118".into(),
            key: self.key.public().to_base64(),
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
            production_devices: 8,
        }));
        self.boot_record(PreviousRun::None);
    }

    fn boot_record(&mut self, previous: PreviousRun) {
        let last_seq = self.chain.next_seq() - 1;
        let last_wall_ms = self.last_wall;
        self.append(Body::Boot(Boot {
            previous,
            last_seq,
            last_wall_ms,
            agent_version: "0.1.0".into(),
            config_hash: Hash::sha256(b"config"),
        }));
    }

    /// `n` usage records, one interval apart.
    pub fn usage(&mut self, n: usize) {
        for i in 0..n {
            let start = Stamp { wall_ms: self.wall_ms, mono_ms: self.mono_ms };
            self.wall_ms += INTERVAL_MS;
            self.mono_ms += INTERVAL_MS;
            let end = Stamp { wall_ms: self.wall_ms, mono_ms: self.mono_ms };
            self.append(Body::Usage(Usage {
                start,
                end,
                devices: vec![DeviceUsage {
                    id: "press-1".into(),
                    protocol: "modbus-tcp".into(),
                    endpoint: "10.0.0.5:502".into(),
                    endpoint_local: false,
                    fingerprint: Hash::sha256(b"press-1 identity"),
                    polls: Polls { ok: 300, error: (i % 3) as u64, timeout: 0 },
                    exceptions: BTreeMap::new(),
                    points_read: 3_000,
                    points_changed: 140 + i as u64,
                    rt_p50_us: Some(900),
                    rt_p95_us: Some(2_400),
                    digest: Hash::sha256(format!("stream {i}").as_bytes()),
                }],
                totals: Totals {
                    journaled: 3_000,
                    acked: 3_000,
                    backlog: 0,
                    dropped: 0,
                    refused: 0,
                },
            }));
        }
    }

    /// A signed checkpoint over everything so far.
    pub fn checkpoint(&mut self) {
        let note = self.chain.checkpoint().sign(&self.key).to_text();
        self.lines.push(checkpoint_line(&note).into_bytes());
        self.latest_checkpoint = Some(note);
    }

    /// The witness cosigns the latest checkpoint `delay_s` after the last record; the gateway
    /// logs an anchor record for it.
    pub fn witness(&mut self, w: &FakeWitness, delay_s: u64) {
        let note = self.latest_checkpoint.clone().expect("a checkpoint first");
        let text = note.split("\n\n").next().expect("note text").to_string() + "\n";
        let time = self.wall_ms / 1000 + delay_s;
        let sig = cosign(&text, &w.name, &w.key, time);
        let cosigned = format!("{text}\n{}\n", sig.line());
        self.lines.push(cosignature_line(&cosigned).into_bytes());
        let cp = edgeproof::evidence::Checkpoint::parse_body(&text).expect("body");
        self.append(Body::Anchor(Anchor {
            witness: w.name.clone(),
            key_id: hex(&w.key.public().key_id(&w.name, SIG_TYPE_COSIGNATURE)),
            size: cp.size,
            root: cp.root,
            time,
            cosignature: Hash::sha256(sig.line().as_bytes()),
        }));
    }

    /// The RFC 6962 leaf hashes of every record so far, in seq order (to build proofs).
    pub fn leaves(&self) -> &[Hash] {
        &self.leaves
    }

    /// Adds a checkpoint note carrying a cosignature obtained elsewhere (e.g. from a real
    /// witness) to the bundle.
    pub fn add_cosigned(&mut self, note: &str) {
        self.lines.push(cosignature_line(note).into_bytes());
    }

    /// Clean stop.
    pub fn shutdown(&mut self) {
        self.append(Body::Shutdown(Shutdown {
            reason: "SIGTERM".into(),
            totals: Totals { journaled: 9_000, acked: 9_000, backlog: 0, dropped: 0, refused: 0 },
        }));
    }

    /// The agent starts again: after an OS reboot (new kernel boot id, monotonic clock from
    /// zero) or only an agent restart (same kernel boot). `off_ms` passes in between.
    pub fn restart(&mut self, os_reboot: bool, off_ms: u64) {
        let previous =
            if self.last_typ == "shutdown" { PreviousRun::Clean } else { PreviousRun::Unclean };
        self.n += 1;
        self.wall_ms += off_ms;
        if os_reboot {
            self.boot_id = format!("{}-kernel-boot-{}", self.gw, self.n);
            self.mono_ms = 9_000;
        } else {
            self.mono_ms += off_ms;
        }
        self.chain.start_run(self.boot_id.clone(), self.n);
        self.boot_record(previous);
        self.checkpoint();
    }

    /// The bundle as `edgeproof export` writes it.
    pub fn bundle(&self) -> Vec<u8> {
        let h = Header {
            bundle: BUNDLE_VERSION,
            origin: self.origin(),
            public_key: self.key.public().to_base64(),
        };
        let mut out = header_line(&h).into_bytes();
        for l in &self.lines {
            out.extend_from_slice(l);
        }
        out
    }
}

/// The standard scenario: three runs (enrol; clean stop and OS reboot; crash and agent
/// restart), 40-odd records, checkpoints at every start and stop, two cosignatures.
pub fn standard(gw: &str, seed: u8, witness: &FakeWitness) -> FakeGateway {
    let mut g = FakeGateway::new(gw, seed);
    g.enroll();
    g.checkpoint();
    g.usage(12);
    g.checkpoint();
    g.witness(witness, 30);
    g.usage(6);
    g.shutdown();
    g.checkpoint();
    g.restart(true, 3_600_000);
    g.usage(10);
    g.checkpoint();
    g.witness(witness, 45);
    g.usage(4);
    // Killed here: no shutdown record.
    g.restart(false, 60_000);
    g.usage(5);
    g.checkpoint();
    g
}

/// Writes the gateway's public key and a witness vkey into `dir`; returns their paths.
pub fn key_files(dir: &Path, g: &FakeGateway, w: &FakeWitness) -> (PathBuf, PathBuf) {
    let public = dir.join(format!("{}.pub", g.gw));
    std::fs::write(&public, g.key.public().to_spki_pem()).expect("write public key");
    let witness = dir.join(format!("{}.vkey", w.name.replace('/', "_")));
    std::fs::write(&witness, format!("{}\n", w.trusted().vkey())).expect("write witness key");
    (public, witness)
}
