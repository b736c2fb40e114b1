//! Phase two and three of loading: check every field of a [`FileConfig`] and compile it into
//! a [`Config`]. All problems are collected, each with the path of the field it concerns
//! (`devices[1].points[4].order`), so that an integrator fixes a file in one pass.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::error::FieldError;
use super::schema::{DeviceSection, FileConfig, MqttSection};
use super::settings::*;
use super::uscc;

/// Collects errors while compiling.
#[derive(Default)]
pub(super) struct Errors(Vec<FieldError>);

impl Errors {
    /// How many problems so far (to tell whether a section added any).
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError { path: path.into(), message: message.into() });
    }
}

/// Checks and compiles a parsed file. Returns every problem found.
pub fn compile(file: &FileConfig) -> Result<Config, Vec<FieldError>> {
    let mut errs = Errors::default();
    let g = &file.gateway;
    check_name(&mut errs, "gateway.id", &g.id);
    if let Err(e) = uscc::validate(&g.enterprise) {
        errs.push("gateway.enterprise", e);
    }
    if g.project.trim().is_empty() {
        errs.push("gateway.project", "must not be empty");
    }
    let gateway = Gateway {
        id: g.id.clone(),
        enterprise: g.enterprise.clone(),
        project: g.project.clone(),
        data_dir: PathBuf::from(g.data_dir.as_deref().unwrap_or("/var/lib/edgeproof")),
        production_devices: super::evidence::compile_production_devices(
            &mut errs,
            g.production_devices,
        ),
    };
    let evidence =
        super::evidence::compile_evidence(&mut errs, file.evidence.as_ref(), &gateway.data_dir);
    let inventory = super::evidence::compile_inventory(&mut errs, file);

    let mqtt = file.mqtt.as_ref().and_then(|m| compile_mqtt(&mut errs, m, &g.id));
    let journal = JournalConfig {
        flush_interval: duration(
            &mut errs,
            "journal.flush_interval",
            file.journal.flush_interval.as_deref(),
            Duration::from_millis(200),
        ),
        max_bytes: size(&mut errs, "journal.max_bytes", file.journal.max_bytes.as_deref(), 1 << 30),
    };
    let listen = file.metrics.listen.as_deref().and_then(|l| match l.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            errs.push(
                "metrics.listen",
                format!("{l:?} is not host:port (e.g. \"127.0.0.1:9898\")"),
            );
            None
        }
    });

    let mut devices = Vec::with_capacity(file.devices.len());
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, d) in file.devices.iter().enumerate() {
        let path = format!("devices[{i}]");
        check_name(&mut errs, &format!("{path}.name"), &d.name);
        if let Some(first) = names.insert(d.name.as_str(), i) {
            errs.push(
                format!("{path}.name"),
                format!("{:?} is already used by devices[{first}]", d.name),
            );
        }
        if let Some(dev) = compile_device(&mut errs, &path, d, &gateway.data_dir) {
            devices.push(dev);
        }
    }
    super::modbus_rtu::check_buses(&mut errs, &file.devices, &devices);

    if errs.0.is_empty() {
        Ok(Config {
            gateway,
            mqtt,
            journal,
            metrics: MetricsConfig { listen },
            devices,
            evidence,
            inventory,
        })
    } else {
        Err(errs.0)
    }
}

/// Names end up in MQTT topics and metric labels: keep them to a safe alphabet.
pub(super) fn check_name(errs: &mut Errors, path: &str, name: &str) {
    if name.is_empty() {
        errs.push(path, "must not be empty");
    } else if let Some(c) =
        name.chars().find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        errs.push(path, format!("{name:?} contains {c:?}; use letters, digits, '-', '_' and '.'"));
    }
}

pub(super) fn duration(
    errs: &mut Errors,
    path: &str,
    text: Option<&str>,
    default: Duration,
) -> Duration {
    match text {
        None => default,
        Some(t) => match humantime::parse_duration(t) {
            Ok(d) if d.is_zero() => {
                errs.push(path, format!("{t:?} is zero; give a positive duration"));
                default
            }
            Ok(d) => d,
            Err(e) => {
                errs.push(
                    path,
                    format!("{t:?} is not a duration ({e}); write e.g. \"500ms\", \"5s\", \"1m\""),
                );
                default
            }
        },
    }
}

pub(super) fn size(errs: &mut Errors, path: &str, text: Option<&str>, default: u64) -> u64 {
    match text {
        None => default,
        Some(t) => match t.parse::<bytesize::ByteSize>() {
            Ok(b) if b.as_u64() > 0 => b.as_u64(),
            _ => {
                errs.push(path, format!("{t:?} is not a size; write e.g. \"512MiB\", \"1GiB\""));
                default
            }
        },
    }
}

pub(super) fn int_in(
    errs: &mut Errors,
    path: &str,
    v: Option<i64>,
    default: i64,
    lo: i64,
    hi: i64,
) -> i64 {
    match v {
        None => default,
        Some(x) if (lo..=hi).contains(&x) => x,
        Some(x) => {
            errs.push(path, format!("{x} is out of range {lo}..={hi}"));
            default
        }
    }
}

