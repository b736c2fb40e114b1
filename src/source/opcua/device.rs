//! The device task: connect, deliver values, recover — until cancelled.
//!
//! While a session is up, subscribed values arrive as notifications (one batch per
//! drained burst) and polled points are read on a fixed-rate grid (one batch per wake-up,
//! like the Modbus scheduler). When the link drops — server restart, network cut, session
//! expired on the server — every point gets one `disconnected` sample at the time of the
//! loss, then the task reconnects with backoff (0.5 s doubling to 10 s, with jitter) and
//! builds a new session and a new subscription from scratch. The old session is closed
//! when it can be; one the server still holds after a network cut expires after its
//! session timeout (60 s), so the server never keeps two sets of monitored items for long.

use crate::backoff::{BackoffPolicy, Jitter};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use opcua::types::{AttributeId, ReadValueId};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::error::OpcUaError;
use super::fingerprint::{self, DeviceFingerprint, FingerprintBoard};
use super::point::{OpcUaPoint, PointMode};
use super::read::{self, ReadOutcome};
use super::session::{self, Connection};
use super::subscribe::{self, Notification, Subscribed};
use super::timeline::{Timeline, Verdict};
use super::trust::Trusted;
use super::value;
use crate::config::OpcUaDevice;
use crate::model::{now_ms, BadReason, Batch, Sample, Value};
use crate::source::modbus::CycleStats;
use crate::source::schedule::next_due;
use crate::source::{BatchSink, PollObserver};

/// Read calls never carry more nodes than this, whatever the server allows.
const MAX_NODES_PER_READ: usize = 1000;
/// First reconnect delay.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// Longest reconnect delay.
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Delay before reconnect attempt `n` (1-based): doubling from 0.5 s to 10 s, ±20 % jitter
/// so a gateway's devices do not reconnect in lockstep after a switch reboots.
pub fn backoff(n: u32) -> Duration {
    const RECONNECT: BackoffPolicy =
        BackoffPolicy::new(BACKOFF_MIN, BACKOFF_MAX, Jitter::Around(0.2));
    RECONNECT.delay(n)
}

/// One sample on its way out: point index, value or why not, source timestamp.
type Arrival = (usize, Result<Value, BadReason>, Option<u64>);

/// The device's points and their timelines, and where batches go.
struct Points {
    device: Arc<str>,
    points: Vec<OpcUaPoint>,
    timelines: Vec<Timeline>,
    sink: Arc<dyn BatchSink>,
}

impl Points {
    /// Sends one batch of `arrivals` (dropping duplicates); returns (good, bad) counts.
    fn emit(&mut self, arrivals: Vec<Arrival>, dedupe: bool) -> (u32, u32) {
        let received = now_ms();
        let mut samples = Vec::with_capacity(arrivals.len());
        let (mut good, mut bad) = (0, 0);
        for (i, result, source_ts) in arrivals {
            let (Some(p), Some(t)) = (self.points.get(i), self.timelines.get_mut(i)) else {
                continue;
            };
            let Verdict::Emit(ts) = t.admit(source_ts, received, result.as_ref().ok(), dedupe)
            else {
                continue;
            };
            samples.push(match result {
                Ok(v) => {
                    good += 1;
                    Sample::good(p.name.clone(), ts, v)
                }
                Err(r) => {
                    bad += 1;
                    Sample::bad(p.name.clone(), ts, r)
                }
            });
        }
        if !samples.is_empty() {
            self.sink.send(Batch { device: self.device.clone(), ts_ms: received, samples });
        }
        (good, bad)
    }

    /// One bad sample for every point (the link is gone: a gap, not stale values).
    fn all_bad(&mut self, reason: BadReason) {
        let arrivals = (0..self.points.len()).map(|i| (i, Err(reason), None)).collect();
        self.emit(arrivals, false);
    }
}

/// Why a session ended.
enum End {
    Cancelled,
    Lost(String),
}

