//! The typed evidence records of EVIDENCE.md §Log, and their JSON wire form.
//!
//! Wire form of one signed record (JCS-canonical when stored, hashed or signed):
//!
//! ```json
//! {"boot":{"id":"…","n":3,"rec":0},"body":{…},"gw":"gw-1","origin":"edgeproof/gw-1",
//!  "prev":"<64 hex>","seq":41,"sig":"<base64>","t":{"mono_ms":…,"wall_ms":…},"typ":"boot","v":1}
//! ```
//!
//! The common fields sit at the top level; the fields of the record type sit under `body`,
//! whose shape `typ` selects. Nesting (instead of flattening) keeps one strict struct per type
//! with `deny_unknown_fields`.
//!
//! **Forward compatibility.** Version 1 readers reject any field they do not know, at every
//! level: a record must mean exactly what a v1 reader shows a reviewer. A writer that needs a
//! new field bumps `v`; a v1 verifier then still checks signatures, chain and checkpoints
//! (they work on the raw JSON) but refuses to interpret the record and says so. The `typ`
//! list is closed for the same reason.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::canonical::{self, CanonicalError};
use super::merkle::Hash;

/// The record format version this code writes and fully understands.
pub const RECORD_VERSION: u64 = 1;

/// Why a JSON value is not a v1 record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The value is not an object with a numeric `v`.
    #[error("not an evidence record: {0}")]
    NotARecord(String),
    /// `v` is a version this code does not know.
    #[error(
        "record format version {0} is not supported (this edgeproof understands {RECORD_VERSION})"
    )]
    Version(u64),
    /// A field is missing, unknown, or of the wrong type.
    #[error("record seq {seq}: {msg}", seq = seq.map_or("?".into(), |s| s.to_string()))]
    Schema {
        /// The record's `seq`, if it could be read.
        seq: Option<u64>,
        /// What serde said.
        msg: String,
    },
    /// The value cannot be canonicalised (a float, a huge integer).
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
}

/// The record types of EVIDENCE.md. The list is closed in v1 (`clock` joined it before the
/// first release).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordType {
    /// First record of a log (seq 0): who, what, which key, which devices.
    Enroll,
    /// The agent started.
    Boot,
    /// One interval of device activity.
    Usage,
    /// A device was first seen or its fingerprint changed.
    Device,
    /// The device map changed.
    Config,
    /// A witness cosignature was received.
    Anchor,
    /// The agent stopped cleanly.
    Shutdown,
    /// The wall clock was stepped while the agent ran.
    Clock,
}

impl RecordType {
    /// The `typ` string.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Enroll => "enroll",
            RecordType::Boot => "boot",
            RecordType::Usage => "usage",
            RecordType::Device => "device",
            RecordType::Config => "config",
            RecordType::Anchor => "anchor",
            RecordType::Shutdown => "shutdown",
            RecordType::Clock => "clock",
        }
    }
}

/// Which run of the agent wrote a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootRef {
    /// The kernel's boot id (`/proc/sys/kernel/random/boot_id`): changes at every OS boot.
    pub id: String,
    /// The persisted agent start counter: strictly increases at every start of the agent.
    pub n: u64,
    /// Record number within this start, from 0.
    pub rec: u64,
}

/// A moment on both clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stamp {
    /// Unix time in ms (wall clock; may be stepped by NTP).
    pub wall_ms: u64,
    /// CLOCK_BOOTTIME in ms (monotonic, counts suspend, restarts at each OS boot).
    pub mono_ms: u64,
}

/// An evidence record without its signature. Build one, then sign it
/// ([`super::sign::sign_record`]) — usually through [`super::chain::Chain`], which fills
/// `seq`, `prev` and `boot`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Format version, [`RECORD_VERSION`].
    pub v: u64,
    /// Log name, `edgeproof/<gateway id>`; the checkpoints' origin line.
    pub origin: String,
    /// Gateway id.
    pub gw: String,
    /// Position in the log, from 0, gap-free.
    pub seq: u64,
    /// Leaf hash of the record at `seq - 1`; [`Hash::ZERO`] for seq 0.
    pub prev: Hash,
    /// The agent run that wrote it.
    pub boot: BootRef,
    /// When it was written.
    pub t: Stamp,
    /// The type-specific content.
    pub body: Body,
}

