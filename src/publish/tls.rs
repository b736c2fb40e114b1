//! The rustls client configuration for `mqtts://`: built once at start from the `[mqtt]`
//! files, so a missing or malformed file is a startup error that names the field and path.
//!
//! - Crypto is rustls' `ring` provider only, passed explicitly (no process-wide default
//!   provider is installed or relied on); protocol versions are TLS 1.3 and 1.2, named in
//!   [`PROTOCOL_VERSIONS`] rather than left to a library default: a broker offering only
//!   TLS 1.1 or older is refused (RFC 8996 deprecates both).
//! - The broker's certificate is always verified: against `mqtt.ca_file` when given, else
//!   against the system CA bundle (`SSL_CERT_FILE`, then the usual distribution paths).
//! - `mqtt.cert_file` + `mqtt.key_file` turn on client authentication (mTLS).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject as _};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{version, ClientConfig, RootCertStore, SupportedProtocolVersion};

use super::error::PublishError;
use crate::config::MqttConfig;

/// Where Linux distributions keep the CA bundle, most common first (Debian/Ubuntu/Alpine,
/// Fedora/RHEL, openSUSE, OpenWrt/macOS-style).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The TLS versions the agent speaks: 1.3 and 1.2, nothing older.
pub const PROTOCOL_VERSIONS: &[&SupportedProtocolVersion] = &[&version::TLS13, &version::TLS12];

