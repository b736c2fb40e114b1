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
use crate::archive::plan::MAX_UNVERIFIED;
use edgeproof_evidence::canonical;
use edgeproof_evidence::checkpoint::verify_checkpoint;
use edgeproof_evidence::cosignature::{verify_cosignatures, WitnessKey};
use edgeproof_evidence::keys::PublicKey;
use edgeproof_evidence::merkle::{leaf_hash, Hash};
use edgeproof_evidence::note::SignedNote;
use edgeproof_evidence::record::{self, Body, SignedRecord, RECORD_VERSION};
use edgeproof_evidence::sign::{signed_parts, verify_parts};

/// Gateway signature lines tried on one checkpoint: a note padded with lines under the
/// gateway's own name costs at most this many signature checks.
const MAX_GATEWAY_LINES: usize = 4;
/// Longest signature line kept apart as unverified (a valid Ed25519 cosignature line is
/// about 100 bytes plus the key name).
const MAX_LINE: usize = 512;

/// One registered gateway, as the collector routes and verifies its messages.
#[derive(Clone, Debug)]
pub struct Route {
    /// Gateway id.
    pub gateway: String,
    /// Its log's origin: what its records and checkpoints must name.
    pub origin: String,
    /// Its enrolled key.
    pub key: PublicKey,
}

/// The registered gateways by topic prefix, and the witnesses whose cosignatures count.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    by_prefix: HashMap<String, Route>,
    prefix_of_origin: HashMap<String, String>,
    witnesses: Vec<WitnessKey>,
}

impl Keys {
    /// Adds a gateway publishing under the agent's default prefix, `edgeproof/<gateway>`.
    pub fn insert(&mut self, origin: String, gateway: String, key: PublicKey) {
        let prefix = format!("edgeproof/{gateway}");
        self.insert_at(prefix, origin, gateway, key);
    }

    /// Adds a gateway publishing under `prefix`.
    pub fn insert_at(&mut self, prefix: String, origin: String, gateway: String, key: PublicKey) {
        self.prefix_of_origin.insert(origin.clone(), prefix.clone());
        self.by_prefix.insert(prefix, Route { gateway, origin, key });
    }

    /// Trusts `witness`: its cosignature lines that verify are kept with the checkpoint.
    pub fn add_witness(&mut self, witness: WitnessKey) {
        if !self.witnesses.contains(&witness) {
            self.witnesses.push(witness);
        }
    }

    /// The witnesses trusted.
    pub fn witnesses(&self) -> &[WitnessKey] {
        &self.witnesses
    }

    /// The gateway registered for topic prefix `prefix`.
    pub fn at(&self, prefix: &str) -> Option<&Route> {
        self.by_prefix.get(prefix)
    }

    /// Whether a gateway with this origin is registered (under any prefix).
    pub fn has_origin(&self, origin: &str) -> bool {
        self.prefix_of_origin.contains_key(origin)
    }

    /// Registered gateways.
    pub fn len(&self) -> usize {
        self.by_prefix.len()
    }

    /// No gateway registered.
    pub fn is_empty(&self) -> bool {
        self.by_prefix.is_empty()
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

/// What one message is, as far as an anomaly row needs it.
struct Ctx<'a> {
    topic: &'a str,
    payload: &'a [u8],
}

impl Ctx<'_> {
    fn anomaly(
        &self,
        origin: &str,
        kind: AnomalyKind,
        seqs: Option<Span>,
        detail: String,
    ) -> Arrival {
        self.anomaly_fp(origin, kind, seqs, detail, digest(self.payload))
    }

    fn anomaly_fp(
        &self,
        origin: &str,
        kind: AnomalyKind,
        seqs: Option<Span>,
        detail: String,
        fp: String,
    ) -> Arrival {
        Arrival::Anomaly(NewAnomaly {
            origin: origin.into(),
            kind,
            seqs,
            detail,
            fingerprint: format!("{}|{origin}|{fp}", kind.as_str()),
            topic: Some(self.topic.to_string()),
            claimed_origin: None,
        })
    }

    /// A message naming `claimed` that arrived on a topic that is not `claimed`'s: recorded
    /// against `against` (the topic's gateway's origin, or the unregistered prefix).
    fn misrouted(&self, against: &str, claimed: &str, seqs: Option<Span>, what: &str) -> Arrival {
        let mut a = NewAnomaly {
            origin: against.into(),
            kind: AnomalyKind::Misrouted,
            seqs,
            detail: format!(
                "{what} of {claimed:?} on topic {:?}, which is not that log's topic; not stored \
                 for {claimed:?}",
                self.topic
            ),
            fingerprint: format!("misrouted|{against}|{}", digest(self.payload)),
            topic: Some(self.topic.to_string()),
            claimed_origin: Some(claimed.to_string()),
        };
        if seqs.is_none() {
            a.detail.push_str(" (unreadable)");
        }
        Arrival::Anomaly(a)
    }
}

