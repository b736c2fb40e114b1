use super::*;
use crate::bundle::Header;
use crate::bundle::{checkpoint_line, header_line, record_line};
use crate::chain::Chain;
use crate::keys::GatewayKey;
use crate::record::{Body, Boot, ConfigChange, Enroll, KeyAssurance, PreviousRun, Stamp};

/// A four-record log: enroll, boot, two config records, and a checkpoint.
fn tiny(key: &GatewayKey) -> Vec<u8> {
    let mut c = Chain::new("edgeproof/gw", "gw");
    c.start_run("k1", 1);
    let mut out = header_line(&Header {
        bundle: 1,
        origin: "edgeproof/gw".into(),
        public_key: key.public().to_base64(),
    })
    .into_bytes();
    let mut t = Stamp { wall_ms: 1_767_225_600_000, mono_ms: 1_000 };
    let bodies = vec![
        Body::Enroll(Enroll {
            uscc: "91350100M000100Y43".into(),
            project: "P".into(),
            contract: "C".into(),
            key: key.public().to_base64(),
            key_assurance: KeyAssurance::Software,
            agent_version: "0".into(),
            build: "b".into(),
            inventory: vec![],
            production_devices: 1,
        }),
        Body::Boot(Boot {
            previous: PreviousRun::None,
            last_seq: 0,
            last_wall_ms: t.wall_ms,
            agent_version: "0".into(),
            config_hash: Hash::ZERO,
        }),
        Body::Config(ConfigChange { hash: Hash::ZERO, added: vec![], removed: vec![] }),
        Body::Config(ConfigChange { hash: Hash::ZERO, added: vec![], removed: vec![] }),
    ];
    for (i, b) in bodies.into_iter().enumerate() {
        if i > 0 {
            t.wall_ms += 10;
            t.mono_ms += 10;
        }
        let p = c.prepare(key, t, b).unwrap();
        c.commit(&p).unwrap();
        out.extend(record_line(&p.canonical));
    }
    out.extend(checkpoint_line(&c.checkpoint().sign(key).to_text()).into_bytes());
    out
}

fn verdict(bundle: &[u8], key: &GatewayKey) -> Verdict {
    verify_bundle(bundle, &VerifyOptions::new(key.public())).unwrap()
}

#[test]
fn tiny_log_is_intact_and_witness_is_skipped() {
    let key = GatewayKey::from_seed([1; 32]);
    let v = verdict(&tiny(&key), &key);
    assert!(v.intact, "{v:#?}");
    assert_eq!(v.records, 4);
    assert_eq!(v.check(CheckName::Witness).status, Status::Skipped);
    assert_eq!(v.gateway.as_deref(), Some("gw"));
}

#[test]
fn input_that_is_not_a_bundle_is_an_error_not_a_verdict() {
    let key = GatewayKey::from_seed([1; 32]);
    let opts = VerifyOptions::new(key.public());
    let cases: &[(&str, &[u8])] = &[
        ("empty", b""),
        ("blank lines only", b"\n\n"),
        ("record first", b"{\"record\":{}}\n"),
        ("garbage", b"\x00\x01\x02"),
        ("future bundle", b"{\"bundle\":2,\"origin\":\"o\",\"public_key\":\"k\"}\n"),
    ];
    for (name, input) in cases {
        assert!(verify_bundle(*input, &opts).is_err(), "{name}");
    }
}

#[test]
fn a_record_of_an_unknown_version_is_one_chain_finding_not_an_error() {
    let key = GatewayKey::from_seed([1; 32]);
    let text = String::from_utf8(tiny(&key)).unwrap();
    // The last record (seq 3) says v 2; the others still verify.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[4] = lines[4].replacen("\"v\":1}", "\"v\":2}", 1);
    assert!(lines[4].contains("\"v\":2}"), "{}", lines[4]);
    let v = verdict((lines.join("\n") + "\n").as_bytes(), &key);
    assert!(!v.intact);
    let chain = &v.check(CheckName::Chain).findings;
    assert_eq!(chain.len(), 1, "{chain:?}");
    assert_eq!(chain[0].seq, Some(SeqRange { first: 3, last: 3 }));
    assert!(chain[0].message.contains("version 2"), "{}", chain[0]);
}

