//! `edgeproof demo`: the newcomer's first command. Starts three simulated devices (a CNC
//! press, a power meter, a temperature sensor) on local ports, writes the device map it uses
//! to a temp directory, and runs the real agent against them: journal, MQTT (when a broker
//! is listening), metrics, and usage evidence with a local witness ([`super::demo_review`]).
//! A status line every few seconds; Ctrl-C stops it cleanly, then the evidence is exported,
//! verified and reported.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edgeproof::agent::{self, AgentOptions, RunningAgent};
use edgeproof::config;
use edgeproof::source::modbus::{DataType, ModbusPoint};
use edgeproof_sim::opcua::{SimOpcUa, SimOpcUaOptions, VARIABLES};
use edgeproof_sim::{spawn_ticker, Profile, SimDevice, SimServer};
use tracing::{error, info, warn};

/// Demo options from the command line.
pub struct DemoArgs {
    /// Broker URL.
    pub broker: String,
    /// Where to serve /metrics.
    pub metrics: SocketAddr,
    /// Data directory; a fresh temp dir when absent.
    pub data_dir: Option<PathBuf>,
    /// Stop by itself after this long (for scripts and tests).
    pub duration: Option<Duration>,
    /// Seconds between status lines.
    pub status_every: Duration,
}

/// Runs the demo until Ctrl-C (or `--duration`).
pub async fn run(args: DemoArgs) -> ExitCode {
    let mut signals = edgeproof::service::ShutdownSignals::install();
    let data_dir = args.data_dir.clone().unwrap_or_else(|| {
        let stamp = edgeproof::model::now_ms();
        std::env::temp_dir().join(format!("edgeproof-demo-{}-{stamp}", std::process::id()))
    });
    if let Err(e) = std::fs::create_dir_all(&data_dir) {
        error!("cannot create {}: {e}", data_dir.display());
        return ExitCode::from(super::EXIT_CANNOT_RUN);
    }

    let evidence = match super::demo_review::DemoEvidence::prepare(&data_dir) {
        Ok(e) => e,
        Err(msg) => {
            error!("{msg}");
            return ExitCode::from(super::EXIT_CANNOT_RUN);
        }
    };

    let mut sims = Vec::new();
    let mut tickers = Vec::new();
    let mut devices = Vec::new();
    for (i, profile) in Profile::ALL.into_iter().enumerate() {
        let mut device = SimDevice::new(profile, 0xED6E + i as u64);
        let image = Arc::new(Mutex::new(device.image()));
        let server = match SimServer::start(([127, 0, 0, 1], 0).into(), image.clone()).await {
            Ok(s) => s,
            Err(e) => {
                error!("cannot start the simulated {}: {e}", profile.device_name());
                return ExitCode::from(super::EXIT_CANNOT_RUN);
            }
        };
        // Any local client can reach the demo's devices: writes are reported below, not a panic.
        server.expect_writes();
        tickers.push(spawn_ticker(device, image, Duration::from_millis(200)));
        devices.push((profile, server.local_addr()));
        sims.push(server);
    }

    // The OPC UA moulding machine: its PKI lives beside the demo's data.
    let molder = match SimOpcUa::start(SimOpcUaOptions::new(data_dir.join("sim-opcua-pki"))).await {
        Ok(m) => {
            m.expect_writes();
            Some(m)
        }
        Err(e) => {
            warn!("the simulated OPC UA machine did not start ({e}); the demo runs without it");
            None
        }
    };

    let metrics = free_or_any(args.metrics);
    let mut text = demo_config(&data_dir, &args.broker, metrics, &devices);
    text.push_str(&evidence.config_section());
    if let Some(m) = &molder {
        text.push_str(&molder_config(m));
    }
    let config_path = data_dir.join("demo.toml");
    if let Err(e) = std::fs::write(&config_path, &text) {
        error!("cannot write {}: {e}", config_path.display());
        return ExitCode::from(super::EXIT_CANNOT_RUN);
    }
    let cfg = match config::load_str(&config_path, &text, false) {
        Ok(c) => c,
        Err(e) => {
            error!("internal error: the generated demo config is invalid: {e}");
            return ExitCode::from(super::EXIT_CANNOT_RUN);
        }
    };

    println!("edgeproof demo — simulated devices, the real agent.");
    for (profile, addr) in &devices {
        println!("  {:<9} {addr:<16} {}", profile.device_name(), profile.description());
    }
    if let Some(m) = &molder {
        println!("  {:<9} {:<16} injection moulding machine (OPC UA)", MOLDER, m.endpoint());
    }
    println!("  device map   {}", config_path.display());
    println!("  journal      {}", agent::journal_path(&cfg).display());
    println!("  metrics      http://{metrics}/metrics");
    print!("{}", evidence.banner());
    let broker_up = broker_reachable(&cfg).await;
    if broker_up {
        println!("  broker       {} (subscribe: mosquitto_sub -t 'edgeproof/#' -v)", args.broker);
    } else {
        println!(
            "  broker       none at {} — readings are journaled and will be published when one starts",
            args.broker
        );
    }
    println!("Ctrl-C stops it.\n");

    let running = match agent::start(&cfg, AgentOptions::default()).await {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start: {e}");
            return ExitCode::from(super::EXIT_CANNOT_RUN);
        }
    };
    agent::release_freed_memory();
    status_loop(&running, &mut signals, args.duration, args.status_every).await;
    info!("demo stopping");
    let result = running.stop().await;
    for t in tickers {
        t.abort();
    }
    let mut writes = Vec::new();
    for s in sims {
        writes.extend((s.write_count() > 0).then(|| (s.local_addr().to_string(), s.write_count())));
        s.stop().await;
    }
    if let Some(m) = molder {
        writes.extend((m.write_count() > 0).then(|| (m.endpoint(), m.write_count())));
        m.stop().await;
    }
    for (device, n) in &writes {
        error!(
            device = %device,
            "the simulated device at {device} received {n} write request(s) and refused them; \
             edgeproof never writes to a device, so they came from another local client — or \
             this is a bug to report"
        );
    }
    match result {
        Ok(()) => {
            println!("stopped cleanly; the device map and journal stay in {}", data_dir.display());
            evidence.finish(&config_path);
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!("unclean stop: {e}");
            ExitCode::from(super::EXIT_CANNOT_RUN)
        }
    }
}

