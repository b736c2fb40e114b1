//! The async shell around [`super::protocol`]: one task per witness that submits the latest
//! checkpoint, retries with backoff, and hands verified cosignatures to the recorder.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::client::{HttpClient, HttpError};
use super::protocol::{
    classify, proof, request_body, Answer, Cosigned, SharedTree, Step, Submission, Trouble,
    MAX_RESENDS,
};
use crate::backoff::Backoff;
use crate::config::WitnessConfig;
use crate::evidence::checkpoint::Checkpoint;
use crate::evidence::cosignature::WitnessKey;
use crate::evidence::note::SignedNote;
use crate::metrics::{Metrics, WitnessMetrics};
use crate::publish::CheckpointNote;

/// First wait after a failed submission.
const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest wait between two submissions to a witness that keeps failing.
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// What the witness tasks share with the recorder.
#[derive(Debug, Clone)]
pub struct WitnessLinks {
    /// The full tree proofs come from.
    pub tree: SharedTree,
    /// The recorder's latest checkpoint.
    pub checkpoint: watch::Receiver<Option<Arc<CheckpointNote>>>,
    /// Where verified cosignatures go.
    pub cosigned: mpsc::UnboundedSender<Cosigned>,
}

/// Starts one task per configured witness. `anchored` holds the size each witness (by key
/// name) last cosigned, from the log's `anchor` records. Errors only for a TLS setup problem
/// (a CA file), which is a config error.
pub fn spawn_witnesses(
    witnesses: &[WitnessConfig],
    anchored: &HashMap<String, u64>,
    links: &WitnessLinks,
    metrics: &Metrics,
    cancel: &CancellationToken,
) -> Result<Vec<JoinHandle<()>>, HttpError> {
    let mut tasks = Vec::with_capacity(witnesses.len());
    for w in witnesses {
        let field = "evidence.witnesses.ca_file";
        let client = HttpClient::new(w.url.clone(), field, w.ca_file.as_deref())?;
        let start = anchored.get(&w.key.name).copied();
        let submitter = Submitter {
            client,
            key: w.key.clone(),
            submission: Submission::new(start),
            metrics: metrics.witness(w.url.as_str()),
            links: links.clone(),
        };
        if let Some(size) = start {
            submitter.metrics.ok_size(size);
        }
        info!(witness = %w.url, key = %w.key.name, cosigned = ?start, "submitting checkpoints to witness");
        tasks.push(tokio::spawn(submitter.run(cancel.clone())));
    }
    Ok(tasks)
}

struct Submitter {
    client: HttpClient,
    key: WitnessKey,
    submission: Submission,
    metrics: WitnessMetrics,
    links: WitnessLinks,
}