/// A record and its Ed25519 signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRecord {
    /// The signed content.
    pub record: Record,
    /// Ed25519 signature over `"edgeproof-evidence/v1\n" || JCS(record without sig)`.
    pub sig: [u8; 64],
}

/// The type-specific content of a record (`body` on the wire).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// `enroll`.
    Enroll(Enroll),
    /// `boot`.
    Boot(Boot),
    /// `usage`.
    Usage(Usage),
    /// `device`.
    Device(Device),
    /// `config`.
    Config(ConfigChange),
    /// `anchor`.
    Anchor(Anchor),
    /// `shutdown`.
    Shutdown(Shutdown),
    /// `clock`.
    Clock(ClockStep),
}

impl Body {
    /// The `typ` of this body.
    pub fn typ(&self) -> RecordType {
        match self {
            Body::Enroll(_) => RecordType::Enroll,
            Body::Boot(_) => RecordType::Boot,
            Body::Usage(_) => RecordType::Usage,
            Body::Device(_) => RecordType::Device,
            Body::Config(_) => RecordType::Config,
            Body::Anchor(_) => RecordType::Anchor,
            Body::Shutdown(_) => RecordType::Shutdown,
            Body::Clock(_) => RecordType::Clock,
        }
    }

    fn to_value(&self) -> Result<Value, serde_json::Error> {
        match self {
            Body::Enroll(b) => serde_json::to_value(b),
            Body::Boot(b) => serde_json::to_value(b),
            Body::Usage(b) => serde_json::to_value(b),
            Body::Device(b) => serde_json::to_value(b),
            Body::Config(b) => serde_json::to_value(b),
            Body::Anchor(b) => serde_json::to_value(b),
            Body::Shutdown(b) => serde_json::to_value(b),
            Body::Clock(b) => serde_json::to_value(b),
        }
    }

    fn from_value(typ: RecordType, v: Value) -> Result<Body, serde_json::Error> {
        Ok(match typ {
            RecordType::Enroll => Body::Enroll(serde_json::from_value(v)?),
            RecordType::Boot => Body::Boot(serde_json::from_value(v)?),
            RecordType::Usage => Body::Usage(serde_json::from_value(v)?),
            RecordType::Device => Body::Device(serde_json::from_value(v)?),
            RecordType::Config => Body::Config(serde_json::from_value(v)?),
            RecordType::Anchor => Body::Anchor(serde_json::from_value(v)?),
            RecordType::Shutdown => Body::Shutdown(serde_json::from_value(v)?),
            RecordType::Clock => Body::Clock(serde_json::from_value(v)?),
        })
    }
}

/// How keys are protected on the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAssurance {
    /// A key file on disk (mode 0600).
    Software,
    /// A key sealed in a TPM (not yet implemented).
    Tpm,
}

/// `enroll` (seq 0): who runs the gateway, under which project, with which key and devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enroll {
    /// Enterprise 统一社会信用代码 (18 characters, check character valid).
    pub uscc: String,
    /// Programme project id.
    pub project: String,
    /// Contract id.
    pub contract: String,
    /// Gateway public key: standard base64 of the 32-byte Ed25519 key.
    pub key: String,
    /// How the signing key is protected.
    pub key_assurance: KeyAssurance,
    /// Agent version (`CARGO_PKG_VERSION`).
    pub agent_version: String,
    /// Build identifier (e.g. the git commit).
    pub build: String,
    /// The declared production devices.
    pub inventory: Vec<InventoryDevice>,
    /// Total production devices in the factory (the denominator of 设备联网率).
    pub production_devices: u64,
}

/// One declared production device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryDevice {
    /// Device id (the config's device name).
    pub id: String,
    /// Protocol, e.g. `modbus-tcp`, `modbus-rtu`, `opcua`.
    pub protocol: String,
    /// Endpoint, e.g. `10.0.0.5:502`, `/dev/ttyS1@3`, `opc.tcp://…`.
    pub endpoint: String,
    /// Nameplate vendor.
    pub vendor: String,
    /// Nameplate model.
    pub model: String,
    /// Scene tag: 生产管控 · 设备管理 · 能耗管理 · 质量管理 · 安全生产 …
    pub scene: String,
}

