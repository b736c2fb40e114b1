//! A deliberately small HTTP/1.1 client for one job: POST a body to a witness and read its
//! short answer. One request per connection (`Connection: close`), a `Content-Length` body,
//! `http://` or `https://` (tokio-rustls, `ring`, the system CAs or a configured CA file).
//!
//! Bounds, so that a slow or hostile witness costs little: connecting (TCP + TLS) must finish
//! within [`CONNECT_TIMEOUT`], the whole exchange within [`REQUEST_TIMEOUT`], and the answer
//! may be at most [`MAX_RESPONSE_BYTES`] (a cosignature answer is a few hundred bytes).
//! Answers may carry `Content-Length`, `Transfer-Encoding: chunked`, or neither (read to the
//! end of the connection). Parsing ([`parse_response`]) is pure and tested on bytes.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;

use super::url::WitnessUrl;

/// Longest wait for TCP connect plus TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a whole request, connect included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read (head and body).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The TLS client could not be set up (CA file); a config problem, found at start.
    #[error("TLS setup: {0}")]
    TlsSetup(String),
    /// TCP connect or TLS handshake failed.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// A phase took too long.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Reading or writing failed after connecting.
    #[error("connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// The answer is not HTTP/1.x as we read it.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The answer exceeds [`MAX_RESPONSE_BYTES`].
    #[error("answer larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
}

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// `Content-Type` without parameters, lower-cased; empty when absent.
    pub content_type: String,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

/// An HTTP client bound to one witness.
#[derive(Clone)]
pub struct HttpClient {
    url: WitnessUrl,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client for `url`; for `https://`, trusting `ca_file` (named `field` in errors) or the
    /// system CAs. Blocking (reads the CA file): call at start.
    pub fn new(
        url: WitnessUrl,
        field: &'static str,
        ca_file: Option<&std::path::Path>,
    ) -> Result<HttpClient, HttpError> {
        let tls = if url.tls {
            let roots = crate::publish::tls::roots(field, ca_file)
                .map_err(|e| HttpError::TlsSetup(e.to_string()))?;
            let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| HttpError::TlsSetup(e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            let name = ServerName::try_from(url.host.clone())
                .map_err(|e| HttpError::TlsSetup(format!("host {:?}: {e}", url.host)))?;
            Some((TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(HttpClient { url, tls })
    }

    /// The witness URL.
    pub fn url(&self) -> &WitnessUrl {
        &self.url
    }

    /// POSTs `body` to `path` and reads the answer, within [`REQUEST_TIMEOUT`].
    pub async fn post(&self, path: &str, body: &[u8]) -> Result<Response, HttpError> {
        let request = request_bytes(&self.url, path, body);
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(&request))
            .await
            .map_err(|_| HttpError::Timeout(REQUEST_TIMEOUT))?
    }

    async fn exchange(&self, request: &[u8]) -> Result<Response, HttpError> {
        let connect = async {
            let tcp = TcpStream::connect((self.url.host.as_str(), self.url.port))
                .await
                .map_err(|e| HttpError::Connect(e.to_string()))?;
            let _ = tcp.set_nodelay(true);
            Ok::<_, HttpError>(tcp)
        };
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| HttpError::Timeout(CONNECT_TIMEOUT))??;
        match &self.tls {
            None => send_and_read(tcp, request).await,
            Some((connector, name)) => {
                let stream =
                    tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name.clone(), tcp))
                        .await
                        .map_err(|_| HttpError::Timeout(CONNECT_TIMEOUT))?
                        .map_err(|e| HttpError::Connect(format!("TLS: {e}")))?;
                send_and_read(stream, request).await
            }
        }
    }
}

async fn send_and_read<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
) -> Result<Response, HttpError> {
    stream.write_all(request).await?;
    stream.flush().await?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        buf.extend_from_slice(&chunk[..n]);
        if let Some(r) = parse_response(&buf, n == 0)? {
            return Ok(r);
        }
        if buf.len() > MAX_RESPONSE_BYTES {
            return Err(HttpError::TooLarge);
        }
    }
}

