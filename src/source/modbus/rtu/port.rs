//! Opening the byte stream under an RTU bus: a serial port with its line settings, or a TCP
//! connection to a serial-to-Ethernet converter. The bus sees both as a [`Port`]; tests hand
//! it an in-memory pipe.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_serial::SerialPortBuilderExt;

use super::timing::LineTiming;
use crate::config::{Parity, RtuBus, SerialLine};

/// A byte stream an RTU bus can run on.
pub trait Port: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Port for T {}

/// What [`Opener`] returns.
pub type Opening = Pin<Box<dyn Future<Output = io::Result<Box<dyn Port>>> + Send>>;

/// Opens the bus's stream; given the timeout of the request that needs it.
pub type Opener = Box<dyn FnMut(Duration) -> Opening + Send>;

/// The opener and the character timing of a configured bus.
pub fn open_bus(bus: &RtuBus) -> (Opener, LineTiming) {
    match bus {
        RtuBus::Serial(line) => {
            let timing = LineTiming::serial(
                line.baud,
                line.data_bits,
                line.parity != Parity::None,
                line.stop_bits,
            );
            let line = line.clone();
            let opener: Opener = Box::new(move |_| {
                let line = line.clone();
                Box::pin(async move { open_serial(&line) })
            });
            (opener, timing)
        }
        RtuBus::Tcp(address) => {
            let address = address.clone();
            let opener: Opener = Box::new(move |timeout| {
                let address = address.clone();
                Box::pin(async move { connect(address, timeout).await })
            });
            (opener, LineTiming::network())
        }
    }
}

/// Opens a serial port in raw mode, no flow control, exclusive (a second process opening the
/// same port would garble both).
fn open_serial(line: &SerialLine) -> io::Result<Box<dyn Port>> {
    let data_bits = match line.data_bits {
        7 => tokio_serial::DataBits::Seven,
        _ => tokio_serial::DataBits::Eight,
    };
    let parity = match line.parity {
        Parity::None => tokio_serial::Parity::None,
        Parity::Even => tokio_serial::Parity::Even,
        Parity::Odd => tokio_serial::Parity::Odd,
    };
    let stop_bits = match line.stop_bits {
        2 => tokio_serial::StopBits::Two,
        _ => tokio_serial::StopBits::One,
    };
    let stream = tokio_serial::new(line.port.as_str(), line.baud)
        .data_bits(data_bits)
        .parity(parity)
        .stop_bits(stop_bits)
        .flow_control(tokio_serial::FlowControl::None)
        .open_native_async()
        .map_err(io::Error::from)?;
    Ok(Box::new(stream))
}

/// Resolves `address` and connects to the first address that accepts, within `timeout`.
async fn connect(address: String, timeout: Duration) -> io::Result<Box<dyn Port>> {
    let attempt = async {
        let mut last = None;
        for addr in tokio::net::lookup_host(address.as_str()).await? {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    // Requests are single small writes; do not let Nagle hold one back.
                    stream.set_nodelay(true)?;
                    return Ok(stream);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "the host name resolved to no address")
        }))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(stream)) => Ok(Box::new(stream)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no connection within {}", humantime::format_duration(timeout)),
        )),
    }
}