/// How the run before a `boot` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PreviousRun {
    /// No earlier run (first start after enrolment).
    None,
    /// The last record before this boot is a `shutdown`.
    Clean,
    /// It is not: crash, kill or power loss.
    Unclean,
}

/// `boot`: the agent started. It is record 0 of every run (`boot.rec` 0, a new `boot.n`),
/// except on the very first run, where it follows `enroll` as record 1. Verification checks
/// that `last_seq`, `last_wall_ms` and `previous` agree with the record before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Boot {
    /// How the previous run ended.
    pub previous: PreviousRun,
    /// Seq of the record just before this one.
    pub last_seq: u64,
    /// Wall time (`t.wall_ms`) of that record.
    pub last_wall_ms: u64,
    /// Agent version.
    pub agent_version: String,
    /// SHA-256 of the effective configuration.
    pub config_hash: Hash,
}

/// `usage`: one interval of what the sources really did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// Interval start.
    pub start: Stamp,
    /// Interval end.
    pub end: Stamp,
    /// One entry per configured device.
    pub devices: Vec<DeviceUsage>,
    /// Pipeline totals over the interval.
    pub totals: Totals,
}

/// Poll outcomes in an interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Polls {
    /// Requests answered with data.
    pub ok: u64,
    /// Requests answered with an error (exception, protocol error, connection refused).
    pub error: u64,
    /// Requests not answered in time.
    pub timeout: u64,
}

/// One device's activity in an interval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceUsage {
    /// Device id.
    pub id: String,
    /// Protocol.
    pub protocol: String,
    /// Endpoint as configured.
    pub endpoint: String,
    /// The endpoint resolves to this gateway itself (a simulator next to the agent).
    pub endpoint_local: bool,
    /// Current device fingerprint (see [`Device::fingerprint`]).
    pub fingerprint: Hash,
    /// Poll outcomes.
    pub polls: Polls,
    /// Modbus exception responses by exception code.
    pub exceptions: BTreeMap<u8, u64>,
    /// Point values read.
    pub points_read: u64,
    /// Point values that differed from the previous read of the same point.
    pub points_changed: u64,
    /// Median response time in µs; absent when nothing answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rt_p50_us: Option<u64>,
    /// 95th percentile response time in µs; absent when nothing answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rt_p95_us: Option<u64>,
    /// [`super::digest::UsageDigest`] of every (point, source timestamp, value) read.
    pub digest: Hash,
}

/// Pipeline counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    /// Samples written to the journal.
    pub journaled: u64,
    /// Samples acknowledged by the broker (PUBACK).
    pub acked: u64,
    /// Samples in the journal not yet acknowledged, at the end.
    pub backlog: u64,
    /// Samples dropped by the journal's size bound.
    pub dropped: u64,
    /// Samples the journal refused to take (its in-memory queue was full: the disk was
    /// slower than the devices, or full and failing commits). They were never journaled,
    /// published or counted in any device's figures. Absent when 0, so records without
    /// refusals read as before this field existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refused: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Why a `device` record was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChange {
    /// First identification of this device in this log.
    FirstSeen,
    /// The fingerprint differs from the last one recorded.
    Changed,
}

/// `device`: a device was first identified, or its identity changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Device id.
    pub id: String,
    /// Protocol.
    pub protocol: String,
    /// Endpoint.
    pub endpoint: String,
    /// First seen or changed.
    pub change: DeviceChange,
    /// [`fingerprint`] of `identity`.
    pub fingerprint: Hash,
    /// The fingerprint before the change (absent when first seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_fingerprint: Option<Hash>,
    /// What identifies the device. Modbus: `unit` and the Read Device Identification
    /// (FC 43 / MEI 14) objects by name (`VendorName`, `ProductCode`, `MajorMinorRevision`, …),
    /// or `mei` = `unsupported`. OPC UA: `ApplicationUri`, `ServerCertificateSha256`,
    /// `BuildInfo.*`.
    pub identity: BTreeMap<String, String>,
    /// OPC UA ServerStatus.StartTime (outside the fingerprint: it changes at every restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
}

/// Device fingerprint: SHA-256 of the JCS encoding of the identity map, so a reviewer can
/// recompute it from the `device` record.
pub fn fingerprint(identity: &BTreeMap<String, String>) -> Hash {
    // A map of strings is always in the canonical domain.
    Hash::sha256(&canonical::to_vec(identity).unwrap_or_default())
}

