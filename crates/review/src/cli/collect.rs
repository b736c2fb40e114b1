//! `edgeproof collect --mqtt URL --db DB`: the reviewer side's collector (see
//! `edgeproof_review::collect`), and `edgeproof collect add-gateway`, which registers a gateway's
//! enrolled key so that its evidence is accepted.
//!
//! Exit 0: stopped by SIGTERM/Ctrl-C (or gateway registered) · 2: could not run (bad
//! arguments, unreadable key, archive unusable).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use edgeproof_evidence::keys::PublicKey;
use edgeproof_evidence::Chain;
use edgeproof_review::archive::{Archive, Registration};
use edgeproof_review::collect::{metrics, CollectCounters, CollectOptions};
use tokio_util::sync::CancellationToken;

/// Arguments of the collector itself.
#[derive(Debug, clap::Args)]
pub struct CollectArgs {
    /// The broker, `mqtt://host:port` or `mqtts://host:port`.
    #[arg(long)]
    pub mqtt: Option<String>,
    /// The archive: a SQLite file path, or `postgres://user@host/db` for a fleet.
    #[arg(long)]
    pub db: Option<String>,
    /// This collector's MQTT client id; keep it across restarts (its session holds the
    /// messages not yet stored). Default: edgeproof-collect-<hostname>.
    #[arg(long)]
    pub client_id: Option<String>,
    /// Shared-subscription group; collectors in one group split the messages.
    #[arg(long, default_value = "edgeproof-collect")]
    pub group: String,
    /// Topic prefix filter of the gateways (their `mqtt.topic_prefix`, '+' for a level).
    #[arg(long, default_value = "edgeproof/+")]
    pub topics: String,
    /// Most messages stored per transaction.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// How long a batch waits to fill, e.g. "50ms".
    #[arg(long, default_value = "50ms", value_parser = humantime::parse_duration)]
    pub linger: Duration,
    /// MQTT user name; the password comes from EDGEPROOF_COLLECT_PASSWORD.
    #[arg(long)]
    pub username: Option<String>,
    /// CA bundle for mqtts:// (default: the system's).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate for mutual TLS (with --key-file).
    #[arg(long, requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// Client key for mutual TLS.
    #[arg(long, requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// Serve `GET /metrics` (Prometheus) and `GET /healthz` on this address, e.g.
    /// 127.0.0.1:9899. Off by default.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
}

/// Arguments of `collect add-gateway`.
#[derive(Debug, clap::Args)]
pub struct AddGatewayArgs {
    /// The archive (as for `collect`).
    #[arg(long)]
    pub db: String,
    /// Gateway id (`[gateway] id` of its config).
    #[arg(long)]
    pub gateway: String,
    /// Its public key from enrolment (evidence.pub, or the key in base64).
    #[arg(long)]
    pub public_key: PathBuf,
    /// Log origin, if the gateway's differs from edgeproof/<gateway id>.
    #[arg(long)]
    pub origin: Option<String>,
    /// City, for filtering the fleet view.
    #[arg(long, default_value = "")]
    pub city: String,
    /// Enterprise (name or USCC).
    #[arg(long, default_value = "")]
    pub enterprise: String,
    /// Project id.
    #[arg(long, default_value = "")]
    pub project: String,
}

fn cannot(e: anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::from(super::EXIT_CANNOT_RUN)
}

/// Registers a gateway.
pub async fn add_gateway(args: AddGatewayArgs) -> ExitCode {
    let run = async {
        let key = PublicKey::load(&args.public_key).context("--public-key")?;
        let archive = Archive::open(&args.db).await?;
        let origin = args.origin.clone().unwrap_or_else(|| Chain::origin_for(&args.gateway));
        archive
            .register(Registration {
                gateway: args.gateway.clone(),
                origin: origin.clone(),
                public_key: key.to_base64(),
                city: args.city.clone(),
                enterprise: args.enterprise.clone(),
                project: args.project.clone(),
            })
            .await?;
        println!(
            "registered gateway {} (origin {origin}, key {})",
            args.gateway,
            key.fingerprint()
        );
        anyhow::Ok(())
    };
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => cannot(e),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into())
}

/// Runs the collector until SIGTERM or Ctrl-C.
pub async fn run(args: CollectArgs) -> ExitCode {
    let mut signals = super::ShutdownSignals::install();
    let setup = async {
        let url = args.mqtt.as_deref().context("--mqtt URL is required")?;
        let db = args.db.as_deref().context("--db is required")?;
        let client_id =
            args.client_id.clone().unwrap_or_else(|| format!("edgeproof-collect-{}", hostname()));
        let mut opts = CollectOptions::new(url, &client_id)?.with_tls_files(
            args.ca_file.clone(),
            args.cert_file.clone(),
            args.key_file.clone(),
        );
        opts.group = args.group.clone();
        opts.topics = args.topics.clone();
        opts.batch = args.batch.max(1);
        opts.linger = args.linger;
        opts.mqtt.username = args.username.clone();
        opts.mqtt.password = std::env::var("EDGEPROOF_COLLECT_PASSWORD").ok().map(Into::into);
        opts.validate()?;
        let archive = Archive::open(db).await?;
        let listener = match args.metrics_listen {
            Some(addr) => Some(edgeproof::http::bind(addr).await.context("--metrics-listen")?),
            None => None,
        };
        anyhow::Ok((opts, archive, listener))
    };
    let (opts, archive, listener) = match setup.await {
        Ok(x) => x,
        Err(e) => return cannot(e),
    };
    let cancel = CancellationToken::new();
    let counters = Arc::new(CollectCounters::default());
    if let Some(listener) = listener {
        let c = Arc::clone(&counters);
        let render: edgeproof::http::Render = Arc::new(move || metrics::render(&c));
        // Up while the process runs: the collector stops the process when it stops.
        let health: edgeproof::http::HealthCheck = Arc::new(|| Ok(()));
        tokio::spawn(edgeproof::http::serve_render(listener, render, health, cancel.clone()));
    }
    let mut task =
        tokio::spawn(edgeproof_review::collect::run(opts, archive, counters, cancel.clone()));
    let done = tokio::select! {
        which = signals.recv() => {
            tracing::info!(signal = which, "stopping the collector");
            cancel.cancel();
            (&mut task).await
        }
        r = &mut task => r,
    };
    match done {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => cannot(e.into()),
        Err(e) => cannot(anyhow::anyhow!("collector task failed: {e}")),
    }
}