#[test]
fn header_only_bundle_fails_the_chain() {
    let key = GatewayKey::from_seed([1; 32]);
    let b = tiny(&key);
    let header = &b[..=b.iter().position(|c| *c == b'\n').unwrap()];
    let v = verdict(header, &key);
    assert_eq!(v.failed(), vec![CheckName::Chain]);
}

#[test]
fn consecutive_failures_merge_into_one_seq_range() {
    let mut f = Findings::new();
    for s in 3..=7 {
        f.seq(CheckName::Signatures, s, "bad");
    }
    f.seq(CheckName::Signatures, 9, "bad");
    let (list, omitted) = &f.by_check[&CheckName::Signatures];
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].seq, Some(SeqRange { first: 3, last: 7 }));
    assert_eq!(list[0].to_string(), "seq 3–7: bad");
    assert_eq!(*omitted, 0);
    for s in 0..200 {
        f.seq(CheckName::Chain, s * 2, format!("x{s}"));
    }
    assert_eq!(f.by_check[&CheckName::Chain].0.len(), MAX_FINDINGS);
    assert_eq!(f.by_check[&CheckName::Chain].1, 200 - MAX_FINDINGS as u64);
}

#[test]
fn a_signed_checkpoint_beyond_the_records_is_truncation() {
    let key = GatewayKey::from_seed([1; 32]);
    let b = tiny(&key);
    let text = String::from_utf8(b).unwrap();
    // Drop the last record line, keep the checkpoint of size 4.
    let lines: Vec<&str> = text.lines().collect();
    let cut = [&lines[..4], &lines[5..]].concat().join("\n") + "\n";
    let v = verdict(cut.as_bytes(), &key);
    assert_eq!(v.failed(), vec![CheckName::Checkpoints]);
    let f = &v.check(CheckName::Checkpoints).findings[0];
    assert_eq!(f.seq, Some(SeqRange { first: 3, last: 3 }));
}

/// Two runs in one kernel boot; between them the wall clock is stepped `step_ms`; run 2's
/// `boot` is followed by a `clock` record claiming `claim` when given. Ends with a checkpoint.
fn restart_with_step(key: &GatewayKey, stop_ms: u64, step_ms: i64, claim: Option<i64>) -> Vec<u8> {
    let full = String::from_utf8(tiny(key)).unwrap();
    let mut lines: Vec<&str> = full.lines().collect();
    lines.pop(); // the checkpoint: rebuilt below
    let mut out = lines.join("\n").into_bytes();
    out.push(b'\n');
    let mut c = Chain::new("edgeproof/gw", "gw");
    let mut leaves = Vec::new();
    for l in &lines[1..] {
        let v: Value = serde_json::from_str(l).unwrap();
        leaves.push(leaf_hash(&canonical::encode(&v["record"]).unwrap()));
    }
    c = Chain::resume(c.origin().to_string(), String::from("gw"), leaves);
    c.start_run("k1", 2);
    let last = Stamp { wall_ms: 1_767_225_600_030, mono_ms: 1_030 };
    let mut t = Stamp {
        wall_ms: (last.wall_ms as i64 + stop_ms as i64 + step_ms) as u64,
        mono_ms: last.mono_ms + stop_ms,
    };
    let mut bodies = vec![Body::Boot(Boot {
        previous: PreviousRun::Unclean,
        last_seq: 3,
        last_wall_ms: last.wall_ms,
        agent_version: "0".into(),
        config_hash: Hash::ZERO,
    })];
    if let Some(step_ms) = claim {
        bodies.push(Body::Clock(crate::record::ClockStep { step_ms }));
    }
    bodies.push(Body::Config(ConfigChange { hash: Hash::ZERO, added: vec![], removed: vec![] }));
    for b in bodies {
        let p = c.prepare(key, t, b).unwrap();
        c.commit(&p).unwrap();
        out.extend(record_line(&p.canonical));
        t.wall_ms += 10;
        t.mono_ms += 10;
    }
    out.extend(checkpoint_line(&c.checkpoint().sign(key).to_text()).into_bytes());
    out
}