fn digest(payload: &[u8]) -> String {
    Hash::sha256(payload).to_hex()
}

/// The origin and seqs a message claims, read without trusting it: a record's `origin` and
/// `seq`; a checkpoint's first line and its size (seqs 0 to size − 1).
fn claimed(lane: Lane, payload: &[u8]) -> Option<(String, Option<Span>)> {
    match lane {
        Lane::Evidence => {
            let v = canonical::parse(payload).ok()?;
            let origin = v.get("origin")?.as_str()?.to_string();
            Some((origin, record::seq_of(&v).map(Span::one)))
        }
        Lane::Checkpoint => {
            let text = std::str::from_utf8(payload).ok()?;
            let mut lines = text.split('\n');
            let origin = lines.next().filter(|o| !o.is_empty())?.to_string();
            let size = lines.next().and_then(|s| s.parse::<u64>().ok());
            Some((origin, size.and_then(|s| s.checked_sub(1)).map(|l| Span { first: 0, last: l })))
        }
    }
}

/// Verifies one message of either lane. Topic is identity: the message counts for a gateway
/// only if it came under that gateway's registered topic prefix *and* names its origin;
/// anything else is recorded against the topic it came on and never touches the log it
/// names.
pub fn verify_message(topic: &str, payload: &[u8], keys: &Keys) -> Arrival {
    let ctx = Ctx { topic, payload };
    let Some((prefix, lane)) = lane_of(topic) else {
        return ctx.anomaly(
            topic,
            AnomalyKind::BadRecord,
            None,
            format!("message on topic {topic:?}, which is neither …/evidence nor …/checkpoint"),
        );
    };
    let claim = claimed(lane, payload);
    let what = match lane {
        Lane::Evidence => "a record",
        Lane::Checkpoint => "a checkpoint",
    };
    let Some(route) = keys.at(prefix) else {
        return match claim {
            Some((origin, seqs)) if keys.has_origin(&origin) => {
                ctx.misrouted(prefix, &origin, seqs, what)
            }
            claim => {
                // Counted per topic prefix by the archive; the seqs widen the range it reports.
                let seqs = claim.as_ref().and_then(|(_, s)| *s).map(|s| [s.first, s.last]);
                let mut a =
                    crate::archive::batch::unknown_gateway(prefix, seqs.into_iter().flatten());
                a.topic = Some(topic.to_string());
                a.claimed_origin = claim.map(|(o, _)| o);
                Arrival::Anomaly(a)
            }
        };
    };
    if let Some((origin, seqs)) = &claim {
        if origin != &route.origin {
            return ctx.misrouted(&route.origin, origin, *seqs, what);
        }
    }
    match lane {
        Lane::Evidence => record(&ctx, route),
        Lane::Checkpoint => checkpoint(&ctx, route, keys.witnesses()),
    }
}

/// Verifies a record that came on `route`'s topic and names its origin (or is unreadable).
fn record(ctx: &Ctx<'_>, route: &Route) -> Arrival {
    let (origin, gateway, key) = (route.origin.as_str(), &route.gateway, &route.key);
    let v = match canonical::parse(ctx.payload) {
        Ok(v) => v,
        Err(e) => {
            return ctx.anomaly(
                origin,
                AnomalyKind::BadRecord,
                None,
                format!("an evidence message that is not a record: {e}"),
            )
        }
    };
    let seq = record::seq_of(&v);
    let seqs = seq.map(Span::one);
    if v.get("origin").and_then(|o| o.as_str()) != Some(origin) {
        return ctx.anomaly(
            origin,
            AnomalyKind::BadRecord,
            seqs,
            "a record without an origin; not stored".into(),
        );
    }
    if record::version_of(&v) != Some(RECORD_VERSION) {
        return ctx.anomaly(
            origin,
            AnomalyKind::BadRecord,
            seqs,
            format!(
                "record format version {:?} is not {RECORD_VERSION}; not stored",
                record::version_of(&v)
            ),
        );
    }
    if let Err(e) = signed_parts(&v).and_then(|(msg, sig)| verify_parts(key, &msg, &sig)) {
        return ctx.anomaly(
            origin,
            AnomalyKind::BadSignature,
            seqs,
            format!("{e} (registered key of gateway {gateway}); not stored"),
        );
    }
    let canonical = match canonical::encode(&v) {
        Ok(c) => c,
        Err(e) => return ctx.anomaly(origin, AnomalyKind::BadRecord, seqs, e.to_string()),
    };
    let leaf = leaf_hash(&canonical);
    let typed = match SignedRecord::from_json(v) {
        Ok(r) => r.record,
        Err(e) => {
            return ctx.anomaly_fp(
                origin,
                AnomalyKind::BadRecord,
                seqs,
                format!("signed, but not a readable v1 record: {e}; not stored"),
                leaf.to_hex(),
            )
        }
    };
    if &typed.gw != gateway {
        return ctx.anomaly_fp(
            origin,
            AnomalyKind::BadRecord,
            Some(Span::one(typed.seq)),
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
        origin: origin.to_string(),
        seq: typed.seq,
        typ: typed.typ().as_str(),
        wall_ms: typed.t.wall_ms,
        leaf,
        prev: typed.prev,
        canonical,
        covered_ms,
    })
}

