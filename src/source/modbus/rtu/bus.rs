//! The bus task: the only owner of one serial port (or one RTU-over-TCP connection), doing
//! the reads that the units on the bus ask for, one at a time.
//!
//! Rules:
//! - **One frame on the line at a time.** RS-485 is half-duplex and RTU has no transaction
//!   ids; a second request before the answer to the first would garble both. Jobs arrive on
//!   one channel and are done in order.
//! - **Fair by construction.** Each unit has at most one job queued (its reader awaits each
//!   read), so first-come order is round-robin across units: a unit with many reads per cycle
//!   interleaves with the others instead of holding the bus for its whole cycle.
//! - **Silence before every request**: at least 3.5 characters since the last byte seen on
//!   the line (Modbus over Serial Line §2.5.1.1), or the unit's `turnaround` if longer.
//!   Whatever arrives meanwhile — a late answer to a timed-out request, bytes after a frame,
//!   noise — is read, counted and discarded. That wait is also how the bus resynchronises
//!   after a bad frame: the tail of the bad frame drains, the line falls quiet, the next
//!   frame starts clean. A line that never falls quiet within the request's timeout fails
//!   the request without sending it.
//! - **A bad answer is counted and retried** ([`CORRUPT_RETRIES`]): a CRC mismatch, a frame
//!   from the wrong unit or with the wrong function or byte count, or a frame cut short. A
//!   read is idempotent, so resending is safe. None of these ever ends the task.
//! - **No answer is not the bus's problem.** The job comes back as
//!   `Outcome::NoAnswer` and the unit's handle backs that unit off (see [`super::unit`]);
//!   the bus goes on serving the others at once.
//! - **A failing port is closed and reopened with backoff** (full jitter, like the TCP
//!   transport). Meanwhile jobs fail at once with `Outcome::PortDown`, so units do not
//!   queue behind a dead port.
//! - The task ends when the last unit handle is dropped.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::frame::{FrameError, FrameErrorKind, Parsed, ReadFrame, MAX_FRAME, REQUEST_LEN};
use super::port::{Opener, Port};
use super::timing::LineTiming;
use crate::source::modbus::transport::RawRead;
use crate::source::PollObserver;

/// Resends of one request after a bad answer. One rides out a burst of noise; more would let
/// a unit that always answers garbage hold the bus.
pub const CORRUPT_RETRIES: u32 = 1;

/// What a bus reports to the [`PollObserver`] (metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusEvent<'a> {
    /// A request to the unit of `device` was written to the line (retries included).
    Request {
        /// The device the request was for.
        device: &'a str,
    },
    /// An unusable frame: from the unit of `device` when it was the answer to that unit's
    /// request, `None` when nobody was asked (a line that never fell quiet).
    FrameError {
        /// The device whose answer was bad.
        device: Option<&'a str>,
        /// How it is counted.
        kind: FrameErrorKind,
    },
    /// Bytes that belonged to no answer were read and discarded.
    Discarded {
        /// How many.
        bytes: u64,
    },
}

/// One read for the bus to do.
pub(super) struct Job {
    /// Who asks (for logs and per-unit counts).
    pub(super) device: Arc<str>,
    /// What to send.
    pub(super) frame: ReadFrame,
    /// How long to wait for the answer once the request is on the line.
    pub(super) timeout: Duration,
    /// Silence to keep before the request, if longer than the line's 3.5 characters.
    pub(super) turnaround: Duration,
    /// Where the outcome goes.
    pub(super) reply: oneshot::Sender<Outcome>,
}

/// How a job ended.
#[derive(Debug)]
pub(super) enum Outcome {
    /// The unit answered with the data.
    Data(RawRead),
    /// The unit answered with a Modbus exception.
    Exception(u8),
    /// Not one byte came back within the timeout.
    NoAnswer,
    /// The answer was unusable, also after the retries.
    Corrupt(FrameError),
    /// The port could not be opened.
    OpenFailed(io::Error),
    /// The port is down; the next attempt to open it is this far off. Nothing was sent.
    PortDown {
        /// Time left until the next open attempt.
        retry_in: Duration,
    },
    /// The port failed during the job and was closed.
    Lost(io::Error),
}

/// What one request/answer exchange on the line came to.
enum Exchange {
    Answer(Outcome),
    Silent,
    Bad(FrameError),
    Lost(io::Error),
}

/// A bus's state; [`Bus::run`] is its task.
pub(super) struct Bus {
    name: Arc<str>,
    timing: LineTiming,
    opener: Opener,
    port: Option<Box<dyn Port>>,
    /// Shared with the unit handles, for their `is_connected`.
    open: Arc<AtomicBool>,
    /// Consecutive port failures since the last answer.
    failures: u32,
    /// No open attempt before this instant.
    retry_at: Option<Instant>,
    /// When the last byte was seen on (or put on) the line.
    last_activity: Instant,
    observer: Arc<dyn PollObserver>,
    buf: Vec<u8>,
    /// Delay before reopening after `n` consecutive failures (replaced in tests).
    backoff: fn(u32) -> Duration,
}

