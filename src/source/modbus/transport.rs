//! One Modbus TCP connection to one device: connect lazily, read one block at a time, drop
//! the connection on any transport failure and come back with exponential backoff.
//!
//! Responsibilities and rules:
//! - **Read-only.** Only FC 01/02/03/04 (data) and FC 43/14 (Device Identification) are ever
//!   sent. There is no write path here.
//! - **One request in flight.** [`Transport::read`] takes `&mut self`; a device task owns its
//!   transport.
//! - **A timed-out request poisons the stream.** The answer may still arrive and be taken for
//!   the answer to the next request, so any timeout or I/O error drops the connection.
//!   A Modbus exception is a valid answer and keeps it.
//! - **A dead device costs the poll loop nothing.** After a failure the transport is in
//!   backoff (full jitter, [`BACKOFF_BASE`] doubling to [`BACKOFF_CAP`]); until it ends,
//!   `read` returns [`TransportError::Backoff`] at once without touching the network. The
//!   caller never sleeps on backoff: it marks the points bad and tries again next cycle. The
//!   backoff resets after the device answers a request.
//! - **Never panic on what the device sends.** Wrong lengths and undecodable frames become
//!   [`TransportError::Malformed`].
//! - **Identity once per connection.** Right after connecting, Device Identification (basic
//!   stream, from object 0; Modbus Application Protocol §6.21) is asked once. An exception or
//!   silence means [`DeviceIdentity::Unsupported`]; a device that did not answer it is not
//!   asked again by this transport, so a device that ignores FC 43 cannot make every connect
//!   cost a timeout.

use crate::backoff::{BackoffPolicy, Jitter};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_modbus::client::{Client, Context};
use tokio_modbus::prelude::{ReadCode, Request, Response, Slave};

use super::point::Area;
use crate::model::BadReason;

/// First backoff ceiling; the real delay is drawn uniformly from `0..=ceiling` (full jitter).
pub const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// The ceiling stops doubling here.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// Most registers one FC 03/04 request may ask for (Modbus Application Protocol §6.3).
const MAX_REGISTERS: u16 = 125;
/// Most bits one FC 01/02 request may ask for (Modbus Application Protocol §6.1).
const MAX_BITS: u16 = 2000;

/// Why a read did not produce data.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Resolving the address or opening the TCP connection failed.
    #[error("device {device}: cannot connect to {address}: {source}")]
    Connect {
        /// Device name.
        device: Arc<str>,
        /// Configured `host:port`.
        address: String,
        /// What the OS said.
        source: io::Error,
    },
    /// The device did not answer (or the connect did not finish) within the timeout.
    #[error("device {device} at {address}: no answer within {}", humantime::format_duration(*timeout))]
    Timeout {
        /// Device name.
        device: Arc<str>,
        /// Configured `host:port`.
        address: String,
        /// The configured timeout.
        timeout: Duration,
    },
    /// The connection failed while a request was in flight.
    #[error("device {device} at {address}: connection lost: {source}")]
    Io {
        /// Device name.
        device: Arc<str>,
        /// Configured `host:port`.
        address: String,
        /// What the OS said.
        source: io::Error,
    },
    /// The device answered with a Modbus exception; the connection stays up.
    #[error("device {device} at {address}: Modbus exception {code:02} ({})", exception_name(*code))]
    Exception {
        /// Device name.
        device: Arc<str>,
        /// Configured `host:port`.
        address: String,
        /// The exception code (Modbus Application Protocol §7).
        code: u8,
    },
    /// The device answered something that cannot be the answer to the request.
    #[error("device {device} at {address}: malformed response: {detail}")]
    Malformed {
        /// Device name.
        device: Arc<str>,
        /// Configured `host:port`.
        address: String,
        /// What was wrong.
        detail: String,
    },
    /// Not connected, and the backoff after the last failure has not ended; the network was
    /// not touched.
    #[error(
        "device {device} at {address}: disconnected, next connect attempt in {}",
        humantime::format_duration(*retry_in)
    )]
    Backoff {
        /// Device name.
        device: Arc<str>,
        /// Configured `host:port`.
        address: String,
        /// Time left until a connect is attempted again.
        retry_in: Duration,
    },
    /// The caller asked for a read no device may answer (count 0, over the protocol limit,
    /// or past address 65535); nothing was sent.
    #[error("device {device} at {address}: invalid request: {detail}")]
    InvalidRequest {
        /// Device name.
        device: Arc<str>,
        /// Configured `host:port`.
        address: String,
        /// What was wrong.
        detail: String,
    },
}

