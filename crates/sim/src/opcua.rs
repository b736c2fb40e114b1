//! A simulated injection moulding machine speaking OPC UA: an async-opcua server in process,
//! for `edgeproof demo` and the integration tests.
//!
//! The address space has a `Molder` folder in namespace [`NAMESPACE_URI`] with string node
//! ids (`ns=<index>;s=Molder.Barrel.Temp` …, see [`VARIABLES`]) whose values move like a
//! machine cycling every few seconds: barrel and mould temperatures drift around their set
//! points, injection pressure peaks once per cycle, the shot counter counts cycles.
//!
//! Tests get what they need to assert on: the endpoint, the namespace index, the number of
//! monitored items the server holds per node (to prove a reconnect does not duplicate
//! them), and a restart on the same port with the same or a fresh certificate.
//!
//! The BuildInfo says "edgeproof simulator": evidence recorded against a simulated machine
//! must never pass for a real one. The machine refuses every write: its variables announce
//! CurrentWrite only so that a Write of their value reaches the simulator (the server would
//! otherwise refuse it unseen), which answers `BadUserAccessDenied` and trips the write
//! tripwire ([`super::writes`]): dropping a simulator that received a Write fails the test.

use std::f64::consts::TAU;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use opcua::crypto::SecurityPolicy;
use opcua::nodes::AccessLevel;
use opcua::server::address_space::Variable;
use opcua::server::diagnostics::NamespaceMetadata;
use opcua::server::node_manager::memory::{simple_node_manager, SimpleNodeManager};
use opcua::server::{
    ServerBuilder, ServerEndpoint, ServerHandle, ServerUserToken, ANONYMOUS_USER_TOKEN_ID,
};
use opcua::types::{
    AttributeId, BuildInfo, DataValue, DateTime, MessageSecurityMode, NodeId, ObjectId, StatusCode,
    Variant,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::writes::WriteTripwire;

/// The simulator's namespace.
pub const NAMESPACE_URI: &str = "urn:edgeproof:sim:molder";

/// The machine's variables: (node id string, browse name, unit).
pub const VARIABLES: [(&str, &str, &str); 8] = [
    ("Molder.Barrel.Temp", "BarrelTemp", "°C"),
    ("Molder.Mold.Temp", "MoldTemp", "°C"),
    ("Molder.InjectionPressure", "InjectionPressure", "bar"),
    ("Molder.CycleTime", "CycleTime", "s"),
    ("Molder.ShotCount", "ShotCount", ""),
    ("Molder.Running", "Running", ""),
    ("Molder.State", "State", ""),
    ("Molder.Recipe", "Recipe", ""),
];

/// How the simulated server is set up.
#[derive(Debug, Clone)]
pub struct SimOpcUaOptions {
    /// Where it listens; port 0 picks a free one.
    pub addr: SocketAddr,
    /// Its PKI folder (own certificate, trusted clients). Reused across restarts, so the
    /// certificate stays the same unless the folder is emptied.
    pub pki_dir: PathBuf,
    /// A user it accepts besides anonymous: (name, password).
    pub user: Option<(String, String)>,
    /// Also offer secured endpoints (Basic256Sha256 and Aes256_Sha256_RsaPss, Sign and
    /// SignAndEncrypt); otherwise only None/None.
    pub secure: bool,
    /// `MaxNodesPerRead` it announces (0 = the library default).
    pub max_nodes_per_read: usize,
    /// Time between value updates; zero keeps the values still (tests set them).
    pub tick: Duration,
}

impl SimOpcUaOptions {
    /// Anonymous, None/None only, on a free port of 127.0.0.1.
    pub fn new(pki_dir: impl Into<PathBuf>) -> Self {
        SimOpcUaOptions {
            addr: ([127, 0, 0, 1], 0).into(),
            pki_dir: pki_dir.into(),
            user: None,
            secure: false,
            max_nodes_per_read: 0,
            tick: Duration::from_millis(200),
        }
    }
}

/// A running simulated machine.
pub struct SimOpcUa {
    handle: ServerHandle,
    manager: Arc<SimpleNodeManager>,
    addr: SocketAddr,
    ns: u16,
    server: Option<JoinHandle<Result<(), String>>>,
    ticker: Option<JoinHandle<()>>,
    options: SimOpcUaOptions,
    writes: Arc<WriteTripwire>,
}

fn build(options: &SimOpcUaOptions, port: u16) -> ServerBuilder {
    let mut tokens = vec![ANONYMOUS_USER_TOKEN_ID.to_string()];
    let mut builder = ServerBuilder::new()
        .application_name("edgeproof simulated moulding machine")
        .application_uri("urn:edgeproof:sim:molder:server")
        .product_uri("urn:edgeproof:sim")
        .build_info(BuildInfo {
            product_uri: "urn:edgeproof:sim".into(),
            manufacturer_name: "edgeproof simulator".into(),
            product_name: "simulated injection moulding machine".into(),
            software_version: env!("CARGO_PKG_VERSION").into(),
            build_number: "sim".into(),
            build_date: DateTime::now(),
        })
        .create_sample_keypair(true)
        .pki_dir(&options.pki_dir)
        .trust_client_certs(true)
        .host(options.addr.ip().to_string())
        .port(port)
        .discovery_urls(vec![format!("opc.tcp://{}:{port}/", options.addr.ip())])
        .with_node_manager(simple_node_manager(
            NamespaceMetadata { namespace_uri: NAMESPACE_URI.into(), ..Default::default() },
            "molder",
        ));
    if let Some((user, pass)) = &options.user {
        builder = builder.add_user_token(user, ServerUserToken::user_pass(user, pass));
        tokens.push(user.clone());
    }
    builder = builder.add_endpoint(
        "none",
        ServerEndpoint::new("/", SecurityPolicy::None, MessageSecurityMode::None, &tokens),
    );
    if options.secure {
        for (id, policy) in [
            ("basic256sha256", SecurityPolicy::Basic256Sha256),
            ("aes256sha256rsapss", SecurityPolicy::Aes256Sha256RsaPss),
        ] {
            for (suffix, mode) in [
                ("sign", MessageSecurityMode::Sign),
                ("sign_encrypt", MessageSecurityMode::SignAndEncrypt),
            ] {
                builder = builder.add_endpoint(
                    format!("{id}_{suffix}"),
                    ServerEndpoint::new("/", policy, mode, &tokens),
                );
            }
        }
    }
    if options.max_nodes_per_read > 0 {
        builder.limits_mut().operational.max_nodes_per_read = options.max_nodes_per_read;
    }
    builder
}

impl SimOpcUa {
    /// Starts the server and its value ticker.
    pub async fn start(options: SimOpcUaOptions) -> std::io::Result<SimOpcUa> {
        std::fs::create_dir_all(&options.pki_dir)?;
        let listener = TcpListener::bind(options.addr).await?;
        let addr = listener.local_addr()?;
        let (server, handle) = build(&options, addr.port())
            .build()
            .map_err(|e| std::io::Error::other(format!("simulated OPC UA server: {e}")))?;
        let manager = handle
            .node_managers()
            .get_of_type::<SimpleNodeManager>()
            .ok_or_else(|| std::io::Error::other("simulated OPC UA server: no node manager"))?;
        let ns = handle
            .get_namespace_index(NAMESPACE_URI)
            .ok_or_else(|| std::io::Error::other("simulated OPC UA server: no namespace"))?;
        let writes = Arc::new(WriteTripwire::default());
        populate(&manager, ns, &writes);
        let server = Some(tokio::spawn(server.run_with(listener)));
        let ticker = (!options.tick.is_zero())
            .then(|| tokio::spawn(tick(handle.clone(), manager.clone(), ns, options.tick)));
        let options = SimOpcUaOptions { addr, ..options };
        Ok(SimOpcUa { handle, manager, addr, ns, server, ticker, options, writes })
    }

    /// `opc.tcp://127.0.0.1:<port>/`.
    pub fn endpoint(&self) -> String {
        format!("opc.tcp://{}/", self.addr)
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The namespace index of [`NAMESPACE_URI`].
    pub fn namespace(&self) -> u16 {
        self.ns
    }

    /// The node id text of a variable, e.g. `ns=2;s=Molder.Barrel.Temp`.
    pub fn node(&self, id: &str) -> String {
        format!("ns={};s={id}", self.ns)
    }

    /// Monitored items the server holds on `id`'s Value, over every session.
    pub fn monitored_items(&self, id: &str) -> usize {
        let node = NodeId::new(self.ns, id);
        let mut notifier = self.handle.subscriptions().data_notifier();
        notifier.notify_for(&node, AttributeId::Value).map_or(0, |batch| batch.entries().count())
    }

    /// Sets a variable's value (tests pin values to assert on them).
    pub fn set(&self, id: &str, value: impl Into<Variant>) {
        let node = NodeId::new(self.ns, id);
        let _ = self.manager.set_value(
            self.handle.subscriptions(),
            &node,
            None,
            DataValue::new_now(value.into()),
        );
    }

    /// Write service calls received (and refused).
    pub fn write_count(&self) -> u64 {
        self.writes.seen()
    }

    /// Writes are sent on purpose: refused and counted, but dropping does not fail (see
    /// [`super::writes`]).
    pub fn expect_writes(&self) {
        self.writes.expect_writes();
    }

    /// What dropping this simulator would fail with, were its writes not expected.
    pub fn write_violation(&self) -> Option<String> {
        self.writes.violation(&self.endpoint())
    }

    /// Stops the server (connections drop, as when a PLC powers off) and returns how to
    /// start it again.
    pub async fn stop(mut self) -> SimOpcUaOptions {
        if let Some(t) = &self.ticker {
            t.abort();
        }
        self.handle.cancel();
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
        self.options.clone()
    }

    /// Stops and starts again on the same port and PKI folder (same certificate).
    pub async fn restart(self) -> std::io::Result<SimOpcUa> {
        let options = self.stop().await;
        // The port was just released; a few quick tries cover the kernel's bookkeeping.
        let mut last = None;
        for _ in 0..50 {
            match SimOpcUa::start(options.clone()).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("restart failed")))
    }
}

impl Drop for SimOpcUa {
    fn drop(&mut self) {
        self.writes.check_on_drop(&format!("OPC UA {}", self.endpoint()));
    }
}

/// Removes the server's own certificate and key so the next start makes a new one (a
/// re-installed PLC).
pub fn forget_certificate(pki_dir: &Path) -> std::io::Result<()> {
    for sub in ["own", "private"] {
        let p = pki_dir.join(sub);
        if p.exists() {
            std::fs::remove_dir_all(p)?;
        }
    }
    Ok(())
}

/// The value of every variable at time `t` seconds since start.
fn values(t: f64) -> [Variant; 8] {
    let cycle = 6.0 + 0.3 * (t / 90.0 * TAU).sin();
    let phase = (t % cycle) / cycle;
    let shots = (t / cycle).floor() as u32;
    let pressure = if phase < 0.25 { 1150.0 * (phase / 0.25 * TAU / 2.0).sin() } else { 35.0 };
    let round = |x: f64| (x * 100.0).round() / 100.0;
    [
        Variant::Double(round(230.0 + 1.5 * (t / 40.0 * TAU).sin())),
        Variant::Double(round(45.0 + 0.8 * (t / 55.0 * TAU).sin())),
        Variant::Double(round(pressure.max(0.0))),
        Variant::Double(round(cycle)),
        Variant::UInt32(shots),
        Variant::Boolean(true),
        Variant::String(
            if phase < 0.25 {
                "injecting"
            } else if phase < 0.7 {
                "cooling"
            } else {
                "ejecting"
            }
            .into(),
        ),
        Variant::String("PP-H 40 grey".into()),
    ]
}

fn populate(manager: &SimpleNodeManager, ns: u16, writes: &Arc<WriteTripwire>) {
    let folder = NodeId::new(ns, "Molder");
    let mut space = manager.address_space().write();
    space.add_folder(&folder, "Molder", "Molder", &ObjectId::ObjectsFolder.into());
    let vars = VARIABLES
        .iter()
        .zip(values(0.0))
        .map(|((id, name, _), value)| {
            let mut v = Variable::new(&NodeId::new(ns, *id), *name, *name, value);
            let access = AccessLevel::CURRENT_READ | AccessLevel::CURRENT_WRITE;
            v.set_access_level(access);
            v.set_user_access_level(access);
            v
        })
        .collect();
    space.add_variables(vars, &folder);
    drop(space);
    for (id, _, _) in VARIABLES {
        let writes = writes.clone();
        manager.inner().add_write_callback(NodeId::new(ns, id), move |_, _| {
            writes.record(format!("Write of ns={ns};s={id}"));
            StatusCode::BadUserAccessDenied
        });
    }
}

async fn tick(handle: ServerHandle, manager: Arc<SimpleNodeManager>, ns: u16, every: Duration) {
    let start = std::time::Instant::now();
    let ids: Vec<NodeId> = VARIABLES.iter().map(|(id, _, _)| NodeId::new(ns, *id)).collect();
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        let now = DateTime::now();
        let vals = values(start.elapsed().as_secs_f64());
        let updates = ids.iter().zip(vals).map(|(id, v)| (id, None, DataValue::new_at(v, now)));
        let _ = manager.set_values(handle.subscriptions(), updates);
    }
}