/// `config`: the device map changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigChange {
    /// SHA-256 of the new effective configuration.
    pub hash: Hash,
    /// Device ids added.
    pub added: Vec<String>,
    /// Device ids removed.
    pub removed: Vec<String>,
}

/// `anchor`: a witness cosignature was received; logging it commits the gateway to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// The witness's key name.
    pub witness: String,
    /// Its C2SP key id (type 0x04), 8 lower-case hex digits.
    pub key_id: String,
    /// Tree size of the cosigned checkpoint.
    pub size: u64,
    /// Root of the cosigned checkpoint.
    pub root: Hash,
    /// The cosignature's timestamp (Unix seconds).
    pub time: u64,
    /// SHA-256 of the cosignature line (`— <name> <base64>`, without its newline).
    pub cosignature: Hash,
}

/// `shutdown`: the agent stopped cleanly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shutdown {
    /// Why, e.g. `SIGTERM`.
    pub reason: String,
    /// Pipeline counters since this start.
    pub totals: Totals,
}

/// `clock`: the agent saw the wall clock move unlike CLOCK_BOOTTIME since its previous
/// record (NTP stepping it, an operator, an RTC reset). Written before any record stamped
/// after the step, so the step falls between this record and the one before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockStep {
    /// Wall-clock ms minus monotonic ms elapsed since the previous record: how far the wall
    /// clock was stepped (negative: back).
    pub step_ms: i64,
}

/// The top level on the wire, for reading.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireIn {
    v: u64,
    typ: RecordType,
    origin: String,
    gw: String,
    seq: u64,
    prev: Hash,
    boot: BootRef,
    t: Stamp,
    body: Value,
    #[serde(default)]
    sig: Option<String>,
}

/// The top level on the wire, for writing.
#[derive(Serialize)]
struct WireOut<'a> {
    v: u64,
    typ: RecordType,
    origin: &'a str,
    gw: &'a str,
    seq: u64,
    prev: &'a Hash,
    boot: &'a BootRef,
    t: &'a Stamp,
    body: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    sig: Option<String>,
}

/// Reads `v` from a record-shaped value; what a verifier checks before anything else.
pub fn version_of(v: &Value) -> Option<u64> {
    v.get("v").and_then(Value::as_u64)
}

/// Reads `seq` from a record-shaped value, for error messages about unreadable records.
pub fn seq_of(v: &Value) -> Option<u64> {
    v.get("seq").and_then(Value::as_u64)
}

impl Record {
    /// The record as JSON, without `sig`.
    pub fn to_value(&self) -> Result<Value, RecordError> {
        self.wire(None)
    }

    fn wire(&self, sig: Option<String>) -> Result<Value, RecordError> {
        let schema =
            |e: serde_json::Error| RecordError::Schema { seq: Some(self.seq), msg: e.to_string() };
        let out = WireOut {
            v: self.v,
            typ: self.body.typ(),
            origin: &self.origin,
            gw: &self.gw,
            seq: self.seq,
            prev: &self.prev,
            boot: &self.boot,
            t: &self.t,
            body: self.body.to_value().map_err(schema)?,
            sig,
        };
        serde_json::to_value(out).map_err(schema)
    }

    /// The record's type.
    pub fn typ(&self) -> RecordType {
        self.body.typ()
    }
}

impl SignedRecord {
    /// The record as JSON, with `sig` (standard base64).
    pub fn to_value(&self) -> Result<Value, RecordError> {
        use base64::Engine as _;
        self.record.wire(Some(base64::engine::general_purpose::STANDARD.encode(self.sig)))
    }

    /// The canonical bytes: what is stored, published, put in bundles and leaf-hashed.
    pub fn canonical(&self) -> Result<Vec<u8>, RecordError> {
        Ok(canonical::encode(&self.to_value()?)?)
    }

    /// The RFC 6962 leaf hash of [`SignedRecord::canonical`].
    pub fn leaf_hash(&self) -> Result<Hash, RecordError> {
        Ok(super::merkle::leaf_hash(&self.canonical()?))
    }

    /// Reads a v1 record from JSON, strictly: every field known, `sig` present and 64 bytes.
    /// Does not check the signature.
    pub fn from_value(v: &Value) -> Result<SignedRecord, RecordError> {
        Self::from_json(v.clone())
    }

