//! The publisher's outer shell: compiles `[mqtt]` into rumqttc options once (a bad file is a
//! startup error), then runs broker connections one after another with backoff until the
//! cancellation token fires. A broker being down is an event and a backoff, never the end.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{LastWill, MqttOptions, QoS, TlsConfiguration, Transport};
use tokio_util::sync::CancellationToken;

use super::backlog::Backlog;
use super::counters::PublishCounters;
use super::diagnose::BrokerContext;
use super::error::PublishError;
use super::evidence::EvidenceFeed;
use super::link::{emit, LinkEvent, LinkLog};
use super::payload::Presence;
use super::session::{run_session, SessionEnd, ACK_TIMEOUT};
use super::tls;
use super::topics::Topics;
use crate::backoff::{Backoff, MAX_DELAY};
use crate::config::{MqttConfig, MqttProtocol};

/// How long to wait for outstanding PUBACKs on shutdown when the caller does not say.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// First reconnect delay; doubles per failed attempt up to [`MAX_DELAY`].
const BACKOFF_BASE: Duration = Duration::from_millis(500);

/// A connection that lasted this long was healthy: the next reconnect starts from the base
/// delay again. Shorter ones keep growing the delay, so a broker that accepts and then drops
/// the gateway (ACL, packet size) is not hammered.
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// rumqttc's limit on a received packet; a publisher only receives CONNACK, PUBACK and
/// PINGRESP, so this is generous.
const MAX_INCOMING_PACKET: usize = 64 * 1024;

/// MQTT's own limit on a packet's remaining length (MQTT 3.1.1 §2.2.3). rumqttc's default
/// (10 KiB) would reject a batch of a few hundred points and stall the journal behind it.
const MAX_OUTGOING_PACKET: usize = 268_435_455;

/// Publishes journal entries to one MQTT broker. Build with [`Publisher::new`] (which checks
/// the config and reads the password and TLS files), then [`Publisher::run`].
pub struct Publisher<B> {
    pub(super) options: MqttOptions,
    pub(super) topics: Topics,
    pub(super) gateway_id: String,
    pub(super) backlog: B,
    pub(super) counters: Arc<PublishCounters>,
    pub(super) broker: BrokerContext,
    pub(super) max_inflight: usize,
    pub(super) drain_timeout: Duration,
    pub(super) ack_timeout: Duration,
    pub(super) evidence: Option<Arc<dyn EvidenceFeed>>,
    backoff_base: Duration,
}

