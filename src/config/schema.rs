//! The config file as written: serde structs with `deny_unknown_fields`. Enum-like fields
//! (area, type, order) and humane values (durations, sizes) are kept as written here and
//! checked in [`super::validate`], so that one run can report every mistake with its path
//! instead of stopping at the first.
//!
//! The `///` docs on these fields are the reference an integrator reads in
//! `configs/example.toml`; keep the two in step.

use serde::Deserialize;

use super::secret::Secret;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Who this gateway is.
    pub gateway: GatewaySection,
    /// Where data is published. Without it the agent polls and journals only.
    #[serde(default)]
    pub mqtt: Option<MqttSection>,
    /// The local store-and-forward journal.
    #[serde(default)]
    pub journal: JournalSection,
    /// The /metrics and /healthz endpoint.
    #[serde(default)]
    pub metrics: MetricsSection,
    /// The device map.
    #[serde(default)]
    pub devices: Vec<DeviceSection>,
    /// Usage evidence. Without the section, evidence is on exactly when the key file exists at
    /// its default place; with it, a missing key stops `run`.
    #[serde(default)]
    pub evidence: Option<EvidenceSection>,
    /// Production devices the factory declares but edgeproof does not poll (they count in the
    /// declared inventory of the evidence log, not in the polled devices).
    #[serde(default)]
    pub inventory: Vec<InventorySection>,
}

/// `[gateway]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// Unique gateway id; part of every MQTT topic, so no `/`, `+`, `#` or spaces.
    pub id: String,
    /// The enterprise's 统一社会信用代码 (18 characters, check character validated).
    pub enterprise: String,
    /// Subsidy project / contract id.
    pub project: String,
    /// Where the journal and keys live. Default `/var/lib/edgeproof`.
    pub data_dir: Option<String>,
    /// How many production devices the factory has in total (networked or not): the
    /// denominator of 设备联网率 in the evidence report.
    pub production_devices: Option<i64>,
}

/// `[mqtt]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSection {
    /// `mqtt://host:port` or `mqtts://host:port` (TLS).
    pub url: String,
    /// Default: the gateway id.
    pub client_id: Option<String>,
    /// Broker user name.
    pub username: Option<String>,
    /// Broker password; prefer `password_file` or `EDGEPROOF__MQTT__PASSWORD`. Never logged.
    pub password: Option<Secret>,
    /// File holding the password (trailing newline ignored).
    pub password_file: Option<String>,
    /// PEM CA bundle for server verification; system roots when absent.
    pub ca_file: Option<String>,
    /// PEM client certificate for mutual TLS.
    pub cert_file: Option<String>,
    /// PEM private key for mutual TLS.
    pub key_file: Option<String>,
    /// `v311` (default) or `v5`.
    pub protocol: Option<String>,
    /// Default `edgeproof/<gateway id>`.
    pub topic_prefix: Option<String>,
    /// Default `30s`.
    pub keep_alive: Option<String>,
    /// Unacknowledged QoS 1 publishes at once. Default 100.
    pub max_inflight: Option<i64>,
}

/// `[journal]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSection {
    /// Group-commit interval. Default `200ms`.
    pub flush_interval: Option<String>,
    /// Size bound, e.g. `"1GiB"`. Oldest telemetry is dropped past it. Default `1GiB`.
    pub max_bytes: Option<String>,
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// `host:port` to serve /metrics and /healthz on; off when absent.
    pub listen: Option<String>,
}

