//! The recorder's side of witnessing: the full tree it keeps for the witness tasks, and what
//! it makes of a cosignature that came back — `anchor` record bodies and the checkpoint note
//! re-published with the cosignature lines. Pure except for the tree's mutex.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use super::checkpoints::CheckpointFile;
use super::replay::LogState;
use super::witness::{Cosigned, SharedTree};
use crate::config::WitnessConfig;
use crate::evidence::keys::hex;
use crate::evidence::merkle::{Hash, Tree};
use crate::evidence::record::Anchor;
use crate::publish::CheckpointNote;

/// What the recorder holds when witnesses are configured.
#[derive(Debug)]
pub(super) struct Witnessing {
    /// Every leaf, for consistency proofs.
    pub(super) tree: SharedTree,
    /// The configured witnesses.
    pub(super) witnesses: Vec<WitnessConfig>,
    /// Size each witness (by key name) last cosigned, from the log.
    pub(super) anchored: HashMap<String, u64>,
    /// `cosignatures.jsonl`.
    pub(super) file: CheckpointFile,
    /// For the witness tasks.
    pub(super) tx: mpsc::UnboundedSender<Cosigned>,
    /// Taken by the recorder's loop.
    pub(super) rx: Option<mpsc::UnboundedReceiver<Cosigned>>,
}

impl Witnessing {
    /// `None` without witnesses (no tree kept).
    pub(super) fn new(
        witnesses: &[WitnessConfig],
        state: &LogState,
        file: CheckpointFile,
    ) -> Option<Witnessing> {
        if witnesses.is_empty() {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        Some(Witnessing {
            tree: Arc::new(Mutex::new(Tree::from_leaves(state.leaves.iter().copied()))),
            witnesses: witnesses.to_vec(),
            anchored: state.anchored.clone(),
            file,
            tx,
            rx: Some(rx),
        })
    }

    /// A record was committed.
    pub(super) fn push(&self, leaf: Hash) {
        self.tree.lock().unwrap_or_else(PoisonError::into_inner).push(leaf);
    }
}

/// One `anchor` body per verified cosignature line.
pub(super) fn anchors(c: &Cosigned) -> Vec<Anchor> {
    c.cosignatures
        .iter()
        .map(|s| Anchor {
            witness: s.name.clone(),
            key_id: hex(&s.key_id),
            size: c.size,
            root: c.root,
            time: s.timestamp,
            cosignature: Hash::sha256(s.line.as_bytes()),
        })
        .collect()
}

/// The published note with the cosignature lines appended, if it is the checkpoint that was
/// cosigned and lacks some of them; `None` otherwise (a newer checkpoint is out).
pub(super) fn with_cosignatures(note: &CheckpointNote, c: &Cosigned) -> Option<CheckpointNote> {
    if note.size != c.size {
        return None;
    }
    let mut text = note.text.clone();
    for s in &c.cosignatures {
        if !text.lines().any(|l| l == s.line) {
            text.push_str(&s.line);
            text.push('\n');
        }
    }
    (text != note.text).then_some(CheckpointNote { size: note.size, text })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::checkpoint::Checkpoint;
    use crate::evidence::cosignature::{cosign, verify_cosignatures, WitnessKey};
    use crate::evidence::keys::GatewayKey;
    use crate::evidence::merkle::leaf_hash;
    use crate::evidence::note::SignedNote;

    #[test]
    fn a_cosignature_becomes_anchors_and_lines_on_the_published_note() {
        let gw = GatewayKey::from_seed([1; 32]);
        let wk = GatewayKey::from_seed([2; 32]);
        let key = WitnessKey { name: "w.example/1".into(), key: wk.public() };
        let cp = Checkpoint::new("edgeproof/gw", 9, leaf_hash(b"r"));
        let note = cp.sign(&gw);
        let line = cosign(&note.text, &key.name, &wk, 1_760_000_000).line();
        let back = SignedNote::parse(&format!("{}{line}\n", note.to_text())).unwrap();
        let cosignatures = verify_cosignatures(&back, &key).unwrap();
        let c = Cosigned {
            url: "http://w".into(),
            witness: key.name.clone(),
            size: 9,
            root: cp.root,
            note: back.to_text(),
            cosignatures,
        };
        let a = anchors(&c);
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].witness.as_str(), a[0].size, a[0].time),
            ("w.example/1", 9, 1_760_000_000)
        );
        assert_eq!(a[0].key_id, hex(&key.key_id()));
        assert_eq!(a[0].cosignature, Hash::sha256(line.as_bytes()));

        let published = CheckpointNote { size: 9, text: note.to_text() };
        let merged = with_cosignatures(&published, &c).unwrap();
        assert_eq!(merged.text, back.to_text(), "the cosigned note as the witness verified it");
        assert!(with_cosignatures(&merged, &c).is_none(), "already there");
        let newer = CheckpointNote { size: 10, text: "x".into() };
        assert!(with_cosignatures(&newer, &c).is_none(), "a newer checkpoint is out");
    }
}
