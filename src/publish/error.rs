//! Errors that stop the publisher before it starts. Everything that can happen at run time
//! (broker down, TLS handshake refused, connection lost) is an event and a backoff instead,
//! described by [`super::diagnose`].

use std::io;
use std::path::PathBuf;

use tokio_rustls::rustls;

/// A publisher setup error: the `[mqtt]` section names something that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// MQTT 5 is parsed by the config but not implemented by the publisher.
    #[error("mqtt.protocol = v5 is not supported yet; remove it or set protocol = \"v311\"")]
    ProtocolV5Unsupported,
    /// `mqtt.password_file` could not be read.
    #[error("mqtt.password_file {}: cannot read it: {source}", path.display())]
    PasswordFile {
        /// The configured path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Both a password and a password file were given.
    #[error("mqtt.password and mqtt.password_file are both set; keep one")]
    PasswordTwice,
    /// A password without a user name cannot be sent in MQTT 3.1.1 (§3.1.2.9).
    #[error("mqtt.password is set but mqtt.username is not; MQTT 3.1.1 sends a password only with a user name")]
    PasswordWithoutUsername,
    /// A TLS file could not be read.
    #[error("{field} {}: cannot read it: {source}", path.display())]
    TlsFile {
        /// `mqtt.ca_file`, `mqtt.cert_file` or `mqtt.key_file`.
        field: &'static str,
        /// The configured path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A certificate file holds no PEM certificate.
    #[error("{field} {}: no PEM certificate found (expected a \"-----BEGIN CERTIFICATE-----\" block)", path.display())]
    NoCertificate {
        /// `mqtt.ca_file` or `mqtt.cert_file`.
        field: &'static str,
        /// The configured path.
        path: PathBuf,
    },
    /// The CA file holds certificates, but none is usable as a trust anchor.
    #[error("mqtt.ca_file {}: none of its {found} certificates can be used as a trust anchor", path.display())]
    NoUsableCa {
        /// The configured path.
        path: PathBuf,
        /// How many PEM certificates the file holds.
        found: usize,
    },
    /// The key file holds no private key rustls understands.
    #[error("mqtt.key_file {}: no PEM private key found (PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoPrivateKey {
        /// The configured path.
        path: PathBuf,
    },
    /// rustls refused the client certificate and key (e.g. they do not belong together).
    #[error("mqtt.cert_file {} / mqtt.key_file {}: {source}", cert.display(), key.display())]
    ClientAuth {
        /// The certificate path.
        cert: PathBuf,
        /// The key path.
        key: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// `mqtts://` without `ca_file` and no system CA bundle on this machine.
    #[error("mqtts:// without mqtt.ca_file needs the system CA bundle, but none was found (tried {tried}); set mqtt.ca_file")]
    NoSystemRoots {
        /// The paths looked at.
        tried: String,
    },
    /// rustls could not build a client configuration at all.
    #[error("cannot set up TLS: {0}")]
    TlsSetup(#[source] rustls::Error),
}