/// Builds the client configuration for `cfg` (which must have `tls` set).
pub fn client_config(cfg: &MqttConfig) -> Result<Arc<ClientConfig>, PublishError> {
    let roots = roots("mqtt.ca_file", cfg.ca_file.as_deref())?;
    let builder = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(PublishError::TlsSetup)?
        .with_root_certificates(roots);
    let config = match (&cfg.cert_file, &cfg.key_file) {
        (Some(cert), Some(key)) => {
            let chain = read_certs("mqtt.cert_file", cert)?;
            let private_key = read_key(key)?;
            builder.with_client_auth_cert(chain, private_key).map_err(|source| {
                PublishError::ClientAuth { cert: cert.clone(), key: key.clone(), source }
            })?
        }
        // Config validation rejects one without the other; without both there is no mTLS.
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The trust anchors for a TLS client: the certificates of `ca_file` (named `field` in
/// errors) when given, else the system CA bundle.
pub(crate) fn roots(
    field: &'static str,
    ca_file: Option<&Path>,
) -> Result<RootCertStore, PublishError> {
    match ca_file {
        Some(path) => ca_file_roots(field, path),
        None => system_roots(),
    }
}

fn ca_file_roots(field: &'static str, path: &Path) -> Result<RootCertStore, PublishError> {
    let certs = read_certs(field, path)?;
    let found = certs.len();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(PublishError::NoUsableCa { path: path.to_path_buf(), found });
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, PublishError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("SSL_CERT_FILE") {
        candidates.push(PathBuf::from(p));
    }
    candidates.extend(SYSTEM_BUNDLES.iter().map(PathBuf::from));
    for path in &candidates {
        // A candidate that is missing or unusable is simply not this system's bundle.
        if let Ok(certs) = read_certs("system CA bundle", path) {
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(certs);
            if added > 0 {
                tracing::debug!(bundle = %path.display(), added, "loaded system CA bundle for TLS");
                return Ok(roots);
            }
        }
    }
    let tried = candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    Err(PublishError::NoSystemRoots { tried })
}

/// Every certificate in a PEM file, in order (rustls-pki-types' PEM reader).
pub fn pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, std::io::Error> {
    CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file; `Ok(None)` when it has none.
pub fn pem_private_key(path: &Path) -> Result<Option<PrivateKeyDer<'static>>, std::io::Error> {
    match PrivateKeyDer::from_pem_file(path) {
        Ok(key) => Ok(Some(key)),
        Err(pem::Error::NoItemsFound) => Ok(None),
        Err(e) => Err(pem_error(e)),
    }
}

fn pem_error(e: pem::Error) -> std::io::Error {
    match e {
        pem::Error::Io(io) => io,
        other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
    }
}

fn read_certs(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, PublishError> {
    let certs = pem_certs(path).map_err(|source| PublishError::TlsFile {
        field,
        path: path.to_path_buf(),
        source,
    })?;
    if certs.is_empty() {
        return Err(PublishError::NoCertificate { field, path: path.to_path_buf() });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, PublishError> {
    let field = "mqtt.key_file";
    pem_private_key(path)
        .map_err(|source| PublishError::TlsFile { field, path: path.to_path_buf(), source })?
        .ok_or_else(|| PublishError::NoPrivateKey { path: path.to_path_buf() })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::config::MqttProtocol;

    /// A CA, a server certificate for 127.0.0.1/localhost and a client certificate, all
    /// written as PEM files into a temp dir (kept alive by the struct).
    pub(crate) struct Pki {
        pub dir: tempfile::TempDir,
        pub ca: PathBuf,
        pub server_cert: PathBuf,
        pub server_key: PathBuf,
        pub client_cert: PathBuf,
        pub client_key: PathBuf,
        pub other_ca: PathBuf,
    }

    impl Pki {
        pub(crate) fn generate() -> Pki {
            use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
            let dir = tempfile::tempdir().unwrap();
            let write = |name: &str, text: String| {
                let p = dir.path().join(name);
                std::fs::write(&p, text).unwrap();
                p
            };
            // Every certificate gets its own subject: OpenSSL (mosquitto) takes a certificate
            // whose subject equals its issuer for self-signed, and two CAs with one name make
            // rustls report a bad signature instead of an unknown issuer.
            let params = |sans: Vec<String>, cn: &str, ca: bool| {
                let mut p = CertificateParams::new(sans).unwrap();
                p.distinguished_name.push(DnType::CommonName, cn);
                if ca {
                    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                }
                p
            };

            let ca_key = KeyPair::generate().unwrap();
            let ca_params = params(vec![], "edgeproof test CA", true);
            let ca_cert = ca_params.self_signed(&ca_key).unwrap();
            let issuer = Issuer::new(ca_params, ca_key);

            let server_key = KeyPair::generate().unwrap();
            let server_cert =
                params(vec!["127.0.0.1".into(), "localhost".into()], "test broker", false)
                    .signed_by(&server_key, &issuer)
                    .unwrap();
            let client_key = KeyPair::generate().unwrap();
            let client_cert = params(vec!["gw-test".into()], "gw-test", false)
                .signed_by(&client_key, &issuer)
                .unwrap();

            let other_key = KeyPair::generate().unwrap();
            let other_ca = params(vec![], "some other CA", true).self_signed(&other_key).unwrap();

            Pki {
                ca: write("ca.pem", ca_cert.pem()),
                server_cert: write("server.pem", server_cert.pem()),
                server_key: write("server.key", server_key.serialize_pem()),
                client_cert: write("client.pem", client_cert.pem()),
                client_key: write("client.key", client_key.serialize_pem()),
                other_ca: write("other-ca.pem", other_ca.pem()),
                dir,
            }
        }
    }

    pub(crate) fn mqtt_config(host: &str, port: u16) -> MqttConfig {
        MqttConfig {
            host: host.to_string(),
            port,
            tls: false,
            client_id: "gw-test".to_string(),
            username: None,
            password: None,
            password_file: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            protocol: MqttProtocol::V311,
            topic_prefix: "edgeproof/gw-test".to_string(),
            keep_alive: Duration::from_secs(30),
            max_inflight: 100,
        }
    }

    fn tls_config(ca: Option<&Path>, cert: Option<&Path>, key: Option<&Path>) -> MqttConfig {
        MqttConfig {
            tls: true,
            ca_file: ca.map(Path::to_path_buf),
            cert_file: cert.map(Path::to_path_buf),
            key_file: key.map(Path::to_path_buf),
            ..mqtt_config("127.0.0.1", 8883)
        }
    }

    #[test]
    fn builds_from_generated_pem_files() {
        let pki = Pki::generate();
        let cases = [
            ("server verification with ca_file", tls_config(Some(&pki.ca), None, None), false),
            (
                "mutual TLS",
                tls_config(Some(&pki.ca), Some(&pki.client_cert), Some(&pki.client_key)),
                true,
            ),
        ];
        for (case, cfg, mtls) in cases {
            let c = client_config(&cfg).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(c.client_auth_cert_resolver.has_certs(), mtls, "{case}");
        }
    }

    /// rustls has no TLS below 1.2 at all; naming the versions keeps a future default
    /// (or a feature flag) from widening them unnoticed. The handshake with a TLS 1.1-only
    /// server is refused in `tests/mqtt_tls.rs`.
    #[test]
    fn speaks_tls_1_3_and_1_2_only() {
        use tokio_rustls::rustls::ProtocolVersion;
        let versions: Vec<ProtocolVersion> = PROTOCOL_VERSIONS.iter().map(|v| v.version).collect();
        assert_eq!(versions, [ProtocolVersion::TLSv1_3, ProtocolVersion::TLSv1_2]);
    }

    #[test]
    fn system_roots_used_without_ca_file() {
        // The test machine has a CA bundle at one of the usual paths.
        if SYSTEM_BUNDLES.iter().any(|p| Path::new(p).exists()) {
            client_config(&tls_config(None, None, None)).unwrap();
        }
    }

    #[test]
    fn bad_files_name_field_and_path() {
        let pki = Pki::generate();
        let empty = pki.dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let missing = pki.dir.path().join("missing.pem");
        let cases: Vec<(&str, MqttConfig, &str)> = vec![
            ("missing ca_file", tls_config(Some(&missing), None, None), "mqtt.ca_file"),
            ("empty ca_file", tls_config(Some(&empty), None, None), "no PEM certificate found"),
            (
                "key given as ca_file",
                tls_config(Some(&pki.client_key), None, None),
                "no PEM certificate found",
            ),
            (
                "missing key_file",
                tls_config(Some(&pki.ca), Some(&pki.client_cert), Some(&missing)),
                "mqtt.key_file",
            ),
            (
                "certificate given as key_file",
                tls_config(Some(&pki.ca), Some(&pki.client_cert), Some(&pki.client_cert)),
                "no PEM private key found",
            ),
            (
                "cert and key that do not belong together",
                tls_config(Some(&pki.ca), Some(&pki.client_cert), Some(&pki.server_key)),
                "mqtt.cert_file",
            ),
        ];
        for (case, cfg, want) in cases {
            let err = client_config(&cfg).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains(want), "{case}: {err}");
        }
    }
}
