//! Turns a rumqttc connection error into ONE line that names the broker, the cause and, where
//! the cause is usually a config mistake, the field to check. rumqttc nests the interesting
//! part (a rustls certificate error, a refused CONNECT) several wrappers deep; the operator
//! should not have to read a `Debug` dump.

use std::error::Error as StdError;
use std::io;

use rumqttc::{ConnectReturnCode, ConnectionError, StateError, TlsError};
use tokio_rustls::rustls::{self, AlertDescription, CertificateError};

/// What [`describe`] needs to know about the configured broker.
#[derive(Debug, Clone)]
pub struct BrokerContext {
    /// `host:port`, as logged.
    pub addr: String,
    /// The host part of `mqtt.url`.
    pub host: String,
    /// Whether `mqtt.ca_file` is set (decides the hint for an untrusted broker certificate).
    pub has_ca_file: bool,
}

/// One line describing why the connection to the broker failed or ended.
pub fn describe(err: &ConnectionError, ctx: &BrokerContext) -> String {
    let addr = &ctx.addr;
    if let Some(tls) = find_rustls_error(err) {
        return format!("TLS handshake with broker {addr} failed: {tls}{}", tls_hint(tls, ctx));
    }
    match err {
        ConnectionError::ConnectionRefused(code) => {
            let why = match code {
                ConnectReturnCode::RefusedProtocolVersion => {
                    "it does not accept MQTT 3.1.1".to_string()
                }
                ConnectReturnCode::BadClientId => {
                    "client id rejected — check mqtt.client_id".to_string()
                }
                ConnectReturnCode::ServiceUnavailable => "service unavailable".to_string(),
                ConnectReturnCode::BadUserNamePassword => "bad user name or password — check \
                     mqtt.username and mqtt.password / mqtt.password_file"
                    .to_string(),
                ConnectReturnCode::NotAuthorized => "not authorized — check the broker's access \
                     rules for this client id and user"
                    .to_string(),
                other => format!("{other:?}"),
            };
            format!("broker {addr} refused the connection: {why}")
        }
        ConnectionError::NetworkTimeout => {
            format!("connecting to broker {addr} timed out")
        }
        ConnectionError::FlushTimeout => format!("sending to broker {addr} timed out"),
        ConnectionError::NotConnAck(packet) => {
            format!("broker {addr} answered CONNECT with {packet:?} instead of CONNACK")
        }
        ConnectionError::RequestsDone => {
            format!("connection to broker {addr} closed: the client's request channel ended")
        }
        ConnectionError::Io(e) => describe_io(e, addr),
        ConnectionError::Tls(TlsError::Io(e)) => describe_io(e, addr),
        ConnectionError::Tls(TlsError::DNSName(_)) => format!(
            "cannot start TLS with broker {addr}: host {:?} in mqtt.url is not a valid TLS \
             server name",
            ctx.host
        ),
        ConnectionError::Tls(e) => format!("TLS with broker {addr} failed: {e}"),
        ConnectionError::MqttState(state) => match state {
            StateError::Io(e) => describe_io(e, addr),
            StateError::Deserialization(rumqttc::Error::Io(e)) => describe_io(e, addr),
            StateError::ConnectionAborted => format!("broker {addr} closed the connection"),
            StateError::AwaitPingResp => {
                format!("broker {addr} did not answer the keep-alive ping in time")
            }
            StateError::CollisionTimeout => format!(
                "broker {addr} did not acknowledge an earlier message in time (packet id \
                 collision)"
            ),
            StateError::Unsolicited(pkid) => format!(
                "broker {addr} acknowledged packet id {pkid}, which was not in flight (protocol \
                 error)"
            ),
            other => format!("MQTT protocol error with broker {addr}: {other}"),
        },
        #[allow(unreachable_patterns)] // websocket/proxy variants are compiled out here
        other => format!("connection to broker {addr} failed: {other}"),
    }
}

fn describe_io(e: &io::Error, addr: &str) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => format!(
            "broker {addr} refused the TCP connection (is it running and listening on that port?)"
        ),
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => format!("broker {addr} closed the connection ({e})"),
        io::ErrorKind::TimedOut => format!("connection to broker {addr} timed out ({e})"),
        _ => format!("cannot talk to broker {addr}: {e}"),
    }
}

/// What to check when `err` (a handshake error, e.g. from tokio-rustls) holds a rustls error
/// with a known cause: the hint [`describe`] appends, or `None`.
pub fn tls_hint_of(err: &(dyn StdError + 'static), ctx: &BrokerContext) -> Option<String> {
    find_rustls_error(err).map(|tls| tls_hint(tls, ctx)).filter(|hint| !hint.is_empty())
}

/// rustls errors travel inside `io::Error`s (tokio-rustls), whose `source()` skips the
/// wrapped error itself, so both links are followed: `source()` and `io::Error::get_ref`.
fn find_rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut next: Option<&'a (dyn StdError + 'static)> = Some(err);
    let mut depth = 0;
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            if let Some(tls) = find_rustls_error(inner) {
                return Some(tls);
            }
        }
        depth += 1;
        next = if depth < 16 { e.source() } else { None };
    }
    None
}