impl Bus {
    /// A bus named `name` (port path or `host:port`), not opened until the first job.
    pub(super) fn new(
        name: Arc<str>,
        opener: Opener,
        timing: LineTiming,
        open: Arc<AtomicBool>,
        observer: Arc<dyn PollObserver>,
    ) -> Self {
        Bus {
            name,
            timing,
            opener,
            port: None,
            open,
            failures: 0,
            retry_at: None,
            last_activity: Instant::now(),
            observer,
            buf: Vec::with_capacity(MAX_FRAME),
            backoff: crate::source::modbus::transport::jittered_backoff,
        }
    }

    /// Does jobs until every sender is gone.
    pub(super) async fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        info!(bus = %self.name, silence = ?self.timing.silence(), "RTU bus {}: started", self.name);
        while let Some(job) = jobs.recv().await {
            let outcome = self.serve(&job).await;
            // The unit's reader may be gone (shutdown); its answer is not needed then.
            let _ = job.reply.send(outcome);
        }
        if let Some(mut port) = self.port.take() {
            let _ = port.shutdown().await;
        }
        self.open.store(false, Ordering::Relaxed);
        info!(bus = %self.name, "RTU bus {}: stopped, no device uses it any more", self.name);
    }

    async fn serve(&mut self, job: &Job) -> Outcome {
        if self.port.is_none() {
            if let Err(outcome) = self.open_port(job.timeout).await {
                return outcome;
            }
        }
        let silence = self.timing.silence().max(job.turnaround);
        let mut retries = 0;
        loop {
            if let Err(outcome) = self.quiet(silence, job.timeout).await {
                return outcome;
            }
            self.observer.bus(&self.name, &BusEvent::Request { device: &job.device });
            match self.exchange(job).await {
                Exchange::Answer(outcome) => {
                    self.failures = 0;
                    return outcome;
                }
                Exchange::Silent => return Outcome::NoAnswer,
                Exchange::Bad(error) => {
                    self.failures = 0;
                    // The bad frame's bytes are dropped with the buffer.
                    if !self.buf.is_empty() {
                        let bytes = self.buf.len() as u64;
                        self.observer.bus(&self.name, &BusEvent::Discarded { bytes });
                    }
                    let kind = error.kind();
                    self.observer
                        .bus(&self.name, &BusEvent::FrameError { device: Some(&job.device), kind });
                    let f = &job.frame;
                    if retries < CORRUPT_RETRIES {
                        retries += 1;
                        debug!(bus = %self.name, device = %job.device, unit = f.unit,
                            area = %f.area, start = f.start, count = f.count, kind = kind.as_str(),
                            "RTU bus {}: bad answer from unit {} ({error}); resynchronising and \
                             sending again", self.name, f.unit);
                        continue;
                    }
                    warn!(bus = %self.name, device = %job.device, unit = f.unit, area = %f.area,
                        start = f.start, count = f.count, kind = kind.as_str(),
                        "RTU bus {}: bad answer from unit {} ({error}), also after {retries} \
                         resend(s)", self.name, f.unit);
                    return Outcome::Corrupt(error);
                }
                Exchange::Lost(e) => return self.lose(e),
            }
        }
    }

    /// Opens the port unless the backoff after the last failure is still running.
    async fn open_port(&mut self, timeout: Duration) -> Result<(), Outcome> {
        let now = Instant::now();
        if let Some(at) = self.retry_at.filter(|at| *at > now) {
            return Err(Outcome::PortDown { retry_in: at - now });
        }
        match (self.opener)(timeout).await {
            Ok(port) => {
                self.port = Some(port);
                self.retry_at = None;
                self.open.store(true, Ordering::Relaxed);
                self.last_activity = Instant::now();
                info!(bus = %self.name, "RTU bus {}: opened", self.name);
                Ok(())
            }
            Err(e) => {
                self.fail(&format!("cannot open: {e}"));
                Err(Outcome::OpenFailed(e))
            }
        }
    }

    /// Closes the port after an I/O failure.
    fn lose(&mut self, e: io::Error) -> Outcome {
        self.port = None;
        self.open.store(false, Ordering::Relaxed);
        self.fail(&format!("port failed: {e}"));
        Outcome::Lost(e)
    }

    fn fail(&mut self, reason: &str) {
        self.failures = self.failures.saturating_add(1);
        let delay = (self.backoff)(self.failures);
        self.retry_at = Some(Instant::now() + delay);
        let delay = humantime::format_duration(Duration::from_millis(delay.as_millis() as u64));
        if self.failures == 1 {
            warn!(bus = %self.name, %delay, "RTU bus {}: {reason}; retrying after backoff",
                self.name);
        } else {
            debug!(bus = %self.name, %delay, failures = self.failures,
                "RTU bus {}: {reason}; retrying after backoff", self.name);
        }
    }

    /// Waits until nothing has arrived for `silence` since the last byte on the line, reading
    /// and discarding whatever comes meanwhile. Gives up (the line is busy) once `limit` has
    /// passed without a gap.
    async fn quiet(&mut self, silence: Duration, limit: Duration) -> Result<(), Outcome> {
        let give_up = Instant::now() + limit.max(silence * 2);
        let mut discarded = 0usize;
        let mut scratch = [0u8; MAX_FRAME];
        let result = loop {
            let Some(port) = self.port.as_mut() else {
                break Err(io::Error::new(io::ErrorKind::NotConnected, "port closed"));
            };
            // `read` is cancel-safe: when the silence is reached first, nothing is lost.
            match tokio::time::timeout_at(self.last_activity + silence, port.read(&mut scratch))
                .await
            {
                Err(_) => break Ok(true),
                Ok(Ok(0)) => break Err(closed()),
                Ok(Ok(n)) => {
                    discarded += n;
                    self.last_activity = Instant::now();
                    if self.last_activity >= give_up {
                        break Ok(false);
                    }
                }
                Ok(Err(e)) => break Err(e),
            }
        };
        if discarded > 0 {
            debug!(bus = %self.name, bytes = discarded,
                "RTU bus {}: discarded {discarded} byte(s) that belonged to no answer", self.name);
            self.observer.bus(&self.name, &BusEvent::Discarded { bytes: discarded as u64 });
        }
        match result {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.observer.bus(
                    &self.name,
                    &BusEvent::FrameError { device: None, kind: FrameErrorKind::Garbage },
                );
                warn!(bus = %self.name, bytes = discarded,
                    "RTU bus {}: the line never fell silent; request not sent", self.name);
                Err(Outcome::Corrupt(FrameError::LineBusy { discarded }))
            }
            Err(e) => Err(self.lose(e)),
        }
    }

    /// Sends the job's request and reads until the answer is complete, unusable, or late.
    async fn exchange(&mut self, job: &Job) -> Exchange {
        let request = job.frame.encode();
        let Some(port) = self.port.as_mut() else { return Exchange::Lost(closed()) };
        if let Err(e) = port.write_all(&request).await {
            return Exchange::Lost(e);
        }
        if let Err(e) = port.flush().await {
            return Exchange::Lost(e);
        }
        // The request is still leaving the UART; the timeout starts when it is on the wire,
        // and the answer takes its own time on the wire too.
        let sent = Instant::now() + self.timing.transmit(REQUEST_LEN);
        self.last_activity = sent;
        let deadline = sent + job.timeout + self.timing.transmit(job.frame.response_len());
        self.buf.clear();
        let mut chunk = [0u8; MAX_FRAME];
        loop {
            match job.frame.parse(&self.buf) {
                Parsed::Incomplete { need } => {
                    match tokio::time::timeout_at(deadline, port.read(&mut chunk)).await {
                        Err(_) if self.buf.is_empty() => return Exchange::Silent,
                        Err(_) => {
                            return Exchange::Bad(FrameError::Truncated {
                                got: self.buf.len(),
                                expected: need,
                            })
                        }
                        Ok(Ok(0)) => return Exchange::Lost(closed()),
                        Ok(Ok(n)) => {
                            self.buf.extend_from_slice(&chunk[..n]);
                            self.last_activity = Instant::now();
                        }
                        Ok(Err(e)) => return Exchange::Lost(e),
                    }
                }
                Parsed::Data { read, len } => {
                    self.excess(len);
                    return Exchange::Answer(Outcome::Data(read));
                }
                Parsed::Exception { code } => {
                    self.excess(5);
                    return Exchange::Answer(Outcome::Exception(code));
                }
                Parsed::Bad(error) => return Exchange::Bad(error),
            }
        }
    }

    /// Counts bytes read past the end of a good frame (they are dropped with the buffer).
    fn excess(&self, frame_len: usize) {
        let extra = self.buf.len().saturating_sub(frame_len);
        if extra > 0 {
            debug!(bus = %self.name, bytes = extra,
                "RTU bus {}: discarded {extra} byte(s) after an answer", self.name);
            self.observer.bus(&self.name, &BusEvent::Discarded { bytes: extra as u64 });
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the port was closed at the other end")
}
