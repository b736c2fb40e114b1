//! The collector's pipeline: received messages → batches (up to `batch` messages or
//! `linger` after the first) → verification on every core → one archive transaction →
//! PUBACKs. Verification of the next batch overlaps the commit of the previous one. What the
//! stages hold together is bounded by the byte budget of [`subscription::Budget`]
//! (`--max-pending`): the MQTT side stops reading while it is spent.
//!
//! A commit that fails (database down) is retried with backoff, holding the pipeline: no
//! message is acknowledged before its batch is stored, so the broker keeps the rest. While
//! stopping, a failing batch is left to the broker instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::Packet;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::arrival::{verify_message, Keys};
use super::counters::CollectCounters;
use super::options::CollectOptions;
use super::subscription::{self, ack_for, Budget, Delivery};
use crate::archive::{AnomalyKind, Archive, ArchiveError, Arrival};
use edgeproof_evidence::cosignature::WitnessKey;
use edgeproof_evidence::keys::PublicKey;

/// Why the collector stopped.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Bad options.
    #[error(transparent)]
    Options(#[from] super::options::OptionsError),
    /// The MQTT client could not be set up (TLS files).
    #[error(transparent)]
    Mqtt(#[from] edgeproof::publish::PublishError),
    /// The archive failed at start.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

/// Least time between two reloads of the registered keys.
const KEY_RELOAD: Duration = Duration::from_millis(200);

/// Loads the registered gateways (by topic prefix) and witnesses, plus the witnesses given
/// on the command line; a registration whose key does not parse is skipped and logged.
pub async fn load_keys(archive: &Archive, witnesses: &[WitnessKey]) -> Result<Keys, ArchiveError> {
    let mut keys = Keys::default();
    for r in archive.registrations().await? {
        match PublicKey::parse(&r.public_key, &format!("gateway {}", r.gateway)) {
            Ok(k) => keys.insert_at(r.topic_prefix, r.origin, r.gateway, k),
            Err(e) => {
                tracing::error!(gateway = r.gateway, error = %e, "registered key unusable; its evidence counts as unknown")
            }
        }
    }
    for w in witnesses {
        keys.add_witness(w.clone());
    }
    for vkey in archive.witnesses().await? {
        match WitnessKey::parse(&vkey, "registered witness") {
            Ok(w) => keys.add_witness(w),
            Err(e) => {
                tracing::error!(error = %e, "registered witness key unusable; its cosignatures count as unverified")
            }
        }
    }
    Ok(keys)
}

/// Runs the collector until `cancel`; then commits and acknowledges what it received, and
/// disconnects.
pub async fn run(
    opts: CollectOptions,
    archive: Archive,
    counters: Arc<CollectCounters>,
    cancel: CancellationToken,
) -> Result<(), CollectError> {
    opts.validate()?;
    let opts = Arc::new(opts);
    let keys = load_keys(&archive, &opts.witnesses).await?;
    tracing::info!(gateways = keys.len(), witnesses = keys.witnesses().len(), filters = ?opts.filters(), "collector starting");
    let (client, eventloop) = subscription::connect(&opts)?;
    // Both unbounded channels are bounded by the budget: a message enters only with its
    // share, and leaves it when acknowledged.
    let budget = Budget::new(opts.max_pending_bytes);
    let (msg_tx, msg_rx) = mpsc::unbounded_channel::<Delivery>();
    let (ack_tx, ack_rx) = mpsc::unbounded_channel::<Packet>();
    let (batch_tx, batch_rx) = mpsc::channel::<(Vec<Arrival>, Vec<Delivery>)>(1);

    let pump_cancel = CancellationToken::new();
    let pump = tokio::spawn(subscription::pump(
        opts.clone(),
        client.clone(),
        eventloop,
        budget,
        msg_tx,
        ack_rx,
        pump_cancel.clone(),
    ));
    let verifier = tokio::spawn(verify_stage(
        opts.clone(),
        archive.clone(),
        keys,
        msg_rx,
        batch_tx,
        counters.clone(),
        cancel.clone(),
    ));
    let committer =
        tokio::spawn(commit_stage(archive, ack_tx, batch_rx, counters.clone(), cancel.clone()));
    let report = tokio::spawn(report_totals(counters.clone(), cancel.clone()));

    let _ = verifier.await;
    let _ = committer.await;
    report.abort();
    // Every committed batch's PUBACKs are queued on the client: let the event loop write them
    // and a DISCONNECT.
    pump_cancel.cancel();
    if let Ok(eventloop) = pump.await {
        subscription::finish(client, eventloop, Duration::from_secs(5)).await;
    }
    tracing::info!(
        stored = CollectCounters::get(&counters.stored),
        duplicates = CollectCounters::get(&counters.duplicates),
        anomalies = CollectCounters::get(&counters.anomalies),
        "collector stopped"
    );
    Ok(())
}

async fn verify_stage(
    opts: Arc<CollectOptions>,
    archive: Archive,
    keys: Keys,
    mut rx: mpsc::UnboundedReceiver<Delivery>,
    tx: mpsc::Sender<(Vec<Arrival>, Vec<Delivery>)>,
    counters: Arc<CollectCounters>,
    cancel: CancellationToken,
) {
    let mut keys = Arc::new(keys);
    let mut refreshed: Option<Instant> = None;
    loop {
        let first = tokio::select! {
            m = rx.recv() => match m { Some(m) => m, None => return },
            () = cancel.cancelled() => return,
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + opts.linger;
        while batch.len() < opts.batch {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(m)) => batch.push(m),
                Ok(None) | Err(_) => break,
            }
        }
        counters.messages.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let shared = keys.clone();
        let verified = tokio::task::spawn_blocking(move || {
            let arrivals = verify_all(&batch, &shared);
            (batch, arrivals)
        })
        .await;
        let Ok((messages, mut arrivals)) = verified else {
            tracing::error!("a verification thread failed; the batch is left unacknowledged");
            continue;
        };
        // Evidence of a gateway registered after start: reload the keys (at most every
        // few hundred ms: the query is cheap) and verify those messages again.
        let unknown: Vec<usize> = arrivals
            .iter()
            .enumerate()
            .filter(
                |(_, a)| matches!(a, Arrival::Anomaly(x) if x.kind == AnomalyKind::UnknownGateway),
            )
            .map(|(i, _)| i)
            .collect();
        if !unknown.is_empty() && refreshed.is_none_or(|t| t.elapsed() > KEY_RELOAD) {
            refreshed = Some(Instant::now());
            match load_keys(&archive, &opts.witnesses).await {
                Ok(k) if k.len() != keys.len() || k.witnesses().len() != keys.witnesses().len() => {
                    tracing::info!(gateways = k.len(), "reloaded the registered gateways");
                    keys = Arc::new(k);
                    for i in unknown {
                        let p = &messages[i].publish;
                        arrivals[i] = verify_message(&p.topic, &p.payload, &keys);
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot reload gateway keys"),
            }
        }
        if tx.send((arrivals, messages)).await.is_err() {
            return;
        }
    }
}

/// Verifies messages on all cores, in order.
fn verify_all(messages: &[Delivery], keys: &Keys) -> Vec<Arrival> {
    let one = |d: &Delivery| verify_message(&d.publish.topic, &d.publish.payload, keys);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads == 1 || messages.len() < 32 {
        return messages.iter().map(one).collect();
    }
    let chunk = messages.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = messages
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(one).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

async fn commit_stage(
    archive: Archive,
    acks: mpsc::UnboundedSender<Packet>,
    mut rx: mpsc::Receiver<(Vec<Arrival>, Vec<Delivery>)>,
    counters: Arc<CollectCounters>,
    cancel: CancellationToken,
) {
    while let Some((arrivals, messages)) = rx.recv().await {
        if arrivals.len() != messages.len() {
            // Only a panicked verification thread can cause this; acknowledge nothing.
            tracing::error!("verification lost messages; the batch is left unacknowledged");
            continue;
        }
        let mut delay = Duration::from_millis(200);
        let outcome = loop {
            match archive.ingest(arrivals.clone()).await {
                Ok(o) => break o,
                Err(e) if cancel.is_cancelled() => {
                    // Stopping: leave the batch unacknowledged; the broker keeps it for the
                    // next start under this client id.
                    tracing::warn!(messages = messages.len(), error = %e, "cannot store a batch while stopping; left to the broker");
                    return;
                }
                Err(e) => {
                    counters.commit_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(messages = messages.len(), error = %e, "cannot store a batch; retrying in {delay:?}");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = cancel.cancelled() => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        };
        counters.add(&outcome);
        tracing::debug!(
            messages = messages.len(),
            stored = outcome.stored,
            duplicates = outcome.duplicates,
            anomalies = outcome.anomalies,
            missing = outcome.missing,
            "batch committed"
        );
        // Each message's budget share is given back as it drops, after its ack is queued.
        for d in messages {
            if let Some(ack) = ack_for(&d.publish) {
                if acks.send(ack).is_err() {
                    // The pump is gone (shutting down): the broker resends; they are duplicates.
                    break;
                }
            }
            counters.acked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// One info line a minute with the totals, while anything happens.
async fn report_totals(counters: Arc<CollectCounters>, cancel: CancellationToken) {
    let mut last = 0;
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
            () = cancel.cancelled() => return,
        }
        let n = CollectCounters::get(&counters.messages);
        if n != last {
            last = n;
            tracing::info!(
                messages = n,
                stored = CollectCounters::get(&counters.stored),
                duplicates = CollectCounters::get(&counters.duplicates),
                checkpoints = CollectCounters::get(&counters.checkpoints),
                anomalies = CollectCounters::get(&counters.anomalies),
                "collector totals"
            );
        }
    }
}