fn tls_hint(err: &rustls::Error, ctx: &BrokerContext) -> String {
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer
            | CertificateError::BadSignature
            | CertificateError::UnhandledCriticalExtension
            | CertificateError::BadEncoding => {
                if ctx.has_ca_file {
                    " — check mqtt.ca_file (it must hold the CA that signed the broker's \
                     certificate)"
                        .to_string()
                } else {
                    " — the system CA bundle does not trust the broker's certificate; set \
                     mqtt.ca_file to the CA that signed it"
                        .to_string()
                }
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    " — the broker's certificate is not issued for {:?}; connect by a name it \
                     carries in mqtt.url",
                    ctx.host
                )
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => {
                " — check the broker certificate's validity dates and the gateway's clock"
                    .to_string()
            }
            _ => String::new(),
        },
        rustls::Error::AlertReceived(AlertDescription::ProtocolVersion)
        | rustls::Error::PeerIncompatible(_) => " — the broker offers no TLS version edgeproof \
              speaks (1.2 or 1.3); TLS 1.1 and older are refused: enable TLS 1.2 on the broker"
            .to_string(),
        rustls::Error::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::CertificateRequired
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied,
        ) => " — the broker rejected the gateway's client certificate; check mqtt.cert_file \
              and mqtt.key_file"
            .to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(has_ca_file: bool) -> BrokerContext {
        BrokerContext {
            addr: "127.0.0.1:8883".to_string(),
            host: "127.0.0.1".to_string(),
            has_ca_file,
        }
    }

    fn tls_io(e: rustls::Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn one_line_per_cause() {
        let unknown_issuer = || rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let cases: Vec<(&str, ConnectionError, bool, &str)> = vec![
            (
                "untrusted broker certificate with ca_file",
                ConnectionError::Tls(TlsError::Io(tls_io(unknown_issuer()))),
                true,
                "TLS handshake with broker 127.0.0.1:8883 failed: invalid peer certificate: \
                 UnknownIssuer — check mqtt.ca_file (it must hold the CA that signed the \
                 broker's certificate)",
            ),
            (
                "untrusted broker certificate with system roots",
                ConnectionError::Tls(TlsError::Io(tls_io(unknown_issuer()))),
                false,
                "TLS handshake with broker 127.0.0.1:8883 failed: invalid peer certificate: \
                 UnknownIssuer — the system CA bundle does not trust the broker's \
                 certificate; set mqtt.ca_file to the CA that signed it",
            ),
            (
                "wrong name",
                ConnectionError::Tls(TlsError::Io(tls_io(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName,
                )))),
                true,
                "TLS handshake with broker 127.0.0.1:8883 failed: invalid peer certificate: \
                 NotValidForName — the broker's certificate is not issued for \"127.0.0.1\"; \
                 connect by a name it carries in mqtt.url",
            ),
            (
                "client certificate rejected, seen on the first read after the handshake",
                ConnectionError::MqttState(StateError::Deserialization(rumqttc::Error::Io(
                    tls_io(rustls::Error::AlertReceived(AlertDescription::CertificateRequired)),
                ))),
                true,
                "TLS handshake with broker 127.0.0.1:8883 failed: received fatal alert: \
                 CertificateRequired — the broker rejected the gateway's client certificate; \
                 check mqtt.cert_file and mqtt.key_file",
            ),
            (
                "broker down",
                ConnectionError::Io(io::Error::from(io::ErrorKind::ConnectionRefused)),
                true,
                "broker 127.0.0.1:8883 refused the TCP connection (is it running and \
                 listening on that port?)",
            ),
            (
                "bad credentials",
                ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword),
                true,
                "broker 127.0.0.1:8883 refused the connection: bad user name or password — \
                 check mqtt.username and mqtt.password / mqtt.password_file",
            ),
            (
                "not authorized",
                ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized),
                true,
                "broker 127.0.0.1:8883 refused the connection: not authorized — check the \
                 broker's access rules for this client id and user",
            ),
            (
                "broker went away",
                ConnectionError::MqttState(StateError::ConnectionAborted),
                true,
                "broker 127.0.0.1:8883 closed the connection",
            ),
            (
                "keep-alive lost",
                ConnectionError::MqttState(StateError::AwaitPingResp),
                true,
                "broker 127.0.0.1:8883 did not answer the keep-alive ping in time",
            ),
            (
                "connect timeout",
                ConnectionError::NetworkTimeout,
                true,
                "connecting to broker 127.0.0.1:8883 timed out",
            ),
        ];
        for (case, err, has_ca_file, want) in cases {
            let got = describe(&err, &ctx(has_ca_file));
            assert_eq!(got, want, "{case}");
            assert!(!got.contains('\n'), "{case}: one line");
        }
    }
}