#[test]
fn a_step_while_stopped_is_explained_by_the_clock_record_at_start() {
    let key = GatewayKey::from_seed([1; 32]);
    const MIN: u64 = 60_000;
    const DAY: u64 = 86_400_000;
    /// (case, time stopped, step, claim, the first seq the time check names; None: intact)
    type Case = (&'static str, u64, i64, Option<i64>, Option<u64>);
    let cases: &[Case] = &[
        ("no step, no clock record", MIN, 0, None, None),
        ("30 s back, recorded at start", MIN, -30_000, Some(-30_000), None),
        ("ten minutes forward, recorded", MIN, 600_000, Some(600_000), None),
        ("1.5 s back, within the slack, recorded", MIN, -1_500, Some(-1_500), None),
        (
            "60 s back after a day stopped: within the slack, recorded",
            DAY,
            -60_000,
            Some(-60_000),
            None,
        ),
        ("30 s back, not recorded", MIN, -30_000, None, Some(4)),
        ("30 s back, recorded as 600 s", MIN, -30_000, Some(600_000), Some(4)),
        ("no step, a bogus 600 s claimed", MIN, 0, Some(600_000), Some(5)),
    ];
    for (name, stop, step, claim, seq) in cases {
        let v = verdict(&restart_with_step(&key, *stop, *step, *claim), &key);
        assert_eq!(v.intact, seq.is_none(), "{name}: {v:#?}");
        if seq.is_none() {
            continue;
        }
        assert_eq!(v.failed(), vec![CheckName::Time], "{name}");
        assert_eq!(v.check(CheckName::Time).findings[0].seq.map(|s| s.first), *seq, "{name}");
    }
}

#[test]
fn a_bogus_clock_record_inside_a_run_fails_the_time_check() {
    let key = GatewayKey::from_seed([1; 32]);
    let text = String::from_utf8(tiny(&key)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Replace seq 3 (a config record) by a clock record claiming 600 s, re-signed and
    // relinked: the clocks around it show no step.
    let prev: Value = serde_json::from_str(&lines[3]).unwrap();
    let mut r = SignedRecord::from_json(prev["record"].clone()).unwrap().record;
    r.seq = 3;
    r.boot.rec = 3;
    r.t.wall_ms += 10;
    r.t.mono_ms += 10;
    r.prev = leaf_hash(&canonical::encode(&prev["record"]).unwrap());
    r.body = Body::Clock(crate::record::ClockStep { step_ms: 600_000 });
    let signed = crate::sign::sign_record(&key, r).unwrap();
    let line = String::from_utf8(record_line(&signed.canonical().unwrap())).unwrap();
    lines[4] = line.trim_end().to_string();
    lines.pop();
    let v = verdict((lines.join("\n") + "\n").as_bytes(), &key);
    assert!(v.failed().contains(&CheckName::Time), "{v:#?}");
    let f = &v.check(CheckName::Time).findings[0];
    assert_eq!(f.seq.map(|s| s.first), Some(3));
    assert!(f.message.contains("claims a 600000 ms step"), "{f}");
}

#[test]
fn a_middle_gap_is_a_gap_not_another_root_nor_a_cut_tail() {
    let key = GatewayKey::from_seed([1; 32]);
    let text = String::from_utf8(tiny(&key)).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(3); // seq 2
    let v = verdict((lines.join("\n") + "\n").as_bytes(), &key);
    assert_eq!(v.failed(), vec![CheckName::Chain], "{v:#?}");
    let chain = &v.check(CheckName::Chain).findings;
    assert!(
        chain
            .iter()
            .any(|f| f.seq == Some(SeqRange { first: 2, last: 2 })
                && f.message.starts_with("missing")),
        "{chain:?}"
    );
    let notes = v.check(CheckName::Checkpoints).notes.join("\n");
    assert!(notes.contains("cannot be checked over seq 2–3 (records missing)"), "{notes}");
}
