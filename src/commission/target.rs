//! Where a commissioning command reads from, given as a URL instead of a config file:
//!
//! - `tcp://HOST[:PORT]` (or plain `HOST:PORT`): Modbus TCP, port 502 by default;
//! - `rtu:///dev/ttyUSB0?baud=9600&parity=even&data_bits=8&stop_bits=1`: Modbus RTU on a
//!   serial port (defaults 9600 8E1, as in the config);
//! - `rtu-over-tcp://HOST:PORT`: RTU frames through a serial-to-Ethernet converter.
//!
//! A [`Target`] hands out one [`UnitLink`] per unit id, built on the same transports as
//! `run` (the TCP [`Transport`], the RTU bus task), so a commissioning read behaves exactly
//! like the agent's.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{ModbusRtuDevice, Parity, RtuBus, SerialLine};
use crate::source::modbus::rtu::{RtuBuses, RtuUnit};
use crate::source::modbus::{Area, DeviceIdentity, ModbusLink, RawRead, ReadLimits};
use crate::source::modbus::{Transport, TransportError};
use crate::source::NoObserver;

/// A bad target URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url:?}: {reason}")]
pub struct TargetError {
    /// The URL as given.
    pub url: String,
    /// What is wrong, with the expected form.
    pub reason: String,
}

/// A Modbus endpoint: a TCP device or gateway, or an RTU bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Modbus TCP at `host:port`.
    Tcp(String),
    /// An RTU bus: a serial port or a converter.
    Rtu(RtuBus),
}

impl Target {
    /// Parses a target URL (see the module docs).
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let err = |reason: &str| TargetError { url: url.to_string(), reason: reason.to_string() };
        if let Some(rest) = url.strip_prefix("rtu-over-tcp://") {
            return host_port(rest, None).map(|a| Target::Rtu(RtuBus::Tcp(a))).ok_or_else(|| {
                err("expected rtu-over-tcp://HOST:PORT (the converter's address and port)")
            });
        }
        if let Some(rest) = url.strip_prefix("rtu://") {
            let (port, query) = rest.split_once('?').unwrap_or((rest, ""));
            if !port.starts_with('/') {
                return Err(err("expected rtu:///dev/ttyUSB0?baud=9600&parity=even"));
            }
            let mut line = SerialLine {
                port: port.to_string(),
                baud: 9600,
                parity: Parity::Even,
                data_bits: 8,
                stop_bits: 1,
            };
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                let bad = || err(&format!("bad {key} {value:?}"));
                match key {
                    "baud" => {
                        line.baud = value
                            .parse()
                            .ok()
                            .filter(|b| (300..=921_600).contains(b))
                            .ok_or_else(bad)?;
                    }
                    "parity" => {
                        line.parity = match value {
                            "none" | "N" | "n" => Parity::None,
                            "even" | "E" | "e" => Parity::Even,
                            "odd" | "O" | "o" => Parity::Odd,
                            _ => return Err(bad()),
                        }
                    }
                    "data_bits" => {
                        line.data_bits =
                            value.parse().ok().filter(|b| [7, 8].contains(b)).ok_or_else(bad)?;
                    }
                    "stop_bits" => {
                        line.stop_bits =
                            value.parse().ok().filter(|b| [1, 2].contains(b)).ok_or_else(bad)?;
                    }
                    _ => {
                        return Err(err(&format!(
                            "unknown setting {key:?}; use baud, parity, data_bits, stop_bits"
                        )))
                    }
                }
            }
            return Ok(Target::Rtu(RtuBus::Serial(line)));
        }
        let rest = url.strip_prefix("tcp://").unwrap_or(url);
        if rest.contains("://") {
            return Err(err(
                "expected tcp://HOST[:PORT], rtu:///dev/PORT?baud=… or rtu-over-tcp://HOST:PORT",
            ));
        }
        host_port(rest, Some(502))
            .map(Target::Tcp)
            .ok_or_else(|| err("expected tcp://HOST[:PORT] (port 502 by default)"))
    }

    /// The config's protocol name for devices on this target.
    pub fn protocol(&self) -> &'static str {
        match self {
            Target::Tcp(_) => "modbus-tcp",
            Target::Rtu(bus) => bus.protocol_name(),
        }
    }

    /// Where the target is: `host:port` or the serial port.
    pub fn name(&self) -> &str {
        match self {
            Target::Tcp(a) => a,
            Target::Rtu(bus) => bus.name(),
        }
    }

    /// Whether unit ids address different devices on a shared line (an RTU bus), where the
    /// default unit range is the whole bus.
    pub fn is_bus(&self) -> bool {
        matches!(self, Target::Rtu(_))
    }
}

