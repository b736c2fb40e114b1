//! A TCP fault proxy: put between the agent and a broker, or the agent and a device, it
//! forwards bytes as they are, or misbehaves the way real links do. The mode is switched at
//! run time from the test ([`FaultProxy::set_mode`]), open connections can be reset at once
//! ([`FaultProxy::cut`]), and [`FaultProxy::flap`] runs a schedule of modes.
//!
//! | mode | new connections | open connections |
//! |---|---|---|
//! | [`Mode::Pass`] | forwarded | forwarded |
//! | [`Mode::Down`] | accepted and reset (RST) at once: the far end is down | unchanged (use `cut`) |
//! | [`Mode::Blackhole`] | accepted, never answered, never closed | from the next byte on, swallowed both ways, forever |
//! | [`Mode::Delay`] | forwarded, each chunk held back | same |
//! | [`Mode::Throttle`] | forwarded at most N bytes/s each way | same |
//!
//! Blackhole is the half-open case: a connection that has seen it stays dead even after the
//! mode goes back to `Pass` (a real peer that vanished does not come back on the same TCP
//! connection); only its owner's keep-alive can notice. A cut sets `SO_LINGER` 0 before
//! closing, so the peer gets an RST, not a FIN.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the proxy treats traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward as is.
    Pass,
    /// The far end is down: new connections are reset at once.
    Down,
    /// Half-open: accept, never answer, never close.
    Blackhole,
    /// Hold each forwarded chunk back this long (latency; a chatty link also slows down).
    Delay(Duration),
    /// Forward at most this many bytes per second in each direction.
    Throttle(u64),
}

/// Largest chunk read at once.
const CHUNK: usize = 16 * 1024;

/// The proxy; stops (and drops its connections) when dropped.
pub struct FaultProxy {
    /// Where the agent connects.
    pub port: u16,
    mode: watch::Sender<Mode>,
    /// Bumped by [`FaultProxy::cut`]; every connection task watches it.
    cuts: watch::Sender<u64>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
    flap: Mutex<Option<JoinHandle<()>>>,
}

impl FaultProxy {
    /// Forwards 127.0.0.1:`port` (a free port) to 127.0.0.1:`target`, in [`Mode::Pass`].
    pub async fn start(target: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let (mode, mode_rx) = watch::channel(Mode::Pass);
        let (cuts, cuts_rx) = watch::channel(0u64);
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let list = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let _ = client.set_nodelay(true);
                let current = *mode_rx.borrow();
                let upstream = match current {
                    Mode::Down => {
                        reset(client);
                        continue;
                    }
                    Mode::Blackhole => None,
                    _ => match TcpStream::connect(("127.0.0.1", target)).await {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            Some(s)
                        }
                        Err(_) => {
                            reset(client); // far end down: so is the proxied connection
                            continue;
                        }
                    },
                };
                let task = tokio::spawn(serve(client, upstream, mode_rx.clone(), cuts_rx.clone()));
                let mut list = list.lock().unwrap();
                list.retain(|t| !t.is_finished());
                list.push(task);
            }
        });
        FaultProxy { port, mode, cuts, conns, accept, flap: Mutex::new(None) }
    }

    /// Switches the mode, for new and open connections (see the module docs).
    pub fn set_mode(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Resets (RST) every open connection, blackholed ones included.
    pub fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Connections currently open through the proxy.
    pub fn open_connections(&self) -> usize {
        self.conns.lock().unwrap().iter().filter(|t| !t.is_finished()).count()
    }

    /// Runs `schedule` in the background: each mode for its duration, in order, then
    /// [`Mode::Pass`]. Entering [`Mode::Down`] cuts the open connections first (the link
    /// dropped). Replaces a schedule still running. [`FaultProxy::flap_done`] tells when
    /// it is over.
    pub fn flap(&self, schedule: Vec<(Mode, Duration)>) {
        let mode = self.mode.clone();
        let cuts = self.cuts.clone();
        let task = tokio::spawn(async move {
            for (m, hold) in schedule {
                if m == Mode::Down {
                    cuts.send_modify(|n| *n += 1);
                }
                mode.send_replace(m);
                tokio::time::sleep(hold).await;
            }
            mode.send_replace(Mode::Pass);
        });
        if let Some(old) = self.flap.lock().unwrap().replace(task) {
            old.abort();
        }
    }

    /// Whether the last [`FaultProxy::flap`] schedule has run to its end.
    pub fn flap_done(&self) -> bool {
        self.flap.lock().unwrap().as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(f) = self.flap.lock().unwrap().take() {
            f.abort();
        }
        self.accept.abort();
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// Closes `s` with an RST: `SO_LINGER` 0, then close.
fn reset(s: TcpStream) {
    let _ = s.set_zero_linger();
    drop(s);
}

/// One proxied connection (`upstream` is `None` when it was accepted into a blackhole).
/// Ends when both directions have ended, or with an RST on both sides when cut.
async fn serve(
    mut client: TcpStream,
    mut upstream: Option<TcpStream>,
    mode: watch::Receiver<Mode>,
    mut cuts: watch::Receiver<u64>,
) {
    cuts.mark_unchanged();
    let dead = AtomicBool::new(upstream.is_none());
    let was_cut = {
        let (cr, cw) = client.split();
        let work = async {
            match upstream.as_mut() {
                None => swallow(cr).await,
                Some(up) => {
                    let (ur, uw) = up.split();
                    tokio::join!(
                        pump(cr, uw, mode.clone(), &dead),
                        pump(ur, cw, mode.clone(), &dead)
                    );
                }
            }
        };
        tokio::select! {
            _ = cuts.changed() => true,
            _ = work => false,
        }
    };
    if was_cut {
        reset(client);
        if let Some(up) = upstream {
            reset(up);
        }
    }
}

/// Reads and discards forever; never closes (a blackhole).
async fn swallow(mut from: tokio::net::tcp::ReadHalf<'_>) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match from.read(&mut buf).await {
            Ok(n) if n > 0 => {}
            _ => std::future::pending::<()>().await,
        }
    }
}

