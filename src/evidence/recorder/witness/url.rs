//! A witness's submission prefix (`http://` or `https://` URL), split once at config time
//! into what the client needs: scheme, host, port and path prefix. No user info, query or
//! fragment: a C2SP witness is addressed by its prefix alone.

use std::fmt;

/// A parsed submission prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessUrl {
    /// `https://` (TLS) or `http://`.
    pub tls: bool,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port (default 443 / 80).
    pub port: u16,
    /// Path prefix without a trailing slash (`""` for the root).
    pub prefix: String,
    text: String,
}

impl WitnessUrl {
    /// Parses `http[s]://host[:port][/prefix]`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<WitnessUrl, String> {
        let (tls, rest) = if let Some(r) = text.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("{text:?} must start with https:// or http://"));
        };
        if rest.contains(['?', '#', '@'])
            || rest.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!("{text:?}: a witness URL has no user, query, fragment or spaces"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) =
                v6.split_once(']').ok_or_else(|| format!("{text:?}: unclosed '[' in the host"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(format!("{text:?}: junk after the IPv6 address")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{text:?} has no host"));
        }
        let port = match port {
            None => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{text:?} has a bad port {p:?}"))?,
        };
        Ok(WitnessUrl {
            tls,
            host: host.to_string(),
            port,
            prefix: path.to_string(),
            text: text.to_string(),
        })
    }

    /// The request target of `add-checkpoint` (tlog-witness: `<prefix>/add-checkpoint`).
    pub fn add_checkpoint_path(&self) -> String {
        format!("{}/add-checkpoint", self.prefix)
    }

    /// The `Host` header value.
    pub fn host_header(&self) -> String {
        let host =
            if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The URL as configured (logs and the metrics label).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for WitnessUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_split_into_scheme_host_port_and_path() {
        let cases = [
            ("https://w.example", (true, "w.example", 443, ""), "/add-checkpoint", "w.example"),
            (
                "http://10.0.0.5:8080/witness/",
                (false, "10.0.0.5", 8080, "/witness"),
                "/witness/add-checkpoint",
                "10.0.0.5:8080",
            ),
            ("http://[::1]:7380", (false, "::1", 7380, ""), "/add-checkpoint", "[::1]:7380"),
            ("https://w:443/a/b", (true, "w", 443, "/a/b"), "/a/b/add-checkpoint", "w"),
        ];
        for (text, (tls, host, port, prefix), path, host_header) in cases {
            let u = WitnessUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                (u.tls, u.host.as_str(), u.port, u.prefix.as_str()),
                (tls, host, port, prefix)
            );
            assert_eq!(u.add_checkpoint_path(), path, "{text}");
            assert_eq!(u.host_header(), host_header, "{text}");
            assert_eq!(u.to_string(), text);
        }
    }

    #[test]
    fn bad_prefixes_say_what_is_wrong() {
        let cases = [
            ("ftp://w", "must start with"),
            ("https://", "has no host"),
            ("https://:80", "has no host"),
            ("http://w:0", "bad port"),
            ("http://w:99999", "bad port"),
            ("http://w/a?x=1", "no user, query"),
            ("http://u@w", "no user, query"),
            ("http://[::1", "unclosed"),
        ];
        for (text, want) in cases {
            let err = WitnessUrl::parse(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