/// Runs one OPC UA device until `cancel` fires. Fingerprints go to `board`.
pub async fn run_device(
    device: Arc<str>,
    cfg: OpcUaDevice,
    sink: Arc<dyn BatchSink>,
    observer: Arc<dyn PollObserver>,
    board: &'static FingerprintBoard,
    cancel: CancellationToken,
) {
    if cfg.points.is_empty() {
        info!(device = %device, "device has no points; not connecting to it");
        return;
    }
    let mut pts = Points {
        device: device.clone(),
        timelines: vec![Timeline::default(); cfg.points.len()],
        points: cfg.points.clone(),
        sink,
    };
    let mut attempts = 0u32;
    let mut outage_marked = false;
    let mut last_error = String::new();
    info!(device = %device, endpoint = %cfg.endpoint, points = cfg.points.len(), "connecting to OPC UA device");
    loop {
        let began = std::time::Instant::now();
        let result = tokio::select! {
            _ = cancel.cancelled() => break,
            r = session::connect(&device, &cfg) => r,
        };
        match result {
            Ok(conn) => {
                attempts = 0;
                last_error.clear();
                match run_session(&mut pts, &cfg, conn, &*observer, board, &cancel).await {
                    End::Cancelled => break,
                    End::Lost(why) => {
                        warn!(device = %device, reason = %why, "device {device}: lost the OPC UA session; reconnecting");
                        observer.cycle(&device, &down_stats(), began.elapsed());
                        pts.all_bad(BadReason::Disconnected);
                        outage_marked = true;
                    }
                }
            }
            Err(e) => {
                attempts += 1;
                observer.cycle(&device, &down_stats(), began.elapsed());
                let text = e.to_string();
                if text != last_error {
                    match e {
                        OpcUaError::Untrusted { .. }
                        | OpcUaError::EndpointMismatch { .. }
                        | OpcUaError::Identity { .. } => error!(device = %device, "{text}"),
                        _ => warn!(device = %device, "{text}; retrying"),
                    }
                    last_error = text;
                } else {
                    debug!(device = %device, attempts, "{text}");
                }
                if !outage_marked {
                    pts.all_bad(BadReason::Disconnected);
                    outage_marked = true;
                }
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(backoff(attempts.max(1))) => {}
        }
    }
    info!(device = %device, "stopped reading OPC UA device");
}

fn down_stats() -> CycleStats {
    CycleStats { requests: 1, connection_errors: 1, connected: false, ..Default::default() }
}

/// A group of poll points due together.
struct PollGroup {
    due: Instant,
    interval: Duration,
    indices: Vec<usize>,
    nodes: Vec<ReadValueId>,
}

fn poll_groups(points: &[OpcUaPoint]) -> Vec<PollGroup> {
    let mut by_interval: BTreeMap<Duration, Vec<usize>> = BTreeMap::new();
    for (i, p) in points.iter().enumerate() {
        if p.mode == PointMode::Poll {
            by_interval.entry(p.interval).or_default().push(i);
        }
    }
    let now = Instant::now();
    by_interval
        .into_iter()
        .map(|(interval, indices)| PollGroup {
            due: now,
            interval,
            nodes: indices.iter().map(|&i| value_id(&points[i])).collect(),
            indices,
        })
        .collect()
}

/// The Value attribute of a point's node.
pub fn value_id(p: &OpcUaPoint) -> ReadValueId {
    ReadValueId {
        node_id: p.node.clone(),
        attribute_id: AttributeId::Value as u32,
        ..Default::default()
    }
}

async fn next_notification(sub: &mut Option<Subscribed>) -> Option<Notification> {
    match sub {
        Some(s) => s.rx.recv().await,
        None => std::future::pending().await,
    }
}

fn log_fingerprint(device: &str, fp: &DeviceFingerprint, previous: Option<&DeviceFingerprint>) {
    let product = fp
        .build
        .as_ref()
        .map(|b| format!("{} {} {}", b.manufacturer_name, b.product_name, b.software_version));
    info!(
        device,
        application_uri = %fp.application_uri,
        certificate_sha256 = fp.certificate_sha256.as_deref().unwrap_or("-"),
        product = product.as_deref().unwrap_or("-"),
        start_time_ms = fp.start_time_ms.unwrap_or(0),
        security = %fp.security,
        "device {device}: OPC UA session up"
    );
    if let Some(prev) = previous {
        if prev.start_time_ms != fp.start_time_ms {
            info!(device, "device {device}: the server restarted since the last session");
        }
        if prev.certificate_sha256 != fp.certificate_sha256
            || prev.application_uri != fp.application_uri
        {
            warn!(device, "device {device}: the server identity changed since the last session");
        }
    }
}

async fn run_session(
    pts: &mut Points,
    cfg: &OpcUaDevice,
    conn: Connection,
    observer: &dyn PollObserver,
    board: &'static FingerprintBoard,
    cancel: &CancellationToken,
) -> End {
    let device = pts.device.clone();
    if conn.trusted == Trusted::PinnedNow {
        info!(
            device = %device,
            sha256 = %super::identity::sha256_hex(conn.endpoint.server_certificate.as_ref()),
            "device {device}: pinned the server certificate at first use ({})",
            super::trust::pin_path(&cfg.pki_dir, &device).display()
        );
    }
    let fp = fingerprint::take(&conn.session, &conn.endpoint).await;
    let previous = board.set(device.clone(), fp.clone());
    log_fingerprint(&device, &fp, previous.as_ref());
    observer.opcua_identified(&device, &fp);
    let max_nodes =
        read::max_nodes_per_read(&conn.session, MAX_NODES_PER_READ).await.min(MAX_NODES_PER_READ);
    let Connection { session, mut link, .. } = conn;
    let close = |session: Arc<opcua::client::Session>| async move {
        let _ = tokio::time::timeout(cfg.timeout, session.disconnect()).await;
    };

    let subscribed: Vec<(usize, &OpcUaPoint)> =
        pts.points.iter().enumerate().filter(|(_, p)| p.mode == PointMode::Subscribe).collect();
    let mut sub = None;
    if !subscribed.is_empty() {
        let subscribed: Vec<(usize, OpcUaPoint)> =
            subscribed.into_iter().map(|(i, p)| (i, p.clone())).collect();
        let refs: Vec<(usize, &OpcUaPoint)> = subscribed.iter().map(|(i, p)| (*i, p)).collect();
        match subscribe::subscribe(&session, &refs).await {
            Ok(s) => {
                let mut bad = Vec::new();
                for (i, code) in &s.refused {
                    warn!(device = %device, point = %pts.points[*i].name, node = %pts.points[*i].node, status = %code, "device {device}: the server refused to monitor point {}", pts.points[*i].name);
                    bad.push((*i, Err(value::status_reason(*code)), None));
                }
                if !bad.is_empty() {
                    pts.emit(bad, false);
                }
                info!(device = %device, items = refs.len() - s.refused.len(), "device {device}: subscribed");
                sub = Some(s);
            }
            Err(code) if read::is_session_gone(code) => {
                close(session).await;
                return End::Lost(format!("subscription failed: {code}"));
            }
            Err(code) => {
                warn!(device = %device, status = %code, "device {device}: cannot create the subscription; its points stay bad until the next session");
                let bad =
                    refs.iter().map(|(i, _)| (*i, Err(value::status_reason(code)), None)).collect();
                pts.emit(bad, false);
            }
        }
    }

    let mut groups = poll_groups(&pts.points);
    loop {
        let wake = groups.iter().map(|g| g.due).min();
        tokio::select! {
            _ = cancel.cancelled() => {
                close(session).await;
                return End::Cancelled;
            }
            why = link.lost() => return End::Lost(why),
            first = next_notification(&mut sub) => {
                let Some(first) = first else {
                    close(session).await;
                    return End::Lost("subscription callback closed".into());
                };
                let began = std::time::Instant::now();
                let mut arrivals = vec![arrival(first)];
                if let Some(s) = sub.as_mut() {
                    while let Ok(n) = s.rx.try_recv() {
                        arrivals.push(arrival(n));
                    }
                }
                let (good, bad) = pts.emit(arrivals, true);
                observer.cycle(&device, &CycleStats { good, bad, connected: true, ..Default::default() }, began.elapsed());
            }
            _ = sleep_until(wake) => {
                for g in groups.iter_mut() {
                    if g.due > Instant::now() {
                        continue;
                    }
                    let began = std::time::Instant::now();
                    let mut stats = CycleStats { connected: true, ..Default::default() };
                    let outcomes = read::read(&session, &g.nodes, max_nodes, cfg.timeout, &mut stats).await;
                    let mut arrivals = Vec::with_capacity(g.indices.len());
                    let mut lost = None;
                    for (range, outcome) in outcomes {
                        let indices = &g.indices[range];
                        match outcome {
                            ReadOutcome::Values(values) => {
                                for (&i, dv) in indices.iter().zip(values.iter()) {
                                    let (v, ts) = value::decode(dv);
                                    arrivals.push((i, v, ts));
                                }
                            }
                            ReadOutcome::Failed(reason) => {
                                arrivals.extend(indices.iter().map(|&i| (i, Err(reason), None)));
                            }
                            ReadOutcome::SessionLost(code) => lost = Some(code),
                        }
                    }
                    let (good, bad) = pts.emit(arrivals, false);
                    stats.good = good;
                    stats.bad = bad;
                    stats.connected = lost.is_none();
                    observer.cycle(&device, &stats, began.elapsed());
                    if let Some(code) = lost {
                        close(session).await;
                        return End::Lost(format!("read failed: {code}"));
                    }
                    let (next, skipped) = next_due(g.due, g.interval, Instant::now());
                    if skipped > 0 {
                        observer.overrun(&device, skipped);
                    }
                    g.due = next;
                }
            }
        }
    }
}

fn arrival((i, dv): Notification) -> Arrival {
    let (v, ts) = value::decode(&dv);
    (i, v, ts)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Connects once and reads every point (subscribe points too) with one batched Read: what
/// `edgeproof probe` shows. Returns the samples in point order and the server's fingerprint.
pub async fn read_once(
    device: &str,
    cfg: &OpcUaDevice,
) -> Result<(Vec<Sample>, DeviceFingerprint), OpcUaError> {
    let conn = session::connect(device, cfg).await?;
    let fp = fingerprint::take(&conn.session, &conn.endpoint).await;
    let max_nodes =
        read::max_nodes_per_read(&conn.session, MAX_NODES_PER_READ).await.min(MAX_NODES_PER_READ);
    let nodes: Vec<ReadValueId> = cfg.points.iter().map(value_id).collect();
    let mut stats = CycleStats::default();
    let outcomes = read::read(&conn.session, &nodes, max_nodes, cfg.timeout, &mut stats).await;
    let now = now_ms();
    let mut samples = Vec::with_capacity(cfg.points.len());
    for (range, outcome) in outcomes {
        let points = &cfg.points[range];
        match outcome {
            ReadOutcome::Values(values) => {
                for (p, dv) in points.iter().zip(values.iter()) {
                    let (v, ts) = value::decode(dv);
                    let ts = ts.unwrap_or(now);
                    samples.push(match v {
                        Ok(v) => Sample::good(p.name.clone(), ts, v),
                        Err(r) => Sample::bad(p.name.clone(), ts, r),
                    });
                }
            }
            ReadOutcome::Failed(r) => {
                samples.extend(points.iter().map(|p| Sample::bad(p.name.clone(), now, r)))
            }
            ReadOutcome::SessionLost(_) => samples.extend(
                points.iter().map(|p| Sample::bad(p.name.clone(), now, BadReason::Disconnected)),
            ),
        }
    }
    conn.close(cfg.timeout).await;
    Ok((samples, fp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_with_jitter() {
        for (n, base_ms) in
            [(1u32, 500u64), (2, 1000), (3, 2000), (5, 8000), (6, 10_000), (40, 10_000)]
        {
            let d = backoff(n).as_millis() as u64;
            assert!(d >= base_ms * 8 / 10 && d <= base_ms * 12 / 10, "attempt {n}: {d} ms");
        }
    }
}
