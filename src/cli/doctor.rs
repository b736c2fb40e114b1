//! `edgeproof doctor -c FILE`: the installer's checklist in one command, run before
//! `systemctl enable --now edgeproof` and whenever something looks wrong.
//!
//! Checks, in order, each printed as one line (`ok`, `WARN` or `FAIL`, what, details):
//!
//! 1. **config**: the file loads and validates (if not, every problem is listed and nothing
//!    else is checked);
//! 2. **data dir**: exists (or can be made), is writable, has free space for the journal
//!    bound;
//! 3. **evidence key**: `[evidence] key_file` (default `<data_dir>/keys/evidence.key`) is
//!    present, readable only by its owner (0600) and a valid key; missing is a warning when
//!    evidence is optional (no `[evidence]` section) and a failure when it is required;
//! 4. **secret files**: keys and password files the config names (TLS key, password files,
//!    OPC UA user and client keys) that group or others can read are a warning;
//! 5. **clock**: synchronised, as `timedatectl` (systemd-timesyncd, chrony, ntpd) or the
//!    kernel's NTP status (`adjtimex`) says; not synchronised or unknown is a warning;
//! 6. **broker**: TCP connect, the TLS handshake for `mqtts://` (verified as the agent
//!    verifies), an MQTT CONNECT with the configured credentials (client id `<id>-doctor`,
//!    so a running agent's session is not taken over);
//! 7. **device** (one line each): reachable and answering: every point read once.
//!
//! Exit 0 when nothing failed (warnings allowed), 1 when a check failed, 2 when the checks
//! could not run (unreadable file).

use std::ffi::CString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use edgeproof::config::{
    self, Config, ConfigError, Device, DeviceProtocol, EvidenceMode, MqttConfig,
};
use edgeproof::evidence::keys::{GatewayKey, KeyError};
use edgeproof::model::Quality;
use edgeproof::publish::diagnose::{describe, BrokerContext};
use edgeproof::source::modbus::reader::DeviceReader;
use edgeproof::source::modbus::rtu::RtuBuses;
use edgeproof::source::modbus::{ModbusLink, Transport as ModbusTransport};
use edgeproof::source::NoObserver;
use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, MqttOptions, Packet, TlsConfiguration, Transport,
};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

/// Below this much free space the data dir check fails outright.
const MIN_FREE: u64 = 64 * 1024 * 1024;
/// How long one network step (connect, handshake, CONNACK) may take.
const NET_TIMEOUT: Duration = Duration::from_secs(10);
/// How long reading one device may take in all.
const DEVICE_TIMEOUT: Duration = Duration::from_secs(60);

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but deserves attention.
    Warn,
    /// Will not work as configured.
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        })
    }
}

/// One line of the report.
struct Finding {
    status: Status,
    what: String,
    detail: String,
}

fn finding(status: Status, what: impl Into<String>, detail: impl Into<String>) -> Finding {
    Finding { status, what: what.into(), detail: detail.into() }
}

fn print(f: &Finding) {
    println!("  {:<5} {:<18} {}", f.status.to_string(), f.what, f.detail);
}

/// Runs every check and prints the report.
pub async fn run(file: &Path) -> ExitCode {
    println!("edgeproof doctor — {}", file.display());
    let cfg = match config::load(file) {
        Ok(c) => c,
        Err(e @ ConfigError::Read { .. }) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::EXIT_CANNOT_RUN);
        }
        Err(e) => {
            print(&finding(Status::Fail, "config", "invalid; nothing else checked"));
            for line in e.to_string().lines() {
                println!("        {line}");
            }
            return ExitCode::from(super::EXIT_NEGATIVE);
        }
    };
    let mut findings = vec![config_summary(&cfg)];
    print(&findings[0]);
    for f in [data_dir(&cfg), evidence_key(&cfg), secret_files(&cfg), clock()] {
        print(&f);
        findings.push(f);
    }
    let broker = broker(cfg.mqtt.as_ref()).await;
    print(&broker);
    findings.push(broker);
    let mut buses: Option<RtuBuses> = None;
    for d in &cfg.devices {
        let f = device(d, &mut buses).await;
        print(&f);
        findings.push(f);
    }

    let failed = findings.iter().filter(|f| f.status == Status::Fail).count();
    let warned = findings.iter().filter(|f| f.status == Status::Warn).count();
    println!("{failed} check(s) failed, {warned} warning(s).");
    if failed > 0 {
        ExitCode::from(super::EXIT_NEGATIVE)
    } else {
        ExitCode::SUCCESS
    }
}