/// Prints a status line every `every` until Ctrl-C, SIGTERM or `duration`.
async fn status_loop(
    running: &RunningAgent,
    signals: &mut edgeproof::service::ShutdownSignals,
    duration: Option<Duration>,
    every: Duration,
) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    let mut last_samples = 0u64;
    let mut last_at = Instant::now();
    let stop = async {
        let until = async {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = until => {}
            _ = signals.recv() => {}
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        let j = running.journal.snapshot();
        let rate = (j.appended_samples - last_samples) as f64 / last_at.elapsed().as_secs_f64();
        last_samples = j.appended_samples;
        last_at = Instant::now();
        let mut line = format!(
            "[{:>4}s] {rate:>6.0} points/s · journal {} entries ({} KiB)",
            started.elapsed().as_secs(),
            j.entries,
            j.used_bytes / 1024
        );
        match &running.publish {
            Some(p) => {
                let p = p.snapshot();
                let state = if p.connected == 1 { "connected" } else { "disconnected" };
                let _ = write!(
                    line,
                    " · published {} acked {} in flight {} · broker {state}",
                    p.published, p.acknowledged, p.in_flight
                );
            }
            None => line.push_str(" · no broker configured"),
        }
        println!("{line}");
    }
}

/// The configured address, or any free port if it is taken (a second demo, a real agent).
fn free_or_any(addr: SocketAddr) -> SocketAddr {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => addr,
        Err(_) => {
            std::net::TcpListener::bind((addr.ip(), 0)).and_then(|l| l.local_addr()).unwrap_or(addr)
        }
    }
}

