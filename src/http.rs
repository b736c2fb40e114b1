//! The HTTP endpoint for monitoring: `GET /metrics` (Prometheus text) and `GET /healthz`.
//!
//! A deliberately tiny HTTP/1.1 server on a tokio [`TcpListener`]: one request per
//! connection, answered with `Connection: close`. No keep-alive, no bodies, no chunking —
//! Prometheus and load-balancer health checks need nothing more, and a gateway on a shop
//! floor network should not carry a general web server.
//!
//! Rules, so that a broken or hostile client costs little and never stops monitoring:
//! - the request head (request line + headers) must fit in [`MAX_HEAD_BYTES`] and arrive
//!   within [`READ_TIMEOUT`]; otherwise 400 (too large) or 408 (too slow);
//! - each connection runs in its own task, at most [`MAX_CONNECTIONS`] at once; beyond that
//!   new connections wait in the kernel's accept queue until a task ends. A slow client holds
//!   its slot for at most [`READ_TIMEOUT`] + [`WRITE_TIMEOUT`] + 1 s, so a few of them delay
//!   a scrape but cannot stop it;
//! - the answer must be written within [`WRITE_TIMEOUT`];
//! - after answering, the server shuts down its sending side and reads (and discards) what
//!   the client still sends for a moment, so that unread request bytes do not make the
//!   kernel reset the connection before the client has read the answer.
//!
//! | request | answer |
//! |---|---|
//! | `GET /metrics` | 200, `text/plain; version=0.0.4`, [`Metrics::render`] (or the [`Render`] given to [`serve_render`]) |
//! | `GET /healthz` | 200 `ok` if the health check passes, else 503 with its reason |
//! | another path | 404 |
//! | another method on `/metrics` or `/healthz` | 405 with `Allow: GET` |
//! | not HTTP/1.x, malformed, or too large | 400 |

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::metrics::Metrics;

/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Time a client has to send its whole request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a client has to take the whole answer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 32;

/// The limits above, as one value so tests can shrink or stretch them.
#[derive(Debug, Clone, Copy)]
struct Limits {
    read_timeout: Duration,
    write_timeout: Duration,
    max_connections: usize,
}

const LIMITS: Limits = Limits {
    read_timeout: READ_TIMEOUT,
    write_timeout: WRITE_TIMEOUT,
    max_connections: MAX_CONNECTIONS,
};

/// How long to read and discard leftover request bytes after answering.
const LINGER: Duration = Duration::from_secs(1);
/// How many leftover bytes to discard at most.
const LINGER_BYTES: usize = 64 * 1024;
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again, so the
/// loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Says whether the agent is healthy; `Err` carries a short reason for the 503 body.
pub type HealthCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Produces the `/metrics` body (Prometheus text) of a process other than the agent, e.g.
/// the collector's (`edgeproof_review::collect::metrics::render`).
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// Errors opening the listening socket.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Another process already listens on the address.
    #[error(
        "metrics.listen {addr}: address already in use (another process listens there; \
         choose another port or stop it)"
    )]
    AddrInUse {
        /// The configured address.
        addr: SocketAddr,
    },
    /// Any other failure to listen (no such local address, permission denied for a port
    /// below 1024, …).
    #[error("metrics.listen {addr}: cannot listen: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// What the operating system said.
        source: io::Error,
    },
}

/// Opens the listening socket for [`serve`] (`metrics.listen` in the config).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, HttpError> {
    TcpListener::bind(addr).await.map_err(|source| match source.kind() {
        io::ErrorKind::AddrInUse => HttpError::AddrInUse { addr },
        _ => HttpError::Bind { addr, source },
    })
}

/// Serves `/metrics` and `/healthz` on `listener` until `cancel` fires; then stops accepting
/// and drops the connections still open.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    health: HealthCheck,
    cancel: CancellationToken,
) {
    let render: Render = Arc::new(move || metrics.render());
    serve_limited(listener, render, health, cancel, LIMITS).await;
}