fn config_summary(cfg: &Config) -> Finding {
    let points: usize = cfg.devices.iter().map(Device::point_count).sum();
    let broker = cfg.mqtt.as_ref().map_or_else(
        || "no [mqtt]: journal only".to_string(),
        |m| format!("broker {}:{}{}", m.host, m.port, if m.tls { " (TLS)" } else { "" }),
    );
    finding(
        Status::Ok,
        "config",
        format!("valid: {} device(s), {points} point(s), {broker}", cfg.devices.len()),
    )
}

/// Free bytes for unprivileged users on the file system holding `path`.
fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: zeroed is a valid statvfs (plain integers); statvfs fills it from a valid
    // NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // The fields are 32-bit on 32-bit ARM and 64-bit elsewhere.
    #[allow(clippy::useless_conversion)]
    Ok(u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
}

/// How much free space means for a journal bounded at `bound` bytes.
fn judge_space(free: u64, bound: u64) -> Status {
    if free < MIN_FREE {
        Status::Fail
    } else if free < bound.saturating_add(MIN_FREE) {
        Status::Warn
    } else {
        Status::Ok
    }
}

fn data_dir(cfg: &Config) -> Finding {
    let dir = &cfg.gateway.data_dir;
    let what = "data dir";
    let (probe_dir, note) = if dir.is_dir() {
        (dir.as_path(), String::new())
    } else {
        match dir.parent().filter(|p| p.is_dir()) {
            Some(parent) => {
                (parent, format!(" (does not exist yet; `run` creates it in {})", parent.display()))
            }
            None => {
                return finding(
                    Status::Fail,
                    what,
                    format!("{} does not exist, nor does its parent", dir.display()),
                )
            }
        }
    };
    let probe = probe_dir.join(format!(".edgeproof-doctor-{}", std::process::id()));
    if let Err(e) = std::fs::write(&probe, b"doctor").and_then(|()| std::fs::remove_file(&probe)) {
        return finding(
            Status::Fail,
            what,
            format!("{} is not writable: {e}", probe_dir.display()),
        );
    }
    let as_root =
        if nix_euid() == 0 { " (checked as root; the service writes as its own user)" } else { "" };
    let bound = cfg.journal.max_bytes;
    match free_bytes(probe_dir) {
        Ok(free) => {
            let status = judge_space(free, bound);
            let why = match status {
                Status::Ok => "",
                Status::Warn => "; less than the journal bound: the disk fills before the bound",
                Status::Fail => "; too little to run",
            };
            finding(
                status,
                what,
                format!(
                    "{} writable{as_root}, {} free, journal bound {}{why}{note}",
                    dir.display(),
                    bytesize::ByteSize(free),
                    bytesize::ByteSize(bound)
                ),
            )
        }
        Err(e) => finding(
            Status::Warn,
            what,
            format!("{} writable; free space unknown: {e}", dir.display()),
        ),
    }
}

