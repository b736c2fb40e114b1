//! The recorder's witnessing hooks: starting the witness tasks, and what it does with a
//! cosignature that came back — stores the cosigned note, appends `anchor` records, and
//! re-publishes the checkpoint with the cosignature lines. (The pure parts are in
//! [`super::anchors`].)

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::anchors;
use super::error::RecorderError;
use super::witness::{spawn_witnesses, Cosigned, WitnessLinks};
use super::writer::Recorder;
use crate::evidence::record::Body;
use crate::metrics::Metrics;

impl Recorder {
    /// Starts submitting checkpoints to the configured witnesses (none: nothing happens);
    /// the tasks end with `cancel` or when the recorder is dropped. Call before [`Recorder::run`].
    pub fn spawn_witnesses(
        &self,
        metrics: &Metrics,
        cancel: &CancellationToken,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>, RecorderError> {
        let Some(w) = &self.witnessing else { return Ok(Vec::new()) };
        let links = WitnessLinks {
            tree: w.tree.clone(),
            checkpoint: self.checkpoint.subscribe(),
            cosigned: w.tx.clone(),
        };
        Ok(spawn_witnesses(&w.witnesses, &w.anchored, &links, metrics, cancel)?)
    }

    /// A witness cosigned a checkpoint: the cosigned note is stored (`cosignatures.jsonl`),
    /// an `anchor` record per cosignature commits it into the log, and the retained
    /// checkpoint is re-published with the cosignature lines while it is still the latest.
    pub(super) async fn cosigned(&mut self, c: Cosigned) {
        let Some(w) = &self.witnessing else { return };
        let file = w.file.clone();
        let note = c.note.clone();
        match tokio::task::spawn_blocking(move || file.append(&note)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error!(witness = %c.url, size = c.size, error = %e, "cosigned checkpoint could not be stored; it stays on the published checkpoint only")
            }
            Err(e) => error!(witness = %c.url, error = %e, "cosignature write task died"),
        }
        for anchor in anchors::anchors(&c) {
            info!(witness = %c.url, size = c.size, time = anchor.time, "recording witness cosignature (anchor)");
            self.append_logged(Body::Anchor(anchor)).await;
        }
        if let Some(w) = self.witnessing.as_mut() {
            let size = w.anchored.entry(c.witness.clone()).or_default();
            *size = (*size).max(c.size);
        }
        let current = self.checkpoint.borrow().clone();
        if let Some(merged) = current.and_then(|n| anchors::with_cosignatures(&n, &c)) {
            self.checkpoint.send_replace(Some(Arc::new(merged)));
        }
    }
}

/// The next cosignature from the witness tasks; never resolves without witnesses.
pub(super) async fn next_cosigned(
    rx: &mut Option<mpsc::UnboundedReceiver<Cosigned>>,
) -> Option<Cosigned> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::canonical;
    use crate::evidence::keys::GatewayKey;
    use crate::evidence::record::SignedRecord;
    use crate::evidence::recorder::checkpoints::CheckpointFile;
    use crate::evidence::recorder::writer::tests::{config, open};
    use crate::journal::{HandleOptions, Journal, JournalHandle, JournalOptions};

    #[tokio::test]
    async fn a_cosignature_is_stored_anchored_published_and_read_back_at_start() {
        use crate::evidence::cosignature::{cosign, verify_cosignatures, WitnessKey};
        use crate::evidence::note::SignedNote;
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path(), "");
        let wk = GatewayKey::from_seed([7; 32]);
        let key = WitnessKey { name: "w.example/1".into(), key: wk.public() };
        cfg.evidence.witnesses = vec![crate::config::WitnessConfig {
            url: super::super::witness::WitnessUrl::parse("http://127.0.0.1:9").unwrap(),
            key: key.clone(),
            ca_file: None,
        }];
        let (journal, _) =
            Journal::open(dir.path().join("j.sqlite3"), JournalOptions::default()).unwrap();
        let (handle, _sender, thread) =
            JournalHandle::start(journal, HandleOptions::default()).unwrap();
        let (mut rec, _) = open(&cfg, &handle).await;
        let published = rec.checkpoint.borrow().clone().unwrap();
        let size = published.size;
        assert_eq!(size, rec.records());
        let note = SignedNote::parse(&published.text).unwrap();
        let line = cosign(&note.text, &key.name, &wk, 1_760_000_000).line();
        let cosigned = SignedNote::parse(&format!("{}{line}\n", published.text)).unwrap();
        let c = Cosigned {
            url: "http://127.0.0.1:9".into(),
            witness: key.name.clone(),
            size,
            root: crate::evidence::checkpoint::Checkpoint::parse_body(&note.text).unwrap().root,
            note: cosigned.to_text(),
            cosignatures: verify_cosignatures(&cosigned, &key).unwrap(),
        };
        rec.cosigned(c).await;

        assert_eq!(rec.records(), size + 1, "one anchor record");
        let last = handle.read_evidence(size, 1).await.unwrap();
        let r = SignedRecord::from_json(canonical::parse(&last[0].payload).unwrap()).unwrap();
        match r.record.body {
            Body::Anchor(a) => {
                assert_eq!(
                    (a.witness.as_str(), a.size, a.time),
                    ("w.example/1", size, 1_760_000_000)
                )
            }
            other => panic!("{other:?}"),
        }
        let stored = CheckpointFile::cosignatures_in_dir(dir.path()).read().unwrap();
        assert_eq!(stored.notes, vec![cosigned.to_text()]);
        let now = rec.checkpoint.borrow().clone().unwrap();
        assert_eq!(now.text, cosigned.to_text(), "the retained checkpoint carries the line");
        let tree_size = |r: &Recorder| r.witnessing.as_ref().unwrap().tree.lock().unwrap().size();
        assert_eq!(tree_size(&rec), rec.records(), "the proof tree follows every record");
        drop(rec);

        // The next start knows what the witness cosigned from the anchor record alone.
        let (rec, _) = open(&cfg, &handle).await;
        assert_eq!(rec.witnessing.as_ref().unwrap().anchored.get("w.example/1"), Some(&size));
        assert_eq!(tree_size(&rec), rec.records());
        drop(rec);
        handle.shutdown().await.unwrap();
        thread.join().unwrap();
    }
}