impl TransportError {
    /// The sample quality this error gives the points of the failed read.
    pub fn bad_reason(&self) -> BadReason {
        match self {
            TransportError::Timeout { .. } => BadReason::Timeout,
            TransportError::Exception { code, .. } => BadReason::Exception(*code),
            TransportError::Malformed { .. } | TransportError::InvalidRequest { .. } => {
                BadReason::Malformed
            }
            TransportError::Connect { .. }
            | TransportError::Io { .. }
            | TransportError::Backoff { .. } => BadReason::Disconnected,
        }
    }
}

/// The name of a Modbus exception code (Modbus Application Protocol §7).
pub fn exception_name(code: u8) -> &'static str {
    match code {
        1 => "illegal function",
        2 => "illegal data address",
        3 => "illegal data value",
        4 => "server device failure",
        5 => "acknowledge",
        6 => "server device busy",
        8 => "memory parity error",
        10 => "gateway path unavailable",
        11 => "gateway target device failed to respond",
        _ => "non-standard",
    }
}

pub use edgeproof_modbus::RawRead;

/// What the device said about itself (FC 43/14, basic objects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceIdentity {
    /// The objects returned: (object id, raw value). Ids 0, 1, 2 are vendor name, product
    /// code and major/minor revision.
    Objects(Vec<(u8, Vec<u8>)>),
    /// The device answered with an exception, or did not answer.
    Unsupported,
}

impl DeviceIdentity {
    /// The raw value of one object, if the device returned it.
    pub fn object(&self, id: u8) -> Option<&[u8]> {
        match self {
            DeviceIdentity::Objects(objects) => {
                objects.iter().find(|(oid, _)| *oid == id).map(|(_, v)| v.as_slice())
            }
            DeviceIdentity::Unsupported => None,
        }
    }

    /// Object `id` as text (invalid UTF-8 replaced).
    pub fn text(&self, id: u8) -> Option<String> {
        self.object(id).map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

impl fmt::Display for DeviceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceIdentity::Unsupported => f.write_str("unsupported"),
            DeviceIdentity::Objects(_) => {
                let part = |id| self.text(id).unwrap_or_else(|| "?".to_owned());
                write!(f, "vendor {:?}, product {:?}, revision {:?}", part(0), part(1), part(2))
            }
        }
    }
}

/// A failure of one request, before it is given the device's name.
enum Failure {
    Timeout,
    Io(io::Error),
    Exception(u8),
    /// The stream is out of sync or undecodable: the connection must go.
    Garbled(String),
}

/// What [`Transport::identify`] left behind.
#[derive(Debug, PartialEq, Eq)]
enum Identified {
    /// The connection is ready.
    Done,
    /// The identity request went unanswered; the connection was dropped to be reopened.
    Reconnect,
}

/// One Modbus TCP connection to one device. Not connected until the first [`read`].
///
/// [`read`]: Transport::read
pub struct Transport {
    device: Arc<str>,
    address: String,
    unit: u8,
    timeout: Duration,
    conn: Option<Context>,
    /// Identity of the current connection (`None` while disconnected or not yet asked).
    identity: Option<DeviceIdentity>,
    /// Set once the device failed to answer FC 43: it is not asked again.
    skip_identity: bool,
    /// Consecutive failures since the last answered request.
    failures: u32,
    /// No connect attempt before this instant.
    retry_at: Option<Instant>,
    /// Delay before the next connect after `n` consecutive failures (replaced in tests).
    backoff: fn(u32) -> Duration,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("device", &self.device)
            .field("address", &self.address)
            .field("unit", &self.unit)
            .field("timeout", &self.timeout)
            .field("connected", &self.conn.is_some())
            .field("identity", &self.identity)
            .field("failures", &self.failures)
            .field("retry_at", &self.retry_at)
            .finish()
    }
}