fn nix_euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn evidence_key(cfg: &Config) -> Finding {
    let what = "evidence key";
    let ev = &cfg.evidence;
    let path = &ev.key_file;
    if ev.mode == EvidenceMode::Off {
        return finding(Status::Ok, what, "evidence off ([evidence] enabled = false)");
    }
    let keygen = path.parent().map_or_else(
        || "edgeproof keygen".to_string(),
        |d| format!("edgeproof keygen --dir {}", d.display()),
    );
    if !path.exists() {
        let status = if ev.mode == EvidenceMode::On { Status::Fail } else { Status::Warn };
        return finding(
            status,
            what,
            format!("none at {}: evidence is off until `{keygen}`", path.display()),
        );
    }
    match GatewayKey::load(path) {
        Ok(key) => {
            let owner = std::fs::metadata(path).map(|m| m.uid()).ok();
            let dir_owner = std::fs::metadata(&cfg.gateway.data_dir).map(|m| m.uid()).ok();
            let detail =
                format!("{} (0600), fingerprint {}", path.display(), key.public().fingerprint());
            match (owner, dir_owner) {
                (Some(o), Some(d)) if o != d => finding(
                    Status::Warn,
                    what,
                    format!("{detail}; owned by uid {o} but the data dir by uid {d}: the service may not read it"),
                ),
                _ => finding(Status::Ok, what, detail),
            }
        }
        Err(KeyError::Permissions { mode, .. }) => finding(
            Status::Fail,
            what,
            format!(
                "{} has mode {mode:04o}: others can read the signing key; chmod 600 it",
                path.display()
            ),
        ),
        Err(e) => finding(Status::Fail, what, e.to_string()),
    }
}

/// Keys and password files other users could read (the evidence key has its own line).
fn secret_files(cfg: &Config) -> Finding {
    let what = "secret files";
    let exposed: Vec<String> = config::secret_files::exposed_secret_files(cfg)
        .iter()
        .filter(|e| e.path != cfg.evidence.key_file)
        .map(|e| e.to_string())
        .collect();
    if exposed.is_empty() {
        let files = config::secret_files::secret_files(cfg);
        let n = files.iter().filter(|(_, p)| *p != cfg.evidence.key_file).count();
        finding(
            Status::Ok,
            what,
            format!("{n} key/password file(s) named, none readable by others"),
        )
    } else {
        finding(Status::Warn, what, exposed.join("; "))
    }
}

