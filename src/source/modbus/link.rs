//! The one thing a [`DeviceReader`](super::DeviceReader) needs from the wire: read a block of
//! one area of one device, and say whether the device is reachable.
//!
//! Why a trait and not an enum of transports: the reader's planning, split-on-exception,
//! decoding and [`CycleStats`](super::CycleStats) are the same whether the bytes travel in a
//! Modbus TCP connection of their own ([`Transport`]) or in RTU frames on a serial bus that
//! several devices share ([`RtuUnit`](super::rtu::RtuUnit), a handle to the bus task). The
//! reader is generic over the link, so each transport keeps its own state and rules (TCP
//! reconnects with backoff; an RTU unit backs off on its own while the bus stays up) and
//! neither needs to know the other exists. Both report failures as [`TransportError`], so
//! the mapping to [`crate::model::BadReason`] and to the metrics' error kinds is shared.
//!
//! The trait returns `impl Future + Send` rather than using `async fn`, so that a poll task
//! built on any link can be spawned on the multi-threaded runtime.

use std::future::Future;

use super::point::Area;
use super::transport::{DeviceIdentity, RawRead, Transport, TransportError};

/// A way to read one Modbus device. One request in flight at a time (`&mut self`).
pub trait ModbusLink: Send + 'static {
    /// Read `count` registers or bits of `area` from address `start`. Read function codes
    /// only (01/02/03/04); a link never writes.
    fn read(
        &mut self,
        area: Area,
        start: u16,
        count: u16,
    ) -> impl Future<Output = Result<RawRead, TransportError>> + Send;

    /// True while the device is reachable: the TCP connection is open, or the serial bus is
    /// open and the unit answered its last request.
    fn is_connected(&self) -> bool;

    /// What the device said about itself (FC 43/14), if it was asked and answered.
    fn identity(&self) -> Option<&DeviceIdentity>;

    /// Where the device is, for messages: `host:port`, or `/dev/ttyS1 unit 3`.
    fn address(&self) -> &str;
}

impl ModbusLink for Transport {
    fn read(
        &mut self,
        area: Area,
        start: u16,
        count: u16,
    ) -> impl Future<Output = Result<RawRead, TransportError>> + Send {
        Transport::read(self, area, start, count)
    }

    fn is_connected(&self) -> bool {
        Transport::is_connected(self)
    }

    fn identity(&self) -> Option<&DeviceIdentity> {
        Transport::identity(self)
    }

    fn address(&self) -> &str {
        Transport::address(self)
    }
}
