//! Modbus RTU: units on RS-485 serial buses, and RTU frames tunnelled through TCP by
//! serial-to-Ethernet converters. Same planning, decoding, qualities and metrics as Modbus
//! TCP; only the wire differs.
//!
//! ## Shape
//!
//! ```text
//!  device task (run_device + DeviceReader<RtuUnit>) ─┐  one job at a time per unit
//!  device task ──────────────────────────────────────┼─► bus task ─► serial port / TCP
//!  device task ──────────────────────────────────────┘   (one per port or address)
//! ```
//!
//! - Each device keeps its own fixed-rate scheduler ([`crate::source::run_device`]) and its
//!   own [`DeviceReader`](super::DeviceReader); the reader talks to an [`RtuUnit`], a
//!   [`ModbusLink`](super::ModbusLink) that hands each read to the bus task and waits for the
//!   outcome. So split-on-exception, decoding and `CycleStats` are the TCP path's, not a copy.
//! - One bus task per port (or per RTU-over-TCP address) owns the line: one frame at a time,
//!   first come first served — round-robin across units, as each unit has at most one read
//!   queued — with the inter-frame silence and turnaround kept, bad frames counted, retried
//!   and drained ([`bus`]).
//! - A unit that does not answer is backed off in its own handle ([`mod@unit`]), so it costs
//!   the bus one timeout per backoff step instead of one per read. A neighbour's read waits
//!   at most one such timeout; keep `timeout` below the neighbours' poll intervals and their
//!   intervals stay within twice their period.
//!
//! Why per-device schedulers rather than one scheduler per bus: the bus is the only shared
//! resource, and the queue in front of it already orders the units fairly. Per-device tasks
//! keep one scheduler for every protocol (overruns, batches and metrics per device are the
//! same code) and a slow bus shows up as ordinary overruns of the devices on it.
//!
//! ## Files
//!
//! - [`frame`]: RTU frames without I/O — CRC-16, the request, judging an answer by length;
//! - [`timing`]: character time and the 3.5-character silence from baud rate and format;
//! - [`port`]: opening a serial port or a TCP connection;
//! - [`bus`]: the bus task;
//! - [`mod@unit`]: the per-device handle and its backoff.

pub mod bus;
pub use edgeproof_modbus::rtu_frame as frame;
pub mod port;
pub mod timing;
pub mod unit;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use bus::BusEvent;
pub use frame::{FrameError, FrameErrorKind};
pub use unit::RtuUnit;

use crate::config::ModbusRtuDevice;
use crate::source::PollObserver;
use bus::{Bus, Job};

/// The RTU buses of a config: one task per bus, started when its first unit is asked for.
pub struct RtuBuses {
    observer: Arc<dyn PollObserver>,
    buses: HashMap<String, (mpsc::Sender<Job>, Arc<AtomicBool>)>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RtuBuses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtuBuses").field("buses", &self.buses.keys()).finish_non_exhaustive()
    }
}

impl RtuBuses {
    /// No buses yet; bus events go to `observer`.
    pub fn new(observer: Arc<dyn PollObserver>) -> Self {
        RtuBuses { observer, buses: HashMap::new(), tasks: Vec::new() }
    }

    /// The handle for `device`'s unit. The first unit of a bus spawns the bus task (so this
    /// must run inside a tokio runtime); the port is opened at the first read. Devices are
    /// on the same bus when their [`crate::config::RtuBus::name`] is the same (config
    /// validation makes sure they then agree on the line settings).
    pub fn unit(&mut self, device: Arc<str>, cfg: &ModbusRtuDevice) -> RtuUnit {
        let name = cfg.bus.name();
        let (jobs, open) = match self.buses.get(name) {
            Some(bus) => bus.clone(),
            None => {
                let (opener, timing) = port::open_bus(&cfg.bus);
                let open = Arc::new(AtomicBool::new(false));
                // Each unit has at most one job queued; the bound only guards a bug.
                let (tx, rx) = mpsc::channel(256);
                let bus =
                    Bus::new(Arc::from(name), opener, timing, open.clone(), self.observer.clone());
                self.tasks.push(tokio::spawn(bus.run(rx)));
                self.buses.insert(name.to_owned(), (tx.clone(), open.clone()));
                (tx, open)
            }
        };
        RtuUnit::new(device, name, cfg.unit, cfg.timeout, cfg.turnaround, jobs, open)
    }

    /// The bus tasks. Each ends once every [`RtuUnit`] of its bus has been dropped.
    pub fn into_tasks(self) -> Vec<JoinHandle<()>> {
        self.tasks
    }
}
