//! `endpoint_local`: does a device's endpoint resolve to this gateway itself?
//!
//! A "device" served from the gateway box (a simulator beside the agent) produces perfect
//! readings and proves nothing; a reviewer should see that at a glance. An endpoint is local
//! when any address it resolves to is a loopback or unspecified address, or an address of
//! one of this machine's interfaces (tested by binding a UDP socket to it: the kernel only
//! allows that for its own addresses). Serial endpoints (`/dev/…`) are never local.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

/// How long one name lookup may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// The `host:port` inside an endpoint: `10.0.0.5:502`, `opc.tcp://plc:4840/path`,
/// `[fe80::1]:502`. `None` for serial ports and anything without a host.
pub fn host_port(endpoint: &str) -> Option<(String, u16)> {
    if endpoint.starts_with('/') {
        return None;
    }
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(0);
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => Some((h.to_string(), p.parse().unwrap_or(0))),
        Some(_) => None,
        None if !authority.is_empty() => Some((authority.to_string(), 0)),
        None => None,
    }
}

/// Whether `ip` is one of this machine's addresses.
pub fn ip_is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// Whether `endpoint` resolves to this machine. A name that does not resolve (in time) is
/// not local: the evidence says only what was established.
pub async fn endpoint_is_local(endpoint: &str) -> bool {
    let Some((host, port)) = host_port(endpoint) else { return false };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip_is_local(ip);
    }
    let lookup = tokio::net::lookup_host(format!("{host}:{port}"));
    match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
        Ok(Ok(addrs)) => addrs.map(|a| a.ip()).any(ip_is_local),
        Ok(Err(_)) | Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_from_every_endpoint_form() {
        let cases = [
            ("modbus tcp", "10.0.0.5:502", Some(("10.0.0.5", 502))),
            ("opc ua url", "opc.tcp://plc-1:4840/UA/Server", Some(("plc-1", 4840))),
            ("ipv6", "[fe80::1]:502", Some(("fe80::1", 502))),
            ("url with user", "opc.tcp://op@host:4840", Some(("host", 4840))),
            ("host only", "plc-7", Some(("plc-7", 0))),
            ("serial port", "/dev/ttyS1@3", None),
            ("empty", "", None),
        ];
        for (case, endpoint, want) in cases {
            let got = host_port(endpoint);
            let want = want.map(|(h, p)| (h.to_string(), p));
            assert_eq!(got, want, "{case}");
        }
    }

    #[tokio::test]
    async fn loopback_and_own_names_are_local_documentation_addresses_are_not() {
        let cases = [
            ("loopback v4", "127.0.0.1:502", true),
            ("loopback v6", "[::1]:502", true),
            ("localhost name", "localhost:502", true),
            ("unspecified", "0.0.0.0:502", true),
            ("TEST-NET-3 (RFC 5737), not ours", "203.0.113.7:502", false),
            ("unresolvable name", "no-such-host.invalid:502", false),
            ("serial", "/dev/ttyUSB0@1", false),
        ];
        for (case, endpoint, want) in cases {
            assert_eq!(endpoint_is_local(endpoint).await, want, "{case}");
        }
    }
}
