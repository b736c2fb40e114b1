//! One broker connection, from CONNECT to its end: a fresh `AsyncClient` + `EventLoop`, the
//! `online` status, the journal drained through a window of `max_inflight` publishes, PUBACKs
//! turned into journal acks, and on cancellation the bounded drain, `offline` and DISCONNECT.
//!
//! The event loop runs in its own task and hands every event, in order, to this one over a
//! channel. `EventLoop::poll` is never cancelled half-way (it is not cancel-safe: a dropped
//! poll can lose a packet it already took out of rumqttc's state), and journal reads and acks
//! can await without stalling keep-alives. When the connection ends, the task, the client, the
//! event loop and the correlation state are all dropped together.

use std::future::pending;
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, Incoming, Outgoing, QoS};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

mod evidence;

use self::evidence::EvidenceLane;
use super::backlog::{Backlog, BacklogEntry};
use super::diagnose::describe;
use super::inflight::{Inflight, Released, Tag};
use super::link::{emit, LinkEvent, LinkLog};
use super::payload::{self, Presence};
use super::publisher::Publisher;

/// Entries read from the journal per call, at most.
pub(super) const READ_CHUNK: usize = 256;

/// Events handled before acks are flushed to the journal, at most.
const ACK_BURST: usize = 256;

/// Events buffered between the event-loop task and this one.
const EVENT_BUFFER: usize = 256;

/// Pause before reading again after the journal failed a read.
pub(super) const READ_RETRY: Duration = Duration::from_secs(1);

/// How often to look for new entries if the journal's commit watch is gone.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// On shutdown, how long the `offline` status and the DISCONNECT may take each.
const STATUS_GRACE: Duration = Duration::from_secs(2);

/// With messages in flight, a broker that sends no PUBACK for this long is treated as gone:
/// the connection is dropped and the entries are sent again on a new one. Without this, a
/// broker that silently lost a window of publishes would keep the connection alive (it still
/// answers pings) while nothing moves.
pub(super) const ACK_TIMEOUT: Duration = Duration::from_secs(60);

/// Room in the request channel beyond the window: `offline` and DISCONNECT, with spare.
const REQUEST_SLACK: usize = 8;

/// How a connection ended.
#[derive(Debug)]
pub(super) enum SessionEnd {
    /// The token fired; the shutdown sequence ran as far as the connection allowed.
    Cancelled,
    /// No CONNACK: the broker is down, refused us, or TLS failed.
    ConnectFailed(String),
    /// An established connection ended.
    Lost {
        /// One line: why.
        reason: String,
        /// How long it had been up.
        lasted: Duration,
    },
}

/// Runs one connection. Returns when it ends or `cancel` fires.
pub(super) async fn run_session<B: Backlog>(
    p: &Publisher<B>,
    cancel: &CancellationToken,
    link: &mut LinkLog,
) -> SessionEnd {
    let (client, eventloop) = AsyncClient::new(p.options.clone(), p.max_inflight + REQUEST_SLACK);
    let (tx, mut events) = mpsc::channel(EVENT_BUFFER);
    let _driver = AbortOnDrop(tokio::spawn(drive(eventloop, tx)));

    let first = tokio::select! {
        _ = cancel.cancelled() => return SessionEnd::Cancelled,
        event = events.recv() => event,
    };
    match first {
        Some(Ok(Event::Incoming(Incoming::ConnAck(_)))) => {}
        Some(Err(e)) => return SessionEnd::ConnectFailed(describe(&e, &p.broker)),
        Some(Ok(other)) => {
            return SessionEnd::ConnectFailed(format!(
                "broker {} sent {other:?} before CONNACK",
                p.broker.addr
            ))
        }
        None => {
            return SessionEnd::ConnectFailed(format!(
                "MQTT event loop for broker {} stopped before CONNACK",
                p.broker.addr
            ))
        }
    }
    let connected_at = Instant::now();
    p.counters.on_connected();
    emit(link.on(LinkEvent::Connected));

    let mut committed = p.backlog.committed();
    // `historical` boundary: everything committed before this connection came up is late.
    let live_from = *committed.borrow_and_update();
    let mut conn = Connection {
        p,
        client,
        events,
        committed,
        committed_open: true,
        inflight: Inflight::new(),
        cursor: None,
        caught_up: false,
        read_retry_at: None,
        read_failing: false,
        pending_acks: Vec::new(),
        live_from,
        disconnect_sent: false,
        last_progress: Instant::now(),
        evidence: p.evidence.clone().map(EvidenceLane::new),
    };
    let ended = conn.run(cancel).await;
    conn.flush_acks().await;
    let unacked = conn.inflight.reset();
    p.counters.on_disconnected();
    if !unacked.is_empty() {
        tracing::debug!(
            broker = %p.broker.addr,
            unacked = unacked.len(),
            oldest = unacked.iter().min(),
            "connection ended with messages unacknowledged; they stay in the journal and are \
             sent again"
        );
    }
    match ended {
        Ended::Cancelled => {
            tracing::info!(broker = %p.broker.addr, "disconnected from MQTT broker (shutdown)");
            SessionEnd::Cancelled
        }
        Ended::Lost(reason) => SessionEnd::Lost { reason, lasted: connected_at.elapsed() },
    }
}

