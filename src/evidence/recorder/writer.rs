//! The recorder: continues the stored log at start (`enroll` on the first run, `boot`,
//! `config` when the device map changed, a checkpoint), then writes a `usage` record per
//! interval, `device` records as devices are identified, periodic checkpoints, and at a
//! clean stop the last `usage`, `shutdown` and a final checkpoint.
//!
//! Each record is signed ([`Chain::prepare`]), stored durably in the journal's evidence table,
//! and only then counted ([`Chain::commit`]) and announced to the publisher. A record that
//! cannot be stored is logged and lost; the chain stays where it was, so the next record
//! takes its seq and the log stays gap-free.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::anchoring::next_cosigned;
use super::anchors::Witnessing;
use super::bodies;
use super::checkpoints::CheckpointFile;
use super::clock;
use super::error::RecorderError;
use super::feed::RecorderFeed;
use super::interval::{Baseline, MAX_GRACE};
use super::replay::{LastRecord, LogState};
use crate::config::Config;
use crate::evidence::chain::Chain;
use crate::evidence::keys::GatewayKey;
use crate::evidence::merkle::Hash;
use crate::evidence::record::{Body, Shutdown, Stamp};
use crate::evidence::usage::UsageBook;
use crate::journal::{JournalCounters, JournalHandle};
use crate::model::now_ms;
use crate::publish::CheckpointNote;

/// `load_key` lives in `recorder::key`; this keeps `recorder::writer::load_key` working.
pub use super::key::load_key;

/// Records read per journal call while replaying.
const REPLAY_CHUNK: usize = 1024;

