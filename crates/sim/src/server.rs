//! The simulator's Modbus TCP server: a tokio-modbus [`Service`] over a shared
//! [`RegisterImage`], plus start/stop and the counters tests assert on.
//!
//! Like the agent, the simulator is read-only: every write function code answers exception
//! 01 (IllegalFunction) and is counted, and dropping a simulator that received one fails the
//! test (see [`super::writes`]).

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_modbus::prelude::{
    ConformityLevel, DeviceIdObject, ReadCode, ReadDeviceIdentificationResponse, Request, Response,
};
use tokio_modbus::server::tcp::Server;
use tokio_modbus::server::Service;
use tokio_modbus::ExceptionCode;

use super::image::{RegisterImage, SimIdentity};
use super::writes::WriteTripwire;

/// Entries kept in the request log; older ones are forgotten so a long demo stays bounded.
pub const REQUEST_LOG_CAPACITY: usize = 10_000;

/// Largest Modbus PDU (Modbus Application Protocol §4.1).
const MAX_PDU: usize = 253;
/// FC 43/14 response header: function, MEI type, read code, conformity, more follows,
/// next object id, object count.
const DEVICE_ID_HEADER: usize = 7;

/// One request as the simulator saw it: (function code, start, count).
///
/// For FC 43 the pair is (object id, read code); for FC 05/06 the count is 1; for requests
/// without an address both are 0.
pub type LoggedRequest = (u8, u16, u16);

/// State shared by the server handle and every connection's service (and, per unit, by the
/// RTU server in [`super::rtu`]).
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) image: Arc<Mutex<RegisterImage>>,
    pub(super) reads: AtomicU64,
    /// Write requests received; shared by every unit of one RTU simulator.
    pub(super) writes: Arc<WriteTripwire>,
    identity_requests: AtomicU64,
    connections: AtomicU64,
    delay_nanos: AtomicU64,
    pub(super) log: Mutex<VecDeque<LoggedRequest>>,
}

/// A poisoned lock only means a test panicked while holding it; the data is still usable.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// Fresh counters over `image`; writes go to `writes`.
    pub(super) fn new(image: Arc<Mutex<RegisterImage>>, writes: Arc<WriteTripwire>) -> Self {
        Shared {
            image,
            reads: AtomicU64::new(0),
            writes,
            identity_requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            delay_nanos: AtomicU64::new(0),
            log: Mutex::new(VecDeque::new()),
        }
    }

    fn record(&self, entry: LoggedRequest) {
        let mut log = lock(&self.log);
        if log.len() == REQUEST_LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(entry);
    }

    /// The answer to one request; `Ok(None)` sends nothing.
    pub(super) fn answer(&self, request: &Request<'_>) -> Result<Option<Response>, ExceptionCode> {
        let fc = request.function_code().value();
        match *request {
            Request::ReadCoils(start, count) => {
                self.count_read(fc, start, count);
                lock(&self.image).coils.read(start, count).map(|b| Some(Response::ReadCoils(b)))
            }
            Request::ReadDiscreteInputs(start, count) => {
                self.count_read(fc, start, count);
                let image = lock(&self.image);
                image.discrete.read(start, count).map(|b| Some(Response::ReadDiscreteInputs(b)))
            }
            Request::ReadInputRegisters(start, count) => {
                self.count_read(fc, start, count);
                let image = lock(&self.image);
                image.input.read(start, count).map(|w| Some(Response::ReadInputRegisters(w)))
            }
            Request::ReadHoldingRegisters(start, count) => {
                self.count_read(fc, start, count);
                let image = lock(&self.image);
                image.holding.read(start, count).map(|w| Some(Response::ReadHoldingRegisters(w)))
            }
            Request::ReadDeviceIdentification(code, object_id) => {
                self.identity_requests.fetch_add(1, Ordering::Relaxed);
                self.record((fc, u16::from(object_id), u16::from(code.value())));
                let identity = lock(&self.image).identity.clone();
                answer_identity(&identity, code, object_id)
            }
            Request::WriteSingleCoil(addr, _) | Request::WriteSingleRegister(addr, _) => {
                self.refuse_write(fc, addr, 1)
            }
            Request::WriteMultipleCoils(addr, ref bits) => {
                self.refuse_write(fc, addr, clamp_u16(bits.len()))
            }
            Request::WriteMultipleRegisters(addr, ref words)
            | Request::ReadWriteMultipleRegisters(_, _, addr, ref words) => {
                self.refuse_write(fc, addr, clamp_u16(words.len()))
            }
            Request::MaskWriteRegister(addr, _, _) => self.refuse_write(fc, addr, 1),
            Request::ReportServerId | Request::Custom(..) => {
                self.record((fc, 0, 0));
                Err(ExceptionCode::IllegalFunction)
            }
        }
    }

    fn count_read(&self, fc: u8, start: u16, count: u16) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.record((fc, start, count));
    }

    fn refuse_write(
        &self,
        fc: u8,
        addr: u16,
        count: u16,
    ) -> Result<Option<Response>, ExceptionCode> {
        self.writes.record(format!("FC {fc:02} at {addr}, {count} item(s)"));
        self.record((fc, addr, count));
        tracing::warn!(fc, addr, count, "simulator refused a write request");
        Err(ExceptionCode::IllegalFunction)
    }
}

