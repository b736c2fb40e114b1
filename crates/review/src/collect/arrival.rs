//! Verification of one MQTT message on arrival, against the registered key of the gateway it
//! names: a record (`<prefix>/evidence`, payload = the record's canonical JSON) or a
//! checkpoint (`<prefix>/checkpoint`, payload = the signed note). The checks are the
//! evidence module's own — [`canonical::parse`], [`signed_parts`] / [`verify_parts`] (strict
//! Ed25519), [`SignedRecord::from_json`], [`verify_checkpoint`] — applied to one message;
//! what needs the whole log (gaps, links, roots) is the archive's job ([`crate::archive::plan`]).

use std::collections::HashMap;

use crate::archive::model::{
    AnomalyKind, Arrival, NewAnomaly, Span, VerifiedCheckpointNote, VerifiedRecord,
};
use edgeproof_evidence::canonical;
use edgeproof_evidence::checkpoint::verify_checkpoint;
use edgeproof_evidence::keys::PublicKey;
use edgeproof_evidence::merkle::{leaf_hash, Hash};
use edgeproof_evidence::record::{self, Body, SignedRecord, RECORD_VERSION};
use edgeproof_evidence::sign::{signed_parts, verify_parts};

/// The registered gateways, by origin: gateway id and key.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    by_origin: HashMap<String, (String, PublicKey)>,
}

impl Keys {
    /// Adds a gateway.
    pub fn insert(&mut self, origin: String, gateway: String, key: PublicKey) {
        self.by_origin.insert(origin, (gateway, key));
    }

    /// The gateway id and key registered for `origin`.
    pub fn get(&self, origin: &str) -> Option<&(String, PublicKey)> {
        self.by_origin.get(origin)
    }

    /// Registered gateways.
    pub fn len(&self) -> usize {
        self.by_origin.len()
    }

    /// No gateway registered.
    pub fn is_empty(&self) -> bool {
        self.by_origin.is_empty()
    }
}

/// Which topic a message came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// `<prefix>/evidence`.
    Evidence,
    /// `<prefix>/checkpoint`.
    Checkpoint,
}

/// Splits `<prefix>/evidence` or `<prefix>/checkpoint` into the prefix and the lane.
pub fn lane_of(topic: &str) -> Option<(&str, Lane)> {
    let (prefix, last) = topic.rsplit_once('/')?;
    match last {
        "evidence" => Some((prefix, Lane::Evidence)),
        "checkpoint" => Some((prefix, Lane::Checkpoint)),
        _ => None,
    }
}

fn anomaly(
    origin: &str,
    kind: AnomalyKind,
    seq: Option<u64>,
    detail: String,
    fp: String,
) -> Arrival {
    Arrival::Anomaly(NewAnomaly {
        origin: origin.into(),
        kind,
        seqs: seq.map(Span::one),
        detail,
        fingerprint: format!("{}|{origin}|{fp}", kind.as_str()),
    })
}

fn digest(payload: &[u8]) -> String {
    Hash::sha256(payload).to_hex()
}

/// Verifies a record message. `topic_origin` (the topic's prefix) names the log when the
/// payload does not.
pub fn record(payload: &[u8], topic_origin: &str, keys: &Keys) -> Arrival {
    let v = match canonical::parse(payload) {
        Ok(v) => v,
        Err(e) => {
            return anomaly(
                topic_origin,
                AnomalyKind::BadRecord,
                None,
                format!("an evidence message that is not a record: {e}"),
                digest(payload),
            )
        }
    };
    let origin = v.get("origin").and_then(|o| o.as_str()).unwrap_or(topic_origin).to_string();
    let seq = record::seq_of(&v);
    let Some((gateway, key)) = keys.get(&origin) else {
        // Counted per origin by the archive; the seq widens the range it reports.
        return Arrival::Anomaly(crate::archive::batch::unknown_gateway(&origin, seq));
    };
    if record::version_of(&v) != Some(RECORD_VERSION) {
        return anomaly(
            &origin,
            AnomalyKind::BadRecord,
            seq,
            format!(
                "record format version {:?} is not {RECORD_VERSION}; not stored",
                record::version_of(&v)
            ),
            digest(payload),
        );
    }
    if let Err(e) = signed_parts(&v).and_then(|(msg, sig)| verify_parts(key, &msg, &sig)) {
        return anomaly(
            &origin,
            AnomalyKind::BadSignature,
            seq,
            format!("{e} (registered key of gateway {gateway}); not stored"),
            digest(payload),
        );
    }
    let canonical = match canonical::encode(&v) {
        Ok(c) => c,
        Err(e) => {
            return anomaly(&origin, AnomalyKind::BadRecord, seq, e.to_string(), digest(payload))
        }
    };
    let leaf = leaf_hash(&canonical);
    let typed = match SignedRecord::from_json(v) {
        Ok(r) => r.record,
        Err(e) => {
            return anomaly(
                &origin,
                AnomalyKind::BadRecord,
                seq,
                format!("signed, but not a readable v1 record: {e}; not stored"),
                leaf.to_hex(),
            )
        }
    };
    if &typed.gw != gateway {
        return anomaly(
            &origin,
            AnomalyKind::BadRecord,
            Some(typed.seq),
            format!("record names gateway {:?}, registered as {gateway:?}; not stored", typed.gw),
            leaf.to_hex(),
        );
    }
    let covered_ms = match &typed.body {
        Body::Usage(u) if u.devices.iter().any(|d| d.polls.ok > 0) => {
            Some(u.end.wall_ms.saturating_sub(u.start.wall_ms))
        }
        _ => None,
    };
    Arrival::Record(VerifiedRecord {
        origin,
        seq: typed.seq,
        typ: typed.typ().as_str(),
        wall_ms: typed.t.wall_ms,
        leaf,
        prev: typed.prev,
        canonical,
        covered_ms,
    })
}

