//! The evidence lane of one connection: stored evidence records to `<prefix>/evidence` in seq
//! order, the latest checkpoint to `<prefix>/checkpoint` (retained), and their PUBACKs back to
//! the recorder's store.
//!
//! Records share the connection's window (`max_inflight`) with data and go first: there are
//! few of them and a reviewer wants them promptly. Like data, every record not acknowledged
//! when the connection ends is read again on the next one (at least once; receivers
//! de-duplicate by the record's `seq`). A checkpoint is published after each connect and each
//! time the recorder signs a new one; only the latest matters, as it is retained.

use std::sync::Arc;

use rumqttc::QoS;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Connection, READ_CHUNK, READ_RETRY};
use crate::publish::backlog::Backlog;
use crate::publish::evidence::{CheckpointNote, EvidenceEntry, EvidenceFeed};
use crate::publish::inflight::Tag;

/// Per-connection state of the evidence lane.
pub(super) struct EvidenceLane {
    feed: Arc<dyn EvidenceFeed>,
    /// Highest evidence seq handed to the client on this connection.
    cursor: Option<u64>,
    /// The last read returned every stored record; wait for `appended`.
    pub(super) caught_up: bool,
    pub(super) appended: watch::Receiver<u64>,
    pub(super) appended_open: bool,
    pub(super) checkpoint: watch::Receiver<Option<Arc<CheckpointNote>>>,
    pub(super) checkpoint_open: bool,
    /// A checkpoint newer than the last one queued is waiting for room in the window.
    checkpoint_due: bool,
    /// The checkpoint last queued on this connection (a cosigned re-issue of the same size
    /// differs in its text and is published again).
    checkpoint_queued: Option<Arc<CheckpointNote>>,
    /// That checkpoint waits for its PUBACK.
    checkpoint_in_flight: bool,
    pub(super) read_retry_at: Option<Instant>,
    read_failing: bool,
    /// Records whose PUBACK arrived and that the store has not been told about yet.
    pub(super) pending_acks: Vec<u64>,
}

impl EvidenceLane {
    pub(super) fn new(feed: Arc<dyn EvidenceFeed>) -> Self {
        let appended = feed.appended();
        let checkpoint = feed.checkpoint();
        EvidenceLane {
            feed,
            cursor: None,
            caught_up: false,
            appended,
            appended_open: true,
            checkpoint,
            checkpoint_open: true,
            // A fresh connection publishes the latest checkpoint once.
            checkpoint_due: true,
            checkpoint_queued: None,
            checkpoint_in_flight: false,
            read_retry_at: None,
            read_failing: false,
            pending_acks: Vec::new(),
        }
    }

    /// Something is still unacknowledged that shutdown should wait for.
    pub(super) fn checkpoint_in_flight(&self) -> bool {
        self.checkpoint_in_flight
    }

    /// The recorder signed a new checkpoint.
    pub(super) fn on_checkpoint_changed(&mut self) {
        self.checkpoint_due = true;
    }

    /// PUBACK of a checkpoint.
    pub(super) fn on_checkpoint_acked(&mut self, size: u64) {
        if self.checkpoint_queued.as_ref().is_some_and(|q| q.size == size) {
            self.checkpoint_in_flight = false;
        }
    }
}

