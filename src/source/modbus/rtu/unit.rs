//! [`RtuUnit`]: one device's handle to its bus, the [`ModbusLink`] its reader polls through.
//!
//! The handle owns what belongs to the unit rather than to the bus: the request limits, the
//! timeout and turnaround, and the **backoff of a unit that does not answer**. A silent unit
//! costs the bus a full timeout per request, time every other unit waits through. So after
//! a request goes unanswered (or is cut short, which costs the same), the unit's reads fail
//! at once, without touching the bus, until its backoff ends: 250 ms after the first
//! failure, doubling to 30 s (no jitter: one bus, no herd to spread). Its polls are thinned
//! to one attempt per backoff step while its neighbours keep their rate. The first answer
//! ends the backoff.
//!
//! Failures map to the shared [`TransportError`] (and so to the same qualities and metric
//! kinds as Modbus TCP): no answer is `Timeout`, a bad frame `Malformed`, a port that cannot
//! be opened `Connect`, a port in backoff or a unit in backoff `Backoff` (disconnected).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::bus::{Job, Outcome};
use super::frame::{FrameError, ReadFrame};
use crate::source::modbus::link::ModbusLink;
use crate::source::modbus::point::Area;
use crate::source::modbus::transport::{
    backoff_delay, check_request, DeviceIdentity, RawRead, TransportError,
};

/// One unit on an RTU bus. Created by [`super::RtuBuses::unit`].
pub struct RtuUnit {
    device: Arc<str>,
    /// `<bus> unit <id>`, for messages.
    address: String,
    unit: u8,
    timeout: Duration,
    turnaround: Duration,
    jobs: mpsc::Sender<Job>,
    bus_open: Arc<AtomicBool>,
    /// Consecutive requests that went unanswered.
    failures: u32,
    /// No request before this instant.
    retry_at: Option<Instant>,
    /// Delay after `n` consecutive unanswered requests (replaced in tests).
    backoff: fn(u32) -> Duration,
}

impl std::fmt::Debug for RtuUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtuUnit")
            .field("device", &self.device)
            .field("address", &self.address)
            .field("failures", &self.failures)
            .field("retry_at", &self.retry_at)
            .finish_non_exhaustive()
    }
}

/// The unit backoff: 250 ms doubling to 30 s, the ceiling of the TCP transport's backoff
/// without the jitter.
fn unit_backoff(failures: u32) -> Duration {
    backoff_delay(failures, 1.0)
}

impl RtuUnit {
    pub(super) fn new(
        device: Arc<str>,
        bus: &str,
        unit: u8,
        timeout: Duration,
        turnaround: Duration,
        jobs: mpsc::Sender<Job>,
        bus_open: Arc<AtomicBool>,
    ) -> Self {
        RtuUnit {
            device,
            address: format!("{bus} unit {unit}"),
            unit,
            timeout,
            turnaround,
            jobs,
            bus_open,
            failures: 0,
            retry_at: None,
            backoff: unit_backoff,
        }
    }

    /// The device's name.
    pub fn device(&self) -> &Arc<str> {
        &self.device
    }

    /// Time left before the unit is asked again; `None` when a read would go to the bus.
    pub fn backoff_delay(&self) -> Option<Duration> {
        let now = Instant::now();
        self.retry_at.filter(|at| *at > now).map(|at| at - now)
    }

    async fn request(&mut self, area: Area, start: u16, count: u16) -> Outcome {
        let (reply, answer) = oneshot::channel();
        let frame = ReadFrame { unit: self.unit, area, start, count };
        let job = Job {
            device: self.device.clone(),
            frame,
            timeout: self.timeout,
            turnaround: self.turnaround,
            reply,
        };
        if self.jobs.send(job).await.is_err() {
            return Outcome::Lost(io::Error::new(io::ErrorKind::NotConnected, "bus task stopped"));
        }
        answer.await.unwrap_or_else(|_| {
            Outcome::Lost(io::Error::new(io::ErrorKind::NotConnected, "bus task stopped"))
        })
    }

    /// The unit answered: its backoff is over.
    fn answered(&mut self) {
        if self.failures > 0 {
            info!(device = %self.device, address = %self.address,
                "device {}: answering again after {} unanswered request(s)", self.device,
                self.failures);
        }
        self.failures = 0;
        self.retry_at = None;
    }

    /// The unit let a request go unanswered: thin its polls.
    fn unanswered(&mut self, reason: &str) {
        self.failures = self.failures.saturating_add(1);
        let delay = (self.backoff)(self.failures);
        self.retry_at = Some(Instant::now() + delay);
        let delay = humantime::format_duration(Duration::from_millis(delay.as_millis() as u64));
        if self.failures == 1 {
            warn!(device = %self.device, address = %self.address, %delay,
                "device {}: {reason}; asking it again only after {delay} so it cannot hold \
                 up the bus", self.device);
        } else {
            debug!(device = %self.device, address = %self.address, %delay,
                failures = self.failures, "device {}: {reason}; backing off", self.device);
        }
    }
}

impl ModbusLink for RtuUnit {
    async fn read(
        &mut self,
        area: Area,
        start: u16,
        count: u16,
    ) -> Result<RawRead, TransportError> {
        let device = self.device.clone();
        let address = self.address.clone();
        if let Err(detail) = check_request(area, start, count) {
            return Err(TransportError::InvalidRequest { device, address, detail });
        }
        if let Some(retry_in) = self.backoff_delay() {
            return Err(TransportError::Backoff { device, address, retry_in });
        }
        match self.request(area, start, count).await {
            Outcome::Data(read) => {
                self.answered();
                Ok(read)
            }
            Outcome::Exception(code) => {
                self.answered();
                Err(TransportError::Exception { device, address, code })
            }
            Outcome::NoAnswer => {
                self.unanswered("no answer");
                Err(TransportError::Timeout { device, address, timeout: self.timeout })
            }
            Outcome::Corrupt(error) => {
                if let FrameError::Truncated { .. } = error {
                    self.unanswered(&error.to_string());
                } else if !matches!(error, FrameError::LineBusy { .. }) {
                    self.answered();
                }
                let f = ReadFrame { unit: self.unit, area, start, count };
                let detail = format!(
                    "{} read of {count} at {start} (function {:02}): {error}",
                    area.as_str(),
                    f.function_code()
                );
                Err(TransportError::Malformed { device, address, detail })
            }
            Outcome::OpenFailed(source) => Err(TransportError::Connect { device, address, source }),
            Outcome::PortDown { retry_in } => {
                Err(TransportError::Backoff { device, address, retry_in })
            }
            Outcome::Lost(source) => Err(TransportError::Io { device, address, source }),
        }
    }

    fn is_connected(&self) -> bool {
        self.bus_open.load(Ordering::Relaxed) && self.failures == 0
    }

    /// Device Identification is not asked over RTU: many serial meters do not implement FC 43,
    /// and each silent ask would cost the whole bus a timeout.
    fn identity(&self) -> Option<&DeviceIdentity> {
        None
    }

    fn address(&self) -> &str {
        &self.address
    }
}
