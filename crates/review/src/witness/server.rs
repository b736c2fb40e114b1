//! The witness's HTTP(S) server, in the style of [`edgeproof::http`]: a tokio accept loop, one
//! task per connection, at most [`MAX_CONNECTIONS`] at once (more wait in the kernel's accept
//! queue), bounded heads ([`MAX_HEAD_BYTES`]) and bodies ([`MAX_BODY_BYTES`]), a deadline on
//! every read and write, optional TLS (rustls, ring provider). Keep-alive, as tlog-witness
//! asks witnesses to support, up to [`MAX_REQUESTS_PER_CONNECTION`] requests.
//!
//! | request | answer |
//! |---|---|
//! | `POST /add-checkpoint` | [`Cosigner::add_checkpoint`]: 200 cosignature, 400, 403, 404, 409, 422, 503 |
//! | `GET /healthz` | 200 `ok` |
//! | `GET /metrics` | 200, Prometheus text ([`super::metrics`]) |
//! | another method on those paths | 405 with `Allow` |
//! | another path | 404 |
//! | malformed head, body too large, too slow | 400, 413, 408 (and the connection closes) |

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::cosigner::{Answer, Cosigner, TEXT_CONTENT_TYPE};
use super::error::ServerError;
use super::http1::{head_end, parse_head, response, HeadError, MAX_HEAD_BYTES};
use super::request::MAX_BODY_BYTES;

/// Time a client has to send a request (head and body), and that an idle keep-alive
/// connection is kept open.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has to take an answer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Requests on one connection before the server closes it.
pub const MAX_REQUESTS_PER_CONNECTION: usize = 1_000;
/// How long to read and drop leftover request bytes before closing after an error.
const LINGER: Duration = Duration::from_secs(1);
/// Pause after a failed `accept` before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Opens the listening socket (`--listen`).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })
}

/// A TLS acceptor from a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServerError> {
    let tls = |path: &Path, why: String| ServerError::Tls { path: path.to_path_buf(), why };
    let certs: Vec<CertificateDer<'static>> = edgeproof::publish::tls::pem_certs(cert)
        .map_err(|e| tls(cert, format!("not a PEM certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(tls(cert, "no CERTIFICATE block".into()));
    }
    let key_der: PrivateKeyDer<'static> = edgeproof::publish::tls::pem_private_key(key)
        .map_err(|e| tls(key, format!("not a PEM private key: {e}")))?
        .ok_or_else(|| tls(key, "no PRIVATE KEY block".into()))?;
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| tls(cert, e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key_der)
    .map_err(|e| tls(key, format!("does not go with the certificate: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves the witness on `listener` until `cancel` fires; then stops accepting and drops the
/// connections still open.
pub async fn serve(
    listener: TcpListener,
    cosigner: Arc<Cosigner>,
    tls: Option<TlsAcceptor>,
    cancel: CancellationToken,
) {
    let local = listener.local_addr().map_or_else(|e| format!("<{e}>"), |a| a.to_string());
    let scheme = if tls.is_some() { "https" } else { "http" };
    info!(addr = %local, "witness: serving POST {scheme}://{local}/add-checkpoint");
    let mut tasks = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = done {
                    if e.is_panic() {
                        warn!("witness: a connection task panicked: {e}");
                    }
                }
                continue;
            }
            accepted = listener.accept(), if tasks.len() < MAX_CONNECTIONS => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                warn!("witness: cannot accept a connection on {local}: {e}");
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let cosigner = Arc::clone(&cosigner);
        let tls = tls.clone();
        tasks.spawn(async move {
            let _ = stream.set_nodelay(true);
            match tls {
                None => connection(stream, peer, &cosigner).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => connection(s, peer, &cosigner).await,
                        Ok(Err(e)) => {
                            debug!(%peer, "witness: TLS handshake with {peer} failed: {e}")
                        }
                        Err(_) => debug!(%peer, "witness: TLS handshake with {peer} timed out"),
                    }
                }
            }
        });
    }
    tasks.shutdown().await;
    info!(addr = %local, "witness: stopped serving on {local}");
}

/// The parts of a request head the connection loop needs, owned.
struct RequestHead {
    /// Bytes of the head at the front of the buffer.
    head_len: usize,
    method: String,
    path: String,
    /// Body length.
    len: usize,
    keep_alive: bool,
    expect_continue: bool,
}

/// What reading one request head gave.
enum Read {
    /// A complete, valid head.
    Request(RequestHead),
    /// The client closed (or went idle) between requests: end quietly.
    Gone,
    /// Answer this status and body, then close.
    Fail(u16, String),
}

/// Serves requests on one connection until it closes, errs, or asks to close.
async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    peer: SocketAddr,
    cosigner: &Cosigner,
) {
    let mut buf: Vec<u8> = Vec::new();
    for served in 0..MAX_REQUESTS_PER_CONNECTION {
        let read = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut s, &mut buf)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                debug!(%peer, "witness: reading from {peer} failed: {e}");
                return;
            }
            // An idle keep-alive connection simply ends; a half-sent head is answered.
            Err(_) if buf.is_empty() && served > 0 => return,
            Err(_) => Read::Fail(408, "request timeout\n".into()),
        };
        let head = match read {
            Read::Request(head) => head,
            Read::Gone => return,
            Read::Fail(status, body) => return fail(&mut s, status, &body).await,
        };
        let end = head.head_len + head.len;
        if head.len > MAX_BODY_BYTES {
            let body =
                format!("request body of {} bytes is larger than {MAX_BODY_BYTES}\n", head.len);
            return fail(&mut s, 413, &body).await;
        }
        if head.expect_continue
            && buf.len() < end
            && write(&mut s, b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err()
        {
            return;
        }
        match tokio::time::timeout(READ_TIMEOUT, read_body(&mut s, &mut buf, end)).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) | Ok(Err(_)) => return,
            Err(_) => return fail(&mut s, 408, "request timeout\n").await,
        }
        let body: Vec<u8> = buf.drain(..end).skip(head.head_len).collect();
        let (method, path) = (head.method.as_str(), head.path.as_str());
        let (answer, allow) = route(method, path, &body, cosigner).await;
        debug!(%peer, method, path, status = answer.status,
            "witness: {method} {path} from {peer}: {}", answer.status);
        let keep = head.keep_alive && served + 1 < MAX_REQUESTS_PER_CONNECTION;
        let bytes = response(answer.status, answer.content_type, &answer.body, keep, allow);
        if write(&mut s, &bytes).await.is_err() || !keep {
            let _ = tokio::time::timeout(WRITE_TIMEOUT, s.shutdown()).await;
            return;
        }
    }
}

