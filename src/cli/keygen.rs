//! `edgeproof keygen --dir DIR`: make the gateway's evidence signing key.

use std::path::Path;
use std::process::ExitCode;

use edgeproof::evidence::keys::{write_key_files, GatewayKey, KeyError};

/// Writes `DIR/evidence.key` (0600) and `DIR/evidence.pub`; prints the fingerprint.
pub fn run(dir: &Path) -> ExitCode {
    let key = GatewayKey::generate();
    match write_key_files(dir, &key) {
        Ok(files) => {
            println!(
                "signing key: {} (mode 0600; keep it on this gateway)",
                files.secret.display()
            );
            println!("public key:  {} (give this file to the reviewer)", files.public.display());
            println!("fingerprint: {}", files.fingerprint);
            ExitCode::SUCCESS
        }
        Err(e @ KeyError::Exists { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(super::EXIT_NEGATIVE)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(super::EXIT_CANNOT_RUN)
        }
    }
}