fn compile_mqtt(errs: &mut Errors, m: &MqttSection, gw: &str) -> Option<MqttConfig> {
    let (tls, rest) = if let Some(r) = m.url.strip_prefix("mqtts://") {
        (true, r)
    } else if let Some(r) = m.url.strip_prefix("mqtt://") {
        (false, r)
    } else {
        errs.push("mqtt.url", format!("{:?} must start with mqtt:// or mqtts://", m.url));
        return None;
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('@') {
        // The url is quoted in errors and logs; credentials in it would be too. Not echoed.
        errs.push(
            "mqtt.url",
            "must not hold user:password@ (it would show in logs); use mqtt.username and \
             mqtt.password_file or EDGEPROOF__MQTT__PASSWORD",
        );
        return None;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(p) => (h.trim_matches(|c| c == '[' || c == ']').to_string(), p),
            Err(_) => {
                errs.push("mqtt.url", format!("{:?} has a bad port {p:?}", m.url));
                return None;
            }
        },
        None => (rest.to_string(), if tls { 8883 } else { 1883 }),
    };
    if host.is_empty() {
        errs.push("mqtt.url", format!("{:?} has no host", m.url));
    }
    let protocol = match m.protocol.as_deref() {
        None | Some("v311") => MqttProtocol::V311,
        Some("v5") => MqttProtocol::V5,
        Some(p) => {
            errs.push("mqtt.protocol", format!("{p:?} is not one of v311, v5"));
            MqttProtocol::V311
        }
    };
    if m.cert_file.is_some() != m.key_file.is_some() {
        errs.push("mqtt.cert_file", "cert_file and key_file go together (mutual TLS needs both)");
    }
    if !tls && (m.ca_file.is_some() || m.cert_file.is_some()) {
        errs.push(
            "mqtt.url",
            "ca_file/cert_file are set but the url is mqtt://; use mqtts:// for TLS",
        );
    }
    let max_inflight = int_in(errs, "mqtt.max_inflight", m.max_inflight, 100, 1, 65535) as u16;
    let topic_prefix = m
        .topic_prefix
        .clone()
        .unwrap_or_else(|| format!("edgeproof/{gw}"))
        .trim_end_matches('/')
        .to_string();
    if topic_prefix.is_empty() || topic_prefix.contains(['+', '#']) {
        errs.push(
            "mqtt.topic_prefix",
            format!("{topic_prefix:?} must be non-empty and free of '+' and '#'"),
        );
    }
    Some(MqttConfig {
        host,
        port,
        tls,
        client_id: m.client_id.clone().unwrap_or_else(|| gw.to_string()),
        username: m.username.clone(),
        password: m.password.clone(),
        password_file: m.password_file.as_ref().map(PathBuf::from),
        ca_file: m.ca_file.as_ref().map(PathBuf::from),
        cert_file: m.cert_file.as_ref().map(PathBuf::from),
        key_file: m.key_file.as_ref().map(PathBuf::from),
        protocol,
        topic_prefix,
        keep_alive: duration(
            errs,
            "mqtt.keep_alive",
            m.keep_alive.as_deref(),
            Duration::from_secs(30),
        ),
        max_inflight,
    })
}

/// Compiles one `[[devices]]` entry: dispatches on `protocol` to the protocol's own file.
fn compile_device(
    errs: &mut Errors,
    path: &str,
    d: &DeviceSection,
    data_dir: &std::path::Path,
) -> Option<Device> {
    if d.protocol.starts_with("modbus") {
        super::foreign_keys::reject_opcua_keys(errs, path, d);
    }
    if !d.protocol.starts_with("modbus-rtu") {
        super::modbus_rtu::reject_rtu_keys(errs, path, d);
    }
    match d.protocol.as_str() {
        #[cfg(feature = "opcua")]
        "opcua" => super::opcua::compile_device(errs, path, d, data_dir),
        #[cfg(not(feature = "opcua"))]
        "opcua" => {
            let _ = data_dir;
            errs.push(
                format!("{path}.protocol"),
                "\"opcua\": this edgeproof was built without OPC UA (a Modbus-only build); \
                 use a build with the default `opcua` feature",
            );
            None
        }
        "modbus-tcp" => super::modbus::compile_tcp_device(errs, path, d),
        "modbus-rtu" => super::modbus_rtu::compile_rtu_device(errs, path, d),
        "modbus-rtu-over-tcp" => super::modbus_rtu::compile_rtu_over_tcp_device(errs, path, d),
        other => {
            errs.push(
                format!("{path}.protocol"),
                format!("unknown protocol {other:?}; supported: {PROTOCOLS}"),
            );
            None
        }
    }
}

/// The protocols a device may name, for error messages.
const PROTOCOLS: &str = "modbus-tcp, modbus-rtu, modbus-rtu-over-tcp, opcua";

/// A point's name: printable text, unique within its device (`seen` remembers the names of
/// the device's earlier points). Every protocol's points are named the same way.
pub(super) fn check_point_name<'a>(
    errs: &mut Errors,
    device_path: &str,
    j: usize,
    name: &'a str,
    seen: &mut HashMap<&'a str, usize>,
) {
    let path = format!("{device_path}.points[{j}].name");
    if name.is_empty() || name.chars().any(|c| c.is_control()) {
        errs.push(path.clone(), format!("{name:?} must be non-empty printable text"));
    }
    if let Some(first) = seen.insert(name, j) {
        errs.push(path, format!("{name:?} is already used by {device_path}.points[{first}]"));
    }
}
