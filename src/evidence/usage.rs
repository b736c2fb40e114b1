//! What the sources really did, interval by interval: the content of `usage` records.
//!
//! A [`UsageBook`] is fed from two places while the agent runs — every poll cycle's
//! [`CycleStats`] (through the poll observer) and every [`Batch`] a source hands to the
//! journal (through the sink) — and, per device, keeps:
//!
//! - polls: requests answered with data (`ok`), not answered in time (`timeout`), failed
//!   otherwise (`error`: exception, unusable answer, no connection);
//! - Modbus exception responses by code;
//! - `points_read`: good samples; `points_changed`: good samples whose value moved away from
//!   the last *counted* value of the same point by at least the point's deadband (any change
//!   without one; booleans and text: any difference). The first value of a point after a
//!   start has nothing to differ from and is not counted;
//! - response times (µs) of answered requests, for p50 / p95 (exact nearest-rank; beyond
//!   [`MAX_RESPONSE_TIMES`] per interval a uniform reservoir sample);
//! - the [`UsageDigest`] (stream v2) of every good sample, as (point, `ts` of its batch,
//!   value as the payload's JSON spells it) in the order the journal accepted them. The
//!   batch `ts` is the `ts` of the data message on MQTT, and a data message lists its good
//!   values in the same order, so whoever archived the data messages can recompute the
//!   digest of an interval (`edgeproof digest`): every message of the device with
//!   `start.wall_ms <= ts < end.wall_ms`, in seq order, each `values` entry in order;
//! - the device's identity (Modbus FC 43/14 objects and unit id; OPC UA application URI,
//!   product, certificate thumbprint: [`opcua_identity`]) and its fingerprint
//!   ([`super::record::fingerprint`]); `Hash::ZERO` until the device was first identified.
//!
//! # Interval routing
//!
//! Intervals sit on the wall-clock grid of the interval length (a 5-minute interval ends at
//! :00, :05, …), except the first after a start, which begins at the start. The book holds
//! two buckets per device: *current* (samples with `ts` before the split, the end of the
//! interval being recorded) and *next*. The recorder closes an interval a little after its
//! end ([`UsageBook::rotate`]), so cycles that began before the boundary and finish after it
//! still land in the interval their `ts` belongs to. A cycle finishing even later lands in
//! the next interval (its digest then disagrees with a recomputation for that one cycle).
//! Poll statistics carry no timestamp; they are routed by the time they arrive.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokio::sync::Notify;

use super::digest::{self, UsageDigest};
use super::merkle::Hash;
use super::record::{fingerprint, DeviceUsage, Polls};
use crate::config::{Config, DeviceProtocol};
use crate::model::{now_ms, Batch, Value};
use crate::source::modbus::{CycleStats, DeviceIdentity};
use crate::source::opcua::DeviceFingerprint;

/// Response times kept per device and interval for the percentiles; beyond it, a uniform
/// reservoir sample of this size.
pub const MAX_RESPONSE_TIMES: usize = 50_000;

/// Names of the Read Device Identification objects (Modbus Application Protocol §6.21,
/// table "Device Identification Objects"), by object id.
const OBJECT_NAMES: [&str; 7] = [
    "VendorName",
    "ProductCode",
    "MajorMinorRevision",
    "VendorUrl",
    "ProductName",
    "ModelName",
    "UserApplicationName",
];

/// The identity map of a Modbus device, as the `device` record shows it and its fingerprint
/// hashes: `unit`, then each object by name (ids beyond the standard seven as `object_0xNN`);
/// text values as UTF-8, any other bytes as `hex:` and lower-case hex. A device that does not
/// answer FC 43/14 has `mei` = `unsupported`.
pub fn modbus_identity(unit: u8, identity: &DeviceIdentity) -> BTreeMap<String, String> {
    let mut map = BTreeMap::from([("unit".to_string(), unit.to_string())]);
    match identity {
        DeviceIdentity::Unsupported => {
            map.insert("mei".into(), "unsupported".into());
        }
        DeviceIdentity::Objects(objects) => {
            for (id, value) in objects {
                let name = OBJECT_NAMES
                    .get(usize::from(*id))
                    .map_or_else(|| format!("object_0x{id:02x}"), |n| (*n).to_string());
                let text = match std::str::from_utf8(value) {
                    Ok(t) if !t.chars().any(char::is_control) => t.to_string(),
                    _ => format!("hex:{}", super::keys::hex(value)),
                };
                map.insert(name, text);
            }
        }
    }
    map
}

