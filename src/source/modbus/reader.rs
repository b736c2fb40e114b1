//! One Modbus device's poll cycle: execute the [`ReadPlan`] over a [`ModbusLink`] (a Modbus
//! TCP [`Transport`], or a unit on an RTU bus), decode every point, and learn from exceptions.
//!
//! When a merged read gets exception 02 (illegal data address) or 03 (illegal data value) —
//! typically because the device does not map a register the read skipped over — the read is
//! split in halves and the halves are retried at once; the split stays in the plan, so the
//! next cycle does not fail again. A read of a single point that still fails marks that point
//! bad with the exception code; every other point keeps good quality.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::decode::{decode_bit, decode_registers, DecodeError};
use super::link::ModbusLink;
use super::plan::{plan, ReadPlan};
use super::point::ReadLimits;
use super::transport::{RawRead, Transport, TransportError};
use super::ModbusPoint;
use crate::config::ModbusTcpDevice;
use crate::model::{now_ms, BadReason, Sample};

/// The raw words behind a decoded value, kept only when asked for (`probe`).
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    /// Registers, in wire order.
    Registers(Vec<u16>),
    /// A coil or discrete input.
    Bit(bool),
}

/// One point's result in a cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct PointReading {
    /// Index into the device's points.
    pub index: usize,
    /// The sample.
    pub sample: Sample,
    /// Raw words, when the reader keeps them.
    pub raw: Option<Raw>,
}

/// What one cycle (one plan group) cost and found; feeds metrics and, later, evidence.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CycleStats {
    /// Requests sent (including split retries).
    pub requests: u32,
    /// Requests answered with data.
    pub ok: u32,
    /// Requests that timed out.
    pub timeouts: u32,
    /// Requests lost because the connection could not be opened or broke (or was backing off).
    pub connection_errors: u32,
    /// Answers that could not be used (wrong length, garbage).
    pub malformed: u32,
    /// Modbus exception codes seen, one per request answered with an exception.
    pub exceptions: Vec<u8>,
    /// Response times of answered requests.
    pub response_times: Vec<Duration>,
    /// Points with good quality.
    pub good: u32,
    /// Points with bad quality.
    pub bad: u32,
    /// Strings whose invalid UTF-8 was replaced.
    pub lossy_text: u32,
    /// Whether the connection was up at the end of the cycle.
    pub connected: bool,
}

impl CycleStats {
    /// Requests that failed for any reason.
    pub fn failed(&self) -> u32 {
        self.timeouts + self.connection_errors + self.malformed + self.exceptions.len() as u32
    }
}

/// Polls one Modbus device: owns its link, points and read plan.
pub struct DeviceReader<L = Transport> {
    device: Arc<str>,
    points: Vec<ModbusPoint>,
    plan: ReadPlan,
    link: L,
    keep_raw: bool,
}

impl DeviceReader<Transport> {
    /// A reader for a compiled Modbus TCP device; nothing is connected until the first read.
    pub fn new(device: Arc<str>, cfg: &ModbusTcpDevice) -> Self {
        let transport = Transport::new(device.clone(), cfg.address.clone(), cfg.unit, cfg.timeout);
        DeviceReader::with_link(device, cfg.points.clone(), &cfg.limits, transport)
    }

    /// The connection, for identity and state.
    pub fn transport(&self) -> &Transport {
        &self.link
    }
}

impl<L: ModbusLink> DeviceReader<L> {
    /// A reader for `points` over any link; the plan is made here, once.
    pub fn with_link(
        device: Arc<str>,
        points: Vec<ModbusPoint>,
        limits: &ReadLimits,
        link: L,
    ) -> Self {
        let plan = plan(&points, limits);
        DeviceReader { device, points, plan, link, keep_raw: false }
    }

    /// Keep the raw registers beside each reading (for `probe`).
    pub fn keep_raw(mut self, keep: bool) -> Self {
        self.keep_raw = keep;
        self
    }

    /// The device's name.
    pub fn device(&self) -> &Arc<str> {
        &self.device
    }

    /// The device's points.
    pub fn points(&self) -> &[ModbusPoint] {
        &self.points
    }

    /// The current plan (with any splits learnt so far).
    pub fn plan(&self) -> &ReadPlan {
        &self.plan
    }

    /// The link, for identity, address and state.
    pub fn link(&self) -> &L {
        &self.link
    }

