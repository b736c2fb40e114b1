//! Subcommands, one file each. The exit codes are a contract, documented in `--help` and the
//! README:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (config valid, agent stopped cleanly) |
//! | 1 | a negative result: invalid config, a probe where no point could be read, evidence that fails `verify` |
//! | 2 | could not run: unreadable file, port in use, internal error |

#[cfg(feature = "opcua")]
mod browse;
mod check;
#[cfg(feature = "demo")]
mod demo;
#[cfg(feature = "demo")]
mod demo_review;
mod digest;
mod doctor;
mod export;
mod keygen;
mod points;
mod probe;
mod read;
mod review;
mod run;
mod scan;
#[cfg(feature = "opcua")]
mod trust;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for a negative result (invalid config, nothing read).
pub const EXIT_NEGATIVE: u8 = 1;
/// Exit code for "could not run".
pub const EXIT_CANNOT_RUN: u8 = 2;

/// edgeproof — polls PLCs, meters and sensors over Modbus and OPC UA, keeps every reading on
/// disk until an MQTT broker acknowledged it, and logs signed evidence that the gateway was in
/// use.
#[derive(Debug, Parser)]
#[command(name = "edgeproof", version, propagate_version = true)]
#[command(after_help = "Exit codes: 0 success · 1 negative result (invalid config, nothing \
could be read) · 2 could not run (unreadable file, bad arguments, internal error).\n\
Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=edgeproof=debug) for more detail.\n\
A first look without hardware: `edgeproof demo`.\n\
The reviewer's commands (witness, collect, report, fleet) are in `edgeproof-review`.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a config file: prints a summary (devices, points, planned Modbus requests per
    /// poll cycle) or every mistake with its path, e.g.
    /// `devices[1].points[4].order: "ABDC" is not one of ABCD, CDAB, BADC, DCBA`.
    /// Files the config names (passwords, keys, certificates) must exist and be readable.
    Check {
        /// The config file (TOML).
        #[arg(required_unless_present = "config", conflicts_with = "config")]
        file: Option<PathBuf>,
        /// The config file, as the other commands take it.
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// The installer's checklist: config valid, data dir writable with free space, evidence
    /// key present with safe permissions, clock synchronised, broker reachable (TCP, TLS,
    /// MQTT CONNECT), every device answering. Exit 0 all fine (warnings allowed), 1 a check
    /// failed, 2 the file could not be read.
    Doctor {
        /// The config file (TOML).
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Run the agent: poll every device, journal every reading, publish to MQTT, serve
    /// /metrics. Stops cleanly on SIGTERM or Ctrl-C (exit 0); invalid config exits 1.
    Run {
        /// The config file (TOML).
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Try edgeproof without hardware: three simulated devices (a CNC press, a power meter, a
    /// temperature sensor) and the real agent — journal, MQTT when a broker listens, metrics.
    /// Prints a status line every few seconds; Ctrl-C stops it.
    Demo {
        /// MQTT broker to publish to; without one the demo journals and retries.
        #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
        broker: String,
        /// Where to serve /metrics and /healthz (another free port if this one is taken).
        #[arg(long, default_value = "127.0.0.1:9898")]
        metrics: std::net::SocketAddr,
        /// Keep the journal and device map here instead of a fresh temp directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Stop by itself after this long, e.g. "30s" (default: run until Ctrl-C).
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<std::time::Duration>,
        /// Time between status lines.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        status_every: std::time::Duration,
    },
    /// List an OPC UA server's address space: node ids, browse names, data types. With
    /// `--points`, print ready-to-paste `[[devices.points]]` entries for its variables.
    Browse {
        /// The server, e.g. `opc.tcp://192.168.1.20:4840`.
        endpoint: String,
        /// Start node (default: the Objects folder), e.g. `ns=2;s=Molder`.
        #[arg(long)]
        node: Option<String>,
        /// Levels to descend.
        #[arg(long, default_value_t = 3)]
        depth: usize,
        /// Print `[[devices.points]]` entries instead of the tree.
        #[arg(long)]
        points: bool,
        /// None | Basic256Sha256 | Aes128_Sha256_RsaOaep | Aes256_Sha256_RsaPss.
        #[arg(long, default_value = "None")]
        security_policy: String,
        /// None | Sign | SignAndEncrypt (default: SignAndEncrypt with a policy, else None).
        #[arg(long)]
        security_mode: Option<String>,
        /// User name; the password comes from --password-file or EDGEPROOF_OPCUA_PASSWORD_BROWSE.
        #[arg(long)]
        user: Option<String>,
        /// File holding the password.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Where browse keeps its client certificate (`DIR/pki`).
        #[arg(long, default_value_os_t = std::env::temp_dir().join("edgeproof-browse"))]
        data_dir: PathBuf,
    },
    /// Trust the certificate an OPC UA device presents now: `trust accept -c FILE --device
    /// NAME` re-pins it (trust = "first-use") or moves it into pki/trusted (trust = "pki").
    Trust {
        #[command(subcommand)]
        action: TrustAction,
    },
    /// Read every point once and print the value beside the raw registers — the quickest way
    /// to see a word-swapped float or a wrong address. Exit 1 if no point could be read.
    Probe {
        /// The config file (TOML).
        #[arg(short, long)]
        config: PathBuf,
        /// Only this device.
        #[arg(short, long)]
        device: Option<String>,
        /// JSON lines {"device","point","value","quality","raw"} instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Read a device without a config file, like mbpoll: `read tcp://10.0.0.5:502 --unit 1
    /// --holding 0:20 --type f32 --order CDAB`, or `read 'rtu:///dev/ttyUSB0?baud=9600&parity=even'
    /// --unit 3 --input 0:10`. Prints each value beside its raw registers. Read function codes
    /// only. Exit 1 if the device refused or did not answer.
    Read(read::ReadArgs),
    /// Find which unit ids answer (an RTU bus, or units behind a TCP gateway) and which
    /// addresses of each area they let us read (bisecting on exception 02/03, rate-limited,
    /// read function codes only); prints a draft device map and writes a CSV point table.
    /// Exit 1 if no unit answered.
    Scan(scan::ScanArgs),
    /// Turn a point table (点表: .xlsx, .xls, .ods or .csv; Chinese or English headers) into
    /// the device's `[[devices.points]]` TOML. Modicon addresses (40001 style) are converted
    /// with a note; every bad cell is reported with its sheet, row and column (exit 1).
    Import(points::ImportArgs),
    /// Write a device's points to an .xlsx point table for the customer's sign-off (the
    /// columns `import` reads back).
    ExportPoints(points::ExportPointsArgs),
    /// Make the gateway's evidence signing key: DIR/evidence.key (mode 0600, never
    /// overwritten) and DIR/evidence.pub (give it to the reviewer). Prints the fingerprint.
    Keygen {
        /// Directory for the two key files (created if missing).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Check an evidence bundle from `edgeproof export`: signatures, seq chain, checkpoints,
    /// witness cosignatures, clocks, identity — each failure with its seq range.
    /// Exit 0 intact, 1 tampered or incomplete, 2 the bundle or a key could not be read.
    Verify {
        #[command(flatten)]
        input: BundleInput,
        /// Expected gateway id.
        #[arg(long)]
        gateway: Option<String>,
        /// Expected enterprise USCC (统一社会信用代码).
        #[arg(long)]
        uscc: Option<String>,
        /// Expected project id.
        #[arg(long)]
        project: Option<String>,
        /// How far wall-clock and monotonic time may drift apart between neighbouring
        /// records of one boot (plus 0.1 % of the interval), e.g. "2s".
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        time_tolerance: std::time::Duration,
        /// A record counts as timely witnessed when a trusted witness cosigned it within this
        /// time of its wall time (an hourly checkpoint with a witness offline a few hours
        /// meets the default); records cosigned later are noted as witnessed late.
        #[arg(long, default_value = "6h", value_parser = humantime::parse_duration)]
        max_witness_lag: std::time::Duration,
        /// Print the verdict as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Recompute every usage record's per-device digest from a capture of the data messages
    /// (`mosquitto_sub -v -t '<prefix>/data/#'` output) and list the devices and intervals
    /// that differ and the messages the capture lacks. Exit 0 all match, 1 a digest differs,
    /// 2 the bundle or the capture could not be read.
    Digest(digest::DigestArgs),
    /// Write the evidence bundle a reviewer verifies, from this gateway's journal: every
    /// record from seq 0 (the chain must be whole) and every checkpoint. Safe while the agent
    /// runs. Exit 0 written, 1 no evidence recorded yet, 2 could not read or write.
    Export {
        /// The gateway's config file (TOML): where the journal is.
        #[arg(short, long)]
        config: PathBuf,
        /// Start of the period of interest, e.g. 2026-01-01. Earlier records are still
        /// included (verification needs the chain from seq 0).
        #[arg(long)]
        from: Option<String>,
        /// Leave out records written after this time, e.g. 2026-03-31T23:59:59.
        #[arg(long)]
        to: Option<String>,
        /// The bundle to write (JSON Lines).
        #[arg(short, long)]
        output: PathBuf,
        /// UTC offset of dates given without one.
        #[arg(long, default_value = "+08:00")]
        utc_offset: String,
    },
}

/// `trust` actions.
#[derive(Debug, Subcommand)]
enum TrustAction {
    /// Accept the device's current server certificate.
    Accept {
        /// The config file (TOML).
        #[arg(short, long)]
        config: PathBuf,
        /// The opcua device.
        #[arg(short, long)]
        device: String,
    },
}

/// What `verify` and `report` read: a bundle and the keys to check it with.
#[derive(Debug, clap::Args)]
struct BundleInput {
    /// The bundle from `edgeproof export` (JSON Lines); for `verify`, `-` reads standard input.
    bundle: PathBuf,
    /// The gateway's public key from enrolment (evidence.pub, or the key in base64).
    #[arg(long)]
    public_key: PathBuf,
    /// A witness key you trust (C2SP vkey `name+id+base64`, type 0x04). Repeatable.
    #[arg(long = "witness-key")]
    witness_key: Vec<PathBuf>,
}

/// Parses arguments, runs the subcommand, maps the result to an exit code.
pub fn main() -> ExitCode {
    if let Some(code) = review::forward() {
        return code;
    }
    let cli = Cli::parse();
    // Commissioning commands print their findings; connection chatter only on RUST_LOG.
    let quiet = matches!(cli.command, Command::Read(_) | Command::Scan(_));
    edgeproof::service::logging::init_at(if quiet { "warn" } else { "info" });
    match cli.command {
        Command::Check { file, config } => check::run(&file.or(config).unwrap_or_default()),
        #[cfg(feature = "demo")]
        Command::Demo { broker, metrics, data_dir, duration, status_every } => {
            runtime().block_on(demo::run(demo::DemoArgs {
                broker,
                metrics,
                data_dir,
                duration,
                status_every,
            }))
        }
        #[cfg(not(feature = "demo"))]
        Command::Demo { .. } => {
            eprintln!(
                "error: this edgeproof was built without the simulated devices; \
                 build it with `cargo build --release --features demo` to run the demo"
            );
            ExitCode::from(EXIT_CANNOT_RUN)
        }
        Command::Run { config } => runtime().block_on(run::run(&config)),
        Command::Doctor { config } => runtime().block_on(doctor::run(&config)),
        #[cfg(feature = "opcua")]
        Command::Browse {
            endpoint,
            node,
            depth,
            points,
            security_policy,
            security_mode,
            user,
            password_file,
            data_dir,
        } => runtime().block_on(browse::run(browse::BrowseArgs {
            endpoint,
            node,
            depth,
            points,
            security_policy,
            security_mode,
            user,
            password_file,
            data_dir,
        })),
        #[cfg(feature = "opcua")]
        Command::Trust { action: TrustAction::Accept { config, device } } => {
            runtime().block_on(trust::accept(&config, &device))
        }
        #[cfg(not(feature = "opcua"))]
        Command::Browse { .. } | Command::Trust { .. } => {
            eprintln!(
                "error: this edgeproof was built without OPC UA (a Modbus-only build); \
                 use a build with the default `opcua` feature"
            );
            ExitCode::from(EXIT_CANNOT_RUN)
        }
        Command::Probe { config, device, json } => {
            runtime().block_on(probe::run(&config, device.as_deref(), json))
        }
        Command::Keygen { dir } => keygen::run(&dir),
        Command::Read(args) => runtime().block_on(read::run(args)),
        Command::Scan(args) => runtime().block_on(scan::run(args)),
        Command::Import(args) => points::import(args),
        Command::ExportPoints(args) => points::export_points(args),
        Command::Digest(args) => digest::run(args),
        Command::Export { config, from, to, output, utc_offset } => {
            export::run(export::ExportArgs { config, from, to, output, utc_offset })
        }
        Command::Verify {
            input: BundleInput { bundle, public_key, witness_key },
            gateway,
            uscc,
            project,
            time_tolerance,
            max_witness_lag,
            json,
        } => verify::run(verify::VerifyArgs {
            bundle,
            public_key,
            witness_keys: witness_key,
            gateway,
            uscc,
            project,
            time_tolerance,
            max_witness_lag,
            json,
        }),
    }
}

/// The async runtime for subcommands that talk to devices or brokers. Two worker threads:
/// the gateway hardware this runs on has few cores.
fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(i32::from(EXIT_CANNOT_RUN));
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// `--help` is the integrator's first manual: every subcommand, nested ones included, says
    /// what it does (regression: `probe` once showed an empty line and lent its text to
    /// `browse`).
    #[test]
    fn every_subcommand_describes_itself_in_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                let name = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none_or(|a| a.to_string().trim().is_empty()) {
                    missing.push(name.clone());
                }
                walk(sub, &name, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "edgeproof", &mut missing);
        assert!(missing.is_empty(), "subcommands without a description: {missing:?}");
        Cli::command().debug_assert();
    }
}