/// The identity map of an OPC UA server, as the `device` record shows it and its fingerprint
/// hashes: what names the machine and changes when it is replaced, re-installed or
/// re-flashed — `application_uri` and `product_uri` (endpoint description),
/// `certificate_sha256` (SHA-256 thumbprint of its DER application instance certificate,
/// lower-case hex; `none` when it publishes none) and, when the server answers
/// `ServerStatus.BuildInfo` (OPC UA Part 5 §12.4), `manufacturer_name`, `product_name`,
/// `software_version`, `build_number`. Not in it: `ServerStatus.StartTime` (every restart
/// changes it; the `device` record carries it beside), the session's security, when it was
/// taken.
pub fn opcua_identity(fp: &DeviceFingerprint) -> BTreeMap<String, String> {
    let mut map = BTreeMap::from([
        ("application_uri".to_string(), fp.application_uri.clone()),
        ("product_uri".to_string(), fp.product_uri.clone()),
        (
            "certificate_sha256".to_string(),
            fp.certificate_sha256.clone().unwrap_or_else(|| "none".into()),
        ),
    ]);
    if let Some(b) = &fp.build {
        map.insert("manufacturer_name".into(), b.manufacturer_name.clone());
        map.insert("product_name".into(), b.product_name.clone());
        map.insert("software_version".into(), b.software_version.clone());
        map.insert("build_number".into(), b.build_number.clone());
    }
    map
}

/// What the book knows about a configured device.
#[derive(Debug, Clone)]
struct DeviceSpec {
    protocol: String,
    endpoint: String,
    unit: Option<u8>,
    deadbands: HashMap<Arc<str>, f64>,
}

/// One device's counts over one interval.
#[derive(Debug, Default)]
struct Bucket {
    polls: Polls,
    exceptions: BTreeMap<u8, u64>,
    points_read: u64,
    points_changed: u64,
    rt_us: Vec<u64>,
    rt_seen: u64,
    digest: UsageDigest,
}

impl Bucket {
    fn add_response_time(&mut self, us: u64) {
        self.rt_seen += 1;
        if self.rt_us.len() < MAX_RESPONSE_TIMES {
            self.rt_us.push(us);
        } else {
            // Reservoir sampling (Vitter's algorithm R): every response time of the interval
            // has the same chance to be kept.
            let j = fastrand::u64(..self.rt_seen);
            if let Some(slot) = usize::try_from(j).ok().and_then(|j| self.rt_us.get_mut(j)) {
                *slot = us;
            }
        }
    }
}

/// One device's state.
#[derive(Debug)]
struct DeviceState {
    spec: DeviceSpec,
    /// Last counted value per point (the deadband baseline).
    last: HashMap<Arc<str>, Value>,
    identity: Option<BTreeMap<String, String>>,
    fingerprint: Hash,
    /// OPC UA `ServerStatus.StartTime` (Unix ms) at the last session.
    start_time_ms: Option<u64>,
    current: Bucket,
    next: Bucket,
}

impl DeviceState {
    fn new(spec: DeviceSpec) -> Self {
        DeviceState {
            spec,
            last: HashMap::new(),
            identity: None,
            fingerprint: Hash::ZERO,
            start_time_ms: None,
            current: Bucket::default(),
            next: Bucket::default(),
        }
    }
}

/// A device's identity as last read, for `device` records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identified {
    /// Device id.
    pub id: String,
    /// Protocol.
    pub protocol: String,
    /// Endpoint.
    pub endpoint: String,
    /// The identity map.
    pub identity: BTreeMap<String, String>,
    /// Its fingerprint.
    pub fingerprint: Hash,
    /// OPC UA `ServerStatus.StartTime` (Unix ms) at the last session.
    pub start_time_ms: Option<u64>,
}

