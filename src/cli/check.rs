//! `edgeproof check FILE`: validate a config and summarise what the agent would do.

use std::path::Path;
use std::process::ExitCode;

use edgeproof::config::{self, ConfigError, DeviceProtocol};

/// Runs the check; prints to stdout, errors to stderr.
pub fn run(file: &Path) -> ExitCode {
    match config::load(file) {
        Ok(cfg) => {
            println!("{}: valid", file.display());
            println!(
                "gateway {} · enterprise {} · project {}",
                cfg.gateway.id, cfg.gateway.enterprise, cfg.gateway.project
            );
            let points: usize = cfg.devices.iter().map(|d| d.point_count()).sum();
            println!("{} device(s), {} point(s)", cfg.devices.len(), points);
            for d in &cfg.devices {
                match &d.protocol {
                    DeviceProtocol::ModbusTcp(m) => println!(
                        "  {:<20} {:<11} {:<22} unit {:<3} {:>4} point(s)",
                        d.name,
                        d.protocol_name(),
                        m.address,
                        m.unit,
                        m.points.len(),
                    ),
                }
            }
            ExitCode::SUCCESS
        }
        Err(e @ ConfigError::Read { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(super::EXIT_CANNOT_RUN)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(super::EXIT_NEGATIVE)
        }
    }
}