/// One `[[devices]]` entry. Which keys apply depends on `protocol`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSection {
    /// Unique device name; part of the MQTT topic.
    pub name: String,
    /// `modbus-tcp` or `opcua`.
    pub protocol: String,
    /// `host:port` of the device.
    pub address: Option<String>,
    /// Modbus unit id (slave id), 0-255 over TCP. Default 1.
    pub unit: Option<i64>,
    /// Default poll interval for the device's points. Default `1s`.
    pub poll: Option<String>,
    /// Request timeout (also the connect timeout). Default `1s`.
    pub timeout: Option<String>,
    /// Unmapped registers a merged read may skip over. Default 8.
    pub max_gap: Option<i64>,
    /// Registers per read, 1-125. Default 125.
    pub max_registers: Option<i64>,
    /// Bits per read of coils/discrete inputs, 1-2000. Default 2000.
    pub max_bits: Option<i64>,
    /// Modbus RTU: serial port path, e.g. `/dev/ttyS1`. Devices naming the same port share
    /// one bus and must agree on its line settings.
    pub port: Option<String>,
    /// Modbus RTU: bits per second, 300-921600. Default 9600.
    pub baud: Option<i64>,
    /// Modbus RTU: `none`, `even` (default, per the Modbus serial line spec) or `odd`.
    pub parity: Option<String>,
    /// Modbus RTU: 7 or 8. Default 8.
    pub data_bits: Option<i64>,
    /// Modbus RTU: 1 or 2. Default 1.
    pub stop_bits: Option<i64>,
    /// Modbus RTU and RTU-over-TCP: silence the bus keeps before each request to this unit,
    /// when longer than the 3.5-character gap. `"0ms"` allowed. Default `0ms`.
    pub turnaround: Option<String>,
    /// OPC UA: `opc.tcp://host:port[/path]` of the server.
    pub endpoint: Option<String>,
    /// OPC UA: `None` (default) `Basic256Sha256` `Aes128_Sha256_RsaOaep`
    /// `Aes256_Sha256_RsaPss`.
    pub security_policy: Option<String>,
    /// OPC UA: `None` `Sign` `SignAndEncrypt`. Default `None` with policy `None`, else
    /// `SignAndEncrypt`.
    pub security_mode: Option<String>,
    /// OPC UA: user name; the password comes from `password_file` or the environment
    /// variable `EDGEPROOF_OPCUA_PASSWORD_<DEVICE>`. Anonymous when absent.
    pub user: Option<String>,
    /// OPC UA: file holding the user's password (trailing newline ignored).
    pub password_file: Option<String>,
    /// OPC UA: X.509 user certificate (instead of `user`).
    pub user_cert_file: Option<String>,
    /// OPC UA: private key (PEM) of `user_cert_file`.
    pub user_key_file: Option<String>,
    /// OPC UA: `first-use` (default: pin the server certificate seen first) or `pki` (only
    /// certificates in `data_dir/pki/trusted/`).
    pub trust: Option<String>,
    /// The device's points.
    #[serde(default)]
    pub points: Vec<PointSection>,
    /// Scene tag for the evidence log: 生产管控, 设备管理, 能耗管理, 质量管理, 安全生产, ….
    pub scene: Option<String>,
    /// Nameplate vendor, as declared for the evidence log.
    pub vendor: Option<String>,
    /// Nameplate model, as declared for the evidence log.
    pub model: Option<String>,
}

/// One `[[devices.points]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointSection {
    /// Unique within the device.
    pub name: String,
    /// `coil` | `discrete` | `input` | `holding`.
    pub area: Option<String>,
    /// 0-based protocol address.
    pub address: Option<i64>,
    /// `bool` `bit` `u16` `i16` `u32` `i32` `u64` `i64` `f32` `f64` `string`.
    #[serde(rename = "type")]
    pub dtype: Option<String>,
    /// Byte order of 4- and 8-byte types. Default `ABCD` / `ABCDEFGH`.
    pub order: Option<String>,
    /// Bit number with `type = "bit"`, 0 = least significant.
    pub bit: Option<i64>,
    /// Registers with `type = "string"`.
    pub length: Option<i64>,
    /// `value = raw * scale + offset`. Default 1.
    pub scale: Option<f64>,
    /// Default 0.
    pub offset: Option<f64>,
    /// Engineering unit.
    pub unit: Option<String>,
    /// Poll interval override.
    pub poll: Option<String>,
    /// Minimum change that counts as a changed value.
    pub deadband: Option<f64>,
    /// OPC UA: node id, e.g. `ns=2;s=Molder.Barrel.Temp` or `ns=3;i=1002`.
    pub node: Option<String>,
    /// OPC UA: `subscribe` (default: the server reports changes) or `poll` (read every
    /// `poll`).
    pub mode: Option<String>,
    /// OPC UA, `subscribe` points: sampling interval asked of the server. Default: the
    /// device's `poll`.
    pub sampling: Option<String>,
}

/// `[evidence]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceSection {
    /// `false` turns evidence off. Default `true` when the section is present.
    pub enabled: Option<bool>,
    /// The Ed25519 signing key from `edgeproof keygen`. Default `<data_dir>/keys/evidence.key`.
    pub key_file: Option<String>,
    /// One `usage` record per interval, aligned to the wall clock. Default `5m`.
    pub interval: Option<String>,
    /// A signed checkpoint this often (and at every start and clean stop). Default `1h`.
    pub checkpoint_interval: Option<String>,
    /// Witnesses (C2SP tlog-witness) each new checkpoint is submitted to. Default none.
    #[serde(default)]
    pub witnesses: Vec<WitnessSection>,
}

/// One `[evidence] witnesses` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessSection {
    /// Submission prefix: `https://host[:port][/path]` (or `http://`); checkpoints go to
    /// `<url>/add-checkpoint`.
    pub url: String,
    /// The witness's C2SP verifier key (`<name>+<key id>+<base64>`, signature type 0x04);
    /// a returned cosignature is trusted only if it verifies under this key.
    pub public_key: String,
    /// PEM CA certificate(s) to verify an `https://` witness with. Default: the system CAs.
    pub ca_file: Option<String>,
}

/// One `[[inventory]]` entry: a production device declared but not polled.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventorySection {
    /// Unique among devices and inventory.
    pub name: String,
    /// How it is (or would be) connected, e.g. `modbus-rtu`, `opcua`, `none`. Default `none`.
    pub protocol: Option<String>,
    /// Its address, port or location, if any.
    pub endpoint: Option<String>,
    /// Nameplate vendor.
    pub vendor: Option<String>,
    /// Nameplate model.
    pub model: Option<String>,
    /// Scene tag: 生产管控, 设备管理, 能耗管理, 质量管理, 安全生产, ….
    pub scene: Option<String>,
}
