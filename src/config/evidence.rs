//! `[evidence]`, `[[inventory]]`, `[gateway] production_devices` and the per-device
//! inventory keys (`scene`, `vendor`, `model`): checks and compilation into
//! [`EvidenceConfig`] and the declared inventory the `enroll` record lists.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::schema::{DeviceSection, EvidenceSection, FileConfig, InventorySection, WitnessSection};
use super::settings::*;
use super::validate::{check_name, duration, int_in, Errors};
use crate::evidence::cosignature::WitnessKey;
use crate::evidence::recorder::witness::WitnessUrl;

/// Default `[evidence] interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Default `[evidence] checkpoint_interval`.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(3600);
/// The shortest usage interval accepted: records cost a signature and an fsync each.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest inventory text (vendor, model, scene, endpoint), in characters.
const MAX_TEXT: usize = 128;

/// The signing key's default place inside the data directory.
pub fn default_key_file(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("keys").join("evidence.key")
}

/// Compiles `[evidence]`.
pub(super) fn compile_evidence(
    errs: &mut Errors,
    section: Option<&EvidenceSection>,
    data_dir: &Path,
) -> EvidenceConfig {
    let default = EvidenceSection::default();
    let s = section.unwrap_or(&default);
    let mode = match (section.is_some(), s.enabled) {
        (false, _) => EvidenceMode::Auto,
        (true, Some(false)) => EvidenceMode::Off,
        (true, _) => EvidenceMode::On,
    };
    let key_file = match s.key_file.as_deref() {
        Some("") => {
            errs.push("evidence.key_file", "must not be empty");
            default_key_file(data_dir)
        }
        Some(k) => k.into(),
        None => default_key_file(data_dir),
    };
    let interval = duration(errs, "evidence.interval", s.interval.as_deref(), DEFAULT_INTERVAL);
    if interval < MIN_INTERVAL {
        errs.push("evidence.interval", format!("{interval:?} is shorter than 1s"));
    }
    let checkpoint_interval = duration(
        errs,
        "evidence.checkpoint_interval",
        s.checkpoint_interval.as_deref(),
        DEFAULT_CHECKPOINT_INTERVAL,
    );
    if checkpoint_interval < MIN_INTERVAL {
        errs.push(
            "evidence.checkpoint_interval",
            format!("{checkpoint_interval:?} is shorter than 1s"),
        );
    }
    let witnesses = compile_witnesses(errs, &s.witnesses);
    EvidenceConfig { mode, key_file, interval, checkpoint_interval, witnesses }
}

/// `[evidence] witnesses`: each URL and key checked, key names unique (anchors and
/// cosignatures are told apart by the witness's key name).
fn compile_witnesses(errs: &mut Errors, list: &[WitnessSection]) -> Vec<WitnessConfig> {
    let mut out = Vec::with_capacity(list.len());
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, w) in list.iter().enumerate() {
        let path = format!("evidence.witnesses[{i}]");
        let url = WitnessUrl::parse(&w.url).map_err(|e| errs.push(format!("{path}.url"), e)).ok();
        let what = format!("{path}.public_key");
        let key = match WitnessKey::parse(&w.public_key, &what) {
            Ok(k) => Some(k),
            Err(crate::evidence::keys::KeyError::Format { why, .. }) => {
                errs.push(what.clone(), why);
                None
            }
            Err(e) => {
                errs.push(what.clone(), e.to_string());
                None
            }
        };
        if let Some(k) = &key {
            if let Some(first) = names.insert(k.name.clone(), i) {
                errs.push(
                    what,
                    format!(
                        "witness key name {:?} is already used by evidence.witnesses[{first}]",
                        k.name
                    ),
                );
            }
        }
        let ca_file = match w.ca_file.as_deref() {
            Some("") => {
                errs.push(format!("{path}.ca_file"), "must not be empty");
                None
            }
            Some(f) => Some(PathBuf::from(f)),
            None => None,
        };
        if ca_file.is_some() && url.as_ref().is_some_and(|u| !u.tls) {
            errs.push(format!("{path}.ca_file"), "is set but the url is http://; use https://");
        }
        if let (Some(url), Some(key)) = (url, key) {
            out.push(WitnessConfig { url, key, ca_file });
        }
    }
    out
}