fn clamp_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// FC 43/14 (Modbus Application Protocol §6.21): stream access returns the objects of the
/// category from `object_id` on (from the first one if `object_id` is unknown), split with
/// "more follows" when they do not fit one PDU; individual access returns one object.
fn answer_identity(
    identity: &SimIdentity,
    code: ReadCode,
    object_id: u8,
) -> Result<Option<Response>, ExceptionCode> {
    let objects = match identity {
        SimIdentity::Objects(objects) => objects,
        SimIdentity::Unsupported => return Err(ExceptionCode::IllegalFunction),
        SimIdentity::Silent => return Ok(None),
    };
    let mut objects: Vec<&(u8, Vec<u8>)> = objects.iter().collect();
    objects.sort_by_key(|(id, _)| *id);
    let conformity = match objects.last().map(|(id, _)| *id) {
        Some(id) if id >= 0x80 => ConformityLevel::ExtendedIdentification,
        Some(id) if id >= 0x03 => ConformityLevel::RegularIdentification,
        _ => ConformityLevel::BasicIdentification,
    };
    let category = match code {
        ReadCode::Basic => 0x00..=0x02,
        ReadCode::Regular => 0x00..=0x7F,
        ReadCode::Extended => 0x00..=0xFF,
        ReadCode::Specific => object_id..=object_id,
    };
    let in_category: Vec<_> = objects.into_iter().filter(|(id, _)| category.contains(id)).collect();
    if code == ReadCode::Specific && in_category.is_empty() {
        return Err(ExceptionCode::IllegalDataAddress);
    }
    let from = if in_category.iter().any(|(id, _)| *id == object_id) { object_id } else { 0 };
    let mut size = DEVICE_ID_HEADER;
    let mut chosen = Vec::new();
    let mut next_object_id = 0;
    for (id, value) in in_category.into_iter().filter(|(id, _)| *id >= from) {
        // An object longer than a PDU can hold is cut, as it could never be sent whole.
        let value = &value[..value.len().min(MAX_PDU - DEVICE_ID_HEADER - 2)];
        if size + 2 + value.len() > MAX_PDU {
            next_object_id = *id;
            break;
        }
        size += 2 + value.len();
        chosen.push(DeviceIdObject { id: *id, value: value.to_vec().into() });
    }
    Ok(Some(Response::ReadDeviceIdentification(ReadDeviceIdentificationResponse {
        read_code: code,
        conformity_level: conformity,
        more_follows: next_object_id != 0,
        next_object_id,
        device_id_objects: chosen,
    })))
}

/// One connection's view of the simulator.
#[derive(Debug, Clone)]
struct SimService {
    shared: Arc<Shared>,
}

impl Service for SimService {
    type Request = Request<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Result<Option<Response>, ExceptionCode>> + Send>>;

    fn call(&self, request: Self::Request) -> Self::Future {
        let answer = self.shared.answer(&request);
        let delay = Duration::from_nanos(self.shared.delay_nanos.load(Ordering::Relaxed));
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            answer
        })
    }
}

