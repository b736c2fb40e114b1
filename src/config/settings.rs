//! The compiled config: what the rest of the agent sees. Every value here has been checked;
//! durations and sizes are real types, enums are enums.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::evidence::cosignature::WitnessKey;
use crate::evidence::recorder::witness::WitnessUrl;
use crate::source::modbus::{ModbusPoint, ReadLimits};
#[cfg(feature = "opcua")]
use crate::source::opcua::{Mode, OpcUaPoint, Policy, Trust, UserAuth};

/// A validated config.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[gateway]`.
    pub gateway: Gateway,
    /// `[mqtt]`, if publishing is configured.
    pub mqtt: Option<MqttConfig>,
    /// `[journal]`.
    pub journal: JournalConfig,
    /// `[metrics]`.
    pub metrics: MetricsConfig,
    /// `[[devices]]`, in file order.
    pub devices: Vec<Device>,
    /// `[evidence]`.
    pub evidence: EvidenceConfig,
    /// The declared inventory: every `[[devices]]` entry, then every `[[inventory]]` entry.
    pub inventory: Vec<DeclaredDevice>,
}

/// `[gateway]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gateway {
    /// Unique gateway id.
    pub id: String,
    /// Validated USCC.
    pub enterprise: String,
    /// Project / contract id.
    pub project: String,
    /// Journal and key directory.
    pub data_dir: PathBuf,
    /// Production devices in the factory, networked or not (denominator of 设备联网率).
    pub production_devices: Option<u32>,
}

/// MQTT protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttProtocol {
    /// MQTT 3.1.1.
    V311,
    /// MQTT 5.
    V5,
}

/// `[mqtt]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttConfig {
    /// Broker host name or address.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// `mqtts://`.
    pub tls: bool,
    /// Client id.
    pub client_id: String,
    /// User name.
    pub username: Option<String>,
    /// Password given inline or by environment (`Debug` shows `<redacted>`).
    pub password: Option<super::Secret>,
    /// File holding the password, read at start.
    pub password_file: Option<PathBuf>,
    /// CA bundle for server verification.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (mTLS).
    pub cert_file: Option<PathBuf>,
    /// Client key (mTLS).
    pub key_file: Option<PathBuf>,
    /// Protocol version.
    pub protocol: MqttProtocol,
    /// Topic prefix without trailing `/`.
    pub topic_prefix: String,
    /// Keep-alive interval.
    pub keep_alive: Duration,
    /// Unacknowledged publishes at once.
    pub max_inflight: u16,
}

impl MqttConfig {
    /// Whether data and the password (if any) would cross a network in clear text: plain
    /// `mqtt://` to a host that is not this machine's loopback. Any name other than
    /// `localhost` counts as another machine: it is resolved only at connect time.
    pub fn plain_text_off_host(&self) -> bool {
        let loopback = self.host.eq_ignore_ascii_case("localhost")
            || self.host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        !self.tls && !loopback
    }

    /// The start-up warning for [`MqttConfig::plain_text_off_host`], or `None`.
    pub fn plain_text_warning(&self) -> Option<String> {
        self.plain_text_off_host().then(|| {
            let login = if self.username.is_some() { "the broker password, " } else { "" };
            format!(
                "PLAIN TEXT: publishing over mqtt:// to {}:{}, which is not this machine: {login}\
                 every reading and the evidence cross the network unencrypted and unauthenticated; \
                 use mqtts:// (see mqtt.ca_file)",
                self.host, self.port
            )
        })
    }
}

/// `[journal]`.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalConfig {
    /// Group-commit interval.
    pub flush_interval: Duration,
    /// Size bound in bytes.
    pub max_bytes: u64,
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// Where to serve /metrics and /healthz.
    pub listen: Option<SocketAddr>,
}

/// One device.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// Unique device name.
    pub name: Arc<str>,
    /// Protocol and its settings.
    pub protocol: DeviceProtocol,
}

/// Protocol-specific device settings.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceProtocol {
    /// `modbus-tcp`.
    ModbusTcp(ModbusTcpDevice),
    /// `opcua`.
    #[cfg(feature = "opcua")]
    OpcUa(OpcUaDevice),
    /// `modbus-rtu` and `modbus-rtu-over-tcp`: a unit on an RTU bus.
    ModbusRtu(ModbusRtuDevice),
}

impl Device {
    /// Number of points configured.
    pub fn point_count(&self) -> usize {
        match &self.protocol {
            DeviceProtocol::ModbusTcp(d) => d.points.len(),
            #[cfg(feature = "opcua")]
            DeviceProtocol::OpcUa(d) => d.points.len(),
            DeviceProtocol::ModbusRtu(d) => d.points.len(),
        }
    }

    /// Config spelling of the protocol.
    pub fn protocol_name(&self) -> &'static str {
        match &self.protocol {
            DeviceProtocol::ModbusTcp(_) => "modbus-tcp",
            #[cfg(feature = "opcua")]
            DeviceProtocol::OpcUa(_) => "opcua",
            DeviceProtocol::ModbusRtu(d) => d.bus.protocol_name(),
        }
    }
}

/// A Modbus TCP device.
#[derive(Debug, Clone, PartialEq)]
pub struct ModbusTcpDevice {
    /// `host:port`, resolved at each connect.
    pub address: String,
    /// Unit id.
    pub unit: u8,
    /// Default poll interval.
    pub poll: Duration,
    /// Connect and request timeout.
    pub timeout: Duration,
    /// Merge rules.
    pub limits: ReadLimits,
    /// Compiled points, in file order.
    pub points: Vec<ModbusPoint>,
}