    /// [`SignedRecord::from_value`], consuming the value (no copy).
    pub fn from_json(v: Value) -> Result<SignedRecord, RecordError> {
        let seq = seq_of(&v);
        let schema = |msg: String| RecordError::Schema { seq, msg };
        if !v.is_object() {
            return Err(RecordError::NotARecord("not a JSON object".into()));
        }
        match version_of(&v) {
            Some(RECORD_VERSION) => {}
            Some(other) => return Err(RecordError::Version(other)),
            None => return Err(RecordError::NotARecord("no numeric \"v\" field".into())),
        }
        let w: WireIn = serde_json::from_value(v).map_err(|e| schema(e.to_string()))?;
        let body = Body::from_value(w.typ, w.body)
            .map_err(|e| schema(format!("{} body: {e}", w.typ.as_str())))?;
        let sig_text = w.sig.ok_or_else(|| schema("missing field `sig`".into()))?;
        let sig = decode_sig(&sig_text).ok_or_else(|| {
            schema(format!("sig {sig_text:?} is not standard base64 of 64 bytes"))
        })?;
        let record = Record {
            v: w.v,
            origin: w.origin,
            gw: w.gw,
            seq: w.seq,
            prev: w.prev,
            boot: w.boot,
            t: w.t,
            body,
        };
        Ok(SignedRecord { record, sig })
    }
}

