//! `edgeproof witness …`: run the reviewer side's C2SP witness (`serve`), tell it about a
//! gateway log (`add-log`), list what it knows (`list`), show the evidence of misbehaviour it
//! kept (`conflicts`), print its verifier key (`vkey`).
//! See `edgeproof_review::witness` for the protocol and its guarantees.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail};
use clap::Subcommand;
use edgeproof_evidence::cosignature::WitnessKey;
use edgeproof_evidence::keys::{valid_key_name, GatewayKey, PublicKey};
use edgeproof_review::postgres::Timeouts;
use edgeproof_review::witness::server::{self, Limits};
use edgeproof_review::witness::{AddedLog, Cosigner, Store, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// `witness` subcommands.
#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Serve `POST /add-checkpoint` (C2SP tlog-witness) and cosign consistent checkpoints of
    /// the logs added with `add-log`. Stops cleanly on SIGTERM or Ctrl-C.
    Serve {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        identity: Identity,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7380")]
        listen: SocketAddr,
        /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Tell the witness about a gateway's log: its origin (`edgeproof/<gateway id>`, the first
    /// line of its checkpoints) and its public key (the gateway's evidence.pub). Running it
    /// again with the same key changes nothing; another key for a known origin is refused
    /// (exit 1).
    AddLog {
        #[command(flatten)]
        db: DbArg,
        /// The log's origin line, e.g. `edgeproof/gw-017`.
        #[arg(long)]
        origin: String,
        /// The gateway's public key file (`edgeproof keygen` writes it as evidence.pub).
        #[arg(long)]
        public_key: PathBuf,
    },
    /// List the logs the witness knows and the latest size it cosigned for each.
    List {
        #[command(flatten)]
        db: DbArg,
    },
    /// Print the evidence of misbehaviour the witness kept, as JSON lines: checkpoints signed
    /// by a log's key that forked from what it cosigned (`fork`: two signed roots for one
    /// size) or could not prove consistency with it (`bad_proof`), each with the cosigned
    /// tree and the whole refused request. Exit 0 none, 1 some, 2 could not read.
    Conflicts {
        #[command(flatten)]
        db: DbArg,
        /// Only this log.
        #[arg(long)]
        origin: Option<String>,
    },
    /// Print the witness's verifier key (C2SP vkey, type 0x04): give it to reviewers for
    /// `edgeproof verify --witness-key FILE`.
    Vkey {
        #[command(flatten)]
        identity: Identity,
    },
}

/// The witness's database.
#[derive(Debug, clap::Args)]
pub struct DbArg {
    /// A SQLite file (created if missing; also `sqlite://PATH`) or `postgres://USER@HOST/DB`
    /// for several instances sharing one database.
    #[arg(long, env = "EDGEPROOF_WITNESS_DB")]
    db: String,
}

/// How much one client, and a stalled database, may hold the witness (docs/reviewing.md,
/// "Witness").
#[derive(Debug, clap::Args)]
pub struct LimitArgs {
    /// Connections served at once; more wait in the kernel's accept queue.
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Connections from one IP address at once; more are closed when accepted. Raise it
    /// when many gateways reach the witness through one NAT address or proxy.
    #[arg(long, default_value_t = Limits::default().max_per_peer)]
    max_connections_per_peer: usize,
    /// Time a client has to send a request head, also the idle time after which a
    /// keep-alive connection is closed.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    header_timeout: Duration,
    /// Time a client has to send a request body.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    body_timeout: Duration,
    /// PostgreSQL: a statement running (or waiting for a lock) longer than this is
    /// cancelled, and a request whose database does not answer within it (plus a second)
    /// gets 503. Also the connect timeout.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    db_timeout: Duration,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections.max(1),
            max_per_peer: self.max_connections_per_peer.max(1),
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            ..Limits::default()
        }
    }

    fn db_timeouts(&self) -> Timeouts {
        Timeouts {
            connect: self.db_timeout,
            statement: self.db_timeout,
            answer: self.db_timeout + Duration::from_secs(1),
            ..Timeouts::default()
        }
    }
}

/// Who the witness is.
#[derive(Debug, clap::Args)]
pub struct Identity {
    /// The witness's signing key (PKCS#8 PEM, mode 0600), e.g. the evidence.key that
    /// `edgeproof keygen --dir DIR` writes.
    #[arg(long)]
    key: PathBuf,
    /// The witness's key name, a schema-less URL such as `witness.example.gov.cn/w1`.
    #[arg(long)]
    name: String,
}

impl Identity {
    fn load(&self) -> anyhow::Result<(GatewayKey, String)> {
        if !valid_key_name(&self.name) {
            bail!("--name {:?}: a key name is non-empty, without spaces or '+'", self.name);
        }
        let key = GatewayKey::load(&self.key).map_err(|e| anyhow!("--key {e}"))?;
        Ok((key, self.name.clone()))
    }
}