impl Transport {
    /// A transport for `device` at `address` (`host:port`, resolved at every connect),
    /// Modbus unit id `unit`. `timeout` bounds the connect (resolve included) and each
    /// request. Nothing is opened until the first read.
    pub fn new(device: Arc<str>, address: String, unit: u8, timeout: Duration) -> Self {
        Transport {
            device,
            address,
            unit,
            timeout,
            conn: None,
            identity: None,
            skip_identity: false,
            failures: 0,
            retry_at: None,
            backoff: jittered_backoff,
        }
    }

    /// The device's name.
    pub fn device(&self) -> &Arc<str> {
        &self.device
    }

    /// The configured `host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// True while a connection is open.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// What the device said about itself on the current connection; `None` while
    /// disconnected.
    pub fn identity(&self) -> Option<&DeviceIdentity> {
        self.identity.as_ref()
    }

    /// Time left before `read` will try to connect again; `None` when a read would use the
    /// network now (connected, or no backoff pending).
    pub fn backoff_delay(&self) -> Option<Duration> {
        if self.conn.is_some() {
            return None;
        }
        let now = Instant::now();
        self.retry_at.filter(|at| *at > now).map(|at| at - now)
    }

    /// Read `count` registers or bits of `area` from address `start`.
    ///
    /// Connects first if needed (and reads the device's identity once). Fails fast with
    /// [`TransportError::Backoff`] while a reconnect backoff is pending.
    pub async fn read(
        &mut self,
        area: Area,
        start: u16,
        count: u16,
    ) -> Result<RawRead, TransportError> {
        self.check_request(area, start, count)?;
        if self.conn.is_none() {
            self.connect().await?;
        }
        let request = match area {
            Area::Coil => Request::ReadCoils(start, count),
            Area::Discrete => Request::ReadDiscreteInputs(start, count),
            Area::Input => Request::ReadInputRegisters(start, count),
            Area::Holding => Request::ReadHoldingRegisters(start, count),
        };
        let response = match self.call(request).await {
            Ok(response) => response,
            Err(Failure::Exception(code)) => {
                self.answered();
                return Err(TransportError::Exception {
                    device: self.device.clone(),
                    address: self.address.clone(),
                    code,
                });
            }
            Err(failure) => {
                let reason = failure_reason(&failure);
                self.fail(&reason);
                return Err(self.error(failure));
            }
        };
        // The device answered in protocol: the connection is healthy even if the content is
        // wrong, so the backoff resets either way.
        self.answered();
        check_response(area, count, response).map_err(|detail| TransportError::Malformed {
            device: self.device.clone(),
            address: self.address.clone(),
            detail: format!("{} read of {count} at {start}: {detail}", area.as_str()),
        })
    }

