//! Whether usage evidence is on at all, and with which key: `[evidence] enabled` and the
//! key file decide before the recorder is opened.

use tracing::{info, warn};

use super::error::RecorderError;
use crate::config::{Config, EvidenceMode};
use crate::evidence::keys::GatewayKey;

/// Whether evidence is on for `cfg`, and with which key. `Ok(None)` = off (logged why).
pub fn load_key(cfg: &Config) -> Result<Option<GatewayKey>, RecorderError> {
    let path = &cfg.evidence.key_file;
    let dir = path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    match cfg.evidence.mode {
        EvidenceMode::Off => {
            info!("usage evidence is off ([evidence] enabled = false)");
            Ok(None)
        }
        EvidenceMode::Auto if !path.exists() => {
            warn!(
                key_file = %path.display(),
                "usage evidence is off: no evidence key; create one with `edgeproof keygen \
                 --dir {}` to turn it on",
                dir.display()
            );
            Ok(None)
        }
        EvidenceMode::On if !path.exists() => Err(RecorderError::NoKey { path: path.clone(), dir }),
        EvidenceMode::Auto | EvidenceMode::On => Ok(Some(GatewayKey::load(path)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::recorder::writer::tests::config;

    #[test]
    fn evidence_on_off_and_the_missing_key_message() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path(), "");
        cfg.evidence.key_file = dir.path().join("keys").join("evidence.key");
        let err = load_key(&cfg).unwrap_err().to_string();
        assert!(
            err.contains(&format!("edgeproof keygen --dir {}", dir.path().join("keys").display())),
            "{err}"
        );
        cfg.evidence.mode = EvidenceMode::Auto;
        assert!(load_key(&cfg).unwrap().is_none(), "auto without a key: off");
        crate::evidence::keys::write_key_files(
            &dir.path().join("keys"),
            &GatewayKey::from_seed([2; 32]),
        )
        .unwrap();
        assert!(load_key(&cfg).unwrap().is_some(), "auto with a key: on");
        cfg.evidence.mode = EvidenceMode::Off;
        assert!(load_key(&cfg).unwrap().is_none());
    }
}
