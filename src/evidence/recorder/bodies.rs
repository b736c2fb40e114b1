//! The record bodies the recorder writes about the configuration and the agent itself:
//! `enroll`, `boot`, `config`, and the config hash they share. Pure functions of the config
//! and the replayed log, so they are tested without a journal.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::super::canonical;
use super::super::keys::PublicKey;
use super::super::merkle::Hash;
use super::super::record::{
    Boot, ConfigChange, Enroll, InventoryDevice, KeyAssurance, PreviousRun, RecordType,
};
use super::replay::{LastRecord, LogState};
use crate::config::Config;

/// The agent version every `enroll` and `boot` carries.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// SHA-256 over the JCS form of what the device map means: the gateway's identity, the
/// declared inventory and the factory's device total, and per polled device a hash of its
/// compiled settings (protocol, address, points with their types, addresses, scaling). Edits
/// that change nothing compiled (comments, key order, defaults written out) keep the hash;
/// MQTT and journal settings are not part of it.
pub fn config_hash(cfg: &Config) -> Hash {
    let inventory: Vec<Value> = cfg
        .inventory
        .iter()
        .map(|d| {
            json!({
                "id": d.name, "protocol": d.protocol, "endpoint": d.endpoint,
                "vendor": d.vendor, "model": d.model, "scene": d.scene, "polled": d.polled,
            })
        })
        .collect();
    let devices: Map<String, Value> = cfg
        .devices
        .iter()
        .map(|d| {
            // Debug of the compiled settings: deterministic for one build; an upgrade that
            // changes its spelling shows up as a `config` record with no device added or
            // removed, which is what it is.
            let settings = Hash::sha256(format!("{:?}", d.protocol).as_bytes());
            (d.name.to_string(), Value::String(settings.to_hex()))
        })
        .collect();
    let doc = json!({
        "gateway": { "id": cfg.gateway.id, "uscc": cfg.gateway.enterprise, "project": cfg.gateway.project },
        "production_devices": cfg.gateway.production_devices,
        "inventory": inventory,
        "devices": devices,
    });
    // Strings, booleans, small integers and nulls only: always in the canonical domain.
    Hash::sha256(&canonical::encode(&doc).unwrap_or_default())
}

/// The declared device ids (polled and inventory).
pub fn declared_ids(cfg: &Config) -> BTreeSet<String> {
    cfg.inventory.iter().map(|d| d.name.clone()).collect()
}

/// The `enroll` body for this config and key. `build` identifies the running binary.
pub fn enroll(cfg: &Config, key: &PublicKey, build: &str) -> Enroll {
    let inventory: Vec<InventoryDevice> = cfg
        .inventory
        .iter()
        .map(|d| InventoryDevice {
            id: d.name.clone(),
            protocol: d.protocol.clone(),
            endpoint: d.endpoint.clone(),
            vendor: d.vendor.clone().unwrap_or_default(),
            model: d.model.clone().unwrap_or_default(),
            scene: d.scene.clone().unwrap_or_default(),
        })
        .collect();
    let production_devices =
        cfg.gateway.production_devices.map_or(inventory.len() as u64, u64::from);
    Enroll {
        uscc: cfg.gateway.enterprise.clone(),
        project: cfg.gateway.project.clone(),
        // The config has one "project / contract id"; it fills both.
        contract: cfg.gateway.project.clone(),
        key: key.to_base64(),
        key_assurance: KeyAssurance::Software,
        agent_version: AGENT_VERSION.to_string(),
        build: build.to_string(),
        inventory,
        production_devices,
    }
}

/// The `boot` body: how the previous run ended, read from the record before it (`enroll`:
/// there was none; `shutdown`: clean; anything else: the run was cut off).
pub fn boot(last: Option<LastRecord>, config_hash: Hash) -> Boot {
    let previous = match last.map(|l| l.typ) {
        None | Some(RecordType::Enroll) => PreviousRun::None,
        Some(RecordType::Shutdown) => PreviousRun::Clean,
        Some(_) => PreviousRun::Unclean,
    };
    Boot {
        previous,
        last_seq: last.map_or(0, |l| l.seq),
        last_wall_ms: last.map_or(0, |l| l.wall_ms),
        agent_version: AGENT_VERSION.to_string(),
        config_hash,
    }
}

/// The `config` body when the config hash differs from the one last recorded; `None` on a
/// first start or when nothing changed.
pub fn config_change(state: &LogState, cfg: &Config, hash: Hash) -> Option<ConfigChange> {
    let last = state.config_hash?;
    if last == hash {
        return None;
    }
    let now = declared_ids(cfg);
    Some(ConfigChange {
        hash,
        added: now.difference(&state.devices).cloned().collect(),
        removed: state.devices.difference(&now).cloned().collect(),
    })
}

