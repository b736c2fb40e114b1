//! `edgeproof check FILE` (or `-c FILE`): validate a config — its fields, and that the files it
//! names can be read — and summarise what the agent would do; warn (on
//! stderr, exit 0) about key or password files others can read and plain-text publishing to
//! another machine.

use std::path::Path;
use std::process::ExitCode;

use edgeproof::config::{self, ConfigError, Device, DeviceProtocol, RtuBus};
use edgeproof::source::modbus::{plan, ModbusPoint, ReadLimits};

/// Runs the check; prints to stdout, errors to stderr.
pub fn run(file: &Path) -> ExitCode {
    match config::load(file) {
        Ok(cfg) => {
            let missing = config::named_files::unreadable_files(&cfg);
            if !missing.is_empty() {
                let e = ConfigError::Invalid { path: file.to_path_buf(), errors: missing };
                eprintln!("error: {e}");
                return ExitCode::from(super::EXIT_NEGATIVE);
            }
            println!("{}: valid", file.display());
            println!(
                "gateway {} · enterprise {} · project {}",
                cfg.gateway.id, cfg.gateway.enterprise, cfg.gateway.project
            );
            let points: usize = cfg.devices.iter().map(|d| d.point_count()).sum();
            println!("{} device(s), {} point(s)", cfg.devices.len(), points);
            for d in &cfg.devices {
                match &d.protocol {
                    DeviceProtocol::ModbusTcp(m) => {
                        print_modbus(d, &m.address, m.unit, &m.points, &m.limits);
                    }
                    DeviceProtocol::ModbusRtu(m) => {
                        let bus = match &m.bus {
                            RtuBus::Serial(line) => format!("{} {line}", line.port),
                            RtuBus::Tcp(address) => address.clone(),
                        };
                        print_modbus(d, &bus, m.unit, &m.points, &m.limits);
                    }
                    #[cfg(feature = "opcua")]
                    DeviceProtocol::OpcUa(o) => print_opcua(&d.name, o),
                }
            }
            // After print_opcua: it may have just created the OPC UA client key.
            for exposed in config::secret_files::exposed_secret_files(&cfg) {
                eprintln!("warning: {exposed}");
            }
            if let Some(warning) = cfg.mqtt.as_ref().and_then(|m| m.plain_text_warning()) {
                eprintln!("warning: {warning}");
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

/// One Modbus device (any transport) and the reads its plan makes each cycle.
fn print_modbus(d: &Device, at: &str, unit: u8, points: &[ModbusPoint], limits: &ReadLimits) {
    let plan = plan(points, limits);
    println!(
        "  {:<20} {:<11} {:<22} unit {:<3} {:>5} point(s) {:>4} request(s)/cycle",
        d.name,
        d.protocol_name(),
        at,
        unit,
        points.len(),
        plan.requests_per_cycle(),
    );
    for g in &plan.groups {
        let reads: Vec<String> =
            g.reads.iter().map(|r| format!("{} {}+{}", r.area, r.start, r.count)).collect();
        println!(
            "      every {:<8} {}",
            humantime::format_duration(g.poll).to_string(),
            reads.join(", ")
        );
    }
}

/// One OPC UA device: endpoint, security, trust, points by mode, and the agent's client
/// certificate (created here on first use, so it can be registered on the server before the
/// first run).
#[cfg(feature = "opcua")]
fn print_opcua(name: &str, o: &edgeproof::config::OpcUaDevice) {
    use edgeproof::source::opcua::{identity, PointMode, UserAuth};
    let subscribed = o.points.iter().filter(|p| p.mode == PointMode::Subscribe).count();
    let auth = match &o.auth {
        UserAuth::Anonymous => "anonymous".to_string(),
        UserAuth::Password { user, .. } => format!("user {user}"),
        UserAuth::Certificate { cert_file, .. } => {
            format!("user certificate {}", cert_file.display())
        }
    };
    println!(
        "  {:<20} {:<11} {:<22} {:>5} point(s): {} subscribed, {} polled",
        name,
        "opcua",
        o.endpoint,
        o.points.len(),
        subscribed,
        o.points.len() - subscribed,
    );
    println!(
        "      security {}/{} · {auth} · trust {}",
        o.security_policy.as_str(),
        o.security_mode.as_str(),
        o.trust.as_str()
    );
    match identity::ensure(&o.pki_dir) {
        Ok(id) => println!(
            "      client certificate {} (thumbprint {}{})",
            id.cert_path.display(),
            id.thumbprint,
            if id.created { ", created now" } else { "" }
        ),
        Err(e) => println!("      client certificate: {e}"),
    }
}