/// Polls the event loop until it fails or the session is dropped, forwarding every event in
/// the order rumqttc produced it.
async fn drive(mut eventloop: EventLoop, tx: mpsc::Sender<Result<Event, ConnectionError>>) {
    loop {
        let event = eventloop.poll().await;
        let failed = event.is_err();
        // After an error rumqttc would reconnect on the next poll and replay its own copies of
        // in-flight publishes; we never poll again, the session makes a fresh client instead.
        if tx.send(event).await.is_err() || failed {
            return;
        }
    }
}

/// Aborts the event-loop task (closing the socket) when the session is dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum Ended {
    Cancelled,
    Lost(String),
}

/// Shutdown progress after the token fired.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// Waiting for data PUBACKs.
    Draining { until: Instant },
    /// `offline` queued, waiting for its PUBACK.
    Offline { until: Instant },
    /// DISCONNECT requested, waiting for it to be written.
    Disconnecting { until: Instant },
}

impl Stop {
    fn until(&self) -> Instant {
        match *self {
            Stop::Draining { until } | Stop::Offline { until } | Stop::Disconnecting { until } => {
                until
            }
        }
    }
}

struct Connection<'p, B> {
    p: &'p Publisher<B>,
    client: AsyncClient,
    events: mpsc::Receiver<Result<Event, ConnectionError>>,
    committed: watch::Receiver<u64>,
    committed_open: bool,
    inflight: Inflight,
    /// Highest seq handed to the client on this connection; reads continue after it.
    cursor: Option<u64>,
    /// The last read returned everything committed; wait for the commit watch.
    caught_up: bool,
    read_retry_at: Option<Instant>,
    read_failing: bool,
    /// Seqs whose PUBACK arrived and that the journal has not been told about yet.
    pending_acks: Vec<u64>,
    live_from: u64,
    disconnect_sent: bool,
    /// When a PUBACK last arrived, or the window last became non-empty.
    last_progress: Instant,
    /// Evidence records and checkpoints, when the agent writes evidence.
    evidence: Option<EvidenceLane>,
}