    /// Close the connection (e.g. at shutdown). The next read reconnects without backoff.
    pub async fn close(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            // The device may already be gone; nothing to do about a failed goodbye.
            let _ = conn.disconnect().await;
            tracing::info!(device = %self.device, address = %self.address, "disconnected: closed");
        }
        self.identity = None;
    }

    fn check_request(&self, area: Area, start: u16, count: u16) -> Result<(), TransportError> {
        check_request(area, start, count).map_err(|detail| TransportError::InvalidRequest {
            device: self.device.clone(),
            address: self.address.clone(),
            detail,
        })
    }

    /// Open a connection, unless in backoff; then ask the identity once.
    async fn connect(&mut self) -> Result<(), TransportError> {
        if let Some(retry_in) = self.backoff_delay() {
            return Err(TransportError::Backoff {
                device: self.device.clone(),
                address: self.address.clone(),
                retry_in,
            });
        }
        self.open_connection().await?;
        if self.identify().await? == Identified::Reconnect {
            // Identity is skipped from now on, so this second connection is the last.
            self.open_connection().await?;
            self.identity = Some(DeviceIdentity::Unsupported);
        }
        Ok(())
    }

    /// Open the TCP connection and attach the Modbus client.
    async fn open_connection(&mut self) -> Result<(), TransportError> {
        let opened =
            match tokio::time::timeout(self.timeout, Self::open(self.address.clone())).await {
                Ok(Ok(opened)) => opened,
                Ok(Err(source)) => {
                    self.fail(&format!("connect failed: {source}"));
                    return Err(TransportError::Connect {
                        device: self.device.clone(),
                        address: self.address.clone(),
                        source,
                    });
                }
                Err(_) => {
                    self.fail("connect timed out");
                    return Err(self.error(Failure::Timeout));
                }
            };
        let (stream, peer) = opened;
        self.conn = Some(tokio_modbus::client::tcp::attach_slave(stream, Slave(self.unit)));
        tracing::info!(device = %self.device, address = %self.address, %peer, unit = self.unit,
            "connected");
        Ok(())
    }

    /// Resolve the address and connect to the first address that accepts.
    ///
    /// Takes the address by value: a future that borrows the `Transport` would need it to be
    /// `Sync`, which the boxed tokio-modbus client is not.
    async fn open(address: String) -> io::Result<(TcpStream, SocketAddr)> {
        let mut last = None;
        for addr in tokio::net::lookup_host(address.as_str()).await? {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    // Requests are single small writes; do not let Nagle hold one back.
                    stream.set_nodelay(true)?;
                    return Ok((stream, addr));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "the host name resolved to no address")
        }))
    }

    /// Ask Device Identification once on a fresh connection.
    async fn identify(&mut self) -> Result<Identified, TransportError> {
        if self.skip_identity {
            self.identity = Some(DeviceIdentity::Unsupported);
            return Ok(Identified::Done);
        }
        let request = Request::ReadDeviceIdentification(ReadCode::Basic, 0);
        let identity = match self.call(request).await {
            Ok(Response::ReadDeviceIdentification(answer)) => {
                self.answered();
                let objects = answer
                    .device_id_objects
                    .into_iter()
                    .map(|object| (object.id, object.value.to_vec()))
                    .collect();
                DeviceIdentity::Objects(objects)
            }
            Ok(other) => {
                // `call` already rejects a mismatched function code; keep going regardless.
                tracing::debug!(device = %self.device, address = %self.address,
                    "device identification answered with {other:?}; treating as unsupported");
                DeviceIdentity::Unsupported
            }
            Err(Failure::Exception(code)) => {
                self.answered();
                tracing::debug!(device = %self.device, address = %self.address, code,
                    "device identification not supported (exception {code:02})");
                DeviceIdentity::Unsupported
            }
            Err(Failure::Io(source)) => {
                // The device dropped the connection on FC 43; some do. Don't ask again, or
                // every reconnect would end the same way.
                self.skip_identity = true;
                self.fail(&format!("connection lost during device identification: {source}"));
                return Err(self.error(Failure::Io(source)));
            }
            Err(failure @ (Failure::Timeout | Failure::Garbled(_))) => {
                // A device that ignores FC 43 is common. The stream may still carry the late
                // answer, so reconnect now (no backoff: the device is reachable) and never
                // ask this device again.
                self.skip_identity = true;
                let reason = failure_reason(&failure);
                tracing::info!(device = %self.device, address = %self.address,
                    "device identification unanswered ({reason}); reconnecting without it");
                self.conn = None;
                return Ok(Identified::Reconnect);
            }
        };
        tracing::info!(device = %self.device, address = %self.address, %identity,
            "device identification");
        self.identity = Some(identity);
        Ok(Identified::Done)
    }

    /// Send one request on the open connection and wait for its answer.
    async fn call(&mut self, request: Request<'static>) -> Result<Response, Failure> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(Failure::Io(io::Error::new(io::ErrorKind::NotConnected, "not connected")));
        };
        match tokio::time::timeout(self.timeout, conn.call(request)).await {
            Err(_) => Err(Failure::Timeout),
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(exception))) => Err(Failure::Exception(u8::from(exception))),
            Ok(Err(tokio_modbus::Error::Protocol(e))) => Err(Failure::Garbled(e.to_string())),
            Ok(Err(tokio_modbus::Error::Transport(e))) => Err(classify_io(e)),
        }
    }

    /// The device answered a request: the connection works, the backoff starts over.
    fn answered(&mut self) {
        self.failures = 0;
        self.retry_at = None;
    }

    /// Drop the connection after a failure and arm the next backoff.
    fn fail(&mut self, reason: &str) {
        let was_connected = self.conn.take().is_some();
        self.identity = None;
        self.failures = self.failures.saturating_add(1);
        let delay = (self.backoff)(self.failures);
        self.retry_at = Some(Instant::now() + delay);
        let delay = humantime::format_duration(Duration::from_millis(delay.as_millis() as u64));
        if was_connected {
            tracing::warn!(device = %self.device, address = %self.address, %delay,
                "disconnected: {reason}; reconnecting after backoff");
        } else if self.failures == 1 {
            tracing::warn!(device = %self.device, address = %self.address, %delay,
                "{reason}; retrying after backoff");
        } else {
            tracing::debug!(device = %self.device, address = %self.address, %delay,
                failures = self.failures, "{reason}; retrying after backoff");
        }
    }

    fn error(&self, failure: Failure) -> TransportError {
        let device = self.device.clone();
        let address = self.address.clone();
        match failure {
            Failure::Timeout => TransportError::Timeout { device, address, timeout: self.timeout },
            Failure::Io(source) => TransportError::Io { device, address, source },
            Failure::Exception(code) => TransportError::Exception { device, address, code },
            Failure::Garbled(detail) => TransportError::Malformed { device, address, detail },
        }
    }
}