/// Forwards one direction under the current mode. Once the connection is `dead`
/// (blackholed), everything is swallowed and EOF is not passed on.
async fn pump(
    mut from: tokio::net::tcp::ReadHalf<'_>,
    mut to: tokio::net::tcp::WriteHalf<'_>,
    mode: watch::Receiver<Mode>,
    dead: &AtomicBool,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        // A read error ends the direction like EOF does.
        let n: usize = from.read(&mut buf).await.unwrap_or_default();
        let current = *mode.borrow();
        if current == Mode::Blackhole {
            dead.store(true, Ordering::SeqCst);
        }
        if dead.load(Ordering::SeqCst) {
            if n == 0 {
                std::future::pending::<()>().await;
            }
            continue;
        }
        if n == 0 {
            let _ = to.shutdown().await;
            return;
        }
        let ok = match current {
            Mode::Delay(d) => {
                tokio::time::sleep(d).await;
                to.write_all(&buf[..n]).await.is_ok()
            }
            Mode::Throttle(bps) => throttled(&mut to, &buf[..n], bps.max(1)).await,
            _ => to.write_all(&buf[..n]).await.is_ok(),
        };
        if !ok {
            return;
        }
    }
}

/// Writes `data` in slices of a tenth of a second's worth, pausing after each.
async fn throttled(to: &mut tokio::net::tcp::WriteHalf<'_>, data: &[u8], bps: u64) -> bool {
    let slice = (bps / 10).max(1) as usize;
    for part in data.chunks(slice) {
        if to.write_all(part).await.is_err() {
            return false;
        }
        tokio::time::sleep(Duration::from_secs_f64(part.len() as f64 / bps as f64)).await;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> (u16, JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        (port, task)
    }

    async fn roundtrip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(msg).await?;
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got).await?;
        Ok(got)
    }

    const T: Duration = Duration::from_secs(10);
    /// How long a test waits to see that nothing arrives (a negative can only be waited).
    const QUIET: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn fault_proxy_modes_behave_as_documented() {
        let (echo, _server) = echo_server().await;
        let proxy = FaultProxy::start(echo).await;

        // Pass.
        let mut a = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
        assert_eq!(roundtrip(&mut a, b"hello").await.unwrap(), b"hello");

        // Cut: the open connection gets an RST (a reset error, not a clean EOF).
        proxy.cut();
        let mut buf = [0u8; 8];
        let err = tokio::time::timeout(T, a.read(&mut buf)).await.unwrap();
        assert!(
            matches!(&err, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "{err:?}"
        );

        // Down: new connections are reset at once.
        proxy.set_mode(Mode::Down);
        let mut b = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
        let r = tokio::time::timeout(T, b.read(&mut buf)).await.unwrap();
        assert!(matches!(r, Err(_) | Ok(0)), "{r:?}");

        // Blackhole: an open connection swallows everything and stays open, even after Pass.
        proxy.set_mode(Mode::Pass);
        let mut c = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
        assert_eq!(roundtrip(&mut c, b"before").await.unwrap(), b"before");
        proxy.set_mode(Mode::Blackhole);
        c.write_all(b"lost").await.unwrap();
        assert!(tokio::time::timeout(QUIET, c.read(&mut buf)).await.is_err(), "no answer");
        // A new one is accepted and never answered either.
        let mut d = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
        d.write_all(b"lost").await.unwrap();
        assert!(tokio::time::timeout(QUIET, d.read(&mut buf)).await.is_err(), "no answer");
        proxy.set_mode(Mode::Pass);
        c.write_all(b"still lost").await.unwrap();
        assert!(tokio::time::timeout(QUIET, c.read(&mut buf)).await.is_err(), "stays dead");
        let mut e = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
        assert_eq!(roundtrip(&mut e, b"new").await.unwrap(), b"new");

        // Delay and throttle still deliver every byte, in order.
        proxy.set_mode(Mode::Delay(Duration::from_millis(20)));
        assert_eq!(roundtrip(&mut e, b"late").await.unwrap(), b"late");
        proxy.set_mode(Mode::Throttle(2000));
        let big: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
        assert_eq!(tokio::time::timeout(T, roundtrip(&mut e, &big)).await.unwrap().unwrap(), big);

        // Flap: a schedule that cuts, then comes back.
        proxy.set_mode(Mode::Pass);
        proxy.flap(vec![(Mode::Down, Duration::from_millis(50))]);
        let r = tokio::time::timeout(T, e.read(&mut buf)).await.unwrap();
        assert!(r.is_err(), "cut by the schedule: {r:?}");
        let deadline = tokio::time::Instant::now() + T;
        while !proxy.flap_done() {
            assert!(tokio::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(proxy.mode(), Mode::Pass);
        let mut f = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
        assert_eq!(roundtrip(&mut f, b"back").await.unwrap(), b"back");
    }
}
