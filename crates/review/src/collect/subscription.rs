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
//!
//! # Flow control
//!
//! Memory is bounded by a budget of bytes ([`Budget`]), not by the broker: a broker resuming
//! a session releases its whole queue, far beyond `max_inflight_messages`. Each received
//! message takes its [`cost`] from the budget and gives it back when its acknowledgement is
//! queued, after its batch committed. When the budget is spent, the pump stops polling the
//! connection: the socket's buffers fill, TCP flow control stops the broker, and the broker
//! keeps the rest of the backlog. Acknowledgements never wait on that: the commit stage hands
//! them to the pump over an unbounded channel (at most one per message in the budget), and
//! the pump writes them to the connection itself, between polls, instead of queueing them as
//! client requests: the event loop reads up to ten packets per poll but writes one request,
//! so queued acks fell behind a backlog and piled up (~20 MiB after 300,000 messages). Acks
//! that cannot be written (no connection) wait in the event loop's pending requests, which
//! it sends first after reconnecting to the same session. So a full pipeline can deadlock
//! neither on its own acknowledgements nor grow with them.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, Event, EventLoop, Incoming, MqttOptions, Packet, PubAck, PubRec, Publish, QoS,
    Request, TlsConfiguration, Transport,
};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
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
    // Only subscriptions and the final DISCONNECT go through the client: acknowledgements
    // go straight into the event loop's pending requests (see the module docs).
    Ok(AsyncClient::new(o, 64))
}

/// Bytes a message holds while in the pipeline: its payload twice (as received, and as the
/// canonical record verified from it), its topic, and the bookkeeping around them.
pub fn cost(p: &Publish) -> usize {
    2 * p.payload.len() + p.topic.len() + 512
}

/// The bytes all received, not yet acknowledged messages may hold together.
#[derive(Clone, Debug)]
pub struct Budget {
    permits: Arc<Semaphore>,
    bytes: usize,
}

impl Budget {
    /// A budget of `bytes` (at least 64 KiB).
    pub fn new(bytes: usize) -> Budget {
        let bytes = bytes.clamp(64 << 10, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        Budget { permits: Arc::new(Semaphore::new(bytes)), bytes }
    }

    /// Bytes not taken now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// `p`'s share, capped at the whole budget (one message larger than it still passes,
    /// alone).
    fn share(&self, p: &Publish) -> u32 {
        cost(p).min(self.bytes) as u32
    }
}

/// A received message with its share of the [`Budget`], given back when this drops (after
/// its acknowledgement was queued).
#[derive(Debug)]
pub struct Delivery {
    /// The message.
    pub publish: Publish,
    _share: OwnedSemaphorePermit,
}

/// What acknowledges a delivered message (none for QoS 0), for [`pump`].
pub fn ack_for(p: &Publish) -> Option<Packet> {
    match p.qos {
        QoS::AtMostOnce => None,
        QoS::AtLeastOnce => Some(Packet::PubAck(PubAck::new(p.pkid))),
        QoS::ExactlyOnce => Some(Packet::PubRec(PubRec::new(p.pkid))),
    }
}

/// Longest a batch of acknowledgements may take to write before it is left to the event loop.
const ACK_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes `first` and every acknowledgement already waiting on `acks` to the connection, one
/// flush for all. Without a connection, or if writing fails, they go to the event loop's
/// pending requests instead (sent first after a reconnect to the same session; a PUBACK that
/// was written and is sent again names a packet id the broker no longer holds, which it
/// ignores).
async fn write_acks(
    eventloop: &mut EventLoop,
    first: Packet,
    acks: &mut mpsc::UnboundedReceiver<Packet>,
) {
    let mut batch = vec![first];
    while let Ok(a) = acks.try_recv() {
        batch.push(a);
    }
    if let Some(net) = eventloop.network.as_mut() {
        let written = tokio::time::timeout(ACK_WRITE_TIMEOUT, async {
            for a in &batch {
                net.write(a.clone()).await?;
            }
            net.flush().await
        })
        .await;
        if matches!(written, Ok(Ok(()))) {
            return;
        }
        tracing::debug!(acks = batch.len(), "cannot write acknowledgements now; left pending");
    }
    queue_acks(eventloop, batch);
}

/// Puts acknowledgements into the event loop's pending requests.
fn queue_acks(eventloop: &mut EventLoop, acks: impl IntoIterator<Item = Packet>) {
    for a in acks {
        match a {
            Packet::PubAck(p) => eventloop.pending.push_back(Request::PubAck(p)),
            Packet::PubRec(p) => eventloop.pending.push_back(Request::PubRec(p)),
            _ => {}
        }
    }
}

/// Polls the event loop until `cancel`: subscribes after every connect, hands each received
/// publish to `out` once the [`Budget`] has room for it (not polling meanwhile), queues the
/// acknowledgements arriving on `acks`, reconnects after errors (1 s, doubling to 30 s).
/// Returns the event loop with every acknowledgement received so far queued, for [`finish`].
pub async fn pump(
    opts: Arc<CollectOptions>,
    client: AsyncClient,
    mut eventloop: EventLoop,
    budget: Budget,
    out: mpsc::UnboundedSender<Delivery>,
    mut acks: mpsc::UnboundedReceiver<Packet>,
    cancel: CancellationToken,
) -> EventLoop {
    let broker = format!("{}:{}", opts.mqtt.host, opts.mqtt.port);
    let mut delay = Duration::from_secs(1);
    let mut failing = false;
    // Stopping: what was acknowledged goes out with the DISCONNECT ([`finish`]).
    let stop = |mut eventloop: EventLoop, acks: &mut mpsc::UnboundedReceiver<Packet>| {
        let mut rest = Vec::new();
        while let Ok(a) = acks.try_recv() {
            rest.push(a);
        }
        queue_acks(&mut eventloop, rest);
        eventloop
    };
    loop {
        let event = tokio::select! {
            biased;
            () = cancel.cancelled() => return stop(eventloop, &mut acks),
            Some(a) = acks.recv() => {
                write_acks(&mut eventloop, a, &mut acks).await;
                continue;
            }
            e = eventloop.poll() => e,
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
                let n = budget.share(&p);
                let share = match budget.permits.clone().try_acquire_many_owned(n) {
                    Ok(s) => s,
                    Err(_) => {
                        // The pipeline holds the whole budget: stop reading until a batch
                        // commits and gives some back (see the module docs).
                        tracing::debug!(bytes = n, "collector queue full; pausing reads");
                        loop {
                            tokio::select! {
                                biased;
                                () = cancel.cancelled() => return stop(eventloop, &mut acks),
                                Some(a) = acks.recv() => write_acks(&mut eventloop, a, &mut acks).await,
                                s = budget.permits.clone().acquire_many_owned(n) => match s {
                                    Ok(s) => break s,
                                    Err(_) => return stop(eventloop, &mut acks),
                                },
                            }
                        }
                    }
                };
                if out.send(Delivery { publish: p, _share: share }).is_err() {
                    return stop(eventloop, &mut acks);
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
                    () = cancel.cancelled() => return stop(eventloop, &mut acks),
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