impl<B: Backlog> Publisher<B> {
    /// Checks `cfg` and prepares everything a connection needs. Fails only on config
    /// problems: MQTT 5 requested, unreadable password file, unusable TLS files.
    pub fn new(
        cfg: MqttConfig,
        gateway_id: String,
        backlog: B,
        counters: Arc<PublishCounters>,
    ) -> Result<Self, PublishError> {
        if cfg.protocol == MqttProtocol::V5 {
            return Err(PublishError::ProtocolV5Unsupported);
        }
        let topics = Topics::new(&cfg.topic_prefix);
        let mut options = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port);
        options
            .set_keep_alive(keep_alive(cfg.keep_alive))
            // Clean session: the broker keeps no state for us across connections, so nothing
            // from an earlier connection can arrive on a new one (see the module docs).
            .set_clean_session(true)
            .set_inflight(cfg.max_inflight.max(1))
            .set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET)
            .set_last_will(LastWill::new(
                topics.status(),
                Presence::Offline.as_str(),
                QoS::AtLeastOnce,
                true,
            ));
        match (&cfg.username, password(&cfg)?) {
            (Some(user), password) => {
                options.set_credentials(user.clone(), password.unwrap_or_default());
            }
            (None, Some(_)) => return Err(PublishError::PasswordWithoutUsername),
            (None, None) => {}
        }
        if cfg.tls {
            let tls = tls::client_config(&cfg)?;
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
        }
        Ok(Publisher {
            options,
            topics,
            gateway_id,
            backlog,
            counters,
            broker: BrokerContext {
                addr: broker_addr(&cfg.host, cfg.port),
                host: cfg.host.clone(),
                has_ca_file: cfg.ca_file.is_some(),
            },
            max_inflight: usize::from(cfg.max_inflight.max(1)),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            ack_timeout: ACK_TIMEOUT,
            evidence: None,
            backoff_base: BACKOFF_BASE,
        })
    }

    /// On cancellation, wait at most this long for outstanding PUBACKs before publishing the
    /// `offline` status and disconnecting.
    pub fn with_drain_timeout(mut self, drain_timeout: Duration) -> Self {
        self.drain_timeout = drain_timeout;
        self
    }

    /// Also publish the evidence records and checkpoints `feed` holds (see
    /// [`super::evidence`]).
    pub fn with_evidence(mut self, feed: Arc<dyn EvidenceFeed>) -> Self {
        self.evidence = Some(feed);
        self
    }

    /// Shorter reconnect delays, for tests that restart a broker.
    #[cfg(test)]
    pub(crate) fn with_backoff_base(mut self, base: Duration) -> Self {
        self.backoff_base = base;
        self
    }

    /// A shorter PUBACK watchdog, for tests that stall the broker link.
    #[cfg(test)]
    pub(crate) fn with_ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// Connects, publishes, reconnects with backoff; returns only when `cancel` fires (after
    /// the bounded drain, the `offline` status and DISCONNECT when a connection is up).
    pub async fn run(self, cancel: CancellationToken) {
        let mut backoff = Backoff::new(self.backoff_base, MAX_DELAY);
        let mut link = LinkLog::new(self.broker.addr.clone());
        loop {
            match run_session(&self, &cancel, &mut link).await {
                SessionEnd::Cancelled => break,
                SessionEnd::ConnectFailed(reason) => {
                    self.counters.on_connect_failed();
                    emit(link.on(LinkEvent::ConnectFailed(&reason)));
                }
                SessionEnd::Lost { reason, lasted } => {
                    emit(link.on(LinkEvent::Lost(&reason)));
                    if lasted >= STABLE_AFTER {
                        backoff.reset();
                    }
                }
            }
            let delay = backoff.next_delay();
            tracing::debug!(broker = %self.broker.addr, ?delay, "next MQTT connection attempt");
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        self.counters.on_disconnected();
        tracing::info!(broker = %self.broker.addr, "MQTT publisher stopped");
    }
}

/// Checks the config, then publishes until `cancel` fires; see [`Publisher`]. Returns an
/// error only for config problems found at start; a broker that is down is retried forever.
pub async fn run<B: Backlog>(
    cfg: MqttConfig,
    gateway_id: String,
    backlog: B,
    counters: Arc<PublishCounters>,
    cancel: CancellationToken,
    drain_timeout: Duration,
) -> Result<(), PublishError> {
    Publisher::new(cfg, gateway_id, backlog, counters)?
        .with_drain_timeout(drain_timeout)
        .run(cancel)
        .await;
    Ok(())
}

/// The password from `mqtt.password` or `mqtt.password_file` (read now, trailing newline
/// trimmed, so `echo secret > file` works).
/// (Shared with `collect`, which logs in with the same `[mqtt]` settings.)
pub fn password(cfg: &MqttConfig) -> Result<Option<String>, PublishError> {
    match (&cfg.password, &cfg.password_file) {
        (Some(_), Some(_)) => Err(PublishError::PasswordTwice),
        (Some(p), None) => Ok(Some(p.expose().to_string())),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|text| Some(text.trim_end_matches(['\n', '\r']).to_string()))
            .map_err(|source| PublishError::PasswordFile { path: path.clone(), source }),
        (None, None) => Ok(None),
    }
}

/// rumqttc takes whole seconds (it panics below one second) and MQTT 3.1.1 carries a u16:
/// round up into 1..=65535 s.
fn keep_alive(d: Duration) -> Duration {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    Duration::from_secs(secs.clamp(1, u64::from(u16::MAX)))
}

