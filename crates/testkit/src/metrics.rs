//! Scraping the agent's `/metrics` and `/healthz` over plain HTTP/1.1, and reading values out
//! of the Prometheus text format.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `GET path` on `addr`: (status code, body). `None` if nothing answered (agent not up yet).
pub async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let talk = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        let code = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((code, body.to_string()))
    };
    tokio::time::timeout(Duration::from_secs(10), talk).await.ok().flatten()
}

/// One scrape: series (name with its `{labels}` exactly as rendered) → value.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// Every sample line.
    pub series: BTreeMap<String, f64>,
    /// The raw text, for failure messages.
    pub text: String,
}

impl Scrape {
    /// Parses the Prometheus text exposition format (sample lines only).
    pub fn parse(text: &str) -> Scrape {
        let mut series = BTreeMap::new();
        for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let (key, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {line}"));
            let value = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or_else(|e| panic!("bad value in {line}: {e}")),
            };
            series.insert(key.to_string(), value);
        }
        Scrape { series, text: text.to_string() }
    }

    /// The value of series `key` (e.g. `edgeproof_device_polls_total{device="plc-1"}`).
    pub fn get(&self, key: &str) -> Option<f64> {
        self.series.get(key).copied()
    }

    /// The value of `key`, failing the test with the whole scrape if it is missing.
    pub fn value(&self, key: &str) -> f64 {
        self.get(key).unwrap_or_else(|| panic!("no series {key} in /metrics:\n{}", self.text))
    }

    /// The sum over every series of metric `name` whose labels contain all of `labels`
    /// (`name="value"` pairs); 0 when none.
    pub fn sum(&self, name: &str, labels: &[&str]) -> f64 {
        self.series
            .iter()
            .filter(|(k, _)| {
                let (n, rest) = k.split_once('{').unwrap_or((k.as_str(), ""));
                n == name && labels.iter().all(|l| rest.contains(l))
            })
            .map(|(_, v)| *v)
            .sum()
    }

    /// Whether any series of metric family `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.series.keys().any(|k| k == name || k.starts_with(&format!("{name}{{")))
    }
}

/// Scrapes `/metrics` on `addr`, waiting (up to 60 s) for the endpoint to come up.
pub async fn scrape(addr: SocketAddr) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((200, body)) = get(addr, "/metrics").await {
            return Scrape::parse(&body);
        }
        assert!(tokio::time::Instant::now() < deadline, "no /metrics on {addr} within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Scrapes until `cond` holds (up to `timeout`); returns the scrape that satisfied it.
pub async fn scrape_until(
    addr: SocketAddr,
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut(&Scrape) -> bool,
) -> Scrape {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let s = scrape(addr).await;
        if cond(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last scrape:\n{}",
            s.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
