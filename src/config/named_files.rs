//! The files a config names (passwords, keys, certificates): `check` makes sure each exists
//! and can be read by whoever runs it, so that a typo in a path shows up at commissioning and
//! not as a reconnect loop on the first night. Loading does not read them (`run` reads them
//! when it needs them, and names the file when it cannot).

use std::path::{Path, PathBuf};

use super::error::FieldError;
#[cfg(feature = "opcua")]
use super::settings::DeviceProtocol;
use super::settings::{Config, EvidenceMode};
#[cfg(feature = "opcua")]
use crate::source::opcua::UserAuth;

/// Every file `cfg` names, with the key naming it. The evidence key counts only when
/// `[evidence]` is present (without the section a missing key just means no evidence).
pub fn named_files(cfg: &Config) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    if let Some(m) = &cfg.mqtt {
        for (key, file) in [
            ("password_file", &m.password_file),
            ("ca_file", &m.ca_file),
            ("cert_file", &m.cert_file),
            ("key_file", &m.key_file),
        ] {
            files.extend(file.clone().map(|p| (format!("mqtt.{key}"), p)));
        }
    }
    #[cfg(feature = "opcua")]
    for (i, d) in cfg.devices.iter().enumerate() {
        let DeviceProtocol::OpcUa(o) = &d.protocol else { continue };
        match &o.auth {
            UserAuth::Password { password_file: Some(p), .. } => {
                files.push((format!("devices[{i}].password_file"), p.clone()));
            }
            UserAuth::Certificate { cert_file, key_file } => {
                files.push((format!("devices[{i}].user_cert_file"), cert_file.clone()));
                files.push((format!("devices[{i}].user_key_file"), key_file.clone()));
            }
            UserAuth::Password { password_file: None, .. } | UserAuth::Anonymous => {}
        }
    }
    if cfg.evidence.mode == EvidenceMode::On {
        files.push(("evidence.key_file".into(), cfg.evidence.key_file.clone()));
    }
    for (i, w) in cfg.evidence.witnesses.iter().enumerate() {
        files.extend(w.ca_file.clone().map(|p| (format!("evidence.witnesses[{i}].ca_file"), p)));
    }
    files
}

/// The named files that are missing, not regular files, or cannot be read by this process,
/// each as an error at the key that names it.
pub fn unreadable_files(cfg: &Config) -> Vec<FieldError> {
    named_files(cfg)
        .into_iter()
        .filter_map(|(path, file)| {
            problem(&path, &file).map(|message| FieldError { path, message })
        })
        .collect()
}

fn problem(key: &str, file: &Path) -> Option<String> {
    let shown = file.display();
    let hint = if key == "evidence.key_file" {
        let dir = file.parent().unwrap_or(Path::new(".")).display().to_string();
        format!("; make it with `edgeproof keygen --dir {dir}`")
    } else {
        String::new()
    };
    match std::fs::metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Some(format!("{shown} does not exist{hint}"))
        }
        Err(e) => Some(format!("cannot examine {shown}: {e}")),
        Ok(m) if !m.is_file() => Some(format!("{shown} is not a regular file")),
        Ok(_) => match std::fs::File::open(file) {
            Ok(_) => None,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Some(format!(
                "{shown} cannot be read by this user ({e}); check its owner and mode, and run \
                 `check` as the user the service runs as"
            )),
            Err(e) => Some(format!("cannot read {shown}: {e}")),
        },
    }
}