impl<B: Backlog> Connection<'_, B> {
    async fn run(&mut self, cancel: &CancellationToken) -> Ended {
        if let Err(reason) = self.publish_status(Presence::Online) {
            return Ended::Lost(reason);
        }
        let mut stop: Option<Stop> = None;
        loop {
            if stop.is_none() {
                if let Err(reason) = self.fill_evidence().await {
                    return Ended::Lost(reason);
                }
            }
            if stop.is_none() && !self.caught_up && self.read_retry_at.is_none() {
                if let Err(reason) = self.fill().await {
                    return Ended::Lost(reason);
                }
            }
            if let Some(s) = stop {
                match self.advance_stop(s).await {
                    Some(next) => stop = Some(next),
                    None => return Ended::Cancelled,
                }
            }

            let deadline = stop.map(|s| s.until());
            let ack_deadline =
                (!self.inflight.is_empty()).then(|| self.last_progress + self.p.ack_timeout);
            let waiting_for_commit = stop.is_none() && self.caught_up && self.committed_open;
            let lane = self.evidence.as_mut();
            let (ev_wait, cp_wait, ev_retry) = match &lane {
                Some(l) => (
                    stop.is_none() && l.caught_up && l.appended_open,
                    stop.is_none() && l.checkpoint_open,
                    l.read_retry_at.filter(|_| stop.is_none()),
                ),
                None => (false, false, None),
            };
            let (appended, checkpoint) = match lane {
                Some(l) => (Some(&mut l.appended), Some(&mut l.checkpoint)),
                None => (None, None),
            };
            tokio::select! {
                biased;
                _ = cancel.cancelled(), if stop.is_none() => {
                    tracing::info!(
                        broker = %self.p.broker.addr,
                        in_flight = self.inflight.data_len(),
                        timeout = ?self.p.drain_timeout,
                        "stopping the MQTT publisher: waiting for outstanding PUBACKs"
                    );
                    stop = Some(Stop::Draining { until: Instant::now() + self.p.drain_timeout });
                    // One last look for evidence: the recorder writes its `shutdown` record
                    // and final checkpoint just before the publisher is stopped.
                    if let Some(lane) = self.evidence.as_mut() {
                        lane.caught_up = false;
                        lane.read_retry_at = None;
                        lane.on_checkpoint_changed();
                    }
                    if let Err(reason) = self.fill_evidence().await {
                        tracing::debug!(reason, "connection ended while stopping");
                        return Ended::Cancelled;
                    }
                }
                event = self.events.recv() => {
                    let result = self.handle_burst(event);
                    self.flush_acks().await;
                    if let Err(reason) = result {
                        return match stop {
                            None => Ended::Lost(reason),
                            Some(_) => {
                                tracing::debug!(reason, "connection ended while stopping");
                                Ended::Cancelled
                            }
                        };
                    }
                }
                changed = self.committed.changed(), if waiting_for_commit => {
                    self.caught_up = false;
                    if changed.is_err() {
                        // The journal is shutting down; look now and then instead.
                        self.committed_open = false;
                    }
                }
                _ = sleep_opt(self.read_retry_at), if stop.is_none() => {
                    self.read_retry_at = None;
                }
                changed = changed_opt(appended), if ev_wait => {
                    if let Some(lane) = self.evidence.as_mut() {
                        lane.caught_up = false;
                        lane.appended_open = changed.is_ok();
                    }
                }
                changed = changed_opt(checkpoint), if cp_wait => {
                    if let Some(lane) = self.evidence.as_mut() {
                        lane.on_checkpoint_changed();
                        lane.checkpoint_open = changed.is_ok();
                    }
                }
                _ = sleep_opt(ev_retry) => {
                    if let Some(lane) = self.evidence.as_mut() {
                        lane.read_retry_at = None;
                    }
                }
                _ = sleep_opt(deadline) => {}
                _ = sleep_opt(ack_deadline) => {
                    let reason = format!(
                        "broker {} sent no PUBACK for {:?} with {} message(s) in flight",
                        self.p.broker.addr,
                        self.p.ack_timeout,
                        self.inflight.len()
                    );
                    return match stop {
                        None => Ended::Lost(reason),
                        Some(_) => Ended::Cancelled,
                    };
                }
            }
        }
    }

    /// One step of the shutdown sequence; `None` when it is complete.
    async fn advance_stop(&mut self, mut stop: Stop) -> Option<Stop> {
        loop {
            let now = Instant::now();
            stop = match stop {
                Stop::Draining { until } if !self.awaiting_acks() || now >= until => {
                    if self.awaiting_acks() {
                        tracing::warn!(
                            broker = %self.p.broker.addr,
                            unacked = self.inflight.data_len(),
                            unacked_evidence = self.inflight.evidence_len(),
                            "stopping before every PUBACK arrived; those messages stay in the \
                             journal and are sent again at the next start"
                        );
                    }
                    self.flush_acks().await;
                    if self.publish_status(Presence::Offline).is_err() {
                        return None;
                    }
                    Stop::Offline { until: now + STATUS_GRACE }
                }
                Stop::Offline { until }
                    if !self.inflight.status_pending(Presence::Offline) || now >= until =>
                {
                    if self.client.try_disconnect().is_err() {
                        return None;
                    }
                    Stop::Disconnecting { until: now + STATUS_GRACE }
                }
                Stop::Disconnecting { until } if self.disconnect_sent || now >= until => {
                    return None;
                }
                waiting => return Some(waiting),
            };
        }
    }

    /// Reads the journal and hands entries to the client while the window has room.
    async fn fill(&mut self) -> Result<(), String> {
        while self.inflight.len() < self.p.max_inflight {
            let limit = (self.p.max_inflight - self.inflight.len()).min(READ_CHUNK);
            // Mark the current commit as seen BEFORE reading: a commit that lands after the
            // read started then wakes `changed()`, so none is missed.
            let seen = *self.committed.borrow_and_update();
            let entries = match self.p.backlog.read_after(self.cursor, limit).await {
                Ok(entries) => entries,
                Err(e) => {
                    if !self.read_failing {
                        tracing::warn!(
                            after = ?self.cursor,
                            error = %e,
                            "cannot read the journal for publishing; retrying every {READ_RETRY:?}"
                        );
                    }
                    self.read_failing = true;
                    self.read_retry_at = Some(Instant::now() + READ_RETRY);
                    return Ok(());
                }
            };
            if self.read_failing {
                tracing::info!("reading the journal for publishing works again");
                self.read_failing = false;
            }
            let got = entries.len();
            for entry in entries {
                self.publish_entry(entry)?;
            }
            self.p.counters.set_in_flight(self.inflight.data_len());
            // A short read normally means everything committed has been read. It can also mean
            // the store skipped entries it could not decode; then, if entries up to the commit
            // we saw may still be behind the cursor, read once more (an empty read ends it).
            let reached_commit = self.cursor.is_some_and(|c| c >= seen);
            if got < limit && got > 0 && !reached_commit {
                continue;
            }
            if got < limit {
                if self.committed_open {
                    self.caught_up = true;
                } else {
                    self.read_retry_at = Some(Instant::now() + IDLE_POLL);
                }
                return Ok(());
            }
        }
        Ok(())
    }

    fn publish_entry(&mut self, entry: BacklogEntry) -> Result<(), String> {
        if self.cursor.is_some_and(|c| entry.seq <= c) {
            tracing::warn!(
                seq = entry.seq,
                after = ?self.cursor,
                "journal returned an entry out of order; skipped on this connection"
            );
            return Ok(());
        }
        let historical = entry.seq <= self.live_from;
        let body = payload::encode(&self.p.gateway_id, entry.seq, &entry.batch, historical);
        let bytes = body.len();
        let topic = self.p.topics.data(&entry.batch.device);
        if let Err(e) = self.client.try_publish(topic, QoS::AtLeastOnce, false, body) {
            tracing::debug!(seq = entry.seq, error = %e, "MQTT client refused a publish");
            return Err(self.client_gone());
        }
        self.note_queue();
        self.inflight.queue(Tag::Data(entry.seq));
        self.cursor = Some(entry.seq);
        self.p.counters.on_published(bytes);
        Ok(())
    }

    fn publish_status(&mut self, presence: Presence) -> Result<(), String> {
        let topic = self.p.topics.status();
        if let Err(e) = self.client.try_publish(topic, QoS::AtLeastOnce, true, presence.as_str()) {
            tracing::debug!(status = presence.as_str(), error = %e, "MQTT client refused a publish");
            return Err(self.client_gone());
        }
        self.note_queue();
        self.inflight.queue(Tag::Status(presence));
        Ok(())
    }

    /// Starts the PUBACK clock when the window goes from empty to non-empty.
    fn note_queue(&mut self) {
        if self.inflight.is_empty() {
            self.last_progress = Instant::now();
        }
    }

    /// The client refused a request: the event loop has ended. Handle what it left in the
    /// channel (PUBACKs still count) and report its error.
    fn client_gone(&mut self) -> String {
        while let Ok(event) = self.events.try_recv() {
            if let Err(reason) = self.handle(Some(event)) {
                return reason;
            }
        }
        format!("MQTT client for broker {} stopped accepting messages", self.p.broker.addr)
    }

    /// Handles `first` and whatever else is ready, up to [`ACK_BURST`] events, so acks reach
    /// the journal in batches.
    fn handle_burst(
        &mut self,
        first: Option<Result<Event, ConnectionError>>,
    ) -> Result<(), String> {
        let mut result = self.handle(first);
        let mut handled = 1;
        while result.is_ok() && handled < ACK_BURST {
            match self.events.try_recv() {
                Ok(event) => result = self.handle(Some(event)),
                Err(_) => break,
            }
            handled += 1;
        }
        self.p.counters.set_in_flight(self.inflight.data_len());
        result
    }

    /// One event from the event loop; `Err` ends the connection.
    fn handle(&mut self, event: Option<Result<Event, ConnectionError>>) -> Result<(), String> {
        match event {
            None => Err(format!("MQTT event loop for broker {} stopped", self.p.broker.addr)),
            Some(Err(e)) => Err(describe(&e, &self.p.broker)),
            Some(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => {
                match self.inflight.on_sent(pkid) {
                    Ok(tag) => {
                        tracing::trace!(pkid, ?tag, "PUBLISH sent");
                        Ok(())
                    }
                    Err(e) => Err(format!(
                        "{e}; dropping the connection to broker {} and resending from the \
                         journal",
                        self.p.broker.addr
                    )),
                }
            }
            Some(Ok(Event::Incoming(Incoming::PubAck(ack)))) => {
                let released = self.inflight.on_puback(ack.pkid);
                if released != Released::Unknown {
                    self.last_progress = Instant::now();
                }
                match released {
                    Released::Data(seq) => {
                        self.pending_acks.push(seq);
                        self.p.counters.on_acknowledged();
                    }
                    Released::Status(presence) => {
                        tracing::debug!(status = presence.as_str(), "status message acknowledged");
                    }
                    Released::Evidence(seq) => {
                        if let Some(lane) = self.evidence.as_mut() {
                            lane.pending_acks.push(seq);
                        }
                    }
                    Released::Checkpoint(size) => {
                        tracing::debug!(size, "checkpoint acknowledged");
                        if let Some(lane) = self.evidence.as_mut() {
                            lane.on_checkpoint_acked(size);
                        }
                    }
                    Released::Unknown => tracing::warn!(
                        broker = %self.p.broker.addr,
                        pkid = ack.pkid,
                        "PUBACK for a packet id that is not in flight on this connection; ignored"
                    ),
                }
                Ok(())
            }
            Some(Ok(Event::Outgoing(Outgoing::AwaitAck(pkid)))) => {
                tracing::debug!(
                    pkid,
                    "broker acknowledged out of order; the next publish waits for packet id \
                     {pkid} to be acknowledged"
                );
                Ok(())
            }
            Some(Ok(Event::Outgoing(Outgoing::Disconnect))) => {
                self.disconnect_sent = true;
                Ok(())
            }
            Some(Ok(_)) => Ok(()),
        }
    }

    /// Data or evidence still waits for a PUBACK (what shutdown drains).
    fn awaiting_acks(&self) -> bool {
        self.inflight.data_len() > 0
            || self.inflight.evidence_len() > 0
            || self.evidence.as_ref().is_some_and(EvidenceLane::checkpoint_in_flight)
    }

    /// Tells the journal (and the evidence store) which entries the broker acknowledged.
    async fn flush_acks(&mut self) {
        self.flush_evidence_acks().await;
        if self.pending_acks.is_empty() {
            return;
        }
        let seqs = std::mem::take(&mut self.pending_acks);
        let (n, first, last) = (seqs.len(), seqs.first().copied(), seqs.last().copied());
        if let Err(e) = self.p.backlog.ack(seqs).await {
            // Not lost: the entries stay in the journal and are published again (at least
            // once allows the duplicate).
            tracing::warn!(
                entries = n,
                first_seq = first,
                last_seq = last,
                error = %e,
                "the journal could not release acknowledged entries; they will be sent again"
            );
        }
    }
}

/// `changed()` of a watch that may be absent (then never ready).
async fn changed_opt<T>(
    rx: Option<&mut watch::Receiver<T>>,
) -> Result<(), watch::error::RecvError> {
    match rx {
        Some(rx) => rx.changed().await,
        None => pending().await,
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => pending().await,
    }
}