/// What identifies the running binary: `EDGEPROOF_BUILD` when the build set it (e.g. a git
/// commit), else `sha256:` and the hash of the executable file. Blocking (reads the file).
pub fn build_id() -> String {
    if let Some(b) = option_env!("EDGEPROOF_BUILD") {
        return b.to_string();
    }
    match std::env::current_exe().and_then(|exe| sha256_file(&exe)) {
        Ok(hash) => format!("sha256:{}", hash.to_hex()),
        Err(_) => "unknown".to_string(),
    }
}

/// SHA-256 of a file, read in 64 KiB pieces: an unstripped executable is well over 100 MiB,
/// and reading it whole made the first start's memory peak that large.
fn sha256_file(path: &std::path::Path) -> std::io::Result<Hash> {
    use sha2::{Digest as _, Sha256};
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Hash(hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn cfg(extra: &str) -> Config {
        let text = format!(
            r#"
[gateway]
id = "gw"
enterprise = "91440300MA5DEM0A0G"
project = "P"
production_devices = 9
[[devices]]
name = "press"
protocol = "modbus-tcp"
address = "10.0.0.1:502"
scene = "生产管控"
  [[devices.points]]
  name = "rpm"
  area = "holding"
  address = 0
  type = "u16"
{extra}"#
        );
        crate::config::load_str(Path::new("t.toml"), &text, false).unwrap()
    }

    #[test]
    fn config_hash_follows_the_device_map_only() {
        let base = config_hash(&cfg(""));
        assert_eq!(base, config_hash(&cfg("# a comment\n")), "comments do not count");
        assert_eq!(base, config_hash(&cfg("[journal]\nmax_bytes = \"2GiB\"\n")), "journal");
        let changed = [
            (
                "another point",
                "  [[devices.points]]\n  name = \"x\"\n  area = \"coil\"\n  address = 1\n",
            ),
            ("inventory entry", "[[inventory]]\nname = \"lathe\"\n"),
        ];
        for (case, extra) in changed {
            assert_ne!(base, config_hash(&cfg(extra)), "{case}");
        }
    }

    #[test]
    fn enroll_lists_declared_devices_and_the_factory_total() {
        let key = crate::evidence::GatewayKey::from_seed([3; 32]).public();
        let e = enroll(&cfg("[[inventory]]\nname = \"lathe\"\nvendor = \"沈阳机床\"\n"), &key, "b");
        let ids: Vec<(&str, &str, &str)> = e
            .inventory
            .iter()
            .map(|d| (d.id.as_str(), d.protocol.as_str(), d.scene.as_str()))
            .collect();
        assert_eq!(ids, vec![("press", "modbus-tcp", "生产管控"), ("lathe", "none", "")]);
        assert_eq!(e.inventory[1].vendor, "沈阳机床");
        assert_eq!((e.production_devices, e.key.clone()), (9, key.to_base64()));
        assert_eq!(e.key_assurance, KeyAssurance::Software);
    }

    #[test]
    fn boot_says_how_the_previous_run_ended() {
        let h = Hash::sha256(b"c");
        let with_last = |typ| Some(LastRecord { seq: 41, typ, wall_ms: 1_000 });
        let cases = [
            ("first start after enroll", with_last(RecordType::Enroll), PreviousRun::None),
            ("shutdown record last", with_last(RecordType::Shutdown), PreviousRun::Clean),
            ("usage record last: killed", with_last(RecordType::Usage), PreviousRun::Unclean),
            (
                "boot record last: killed at start",
                with_last(RecordType::Boot),
                PreviousRun::Unclean,
            ),
        ];
        for (case, last, want) in cases {
            let b = boot(last, h);
            assert_eq!(b.previous, want, "{case}");
            assert_eq!((b.last_seq, b.last_wall_ms, b.config_hash), (41, 1_000, h), "{case}");
        }
    }

    #[test]
    fn config_change_names_devices_added_and_removed() {
        let c = cfg("[[inventory]]\nname = \"lathe\"\n");
        let mut state = LogState::default();
        assert!(config_change(&state, &c, config_hash(&c)).is_none(), "first start");
        state.config_hash = Some(config_hash(&c));
        assert!(config_change(&state, &c, config_hash(&c)).is_none(), "unchanged");
        state.config_hash = Some(Hash::ZERO);
        state.devices = ["press".to_string(), "oven".to_string()].into();
        let change = config_change(&state, &c, config_hash(&c)).unwrap();
        assert_eq!((change.added, change.removed), (vec!["lathe".into()], vec!["oven".into()]));
    }

    #[test]
    fn the_file_hash_streams_and_matches_hashing_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        // Sizes around the 64 KiB read size, and an empty file.
        for len in [0usize, 1, 64 * 1024 - 1, 64 * 1024, 200_003] {
            let path = dir.path().join(format!("f{len}"));
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(sha256_file(&path).unwrap(), Hash::sha256(&bytes), "{len} bytes");
        }
        assert!(sha256_file(&dir.path().join("missing")).is_err());
    }
}