/// Checks a read against the protocol limits before anything is sent: what is wrong, if
/// anything. Shared by every Modbus link.
pub(super) fn check_request(area: Area, start: u16, count: u16) -> Result<(), String> {
    let max = if area.is_bits() { MAX_BITS } else { MAX_REGISTERS };
    if count == 0 || count > max {
        Err(format!("{} read of {count} at {start}: count must be 1..={max}", area.as_str()))
    } else if u32::from(start) + u32::from(count) > 65536 {
        Err(format!("{} read of {count} at {start}: runs past address 65535", area.as_str()))
    } else {
        Ok(())
    }
}

/// Split tokio-modbus transport errors into "the bytes made no sense" and "the socket failed".
fn classify_io(e: io::Error) -> Failure {
    match e.kind() {
        // The codec reports undecodable frames this way.
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => {
            Failure::Garbled(e.to_string())
        }
        // tokio-modbus reports a closed stream as the last OS error, often "success".
        _ if e.raw_os_error() == Some(0) => Failure::Io(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "connection closed by the device",
        )),
        _ => Failure::Io(e),
    }
}

fn failure_reason(failure: &Failure) -> String {
    match failure {
        Failure::Timeout => "request timed out".to_owned(),
        Failure::Io(e) => format!("I/O error: {e}"),
        Failure::Exception(code) => format!("exception {code:02}"),
        Failure::Garbled(detail) => format!("malformed response: {detail}"),
    }
}

/// How a device that failed to connect or answer is backed off: full jitter, from
/// [`BACKOFF_BASE`] doubling to [`BACKOFF_CAP`].
const RECONNECT: BackoffPolicy = BackoffPolicy::new(BACKOFF_BASE, BACKOFF_CAP, Jitter::Full);

/// [`backoff_delay`] with a random point in the range (full jitter).
pub(super) fn jittered_backoff(failures: u32) -> Duration {
    RECONNECT.delay(failures)
}

/// Full-jitter backoff: uniform in `0..=min(cap, base * 2^(failures-1))`. `unit` is a
/// random number in `[0, 1)`.
pub(super) fn backoff_delay(failures: u32, unit: f64) -> Duration {
    RECONNECT.delay_at(failures, unit)
}

