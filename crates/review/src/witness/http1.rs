//! The little HTTP/1.1 the witness speaks (RFC 9112): request heads with a `Content-Length`
//! body, keep-alive, `Expect: 100-continue`; no chunked bodies (501), no pipelining beyond
//! reading what the client already sent. Pure functions; [`super::server`] does the I/O.

/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// The parts of a request head the witness looks at.
#[derive(Debug, PartialEq, Eq)]
pub struct Head<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The target without its query string.
    pub path: &'a str,
    /// Body length (0 without `Content-Length`).
    pub content_length: usize,
    /// Whether the client allows the connection to stay open after the answer.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent: say "100 Continue" before reading the body.
    pub expect_continue: bool,
}

/// A request head the witness cannot serve, with the status to answer.
#[derive(Debug, PartialEq, Eq)]
pub struct HeadError {
    /// 400 or 501.
    pub status: u16,
    /// Why, for the body.
    pub why: &'static str,
}

fn bad(why: &'static str) -> HeadError {
    HeadError { status: 400, why }
}

/// The end of a complete request head: the agent's monitoring server's reader, shared.
pub use edgeproof::http::head_end;

/// Parses a complete request head.
pub fn parse_head(head: &[u8]) -> Result<Head<'_>, HeadError> {
    let text = std::str::from_utf8(head).map_err(|_| bad("request head is not text"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut parts = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("request line is not `METHOD TARGET HTTP/1.1`"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad("invalid method"));
    }
    if !target.starts_with('/') || target.bytes().any(|b| b.is_ascii_control()) {
        return Err(bad("invalid request target"));
    }
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(bad("not HTTP/1.0 or HTTP/1.1")),
    };
    let mut content_length: Option<usize> = None;
    let mut close = !http11;
    let mut expect_continue = false;
    for line in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(bad("header line without a colon"))?;
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(bad("invalid header name"));
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-length") {
            // RFC 9112 §6.3: differing or invalid lengths are unrecoverable.
            let ok =
                !value.is_empty() && value.len() <= 12 && value.bytes().all(|b| b.is_ascii_digit());
            let n = value.parse().ok().filter(|_| ok).ok_or(bad("invalid Content-Length"))?;
            if content_length.is_some_and(|c| c != n) {
                return Err(bad("conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HeadError {
                status: 501,
                why: "Transfer-Encoding is not supported; send Content-Length",
            });
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && !http11 {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if !value.eq_ignore_ascii_case("100-continue") {
                return Err(HeadError {
                    status: 417,
                    why: "only Expect: 100-continue is understood",
                });
            }
            expect_continue = http11;
        }
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    Ok(Head {
        method,
        path,
        content_length: content_length.unwrap_or(0),
        keep_alive: !close,
        expect_continue,
    })
}

/// The reason phrase for the statuses the witness sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// A whole response. `allow` adds an `Allow` header (405, RFC 9110 §15.5.6).
pub fn response(
    status: u16,
    content_type: &str,
    body: &str,
    keep_alive: bool,
    allow: Option<&str>,
) -> Vec<u8> {
    let allow = allow.map(|a| format!("Allow: {a}\r\n")).unwrap_or_default();
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         {allow}Connection: {connection}\r\n\r\n",
        reason(status),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_that_parse() {
        // (case, head, path, content length, keep-alive, expect 100-continue)
        type Case<'a> = (&'a str, &'a [u8], &'a str, usize, bool, bool);
        let cases: &[Case<'_>] = &[
            (
                "post with body",
                b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 12\r\n\r\n",
                "/add-checkpoint",
                12,
                true,
                false,
            ),
            (
                "HTTP/1.0 closes",
                b"POST /x HTTP/1.0\r\nContent-Length: 1\r\n\r\n",
                "/x",
                1,
                false,
                false,
            ),
            (
                "HTTP/1.0 keep-alive",
                b"GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
                "/x",
                0,
                true,
                false,
            ),
            ("close", b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n", "/x", 0, false, false),
            (
                "expect",
                b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\ncontent-length:5\r\n\r\n",
                "/x",
                5,
                true,
                true,
            ),
            (
                "repeated equal lengths",
                b"POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                "/x",
                5,
                true,
                false,
            ),
            ("query dropped", b"GET /x?y=1 HTTP/1.1\n\n", "/x", 0, true, false),
        ];
        for (case, raw, path, len, keep, expect) in cases {
            let h = parse_head(raw).unwrap_or_else(|e| panic!("{case}: {e:?}"));
            assert_eq!(
                (h.path, h.content_length, h.keep_alive, h.expect_continue),
                (*path, *len, *keep, *expect),
                "{case}"
            );
        }
    }

    #[test]
    fn heads_that_do_not() {
        let cases: &[(&str, &[u8], u16)] = &[
            ("binary", b"\x16\x03\x01\r\n\r\n", 400),
            ("no version", b"POST /x\r\n\r\n", 400),
            ("absolute target", b"POST http://w/x HTTP/1.1\r\n\r\n", 400),
            ("HTTP/2", b"PRI * HTTP/2.0\r\n\r\n", 400),
            ("bad length", b"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
            ("huge length", b"POST /x HTTP/1.1\r\nContent-Length: 99999999999999999\r\n\r\n", 400),
            (
                "conflicting lengths",
                b"POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                400,
            ),
            ("chunked", b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
            ("odd expect", b"POST /x HTTP/1.1\r\nExpect: tea\r\n\r\n", 417),
            ("space in name", b"POST /x HTTP/1.1\r\nContent Length: 5\r\n\r\n", 400),
        ];
        for (case, raw, status) in cases {
            assert_eq!(parse_head(raw).map(|_| ()).map_err(|e| e.status), Err(*status), "{case}");
        }
    }

    #[test]
    fn head_end_finds_the_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }

    #[test]
    fn responses_carry_length_and_connection() {
        let r = response(409, "text/x.tlog.size", "25\n", true, None);
        assert_eq!(
            String::from_utf8(r).unwrap(),
            "HTTP/1.1 409 Conflict\r\nContent-Type: text/x.tlog.size\r\nContent-Length: 3\r\n\
             Connection: keep-alive\r\n\r\n25\n"
        );
        let r = String::from_utf8(response(405, "text/plain", "", false, Some("POST"))).unwrap();
        assert!(r.contains("Allow: POST\r\nConnection: close\r\n"), "{r}");
    }
}