/// The key name of a signature line (`— <name> <base64>`), if it has that shape.
fn line_name(line: &str) -> Option<&str> {
    line.strip_prefix("\u{2014} ")?.split_once(' ').map(|(n, _)| n)
}

/// Verifies a checkpoint that came on `route`'s topic and names its origin. Every signature
/// line is judged on its own: the note kept holds the gateway's lines that verify and the
/// cosignatures that verify under a trusted witness key; everything else (unknown witnesses,
/// garbage under a witness's name and key id, padding) is kept apart as unverified and
/// changes no verdict. So a third party appending lines can neither strip a witness nor make
/// the checkpoint bad.
fn checkpoint(ctx: &Ctx<'_>, route: &Route, witnesses: &[WitnessKey]) -> Arrival {
    let (origin, gateway, key) = (route.origin.as_str(), &route.gateway, &route.key);
    let bad = |why: String| {
        ctx.anomaly(
            origin,
            AnomalyKind::BadCheckpoint,
            None,
            format!("checkpoint rejected: {why} (registered key of gateway {gateway})"),
        )
    };
    let Ok(text) = std::str::from_utf8(ctx.payload) else {
        return bad("not UTF-8".into());
    };
    let Some((body, block)) = text.rfind("\n\n").map(|i| (&text[..=i], &text[i + 2..])) else {
        return match verify_checkpoint(text, origin, key) {
            Err(e) => bad(e.to_string()),
            Ok(_) => bad("no signature block".into()),
        };
    };
    let note_with = |lines: &[&str]| {
        let mut n = format!("{body}\n");
        for l in lines {
            n.push_str(l);
            n.push('\n');
        }
        n
    };
    let lines: Vec<&str> = block.strip_suffix('\n').unwrap_or(block).split('\n').collect();
    let mut verified: Vec<&str> = Vec::new();
    let mut unverified: Vec<String> = Vec::new();
    let keep_apart = |l: &str, out: &mut Vec<String>| {
        if l.len() <= MAX_LINE && out.len() < MAX_UNVERIFIED && !out.iter().any(|x| x == l) {
            out.push(l.to_string());
        }
    };
    let mut gateway_tried = 0;
    let mut checked = None;
    for &l in &lines {
        if verified.contains(&l) {
            continue;
        }
        let name = line_name(l);
        if name == Some(origin) && gateway_tried < MAX_GATEWAY_LINES {
            gateway_tried += 1;
            match verify_checkpoint(&note_with(&[l]), origin, key) {
                Ok(v) => {
                    checked = Some(v.checkpoint);
                    verified.push(l);
                }
                Err(_) => keep_apart(l, &mut unverified),
            }
            continue;
        }
        let trusted = name.is_some_and(|n| {
            witnesses.iter().filter(|w| w.name == n).any(|w| {
                SignedNote::parse(&note_with(&[l]))
                    .is_ok_and(|note| verify_cosignatures(&note, w).is_ok())
            })
        });
        if trusted {
            verified.push(l);
        } else {
            keep_apart(l, &mut unverified);
        }
    }
    let Some(cp) = checked else {
        // No line of the gateway verifies: say why, from the note as it came.
        return match verify_checkpoint(text, origin, key) {
            Err(e) => bad(e.to_string()),
            Ok(_) => bad(format!("no signature line of {origin} verifies")),
        };
    };
    // The gateway's lines first, as the agent writes them.
    verified.sort_by_key(|l| line_name(l) != Some(origin));
    Arrival::Checkpoint(VerifiedCheckpointNote {
        origin: origin.to_string(),
        size: cp.size,
        root: cp.root,
        note: note_with(&verified),
        unverified,
    })
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

    /// Topic is identity: what a message names counts only on its gateway's own topic.
    #[test]
    fn messages_count_only_on_their_gateways_topic() {
        let (victim, mallory) = (GatewayKey::from_seed([1; 32]), GatewayKey::from_seed([3; 32]));
        let mut keys = Keys::default();
        keys.insert("edgeproof/gw-1".into(), "gw-1".into(), victim.public());
        keys.insert_at("site/m".into(), "edgeproof/gw-m".into(), "gw-m".into(), mallory.public());
        let (rec, note) = signed(&victim);
        let routed = |topic: &str, payload: &[u8]| match verify_message(topic, payload, &keys) {
            Arrival::Anomaly(a) => {
                (a.kind, a.origin, a.topic, a.claimed_origin, a.seqs.map(|s| (s.first, s.last)))
            }
            other => panic!("{topic}: {other:?}"),
        };
        let claimed = Some("edgeproof/gw-1".to_string());
        assert_eq!(
            routed("site/m/evidence", &rec),
            (
                AnomalyKind::Misrouted,
                "edgeproof/gw-m".into(),
                Some("site/m/evidence".into()),
                claimed.clone(),
                Some((1, 1))
            )
        );
        assert_eq!(
            routed("site/m/checkpoint", note.as_bytes()),
            (
                AnomalyKind::Misrouted,
                "edgeproof/gw-m".into(),
                Some("site/m/checkpoint".into()),
                claimed.clone(),
                Some((0, 1))
            )
        );
        // A topic nobody registered: against its prefix, still never the victim's.
        assert_eq!(routed("edgeproof/nobody/evidence", &rec).0, AnomalyKind::Misrouted);
        assert_eq!(routed("edgeproof/nobody/evidence", &rec).1, "edgeproof/nobody");
        // Mallory's own prefix is not edgeproof/gw-m: its records there count for it only
        // under site/m.
        assert!(matches!(
            verify_message("edgeproof/gw-1/evidence", &rec, &keys),
            Arrival::Record(_)
        ));
    }

    /// Each signature line of a checkpoint is judged alone: garbage under the witness's name
    /// and key id, unknown witnesses and padding are kept apart; the valid lines stay.
    #[test]
    fn only_verified_signature_lines_stay_in_the_note() {
        use edgeproof_evidence::cosignature::cosign;
        let gw = GatewayKey::from_seed([1; 32]);
        let wk = GatewayKey::from_seed([2; 32]);
        let witness = WitnessKey { name: "w.example/1".into(), key: wk.public() };
        let mut keys = Keys::default();
        keys.insert("edgeproof/gw-1".into(), "gw-1".into(), gw.public());
        keys.add_witness(witness.clone());
        let (_, note) = signed(&gw);
        let text = SignedNote::parse(&note).unwrap().text;
        let valid = cosign(&text, &witness.name, &wk, 7).line();
        let mut bad = cosign(&text, &witness.name, &wk, 8);
        bad.sig[20] ^= 1;
        let forged_gateway = {
            let mut s = SignedNote::parse(&note).unwrap().signatures[0].clone();
            s.sig[0] ^= 1;
            s.line()
        };
        let padding: Vec<String> =
            (0..120).map(|i| cosign(&text, &format!("pad{i}"), &wk, i).line()).collect();
        let mut lines = vec![bad.line(), forged_gateway.clone(), valid.clone()];
        lines.extend(padding);
        let payload = format!("{note}{}\n", lines.join("\n"));
        let Arrival::Checkpoint(cp) =
            verify_message("edgeproof/gw-1/checkpoint", payload.as_bytes(), &keys)
        else {
            panic!("the gateway's valid line still makes it a checkpoint")
        };
        assert_eq!(cp.note, format!("{note}{valid}\n"));
        assert_eq!(cp.unverified.len(), MAX_UNVERIFIED);
        assert_eq!(cp.unverified[..2], [bad.line(), forged_gateway]);
        // Without any line of the gateway that verifies, it is a bad checkpoint.
        let only_forged = format!("{text}\n{}\n{valid}\n", cp.unverified[1]);
        assert!(matches!(
            verify_message("edgeproof/gw-1/checkpoint", only_forged.as_bytes(), &keys),
            Arrival::Anomaly(a) if a.kind == AnomalyKind::BadCheckpoint
        ));
    }
}
