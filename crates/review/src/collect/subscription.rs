//! The MQTT side: one persistent session (clean session off, fixed client id) holding the
//! shared subscriptions, QoS 1, acknowledgements sent by hand only after the archive
//! committed the message (`set_manual_acks`).
//!
//! Why this is at-least-once and loses nothing: the broker keeps every QoS 1 message it sent
//! us in our session until our PUBACK. We send that PUBACK only after the transaction storing
//! the message (or its anomaly) committed. If the collector or the connection dies in
//! between, the broker resends the message on the next connection of this client id with the
//! same packet id (MQTT 3.1.1 §4.4), and the archive treats the copy as a duplicate. A PUBACK
//! for a packet id of an earlier connection therefore still names the same message. A
//! collector that never comes back leaves its unacknowledged messages in its session: start
//! it again with the same `--client-id`.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, Event, EventLoop, Incoming, MqttOptions, Publish, QoS, TlsConfiguration, Transport,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::options::CollectOptions;
use edgeproof::publish::tls;
use edgeproof::publish::PublishError;

/// Largest message accepted (a record of 1,000 devices is ~600 KB).
const MAX_PACKET: usize = 16 << 20;

/// Builds the client and its event loop.
pub fn connect(opts: &CollectOptions) -> Result<(AsyncClient, EventLoop), PublishError> {
    let m = &opts.mqtt;
    let mut o = MqttOptions::new(m.client_id.clone(), m.host.clone(), m.port);
    o.set_keep_alive(m.keep_alive)
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET);
    if let Some(user) = &m.username {
        let password = edgeproof::publish::publisher::password(m)?;
        o.set_credentials(user.clone(), password.unwrap_or_default());
    }
    if m.tls {
        let config = tls::client_config(m)?;
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
    }
    // Room for a whole broker window of incoming messages plus their acks.
    Ok(AsyncClient::new(o, 4 * opts.batch.max(64)))
}

/// Polls the event loop until `cancel`: subscribes after every connect, hands each received
/// publish to `out`, reconnects after errors (1 s, doubling to 30 s). Returns the event loop,
/// for [`finish`].
pub async fn pump(
    opts: Arc<CollectOptions>,
    client: AsyncClient,
    mut eventloop: EventLoop,
    out: mpsc::UnboundedSender<Publish>,
    cancel: CancellationToken,
) -> EventLoop {
    let broker = format!("{}:{}", opts.mqtt.host, opts.mqtt.port);
    let mut delay = Duration::from_secs(1);
    let mut failing = false;
    loop {
        let event = tokio::select! {
            e = eventloop.poll() => e,
            () = cancel.cancelled() => return eventloop,
        };
        match event {
            Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                delay = Duration::from_secs(1);
                failing = false;
                tracing::info!(broker, client_id = %opts.mqtt.client_id, session_present = ack.session_present, "collector connected");
                for f in opts.filters() {
                    if let Err(e) = client.try_subscribe(f.clone(), QoS::AtLeastOnce) {
                        tracing::warn!(filter = f, error = %e, "cannot subscribe");
                    }
                }
            }
            Ok(Event::Incoming(Incoming::SubAck(s))) => {
                tracing::info!(codes = ?s.return_codes, filters = ?opts.filters(), "collector subscribed");
            }
            Ok(Event::Incoming(Incoming::Publish(p))) => {
                // Never wait here: this loop also writes our PUBACKs. Memory is bounded by the
                // broker's window of unacknowledged messages (`max_inflight_messages`).
                if out.send(p).is_err() {
                    return eventloop;
                }
            }
            Ok(_) => {}
            Err(e) => {
                if !failing {
                    tracing::warn!(broker, error = %e, "collector lost the broker; reconnecting with backoff");
                }
                failing = true;
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = cancel.cancelled() => return eventloop,
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// After the last acks were queued: disconnects and keeps polling until the queued acks and
/// the DISCONNECT are written, or `limit` passes.
pub async fn finish(client: AsyncClient, mut eventloop: EventLoop, limit: Duration) {
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(limit, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}