/// Check that the answer has the requested shape and strip the bit padding.
fn check_response(area: Area, count: u16, response: Response) -> Result<RawRead, String> {
    let count = usize::from(count);
    match (area, response) {
        (Area::Coil, Response::ReadCoils(mut bits))
        | (Area::Discrete, Response::ReadDiscreteInputs(mut bits)) => {
            // The codec unpacks whole bytes: exactly ceil(count / 8) bytes are expected.
            let expected = count.div_ceil(8) * 8;
            if bits.len() != expected {
                return Err(format!(
                    "{} bytes of bits for {count} bits, expected {}",
                    bits.len() / 8,
                    expected / 8
                ));
            }
            bits.truncate(count);
            Ok(RawRead::Bits(bits))
        }
        (Area::Input, Response::ReadInputRegisters(words))
        | (Area::Holding, Response::ReadHoldingRegisters(words)) => {
            if words.len() != count {
                return Err(format!("{} registers, expected {count}", words.len()));
            }
            Ok(RawRead::Registers(words))
        }
        (_, other) => Err(format!("unexpected answer {:?}", other.function_code())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::modbus::Order;
    use edgeproof_sim::{RegisterImage, SimIdentity, SimServer};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const TIMEOUT: Duration = Duration::from_millis(300);

    fn transport(addr: SocketAddr) -> Transport {
        let mut t = Transport::new(Arc::from("dev-a"), addr.to_string(), 1, TIMEOUT);
        // Deterministic: tests that fail want to see the backoff, tests that recover skip it.
        t.backoff = |_| Duration::from_secs(3600);
        t
    }

    async fn sim(image: RegisterImage) -> SimServer {
        SimServer::start("127.0.0.1:0".parse().unwrap(), Arc::new(Mutex::new(image))).await.unwrap()
    }

    fn sample_image() -> RegisterImage {
        let mut image = RegisterImage::new();
        image.coils.set_bits(0, &[true, false, true, true, false, false, false, false, true]);
        image.discrete.set(2, true);
        image.input.set_i16(0, -40).set_f32(1, 21.5, Order::Cdab);
        image.holding.set_u32(0, 123_456, Order::Abcd).set_string(2, "OK", 1);
        image.holding.add_hole(3, 1).set_u16(4, 9);
        image.identity = SimIdentity::basic("acme", "PX-1", "2.1");
        image
    }

    #[tokio::test]
    async fn reads_every_area_and_identity_from_the_simulator() {
        let server = sim(sample_image()).await;
        let mut t = transport(server.local_addr());
        assert!(!t.is_connected());

        let coils = t.read(Area::Coil, 0, 9).await.unwrap();
        assert_eq!(
            coils,
            RawRead::Bits(vec![true, false, true, true, false, false, false, false, true])
        );
        let discrete = t.read(Area::Discrete, 0, 3).await.unwrap();
        assert_eq!(discrete, RawRead::Bits(vec![false, false, true]));
        let input = t.read(Area::Input, 0, 3).await.unwrap();
        let expected =
            [vec![0xFFD8], edgeproof_sim::encode_words(&21.5f32.to_be_bytes(), Order::Cdab)];
        assert_eq!(input, RawRead::Registers(expected.concat()));
        let holding = t.read(Area::Holding, 0, 3).await.unwrap();
        assert_eq!(holding, RawRead::Registers(vec![0x0001, 0xE240, 0x4F4B]));

        assert!(t.is_connected());
        let identity = t.identity().unwrap();
        assert_eq!(identity.text(0).as_deref(), Some("acme"));
        assert_eq!(identity.text(1).as_deref(), Some("PX-1"));
        assert_eq!(identity.text(2).as_deref(), Some("2.1"));
        assert_eq!(server.request_count(), 4);
        assert_eq!(server.identity_request_count(), 1);
        assert_eq!(server.connection_count(), 1);
        assert_eq!(server.write_count(), 0);
        server.stop().await;
    }

    #[tokio::test]
    async fn exception_is_returned_and_keeps_the_connection() {
        let server = sim(sample_image()).await;
        let mut t = transport(server.local_addr());
        let err = t.read(Area::Holding, 2, 3).await.unwrap_err();
        assert!(matches!(err, TransportError::Exception { code: 2, .. }), "{err}");
        assert_eq!(err.bad_reason(), BadReason::Exception(2));
        assert!(err.to_string().contains("dev-a"), "{err}");
        assert!(t.is_connected());
        assert_eq!(t.read(Area::Holding, 4, 1).await.unwrap(), RawRead::Registers(vec![9]));
        assert_eq!(server.connection_count(), 1);
        server.stop().await;
    }

    #[tokio::test]
    async fn identity_modes() {
        let cases = [
            ("exception 01 means unsupported", SimIdentity::Unsupported, 1),
            // The silent device costs one timeout and one reconnect, once.
            ("silence means unsupported", SimIdentity::Silent, 2),
        ];
        for (name, identity, connections) in cases {
            let mut image = sample_image();
            image.identity = identity;
            let server = sim(image).await;
            let mut t = transport(server.local_addr());
            assert_eq!(t.read(Area::Holding, 4, 1).await.unwrap(), RawRead::Registers(vec![9]));
            assert_eq!(t.identity(), Some(&DeviceIdentity::Unsupported), "{name}");
            assert_eq!(server.connection_count(), connections, "{name}");
            assert_eq!(server.identity_request_count(), 1, "{name}");
            server.stop().await;
        }
    }

    #[tokio::test]
    async fn silent_identity_is_not_asked_again_after_reconnect() {
        let mut image = sample_image();
        image.identity = SimIdentity::Silent;
        let server = sim(image).await;
        let mut t = transport(server.local_addr());
        t.read(Area::Holding, 4, 1).await.unwrap();
        t.close().await;
        assert!(t.identity().is_none());
        t.read(Area::Holding, 4, 1).await.unwrap();
        assert_eq!(server.identity_request_count(), 1);
        assert_eq!(server.connection_count(), 3);
        server.stop().await;
    }

    #[tokio::test]
    async fn closed_port_fails_to_connect_then_fails_fast_in_backoff() {
        let addr = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap()
        };
        let mut t = transport(addr);
        t.timeout = Duration::from_secs(30);
        let err = t.read(Area::Holding, 0, 1).await.unwrap_err();
        // A refused connection, not a timeout: it came back before the 30 s timeout.
        assert!(matches!(err, TransportError::Connect { .. }), "{err}");
        assert_eq!(err.bad_reason(), BadReason::Disconnected);
        assert!(t.backoff_delay().is_some());
        let err = t.read(Area::Holding, 0, 1).await.unwrap_err();
        assert!(matches!(err, TransportError::Backoff { .. }), "{err}");
        assert_eq!(err.bad_reason(), BadReason::Disconnected);
    }

    #[tokio::test]
    async fn backoff_does_not_touch_the_network() {
        // A device that accepts and hangs up at once.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        let mut t = transport(addr);
        let err = t.read(Area::Input, 0, 1).await.unwrap_err();
        assert_eq!(err.bad_reason(), BadReason::Disconnected, "{err}");
        assert!(!t.is_connected());
        for _ in 0..5 {
            let err = t.read(Area::Input, 0, 1).await.unwrap_err();
            assert!(matches!(err, TransportError::Backoff { .. }), "{err}");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        task.abort();
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        // Accepts TCP, never reads, never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let mut t = transport(addr);
        let err = t.read(Area::Holding, 0, 1).await.unwrap_err();
        assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
        assert_eq!(err.bad_reason(), BadReason::Timeout);
        assert!(!t.is_connected());
        assert!(t.backoff_delay().is_some());
        task.abort();
    }

    #[tokio::test]
    async fn reconnects_after_the_device_comes_back() {
        let image = Arc::new(Mutex::new(sample_image()));
        let server = SimServer::start("127.0.0.1:0".parse().unwrap(), image.clone()).await.unwrap();
        let addr = server.local_addr();
        let mut t = transport(addr);
        t.backoff = |_| Duration::ZERO;
        t.read(Area::Holding, 4, 1).await.unwrap();
        server.stop().await;
        let err = t.read(Area::Holding, 4, 1).await.unwrap_err();
        assert_eq!(err.bad_reason(), BadReason::Disconnected, "{err}");
        assert!(t.identity().is_none());

        let server = SimServer::start(addr, image).await.unwrap();
        assert_eq!(t.read(Area::Holding, 4, 1).await.unwrap(), RawRead::Registers(vec![9]));
        assert_eq!(server.identity_request_count(), 1, "identity is read again per connection");
        assert!(t.identity().is_some());
        server.stop().await;
    }

    #[tokio::test]
    async fn invalid_requests_never_reach_the_network() {
        let mut t =
            Transport::new(Arc::from("dev-a"), "unresolvable.invalid:502".into(), 1, TIMEOUT);
        let cases = [
            ("zero registers", Area::Holding, 0, 0),
            ("126 registers", Area::Input, 0, 126),
            ("2001 bits", Area::Coil, 0, 2001),
            ("past 65535", Area::Holding, 65535, 2),
        ];
        for (name, area, start, count) in cases {
            let err = t.read(area, start, count).await.unwrap_err();
            assert!(matches!(err, TransportError::InvalidRequest { .. }), "{name}: {err}");
        }
        assert!(t.backoff_delay().is_none());
    }

    /// What the hand-written device does with one request PDU.
    enum Reply {
        Pdu(Vec<u8>),
        /// Bytes written as they are, header included.
        Raw(Vec<u8>),
        Close,
    }

    /// A device speaking raw Modbus TCP frames, answering FC 43 with exception 01 and every
    /// other request with `respond`.
    async fn raw_device(respond: fn(&[u8]) -> Reply) -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    loop {
                        let mut header = [0u8; 7];
                        if stream.read_exact(&mut header).await.is_err() {
                            return;
                        }
                        let len = usize::from(u16::from_be_bytes([header[4], header[5]]));
                        let mut pdu = vec![0u8; len.saturating_sub(1)];
                        if stream.read_exact(&mut pdu).await.is_err() {
                            return;
                        }
                        let reply = if pdu.first() == Some(&0x2B) {
                            Reply::Pdu(vec![0xAB, 0x01])
                        } else {
                            respond(&pdu)
                        };
                        let frame = match reply {
                            Reply::Pdu(body) => {
                                let mut f = header[..4].to_vec();
                                f.extend_from_slice(&(body.len() as u16 + 1).to_be_bytes());
                                f.push(header[6]);
                                f.extend(body);
                                f
                            }
                            Reply::Raw(bytes) => bytes,
                            Reply::Close => return,
                        };
                        if stream.write_all(&frame).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, task)
    }

    #[tokio::test]
    async fn malformed_answers_never_panic() {
        type Case = (&'static str, Area, u16, fn(&[u8]) -> Reply, BadReason, bool);
        let cases: [Case; 8] = [
            (
                "one register for two",
                Area::Holding,
                2,
                |_| Reply::Pdu(vec![3, 2, 0, 1]),
                BadReason::Malformed,
                true,
            ),
            (
                "125 registers for two",
                Area::Holding,
                2,
                |_| Reply::Pdu([vec![3, 250], vec![0; 250]].concat()),
                BadReason::Malformed,
                true,
            ),
            (
                "one byte for ten bits",
                Area::Coil,
                10,
                |_| Reply::Pdu(vec![1, 1, 0xFF]),
                BadReason::Malformed,
                true,
            ),
            (
                "odd register byte count",
                Area::Input,
                1,
                |_| Reply::Pdu(vec![4, 3, 0, 1, 2]),
                BadReason::Malformed,
                false,
            ),
            (
                "wrong function code",
                Area::Holding,
                1,
                |_| Reply::Pdu(vec![4, 2, 0, 1]),
                BadReason::Malformed,
                false,
            ),
            (
                "wrong protocol id",
                Area::Holding,
                1,
                |_| Reply::Raw(vec![0, 1, 0, 7, 0, 5, 1, 3, 2, 0, 1]),
                BadReason::Malformed,
                false,
            ),
            (
                "exception 04",
                Area::Discrete,
                1,
                |_| Reply::Pdu(vec![0x82, 4]),
                BadReason::Exception(4),
                true,
            ),
            ("hang-up", Area::Holding, 1, |_| Reply::Close, BadReason::Disconnected, false),
        ];
        for (name, area, count, respond, reason, still_connected) in cases {
            let (addr, task) = raw_device(respond).await;
            let mut t = transport(addr);
            let err = t.read(area, 0, count).await.unwrap_err();
            assert_eq!(err.bad_reason(), reason, "{name}: {err}");
            assert_eq!(t.is_connected(), still_connected, "{name}: {err}");
            assert_eq!(t.identity().is_some(), still_connected, "{name}");
            task.abort();
        }
    }

    #[test]
    fn backoff_doubles_to_the_cap_with_full_jitter() {
        let cases = [
            ("first failure, top of the range", 1, 1.0, BACKOFF_BASE),
            ("first failure, bottom of the range", 1, 0.0, Duration::ZERO),
            ("second failure doubles", 2, 1.0, BACKOFF_BASE * 2),
            ("half-way jitter", 3, 0.5, BACKOFF_BASE * 2),
            ("capped", 9, 1.0, BACKOFF_CAP),
            ("no overflow after many failures", u32::MAX, 1.0, BACKOFF_CAP),
        ];
        for (name, failures, unit, want) in cases {
            assert_eq!(backoff_delay(failures, unit), want, "{name}");
        }
    }
}
