//! `edgeproof fleet --db DB --html out.html`: the summary of every gateway in an archive
//! written by `edgeproof collect` (see `edgeproof_review::archive::fleet`), worst first.
//!
//! Exit 0: written · 2: could not read the archive or write the page.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use edgeproof_evidence::cosignature::WitnessKey;
use edgeproof_evidence::keys::VerifierKey;
use edgeproof_evidence::report::calendar::{parse_time, UtcOffset};
use edgeproof_review::archive::fleet::{first_day, summarize, FleetOptions};
use edgeproof_review::archive::{fleet_html, Archive};

/// Arguments of `fleet`.
#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    /// The archive (SQLite file or postgres://…).
    #[arg(long)]
    pub db: String,
    /// Where to write the HTML page.
    #[arg(long)]
    pub html: PathBuf,
    /// Also write the rows as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Only gateways registered with this city.
    #[arg(long)]
    pub city: Option<String>,
    /// Only gateways of this enterprise.
    #[arg(long)]
    pub enterprise: Option<String>,
    /// Only gateways of this project.
    #[arg(long)]
    pub project: Option<String>,
    /// A witness key you trust (C2SP vkey, type 0x04): cosignatures count only when they
    /// verify under one. Repeatable.
    #[arg(long = "witness-key")]
    pub witness_key: Vec<PathBuf>,
    /// A gateway from which nothing arrived for longer than this is flagged silent.
    #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
    pub silent_after: Duration,
    /// Summarise as of this time instead of now, e.g. 2026-03-31T23:59:59.
    #[arg(long)]
    pub at: Option<String>,
    /// UTC offset of times shown and of --at without one.
    #[arg(long, default_value = "+08:00")]
    pub utc_offset: String,
}

/// Writes the summary.
pub async fn run(args: FleetArgs) -> ExitCode {
    match write(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(super::EXIT_CANNOT_RUN)
        }
    }
}

async fn write(args: FleetArgs) -> anyhow::Result<()> {
    let offset =
        UtcOffset::parse(&args.utc_offset).map_err(|e| anyhow::anyhow!("--utc-offset: {e}"))?;
    let now_ms = match &args.at {
        Some(t) => parse_time(t, offset).map_err(|e| anyhow::anyhow!("--at: {e}"))?,
        None => edgeproof_review::archive::store::now_ms(),
    };
    let mut witnesses = Vec::new();
    for path in &args.witness_key {
        let key = VerifierKey::load(path)
            .and_then(|v| WitnessKey::from_vkey(v, &path.display().to_string()))
            .context("--witness-key")?;
        witnesses.push(key);
    }
    let archive = Archive::open_existing(&args.db).await?;
    let rows = archive.gateway_rows(first_day(now_ms)).await?;
    let opts = FleetOptions {
        now_ms,
        silent_after_ms: args.silent_after.as_millis() as u64,
        city: args.city.clone(),
        enterprise: args.enterprise.clone(),
        project: args.project.clone(),
        witnesses,
    };
    let fleet = summarize(rows, &opts);
    let html = fleet_html::render(&fleet, offset);
    std::fs::write(&args.html, html).with_context(|| format!("{}", args.html.display()))?;
    if let Some(path) = &args.json {
        let text = serde_json::to_vec_pretty(&fleet).context("encoding the summary as JSON")?;
        std::fs::write(path, text).with_context(|| format!("{}", path.display()))?;
    }
    let hl = fleet.headline;
    println!(
        "{} gateways ({} registered) · {} integrity · {} missing evidence · {} attention · {} \
         without flags",
        fleet.rows.len(),
        fleet.registered,
        hl.integrity,
        hl.missing,
        hl.attention,
        hl.clean
    );
    if let Some(n) = &fleet.witness_notice {
        println!("witness: {n}");
    }
    println!("wrote {}", args.html.display());
    Ok(())
}