/// Runs a `witness` subcommand.
pub fn run(command: WitnessCommand) -> ExitCode {
    match command {
        WitnessCommand::Vkey { identity } => match identity.load() {
            Ok((key, name)) => {
                println!("{}", WitnessKey { name, key: key.public() }.vkey());
                ExitCode::SUCCESS
            }
            Err(e) => cannot(&e),
        },
        WitnessCommand::AddLog { db, origin, public_key } => {
            super::runtime().block_on(add_log(&db.db, &origin, &public_key))
        }
        WitnessCommand::List { db } => super::runtime().block_on(list(&db.db)),
        WitnessCommand::Conflicts { db, origin } => {
            super::runtime().block_on(conflicts(&db.db, origin.as_deref()))
        }
        WitnessCommand::Serve { db, identity, listen, tls_cert, tls_key, limits } => {
            super::runtime().block_on(serve(
                &db.db,
                &identity,
                listen,
                (tls_cert, tls_key),
                &limits,
            ))
        }
    }
}

/// Prints the error (its own message names the cause; thiserror sources are not repeated).
fn cannot(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(super::EXIT_CANNOT_RUN)
}

async fn add_log(db: &str, origin: &str, public_key: &Path) -> ExitCode {
    let prepared = async {
        if !valid_key_name(origin) {
            bail!("--origin {origin:?}: an origin is one line without spaces or '+' (it is also the log's key name)");
        }
        let key = PublicKey::load(public_key).map_err(|e| anyhow!("--public-key {e}"))?;
        let store = Store::open(db).await?;
        Ok((key, store))
    };
    let (key, store) = match prepared.await {
        Ok(v) => v,
        Err(e) => return cannot(&e),
    };
    match store.add_log(origin, &key).await {
        Ok(AddedLog::Added) => {
            println!("added {origin} (key {})", key.fingerprint());
            ExitCode::SUCCESS
        }
        Ok(AddedLog::AlreadyPresent) => {
            println!("{origin} was already added with this key (key {})", key.fingerprint());
            ExitCode::SUCCESS
        }
        Err(e @ StoreError::KeyMismatch { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(super::EXIT_NEGATIVE)
        }
        Err(e) => cannot(&e.into()),
    }
}

async fn list(db: &str) -> ExitCode {
    let logs = async { Store::open(db).await?.logs().await };
    match logs.await {
        Ok(logs) => {
            for l in logs {
                println!("{}\tsize {}\tkey {}", l.origin, l.state.size, l.key.fingerprint());
            }
            ExitCode::SUCCESS
        }
        Err(e) => cannot(&e.into()),
    }
}

async fn conflicts(db: &str, origin: Option<&str>) -> ExitCode {
    let found = async { Store::open(db).await?.conflicts(origin).await };
    match found.await {
        Ok(found) if found.is_empty() => ExitCode::SUCCESS,
        Ok(found) => {
            for c in &found {
                match serde_json::to_string(c) {
                    Ok(line) => println!("{line}"),
                    Err(e) => return cannot(&e.into()),
                }
            }
            ExitCode::from(super::EXIT_NEGATIVE)
        }
        Err(e) => cannot(&e.into()),
    }
}

async fn serve(
    db: &str,
    identity: &Identity,
    listen: SocketAddr,
    (tls_cert, tls_key): (Option<PathBuf>, Option<PathBuf>),
    limits: &LimitArgs,
) -> ExitCode {
    let mut signals = super::ShutdownSignals::install();
    let started = async {
        let (key, name) = identity.load()?;
        let tls = match (tls_cert, tls_key) {
            (Some(c), Some(k)) => Some(server::tls_acceptor(&c, &k)?),
            _ => None,
        };
        let store = Store::open_with(db, limits.db_timeouts()).await?;
        let logs = store.logs().await?.len();
        let listener = server::bind(listen).await?;
        let cosigner = Cosigner::new(key, name, store);
        info!(
            "witness: {} with {logs} log(s); verifier key {}",
            identity.name,
            cosigner.witness_key().vkey()
        );
        anyhow::Ok((listener, cosigner, tls))
    };
    let (listener, cosigner, tls) = match started.await {
        Ok(v) => v,
        Err(e) => return cannot(&e),
    };
    let cancel = CancellationToken::new();
    let server = tokio::spawn(server::serve(
        listener,
        Arc::new(cosigner),
        tls,
        limits.limits(),
        cancel.clone(),
    ));
    let signal = signals.recv().await;
    info!("witness: {signal}: stopping");
    cancel.cancel();
    let _ = server.await;
    ExitCode::SUCCESS
}