/// Per-device usage of the running agent, shared by every device task and the recorder.
#[derive(Debug)]
pub struct UsageBook {
    interval_ms: u64,
    /// `ts` at which *current* ends and *next* begins (Unix ms).
    split_ms: Mutex<u64>,
    /// Device name → state; config order kept in `order`.
    devices: RwLock<HashMap<Arc<str>, Arc<Mutex<DeviceState>>>>,
    order: RwLock<Vec<Arc<str>>>,
    identity_changed: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counting state stays usable after a panic elsewhere; evidence must keep going.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The next boundary of the `interval_ms` grid strictly after `now_ms`.
pub fn next_boundary(now_ms: u64, interval_ms: u64) -> u64 {
    let i = interval_ms.max(1);
    (now_ms / i + 1) * i
}

impl UsageBook {
    /// A book for the devices of `cfg`, with intervals of `interval` on the wall-clock grid;
    /// the first interval runs from `start_ms` to the next boundary.
    pub fn new(cfg: &Config, interval: Duration, start_ms: u64) -> Self {
        let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX).max(1);
        let book = UsageBook {
            interval_ms,
            split_ms: Mutex::new(next_boundary(start_ms, interval_ms)),
            devices: RwLock::new(HashMap::new()),
            order: RwLock::new(Vec::new()),
            identity_changed: Notify::new(),
        };
        book.set_devices(cfg);
        book
    }

    /// Takes the device list of `cfg` (at start, and after a reload): new devices are added,
    /// existing ones keep their counts and get the new settings, removed ones are dropped.
    pub fn set_devices(&self, cfg: &Config) {
        let endpoints: HashMap<&str, &str> = cfg
            .inventory
            .iter()
            .filter(|d| d.polled)
            .map(|d| (d.name.as_str(), d.endpoint.as_str()))
            .collect();
        let mut devices = self.devices.write().unwrap_or_else(|p| p.into_inner());
        let mut order = Vec::with_capacity(cfg.devices.len());
        let mut kept = HashMap::with_capacity(cfg.devices.len());
        for device in &cfg.devices {
            let (unit, deadbands): (Option<u8>, HashMap<Arc<str>, f64>) = match &device.protocol {
                DeviceProtocol::ModbusTcp(d) => (
                    Some(d.unit),
                    d.points.iter().filter_map(|p| Some((p.name.clone(), p.deadband?))).collect(),
                ),
                DeviceProtocol::ModbusRtu(d) => (
                    Some(d.unit),
                    d.points.iter().filter_map(|p| Some((p.name.clone(), p.deadband?))).collect(),
                ),
                #[cfg(feature = "opcua")]
                DeviceProtocol::OpcUa(d) => (
                    None,
                    d.points.iter().filter_map(|p| Some((p.name.clone(), p.deadband?))).collect(),
                ),
            };
            let spec = DeviceSpec {
                protocol: device.protocol_name().to_string(),
                endpoint: endpoints.get(&*device.name).map_or_else(String::new, |e| e.to_string()),
                unit,
                deadbands,
            };
            let state = match devices.remove(&device.name) {
                Some(s) => {
                    lock(&s).spec = spec;
                    s
                }
                None => Arc::new(Mutex::new(DeviceState::new(spec))),
            };
            kept.insert(device.name.clone(), state);
            order.push(device.name.clone());
        }
        *devices = kept;
        *self.order.write().unwrap_or_else(|p| p.into_inner()) = order;
    }

    /// The interval length in ms.
    pub fn interval_ms(&self) -> u64 {
        self.interval_ms
    }

    /// End of the interval being collected (Unix ms): where *current* stops.
    pub fn split_ms(&self) -> u64 {
        *lock(&self.split_ms)
    }

    /// Wakes the recorder when a device was identified for the first time or its identity
    /// changed.
    pub fn identity_changed(&self) -> &Notify {
        &self.identity_changed
    }