/// `[gateway] production_devices`: at least 1 when given.
pub(super) fn compile_production_devices(errs: &mut Errors, v: Option<i64>) -> Option<u32> {
    v.map(|n| int_in(errs, "gateway.production_devices", Some(n), 1, 1, 1_000_000) as u32)
}

/// The declared inventory: `[[devices]]` in file order, then `[[inventory]]`. Names are
/// unique across both lists (device names themselves are checked by the device compiler).
pub(super) fn compile_inventory(errs: &mut Errors, file: &FileConfig) -> Vec<DeclaredDevice> {
    let mut out = Vec::with_capacity(file.devices.len() + file.inventory.len());
    let mut names: HashMap<&str, String> = HashMap::new();
    for (i, d) in file.devices.iter().enumerate() {
        let path = format!("devices[{i}]");
        names.entry(d.name.as_str()).or_insert_with(|| path.clone());
        out.push(polled(errs, &path, d));
    }
    for (i, item) in file.inventory.iter().enumerate() {
        let path = format!("inventory[{i}]");
        check_name(errs, &format!("{path}.name"), &item.name);
        if let Some(first) = names.get(item.name.as_str()) {
            errs.push(
                format!("{path}.name"),
                format!("{:?} is already used by {first}", item.name),
            );
        } else {
            names.insert(item.name.as_str(), path.clone());
        }
        out.push(declared(errs, &path, item));
    }
    out
}

fn polled(errs: &mut Errors, path: &str, d: &DeviceSection) -> DeclaredDevice {
    DeclaredDevice {
        name: d.name.clone(),
        protocol: d.protocol.clone(),
        endpoint: endpoint_of(d),
        vendor: text(errs, &format!("{path}.vendor"), d.vendor.as_deref()),
        model: text(errs, &format!("{path}.model"), d.model.as_deref()),
        scene: text(errs, &format!("{path}.scene"), d.scene.as_deref()),
        polled: true,
    }
}

/// Where a polled device is, as the evidence log names it: `host:port` (Modbus TCP), the
/// OPC UA endpoint URL, or the serial port / converter address and the unit
/// (`/dev/ttyS1@3`, `10.0.0.9:4001@3`) for Modbus RTU, whose units share a bus.
fn endpoint_of(d: &DeviceSection) -> String {
    let unit = d.unit.unwrap_or(1);
    match (d.protocol.as_str(), &d.port, &d.endpoint, &d.address) {
        (_, Some(port), _, _) => format!("{port}@{unit}"),
        ("modbus-rtu-over-tcp", _, _, Some(addr)) => format!("{addr}@{unit}"),
        (_, None, Some(url), _) => url.clone(),
        (_, None, None, Some(addr)) => addr.clone(),
        (_, None, None, None) => String::new(),
    }
}

fn declared(errs: &mut Errors, path: &str, d: &InventorySection) -> DeclaredDevice {
    let protocol = text(errs, &format!("{path}.protocol"), d.protocol.as_deref())
        .unwrap_or_else(|| "none".to_string());
    DeclaredDevice {
        name: d.name.clone(),
        protocol,
        endpoint: text(errs, &format!("{path}.endpoint"), d.endpoint.as_deref())
            .unwrap_or_default(),
        vendor: text(errs, &format!("{path}.vendor"), d.vendor.as_deref()),
        model: text(errs, &format!("{path}.model"), d.model.as_deref()),
        scene: text(errs, &format!("{path}.scene"), d.scene.as_deref()),
        polled: false,
    }
}

