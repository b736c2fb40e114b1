//! The service manager's notification protocol (sd_notify(3)), without libsystemd: a state
//! string such as `READY=1` sent as one datagram to the Unix socket named by `$NOTIFY_SOCKET`.
//!
//! `$NOTIFY_SOCKET` is either a path (`/run/systemd/notify`) or, when it starts with `@`, a name
//! in Linux's abstract socket namespace (`@/org/freedesktop/systemd1/notify/…`), where the `@`
//! stands for the leading NUL byte. Other forms (systemd ≥ 254's `vsock:`) are refused with
//! [`NotifyError::Unsupported`]. `$WATCHDOG_USEC` carries the watchdog period, meant for us only
//! when `$WATCHDOG_PID` is unset or is our pid.
//!
//! Sends never block: the socket is non-blocking, and a full queue on the manager's side is a
//! lost notification (logged by the caller), not a stalled agent.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Why a notification could not be sent, or the socket not be used.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// `$NOTIFY_SOCKET` names an address family this implementation does not speak.
    #[error("NOTIFY_SOCKET={0:?}: only a socket path or an @abstract name is supported")]
    Unsupported(String),
    /// The address is not a valid Unix socket address (too long, NUL inside).
    #[error("NOTIFY_SOCKET={socket:?}: {source}")]
    Address {
        /// `$NOTIFY_SOCKET` as given.
        socket: String,
        /// Why the address was refused.
        source: std::io::Error,
    },
    /// Creating the socket or sending the datagram failed.
    #[error("sending {state:?} to NOTIFY_SOCKET={socket:?}: {source}")]
    Send {
        /// `$NOTIFY_SOCKET` as given.
        socket: String,
        /// The state string that was not delivered.
        state: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A connection-less sender to the service manager's notification socket.
#[derive(Debug)]
pub struct Notifier {
    socket_name: String,
    addr: SocketAddr,
    socket: UnixDatagram,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` asks for; `Ok(None)` when the variable is unset or empty
    /// (not started by a service manager, or `Type=` is not `notify`).
    pub fn from_env() -> Result<Option<Notifier>, NotifyError> {
        match std::env::var("NOTIFY_SOCKET") {
            Ok(s) if !s.is_empty() => Notifier::new(&s).map(Some),
            _ => Ok(None),
        }
    }

    /// A notifier for the socket `name`, spelled as in `$NOTIFY_SOCKET`.
    pub fn new(name: &str) -> Result<Notifier, NotifyError> {
        let addr = parse_address(name)?;
        let socket = UnixDatagram::unbound()
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(|source| NotifyError::Send {
                socket: name.to_string(),
                state: String::new(),
                source,
            })?;
        Ok(Notifier { socket_name: name.to_string(), addr, socket })
    }

    /// Sends one state string, e.g. `"READY=1\nSTATUS=polling 3 devices"`.
    pub fn send(&self, state: &str) -> Result<(), NotifyError> {
        match self.socket.send_to_addr(state.as_bytes(), &self.addr) {
            Ok(_) => Ok(()),
            Err(source) => Err(NotifyError::Send {
                socket: self.socket_name.clone(),
                state: state.to_string(),
                source,
            }),
        }
    }

    /// `$NOTIFY_SOCKET` as given.
    pub fn socket_name(&self) -> &str {
        &self.socket_name
    }
}

fn parse_address(name: &str) -> Result<SocketAddr, NotifyError> {
    let bad = |source| NotifyError::Address { socket: name.to_string(), source };
    if let Some(abstract_name) = name.strip_prefix('@') {
        return abstract_address(abstract_name.as_bytes()).map_err(bad);
    }
    if name.starts_with('/') {
        return SocketAddr::from_pathname(name).map_err(bad);
    }
    Err(NotifyError::Unsupported(name.to_string()))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_address(name: &[u8]) -> std::io::Result<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_address(_name: &[u8]) -> std::io::Result<SocketAddr> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract socket names exist only on Linux",
    ))
}

/// The watchdog period the service manager expects pings within (`WatchdogSec=`), from
/// `$WATCHDOG_USEC`; `None` when no watchdog is configured or it is meant for another process.
pub fn watchdog_period_from_env() -> Option<Duration> {
    watchdog_period(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

/// [`watchdog_period_from_env`] on given values: sd_watchdog_enabled(3)'s rules.
fn watchdog_period(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    if let Some(pid) = pid.filter(|p| !p.is_empty()) {
        if pid.trim().parse::<u32>().ok()? != own_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_period_follows_sd_watchdog_enabled() {
        let s = |n| Some(Duration::from_secs(n));
        // (case, WATCHDOG_USEC, WATCHDOG_PID, expected period) with our pid being 42.
        type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<Duration>);
        let cases: &[Case] = &[
            ("unset", None, None, None),
            ("30 s for any pid", Some("30000000"), None, s(30)),
            ("30 s for us", Some("30000000"), Some("42"), s(30)),
            ("for another process", Some("30000000"), Some("7"), None),
            ("zero is off", Some("0"), None, None),
            ("garbage", Some("thirty"), None, None),
            ("bad pid", Some("1000000"), Some("x"), None),
        ];
        for (case, usec, pid, want) in cases {
            assert_eq!(watchdog_period(*usec, *pid, 42), *want, "{case}");
        }
    }

    #[test]
    fn addresses_path_abstract_and_refused() {
        assert!(parse_address("/run/systemd/notify").is_ok(), "path");
        assert!(parse_address("@/org/freedesktop/systemd1/notify/1").is_ok(), "abstract");
        assert!(matches!(parse_address("vsock:2:1234"), Err(NotifyError::Unsupported(_))));
        assert!(matches!(parse_address("relative/path"), Err(NotifyError::Unsupported(_))));
        let long = format!("/{}", "x".repeat(200));
        assert!(matches!(parse_address(&long), Err(NotifyError::Address { .. })), "too long");
    }

    #[test]
    fn datagrams_reach_a_bound_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(path.to_str().unwrap()).unwrap();
        n.send("READY=1\nSTATUS=up").unwrap();
        let mut buf = [0u8; 64];
        let len = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=up");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn datagrams_reach_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("edgeproof-test-{}-{}", std::process::id(), fastrand::u64(..));
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier::new(&format!("@{name}")).unwrap();
        n.send("WATCHDOG=1").unwrap();
        let mut buf = [0u8; 16];
        let len = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }

    #[test]
    fn sending_to_nobody_is_an_error_naming_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone");
        let n = Notifier::new(path.to_str().unwrap()).unwrap();
        let e = n.send("READY=1").unwrap_err().to_string();
        assert!(e.contains("gone") && e.contains("READY=1"), "{e}");
    }
}
