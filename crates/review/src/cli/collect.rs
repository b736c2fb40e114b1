//! `edgeproof collect --mqtt URL --db DB`: the reviewer side's collector (see
//! `edgeproof_review::collect`); `edgeproof collect add-gateway`, which registers a gateway's
//! enrolled key and topic prefix so that its evidence is accepted; `collect add-witness`, a
//! witness whose cosignatures count; `collect acl`, the broker ACL for the registrations.
//!
//! Exit 0: stopped by SIGTERM/Ctrl-C (or gateway registered) · 2: could not run (bad
//! arguments, unreadable key, archive unusable).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use edgeproof_evidence::cosignature::WitnessKey;
use edgeproof_evidence::keys::{hex, PublicKey, VerifierKey};
use edgeproof_evidence::Chain;
use edgeproof_review::archive::{Archive, Registration};
use edgeproof_review::collect::acl::mosquitto_acl;
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
    /// Most memory the messages received but not yet stored may hold, e.g. "8MiB": the
    /// collector stops reading from the broker (which keeps the rest) while it is used up.
    #[arg(long, default_value = "8MiB")]
    pub max_pending: bytesize::ByteSize,
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
    /// A witness whose cosignatures count (C2SP vkey file, type 0x04). Repeatable; witnesses
    /// registered with `collect add-witness` count too. A cosignature line is stored with its
    /// checkpoint only if it verifies under one; other lines are kept apart as unverified.
    #[arg(long = "witness-key")]
    pub witness_key: Vec<PathBuf>,
}

/// Arguments of `collect add-witness`.
#[derive(Debug, clap::Args)]
pub struct AddWitnessArgs {
    /// The archive (as for `collect`).
    #[arg(long)]
    pub db: String,
    /// The witness's C2SP vkey file (type 0x04), as `witness vkey` prints it.
    #[arg(long)]
    pub vkey: PathBuf,
}

/// Arguments of `collect acl`.
#[derive(Debug, clap::Args)]
pub struct AclArgs {
    /// The archive whose registered gateways the ACL allows.
    #[arg(long)]
    pub db: String,
    /// The collectors' MQTT user, allowed to read the evidence and checkpoint topics.
    /// Repeatable.
    #[arg(long = "collector-user", default_value = "edgeproof-collect")]
    pub collector_user: Vec<String>,
    /// The collectors' topic prefix filter (their `--topics`).
    #[arg(long, default_value = "edgeproof/+")]
    pub topics: String,
    /// Where to write the ACL file (Mosquitto `acl_file`); `-` for standard output.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
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
    /// The topic prefix it publishes under (its `mqtt.topic_prefix`), if not
    /// edgeproof/<gateway id>. Only messages under it count for this gateway.
    #[arg(long)]
    pub topic_prefix: Option<String>,
    /// Its MQTT user name, for `collect acl`; default the gateway id.
    #[arg(long)]
    pub mqtt_user: Option<String>,
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
        let mut reg = Registration::new(&args.gateway, &key.to_base64());
        reg.origin = origin.clone();
        reg.city = args.city.clone();
        reg.enterprise = args.enterprise.clone();
        reg.project = args.project.clone();
        if let Some(p) = &args.topic_prefix {
            reg.topic_prefix = p.trim_end_matches('/').to_string();
        }
        if let Some(u) = &args.mqtt_user {
            reg.mqtt_user = u.clone();
        }
        if reg.topic_prefix.is_empty() || reg.topic_prefix.contains(['+', '#']) {
            anyhow::bail!(
                "--topic-prefix {:?}: a topic prefix is non-empty and free of '+' and '#'",
                reg.topic_prefix
            );
        }
        let prefix = reg.topic_prefix.clone();
        archive.register(reg).await?;
        println!(
            "registered gateway {} (origin {origin}, topics {prefix}/…, key {})",
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

/// Registers a witness whose cosignatures the collector verifies.
pub async fn add_witness(args: AddWitnessArgs) -> ExitCode {
    let run = async {
        let v = VerifierKey::load(&args.vkey).context("--vkey")?;
        let w = WitnessKey::from_vkey(v, &args.vkey.display().to_string()).context("--vkey")?;
        let archive = Archive::open(&args.db).await?;
        archive.register_witness(&w.name, &w.vkey()).await?;
        println!("registered witness {} (key id {})", w.name, hex(&w.key_id()));
        anyhow::Ok(())
    };
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => cannot(e),
    }
}

/// Writes the Mosquitto ACL for the registered gateways.
pub async fn acl(args: AclArgs) -> ExitCode {
    let run = async {
        let archive = Archive::open_existing(&args.db).await?;
        let regs = archive.registrations().await?;
        let text = mosquitto_acl(&regs, &args.collector_user, &args.topics)?;
        if args.output.as_os_str() == "-" {
            print!("{text}");
        } else {
            std::fs::write(&args.output, text)
                .with_context(|| format!("{}", args.output.display()))?;
            eprintln!(
                "wrote {} ({} gateway(s), {} collector user(s))",
                args.output.display(),
                regs.len(),
                args.collector_user.len()
            );
        }
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
        opts.max_pending_bytes = usize::try_from(args.max_pending.as_u64()).unwrap_or(usize::MAX);
        opts.mqtt.username = args.username.clone();
        opts.mqtt.password = std::env::var("EDGEPROOF_COLLECT_PASSWORD").ok().map(Into::into);
        for path in &args.witness_key {
            let w = VerifierKey::load(path)
                .and_then(|v| WitnessKey::from_vkey(v, &path.display().to_string()))
                .context("--witness-key")?;
            opts.witnesses.push(w);
        }
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