/// What the system says about clock synchronisation.
#[derive(Debug, PartialEq, Eq)]
enum Clock {
    Synced(&'static str),
    Unsynced(&'static str),
    Unknown(String),
}

fn clock() -> Finding {
    let what = "clock";
    match clock_status() {
        Clock::Synced(by) => finding(Status::Ok, what, format!("synchronised ({by})")),
        Clock::Unsynced(by) => finding(
            Status::Warn,
            what,
            format!(
                "not synchronised ({by}): evidence carries wall time; enable NTP \
                 (timedatectl set-ntp true, or chrony)"
            ),
        ),
        Clock::Unknown(why) => finding(Status::Warn, what, format!("cannot tell: {why}")),
    }
}

fn clock_status() -> Clock {
    if let Ok(out) = std::process::Command::new("timedatectl")
        .args(["show", "--property=NTPSynchronized", "--value"])
        .output()
    {
        if out.status.success() {
            match String::from_utf8_lossy(&out.stdout).trim() {
                "yes" => return Clock::Synced("timedatectl"),
                "no" => return Clock::Unsynced("timedatectl"),
                _ => {}
            }
        }
    }
    kernel_clock()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn kernel_clock() -> Clock {
    // SAFETY: zeroed is a valid timex; with modes = 0 adjtimex only reads the kernel's state.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::adjtimex(&mut tx) };
    judge_kernel_clock(rc, tx.status)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn kernel_clock() -> Clock {
    Clock::Unknown("no timedatectl, and adjtimex is not available on this platform".into())
}

/// adjtimex(2): TIME_ERROR (5) or STA_UNSYNC (0x40) means the kernel is not synchronised.
fn judge_kernel_clock(rc: i32, status: i32) -> Clock {
    const TIME_ERROR: i32 = 5;
    const STA_UNSYNC: i32 = 0x0040;
    if rc < 0 {
        Clock::Unknown(format!("adjtimex: {}", std::io::Error::last_os_error()))
    } else if rc == TIME_ERROR || status & STA_UNSYNC != 0 {
        Clock::Unsynced("kernel NTP status")
    } else {
        Clock::Synced("kernel NTP status")
    }
}

async fn broker(mqtt: Option<&MqttConfig>) -> Finding {
    let what = "broker";
    let Some(m) = mqtt else {
        return finding(Status::Ok, what, "no [mqtt] section: nothing is published");
    };
    let addr = if m.host.contains(':') {
        format!("[{}]:{}", m.host, m.port)
    } else {
        format!("{}:{}", m.host, m.port)
    };
    let fail = |detail: String| finding(Status::Fail, what, format!("{addr}: {detail}"));
    let tcp = match tokio::time::timeout(NET_TIMEOUT, TcpStream::connect((m.host.as_str(), m.port)))
        .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return fail(format!("TCP connect failed: {e}")),
        Err(_) => return fail(format!("TCP connect: no answer within {NET_TIMEOUT:?}")),
    };
    let mut steps = vec!["TCP ok".to_string()];
    let tls = if m.tls {
        let config = match edgeproof::publish::tls::client_config(m) {
            Ok(c) => c,
            Err(e) => return fail(format!("TLS settings: {e}")),
        };
        let name = match ServerName::try_from(m.host.clone()) {
            Ok(n) => n,
            Err(e) => return fail(format!("host {:?} is not a TLS server name: {e}", m.host)),
        };
        match tokio::time::timeout(
            NET_TIMEOUT,
            TlsConnector::from(config.clone()).connect(name, tcp),
        )
        .await
        {
            Ok(Ok(stream)) => {
                let version = stream.get_ref().1.protocol_version();
                steps.push(format!(
                    "TLS ok{}",
                    version.map_or(String::new(), |v| format!(" ({v:?})"))
                ));
            }
            Ok(Err(e)) => {
                let ctx = BrokerContext {
                    addr: addr.clone(),
                    host: m.host.clone(),
                    has_ca_file: m.ca_file.is_some(),
                };
                let hint =
                    edgeproof::publish::diagnose::tls_hint_of(&e, &ctx).unwrap_or_else(|| {
                        if m.ca_file.is_some() { " — check mqtt.ca_file" } else { "" }.to_string()
                    });
                return fail(format!("TLS handshake failed: {e}{hint}"));
            }
            Err(_) => return fail(format!("TLS handshake: no answer within {NET_TIMEOUT:?}")),
        }
        Some(config)
    } else {
        drop(tcp);
        None
    };
    match mqtt_connect(m, &addr, tls).await {
        Ok(()) => {
            steps.push("MQTT CONNECT accepted".into());
            finding(Status::Ok, what, format!("{addr}: {}", steps.join(", ")))
        }
        Err(e) => fail(format!("{}, but {e}", steps.join(", "))),
    }
}

/// An MQTT CONNECT with the agent's credentials under a client id of its own.
async fn mqtt_connect(
    m: &MqttConfig,
    addr: &str,
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
) -> Result<(), String> {
    let mut opts = MqttOptions::new(format!("{}-doctor", m.client_id), m.host.clone(), m.port);
    opts.set_keep_alive(Duration::from_secs(10)).set_clean_session(true);
    let password = match (&m.password, &m.password_file) {
        (Some(p), _) => Some(p.expose().to_string()),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(t) => Some(t.trim_end_matches(['\n', '\r']).to_string()),
            Err(e) => {
                return Err(format!("cannot read mqtt.password_file {}: {e}", path.display()))
            }
        },
        (None, None) => None,
    };
    if let Some(user) = &m.username {
        opts.set_credentials(user.clone(), password.unwrap_or_default());
    }
    if let Some(config) = tls {
        opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
    }
    let (client, mut eventloop) = AsyncClient::new(opts, 10);
    let ctx = BrokerContext {
        addr: addr.to_string(),
        host: m.host.clone(),
        has_ca_file: m.ca_file.is_some(),
    };
    let outcome = tokio::time::timeout(NET_TIMEOUT, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    return if ack.code == ConnectReturnCode::Success {
                        Ok(())
                    } else {
                        Err(format!("the broker refused the CONNECT: {:?}", ack.code))
                    };
                }
                Ok(_) => {}
                Err(e) => return Err(describe(&e, &ctx)),
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err(format!("no CONNACK within {NET_TIMEOUT:?}")));
    if outcome.is_ok() {
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
    }
    outcome
}

async fn device(d: &Device, buses: &mut Option<RtuBuses>) -> Finding {
    let what = format!("device {}", d.name);
    let read = async {
        match &d.protocol {
            DeviceProtocol::ModbusTcp(m) => {
                let reader = DeviceReader::new(d.name.clone(), m);
                let address = m.address.clone();
                let (qualities, first_bad) = read_modbus(reader).await;
                let mut qualities = qualities;
                if let Some(p) = first_bad {
                    // The reader keeps only a quality per point; ask once more for the cause.
                    let link =
                        ModbusTransport::new(d.name.clone(), m.address.clone(), m.unit, m.timeout);
                    cause_of(link, &p, &mut qualities).await;
                }
                Ok::<_, String>((address, qualities))
            }
            DeviceProtocol::ModbusRtu(m) => {
                let buses = buses.get_or_insert_with(|| RtuBuses::new(Arc::new(NoObserver)));
                let unit = buses.unit(d.name.clone(), m);
                let reader =
                    DeviceReader::with_link(d.name.clone(), m.points.clone(), &m.limits, unit);
                let address = reader.link().address().to_string();
                let (mut qualities, first_bad) = read_modbus(reader).await;
                match (&m.bus, first_bad) {
                    // The bus is in its reopen backoff: a second read would only say so.
                    (edgeproof::config::RtuBus::Serial(line), Some(p))
                        if !Path::new(&line.port).exists() =>
                    {
                        if let Some(r) = qualities.iter_mut().find(|r| !r.quality.is_good()) {
                            r.cause = Some(format!(
                                "{} ({} {}): no such serial port {}",
                                p.name, p.area, p.address, line.port
                            ));
                        }
                    }
                    (_, Some(p)) => {
                        cause_of(buses.unit(d.name.clone(), m), &p, &mut qualities).await
                    }
                    (_, None) => {}
                }
                Ok((address, qualities))
            }
            #[cfg(feature = "opcua")]
            DeviceProtocol::OpcUa(o) => match edgeproof::source::opcua::read_once(&d.name, o).await
            {
                Ok((samples, _)) => {
                    let qualities: Vec<Reading> = samples
                        .iter()
                        .map(|s| Reading { quality: s.quality, cause: None })
                        .collect();
                    Ok((o.endpoint.to_string(), qualities))
                }
                Err(e) => Err(e.to_string()),
            },
        }
    };
    match tokio::time::timeout(DEVICE_TIMEOUT, read).await {
        Err(_) => {
            finding(Status::Fail, what, format!("no complete read within {DEVICE_TIMEOUT:?}"))
        }
        Ok(Err(e)) => finding(Status::Fail, what, e),
        Ok(Ok((address, readings))) => {
            let qualities: Vec<Quality> = readings.iter().map(|r| r.quality).collect();
            let (status, detail) = judge_reads(&qualities);
            let cause = readings
                .iter()
                .find_map(|r| r.cause.as_ref())
                .map_or(String::new(), |c| format!("; first failure: {c}"));
            finding(status, what, format!("{address}: {detail}{cause}"))
        }
    }
}

/// Every point's quality, and the first point that read bad.
async fn read_modbus<L: ModbusLink>(
    mut reader: DeviceReader<L>,
) -> (Vec<Reading>, Option<edgeproof::source::modbus::ModbusPoint>) {
    let mut readings = Vec::new();
    for g in 0..reader.plan().groups.len() {
        reader.read_group(g, &mut readings).await;
    }
    readings.sort_by_key(|r| r.index);
    let first_bad = readings
        .iter()
        .find(|r| !r.sample.quality.is_good())
        .and_then(|r| reader.points().get(r.index).cloned());
    (
        readings.iter().map(|r| Reading { quality: r.sample.quality, cause: None }).collect(),
        first_bad,
    )
}

/// A point's quality, and for the first bad one the device's own cause.
struct Reading {
    quality: Quality,
    cause: Option<String>,
}

/// Reads `point` alone over `link` and notes the failure's cause (connection refused,
/// timeout, exception 02, no such serial port) on the first bad reading.
async fn cause_of<L: ModbusLink>(
    mut link: L,
    point: &edgeproof::source::modbus::ModbusPoint,
    readings: &mut [Reading],
) {
    let cause = match link.read(point.area, point.address, point.width()).await {
        Ok(_) => return,
        Err(e) => edgeproof::commission::cause::cause(&e),
    };
    if let Some(r) = readings.iter_mut().find(|r| !r.quality.is_good()) {
        r.cause = Some(format!("{} ({} {}): {cause}", point.name, point.area, point.address));
    }
}

/// All points good: ok; some: a warning naming why the others failed; none: a failure.
fn judge_reads(qualities: &[Quality]) -> (Status, String) {
    let good = qualities.iter().filter(|q| q.is_good()).count();
    let total = qualities.len();
    let mut reasons: Vec<String> = Vec::new();
    for q in qualities {
        if let Quality::Bad(r) = q {
            let r = r.as_str().to_string();
            if !reasons.contains(&r) {
                reasons.push(r);
            }
        }
    }
    let why =
        if reasons.is_empty() { String::new() } else { format!("; bad: {}", reasons.join(", ")) };
    let status = match (good, total) {
        (_, 0) => return (Status::Warn, "no points configured".into()),
        (0, _) => Status::Fail,
        (g, t) if g < t => Status::Warn,
        _ => Status::Ok,
    };
    (status, format!("{good}/{total} point(s) read{why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeproof::model::BadReason;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn free_space_against_the_journal_bound() {
        let cases = [
            ("plenty", 10_000 * MIB, 1024 * MIB, Status::Ok),
            ("less than the bound", 500 * MIB, 1024 * MIB, Status::Warn),
            ("almost nothing", 10 * MIB, 1024 * MIB, Status::Fail),
            ("exactly bound + margin", 1088 * MIB, 1024 * MIB, Status::Ok),
        ];
        for (case, free, bound, want) in cases {
            assert_eq!(judge_space(free, bound), want, "{case}");
        }
    }

    #[test]
    fn kernel_clock_status_bits() {
        let cases = [
            ("TIME_OK, synced", 0, 0x2001, Clock::Synced("kernel NTP status")),
            ("STA_UNSYNC set", 0, 0x0040, Clock::Unsynced("kernel NTP status")),
            ("TIME_ERROR", 5, 0, Clock::Unsynced("kernel NTP status")),
        ];
        for (case, rc, status, want) in cases {
            assert_eq!(judge_kernel_clock(rc, status), want, "{case}");
        }
    }

    #[test]
    fn device_reads_judged() {
        let bad = Quality::Bad(BadReason::Timeout);
        let cases: [(&str, Vec<Quality>, Status, &str); 4] = [
            ("all good", vec![Quality::Good; 3], Status::Ok, "3/3 point(s) read"),
            ("some bad", vec![Quality::Good, bad], Status::Warn, "1/2 point(s) read; bad: timeout"),
            ("none", vec![bad, bad], Status::Fail, "0/2 point(s) read; bad: timeout"),
            ("no points", vec![], Status::Warn, "no points configured"),
        ];
        for (case, q, status, detail) in cases {
            assert_eq!(judge_reads(&q), (status, detail.to_string()), "{case}");
        }
    }
}
