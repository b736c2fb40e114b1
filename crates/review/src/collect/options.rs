//! What `edgeproof collect` is told: the broker, the shared subscription, batching.

use std::path::PathBuf;
use std::time::Duration;

use edgeproof::config::{MqttConfig, MqttProtocol};
use edgeproof_evidence::cosignature::WitnessKey;

/// Why the collector's options are unusable.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// `--mqtt` is not `mqtt://host[:port]` or `mqtts://host[:port]`.
    #[error("--mqtt {0:?}: expected mqtt://host[:port] or mqtts://host[:port]")]
    Url(String),
    /// `--topics` contains what a topic filter may not.
    #[error("--topics {0:?}: a topic prefix filter (levels may be '+'), without '#' and without a trailing '/'")]
    Topics(String),
    /// `--group` is empty or contains `/`, `+` or `#`.
    #[error(
        "--group {0:?}: a shared-subscription group name is non-empty, without '/', '+' or '#'"
    )]
    Group(String),
}

/// Default of [`CollectOptions::max_pending_bytes`]: room for a few batches of 1,000 typical
/// records, and a resident set far below 64 MiB whatever the broker's backlog.
pub const DEFAULT_MAX_PENDING: usize = 8 << 20;

/// The collector's settings.
#[derive(Clone, Debug)]
pub struct CollectOptions {
    /// The broker (host, port, TLS files, credentials), as the agent's `[mqtt]` section.
    pub mqtt: MqttConfig,
    /// Shared-subscription group: collectors with the same group split the messages.
    pub group: String,
    /// Topic prefix filter of the gateways, e.g. `edgeproof/+`: the collector subscribes to
    /// `$share/<group>/<topics>/evidence` and `…/checkpoint`.
    pub topics: String,
    /// Most messages committed in one transaction.
    pub batch: usize,
    /// How long a batch waits to fill after its first message.
    pub linger: Duration,
    /// Bytes that received, not yet acknowledged messages may hold together (see
    /// [`super::subscription::Budget`]); the collector stops reading from the broker while
    /// they are spent.
    pub max_pending_bytes: usize,
    /// Witnesses whose cosignatures count (besides those registered in the archive): a
    /// cosignature line is stored with its checkpoint only if it verifies under one.
    pub witnesses: Vec<WitnessKey>,
}

impl CollectOptions {
    /// Options for the broker at `url` (`mqtt://host:port` or `mqtts://host:port`), with this
    /// client id and the defaults: group `edgeproof-collect`, topics `edgeproof/+`, batches of
    /// up to 1,000 messages lingering 50 ms, 8 MiB of messages in the pipeline.
    pub fn new(url: &str, client_id: &str) -> Result<Self, OptionsError> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err(OptionsError::Url(url.into()));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| OptionsError::Url(url.into()))?),
            None => (rest, if tls { 8883 } else { 1883 }),
        };
        let host = host.trim_matches(|c| c == '[' || c == ']');
        if host.is_empty() {
            return Err(OptionsError::Url(url.into()));
        }
        Ok(CollectOptions {
            mqtt: MqttConfig {
                host: host.into(),
                port,
                tls,
                client_id: client_id.into(),
                username: None,
                password: None,
                password_file: None,
                ca_file: None,
                cert_file: None,
                key_file: None,
                protocol: MqttProtocol::V311,
                topic_prefix: String::new(),
                keep_alive: Duration::from_secs(30),
                max_inflight: 100,
            },
            group: "edgeproof-collect".into(),
            topics: "edgeproof/+".into(),
            batch: 1_000,
            linger: Duration::from_millis(50),
            witnesses: Vec::new(),
            max_pending_bytes: DEFAULT_MAX_PENDING,
        })
    }

    /// TLS files: CA bundle, and client certificate + key for mutual TLS.
    pub fn with_tls_files(
        mut self,
        ca: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
    ) -> Self {
        self.mqtt.ca_file = ca;
        self.mqtt.cert_file = cert;
        self.mqtt.key_file = key;
        self
    }

    /// Checks the group and topic filter.
    pub fn validate(&self) -> Result<(), OptionsError> {
        if self.group.is_empty() || self.group.contains(['/', '+', '#']) {
            return Err(OptionsError::Group(self.group.clone()));
        }
        let t = &self.topics;
        if t.is_empty()
            || t.contains('#')
            || t.ends_with('/')
            || t.split('/').any(|l| l.contains('+') && l != "+")
        {
            return Err(OptionsError::Topics(t.clone()));
        }
        Ok(())
    }

    /// The two shared-subscription filters.
    pub fn filters(&self) -> [String; 2] {
        let base = format!("$share/{}/{}", self.group, self.topics);
        [format!("{base}/evidence"), format!("{base}/checkpoint")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_groups_and_filters() {
        let o = CollectOptions::new("mqtt://10.0.0.1:1884", "c1").unwrap();
        assert_eq!((o.mqtt.host.as_str(), o.mqtt.port, o.mqtt.tls), ("10.0.0.1", 1884, false));
        assert_eq!(CollectOptions::new("mqtts://broker", "c1").unwrap().mqtt.port, 8883);
        assert!(CollectOptions::new("tcp://x", "c").is_err());
        assert!(CollectOptions::new("mqtt://x:port", "c").is_err());
        assert_eq!(
            o.filters(),
            [
                "$share/edgeproof-collect/edgeproof/+/evidence".to_string(),
                "$share/edgeproof-collect/edgeproof/+/checkpoint".to_string()
            ]
        );
        assert!(o.validate().is_ok());
        for (group, topics) in [("a/b", "x/+"), ("g", "x/#"), ("g", "x/a+"), ("", "x"), ("g", "x/")]
        {
            let mut bad = o.clone();
            bad.group = group.into();
            bad.topics = topics.into();
            assert!(bad.validate().is_err(), "{group} {topics}");
        }
    }
}
