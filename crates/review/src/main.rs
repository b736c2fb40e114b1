//! `edgeproof-review`: the reviewer side of edgeproof — the witness that cosigns gateways'
//! checkpoints, the collector that archives every gateway's evidence off MQTT, the report over
//! one gateway's evidence and the fleet view over all of them. Exit codes as the gateway's:
//! 0 success, 1 negative result (evidence that fails), 2 could not run.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// edgeproof-review — the reviewer's tools for edgeproof usage evidence: a C2SP witness,
/// a collector and archive, per-gateway reports and a fleet overview.
#[derive(Debug, Parser)]
#[command(name = "edgeproof-review", version, propagate_version = true)]
#[command(after_help = "Exit codes: 0 success · 1 negative result (evidence that fails \
verification) · 2 could not run (unreadable file, bad arguments, database unreachable).\n\
Logs go to stderr; set RUST_LOG for more detail. The reviewer's guide: docs/reviewing.md.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The reviewer side's witness (C2SP tlog-witness): `serve` cosigns gateways'
    /// checkpoints when they extend what it cosigned before; `add-log` registers a gateway;
    /// `list` shows them; `conflicts` prints the signed forks it refused; `vkey` prints the key
    /// reviewers pass to `verify --witness-key`.
    Witness {
        #[command(subcommand)]
        command: cli::witness::WitnessCommand,
    },
    /// The reviewer side's collector: subscribes to every gateway's evidence and checkpoint
    /// topics through an MQTT shared subscription, verifies each message against the
    /// registered key, stores it in the archive (SQLite file or postgres://) and records gaps,
    /// conflicts and bad signatures as anomalies. `collect add-gateway` registers a gateway.
    /// Runs until SIGTERM or Ctrl-C (exit 0); 2 could not run.
    #[command(args_conflicts_with_subcommands = true)]
    Collect {
        #[command(subcommand)]
        action: Option<CollectAction>,
        #[command(flatten)]
        args: Box<cli::collect::CollectArgs>,
    },
    /// Summarise every gateway in a collector's archive on one HTML page: coverage over the
    /// last 30 and 90 days, latest checkpoint and whether a witness cosigned it, red flags
    /// (integrity anomalies, gaps, silence, no witness, low coverage), worst first;
    /// optionally one city, enterprise or project. Exit 0 written, 2 could not run.
    Fleet(cli::fleet::FleetArgs),
    /// The reviewer's report over a bundle: verdict, daily coverage calendar, gaps and their
    /// causes, devices active per day against the declared inventory (设备联网率), scene tags,
    /// anomalies, and what the evidence cannot prove. One self-contained HTML page (Chinese
    /// and English), optionally JSON. Exit 0 intact, 1 tampered or incomplete (report still
    /// written), 2 could not read the bundle or key.
    Report {
        /// The bundle from `edgeproof export` (JSON Lines); or --db and --gateway.
        #[arg(required_unless_present = "db", conflicts_with = "db")]
        bundle: Option<PathBuf>,
        /// Report from an archive written by `edgeproof collect` instead (SQLite file or
        /// postgres://…): the gateway's bundle is rebuilt from it.
        #[arg(long, requires = "gateway")]
        db: Option<String>,
        /// The expected gateway id (checked against the enroll record); with --db, the
        /// gateway whose log to report.
        #[arg(long)]
        gateway: Option<String>,
        /// Expected enterprise USCC (统一社会信用代码), checked against the enroll record.
        #[arg(long)]
        uscc: Option<String>,
        /// Expected project id, checked against the enroll record.
        #[arg(long)]
        project: Option<String>,
        /// A record counts as timely witnessed when a trusted witness cosigned it within this
        /// time of its wall time; only such intervals count for witnessed coverage.
        #[arg(long, default_value = "6h", value_parser = humantime::parse_duration)]
        max_witness_lag: std::time::Duration,
        /// The end of the default period (default: now): coverage is counted from enrolment
        /// (or --from) to here (or --to), so silence and a cut tail lower it.
        #[arg(long)]
        at: Option<String>,
        /// The gateway's public key from enrolment (evidence.pub, or the key in base64). With
        /// --db it defaults to the key registered in the archive.
        #[arg(long, required_unless_present = "db")]
        public_key: Option<PathBuf>,
        /// A witness key you trust (C2SP vkey `name+id+base64`, type 0x04). Repeatable.
        #[arg(long = "witness-key")]
        witness_key: Vec<PathBuf>,
        /// Where to write the HTML page.
        #[arg(long)]
        html: PathBuf,
        /// Also write the figures as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Days start at midnight in this UTC offset.
        #[arg(long, default_value = "+08:00")]
        utc_offset: String,
        /// Only report from this time on, e.g. 2026-01-01.
        #[arg(long)]
        from: Option<String>,
        /// Only report up to this time.
        #[arg(long)]
        to: Option<String>,
    },
}

/// `collect` actions.
#[derive(Debug, Subcommand)]
enum CollectAction {
    /// Register a gateway's enrolled public key, topic prefix and MQTT user (and its city,
    /// enterprise, project), so that the collector accepts its evidence on its topics.
    AddGateway(cli::collect::AddGatewayArgs),
    /// Register a witness (C2SP vkey) whose cosignatures the collector verifies and keeps.
    AddWitness(cli::collect::AddWitnessArgs),
    /// Write a Mosquitto ACL file from the registered gateways: each gateway's MQTT user may
    /// publish only under its own topic prefix; the collectors' users read. Exit 0 written,
    /// 2 could not.
    Acl(cli::collect::AclArgs),
}

/// Parses arguments, runs the subcommand, maps the result to an exit code.
fn main() -> ExitCode {
    let cli = Cli::parse();
    edgeproof::service::logging::init();
    match cli.command {
        Command::Witness { command } => cli::witness::run(command),
        Command::Collect { action: Some(CollectAction::AddGateway(a)), .. } => {
            cli::runtime().block_on(cli::collect::add_gateway(a))
        }
        Command::Collect { action: Some(CollectAction::AddWitness(a)), .. } => {
            cli::runtime().block_on(cli::collect::add_witness(a))
        }
        Command::Collect { action: Some(CollectAction::Acl(a)), .. } => {
            cli::runtime().block_on(cli::collect::acl(a))
        }
        Command::Fleet(args) => cli::runtime().block_on(cli::fleet::run(args)),
        Command::Collect { action: None, args } => {
            cli::runtime().block_on(cli::collect::run(*args))
        }
        Command::Report {
            bundle,
            db,
            gateway,
            uscc,
            project,
            max_witness_lag,
            at,
            public_key,
            witness_key,
            html,
            json,
            utc_offset,
            from,
            to,
        } => cli::report::run(cli::report::ReportArgs {
            expect_gateway: gateway.clone(),
            uscc,
            project,
            max_witness_lag,
            at,
            source: match (bundle, db, gateway) {
                (Some(bundle), _, _) => cli::report::Source::Bundle(bundle),
                (None, Some(db), Some(gateway)) => cli::report::Source::Archive { db, gateway },
                // clap requires a bundle or --db with --gateway.
                _ => cli::report::Source::Bundle(PathBuf::new()),
            },
            public_key,
            witness_keys: witness_key,
            html,
            json,
            utc_offset,
            from,
            to,
        }),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every subcommand, nested ones included, says what it does in `--help`.
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
        walk(&Cli::command(), "edgeproof-review", &mut missing);
        assert!(missing.is_empty(), "subcommands without a description: {missing:?}");
        Cli::command().debug_assert();
    }
}