async fn broker_reachable(cfg: &config::Config) -> bool {
    let Some(m) = &cfg.mqtt else { return false };
    let target = format!("{}:{}", m.host, m.port);
    matches!(
        tokio::time::timeout(Duration::from_millis(500), tokio::net::TcpStream::connect(target))
            .await,
        Ok(Ok(_))
    )
}

/// The device map the demo runs, written out so a newcomer can read a working example.
fn demo_config(
    data_dir: &Path,
    broker: &str,
    metrics: SocketAddr,
    devices: &[(Profile, SocketAddr)],
) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "# Written by `edgeproof demo`: the simulated devices' device map.");
    let _ = writeln!(t, "[gateway]\nid = \"gw-demo-01\"\nenterprise = \"91440300MA5DEM0A0G\"");
    let _ = writeln!(
        t,
        "project = \"GD-2026-DEMO\"\ndata_dir = {:?}\n",
        data_dir.display().to_string()
    );
    let _ = writeln!(t, "[mqtt]\nurl = {broker:?}\n");
    let _ = writeln!(t, "[journal]\nflush_interval = \"200ms\"\nmax_bytes = \"256MiB\"\n");
    let _ = writeln!(t, "[metrics]\nlisten = \"{metrics}\"\n");
    for (profile, addr) in devices {
        let _ = writeln!(t, "# {}", profile.description());
        let _ = writeln!(
            t,
            "[[devices]]\nname = \"{}\"\nprotocol = \"modbus-tcp\"\naddress = \"{addr}\"\npoll = \"1s\"\ntimeout = \"1s\"\n",
            profile.device_name()
        );
        for p in profile.points() {
            t.push_str(&point_toml(&p));
        }
    }
    t
}

/// The demo's OPC UA device name.
const MOLDER: &str = "molder-01";

/// The OPC UA machine's device map: most variables subscribed, the counters polled.
fn molder_config(m: &SimOpcUa) -> String {
    let mut t = format!(
        "# simulated injection moulding machine (OPC UA)\n[[devices]]\nname = \"{MOLDER}\"\nprotocol = \"opcua\"\nendpoint = \"{}\"\nsecurity_policy = \"None\"\nsecurity_mode = \"None\"\ntrust = \"first-use\"\npoll = \"1s\"\n\n",
        m.endpoint()
    );
    for (id, browse, unit) in VARIABLES {
        let mode = if matches!(browse, "ShotCount" | "Recipe") { "poll" } else { "subscribe" };
        let _ = writeln!(
            t,
            "  [[devices.points]]\n  name = {:?}\n  node = {:?}\n  mode = \"{mode}\"",
            snake(browse),
            m.node(id)
        );
        if !unit.is_empty() {
            let _ = writeln!(t, "  unit = {unit:?}");
        }
        t.push('\n');
    }
    t
}

/// `BarrelTemp` → `barrel_temp`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn point_toml(p: &ModbusPoint) -> String {
    let mut t = format!(
        "  [[devices.points]]\n  name = {:?}\n  area = \"{}\"\n  address = {}\n  type = \"{}\"\n",
        &*p.name,
        p.area,
        p.address,
        p.dtype.as_str()
    );
    match p.dtype {
        DataType::Bit(b) => {
            let _ = writeln!(t, "  bit = {b}");
        }
        DataType::String(n) => {
            let _ = writeln!(t, "  length = {n}");
        }
        _ => {}
    }
    match p.dtype.order_bytes() {
        Some(4) => {
            let _ = writeln!(t, "  order = \"{}\"", p.order.name4());
        }
        Some(_) => {
            let _ = writeln!(t, "  order = \"{}\"", p.order.name8());
        }
        None => {}
    }
    if !p.is_unscaled() {
        let _ = writeln!(t, "  scale = {:?}\n  offset = {:?}", p.scale, p.offset);
    }
    if let Some(u) = &p.unit {
        let _ = writeln!(t, "  unit = {u:?}");
    }
    let _ = writeln!(t, "  poll = \"{}\"", humantime::format_duration(p.poll));
    if let Some(d) = p.deadband {
        let _ = writeln!(t, "  deadband = {d:?}");
    }
    t.push('\n');
    t
}