/// Free inventory text: printable, non-empty, at most [`MAX_TEXT`] characters.
fn text(errs: &mut Errors, path: &str, v: Option<&str>) -> Option<String> {
    let v = v?;
    if v.trim().is_empty() || v.chars().any(char::is_control) {
        errs.push(path, format!("{v:?} must be non-empty printable text"));
        return None;
    }
    if v.chars().count() > MAX_TEXT {
        errs.push(path, format!("is {} characters long; at most {MAX_TEXT}", v.chars().count()));
        return None;
    }
    Some(v.to_string())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{load_str, ConfigError};

    const HEAD: &str = r#"
[gateway]
id = "gw-1"
enterprise = "91440300MA5DEM0A0G"
project = "P-1"
data_dir = "/data"
"#;

    const DEVICE: &str = r#"
[[devices]]
name = "press-01"
protocol = "modbus-tcp"
address = "10.0.0.1:502"
scene = "生产管控"
vendor = "Acme"
model = "PX-1"
"#;

    fn load(text: &str) -> Result<Config, ConfigError> {
        load_str(Path::new("test.toml"), text, false)
    }

    fn errors(text: &str) -> Vec<String> {
        match load(text) {
            Err(ConfigError::Invalid { errors, .. }) => {
                errors.iter().map(|e| e.to_string()).collect()
            }
            Err(e) => vec![e.to_string()],
            Ok(_) => vec![],
        }
    }

    #[test]
    fn evidence_mode_and_defaults_follow_the_section() {
        let cases = [
            ("no section: on when the key exists", "", EvidenceMode::Auto),
            ("empty section: on", "[evidence]\n", EvidenceMode::On),
            ("explicitly on", "[evidence]\nenabled = true\n", EvidenceMode::On),
            ("explicitly off", "[evidence]\nenabled = false\n", EvidenceMode::Off),
        ];
        for (case, section, mode) in cases {
            let cfg = load(&format!("{HEAD}{section}")).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(cfg.evidence.mode, mode, "{case}");
            assert_eq!(cfg.evidence.key_file, Path::new("/data/keys/evidence.key"), "{case}");
            assert_eq!(cfg.evidence.interval, DEFAULT_INTERVAL, "{case}");
            assert_eq!(cfg.evidence.checkpoint_interval, DEFAULT_CHECKPOINT_INTERVAL, "{case}");
        }
        let cfg = load(&format!(
            "{HEAD}[evidence]\nkey_file = \"/k\"\ninterval = \"2s\"\ncheckpoint_interval = \"10s\"\n"
        ))
        .unwrap();
        assert_eq!(cfg.evidence.key_file, Path::new("/k"));
        assert_eq!(cfg.evidence.interval, Duration::from_secs(2));
        assert_eq!(cfg.evidence.checkpoint_interval, Duration::from_secs(10));
    }

    #[test]
    fn witnesses_compile_with_their_urls_and_keys() {
        let wk = crate::evidence::GatewayKey::from_seed([4; 32]).public();
        let vkey = |name: &str| wk.vkey(name, crate::evidence::keys::SIG_TYPE_COSIGNATURE);
        let cfg = load(&format!(
            "{HEAD}[evidence]\nwitnesses = [\n  {{ url = \"https://w1.example/w\", public_key = \"{}\", ca_file = \"/ca.pem\" }},\n  {{ url = \"http://127.0.0.1:7380\", public_key = \"{}\" }},\n]\n",
            vkey("w1.example/w"),
            vkey("w2.example")
        ))
        .unwrap();
        let w = &cfg.evidence.witnesses;
        assert_eq!(w.len(), 2);
        assert_eq!(
            (w[0].url.host.as_str(), w[0].url.tls, w[0].key.name.as_str()),
            ("w1.example", true, "w1.example/w")
        );
        assert_eq!(w[0].ca_file.as_deref(), Some(Path::new("/ca.pem")));
        assert_eq!((w[1].url.port, w[1].key.key, w[1].ca_file.clone()), (7380, wk, None));
        assert!(load(&format!("{HEAD}[evidence]\n")).unwrap().evidence.witnesses.is_empty());
        let tables = load(&format!(
            "{HEAD}[evidence]\ninterval = \"5m\"\n[[evidence.witnesses]]\nurl = \"https://w\"\n\
             public_key = \"{}\"\nca_file = \"/ca.pem\"\n",
            vkey("w")
        ))
        .unwrap();
        assert_eq!(tables.evidence.witnesses.len(), 1, "one table per witness works too");
    }

    #[test]
    fn witness_mistakes_name_the_entry_and_field() {
        let wk = crate::evidence::GatewayKey::from_seed([4; 32]).public();
        let good = wk.vkey("w.example", crate::evidence::keys::SIG_TYPE_COSIGNATURE);
        let gateway_type = wk.vkey("w.example", 0x01);
        let entry = |url: &str, key: &str, extra: &str| {
            format!("{{ url = \"{url}\", public_key = \"{key}\"{extra} }}")
        };
        let ok = entry("https://w", &good, "");
        let cases = [
            ("bad scheme", entry("ftp://w", &good, ""), "evidence.witnesses[1].url: \"ftp://w\" must start with"),
            ("not a vkey", entry("https://w2", "abc", ""), "evidence.witnesses[1].public_key: a verifier key reads"),
            ("a gateway key", entry("https://w2", &gateway_type, ""), "evidence.witnesses[1].public_key: signature type 0x01"),
            ("same key name twice", entry("https://w2", &good, ""), "evidence.witnesses[1].public_key: witness key name \"w.example\" is already used by evidence.witnesses[0]"),
            ("ca_file on http", entry("http://w2", &good, ", ca_file = \"/ca\""), "evidence.witnesses[1].ca_file: is set but the url is http://"),
            ("unknown key", entry("https://w2", &good, ", key = 1"), "evidence.witnesses[1].key: unknown key"),
        ];
        for (case, second, want) in cases {
            let errs = errors(&format!("{HEAD}[evidence]\nwitnesses = [{ok}, {second}]\n"));
            assert!(errs.iter().any(|e| e.contains(want)), "{case}: {errs:?}");
        }
    }

    #[test]
    fn declared_inventory_lists_devices_then_inventory() {
        let text = format!(
            "{HEAD}production_devices = 12\n{DEVICE}\n[[inventory]]\nname = \"lathe-07\"\n\
             vendor = \"沈阳机床\"\nmodel = \"CAK6150\"\nscene = \"设备管理\"\n"
        );
        let cfg = load(&text).unwrap();
        assert_eq!(cfg.gateway.production_devices, Some(12));
        let names: Vec<(&str, bool)> =
            cfg.inventory.iter().map(|d| (d.name.as_str(), d.polled)).collect();
        assert_eq!(names, vec![("press-01", true), ("lathe-07", false)]);
        let press = &cfg.inventory[0];
        assert_eq!(
            (press.protocol.as_str(), press.endpoint.as_str(), press.scene.as_deref()),
            ("modbus-tcp", "10.0.0.1:502", Some("生产管控"))
        );
        let rtu = load(&format!(
            "{HEAD}[[devices]]\nname = \"m\"\nprotocol = \"modbus-rtu\"\nport = \"/dev/ttyS1\"\nunit = 3\n\
             [[devices]]\nname = \"o\"\nprotocol = \"opcua\"\nendpoint = \"opc.tcp://plc:4840\"\n"
        ))
        .unwrap();
        let endpoints: Vec<&str> = rtu.inventory.iter().map(|d| d.endpoint.as_str()).collect();
        assert_eq!(endpoints, vec!["/dev/ttyS1@3", "opc.tcp://plc:4840"]);
        let lathe = &cfg.inventory[1];
        assert_eq!((lathe.protocol.as_str(), lathe.endpoint.as_str()), ("none", ""));
        assert_eq!(lathe.model.as_deref(), Some("CAK6150"));
    }

    #[test]
    fn mistakes_are_reported_with_their_paths() {
        let cases = [
            ("interval not a duration", "[evidence]\ninterval = \"often\"\n", "evidence.interval"),
            ("interval too short", "[evidence]\ninterval = \"500ms\"\n", "shorter than 1s"),
            (
                "checkpoint interval zero",
                "[evidence]\ncheckpoint_interval = \"0s\"\n",
                "evidence.checkpoint_interval",
            ),
            ("empty key file", "[evidence]\nkey_file = \"\"\n", "evidence.key_file"),
            ("unknown key", "[evidence]\nkey = \"x\"\n", "evidence.key: unknown key"),
            (
                "inventory name taken by a device",
                "[[inventory]]\nname = \"press-01\"\n",
                "inventory[0].name: \"press-01\" is already used by devices[0]",
            ),
            ("inventory name with a slash", "[[inventory]]\nname = \"a/b\"\n", "inventory[0].name"),
            ("empty scene", "[[inventory]]\nname = \"x\"\nscene = \" \"\n", "inventory[0].scene"),
        ];
        for (case, extra, want) in cases {
            let errs = errors(&format!("{HEAD}{DEVICE}{extra}"));
            assert!(errs.iter().any(|e| e.contains(want)), "{case}: {errs:?}");
        }
        let errs = errors(&format!("{HEAD}production_devices = 0\n{DEVICE}"));
        assert!(errs.iter().any(|e| e.contains("gateway.production_devices")), "{errs:?}");
    }
}
