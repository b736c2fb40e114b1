//! The files a config names that hold secrets (keys and passwords), and which of them other
//! users can read. `run` warns about each at start, `check` and `doctor` list them: a key
//! readable by group or others is a key other accounts on the gateway may copy.
//!
//! The evidence signing key is stricter: [`crate::evidence::GatewayKey::load`] refuses one
//! that is not 0600, so `run` stops instead of signing with a key others could have taken.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::settings::Config;
#[cfg(feature = "opcua")]
use super::settings::DeviceProtocol;
#[cfg(feature = "opcua")]
use crate::source::opcua::{identity, UserAuth};

/// A secret file that group or others may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposedFile {
    /// What it is, as the config names it: `mqtt.key_file`, `devices[2].password_file`, …
    pub what: String,
    /// The file.
    pub path: PathBuf,
    /// Its permission bits.
    pub mode: u32,
}

impl std::fmt::Display for ExposedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} has mode {:04o}: other users can read it; run `chmod 600 {}`",
            self.what,
            self.path.display(),
            self.mode,
            self.path.display()
        )
    }
}

/// Every file `cfg` names that holds a secret, with the config key naming it. Includes the
/// OPC UA client key the agent keeps under each OPC UA device's `data_dir/pki`.
pub fn secret_files(cfg: &Config) -> Vec<(String, PathBuf)> {
    let mut files = vec![("evidence.key_file".to_string(), cfg.evidence.key_file.clone())];
    if let Some(m) = &cfg.mqtt {
        files.extend(m.password_file.clone().map(|p| ("mqtt.password_file".to_string(), p)));
        files.extend(m.key_file.clone().map(|p| ("mqtt.key_file".to_string(), p)));
    }
    #[cfg(feature = "opcua")]
    for (i, d) in cfg.devices.iter().enumerate() {
        let DeviceProtocol::OpcUa(o) = &d.protocol else { continue };
        match &o.auth {
            UserAuth::Password { password_file: Some(p), .. } => {
                files.push((format!("devices[{i}].password_file"), p.clone()));
            }
            UserAuth::Certificate { key_file, .. } => {
                files.push((format!("devices[{i}].user_key_file"), key_file.clone()));
            }
            UserAuth::Password { password_file: None, .. } | UserAuth::Anonymous => {}
        }
        let (_, client_key) = identity::paths(&o.pki_dir);
        files.push(("OPC UA client key".to_string(), client_key));
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    files.dedup_by(|a, b| a.1 == b.1);
    files
}

/// The secret files of `cfg` that exist and that group or others may read. Files that do not
/// exist (yet) or cannot be examined are not listed: reading them fails later, by name.
pub fn exposed_secret_files(cfg: &Config) -> Vec<ExposedFile> {
    secret_files(cfg)
        .into_iter()
        .filter_map(|(what, path)| {
            let mode = std::fs::metadata(&path).ok()?.permissions().mode() & 0o777;
            (mode & 0o077 != 0).then_some(ExposedFile { what, path, mode })
        })
        .collect()
}
