//! The witness's HTTP(S) server on hyper (HTTP/1.1, keep-alive as tlog-witness asks):
//! a tokio accept loop admitting each connection under [`Limits`] ([`super::peers`]), an
//! optional TLS handshake (rustls, ring provider, bounded by [`HANDSHAKE_TIMEOUT`]), then
//! hyper's HTTP/1.1 connection with [`super::routes`] as its service.
//!
//! What bounds a client's hold on the witness:
//!
//! | limit | where | what happens |
//! |---|---|---|
//! | connections open at once ([`Limits::max_connections`]) | accept loop | more wait in the kernel's accept queue |
//! | connections from one IP address ([`Limits::max_per_peer`]) | [`super::peers`] | more are closed at once |
//! | time to send a request head, or idle between requests ([`Limits::header_timeout`]) | hyper | connection closed |
//! | head size ([`MAX_HEAD_BYTES`]) | hyper | 431, closed |
//! | time to send a body ([`Limits::body_timeout`]) | [`super::routes`] | 408, closed |
//! | body size ([`super::request::MAX_BODY_BYTES`]) | [`super::routes`] | 413, closed |
//! | requests per connection ([`Limits::max_requests_per_connection`]) | [`super::routes`] | the last answer says `Connection: close` |
//!
//! So 600 clients trickling a byte at a time (slow loris) hold 600 cheap tasks for at most
//! the header timeout each, and a normal request is served beside them at once.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::cosigner::Cosigner;
use super::error::ServerError;
pub use super::peers::Limits;
use super::peers::{Admission, Slot};
use super::routes::Routes;

/// Time for a TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Largest read buffer of one connection (hyper's minimum is 8 KiB).
const MAX_READ_BUFFER: usize = 64 * 1024;
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
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

/// Serves the witness on `listener` under `limits` until `cancel` fires; then stops
/// accepting and drops the connections still open.
pub async fn serve(
    listener: TcpListener,
    cosigner: Arc<Cosigner>,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    cancel: CancellationToken,
) {
    let local = listener.local_addr().map_or_else(|e| format!("<{e}>"), |a| a.to_string());
    let scheme = if tls.is_some() { "https" } else { "http" };
    info!(addr = %local, max_connections = limits.max_connections, max_per_peer = limits.max_per_peer,
        "witness: serving POST {scheme}://{local}/add-checkpoint");
    let admission = Admission::new(&limits);
    let capacity = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_READ_BUFFER)
        .title_case_headers(true)
        .keep_alive(true);
    let mut tasks = JoinSet::new();
    loop {
        let permit = tokio::select! {
            () = cancel.cancelled() => break,
            permit = Arc::clone(&capacity).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let accepted = loop {
            tokio::select! {
                () = cancel.cancelled() => break None,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = done {
                        if e.is_panic() {
                            warn!("witness: a connection task panicked: {e}");
                        }
                    }
                }
                accepted = listener.accept() => break Some(accepted),
            }
        };
        let Some(accepted) = accepted else { break };
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
        let slot = match admission.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(_) => {
                debug!(%peer, "witness: refused a connection from {peer}: it has {} open",
                    limits.max_per_peer);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let routes = Routes::new(Arc::clone(&cosigner), limits);
        let (tls, http) = (tls.clone(), http.clone());
        tasks.spawn(async move {
            let _permit = permit;
            match tls {
                None => connection(&http, stream, peer, routes, slot).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => connection(&http, s, peer, routes, slot).await,
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

/// Serves one connection with hyper until it closes or a limit ends it.
async fn connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    http: &http1::Builder,
    stream: S,
    peer: SocketAddr,
    routes: Routes,
    _slot: Slot,
) {
    if let Err(e) = http.serve_connection(TokioIo::new(stream), routes).await {
        debug!(%peer, "witness: connection from {peer} ended: {e}");
    }
}
