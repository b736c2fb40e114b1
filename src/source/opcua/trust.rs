//! Whether a server's application instance certificate is trusted. Checked on the DER
//! certificate the server publishes in its endpoint description, before any session: the
//! secure channel then signs and encrypts with exactly that certificate, and async-opcua
//! refuses a CreateSession answer carrying another one.
//!
//! Folders under `data_dir/pki/`:
//!
//! | path | meaning |
//! |---|---|
//! | `pinned/<device>.der` | `first-use`: the certificate pinned for the device |
//! | `trusted/` | `pki`: certificates trusted by the integrator (async-opcua naming) |
//! | `rejected/` | `pki`: unknown certificates, written there to be moved to `trusted/` |
//!
//! Neither mode ever trusts silently: `first-use` trusts the first certificate it sees for a
//! device and refuses any other until `edgeproof trust accept` pins the new one.

use std::path::{Path, PathBuf};

use opcua::crypto::{CertificateStore, X509};

use super::error::OpcUaError;
use super::identity::sha256_hex;
use super::security::Trust;

/// How a trusted certificate came to be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trusted {
    /// It is the pinned one, or in `trusted/`.
    Known,
    /// `first-use` had no pin for the device; this certificate is now pinned.
    PinnedNow,
}

/// The pin file of `device`.
pub fn pin_path(pki_dir: &Path, device: &str) -> PathBuf {
    pki_dir.join("pinned").join(format!("{device}.der"))
}

/// The command that accepts a device's new certificate, for messages.
pub fn accept_command(device: &str) -> String {
    format!("edgeproof trust accept -c <config file> --device {device}")
}

/// Checks `der` against `trust` for `device`.
pub fn check(
    device: &str,
    trust: Trust,
    pki_dir: &Path,
    der: &[u8],
) -> Result<Trusted, OpcUaError> {
    match trust {
        Trust::FirstUse => check_pin(device, pki_dir, der),
        Trust::Pki => check_pki(device, pki_dir, der),
    }
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> OpcUaError + 'a {
    move |source| OpcUaError::Pki { what, path: path.to_path_buf(), source }
}

fn check_pin(device: &str, pki_dir: &Path, der: &[u8]) -> Result<Trusted, OpcUaError> {
    let path = pin_path(pki_dir, device);
    match std::fs::read(&path) {
        Ok(pinned) if pinned == der => Ok(Trusted::Known),
        Ok(pinned) => Err(OpcUaError::Untrusted {
            device: device.to_string(),
            message: format!(
                "the server certificate changed (sha256 {} was pinned at first use, the server \
                 now presents {}); refusing to connect. If the server was re-installed or its \
                 certificate renewed on purpose, accept the new one with `{}`",
                sha256_hex(&pinned),
                sha256_hex(der),
                accept_command(device)
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            pin(pki_dir, device, der)?;
            Ok(Trusted::PinnedNow)
        }
        Err(e) => Err(io("cannot read", &path)(e)),
    }
}

/// Pins `der` as the certificate of `device` (first use, or `trust accept`).
pub fn pin(pki_dir: &Path, device: &str, der: &[u8]) -> Result<PathBuf, OpcUaError> {
    let path = pin_path(pki_dir, device);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    }
    // Write then rename: a crash never leaves a half-written pin that refuses the server.
    let tmp = path.with_extension("der.tmp");
    std::fs::write(&tmp, der).map_err(io("cannot write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io("cannot write", &path))?;
    Ok(path)
}

/// The file name async-opcua gives `der` in `trusted/` and `rejected/`.
pub fn store_name(der: &[u8]) -> Result<String, String> {
    let cert = X509::from_der(der).map_err(|e| format!("not a DER certificate: {e}"))?;
    Ok(CertificateStore::cert_file_name(&cert))
}

fn check_pki(device: &str, pki_dir: &Path, der: &[u8]) -> Result<Trusted, OpcUaError> {
    let name = store_name(der).map_err(|e| OpcUaError::Untrusted {
        device: device.to_string(),
        message: format!("the server certificate is unusable: {e}"),
    })?;
    let trusted = pki_dir.join("trusted").join(&name);
    let rejected = pki_dir.join("rejected").join(&name);
    if trusted.exists() {
        return Ok(Trusted::Known);
    }
    let how = format!(
        "move it to {}/ or run `{}`",
        pki_dir.join("trusted").display(),
        accept_command(device)
    );
    if rejected.exists() {
        return Err(OpcUaError::Untrusted {
            device: device.to_string(),
            message: format!(
                "the server certificate (sha256 {}) is in {}; to trust it, {how}",
                sha256_hex(der),
                rejected.display()
            ),
        });
    }
    let dir = pki_dir.join("rejected");
    std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
    std::fs::write(&rejected, der).map_err(io("cannot write", &rejected))?;
    Err(OpcUaError::Untrusted {
        device: device.to_string(),
        message: format!(
            "the server certificate (sha256 {}) is not in the trusted folder; it was saved as {}; \
             to trust it, {how}",
            sha256_hex(der),
            rejected.display()
        ),
    })
}

/// Trusts `der` under `pki`: writes it to `trusted/` and removes it from `rejected/`.
pub fn trust_pki(pki_dir: &Path, der: &[u8]) -> Result<PathBuf, OpcUaError> {
    let name = store_name(der)
        .map_err(|message| OpcUaError::Certificate { path: pki_dir.join("trusted"), message })?;
    let dir = pki_dir.join("trusted");
    std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
    let path = dir.join(&name);
    std::fs::write(&path, der).map_err(io("cannot write", &path))?;
    let _ = std::fs::remove_file(pki_dir.join("rejected").join(&name));
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_use_pins_then_refuses_a_changed_certificate() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = dir.path();
        assert_eq!(check("m1", Trust::FirstUse, pki, b"cert-a").expect("pin"), Trusted::PinnedNow);
        assert_eq!(check("m1", Trust::FirstUse, pki, b"cert-a").expect("same"), Trusted::Known);
        let err = check("m1", Trust::FirstUse, pki, b"cert-b").expect_err("changed");
        let msg = err.to_string();
        assert!(msg.contains("changed") && msg.contains("edgeproof trust accept"), "{msg}");
        assert!(msg.contains("--device m1"), "{msg}");
        // Another device has its own pin.
        assert_eq!(check("m2", Trust::FirstUse, pki, b"cert-b").expect("pin"), Trusted::PinnedNow);
        pin(pki, "m1", b"cert-b").expect("accept");
        assert_eq!(check("m1", Trust::FirstUse, pki, b"cert-b").expect("accepted"), Trusted::Known);
    }
}