/// The running evidence log of this gateway.
pub struct Recorder {
    pub(super) key: GatewayKey,
    pub(super) chain: Chain,
    pub(super) journal: JournalHandle,
    pub(super) counters: Arc<JournalCounters>,
    pub(super) book: Arc<UsageBook>,
    pub(super) checkpoints: CheckpointFile,
    pub(super) appended: watch::Sender<u64>,
    pub(super) checkpoint: watch::Sender<Option<Arc<CheckpointNote>>>,
    pub(super) checkpoint_interval: Duration,
    pub(super) grace: Duration,
    pub(super) interval_start: Stamp,
    pub(super) interval_base: Baseline,
    pub(super) run_base: Baseline,
    /// Fingerprint last recorded per device.
    pub(super) recorded: HashMap<String, Hash>,
    /// `endpoint_local` per distinct endpoint, and when it was looked up.
    pub(super) local: HashMap<String, bool>,
    pub(super) local_at: Option<Instant>,
    pub(super) last_checkpoint: u64,
    /// The last record stored.
    pub(super) last: Option<LastRecord>,
    /// The stamp of the last record stored in this run, for the clock watch.
    pub(super) clock_ref: Option<Stamp>,
    /// Config hash and declared device ids last recorded.
    pub(super) config_hash: Hash,
    pub(super) declared: BTreeSet<String>,
    /// Witnessing, when witnesses are configured.
    pub(super) witnessing: Option<Witnessing>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("origin", &self.chain.origin())
            .field("next_seq", &self.chain.next_seq())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Continues the log stored in `journal` (or starts it): replays it, writes `enroll` on
    /// the first run, `boot`, `config` if the device map changed, and a checkpoint. Returns
    /// the recorder and the book the sources feed.
    pub async fn open(
        cfg: &Config,
        key: GatewayKey,
        journal: JournalHandle,
        counters: Arc<JournalCounters>,
        checkpoints: CheckpointFile,
    ) -> Result<(Recorder, Arc<UsageBook>), RecorderError> {
        let state = replay(&journal).await?;
        let origin = Chain::origin_for(&cfg.gateway.id);
        let public = key.public().to_base64();
        if let Some((o, gw, k)) = &state.enrolled {
            if *o != origin || *gw != cfg.gateway.id || *k != public {
                return Err(RecorderError::Mismatch {
                    enrolled: format!("{o} (gateway {gw}, key {k})"),
                    now: format!("{origin} (gateway {}, key {public})", cfg.gateway.id),
                });
            }
        }
        let mut chain = Chain::resume(origin, cfg.gateway.id.clone(), state.leaves.iter().copied());
        let n = state.max_boot_n + 1;
        chain.start_run(clock::boot_id(), n);

        let first_start = state.is_empty();
        // Hashing the executable takes a moment: before the first interval starts.
        let build = if first_start {
            tokio::task::spawn_blocking(bodies::build_id)
                .await
                .map_err(|e| RecorderError::Internal(format!("build id task: {e}")))?
        } else {
            String::new()
        };
        let start = clock::now();
        let snapshot = counters.snapshot();
        let book = Arc::new(UsageBook::new(cfg, cfg.evidence.interval, start.wall_ms));
        let (appended, _) = watch::channel(chain.next_seq());
        let (checkpoint, _) = watch::channel(None);
        let interval_ms = u64::try_from(cfg.evidence.interval.as_millis()).unwrap_or(u64::MAX);
        let mut r = Recorder {
            key,
            chain,
            journal,
            counters,
            book: book.clone(),
            checkpoints,
            appended,
            checkpoint,
            checkpoint_interval: cfg.evidence.checkpoint_interval,
            grace: MAX_GRACE.min(Duration::from_millis(interval_ms / 4)),
            interval_start: start,
            clock_ref: None,
            interval_base: Baseline::of(&snapshot),
            run_base: Baseline::of(&snapshot),
            recorded: state.fingerprints.clone(),
            local: HashMap::new(),
            local_at: None,
            last_checkpoint: 0,
            last: state.last,
            config_hash: bodies::config_hash(cfg),
            declared: bodies::declared_ids(cfg),
            witnessing: Witnessing::new(
                &cfg.evidence.witnesses,
                &state,
                CheckpointFile::cosignatures_in_dir(&cfg.gateway.data_dir),
            ),
        };
        if first_start {
            let enroll = bodies::enroll(cfg, &r.key.public(), &build);
            r.append(Body::Enroll(enroll)).await?;
        }
        let hash = bodies::config_hash(cfg);
        // The record before `boot`: the last stored one, or the enroll just written.
        let boot = bodies::boot(r.last, hash);
        let previous = boot.previous;
        r.append(Body::Boot(boot)).await?;
        r.record_step_while_stopped(state.last_clock.as_ref()).await?;
        if let Some(change) = bodies::config_change(&state, cfg, hash) {
            info!(added = ?change.added, removed = ?change.removed, "device map changed since the last start; recording it");
            r.append(Body::Config(change)).await?;
        }
        r.refresh_endpoints().await;
        r.checkpoint_now().await?;
        info!(
            origin = %r.chain.origin(),
            records = r.chain.next_seq(),
            start = n,
            previous_run = ?previous,
            key = %r.key.public().fingerprint(),
            "usage evidence log open"
        );
        Ok((r, book))
    }

    /// What the publisher drains.
    pub fn feed(&self) -> RecorderFeed {
        RecorderFeed {
            journal: self.journal.clone(),
            appended: self.appended.subscribe(),
            checkpoint: self.checkpoint.subscribe(),
        }
    }

    /// The book the sources feed.
    pub fn book(&self) -> &Arc<UsageBook> {
        &self.book
    }

    /// Records stored so far.
    pub fn records(&self) -> u64 {
        self.chain.next_seq()
    }

