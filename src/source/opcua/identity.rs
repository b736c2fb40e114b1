//! The agent's application instance certificate: generated on first use under
//! `data_dir/pki/own/cert.der` (key in `data_dir/pki/private/private.pem`) and reused
//! afterwards, so a server that trusted it once keeps trusting it. `check` prints its path and
//! thumbprint so an integrator can add it to a PLC's trust list before the first run.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use opcua::crypto::{CertificateStore, X509Data, X509};
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
        for dir in [cert_path.parent(), key_path.parent()].into_iter().flatten() {
            std::fs::create_dir_all(dir).map_err(|source| OpcUaError::Pki {
                what: "cannot create",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let description = ApplicationDescription {
            application_uri: APPLICATION_URI.into(),
            application_name: LocalizedText::new("", APPLICATION_NAME),
            application_type: ApplicationType::Client,
            ..Default::default()
        };
        let mut data = X509Data::from(description);
        data.certificate_duration_days = CERT_DAYS;
        CertificateStore::create_certificate_and_key(&data, true, &cert_path, &key_path)
            .map_err(|message| OpcUaError::Certificate { path: cert_path.clone(), message })?;
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
}