/// Verifies a checkpoint message.
pub fn checkpoint(payload: &[u8], topic_origin: &str, keys: &Keys) -> Arrival {
    let Ok(text) = std::str::from_utf8(payload) else {
        return anomaly(
            topic_origin,
            AnomalyKind::BadCheckpoint,
            None,
            "a checkpoint message that is not UTF-8".into(),
            digest(payload),
        );
    };
    let origin = text.split('\n').next().filter(|o| !o.is_empty()).unwrap_or(topic_origin);
    let Some((gateway, key)) = keys.get(origin) else {
        return Arrival::Anomaly(crate::archive::batch::unknown_gateway(origin, None));
    };
    match verify_checkpoint(text, origin, key) {
        Ok(v) => Arrival::Checkpoint(VerifiedCheckpointNote {
            origin: origin.to_string(),
            size: v.checkpoint.size,
            root: v.checkpoint.root,
            note: text.to_string(),
        }),
        Err(e) => anomaly(
            origin,
            AnomalyKind::BadCheckpoint,
            None,
            format!("checkpoint rejected: {e} (registered key of gateway {gateway})"),
            digest(payload),
        ),
    }
}

/// Verifies one message of either lane.
pub fn verify_message(topic: &str, payload: &[u8], keys: &Keys) -> Arrival {
    match lane_of(topic) {
        Some((prefix, Lane::Evidence)) => record(payload, prefix, keys),
        Some((prefix, Lane::Checkpoint)) => checkpoint(payload, prefix, keys),
        None => anomaly(
            topic,
            AnomalyKind::BadRecord,
            None,
            format!("message on topic {topic:?}, which is neither …/evidence nor …/checkpoint"),
            digest(payload),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeproof_evidence::keys::GatewayKey;
    use edgeproof_evidence::record::{Boot, PreviousRun};
    use edgeproof_evidence::{Chain, Stamp};

    fn signed(key: &GatewayKey) -> (Vec<u8>, String) {
        let mut chain = Chain::resume("edgeproof/gw-1", "gw-1", [Hash::ZERO]);
        chain.start_run("boot", 1);
        let body = Body::Boot(Boot {
            previous: PreviousRun::None,
            last_seq: 0,
            last_wall_ms: 1,
            agent_version: "0".into(),
            config_hash: Hash::ZERO,
        });
        let p = chain.prepare(key, Stamp { wall_ms: 10, mono_ms: 10 }, body).unwrap();
        chain.commit(&p).unwrap();
        let note = chain.checkpoint().sign(key).to_text();
        (p.canonical, note)
    }

    #[test]
    fn each_message_is_verified_against_the_registered_key() {
        let key = GatewayKey::from_seed([1; 32]);
        let mut keys = Keys::default();
        keys.insert("edgeproof/gw-1".into(), "gw-1".into(), key.public());
        let (rec, note) = signed(&key);
        let t = "edgeproof/gw-1/evidence";
        let c = "edgeproof/gw-1/checkpoint";
        assert!(matches!(verify_message(t, &rec, &keys), Arrival::Record(r) if r.seq == 1));
        assert!(
            matches!(verify_message(c, note.as_bytes(), &keys), Arrival::Checkpoint(cp) if cp.size == 2)
        );

        let kind = |a: Arrival| match a {
            Arrival::Anomaly(a) => Some((a.kind, a.seqs)),
            _ => None,
        };
        let tampered = String::from_utf8(rec.clone()).unwrap().replace("\"n\":1", "\"n\":2");
        type Want = Option<(AnomalyKind, Option<Span>)>;
        let cases: Vec<(&str, &str, Vec<u8>, Keys, Want)> = vec![
            (
                "tampered",
                t,
                tampered.into_bytes(),
                keys.clone(),
                Some((AnomalyKind::BadSignature, Some(Span::one(1)))),
            ),
            ("not json", t, b"{".to_vec(), keys.clone(), Some((AnomalyKind::BadRecord, None))),
            (
                "unknown gateway",
                t,
                rec.clone(),
                Keys::default(),
                Some((AnomalyKind::UnknownGateway, Some(Span::one(1)))),
            ),
            (
                "other key",
                t,
                rec.clone(),
                {
                    let mut k = Keys::default();
                    k.insert(
                        "edgeproof/gw-1".into(),
                        "gw-1".into(),
                        GatewayKey::from_seed([2; 32]).public(),
                    );
                    k
                },
                Some((AnomalyKind::BadSignature, Some(Span::one(1)))),
            ),
            (
                "bad note",
                c,
                b"edgeproof/gw-1\n2\nxx\n".to_vec(),
                keys.clone(),
                Some((AnomalyKind::BadCheckpoint, None)),
            ),
            (
                "other topic",
                "edgeproof/gw-1/status",
                b"online".to_vec(),
                keys.clone(),
                Some((AnomalyKind::BadRecord, None)),
            ),
        ];
        for (case, topic, payload, keys, want) in cases {
            assert_eq!(kind(verify_message(topic, &payload, &keys)), want, "{case}");
        }
    }
}