impl<B: Backlog> Connection<'_, B> {
    /// Hands stored evidence records to the client while the window has room, then the
    /// latest checkpoint if it has not been queued on this connection.
    pub(super) async fn fill_evidence(&mut self) -> Result<(), String> {
        let Some(lane) = self.evidence.as_mut() else { return Ok(()) };
        if lane.read_retry_at.is_some() {
            return Ok(());
        }
        let feed = Arc::clone(&lane.feed);
        while !self.evidence.as_ref().is_some_and(|l| l.caught_up)
            && self.inflight.len() < self.p.max_inflight
        {
            let limit = (self.p.max_inflight - self.inflight.len()).min(READ_CHUNK);
            let Some(lane) = self.evidence.as_mut() else { return Ok(()) };
            // Seen BEFORE reading, so an append during the read wakes `changed()`.
            lane.appended.borrow_and_update();
            let entries = match feed.read_unpublished(lane.cursor, limit).await {
                Ok(entries) => entries,
                Err(e) => {
                    if !lane.read_failing {
                        tracing::warn!(
                            after = ?lane.cursor,
                            error = %e,
                            "cannot read stored evidence for publishing; retrying every \
                             {READ_RETRY:?}"
                        );
                    }
                    lane.read_failing = true;
                    lane.read_retry_at = Some(Instant::now() + READ_RETRY);
                    return Ok(());
                }
            };
            if lane.read_failing {
                tracing::info!("reading stored evidence for publishing works again");
                lane.read_failing = false;
            }
            let got = entries.len();
            for entry in entries {
                self.publish_evidence(entry)?;
            }
            if got < limit {
                if let Some(lane) = self.evidence.as_mut() {
                    lane.caught_up = true;
                }
            }
        }
        self.publish_checkpoint()
    }

    fn publish_evidence(&mut self, entry: EvidenceEntry) -> Result<(), String> {
        let Some(lane) = self.evidence.as_ref() else { return Ok(()) };
        if lane.cursor.is_some_and(|c| entry.seq <= c) {
            tracing::warn!(
                seq = entry.seq,
                after = ?lane.cursor,
                "evidence store returned a record out of order; skipped on this connection"
            );
            return Ok(());
        }
        let topic = self.p.topics.evidence();
        if let Err(e) = self.client.try_publish(topic, QoS::AtLeastOnce, false, entry.payload) {
            tracing::debug!(seq = entry.seq, error = %e, "MQTT client refused an evidence record");
            return Err(self.client_gone());
        }
        self.note_queue();
        self.inflight.queue(Tag::Evidence(entry.seq));
        if let Some(lane) = self.evidence.as_mut() {
            lane.cursor = Some(entry.seq);
        }
        Ok(())
    }

    /// Queues the latest checkpoint (retained) if it is newer than the one queued on this
    /// connection and the window has room; otherwise it stays due.
    fn publish_checkpoint(&mut self) -> Result<(), String> {
        let Some(lane) = self.evidence.as_mut() else { return Ok(()) };
        if !lane.checkpoint_due || self.inflight.len() >= self.p.max_inflight {
            return Ok(());
        }
        lane.checkpoint_due = false;
        let Some(note) = lane.checkpoint.borrow_and_update().clone() else { return Ok(()) };
        if lane.checkpoint_queued.as_ref().is_some_and(|q| **q == *note) {
            return Ok(());
        }
        let topic = self.p.topics.checkpoint();
        if let Err(e) =
            self.client.try_publish(topic, QoS::AtLeastOnce, true, note.text.clone().into_bytes())
        {
            tracing::debug!(size = note.size, error = %e, "MQTT client refused a checkpoint");
            return Err(self.client_gone());
        }
        self.note_queue();
        self.inflight.queue(Tag::Checkpoint(note.size));
        if let Some(lane) = self.evidence.as_mut() {
            lane.checkpoint_queued = Some(note.clone());
            lane.checkpoint_in_flight = true;
        }
        Ok(())
    }

    /// Tells the store which records the broker acknowledged.
    pub(super) async fn flush_evidence_acks(&mut self) {
        let Some(lane) = self.evidence.as_mut() else { return };
        if lane.pending_acks.is_empty() {
            return;
        }
        let seqs = std::mem::take(&mut lane.pending_acks);
        let (n, first, last) = (seqs.len(), seqs.first().copied(), seqs.last().copied());
        if let Err(e) = lane.feed.ack(seqs).await {
            // Not lost: the records stay unpublished in the store and are sent again.
            tracing::warn!(
                records = n,
                first_seq = first,
                last_seq = last,
                error = %e,
                "the evidence store could not mark acknowledged records; they will be sent again"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
    use tokio::sync::watch;
    use tokio::task::JoinHandle;
    use tokio_util::sync::CancellationToken;

    use crate::publish::backlog::MemoryBacklog;
    use crate::publish::broker_tests::{batch, free_port, wait_for, Mosquitto};
    use crate::publish::evidence::MemoryEvidence;
    use crate::publish::tls::tests::mqtt_config;
    use crate::publish::{PublishCounters, Publisher};

    const WAIT: Duration = Duration::from_secs(30);

    /// (topic, payload, retain) of every message under `edgeproof/gw-test/#`.
    type Seen = Arc<Mutex<Vec<(String, Vec<u8>, bool)>>>;

    async fn subscribe(port: u16) -> (Seen, JoinHandle<()>) {
        let opts = MqttOptions::new(format!("ev-sub-{}", fastrand::u32(..)), "127.0.0.1", port);
        let (client, mut eventloop) = AsyncClient::new(opts, 10);
        let seen = Seen::default();
        let (ready_tx, mut ready) = watch::channel(false);
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        client.try_subscribe("edgeproof/gw-test/#", QoS::AtLeastOnce).unwrap();
                    }
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        ready_tx.send_replace(true);
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        sink.lock().unwrap().push((p.topic.clone(), p.payload.to_vec(), p.retain))
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(WAIT, ready.wait_for(|r| *r)).await.unwrap().unwrap();
        (seen, task)
    }

    fn on(seen: &Seen, topic: &str) -> Vec<(Vec<u8>, bool)> {
        let topic = format!("edgeproof/gw-test/{topic}");
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(t, _, _)| *t == topic)
            .map(|(_, p, r)| (p.clone(), *r))
            .collect()
    }

    fn records(seen: &Seen) -> Vec<String> {
        on(seen, "evidence").into_iter().map(|(p, _)| String::from_utf8(p).unwrap()).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn evidence_records_in_order_checkpoint_retained_and_shutdown_sweep() {
        let port = free_port();
        let _broker = Mosquitto::plain(port).await;
        let (seen, sub) = subscribe(port).await;

        let backlog = MemoryBacklog::new();
        for i in 0..5 {
            backlog.push(batch("press-01", i));
        }
        let evidence = MemoryEvidence::new();
        for i in 0..3 {
            evidence.push(format!("record {i}").as_bytes());
        }
        evidence.set_checkpoint(3, "checkpoint 3\n");

        let cancel = CancellationToken::new();
        let publisher = Publisher::new(
            mqtt_config("127.0.0.1", port),
            "gw-test".into(),
            backlog.clone(),
            Arc::new(PublishCounters::new()),
        )
        .unwrap()
        .with_evidence(Arc::new(evidence.clone()));
        let task = tokio::spawn(publisher.run(cancel.clone()));

        let want = |n: u64| (0..n).map(|i| format!("record {i}")).collect::<Vec<_>>();
        wait_for("first records and checkpoint", || async {
            records(&seen) == want(3) && !on(&seen, "checkpoint").is_empty()
        })
        .await;
        wait_for("data beside evidence", || async { backlog.pending().is_empty() }).await;

        // Appended while connected: woken by the store's watch, in order.
        evidence.push(b"record 3");
        evidence.push(b"record 4");
        evidence.set_checkpoint(5, "checkpoint 5\n");
        wait_for("records appended later", || async { records(&seen) == want(5) }).await;
        wait_for("the newer checkpoint", || async {
            on(&seen, "checkpoint").last().is_some_and(|(p, _)| p == b"checkpoint 5\n")
        })
        .await;

        // The same checkpoint again with a witness's cosignature line: published again.
        evidence.set_checkpoint(5, "checkpoint 5\n— witness cosignature\n");
        wait_for("the cosigned re-issue of the same size", || async {
            on(&seen, "checkpoint")
                .last()
                .is_some_and(|(p, _)| p == "checkpoint 5\n— witness cosignature\n".as_bytes())
        })
        .await;

        // The recorder's last record and checkpoint land just before the stop: the final
        // sweep publishes them and waits for their PUBACKs.
        evidence.push(b"record 5");
        evidence.set_checkpoint(6, "checkpoint 6\n");
        cancel.cancel();
        tokio::time::timeout(WAIT, task).await.expect("publisher stops").unwrap();
        wait_for("the shutdown record", || async { records(&seen) == want(6) }).await;
        let mut acked = evidence.acked();
        acked.sort_unstable();
        assert_eq!(acked, (0..6).collect::<Vec<u64>>(), "each record acknowledged");
        sub.abort();

        // A reviewer's collector connecting later gets the latest checkpoint, retained.
        let (late, late_sub) = subscribe(port).await;
        wait_for("retained checkpoint", || async {
            on(&late, "checkpoint") == vec![(b"checkpoint 6\n".to_vec(), true)]
        })
        .await;
        assert!(records(&late).is_empty(), "records are not retained");
        late_sub.abort();
    }
}