    fn device(&self, name: &str) -> Option<Arc<Mutex<DeviceState>>> {
        self.devices.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    /// One poll cycle (one plan group) of `device`.
    pub fn on_cycle(&self, device: &str, stats: &CycleStats) {
        self.on_cycle_at(device, stats, now_ms());
    }

    /// [`UsageBook::on_cycle`] arriving at `arrival_ms`.
    fn on_cycle_at(&self, device: &str, stats: &CycleStats, arrival_ms: u64) {
        let Some(state) = self.device(device) else { return };
        let into_next = arrival_ms >= self.split_ms();
        let mut s = lock(&state);
        let b = if into_next { &mut s.next } else { &mut s.current };
        b.polls.ok += u64::from(stats.ok);
        b.polls.timeout += u64::from(stats.timeouts);
        b.polls.error += u64::from(stats.connection_errors)
            + u64::from(stats.malformed)
            + stats.exceptions.len() as u64;
        for &code in &stats.exceptions {
            *b.exceptions.entry(code).or_default() += 1;
        }
        for rt in &stats.response_times {
            b.add_response_time(u64::try_from(rt.as_micros()).unwrap_or(u64::MAX));
        }
    }

    /// A batch the journal accepted: counted, and its good values added to the digest
    /// exactly as the data message's `values` will carry them (see [`digest_value`]).
    pub fn on_batch(&self, batch: &Batch) {
        let Some(state) = self.device(&batch.device) else { return };
        let into_next = batch.ts_ms >= self.split_ms();
        let mut guard = lock(&state);
        let s = &mut *guard;
        let b = if into_next { &mut s.next } else { &mut s.current };
        let mut token = Vec::with_capacity(24);
        for sample in batch.samples.iter().filter(|s| s.quality.is_good()) {
            let Some(value) = sample.value.as_ref() else {
                // The payload writes a good sample without a value as `null` (a model
                // invariant says there is none); the digest follows the payload.
                b.digest.push(&sample.point, batch.ts_ms, None);
                continue;
            };
            b.points_read += 1;
            b.digest.push(&sample.point, batch.ts_ms, Some(digest_value(value, &mut token)));
            let deadband = s.spec.deadbands.get(&sample.point).copied();
            match s.last.get_mut(&sample.point) {
                Some(last) => {
                    if changed(last, value, deadband) {
                        b.points_changed += 1;
                        *last = value.clone();
                    }
                }
                None => {
                    s.last.insert(sample.point.clone(), value.clone());
                }
            }
        }
    }

    /// What a Modbus device said about itself.
    pub fn on_identity(&self, device: &str, identity: &DeviceIdentity) {
        let Some(state) = self.device(device) else { return };
        let mut s = lock(&state);
        let Some(unit) = s.spec.unit else { return };
        let map = modbus_identity(unit, identity);
        if s.identity.as_ref() != Some(&map) {
            s.fingerprint = fingerprint(&map);
            s.identity = Some(map);
            drop(s);
            self.identity_changed.notify_one();
        }
    }

    /// Who an OPC UA server said it is when a session came up.
    pub fn on_opcua_identity(&self, device: &str, fp: &DeviceFingerprint) {
        let Some(state) = self.device(device) else { return };
        let mut s = lock(&state);
        s.start_time_ms = fp.start_time_ms;
        let map = opcua_identity(fp);
        if s.identity.as_ref() != Some(&map) {
            s.fingerprint = fingerprint(&map);
            s.identity = Some(map);
            drop(s);
            self.identity_changed.notify_one();
        }
    }

    /// The distinct endpoints of the configured devices (for `endpoint_local`).
    pub fn endpoints(&self) -> Vec<String> {
        let devices = self.devices.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<String> =
            devices.values().map(|s| lock(s).spec.endpoint.clone()).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Every device identified so far, in config order.
    pub fn identities(&self) -> Vec<Identified> {
        let order = self.order.read().unwrap_or_else(|p| p.into_inner()).clone();
        order
            .iter()
            .filter_map(|name| {
                let state = self.device(name)?;
                let s = lock(&state);
                Some(Identified {
                    id: name.to_string(),
                    protocol: s.spec.protocol.clone(),
                    endpoint: s.spec.endpoint.clone(),
                    identity: s.identity.clone()?,
                    fingerprint: s.fingerprint,
                    start_time_ms: s.start_time_ms,
                })
            })
            .collect()
    }

    /// After a wall-clock step: the interval being collected ends at the first grid boundary
    /// after `now_ms` on the new clock.
    pub fn restart_grid(&self, now_ms: u64) {
        *lock(&self.split_ms) = next_boundary(now_ms, self.interval_ms);
    }

    /// Closes the interval ending at the split: returns every device's usage in it (config
    /// order; `endpoint_local` left `false` for the caller to fill), makes *next* current and
    /// moves the split one interval on (to the first grid boundary after `now_ms` if the
    /// recorder fell behind).
    pub fn rotate(&self, now_ms: u64) -> Vec<DeviceUsage> {
        {
            let mut split = lock(&self.split_ms);
            *split = (*split + self.interval_ms).max(next_boundary(now_ms, self.interval_ms));
        }
        let order = self.order.read().unwrap_or_else(|p| p.into_inner()).clone();
        order
            .iter()
            .filter_map(|name| {
                let state = self.device(name)?;
                let mut s = lock(&state);
                let next = std::mem::take(&mut s.next);
                let b = std::mem::replace(&mut s.current, next);
                Some(usage_of(name, &s, b))
            })
            .collect()
    }
}

fn usage_of(name: &str, s: &DeviceState, mut b: Bucket) -> DeviceUsage {
    b.rt_us.sort_unstable();
    DeviceUsage {
        id: name.to_string(),
        protocol: s.spec.protocol.clone(),
        endpoint: s.spec.endpoint.clone(),
        endpoint_local: false,
        fingerprint: s.fingerprint,
        polls: b.polls,
        exceptions: b.exceptions,
        points_read: b.points_read,
        points_changed: b.points_changed,
        rt_p50_us: percentile(&b.rt_us, 50),
        rt_p95_us: percentile(&b.rt_us, 95),
        digest: b.digest.finish(),
    }
}

/// Nearest-rank percentile of sorted values; `None` when empty.
pub fn percentile(sorted: &[u64], p: u64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    // Nearest rank: ceil(p/100 × n), 1-based.
    let rank = (p * n).div_ceil(100).clamp(1, n);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

/// Whether `new` counts as a change from the baseline `last`.
fn changed(last: &Value, new: &Value, deadband: Option<f64>) -> bool {
    let num = |v: &Value| match v {
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        Value::Float(x) => Some(*x),
        Value::Bool(_) | Value::Text(_) => None,
    };
    match (num(last), num(new), deadband) {
        (Some(a), Some(b), Some(db)) if db > 0.0 => (b - a).abs() >= db,
        _ => last != new,
    }
}

/// A reading as the digest stream (v2) encodes it: as the data message's JSON carries it.
/// Numbers become the token [`crate::publish::payload`] writes — both go through
/// serde_json's serializer, so the bytes are the same by construction.
fn digest_value<'a>(v: &'a Value, token: &'a mut Vec<u8>) -> digest::Value<'a> {
    token.clear();
    let written = match v {
        Value::Bool(b) => return digest::Value::Bool(*b),
        Value::Text(s) => return digest::Value::Text(s),
        Value::Int(i) => serde_json::to_writer(&mut *token, i),
        Value::UInt(u) => serde_json::to_writer(&mut *token, u),
        Value::Float(x) => serde_json::to_writer(&mut *token, x),
    };
    match (written, std::str::from_utf8(token)) {
        (Ok(()), Ok(t)) => digest::Value::Number(t),
        // Writing a number into a Vec cannot fail and is ASCII; should it ever, the payload
        // would not carry it either.
        _ => digest::Value::Number(""),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::model::{BadReason, Sample};

    fn config() -> Config {
        let text = r#"
[gateway]
id = "gw"
enterprise = "91440300MA5DEM0A0G"
project = "P"
[[devices]]
name = "press"
protocol = "modbus-tcp"
address = "10.0.0.1:502"
unit = 7
  [[devices.points]]
  name = "rpm"
  area = "holding"
  address = 0
  type = "f32"
  deadband = 5.0
  [[devices.points]]
  name = "count"
  area = "holding"
  address = 2
  type = "u16"
"#;
        crate::config::load_str(Path::new("t.toml"), text, false).unwrap()
    }

    const T0: u64 = 1_760_000_000_000; // on the 5 s grid

    fn batch(ts_ms: u64, samples: Vec<Sample>) -> Batch {
        Batch { device: Arc::from("press"), ts_ms, samples }
    }

    fn good(point: &str, ts: u64, v: Value) -> Sample {
        Sample::good(Arc::from(point), ts, v)
    }

    #[test]
    fn counts_changes_against_the_deadband_and_digests_good_samples() {
        let book = UsageBook::new(&config(), Duration::from_secs(5), T0 + 1_000);
        assert_eq!(book.split_ms(), T0 + 5_000);
        let cases = [
            // (rpm, count): first values set baselines, then deadband 5 on rpm, any on count
            (100.0, 1),
            (103.0, 1), // rpm within deadband, count same: nothing
            (105.5, 2), // rpm 5.5 from baseline 100: changed; count changed
            (107.0, 2), // rpm 1.5 from new baseline 105.5: not changed
        ];
        let mut capture = crate::evidence::recompute::Capture::default();
        for (i, (rpm, count)) in cases.iter().enumerate() {
            let ts = T0 + 1_000 + i as u64 * 100;
            let samples = vec![
                good("rpm", ts, Value::Float(*rpm)),
                good("count", ts, Value::UInt(*count)),
                Sample::bad(Arc::from("temp"), ts, BadReason::Timeout),
            ];
            let b = batch(ts, samples);
            book.on_batch(&b);
            let payload = crate::publish::payload::encode("gw", i as u64 + 1, &b, false);
            let msg =
                crate::evidence::recompute::parse_payload(std::str::from_utf8(&payload).unwrap());
            capture.add(i as u64, msg.unwrap()).unwrap();
        }
        let u = book.rotate(T0 + 5_500);
        assert_eq!(u.len(), 1);
        let d = &u[0];
        assert_eq!((d.points_read, d.points_changed), (8, 2));
        let (recomputed, messages, values) = capture.digest("press", T0, T0 + 5_000);
        assert_eq!((messages, values), (4, 8));
        assert_eq!(d.digest, recomputed, "digest recomputed from the data messages' JSON");
        assert_eq!(
            (d.id.as_str(), d.endpoint.as_str(), d.protocol.as_str()),
            ("press", "10.0.0.1:502", "modbus-tcp")
        );
        assert_eq!(d.fingerprint, Hash::ZERO, "not identified yet");
        assert_eq!(book.split_ms(), T0 + 10_000);
    }

    /// Issue 14 finding 7: `Int(5)` and `UInt(5)` are both the JSON `5`; a digest that told
    /// them apart could not be recomputed from the data messages.
    #[test]
    fn digest_follows_the_json_so_int_and_uint_of_one_number_agree() {
        let digest_of = |v: Value| {
            let book = UsageBook::new(&config(), Duration::from_secs(5), T0);
            book.on_batch(&batch(T0 + 1, vec![good("count", T0 + 1, v)]));
            book.rotate(T0 + 5_100)[0].digest
        };
        assert_eq!(digest_of(Value::Int(5)), digest_of(Value::UInt(5)));
        assert_ne!(digest_of(Value::UInt(5)), digest_of(Value::Float(5.0)), "5 vs 5.0");
        assert_ne!(digest_of(Value::UInt(5)), digest_of(Value::Text("5".into())));
    }

    #[test]
    fn batches_are_routed_by_ts_and_polls_by_arrival() {
        let book = UsageBook::new(&config(), Duration::from_secs(5), T0 + 1_000);
        // A cycle that began before the boundary but is handed over after it goes into the
        // interval of its ts; one that began after it into the next.
        book.on_batch(&batch(T0 + 4_999, vec![good("count", 0, Value::UInt(1))]));
        book.on_batch(&batch(T0 + 5_000, vec![good("count", 0, Value::UInt(2))]));
        let first = book.rotate(T0 + 5_100);
        assert_eq!(first[0].points_read, 1);
        let second = book.rotate(T0 + 10_100);
        assert_eq!((second[0].points_read, second[0].points_changed), (1, 1));
        let stats = CycleStats {
            requests: 4,
            ok: 2,
            timeouts: 1,
            exceptions: vec![2],
            response_times: vec![Duration::from_micros(900), Duration::from_micros(100)],
            ..CycleStats::default()
        };
        book.on_cycle_at("press", &stats, T0 + 14_999);
        book.on_cycle_at("press", &stats, T0 + 15_000);
        book.on_cycle("unknown", &stats);
        let third = book.rotate(T0 + 15_100);
        let d = &third[0];
        assert_eq!(d.polls, Polls { ok: 2, error: 1, timeout: 1 });
        assert_eq!(d.exceptions, BTreeMap::from([(2, 1)]));
        assert_eq!((d.rt_p50_us, d.rt_p95_us), (Some(100), Some(900)));
        assert_eq!(book.rotate(T0 + 20_100)[0].polls.ok, 2, "arrived after the split");
    }

    #[test]
    fn identity_gives_a_fingerprint_and_wakes_the_recorder_once_per_change() {
        let book = UsageBook::new(&config(), Duration::from_secs(5), T0);
        assert!(book.identities().is_empty());
        let id = DeviceIdentity::Objects(vec![
            (0, b"ACME".to_vec()),
            (1, b"PX-1".to_vec()),
            (9, vec![0xff]),
        ]);
        book.on_identity("press", &id);
        let seen = book.identities();
        let want = BTreeMap::from([
            ("unit".to_string(), "7".to_string()),
            ("VendorName".to_string(), "ACME".to_string()),
            ("ProductCode".to_string(), "PX-1".to_string()),
            ("object_0x09".to_string(), "hex:ff".to_string()),
        ]);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].identity, want);
        assert_eq!(seen[0].fingerprint, fingerprint(&want));
        assert_eq!(book.rotate(T0 + 6_000)[0].fingerprint, fingerprint(&want));
        let unsupported = modbus_identity(7, &DeviceIdentity::Unsupported);
        assert_eq!(unsupported.get("mei").map(String::as_str), Some("unsupported"));
    }

    /// Issue 14: OPC UA fingerprints were taken but never reached the book, so OPC UA
    /// devices had a zero fingerprint and no `device` record.
    #[test]
    fn opcua_identity_gives_a_fingerprint_that_a_new_certificate_changes_and_a_restart_not() {
        let text = r#"
[gateway]
id = "gw"
enterprise = "91440300MA5DEM0A0G"
project = "P"
[[devices]]
name = "mould"
protocol = "opcua"
endpoint = "opc.tcp://10.0.0.2:4840"
  [[devices.points]]
  name = "temp"
  node = "ns=2;s=Temp"
"#;
        let cfg = crate::config::load_str(Path::new("t.toml"), text, false).unwrap();
        let book = UsageBook::new(&cfg, Duration::from_secs(5), T0);
        let mut fp = DeviceFingerprint {
            application_uri: "urn:acme:mould".into(),
            product_uri: "urn:acme".into(),
            certificate_sha256: Some("ab".repeat(32)),
            build: Some(crate::source::opcua::BuildSummary {
                product_name: "Mould 3000".into(),
                manufacturer_name: "ACME".into(),
                ..Default::default()
            }),
            start_time_ms: Some(T0),
            ..Default::default()
        };
        book.on_opcua_identity("mould", &fp);
        let first = book.identities();
        assert_eq!(first.len(), 1);
        let id = &first[0].identity;
        assert_eq!(id["application_uri"], "urn:acme:mould");
        assert_eq!(id["product_name"], "Mould 3000");
        assert_eq!(id["certificate_sha256"], "ab".repeat(32));
        assert_ne!(first[0].fingerprint, Hash::ZERO);
        assert_eq!(book.rotate(T0 + 6_000)[0].fingerprint, first[0].fingerprint);
        fp.start_time_ms = Some(T0 + 1);
        book.on_opcua_identity("mould", &fp);
        assert_eq!(
            book.identities()[0].fingerprint,
            first[0].fingerprint,
            "a restart is no change"
        );
        assert_eq!(book.identities()[0].start_time_ms, Some(T0 + 1));
        fp.certificate_sha256 = Some("cd".repeat(32));
        book.on_opcua_identity("mould", &fp);
        assert_ne!(book.identities()[0].fingerprint, first[0].fingerprint, "a new certificate is");
    }

    #[test]
    fn percentiles_and_boundaries() {
        let cases: [(&str, Vec<u64>, u64, Option<u64>); 5] = [
            ("empty", vec![], 50, None),
            ("one", vec![7], 95, Some(7)),
            ("median of four is the second", vec![1, 2, 3, 4], 50, Some(2)),
            ("p95 of twenty is the nineteenth", (1..=20).collect(), 95, Some(19)),
            ("p95 of ten is the tenth", (1..=10).collect(), 95, Some(10)),
        ];
        for (case, v, p, want) in cases {
            assert_eq!(percentile(&v, p), want, "{case}");
        }
        assert_eq!(next_boundary(T0, 5_000), T0 + 5_000);
        assert_eq!(next_boundary(T0 + 1, 5_000), T0 + 5_000);
    }

    #[test]
    fn response_times_beyond_the_cap_are_sampled_not_grown() {
        let mut b = Bucket::default();
        for i in 0..(MAX_RESPONSE_TIMES as u64 + 1000) {
            b.add_response_time(i);
        }
        assert_eq!(b.rt_us.len(), MAX_RESPONSE_TIMES);
        assert_eq!(b.rt_seen, MAX_RESPONSE_TIMES as u64 + 1000);
    }
}