/// Decodes a `sig` field: standard padded base64 of exactly 64 bytes.
pub fn decode_sig(s: &str) -> Option<[u8; 64]> {
    use base64::Engine as _;
    let v = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    v.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_usage() -> Body {
        Body::Usage(Usage {
            start: Stamp { wall_ms: 1_760_000_000_000, mono_ms: 1_000 },
            end: Stamp { wall_ms: 1_760_000_300_000, mono_ms: 301_000 },
            devices: vec![DeviceUsage {
                id: "press-1".into(),
                protocol: "modbus-tcp".into(),
                endpoint: "10.0.0.5:502".into(),
                endpoint_local: false,
                fingerprint: Hash::sha256(b"fp"),
                polls: Polls { ok: 300, error: 1, timeout: 2 },
                exceptions: BTreeMap::from([(2, 1)]),
                points_read: 3000,
                points_changed: 120,
                rt_p50_us: Some(850),
                rt_p95_us: None,
                digest: Hash::sha256(b"stream"),
            }],
            totals: Totals { journaled: 3000, acked: 2990, backlog: 10, dropped: 0, refused: 0 },
        })
    }

    fn sample_record(body: Body) -> SignedRecord {
        SignedRecord {
            record: Record {
                v: 1,
                origin: "edgeproof/gw-1".into(),
                gw: "gw-1".into(),
                seq: 7,
                prev: Hash::sha256(b"prev"),
                boot: BootRef { id: "b".into(), n: 2, rec: 5 },
                t: Stamp { wall_ms: 1_760_000_300_001, mono_ms: 301_001 },
                body,
            },
            sig: [7; 64],
        }
    }

    #[test]
    fn wire_form_round_trips_for_every_type() {
        let bodies = vec![
            sample_usage(),
            Body::Enroll(Enroll {
                uscc: "91350100M000100Y43".into(),
                project: "P".into(),
                contract: "C".into(),
                key: "k".into(),
                key_assurance: KeyAssurance::Software,
                agent_version: "0.1.0".into(),
                build: "abc".into(),
                inventory: vec![InventoryDevice {
                    id: "press-1".into(),
                    protocol: "modbus-tcp".into(),
                    endpoint: "10.0.0.5:502".into(),
                    vendor: "Schneider".into(),
                    model: "M221".into(),
                    scene: "生产管控".into(),
                }],
                production_devices: 12,
            }),
            Body::Boot(Boot {
                previous: PreviousRun::Unclean,
                last_seq: 6,
                last_wall_ms: 5,
                agent_version: "0.1.0".into(),
                config_hash: Hash::sha256(b"cfg"),
            }),
            Body::Device(Device {
                id: "press-1".into(),
                protocol: "modbus-tcp".into(),
                endpoint: "10.0.0.5:502".into(),
                change: DeviceChange::FirstSeen,
                fingerprint: Hash::sha256(b"x"),
                previous_fingerprint: None,
                identity: BTreeMap::from([("unit".into(), "1".into())]),
                start_time: None,
            }),
            Body::Config(ConfigChange {
                hash: Hash::sha256(b"c"),
                added: vec!["a".into()],
                removed: vec![],
            }),
            Body::Anchor(Anchor {
                witness: "w.example/1".into(),
                key_id: "0011aabb".into(),
                size: 9,
                root: Hash::sha256(b"r"),
                time: 1_760_000_000,
                cosignature: Hash::sha256(b"l"),
            }),
            Body::Shutdown(Shutdown { reason: "SIGTERM".into(), totals: Totals::default() }),
        ];
        for body in bodies {
            let typ = body.typ();
            let r = sample_record(body);
            let v = r.to_value().unwrap();
            assert_eq!(v["typ"], typ.as_str());
            let bytes = r.canonical().unwrap();
            let back = SignedRecord::from_value(&canonical::parse(&bytes).unwrap()).unwrap();
            assert_eq!(back, r, "{typ:?}");
        }
    }

    #[test]
    fn usage_record_canonical_form_has_sorted_members_and_no_spaces() {
        // The exact bytes are pinned by the signature vector in sign.rs.
        let text = String::from_utf8(sample_record(sample_usage()).canonical().unwrap()).unwrap();
        assert!(text.starts_with(r#"{"body":{"devices":[{"digest":""#), "{text}");
        assert!(text.contains(r#""exceptions":{"2":1},"fingerprint":"#), "{text}");
        assert!(!text.contains("rt_p95_us"), "absent options are omitted: {text}");
        let tail = r#""t":{"mono_ms":301001,"wall_ms":1760000300001},"typ":"usage","v":1}"#;
        assert!(text.ends_with(tail), "{text}");
    }

    #[test]
    fn strict_reading_rejects_what_v1_does_not_define() {
        let good = sample_record(sample_usage()).to_value().unwrap();
        let mut cases: Vec<(&str, Value)> = Vec::new();
        let mut x = good.clone();
        x["extra"] = Value::from(1);
        cases.push(("unknown top-level field", x));
        let mut x = good.clone();
        x["body"]["devices"][0]["color"] = Value::from("red");
        cases.push(("unknown body field", x));
        let mut x = good.clone();
        x["typ"] = Value::from("reboot");
        cases.push(("unknown typ", x));
        let mut x = good.clone();
        x.as_object_mut().unwrap().remove("sig");
        cases.push(("missing sig", x));
        let mut x = good.clone();
        x["sig"] = Value::from("AAAA");
        cases.push(("short sig", x));
        let mut x = good.clone();
        x["prev"] = Value::from("ABCD");
        cases.push(("bad prev", x));
        let mut x = good.clone();
        x["typ"] = Value::from("boot");
        cases.push(("body of another type", x));
        for (name, v) in cases {
            assert!(SignedRecord::from_value(&v).is_err(), "{name} accepted");
        }
        let mut x = good.clone();
        x["v"] = Value::from(2);
        assert!(matches!(SignedRecord::from_value(&x), Err(RecordError::Version(2))));
    }

    #[test]
    fn fingerprint_is_sha256_of_jcs_identity() {
        let id = BTreeMap::from([
            ("unit".to_string(), "1".to_string()),
            ("VendorName".to_string(), "ACME".to_string()),
        ]);
        assert_eq!(fingerprint(&id), Hash::sha256(br#"{"VendorName":"ACME","unit":"1"}"#));
    }

    #[test]
    fn totals_refused_is_absent_when_zero_and_read_when_present() {
        let zero = Totals { journaled: 1, acked: 1, backlog: 0, dropped: 0, refused: 0 };
        let text = serde_json::to_string(&zero).unwrap();
        assert_eq!(text, r#"{"journaled":1,"acked":1,"backlog":0,"dropped":0}"#, "as before");
        assert_eq!(serde_json::from_str::<Totals>(&text).unwrap(), zero);
        let some = Totals { refused: 12, ..zero };
        let text = serde_json::to_string(&some).unwrap();
        assert!(text.ends_with(r#""refused":12}"#), "{text}");
        assert_eq!(serde_json::from_str::<Totals>(&text).unwrap(), some);
    }
}
