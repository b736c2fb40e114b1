//! The simulator as Modbus RTU units on one serial line: tokio-modbus's RTU server on a
//! serial port (in tests, one end of a pseudo-terminal pair), answering each request from the
//! [`RegisterImage`] of the unit it names. A unit id with no image stays silent, as a meter
//! that is switched off does; the server answers nothing to it, not even an exception.
//!
//! Read-only like the TCP simulator: writes answer exception 01 and are counted, and dropping
//! a simulator that received one fails the test (see [`super::writes`]).

use std::collections::BTreeMap;
use std::future::{ready, Ready};
use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_modbus::prelude::{Response, SlaveRequest};
use tokio_modbus::server::Service;
use tokio_modbus::ExceptionCode;
use tokio_serial::SerialPortBuilderExt;

use super::image::RegisterImage;
use super::server::{lock, LoggedRequest, Shared};
use super::writes::WriteTripwire;

/// Routes each request to its unit's image.
#[derive(Debug, Clone)]
struct UnitsService {
    units: Arc<BTreeMap<u8, Arc<Shared>>>,
}

impl Service for UnitsService {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Option<Response>, ExceptionCode>>;

    fn call(&self, request: Self::Request) -> Self::Future {
        match self.units.get(&request.slave) {
            Some(unit) => ready(unit.answer(&request.request)),
            None => ready(Ok(None)),
        }
    }
}

/// Simulated RTU units serving on one serial port until [`SimRtuServer::stop`] or drop.
#[derive(Debug)]
pub struct SimRtuServer {
    port: String,
    units: Arc<BTreeMap<u8, Arc<Shared>>>,
    writes: Arc<WriteTripwire>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimRtuServer {
    /// Opens the serial port `port` at `baud` (8N1) and serves `units`, each a unit id and
    /// its image. The images stay shared: change one under its lock and the next request sees
    /// the change.
    pub fn start(
        port: &str,
        baud: u32,
        units: Vec<(u8, Arc<Mutex<RegisterImage>>)>,
    ) -> io::Result<SimRtuServer> {
        let serial = tokio_serial::new(port, baud).open_native_async().map_err(io::Error::from)?;
        let writes = Arc::new(WriteTripwire::default());
        let units: Arc<BTreeMap<u8, Arc<Shared>>> = Arc::new(
            units
                .into_iter()
                .map(|(id, image)| (id, Arc::new(Shared::new(image, writes.clone()))))
                .collect(),
        );
        let service = UnitsService { units: units.clone() };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let name = port.to_owned();
        let task = tokio::spawn(async move {
            let server = tokio_modbus::server::rtu::Server::new(serial);
            let stopped = async move {
                // A dropped sender (handle dropped) stops the server too.
                let _ = stop_rx.await;
            };
            match server.serve_until(service, stopped).await {
                Ok(_) => tracing::debug!(port = %name, "RTU simulator stopped"),
                // The RTU server gives up on a request it cannot decode; in a test that is a
                // failure the test will see as silence.
                Err(err) => tracing::warn!(port = %name, "RTU simulator stopped: {err}"),
            }
        });
        tracing::debug!(port, "RTU simulator serving");
        Ok(SimRtuServer {
            port: port.to_owned(),
            units,
            writes,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }

    /// The serial port served.
    pub fn port(&self) -> &str {
        &self.port
    }

    /// Data reads (FC 01/02/03/04) received by `unit`; 0 for a unit not served.
    pub fn request_count(&self, unit: u8) -> u64 {
        self.units.get(&unit).map_or(0, |u| u.reads.load(Ordering::Relaxed))
    }

    /// Write requests received (and refused), all units.
    pub fn write_count(&self) -> u64 {
        self.writes.seen()
    }

    /// Writes are sent on purpose: refused and counted, but dropping does not fail (see
    /// [`super::writes`]).
    pub fn expect_writes(&self) {
        self.writes.expect_writes();
    }

    /// Every request `unit` received, oldest first, as (function code, start, count).
    pub fn request_log(&self, unit: u8) -> Vec<LoggedRequest> {
        self.units.get(&unit).map_or_else(Vec::new, |u| lock(&u.log).iter().copied().collect())
    }

    /// The image `unit` serves.
    pub fn image(&self, unit: u8) -> Option<&Arc<Mutex<RegisterImage>>> {
        self.units.get(&unit).map(|u| &u.image)
    }

    /// Stops serving and closes the port.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            if let Err(err) = task.await {
                tracing::warn!(port = %self.port, "RTU simulator task failed: {err}");
            }
        }
    }
}

impl Drop for SimRtuServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.writes.check_on_drop(&format!("Modbus RTU {}", self.port));
    }
}