    /// Writes records until `cancel` fires; returns the recorder for [`Recorder::finish`].
    /// A config arriving on `configs` (a reload) is recorded as a `config` record when its
    /// device map differs.
    pub async fn run(
        mut self,
        cancel: CancellationToken,
        mut configs: mpsc::UnboundedReceiver<Config>,
    ) -> Recorder {
        let book = self.book.clone();
        let mut configs_open = true;
        let mut next_checkpoint = Instant::now() + self.checkpoint_interval;
        let mut cosigned = self.witnessing.as_mut().and_then(|w| w.rx.take());
        loop {
            let close_at = book.split_ms() + u64::try_from(self.grace.as_millis()).unwrap_or(0);
            let close_in = Duration::from_millis(close_at.saturating_sub(now_ms()));
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(close_in) => self.close_interval(false).await,
                _ = tokio::time::sleep(clock::WATCH_EVERY) => self.watch_clock().await,
                _ = tokio::time::sleep_until(next_checkpoint) => {
                    self.checkpoint_logged().await;
                    next_checkpoint = Instant::now() + self.checkpoint_interval;
                }
                _ = book.identity_changed().notified() => self.record_devices().await,
                Some(c) = next_cosigned(&mut cosigned) => self.cosigned(c).await,
                cfg = configs.recv(), if configs_open => match cfg {
                    Some(cfg) => self.config_changed(&cfg).await,
                    None => configs_open = false,
                },
            }
        }
        if let (Some(w), Some(rx)) = (self.witnessing.as_mut(), cosigned) {
            w.rx = Some(rx);
        }
        self
    }

    /// The clean stop: cosignatures still queued, the last (partial) interval, `shutdown`
    /// with this run's totals, and a final checkpoint. Call after the sources stopped and
    /// their last cycle was committed.
    pub async fn finish(mut self, reason: &str) {
        // Cosignatures that arrived after the loop ended are still anchored before `shutdown`.
        let mut pending = Vec::new();
        if let Some(rx) = self.witnessing.as_mut().and_then(|w| w.rx.as_mut()) {
            while let Ok(c) = rx.try_recv() {
                pending.push(c);
            }
        }
        for c in pending {
            self.cosigned(c).await;
        }
        self.record_devices().await;
        if now_ms() >= self.book.split_ms() {
            self.close_interval(false).await;
        }
        self.close_interval(true).await;
        let totals = self.run_base.totals_since(&self.counters.snapshot());
        self.append_logged(Body::Shutdown(Shutdown { reason: reason.to_string(), totals })).await;
        self.checkpoint_logged().await;
        info!(records = self.chain.next_seq(), "usage evidence log closed (shutdown recorded)");
    }

    /// Signs, stores and announces one record; `false` (logged) when it could not be stored.
    pub(super) async fn append_logged(&mut self, body: Body) -> bool {
        let typ = body.typ();
        match self.append(body).await {
            Ok(()) => true,
            Err(e) => {
                error!(seq = self.chain.next_seq(), typ = typ.as_str(), error = %e, "evidence record could not be stored; it is lost, the log stays gap-free");
                false
            }
        }
    }

    pub(super) async fn append(&mut self, body: Body) -> Result<(), RecorderError> {
        if !matches!(body, Body::Clock(_)) {
            Box::pin(self.watch_clock()).await;
        }
        let typ = body.typ();
        let t = clock::now();
        let prepared = self.chain.prepare(&self.key, t, body)?;
        let seq = prepared.record.record.seq;
        self.store_retrying(seq, &prepared.canonical).await?;
        self.chain.commit(&prepared)?;
        if let Some(w) = &self.witnessing {
            w.push(prepared.leaf);
        }
        self.last = Some(LastRecord { seq, typ, wall_ms: t.wall_ms });
        self.clock_ref = Some(t);
        self.appended.send_replace(self.chain.next_seq());
        Ok(())
    }

    pub(super) async fn checkpoint_logged(&mut self) {
        if let Err(e) = self.checkpoint_now().await {
            error!(error = %e, "checkpoint could not be stored; the next one covers these records");
        }
    }

    /// Signs a checkpoint over every record so far (unless one of that size exists), stores
    /// it, and hands it to the publisher.
    pub(super) async fn checkpoint_now(&mut self) -> Result<(), RecorderError> {
        let cp = self.chain.checkpoint();
        if cp.size == self.last_checkpoint {
            return Ok(());
        }
        let text = cp.sign(&self.key).to_text();
        let file = self.checkpoints.clone();
        let note = text.clone();
        tokio::task::spawn_blocking(move || file.append(&note))
            .await
            .map_err(|e| RecorderError::Internal(format!("checkpoint write task: {e}")))??;
        self.last_checkpoint = cp.size;
        self.checkpoint.send_replace(Some(Arc::new(CheckpointNote { size: cp.size, text })));
        Ok(())
    }
}