/// [`serve`] with another registry: `/metrics` answers what `render` returns.
pub async fn serve_render(
    listener: TcpListener,
    render: Render,
    health: HealthCheck,
    cancel: CancellationToken,
) {
    serve_limited(listener, render, health, cancel, LIMITS).await;
}

async fn serve_limited(
    listener: TcpListener,
    metrics: Render,
    health: HealthCheck,
    cancel: CancellationToken,
    limits: Limits,
) {
    let local = listener.local_addr().ok();
    info!(addr = ?local, "http: serving /metrics and /healthz on {local:?}");
    let mut tasks = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                log_task_end(done);
                continue;
            }
            // At the limit, new connections wait in the kernel's accept queue until a
            // task ends: bounded memory, and nobody is turned away for a short burst.
            accepted = listener.accept(), if tasks.len() < limits.max_connections => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                warn!("http: cannot accept a connection on {local:?}: {e}");
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let (metrics, health) = (Arc::clone(&metrics), Arc::clone(&health));
        tasks.spawn(handle(stream, peer, metrics, health, limits));
    }
    tasks.shutdown().await;
    info!(addr = ?local, "http: stopped serving on {local:?}");
}

fn log_task_end(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            warn!("http: a connection task panicked: {e}");
        }
    }
}

/// One connection: read the head, answer, close.
async fn handle(
    mut stream: TcpStream,
    peer: SocketAddr,
    metrics: Render,
    health: HealthCheck,
    limits: Limits,
) {
    let response = match tokio::time::timeout(limits.read_timeout, read_head(&mut stream)).await {
        Err(_) => Response::text(408, "request timeout\n"),
        Ok(Err(e)) => {
            debug!(%peer, "http: reading a request from {peer} failed: {e}");
            return;
        }
        Ok(Ok(Head::Closed)) => return,
        Ok(Ok(Head::TooLarge)) => Response::text(400, "bad request: request head too large\n"),
        Ok(Ok(Head::Complete(head))) => match parse_request(&head) {
            Err(why) => Response::text(400, format!("bad request: {why}\n")),
            Ok(req) => {
                let response = route(&req, &metrics, &health);
                debug!(%peer, method = req.method, path = req.path, status = response.status,
                    "http: {} {} from {peer}: {}", req.method, req.path, response.status);
                response
            }
        },
    };
    let written = tokio::time::timeout(limits.write_timeout, async {
        stream.write_all(&response.to_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    match written {
        Err(_) => debug!(%peer, "http: {peer} did not take the answer in time"),
        Ok(Err(e)) => debug!(%peer, "http: answering {peer} failed: {e}"),
        Ok(Ok(())) => linger(&mut stream).await,
    }
}

/// Reads and discards what the client still sends, until it closes, for at most [`LINGER`]
/// and [`LINGER_BYTES`]: closing a socket with unread input makes the kernel send a reset,
/// which can destroy the answer before the client read it (RFC 9112 §9.6).
async fn linger(stream: &mut TcpStream) {
    let _ = tokio::time::timeout(LINGER, async {
        let mut buf = [0u8; 4096];
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => discarded += n,
            }
        }
    })
    .await;
}

/// What reading a request head produced.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// The bytes up to and including the blank line ending the head.
    Complete(Vec<u8>),
    /// [`MAX_HEAD_BYTES`] arrived without the blank line.
    TooLarge,
    /// The client closed before sending a complete head.
    Closed,
}

async fn read_head(stream: &mut TcpStream) -> io::Result<Head> {
    let mut buf = vec![0u8; MAX_HEAD_BYTES];
    let mut len = 0;
    loop {
        if len == buf.len() {
            return Ok(Head::TooLarge);
        }
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            return Ok(Head::Closed);
        }
        // The terminator may straddle two reads: look back 3 bytes.
        let from = len.saturating_sub(3);
        len += n;
        if let Some(end) = head_end(&buf[from..len]) {
            buf.truncate(from + end);
            return Ok(Head::Complete(buf));
        }
    }
}