/// `host:port` (or `host` with `default` port); `None` if malformed.
fn host_port(text: &str, default: Option<u16>) -> Option<String> {
    let text = text.trim_end_matches('/');
    match text.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.ends_with(':') => {
            p.parse::<u16>().ok().map(|p| format!("{h}:{p}"))
        }
        _ if !text.is_empty() && !text.contains(['/', '?', ':']) => {
            default.map(|p| format!("{text}:{p}"))
        }
        _ => None,
    }
}

/// Hands out links to units of one target. RTU units share one bus task, as in `run`.
pub struct Links {
    target: Target,
    timeout: Duration,
    buses: RtuBuses,
}

impl Links {
    /// Links to `target` with `timeout` per request (and per connect). Must be made inside
    /// a tokio runtime (an RTU bus task is spawned at the first unit).
    pub fn new(target: Target, timeout: Duration) -> Self {
        Links { target, timeout, buses: RtuBuses::new(Arc::new(NoObserver)) }
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// A link to `unit`. Nothing is opened until its first read.
    pub fn unit(&mut self, unit: u8) -> UnitLink {
        let name: Arc<str> = Arc::from(format!("unit-{unit}"));
        match &self.target {
            Target::Tcp(address) => {
                UnitLink::Tcp(Transport::new(name, address.clone(), unit, self.timeout))
            }
            Target::Rtu(bus) => {
                let cfg = ModbusRtuDevice {
                    bus: bus.clone(),
                    unit,
                    poll: Duration::from_secs(1),
                    timeout: self.timeout,
                    turnaround: Duration::ZERO,
                    limits: ReadLimits::default(),
                    points: Vec::new(),
                };
                UnitLink::Rtu(self.buses.unit(name, &cfg))
            }
        }
    }
}

/// A link to one unit: its own TCP connection, or a handle on the shared RTU bus.
pub enum UnitLink {
    /// Modbus TCP.
    Tcp(Transport),
    /// A unit on an RTU bus.
    Rtu(RtuUnit),
}

impl UnitLink {
    /// Closes a TCP connection (a gateway may accept only one); nothing for RTU.
    pub async fn close(&mut self) {
        if let UnitLink::Tcp(t) = self {
            t.close().await;
        }
    }
}

impl ModbusLink for UnitLink {
    async fn read(
        &mut self,
        area: Area,
        start: u16,
        count: u16,
    ) -> Result<RawRead, TransportError> {
        match self {
            UnitLink::Tcp(t) => t.read(area, start, count).await,
            UnitLink::Rtu(u) => u.read(area, start, count).await,
        }
    }

    fn is_connected(&self) -> bool {
        match self {
            UnitLink::Tcp(t) => t.is_connected(),
            UnitLink::Rtu(u) => u.is_connected(),
        }
    }

    fn identity(&self) -> Option<&DeviceIdentity> {
        match self {
            UnitLink::Tcp(t) => t.identity(),
            UnitLink::Rtu(u) => u.identity(),
        }
    }

    fn address(&self) -> &str {
        match self {
            UnitLink::Tcp(t) => t.address(),
            UnitLink::Rtu(u) => u.address(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_like_mbpoll_urls() {
        let serial = |port: &str, baud, parity, data_bits, stop_bits| {
            Target::Rtu(RtuBus::Serial(SerialLine {
                port: port.into(),
                baud,
                parity,
                data_bits,
                stop_bits,
            }))
        };
        let cases = [
            ("tcp://10.0.0.5:502", Target::Tcp("10.0.0.5:502".into())),
            ("tcp://10.0.0.5", Target::Tcp("10.0.0.5:502".into())),
            ("plc.local:1502", Target::Tcp("plc.local:1502".into())),
            ("rtu:///dev/ttyUSB0", serial("/dev/ttyUSB0", 9600, Parity::Even, 8, 1)),
            (
                "rtu:///dev/ttyUSB0?baud=19200&parity=none&stop_bits=2",
                serial("/dev/ttyUSB0", 19200, Parity::None, 8, 2),
            ),
            ("rtu-over-tcp://10.0.0.9:4001", Target::Rtu(RtuBus::Tcp("10.0.0.9:4001".into()))),
        ];
        for (url, want) in cases {
            assert_eq!(Target::parse(url), Ok(want), "{url}");
        }
        for bad in [
            "udp://h:1",
            "rtu://dev/ttyUSB0",
            "rtu:///dev/ttyUSB0?baud=fast",
            "rtu:///dev/ttyUSB0?speed=9600",
            "tcp://:502",
            "rtu-over-tcp://host",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
