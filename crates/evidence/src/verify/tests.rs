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
