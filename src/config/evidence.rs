//! `[evidence]`, `[[inventory]]`, `[gateway] production_devices` and the per-device
//! inventory keys (`scene`, `vendor`, `model`): checks and compilation into
//! [`EvidenceConfig`] and the declared inventory the `enroll` record lists.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::schema::{DeviceSection, EvidenceSection, FileConfig, InventorySection};
use super::settings::*;
use super::validate::{check_name, duration, int_in, Errors};

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
    EvidenceConfig { mode, key_file, interval, checkpoint_interval }
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
            ("unknown key", "[evidence]\nkey = \"x\"\n", "unknown field"),
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