/// The length of the head in `bytes` (through the blank line), if it is complete. Accepts a
/// bare `\n` as line end, as RFC 9112 §2.2 allows a recipient to. (The witness reads its
/// request heads with it too.)
pub fn head_end(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len()).find_map(|i| {
        let rest = &bytes[i..];
        if rest.starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if rest.starts_with(b"\n\n") {
            Some(i + 2)
        } else if rest.starts_with(b"\n\r\n") {
            Some(i + 3)
        } else {
            None
        }
    })
}

/// The parts of a request this server looks at.
#[derive(Debug, PartialEq, Eq)]
struct Request<'a> {
    method: &'a str,
    /// The target without its query string.
    path: &'a str,
}

/// Parses a complete request head (RFC 9112 §3): `method SP target SP HTTP/1.x`, then
/// `name: value` header lines, which are checked but otherwise ignored.
fn parse_request(head: &[u8]) -> Result<Request<'_>, &'static str> {
    let text = std::str::from_utf8(head).map_err(|_| "request head is not text")?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("request line is not `METHOD TARGET HTTP/1.1`");
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
        return Err("invalid method");
    }
    if !target.starts_with('/') || target.bytes().any(|b| b.is_ascii_control()) {
        return Err("invalid request target");
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err("not HTTP/1.0 or HTTP/1.1");
    }
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, _value)) = line.split_once(':') else {
            return Err("header line without a colon");
        };
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err("invalid header name");
        }
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    Ok(Request { method, path })
}

fn route(req: &Request<'_>, metrics: &Render, health: &HealthCheck) -> Response {
    let known = matches!(req.path, "/metrics" | "/healthz");
    if !known {
        return Response::text(404, "not found: try /metrics or /healthz\n");
    }
    if req.method != "GET" {
        let mut r = Response::text(405, "method not allowed: use GET\n");
        r.allow_get = true;
        return r;
    }
    match req.path {
        "/metrics" => Response {
            status: 200,
            content_type: prometheus::TEXT_FORMAT,
            body: metrics(),
            allow_get: false,
        },
        _ => match health() {
            Ok(()) => Response::text(200, "ok\n"),
            Err(reason) => Response::text(503, format!("unhealthy: {reason}\n")),
        },
    }
}