/// The request bytes: a POST of `body` to `path` with `Connection: close`.
pub fn request_bytes(url: &WitnessUrl, path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: edgeproof/{}\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        url.host_header(),
        env!("CARGO_PKG_VERSION"),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Parses an answer from the bytes read so far: `Ok(None)` = incomplete, read more (`eof`:
/// the peer closed, so nothing more will come).
pub fn parse_response(buf: &[u8], eof: bool) -> Result<Option<Response>, HttpError> {
    let bad = |m: &str| HttpError::Malformed(m.to_string());
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return if eof {
            Err(bad("connection closed before the end of the head"))
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("head is not UTF-8"))?;
    let rest = &buf[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed(format!("status line {status_line:?}")));
    }
    let status: u16 = code
        .parse()
        .ok()
        .filter(|c| (100..600).contains(c))
        .ok_or_else(|| HttpError::Malformed(format!("status line {status_line:?}")))?;
    if (100..200).contains(&status) {
        // An interim answer (we send no `Expect`, but a server may): the real one follows.
        return parse_response(rest, eof);
    }
    let (mut length, mut chunked, mut content_type) = (None, false, String::new());
    for line in lines {
        let (name, value) =
            line.split_once(':').ok_or_else(|| HttpError::Malformed(format!("header {line:?}")))?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                let n: usize = value
                    .parse()
                    .map_err(|_| HttpError::Malformed(format!("Content-Length {value:?}")))?;
                if length.is_some_and(|l| l != n) {
                    return Err(bad("two different Content-Length headers"));
                }
                length = Some(n);
            }
            "transfer-encoding" => chunked = value.to_ascii_lowercase().ends_with("chunked"),
            "content-type" => {
                content_type =
                    value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            }
            _ => {}
        }
    }
    let body = if chunked {
        match dechunk(rest)? {
            Some(b) => b,
            None if eof => return Err(bad("connection closed inside a chunked body")),
            None => return Ok(None),
        }
    } else if let Some(n) = length {
        if n > MAX_RESPONSE_BYTES {
            return Err(HttpError::TooLarge);
        }
        if rest.len() < n {
            return if eof {
                Err(bad("connection closed before the whole body"))
            } else {
                Ok(None)
            };
        }
        rest[..n].to_vec()
    } else if eof {
        rest.to_vec()
    } else {
        return Ok(None);
    };
    Ok(Some(Response { status, content_type, body }))
}

/// Decodes a chunked body; `None` while the last chunk has not arrived.
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>, HttpError> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = find(data, b"\r\n") else { return Ok(None) };
        let size_text = std::str::from_utf8(&data[..eol])
            .ok()
            .map(|s| s.split(';').next().unwrap_or_default().trim())
            .unwrap_or_default();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpError::Malformed(format!("chunk size {size_text:?}")))?;
        if size > MAX_RESPONSE_BYTES {
            return Err(HttpError::TooLarge);
        }
        data = &data[eol + 2..];
        if size == 0 {
            // Trailers (ignored) end with an empty line.
            return Ok(if data.starts_with(b"\r\n") || find(data, b"\r\n\r\n").is_some() {
                Some(out)
            } else {
                None
            });
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&data[..size]);
        if &data[size..size + 2] != b"\r\n" {
            return Err(HttpError::Malformed("chunk not followed by CRLF".into()));
        }
        data = &data[size + 2..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(bytes: &[u8]) -> Response {
        parse_response(bytes, true).unwrap().unwrap()
    }

    #[test]
    fn the_request_names_host_length_and_closes() {
        let url = WitnessUrl::parse("http://w.example:8080/p").unwrap();
        let req = request_bytes(&url, "/p/add-checkpoint", b"old 0\n\nx\n");
        let text = String::from_utf8(req).unwrap();
        assert!(text.starts_with("POST /p/add-checkpoint HTTP/1.1\r\nHost: w.example:8080\r\n"));
        assert!(text.contains("\r\nContent-Length: 9\r\n"), "{text}");
        assert!(text.contains("\r\nConnection: close\r\n\r\nold 0\n\nx\n"), "{text}");
    }

    #[test]
    fn answers_with_length_chunks_or_close_delimited_bodies() {
        // (case, bytes, status, content type, body)
        type Case = (&'static str, &'static [u8], u16, &'static str, &'static [u8]);
        let cases: [Case; 5] = [
            (
                "content-length",
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                200,
                "",
                b"hello",
            ),
            (
                "409 with the size type and a parameter",
                b"HTTP/1.1 409 Conflict\r\nContent-Type: Text/X.Tlog.Size; charset=utf-8\r\ncontent-length: 3\r\n\r\n42\n",
                409,
                "text/x.tlog.size",
                b"42\n",
            ),
            (
                "chunked with an extension and a trailer",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
                200,
                "",
                b"abcde",
            ),
            ("read to close", b"HTTP/1.0 500 Oops\r\n\r\nboom", 500, "", b"boom"),
            (
                "interim 100 first",
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
                204,
                "",
                b"",
            ),
        ];
        for (case, bytes, status, ctype, body) in cases {
            let r = full(bytes);
            assert_eq!(
                (r.status, r.content_type.as_str(), &r.body[..]),
                (status, ctype, body),
                "{case}"
            );
        }
    }

    #[test]
    fn partial_answers_ask_for_more_until_the_peer_closes() {
        let whole = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for cut in [10, whole.len() - 1] {
            assert!(parse_response(&whole[..cut], false).unwrap().is_none(), "cut at {cut}");
            assert!(parse_response(&whole[..cut], true).is_err(), "closed at {cut}");
        }
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel";
        assert!(parse_response(chunked, false).unwrap().is_none());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\nabc", false).unwrap().is_none());
    }

    #[test]
    fn malformed_answers_are_errors_not_panics() {
        let cases: [&[u8]; 7] = [
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 999 Huh\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ];
        for bytes in cases {
            assert!(parse_response(bytes, true).is_err(), "{:?}", String::from_utf8_lossy(bytes));
        }
        let huge = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n";
        assert!(matches!(parse_response(huge, false), Err(HttpError::TooLarge)));
    }
}