    /// Reads every point of plan group `group` once. Never fails: a point that could not be
    /// read comes back with bad quality and the reason.
    pub async fn read_group(&mut self, group: usize, out: &mut Vec<PointReading>) -> CycleStats {
        let mut stats = CycleStats::default();
        let mut r = 0;
        while let Some(read) = self.plan.groups.get(group).and_then(|g| g.reads.get(r)) {
            let (area, start, count) = (read.area, read.start, read.count);
            let started = Instant::now();
            stats.requests += 1;
            let result = self.link.read(area, start, count).await;
            let ts_ms = now_ms();
            match result {
                Ok(raw) => {
                    stats.ok += 1;
                    stats.response_times.push(started.elapsed());
                    self.decode_read(group, r, start, &raw, ts_ms, &mut stats, out);
                }
                Err(TransportError::Exception { code: code @ (2 | 3), .. })
                    if self.plan.split(group, r) =>
                {
                    stats.exceptions.push(code);
                    info!(
                        device = %self.device, %area, start, count, code,
                        "device rejected a merged read; split it in two and remember the split"
                    );
                    continue; // retry the first half now, at the same index
                }
                Err(e) => {
                    match &e {
                        TransportError::Timeout { .. } => stats.timeouts += 1,
                        TransportError::Exception { code, .. } => stats.exceptions.push(*code),
                        TransportError::Malformed { .. }
                        | TransportError::InvalidRequest { .. } => {
                            stats.malformed += 1;
                            warn!(device = %self.device, %area, start, count, error = %e, "unusable response");
                        }
                        _ => stats.connection_errors += 1,
                    }
                    debug!(device = %self.device, %area, start, count, error = %e, "read failed");
                    self.fail_read(group, r, e.bad_reason(), ts_ms, &mut stats, out);
                }
            }
            r += 1;
        }
        stats.connected = self.link.is_connected();
        stats
    }

    #[allow(clippy::too_many_arguments)]
    fn decode_read(
        &self,
        group: usize,
        r: usize,
        start: u16,
        raw: &RawRead,
        ts_ms: u64,
        stats: &mut CycleStats,
        out: &mut Vec<PointReading>,
    ) {
        let Some(read) = self.plan.groups.get(group).and_then(|g| g.reads.get(r)) else {
            return;
        };
        for &index in &read.points {
            let Some(point) = self.points.get(index) else { continue };
            let offset = usize::from(point.address.wrapping_sub(start));
            let width = usize::from(point.width());
            let (result, raw_kept) = match raw {
                RawRead::Registers(regs) => match regs.get(offset..offset + width) {
                    Some(words) => (
                        decode_registers(point, words).map_err(Some).map(|d| {
                            if d.lossy_text {
                                stats.lossy_text += 1;
                                warn!(device = %self.device, point = %point.name, "string had invalid UTF-8; replaced");
                            }
                            d.value
                        }),
                        self.keep_raw.then(|| Raw::Registers(words.to_vec())),
                    ),
                    None => (Err(None), None),
                },
                RawRead::Bits(bits) => match bits.get(offset) {
                    Some(&b) => (Ok(decode_bit(point, b)), self.keep_raw.then_some(Raw::Bit(b))),
                    None => (Err(None), None),
                },
            };
            let sample = match result {
                Ok(value) => {
                    stats.good += 1;
                    Sample::good(point.name.clone(), ts_ms, value)
                }
                Err(e) => {
                    stats.bad += 1;
                    let reason = match e {
                        Some(DecodeError::NotFinite) => BadReason::NotFinite,
                        _ => BadReason::Malformed,
                    };
                    Sample::bad(point.name.clone(), ts_ms, reason)
                }
            };
            out.push(PointReading { index, sample, raw: raw_kept });
        }
    }

    fn fail_read(
        &self,
        group: usize,
        r: usize,
        reason: BadReason,
        ts_ms: u64,
        stats: &mut CycleStats,
        out: &mut Vec<PointReading>,
    ) {
        let Some(read) = self.plan.groups.get(group).and_then(|g| g.reads.get(r)) else {
            return;
        };
        for &index in &read.points {
            let Some(point) = self.points.get(index) else { continue };
            stats.bad += 1;
            out.push(PointReading {
                index,
                sample: Sample::bad(point.name.clone(), ts_ms, reason),
                raw: None,
            });
        }
    }
}