/// An answer; always closes the connection.
#[derive(Debug)]
struct Response {
    status: u16,
    content_type: &'static str,
    body: String,
    /// Adds `Allow: GET` (required with 405, RFC 9110 §15.5.6).
    allow_get: bool,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
            allow_get: false,
        }
    }

    fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            503 => "Service Unavailable",
            _ => "",
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let allow = if self.allow_get { "Allow: GET\r\n" } else { "" };
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}\
             Connection: close\r\n\r\n",
            self.status,
            self.reason(),
            self.content_type,
            self.body.len(),
        );
        let mut bytes = Vec::with_capacity(head.len() + self.body.len());
        bytes.extend_from_slice(head.as_bytes());
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn parse_request_cases() {
        let ok: &[(&str, &[u8], &str, &str)] = &[
            ("plain GET", b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "/metrics"),
            ("HTTP/1.0 without headers", b"GET /healthz HTTP/1.0\r\n\r\n", "GET", "/healthz"),
            ("query string dropped", b"GET /metrics?x=1 HTTP/1.1\r\n\r\n", "GET", "/metrics"),
            ("bare LF line ends", b"POST /x HTTP/1.1\nA: b\n\n", "POST", "/x"),
            ("header value with colon", b"GET / HTTP/1.1\r\nHost: a:9898\r\n\r\n", "GET", "/"),
        ];
        for (case, head, method, path) in ok {
            assert_eq!(parse_request(head), Ok(Request { method, path }), "{case}");
        }
        let bad: &[(&str, &[u8])] = &[
            ("empty", b"\r\n\r\n"),
            ("binary", b"\x16\x03\x01\x02\x00\x01\r\n\r\n"),
            ("no version", b"GET /metrics\r\n\r\n"),
            ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\n"),
            ("absolute target", b"GET http://x/metrics HTTP/1.1\r\n\r\n"),
            ("extra space", b"GET  /metrics HTTP/1.1\r\n\r\n"),
            ("lower-case version", b"GET / http/1.1\r\n\r\n"),
            ("header without colon", b"GET / HTTP/1.1\r\nHost\r\n\r\n"),
            ("space before colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
            ("method with digits", b"G3T / HTTP/1.1\r\n\r\n"),
        ];
        for (case, head) in bad {
            assert!(parse_request(head).is_err(), "{case} was accepted");
        }
    }

    #[test]
    fn head_end_cases() {
        let cases: &[(&str, &[u8], Option<usize>)] = &[
            ("CRLF CRLF", b"GET / HTTP/1.1\r\n\r\nbody", Some(18)),
            ("LF LF", b"GET / HTTP/1.1\n\n", Some(16)),
            ("LF CRLF", b"GET / HTTP/1.1\n\r\n", Some(17)),
            ("incomplete", b"GET / HTTP/1.1\r\nHost: x\r\n", None),
            ("empty", b"", None),
        ];
        for (case, bytes, want) in cases {
            assert_eq!(head_end(bytes), *want, "{case}");
        }
    }

    struct Server {
        addr: SocketAddr,
        healthy: Arc<AtomicBool>,
        cancel: CancellationToken,
        task: tokio::task::JoinHandle<()>,
    }

    async fn start() -> Server {
        start_limited(LIMITS).await
    }

    async fn start_limited(limits: Limits) -> Server {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = Arc::new(Metrics::new());
        metrics.overrun("press-1", 1);
        let healthy = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&healthy);
        let health: HealthCheck = Arc::new(move || {
            if flag.load(Ordering::Relaxed) {
                Ok(())
            } else {
                Err("journal not writable".to_owned())
            }
        });
        let cancel = CancellationToken::new();
        let render: Render = Arc::new(move || metrics.render());
        let task = tokio::spawn(serve_limited(listener, render, health, cancel.clone(), limits));
        Server { addr, healthy, cancel, task }
    }

    /// Sends `raw`, reads until the server closes; returns (status, whole response).
    async fn request(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
        let exchange = async {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(raw).await.unwrap();
            let mut out = Vec::new();
            s.read_to_end(&mut out).await.unwrap();
            let text = String::from_utf8(out).unwrap();
            let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            (status, text)
        };
        tokio::time::timeout(Duration::from_secs(10), exchange).await.expect("server answered")
    }

    #[tokio::test]
    async fn answers_by_path_and_method() {
        let server = start().await;
        let cases: &[(&str, &[u8], u16, &str)] = &[
            (
                "metrics",
                b"GET /metrics HTTP/1.1\r\nHost: gw\r\n\r\n",
                200,
                "edgeproof_device_overruns_total{device=\"press-1\"} 1",
            ),
            ("metrics content type", b"GET /metrics HTTP/1.1\r\n\r\n", 200, "version=0.0.4"),
            ("healthz", b"GET /healthz HTTP/1.1\r\n\r\n", 200, "\r\n\r\nok\n"),
            ("unknown path", b"GET /nope HTTP/1.1\r\n\r\n", 404, "not found"),
            ("POST", b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 405, "Allow: GET"),
            ("garbage", b"\x00\x01hello\r\n\r\n", 400, "bad request"),
            ("closes", b"GET /healthz HTTP/1.0\r\n\r\n", 200, "Connection: close"),
        ];
        for (case, raw, status, needle) in cases {
            let (got, text) = request(server.addr, raw).await;
            assert_eq!(got, *status, "{case}: {text}");
            assert!(text.contains(needle), "{case}: {needle:?} not in {text}");
        }
        server.cancel.cancel();
        server.task.await.unwrap();
    }

    #[tokio::test]
    async fn healthz_is_503_with_the_reason_when_unhealthy() {
        let server = start().await;
        server.healthy.store(false, Ordering::Relaxed);
        let (status, text) = request(server.addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
        assert_eq!(status, 503, "{text}");
        assert!(text.ends_with("unhealthy: journal not writable\n"), "{text}");
        server.healthy.store(true, Ordering::Relaxed);
        assert_eq!(request(server.addr, b"GET /healthz HTTP/1.1\r\n\r\n").await.0, 200);
    }

    #[tokio::test]
    async fn oversized_head_is_400_and_the_answer_survives_unread_input() {
        let server = start().await;
        let mut raw = b"GET /metrics HTTP/1.1\r\n".to_vec();
        while raw.len() <= MAX_HEAD_BYTES + 1024 {
            raw.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        raw.extend_from_slice(b"\r\n");
        let (status, text) = request(server.addr, &raw).await;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("too large"), "{text}");
    }

    #[tokio::test]
    async fn client_closing_early_gets_nothing_and_the_server_carries_on() {
        let server = start().await;
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"GET /met").await.unwrap();
        drop(s);
        assert_eq!(request(server.addr, b"GET /healthz HTTP/1.1\r\n\r\n").await.0, 200);
    }

    /// Limits for tests that must not see a timeout: an hour is "never" for a test.
    const PATIENT: Limits = Limits { read_timeout: Duration::from_secs(3600), ..LIMITS };

    #[tokio::test]
    async fn a_slow_client_does_not_block_another_request() {
        let server = start_limited(PATIENT).await;
        let mut slow = TcpStream::connect(server.addr).await.unwrap();
        slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: ").await.unwrap();
        // Served while the slow client's head is still incomplete (it would wait an hour).
        let (status, _) = request(server.addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
        assert_eq!(status, 200);
        // The slow client still gets its answer once it finishes.
        slow.write_all(b"gw\r\n\r\n").await.unwrap();
        let mut out = Vec::new();
        slow.read_to_end(&mut out).await.unwrap();
        assert!(out.starts_with(b"HTTP/1.1 200 "), "{}", String::from_utf8_lossy(&out));
    }

    #[tokio::test]
    async fn a_client_too_slow_to_send_its_head_gets_408() {
        let server =
            start_limited(Limits { read_timeout: Duration::from_millis(50), ..LIMITS }).await;
        let mut slow = TcpStream::connect(server.addr).await.unwrap();
        slow.write_all(b"GET /metrics HTTP/1.1\r\n").await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut out))
            .await
            .expect("server closed")
            .unwrap();
        assert!(out.starts_with(b"HTTP/1.1 408 "), "{}", String::from_utf8_lossy(&out));
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_wait_for_a_free_slot() {
        let limit = 4;
        let server = start_limited(Limits { max_connections: limit, ..PATIENT }).await;
        let mut idle = Vec::new();
        for _ in 0..limit {
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(b"G").await.unwrap();
            idle.push(s);
        }
        let waiting = tokio::spawn(request(server.addr, b"GET /healthz HTTP/1.1\r\n\r\n"));
        // Not answered while every slot is held (the idle clients would wait an hour). This
        // wait can only pass falsely on a machine too slow to answer in 200 ms, never fail.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiting.is_finished(), "answered beyond the connection limit");
        drop(idle.pop());
        let (status, text) = waiting.await.unwrap();
        assert_eq!(status, 200, "{text}");
    }

    #[tokio::test]
    async fn bind_names_the_setting_when_the_port_is_taken() {
        let taken = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = taken.local_addr().unwrap();
        let err = bind(addr).await.unwrap_err();
        assert!(matches!(err, HttpError::AddrInUse { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with(&format!("metrics.listen {addr}: address already in use")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn cancel_stops_the_server() {
        let server = start().await;
        server.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(10), server.task)
            .await
            .expect("serve returned")
            .unwrap();
        assert!(TcpStream::connect(server.addr).await.is_err(), "still listening");
    }
}
