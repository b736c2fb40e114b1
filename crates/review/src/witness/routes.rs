//! What the witness answers, as a hyper service: one [`Routes`] per connection (it counts the
//! connection's requests).
//!
//! | request | answer |
//! |---|---|
//! | `POST /add-checkpoint` | [`Cosigner::add_checkpoint`]: 200 cosignature, 400, 403, 404, 409, 422, 503 |
//! | `GET /healthz` | 200 `ok`; 503 when the database does not answer |
//! | `GET /metrics` | 200, Prometheus text ([`super::metrics`]) |
//! | another method on those paths | 405 with `Allow` |
//! | another path | 404 |
//! | `Transfer-Encoding` (chunked bodies) | 501: tlog-witness clients send `Content-Length` |
//! | body above [`MAX_BODY_BYTES`], or too slow | 413, 408 (and the connection closes) |
//!
//! Malformed heads (400), heads above the size limit (431) and `Expect: 100-continue` are
//! hyper's.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING,
};
use hyper::{Method, Request, Response, StatusCode, Version};
use tracing::{debug, warn};

use super::cosigner::{Answer, Cosigner, TEXT_CONTENT_TYPE};
use super::peers::Limits;
use super::request::MAX_BODY_BYTES;

/// The service of one connection.
#[derive(Clone)]
pub struct Routes {
    cosigner: Arc<Cosigner>,
    limits: Limits,
    served: Arc<AtomicUsize>,
}

/// An answer and whether the connection must close after it.
struct Reply {
    answer: Answer,
    allow: Option<&'static str>,
    close: bool,
}

impl Reply {
    fn text(status: u16, body: impl Into<String>) -> Reply {
        let answer = Answer { status, content_type: TEXT_CONTENT_TYPE, body: body.into() };
        Reply { answer, allow: None, close: false }
    }

    fn closing(mut self) -> Reply {
        self.close = true;
        self
    }
}

impl Routes {
    /// The service for a new connection.
    pub fn new(cosigner: Arc<Cosigner>, limits: Limits) -> Routes {
        Routes { cosigner, limits, served: Arc::default() }
    }

    async fn answer(self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let served = self.served.fetch_add(1, Ordering::Relaxed) + 1;
        let keep_alive = wants_keep_alive(&req) && served < self.limits.max_requests_per_connection;
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let reply = self.route(req).await;
        debug!(%method, path, status = reply.answer.status, "witness: {method} {path}: {}",
            reply.answer.status);
        let mut res = Response::new(Full::new(Bytes::from(reply.answer.body)));
        *res.status_mut() =
            StatusCode::from_u16(reply.answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = res.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(reply.answer.content_type));
        if let Some(allow) = reply.allow {
            headers.insert(ALLOW, HeaderValue::from_static(allow));
        }
        let connection = if keep_alive && !reply.close { "keep-alive" } else { "close" };
        headers.insert(CONNECTION, HeaderValue::from_static(connection));
        res
    }

    async fn route(&self, req: Request<Incoming>) -> Reply {
        let path = req.uri().path();
        match (path, req.method()) {
            ("/add-checkpoint", &Method::POST) => self.add_checkpoint(req).await,
            ("/add-checkpoint", _) => {
                Reply { allow: Some("POST"), ..Reply::text(405, "method not allowed: use POST\n") }
            }
            ("/healthz", &Method::GET) => match self.cosigner.healthy().await {
                Ok(()) => Reply::text(200, "ok\n"),
                Err(e) => {
                    warn!("witness: /healthz: database unavailable: {e}");
                    Reply::text(503, "witness database unavailable\n")
                }
            },
            ("/metrics", &Method::GET) => {
                let body = self.cosigner.metrics().render();
                let answer = Answer { status: 200, content_type: prometheus::TEXT_FORMAT, body };
                Reply { answer, allow: None, close: false }
            }
            ("/metrics" | "/healthz", _) => {
                Reply { allow: Some("GET"), ..Reply::text(405, "method not allowed: use GET\n") }
            }
            _ => Reply::text(404, "not found: the witness serves POST /add-checkpoint\n"),
        }
    }

    async fn add_checkpoint(&self, req: Request<Incoming>) -> Reply {
        if req.headers().contains_key(TRANSFER_ENCODING) {
            return Reply::text(501, "Transfer-Encoding is not supported; send Content-Length\n")
                .closing();
        }
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return too_large(declared);
        }
        let body = Limited::new(req.into_body(), MAX_BODY_BYTES);
        let body = match tokio::time::timeout(self.limits.body_timeout, body.collect()).await {
            Ok(Ok(b)) => b.to_bytes(),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(None),
            Ok(Err(e)) => return Reply::text(400, format!("bad request: {e}\n")).closing(),
            Err(_) => return Reply::text(408, "request timeout\n").closing(),
        };
        let answer = self.cosigner.add_checkpoint(&body).await;
        Reply { answer, allow: None, close: false }
    }
}

fn too_large(declared: Option<u64>) -> Reply {
    let size = declared.map_or_else(|| "more than".into(), |n| format!("{n} bytes, above"));
    Reply::text(413, format!("request body of {size} {MAX_BODY_BYTES} bytes is too large\n"))
        .closing()
}

/// HTTP/1.1 keeps the connection unless the client said `close`; HTTP/1.0 only when it said
/// `keep-alive` (RFC 9112 §9.3).
fn wants_keep_alive<B>(req: &Request<B>) -> bool {
    let said = |token: &str| {
        req.headers().get_all(CONNECTION).iter().any(|v| {
            v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    match req.version() {
        Version::HTTP_11 => !said("close"),
        Version::HTTP_10 => said("keep-alive"),
        _ => false,
    }
}

impl hyper::service::Service<Request<Incoming>> for Routes {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let routes = self.clone();
        Box::pin(async move { Ok(routes.answer(req).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_follows_the_version_and_the_connection_header() {
        let req = |v, c: Option<&str>| {
            let mut b = Request::builder().version(v);
            if let Some(c) = c {
                b = b.header(CONNECTION, c);
            }
            b.body(()).unwrap()
        };
        assert!(wants_keep_alive(&req(Version::HTTP_11, None)));
        assert!(!wants_keep_alive(&req(Version::HTTP_11, Some("Close"))));
        assert!(!wants_keep_alive(&req(Version::HTTP_10, None)));
        assert!(wants_keep_alive(&req(Version::HTTP_10, Some("foo, Keep-Alive"))));
    }
}