/// A running simulated Modbus TCP device. Stops when [`SimServer::stop`] is called or when
/// dropped; open connections are closed either way.
#[derive(Debug)]
pub struct SimServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimServer {
    /// Listen on `addr` (`127.0.0.1:0` picks a free port) and serve `image`. The image stays
    /// shared: change it under the lock and the next request sees the change.
    pub async fn start(
        addr: SocketAddr,
        image: Arc<Mutex<RegisterImage>>,
    ) -> io::Result<SimServer> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(image, Arc::default()));
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let service_shared = shared.clone();
        let task = tokio::spawn(async move {
            let on_connected = move |stream: TcpStream, peer: SocketAddr| {
                let shared = service_shared.clone();
                async move {
                    shared.connections.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%local_addr, %peer, "simulator accepted a connection");
                    // Answers are small and awaited by the client: send them at once.
                    stream.set_nodelay(true)?;
                    Ok(Some((SimService { shared }, stream)))
                }
            };
            let on_process_error = move |err: io::Error| {
                tracing::debug!(%local_addr, "simulator connection ended: {err}");
            };
            let stopped = async move {
                // A dropped sender (handle dropped) stops the server too.
                let _ = stop_rx.await;
            };
            let server = Server::new(listener);
            if let Err(err) = server.serve_until(&on_connected, on_process_error, stopped).await {
                tracing::warn!(%local_addr, "simulator stopped accepting connections: {err}");
            }
        });
        tracing::debug!(%local_addr, "simulator listening");
        Ok(SimServer { local_addr, shared, stop: Some(stop_tx), task: Some(task) })
    }

    /// Where the simulator listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Data reads received (FC 01/02/03/04), answered or excepted. Device Identification
    /// and write requests are not counted here.
    pub fn request_count(&self) -> u64 {
        self.shared.reads.load(Ordering::Relaxed)
    }

    /// Write requests received (and refused).
    pub fn write_count(&self) -> u64 {
        self.shared.writes.seen()
    }

    /// This simulator is sent writes on purpose (a test of the detector; the demo, whose
    /// devices any local client may reach): they stay refused and counted, but dropping it
    /// does not fail (see [`super::writes`]).
    pub fn expect_writes(&self) {
        self.shared.writes.expect_writes();
    }

    /// What dropping this simulator would fail with, were its writes not expected: the
    /// writes it received, or those other simulators of the process received.
    pub fn write_violation(&self) -> Option<String> {
        self.shared.writes.violation(&self.local_addr.to_string())
    }

    /// Device Identification (FC 43/14) requests received.
    pub fn identity_request_count(&self) -> u64 {
        self.shared.identity_requests.load(Ordering::Relaxed)
    }

    /// TCP connections accepted.
    pub fn connection_count(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Every request received, oldest first (the last [`REQUEST_LOG_CAPACITY`]), as
    /// (function code, start, count); see [`LoggedRequest`].
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).iter().copied().collect()
    }

    /// Forget the request log (counters are kept).
    pub fn clear_request_log(&self) {
        lock(&self.shared.log).clear();
    }

    /// Wait this long before each answer, to simulate a slow device (zero: answer at once).
    pub fn set_delay(&self, delay: Duration) {
        let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        self.shared.delay_nanos.store(nanos, Ordering::Relaxed);
    }

    /// The image being served.
    pub fn image(&self) -> &Arc<Mutex<RegisterImage>> {
        &self.shared.image
    }

    /// Stop listening and close every open connection.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            if let Err(err) = task.await {
                tracing::warn!(local_addr = %self.local_addr, "simulator task failed: {err}");
            }
        }
        tracing::debug!(local_addr = %self.local_addr, "simulator stopped");
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.shared.writes.check_on_drop(&format!("Modbus TCP {}", self.local_addr));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::object;
    use edgeproof_modbus::Order;
    use tokio_modbus::client::{Client, Context, Reader, Writer};
    use tokio_modbus::prelude::Slave;

    async fn start(image: RegisterImage) -> (SimServer, Context) {
        let server = SimServer::start("127.0.0.1:0".parse().unwrap(), Arc::new(Mutex::new(image)))
            .await
            .unwrap();
        let ctx =
            tokio_modbus::client::tcp::connect_slave(server.local_addr(), Slave(1)).await.unwrap();
        (server, ctx)
    }

    #[tokio::test]
    async fn serves_every_area_and_logs_requests() {
        let mut image = RegisterImage::new();
        image.coils.set_bits(0, &[true, false, true]);
        image.discrete.set(1, true);
        image.input.set_u16(0, 7).set_i16(1, -7);
        image.holding.set_u32(10, 0xDEAD_BEEF, Order::Cdab);
        let (server, mut ctx) = start(image).await;

        assert_eq!(ctx.read_coils(0, 3).await.unwrap().unwrap(), vec![true, false, true]);
        assert_eq!(ctx.read_discrete_inputs(0, 2).await.unwrap().unwrap(), vec![false, true]);
        assert_eq!(ctx.read_input_registers(0, 2).await.unwrap().unwrap(), vec![7, 0xFFF9]);
        assert_eq!(ctx.read_holding_registers(10, 2).await.unwrap().unwrap(), vec![0xBEEF, 0xDEAD]);
        assert_eq!(server.request_count(), 4);
        assert_eq!(server.request_log(), vec![(1, 0, 3), (2, 0, 2), (4, 0, 2), (3, 10, 2)]);
        server.stop().await;
    }

    #[tokio::test]
    async fn holes_and_the_end_answer_illegal_data_address() {
        let mut image = RegisterImage::new();
        image.holding.resize(20).add_hole(5, 1);
        let (server, mut ctx) = start(image).await;

        let cases = [("touches hole", 4, 2), ("past end", 19, 2), ("far outside", 1000, 1)];
        for (name, start, count) in cases {
            let got = ctx.read_holding_registers(start, count).await.unwrap();
            assert_eq!(got, Err(ExceptionCode::IllegalDataAddress), "{name}");
        }
        assert_eq!(ctx.read_holding_registers(6, 14).await.unwrap().unwrap().len(), 14);
        assert_eq!(server.request_count(), 4);
        server.stop().await;
    }

    #[tokio::test]
    async fn writes_are_refused_and_counted() {
        let mut image = RegisterImage::new();
        image.holding.set_u16(0, 1);
        image.coils.set(0, false);
        let (server, mut ctx) = start(image).await;
        server.expect_writes();

        let refused = Err(ExceptionCode::IllegalFunction);
        assert_eq!(ctx.write_single_register(0, 5).await.unwrap(), refused);
        assert_eq!(ctx.write_multiple_registers(0, &[1, 2]).await.unwrap(), refused);
        assert_eq!(ctx.write_single_coil(0, true).await.unwrap(), refused);
        assert_eq!(ctx.write_multiple_coils(0, &[true]).await.unwrap(), refused);
        assert_eq!(ctx.masked_write_register(0, 0, 1).await.unwrap(), refused);

        let read_write = ctx.read_write_multiple_registers(0, 1, 0, &[9]).await.unwrap();
        assert_eq!(read_write, Err(ExceptionCode::IllegalFunction));

        assert_eq!(server.write_count(), 6);
        assert_eq!(server.request_count(), 0);
        let fcs: Vec<u8> = server.request_log().iter().map(|r| r.0).collect();
        assert_eq!(fcs, [6, 16, 5, 15, 22, 23], "every write function code of Modbus");
        let detected = server.write_violation().expect("the tripwire saw the writes");
        assert!(detected.contains("received 6 write request(s) (last: FC 23 at 0"), "{detected}");
        let image = server.image().lock().unwrap().clone();
        assert_eq!(image.holding.get(0), Some(1));
        assert_eq!(image.coils.get(0), Some(false));
        server.stop().await;
    }

    #[tokio::test]
    async fn device_identification_modes() {
        let mut image = RegisterImage::new();
        image.identity = SimIdentity::basic("edgeproof simulator", "SIM-1", "1.0");
        let (server, mut ctx) = start(image).await;
        let got = ctx.read_device_identification(ReadCode::Basic, 0).await.unwrap().unwrap();
        let ids: Vec<_> = got.device_id_objects.iter().map(|o| o.id).collect();
        assert_eq!(ids, vec![object::VENDOR_NAME, object::PRODUCT_CODE, object::REVISION]);
        assert_eq!(got.device_id_objects[1].value_as_str(), Some("SIM-1"));
        assert!(!got.more_follows);

        let one = ctx.read_device_identification(ReadCode::Specific, 2).await.unwrap().unwrap();
        assert_eq!(one.device_id_objects.len(), 1);
        assert_eq!(one.device_id_objects[0].value_as_str(), Some("1.0"));
        let missing = ctx.read_device_identification(ReadCode::Specific, 9).await.unwrap();
        assert_eq!(missing, Err(ExceptionCode::IllegalDataAddress));

        server.image().lock().unwrap().identity = SimIdentity::Unsupported;
        let unsupported = ctx.read_device_identification(ReadCode::Basic, 0).await.unwrap();
        assert_eq!(unsupported, Err(ExceptionCode::IllegalFunction));
        assert_eq!(server.identity_request_count(), 4);
        server.stop().await;
    }

    #[test]
    fn long_identity_is_split_with_more_follows() {
        let objects = (0u8..6).map(|id| (id, vec![b'x'; 100])).collect();
        let identity = SimIdentity::Objects(objects);
        let first = answer_identity(&identity, ReadCode::Regular, 0).unwrap().unwrap();
        let Response::ReadDeviceIdentification(first) = first else { panic!("{first:?}") };
        assert_eq!(first.device_id_objects.len(), 2);
        assert!(first.more_follows);
        assert_eq!(first.next_object_id, 2);
        let rest = answer_identity(&identity, ReadCode::Regular, 2).unwrap().unwrap();
        let Response::ReadDeviceIdentification(rest) = rest else { panic!("{rest:?}") };
        assert_eq!(rest.device_id_objects[0].id, 2);
    }

    #[tokio::test]
    async fn stop_closes_open_connections() {
        let (server, mut ctx) = start(RegisterImage::new()).await;
        server.stop().await;
        let result =
            tokio::time::timeout(Duration::from_secs(5), ctx.call(Request::ReadCoils(0, 1)))
                .await
                .expect("a stopped simulator must close the connection, not hang it");
        assert!(result.is_err(), "{result:?}");
    }
}
