//! Serial lines for the RTU tests: pseudo-terminal pairs and a TCP↔pty bridge made by
//! `socat` (scripts/test installs it), a proxy between two pty pairs that mangles the
//! answers travelling back to the agent, and an observer that records bus events.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgeproof::source::modbus::rtu::{BusEvent, FrameErrorKind};
use edgeproof::source::modbus::CycleStats;
use edgeproof::source::PollObserver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_serial::SerialPortBuilderExt;

/// A running socat; killed on drop.
pub struct Socat {
    child: Child,
}

impl Drop for Socat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Socat {
    /// Starts `socat -d -d ARGS…` and waits until its log says `ready` (a substring).
    fn start(args: &[String], ready: &str) -> Socat {
        let mut child = Command::new("socat")
            .arg("-d")
            .arg("-d")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start socat (scripts/test installs it: apt-get install socat)");
        let stderr = child.stderr.take().expect("socat stderr");
        let (tx, rx) = mpsc::channel();
        // Keep draining socat's log for its whole life so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let socat = Socat { child };
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(line) if line.contains(ready) => return socat,
                Ok(line) => seen.push(line),
                Err(_) => {
                    panic!("socat {args:?} never said {ready:?}; it said:\n{}", seen.join("\n"))
                }
            }
        }
    }
}

/// Two pseudo terminals joined back to back: bytes written to one are read from the other.
pub struct PtyPair {
    /// One end (give it to the server).
    pub a: PathBuf,
    /// The other end (give it to the agent).
    pub b: PathBuf,
    _socat: Socat,
}

impl PtyPair {
    /// A pair with stable names `dir/<name>-a` and `dir/<name>-b` (symlinks to /dev/pts/N).
    pub fn new(dir: &Path, name: &str) -> PtyPair {
        let a = dir.join(format!("{name}-a"));
        let b = dir.join(format!("{name}-b"));
        let socat = Socat::start(
            &[
                format!("pty,raw,echo=0,link={}", a.display()),
                format!("pty,raw,echo=0,link={}", b.display()),
            ],
            "starting data transfer loop",
        );
        PtyPair { a, b, _socat: socat }
    }
}

/// A serial-to-Ethernet converter stand-in: a pty on one side, a TCP listener on the other,
/// RTU frames passed through untouched.
pub struct TcpPtyBridge {
    /// The pty end (give it to the RTU server).
    pub pty: PathBuf,
    /// `127.0.0.1:<port>` (give it to the agent as an RTU-over-TCP address).
    pub address: String,
    _socat: Socat,
}

impl TcpPtyBridge {
    /// Opens the pty `dir/<name>` and listens on a free port for one connection.
    pub fn new(dir: &Path, name: &str) -> TcpPtyBridge {
        let pty = dir.join(name);
        let port = super::free_port();
        // The pty first, so it exists before anyone connects.
        let socat = Socat::start(
            &[
                format!("pty,raw,echo=0,link={}", pty.display()),
                format!("tcp-listen:{port},bind=127.0.0.1,reuseaddr"),
            ],
            "listening on",
        );
        TcpPtyBridge { pty, address: format!("127.0.0.1:{port}"), _socat: socat }
    }
}

/// What the proxy does to the n-th answer (0-based) on its way back to the agent.
pub type Mangle = fn(usize, Vec<u8>) -> Vec<u8>;

/// Forwards requests from the agent's pty to the server's pty unchanged, and the server's
/// answers back through [`Mangle`]. An answer is the bytes that arrive without a 5 ms gap.
pub struct ManglingProxy {
    /// Answers forwarded (mangled or not).
    pub answers: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ManglingProxy {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl ManglingProxy {
    /// Proxies between `agent_side` (a pty the agent's bus is on the other end of) and
    /// `server_side` (a pty the server is on the other end of).
    pub fn start(agent_side: &Path, server_side: &Path, mangle: Mangle) -> ManglingProxy {
        let open = |p: &Path| {
            tokio_serial::new(p.to_string_lossy(), 9600).open_native_async().expect("open pty")
        };
        let (mut agent_rx, mut agent_tx) = tokio::io::split(open(agent_side));
        let (mut server_rx, mut server_tx) = tokio::io::split(open(server_side));
        let answers = Arc::new(AtomicUsize::new(0));
        let requests = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok(n) = agent_rx.read(&mut buf).await {
                if n == 0 || server_tx.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        });
        let counter = answers.clone();
        let replies = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                let Ok(n) = server_rx.read(&mut buf).await else { return };
                if n == 0 {
                    return;
                }
                let mut frame = buf[..n].to_vec();
                while let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(5), server_rx.read(&mut buf)).await
                {
                    if n == 0 {
                        break;
                    }
                    frame.extend_from_slice(&buf[..n]);
                }
                let index = counter.fetch_add(1, Ordering::SeqCst);
                let out = mangle(index, frame);
                if agent_tx.write_all(&out).await.is_err() {
                    return;
                }
            }
        });
        ManglingProxy { answers, tasks: vec![requests, replies] }
    }
}

/// One bus event as recorded.
struct Recorded {
    device: String,
    event: &'static str,
    kind: &'static str,
    bytes: u64,
}

/// Records every bus event.
#[derive(Default)]
pub struct RecordingObserver {
    events: Mutex<Vec<Recorded>>,
}

impl RecordingObserver {
    fn count(&self, keep: impl Fn(&Recorded) -> bool) -> Vec<u64> {
        self.events.lock().unwrap().iter().filter(|e| keep(e)).map(|e| e.bytes).collect()
    }

    /// Frame errors of `kind` on any bus.
    pub fn frame_errors(&self, kind: FrameErrorKind) -> usize {
        self.count(|e| e.event == "frame_error" && e.kind == kind.as_str()).len()
    }

    /// Requests written for `device`.
    pub fn requests(&self, device: &str) -> usize {
        self.count(|e| e.event == "request" && e.device == device).len()
    }

    /// Bytes discarded while resynchronising.
    pub fn discarded(&self) -> u64 {
        self.count(|e| e.event == "discarded").iter().sum()
    }
}

impl PollObserver for RecordingObserver {
    fn cycle(&self, _: &str, _: &CycleStats, _: Duration) {}
    fn overrun(&self, _: &str, _: u64) {}
    fn bus(&self, _bus: &str, event: &BusEvent<'_>) {
        let (device, event, kind, bytes) = match *event {
            BusEvent::Request { device } => (device.to_owned(), "request", "", 0),
            BusEvent::FrameError { device, kind } => {
                (device.unwrap_or("").to_owned(), "frame_error", kind.as_str(), 0)
            }
            BusEvent::Discarded { bytes } => (String::new(), "discarded", "", bytes),
        };
        self.events.lock().unwrap().push(Recorded { device, event, kind, bytes });
    }
}
