//! The agent's application instance certificate: generated on first use under
//! `data_dir/pki/own/cert.der` (key in `data_dir/pki/private/private.pem`) and reused
//! afterwards, so a server that trusted it once keeps trusting it. `check` prints its path and
//! thumbprint so an integrator can add it to a PLC's trust list before the first run.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use opcua::crypto::{X509Data, X509};
use opcua::types::{ApplicationDescription, ApplicationType, LocalizedText};
use sha2::{Digest, Sha256};

use super::error::OpcUaError;

/// The ApplicationUri the agent presents; also the URI in its certificate.
pub const APPLICATION_URI: &str = "urn:edgeproof:agent";
/// The ApplicationName the agent presents.
pub const APPLICATION_NAME: &str = "edgeproof";
/// Ten years: a gateway runs unattended for years, and an expired client certificate is a
/// site visit.
const CERT_DAYS: u32 = 3650;

/// Serialises creation: several device tasks may start at once on a first run.
static CREATE: Mutex<()> = Mutex::new(());

/// The agent's certificate on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// DER certificate.
    pub cert_path: PathBuf,
    /// PEM private key.
    pub key_path: PathBuf,
    /// SHA-1 thumbprint, upper-case hex: what OPC UA servers show in their trust lists.
    pub thumbprint: String,
    /// SHA-256 of the DER certificate, lower-case hex.
    pub sha256: String,
    /// True when this call created it.
    pub created: bool,
}

/// Where the certificate and key live under `pki_dir`.
pub fn paths(pki_dir: &Path) -> (PathBuf, PathBuf) {
    (pki_dir.join("own").join("cert.der"), pki_dir.join("private").join("private.pem"))
}

/// Lower-case hex SHA-256 of `der`.
pub fn sha256_hex(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads the certificate under `pki_dir`, creating it (and the folders) first if missing.
pub fn ensure(pki_dir: &Path) -> Result<ClientIdentity, OpcUaError> {
    let _guard = CREATE.lock().unwrap_or_else(|p| p.into_inner());
    let (cert_path, key_path) = paths(pki_dir);
    let mut created = false;
    if !cert_path.exists() || !key_path.exists() {
        let pki_err = |what, path: &Path| {
            let path = path.to_path_buf();
            move |source| OpcUaError::Pki { what, path, source }
        };
        for (dir, mode) in [(cert_path.parent(), 0o755), (key_path.parent(), 0o700)] {
            if let Some(dir) = dir {
                DirBuilder::new()
                    .recursive(true)
                    .mode(mode)
                    .create(dir)
                    .map_err(pki_err("cannot create", dir))?;
            }
        }
        let description = ApplicationDescription {
            application_uri: APPLICATION_URI.into(),
            application_name: LocalizedText::new("", APPLICATION_NAME),
            application_type: ApplicationType::Client,
            ..Default::default()
        };
        let mut data = X509Data::from(description);
        data.certificate_duration_days = CERT_DAYS;
        let cert_err =
            |message: String| OpcUaError::Certificate { path: cert_path.clone(), message };
        // Not CertificateStore::create_certificate_and_key: it writes the private key with
        // the umask's mode (0644 as a rule), readable by every account on the gateway.
        let (cert, key) = X509::cert_and_pkey(&data).map_err(cert_err)?;
        let key_der = key.to_der().map_err(|e| cert_err(format!("cannot encode the key: {e}")))?;
        write_file(&key_path, pem("PRIVATE KEY", key_der.as_bytes()).as_bytes(), 0o600)
            .map_err(pki_err("cannot write", &key_path))?;
        let cert_der = cert.to_der().map_err(|e| cert_err(format!("cannot encode: {e}")))?;
        write_file(&cert_path, &cert_der, 0o644).map_err(pki_err("cannot write", &cert_path))?;
        created = true;
    }
    let der = std::fs::read(&cert_path).map_err(|source| OpcUaError::Pki {
        what: "cannot read",
        path: cert_path.clone(),
        source,
    })?;
    let cert = X509::from_der(&der).map_err(|e| OpcUaError::Certificate {
        path: cert_path.clone(),
        message: format!("not a DER certificate: {e}"),
    })?;
    Ok(ClientIdentity {
        thumbprint: cert.thumbprint().as_hex_string().to_uppercase(),
        sha256: sha256_hex(&der),
        cert_path,
        key_path,
        created,
    })
}

/// Writes `bytes` to `path` with exactly `mode` (set before the first byte is written, so a
/// key is never readable by others, not even for a moment), replacing what was there.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(path)?;
    // `mode` applies only to a new file, after the umask; an old file keeps its own.
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// PEM text (RFC 7468) of `der` under `label`.
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).unwrap_or_default());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = ensure(dir.path()).expect("create");
        assert!(first.created);
        assert_eq!(first.thumbprint.len(), 40);
        let again = ensure(dir.path()).expect("reuse");
        assert!(!again.created);
        assert_eq!(again.sha256, first.sha256);
    }

    /// The client key was written by the OPC UA library with the umask's mode, 0644 as a
    /// rule: readable by every account on the gateway.
    #[test]
    fn client_key_is_created_owner_only_and_loads() {
        let dir = tempfile::tempdir().expect("temp dir");
        let id = ensure(dir.path()).expect("create");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&id.key_path), 0o600);
        assert_eq!(mode(id.key_path.parent().unwrap()), 0o700);
        let key = opcua::crypto::PrivateKey::read_pem_file(&id.key_path).expect("PEM key loads");
        let cert = X509::from_der(&std::fs::read(&id.cert_path).unwrap()).unwrap();
        let public = cert.public_key().expect("public key of the certificate");
        let mut sig = vec![0u8; 256]; // a 2048-bit RSA key signs 256 bytes
        let n = key.sign_sha256(b"edgeproof", &mut sig).expect("sign");
        assert!(public.verify_sha256(b"edgeproof", &sig[..n]).expect("verify"), "not a pair");
    }
}