/// A Modbus RTU device: one unit on a serial bus (`modbus-rtu`), or behind a serial-to-Ethernet
/// converter that passes RTU frames through a TCP connection (`modbus-rtu-over-tcp`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModbusRtuDevice {
    /// The bus the unit hangs on. Devices naming the same bus share one bus task.
    pub bus: RtuBus,
    /// Unit id, 1..=247.
    pub unit: u8,
    /// Default poll interval.
    pub poll: Duration,
    /// Response timeout (also the connect timeout of an RTU-over-TCP bus).
    pub timeout: Duration,
    /// Silence the bus keeps before each request to this unit, when longer than the
    /// 3.5-character inter-frame gap.
    pub turnaround: Duration,
    /// Merge rules.
    pub limits: ReadLimits,
    /// Compiled points, in file order.
    pub points: Vec<ModbusPoint>,
}

/// Where an RTU bus is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtuBus {
    /// `modbus-rtu`: a serial port and its line settings.
    Serial(SerialLine),
    /// `modbus-rtu-over-tcp`: `host:port` of the converter, resolved at each connect.
    Tcp(String),
}

impl RtuBus {
    /// The bus's identity: the port path or `host:port`. Devices with the same name share a
    /// bus; it is also the `bus` metric label.
    pub fn name(&self) -> &str {
        match self {
            RtuBus::Serial(line) => &line.port,
            RtuBus::Tcp(address) => address,
        }
    }

    /// Config spelling of the protocol.
    pub fn protocol_name(&self) -> &'static str {
        match self {
            RtuBus::Serial(_) => "modbus-rtu",
            RtuBus::Tcp(_) => "modbus-rtu-over-tcp",
        }
    }
}

/// A serial port and its character format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SerialLine {
    /// Device path, e.g. `/dev/ttyS1`, `/dev/ttyUSB0`.
    pub port: String,
    /// Bits per second.
    pub baud: u32,
    /// Parity bit.
    pub parity: Parity,
    /// 7 or 8.
    pub data_bits: u8,
    /// 1 or 2.
    pub stop_bits: u8,
}

impl std::fmt::Display for SerialLine {
    /// `9600 8E1`: baud, then data bits, parity and stop bits as serial settings are written.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parity = match self.parity {
            Parity::None => 'N',
            Parity::Even => 'E',
            Parity::Odd => 'O',
        };
        write!(f, "{} {}{parity}{}", self.baud, self.data_bits, self.stop_bits)
    }
}

/// Serial parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parity {
    /// No parity bit.
    None,
    /// Even parity (the Modbus default, Modbus over Serial Line §2.5.1).
    Even,
    /// Odd parity.
    Odd,
}

/// Whether the agent writes usage evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceMode {
    /// No `[evidence]` section: on exactly when the key file exists.
    Auto,
    /// `[evidence]` present: a missing key stops `run`.
    On,
    /// `enabled = false`.
    Off,
}

/// `[evidence]`.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceConfig {
    /// On, off, or on when the key exists.
    pub mode: EvidenceMode,
    /// The Ed25519 signing key.
    pub key_file: PathBuf,
    /// Length of one `usage` interval (boundaries on the wall-clock grid of this length).
    pub interval: Duration,
    /// Time between periodic checkpoints.
    pub checkpoint_interval: Duration,
    /// Witnesses every new checkpoint is submitted to.
    pub witnesses: Vec<WitnessConfig>,
}

/// One witness, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessConfig {
    /// Its submission prefix.
    pub url: WitnessUrl,
    /// Its cosignature key.
    pub key: WitnessKey,
    /// CA file for `https://`; `None` = the system CAs.
    pub ca_file: Option<PathBuf>,
}

/// One device of the declared inventory, as the `enroll` record lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredDevice {
    /// Device name (unique among devices and inventory).
    pub name: String,
    /// `modbus-tcp`, … for polled devices; as declared (default `none`) for inventory.
    pub protocol: String,
    /// Address the device is reached at (`host:port`, …); empty when not declared.
    pub endpoint: String,
    /// Nameplate vendor.
    pub vendor: Option<String>,
    /// Nameplate model.
    pub model: Option<String>,
    /// Scene tag (生产管控, 能耗管理, …).
    pub scene: Option<String>,
    /// True for `[[devices]]` (polled by this gateway), false for `[[inventory]]`.
    pub polled: bool,
}

/// An OPC UA server.
#[cfg(feature = "opcua")]
#[derive(Debug, Clone, PartialEq)]
pub struct OpcUaDevice {
    /// `opc.tcp://host:port[/path]`.
    pub endpoint: String,
    /// Message security policy.
    pub security_policy: Policy,
    /// Message security mode.
    pub security_mode: Mode,
    /// User identity.
    pub auth: UserAuth,
    /// How the server certificate is trusted.
    pub trust: Trust,
    /// `data_dir/pki`: the agent's own certificate, pins, trusted and rejected folders.
    pub pki_dir: PathBuf,
    /// Default poll interval of `poll` points (and the default sampling interval).
    pub poll: Duration,
    /// Request timeout (also the connect timeout).
    pub timeout: Duration,
    /// Compiled points, in file order.
    pub points: Vec<OpcUaPoint>,
}