impl Submitter {
    async fn run(mut self, cancel: CancellationToken) {
        let mut backoff = Backoff::new(BACKOFF_BASE, BACKOFF_MAX);
        loop {
            let latest = self.links.checkpoint.borrow_and_update().clone();
            let wait = match latest {
                Some(note) if self.submission.wants(note.size) => {
                    let result = tokio::select! {
                        _ = cancel.cancelled() => return,
                        r = self.submit(&note) => r,
                    };
                    match result {
                        Ok(()) => {
                            backoff.reset();
                            None
                        }
                        Err(()) => Some(backoff.next_delay()),
                    }
                }
                _ => None,
            };
            // Wait for a newer checkpoint; after a failure, also for the backoff delay.
            let sleep = async {
                match wait {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = sleep => {}
                changed = self.links.checkpoint.changed() => {
                    if changed.is_err() {
                        return; // the recorder is gone
                    }
                }
            }
        }
    }

    /// Submits one checkpoint, re-sending after a 409 that names a size we can prove from.
    /// `Err` = wait (logged).
    async fn submit(&mut self, note: &CheckpointNote) -> Result<(), ()> {
        let url = self.client.url().clone();
        let parsed =
            SignedNote::parse(&note.text).ok().and_then(|n| Checkpoint::parse_body(&n.text).ok());
        let Some(cp) = parsed else {
            error!(witness = %url, size = note.size, "own checkpoint does not parse (a bug); not submitted");
            return Err(());
        };
        let mut old = self.submission.old_size(cp.size);
        for _ in 0..=MAX_RESENDS {
            let answer = match self.request(old, &cp, &note.text).await {
                Ok(a) => a,
                Err(why) => Answer::Failed(why),
            };
            match &answer {
                Answer::Cosigned(_) => {}
                Answer::Conflict(_) | Answer::Refused(_) => self.metrics.refused(),
                Answer::Failed(_) => self.metrics.failed(),
            }
            match self.submission.on_answer(old, cp.size, answer) {
                Step::Done(cosignatures) => {
                    self.metrics.ok(cp.size);
                    info!(witness = %url, old, size = cp.size, "witness cosigned checkpoint");
                    let mut cosigned_note = note.text.clone();
                    for c in &cosignatures {
                        if !cosigned_note.contains(&c.line) {
                            cosigned_note.push_str(&c.line);
                            cosigned_note.push('\n');
                        }
                    }
                    let c = Cosigned {
                        url: url.to_string(),
                        witness: self.key.name.clone(),
                        size: cp.size,
                        root: cp.root,
                        note: cosigned_note,
                        cosignatures,
                    };
                    if self.links.cosigned.send(c).is_err() {
                        warn!(witness = %url, size = cp.size, "recorder stopped; cosignature not recorded");
                    }
                    return Ok(());
                }
                Step::Resend(n) => {
                    info!(witness = %url, witness_size = n, size = cp.size, "witness last cosigned another size; resending from it");
                    old = n;
                }
                Step::Wait(trouble) => {
                    log_trouble(&url, old, cp.size, &trouble);
                    return Err(());
                }
            }
        }
        warn!(witness = %url, size = cp.size, "witness keeps naming other sizes; backing off");
        Err(())
    }

    async fn request(&self, old: u64, cp: &Checkpoint, note: &str) -> Result<Answer, String> {
        let proof = proof(&self.links.tree, old, cp.size)
            .map_err(|e| format!("no consistency proof {old} → {}: {e}", cp.size))?;
        let body = request_body(old, &proof, note)?;
        let path = self.client.url().add_checkpoint_path();
        debug!(witness = %self.client.url(), old, size = cp.size, proof = proof.len(), "add-checkpoint");
        let resp = self.client.post(&path, body.as_bytes()).await.map_err(|e| e.to_string())?;
        Ok(classify(&resp, note, &self.key))
    }
}

fn log_trouble(url: &super::WitnessUrl, old: u64, size: u64, trouble: &Trouble) {
    match trouble {
        Trouble::Unreachable(why) => {
            warn!(witness = %url, old, size, error = %why, "witness submission failed; retrying with backoff")
        }
        Trouble::Refused(why) if why.starts_with("422") => error!(
            witness = %url, old, size, answer = %why,
            "WITNESS CANNOT CONNECT ITS TREE OF SIZE {old} TO THIS ONE (consistency proof \
             refused): it saw another history of this log; retrying with backoff"
        ),
        Trouble::Refused(why) => {
            error!(witness = %url, old, size, answer = %why, "witness refused the checkpoint (unknown log? key not added?); retrying with backoff")
        }
        Trouble::Ahead { witness, ours } => error!(
            witness = %url, witness_size = witness, size = ours,
            "WITNESS HAS SEEN A LARGER TREE OF THIS LOG than the gateway holds: another history \
             was submitted under this gateway's key (restored journal? cloned key?); retrying \
             with backoff"
        ),
        Trouble::Disagrees { size } => error!(
            witness = %url, size,
            "WITNESS HOLDS A DIFFERENT ROOT for tree size {size} of this log: the gateway's \
             history differs from what the witness saw; retrying with backoff"
        ),
    }
}