/// Answers `status` and closes. Request bytes the client may still be sending are read and
/// dropped for a moment, so the kernel does not reset the connection before the client has
/// read the answer (as in [`edgeproof::http`]).
async fn fail<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, status: u16, body: &str) {
    if write(s, &response(status, TEXT_CONTENT_TYPE, body, false, None)).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(WRITE_TIMEOUT, s.shutdown()).await;
    let _ = tokio::time::timeout(LINGER, async {
        let mut sink = [0u8; 4096];
        let mut left = MAX_BODY_BYTES;
        while left > 0 {
            match s.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

async fn route(
    method: &str,
    path: &str,
    body: &[u8],
    cosigner: &Cosigner,
) -> (Answer, Option<&'static str>) {
    let text =
        |status, body: &str| Answer { status, content_type: TEXT_CONTENT_TYPE, body: body.into() };
    match (path, method) {
        ("/add-checkpoint", "POST") => (cosigner.add_checkpoint(body).await, None),
        ("/add-checkpoint", _) => (text(405, "method not allowed: use POST\n"), Some("POST")),
        ("/healthz", "GET") => (text(200, "ok\n"), None),
        ("/metrics", "GET") => {
            let body = cosigner.metrics().render();
            (Answer { status: 200, content_type: prometheus::TEXT_FORMAT, body }, None)
        }
        ("/metrics", _) => (text(405, "method not allowed: use GET\n"), Some("GET")),
        ("/healthz", _) => (text(405, "method not allowed: use GET\n"), Some("GET")),
        _ => (text(404, "not found: the witness serves POST /add-checkpoint\n"), None),
    }
}

async fn write<S: AsyncWrite + Unpin>(s: &mut S, bytes: &[u8]) -> io::Result<()> {
    match tokio::time::timeout(WRITE_TIMEOUT, async {
        s.write_all(bytes).await?;
        s.flush().await
    })
    .await
    {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "client did not take the answer")),
    }
}

/// Reads until `buf` holds a complete head; parses it.
async fn read_head<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> io::Result<Read> {
    let mut searched = 0;
    loop {
        if let Some(end) = head_end(&buf[searched..]) {
            let head_len = searched + end;
            return Ok(match parse_head(&buf[..head_len]) {
                Ok(h) => Read::Request(RequestHead {
                    head_len,
                    method: h.method.into(),
                    path: h.path.into(),
                    len: h.content_length,
                    keep_alive: h.keep_alive,
                    expect_continue: h.expect_continue,
                }),
                Err(HeadError { status, why }) => {
                    Read::Fail(status, format!("bad request: {why}\n"))
                }
            });
        }
        if buf.len() >= MAX_HEAD_BYTES {
            return Ok(Read::Fail(400, "bad request: request head too large\n".into()));
        }
        // The terminator may straddle two reads: look back 3 bytes next time.
        searched = buf.len().saturating_sub(3);
        if !fill(s, buf, MAX_HEAD_BYTES).await? {
            return Ok(Read::Gone);
        }
    }
}

/// Reads until `buf` holds `want` bytes; `false` if the client closed first.
async fn read_body<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut Vec<u8>,
    want: usize,
) -> io::Result<bool> {
    while buf.len() < want {
        if !fill(s, buf, want).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One read appended to `buf`, never beyond `cap` bytes in total; `false` on end of stream.
async fn fill<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>, cap: usize) -> io::Result<bool> {
    let mut chunk = [0u8; 8192];
    let room = cap.saturating_sub(buf.len()).clamp(1, chunk.len());
    let n = s.read(&mut chunk[..room]).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}