fn broker_addr(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::backlog::MemoryBacklog;
    use crate::publish::tls::tests::mqtt_config;

    fn new(cfg: MqttConfig) -> Result<Publisher<MemoryBacklog>, PublishError> {
        Publisher::new(cfg, "gw".into(), MemoryBacklog::new(), Arc::new(PublishCounters::new()))
    }

    #[test]
    fn config_errors_stop_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let cases: Vec<(&str, MqttConfig, &str)> = vec![
            (
                "v5 requested",
                MqttConfig { protocol: MqttProtocol::V5, ..mqtt_config("h", 1) },
                "mqtt.protocol = v5 is not supported yet",
            ),
            (
                "password file missing",
                MqttConfig {
                    username: Some("u".into()),
                    password_file: Some(missing.clone()),
                    ..mqtt_config("h", 1)
                },
                "mqtt.password_file",
            ),
            (
                "password twice",
                MqttConfig {
                    username: Some("u".into()),
                    password: Some("p".into()),
                    password_file: Some(missing.clone()),
                    ..mqtt_config("h", 1)
                },
                "both set",
            ),
            (
                "password without user",
                MqttConfig { password: Some("p".into()), ..mqtt_config("h", 1) },
                "mqtt.username is not",
            ),
            (
                "tls with unreadable ca file",
                MqttConfig { tls: true, ca_file: Some(missing.clone()), ..mqtt_config("h", 1) },
                "mqtt.ca_file",
            ),
        ];
        for (case, cfg, want) in cases {
            let err = new(cfg).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(want), "{case}: {err:?}");
        }
    }

    #[test]
    fn password_file_trailing_newline_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("unix newline", "s3cret\n", "s3cret"),
            ("windows newline", "s3cret\r\n", "s3cret"),
            ("no newline", "s3cret", "s3cret"),
            ("inner spaces kept", " a b \n", " a b "),
        ];
        for (case, text, want) in cases {
            let path = dir.path().join("pw");
            std::fs::write(&path, text).unwrap();
            let cfg = MqttConfig {
                username: Some("u".into()),
                password_file: Some(path),
                ..mqtt_config("h", 1)
            };
            assert_eq!(password(&cfg).unwrap().as_deref(), Some(want), "{case}");
            let p = new(cfg).unwrap();
            let login = p.options.credentials().unwrap();
            assert_eq!((login.username.as_str(), login.password.as_str()), ("u", want), "{case}");
        }
    }

    #[test]
    fn options_follow_the_config() {
        let cfg = MqttConfig {
            keep_alive: Duration::from_millis(1500),
            max_inflight: 7,
            ..mqtt_config("broker.local", 1884)
        };
        let p = new(cfg).unwrap();
        assert_eq!(p.options.keep_alive(), Duration::from_secs(2));
        assert_eq!(p.options.inflight(), 7);
        assert!(p.options.clean_session());
        assert_eq!(p.options.broker_address(), ("broker.local".to_string(), 1884));
        let will = p.options.last_will().unwrap();
        assert_eq!(
            (will.topic.as_str(), &will.message[..], will.qos, will.retain),
            ("edgeproof/gw-test/status", &b"offline"[..], QoS::AtLeastOnce, true)
        );
        assert_eq!(p.broker.addr, "broker.local:1884");
    }

    #[test]
    fn keep_alive_rounds_into_mqtt_range() {
        let cases = [
            ("sub-second rounds up", Duration::from_millis(500), 1),
            ("whole seconds kept", Duration::from_secs(30), 30),
            ("fraction rounds up", Duration::from_millis(30_001), 31),
            ("above u16 clamps", Duration::from_secs(100_000), 65_535),
        ];
        for (case, d, secs) in cases {
            assert_eq!(keep_alive(d), Duration::from_secs(secs), "{case}");
        }
    }

    #[test]
    fn ipv6_broker_address_bracketed() {
        assert_eq!(broker_addr("::1", 1883), "[::1]:1883");
        assert_eq!(broker_addr("10.0.0.1", 1883), "10.0.0.1:1883");
    }
}
