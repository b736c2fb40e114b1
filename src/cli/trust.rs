//! `edgeproof trust accept -c FILE --device NAME`: trust the certificate an OPC UA device
//! presents now. Under `first-use` it replaces the pin (after a PLC was re-installed or its
//! certificate renewed); under `pki` it copies the certificate into `trusted/` and removes it
//! from `rejected/`. Prints the old and new SHA-256 so the change is a conscious one.

use std::path::Path;
use std::process::ExitCode;

use edgeproof::config::{self, DeviceProtocol};
use edgeproof::source::opcua::identity::{self, sha256_hex};
use edgeproof::source::opcua::{session, trust, Trust};

/// Runs `trust accept`.
pub async fn accept(file: &Path, device: &str) -> ExitCode {
    let cfg = match config::load(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::EXIT_NEGATIVE);
        }
    };
    let Some(d) = cfg.devices.iter().find(|d| &*d.name == device) else {
        eprintln!("error: no device {device:?} in {}", file.display());
        return ExitCode::from(super::EXIT_NEGATIVE);
    };
    let DeviceProtocol::OpcUa(o) = &d.protocol else {
        eprintln!("error: device {device:?} is {}, not opcua", d.protocol_name());
        return ExitCode::from(super::EXIT_NEGATIVE);
    };
    let result = async {
        let id = identity::ensure(&o.pki_dir)?;
        let client = session::client(o, &id).map_err(|reason| {
            edgeproof::source::opcua::OpcUaError::Session {
                device: device.to_string(),
                endpoint: o.endpoint.clone(),
                reason,
            }
        })?;
        let offered = session::endpoints(device, o, &client).await?;
        session::select(device, o, &offered)
    }
    .await;
    let endpoint = match result {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::EXIT_CANNOT_RUN);
        }
    };
    let der = endpoint.server_certificate.as_ref();
    if der.is_empty() {
        eprintln!("error: {} publishes no server certificate", o.endpoint);
        return ExitCode::from(super::EXIT_NEGATIVE);
    }
    let written = match o.trust {
        Trust::FirstUse => {
            let old = std::fs::read(trust::pin_path(&o.pki_dir, device)).ok();
            match &old {
                Some(old) if old == der => {
                    println!(
                        "{device}: the server certificate (sha256 {}) is already pinned",
                        sha256_hex(der)
                    );
                    return ExitCode::SUCCESS;
                }
                Some(old) => println!("{device}: replacing pin sha256 {}", sha256_hex(old)),
                None => println!("{device}: no pin yet"),
            }
            trust::pin(&o.pki_dir, device, der)
        }
        Trust::Pki => trust::trust_pki(&o.pki_dir, der),
    };
    match written {
        Ok(path) => {
            println!("{device}: trusted sha256 {} ({})", sha256_hex(der), path.display());
            println!("a running agent picks it up at its next reconnect attempt");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(super::EXIT_CANNOT_RUN)
        }
    }
}