/// Reads the whole stored log back.
async fn replay(journal: &JournalHandle) -> Result<LogState, RecorderError> {
    let mut state = LogState::default();
    loop {
        let chunk = journal.read_evidence(state.len(), REPLAY_CHUNK).await?;
        let n = chunk.len();
        for e in chunk {
            state.push(e.seq, &e.payload)?;
        }
        if n < REPLAY_CHUNK {
            return Ok(state);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::Path;

    use super::*;
    use crate::evidence::bundle::{checkpoint_line, header_line, record_line, Header};
    use crate::evidence::canonical;
    use crate::evidence::record::{PreviousRun, SignedRecord, Usage};
    use crate::evidence::verify::{verify_bundle, VerifyOptions};
    use crate::journal::{HandleOptions, Journal, JournalOptions};
    use crate::model::{Batch, Sample, Value};

    pub(in crate::evidence::recorder) fn config(dir: &Path, extra: &str) -> Config {
        let text = format!(
            r#"
[gateway]
id = "gw-rec"
enterprise = "91440300MA5DEM0A0G"
project = "P-1"
data_dir = {dir:?}
[evidence]
interval = "1s"
[[devices]]
name = "press"
protocol = "modbus-tcp"
address = "127.0.0.1:1502"
  [[devices.points]]
  name = "rpm"
  area = "holding"
  address = 0
  type = "u16"
{extra}"#,
            dir = dir.display().to_string()
        );
        crate::config::load_str(Path::new("t.toml"), &text, false).unwrap()
    }

    pub(in crate::evidence::recorder) fn records(journal: &Path) -> Vec<SignedRecord> {
        let (j, _) = Journal::open(journal, JournalOptions::default()).unwrap();
        j.read_evidence(0, usize::MAX)
            .unwrap()
            .iter()
            .map(|e| SignedRecord::from_json(canonical::parse(&e.payload).unwrap()).unwrap())
            .collect()
    }

    pub(in crate::evidence::recorder) async fn open(
        cfg: &Config,
        handle: &JournalHandle,
    ) -> (Recorder, Arc<UsageBook>) {
        let key = GatewayKey::from_seed([9; 32]);
        Recorder::open(
            cfg,
            key,
            handle.clone(),
            handle.counters(),
            CheckpointFile::in_dir(&cfg.gateway.data_dir),
        )
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_continues_across_clean_and_unclean_stops_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite3");
        let cfg = config(dir.path(), "");
        let (journal, _) = Journal::open(&path, JournalOptions::default()).unwrap();
        let (handle, sender, thread) =
            JournalHandle::start(journal, HandleOptions::default()).unwrap();

        // Run 1: first start, two usage intervals with data, clean stop.
        let (rec, book) = open(&cfg, &handle).await;
        let mut appended = rec.appended.subscribe();
        let cancel = CancellationToken::new();
        let (_configs, inbox) = mpsc::unbounded_channel();
        let task = tokio::spawn(rec.run(cancel.clone(), inbox));
        book.on_identity("press", &crate::source::modbus::DeviceIdentity::Unsupported);
        for i in 0..3u64 {
            let batch = Batch {
                device: Arc::from("press"),
                ts_ms: now_ms(),
                samples: vec![Sample::good(Arc::from("rpm"), now_ms(), Value::UInt(i))],
            };
            book.on_batch(&batch);
            sender.try_send(batch).unwrap();
        }
        // enroll, boot, device and two usage records (in some order after boot).
        let want = 5;
        tokio::time::timeout(Duration::from_secs(20), appended.wait_for(|n| *n >= want))
            .await
            .unwrap()
            .unwrap();
        cancel.cancel();
        let rec = task.await.unwrap();
        rec.finish("SIGTERM").await;

        // Run 2: clean start, then "killed" (dropped without finish).
        let (rec, _) = open(&cfg, &handle).await;
        drop(rec);
        // Run 3: the device map changed.
        let cfg3 = config(dir.path(), "[[inventory]]\nname = \"lathe\"\n");
        let (rec, _) = open(&cfg3, &handle).await;
        rec.finish("SIGTERM").await;
        handle.shutdown().await.unwrap();
        thread.join().unwrap();

        let all = records(&path);
        let types: Vec<&str> = all.iter().map(|r| r.record.typ().as_str()).collect();
        assert_eq!(&types[..2], ["enroll", "boot"], "{types:?}");
        assert_eq!(types.iter().filter(|t| **t == "device").count(), 1, "{types:?}");
        let boots: Vec<(u64, PreviousRun)> = all
            .iter()
            .filter_map(|r| match &r.record.body {
                Body::Boot(b) => Some((r.record.boot.n, b.previous)),
                _ => None,
            })
            .collect();
        assert_eq!(
            boots,
            vec![(1, PreviousRun::None), (2, PreviousRun::Clean), (3, PreviousRun::Unclean)]
        );
        let change = all.iter().find_map(|r| match &r.record.body {
            Body::Config(c) => Some(c.clone()),
            _ => None,
        });
        assert_eq!(change.map(|c| (c.added, c.removed)), Some((vec!["lathe".into()], vec![])));
        let usage: Vec<&Usage> = all
            .iter()
            .filter_map(|r| match &r.record.body {
                Body::Usage(u) => Some(u),
                _ => None,
            })
            .collect();
        assert!(usage.len() >= 2, "{types:?}");
        let read: u64 = usage.iter().flat_map(|u| &u.devices).map(|d| d.points_read).sum();
        assert_eq!(read, 3, "every good sample counted once");
        assert!(usage.windows(2).all(|w| w[0].end.wall_ms <= w[1].start.wall_ms));
        assert_eq!(usage[0].end.wall_ms % 1000, 0, "interval ends on the wall-clock grid");
        assert!(usage[0].devices[0].endpoint_local, "127.0.0.1 is this machine");
        assert_eq!(types.last(), Some(&"shutdown"));

        // The stored log and checkpoints make a bundle that verifies.
        let key = GatewayKey::from_seed([9; 32]).public();
        let mut bundle = header_line(&Header {
            bundle: 1,
            origin: "edgeproof/gw-rec".into(),
            public_key: key.to_base64(),
        })
        .into_bytes();
        let (j, _) = Journal::open(&path, JournalOptions::default()).unwrap();
        for e in j.read_evidence(0, usize::MAX).unwrap() {
            bundle.extend(record_line(&e.payload));
        }
        let stored = CheckpointFile::in_dir(dir.path()).read().unwrap();
        assert_eq!(stored.notes.len(), 5, "one per start and one per clean stop");
        for note in &stored.notes {
            bundle.extend(checkpoint_line(note).into_bytes());
        }
        let verdict = verify_bundle(&bundle[..], &VerifyOptions::new(key)).unwrap();
        assert!(verdict.intact, "{:#?}", verdict.failed());
    }

    #[tokio::test]
    async fn a_log_enrolled_with_another_key_is_not_continued() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), "");
        let (journal, _) =
            Journal::open(dir.path().join("j.sqlite3"), JournalOptions::default()).unwrap();
        let (handle, _sender, thread) =
            JournalHandle::start(journal, HandleOptions::default()).unwrap();
        let (rec, _) = open(&cfg, &handle).await;
        drop(rec);
        let other = GatewayKey::from_seed([1; 32]);
        let err = Recorder::open(
            &cfg,
            other,
            handle.clone(),
            handle.counters(),
            CheckpointFile::in_dir(dir.path()),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, RecorderError::Mismatch { .. }), "{err}");
        handle.shutdown().await.unwrap();
        thread.join().unwrap();
    }
}
