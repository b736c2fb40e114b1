//! `edgeproof verify` against bundles from a fake gateway: the original verifies (exit 0);
//! every tamper of the issue's list exits 1 and names the right check; bad input exits 2;
//! random and mutated bundles never panic or hang. Plus `edgeproof keygen`.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};

use edgeproof::evidence::verify::{verify_bundle, Status, VerifyOptions};
use serde_json::Value;

use crate::support::fake_gateway::{self, FakeGateway, FakeWitness};
use crate::support::tamper;
use crate::support::{bin, describe, run};

struct Scene {
    dir: tempfile::TempDir,
    gateway: FakeGateway,
    witness: FakeWitness,
    bundle: Vec<u8>,
    public_key: std::path::PathBuf,
    witness_key: std::path::PathBuf,
}

fn scene() -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let witness = FakeWitness::new("witness.example.org/w1", 77);
    let gateway = fake_gateway::standard("gw-017", 11, &witness);
    let bundle = gateway.bundle();
    let (public_key, witness_key) = fake_gateway::key_files(dir.path(), &gateway, &witness);
    Scene { dir, gateway, witness, bundle, public_key, witness_key }
}

/// Runs `edgeproof verify --json` on a bundle; returns the output and the parsed verdict.
fn verify_cli(s: &Scene, bundle: &[u8], with_witness: bool) -> (Output, Option<Value>) {
    let path = s.dir.path().join("bundle.jsonl");
    std::fs::write(&path, bundle).unwrap();
    let mut cmd = Command::new(bin());
    cmd.arg("verify").arg(&path).arg("--public-key").arg(&s.public_key).arg("--json");
    if with_witness {
        cmd.arg("--witness-key").arg(&s.witness_key);
    }
    let out = run(&mut cmd);
    let v = serde_json::from_slice(&out.stdout).ok();
    (out, v)
}

fn failed_checks(v: &Value) -> Vec<String> {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["check"].as_str().unwrap().to_string())
        .collect()
}

fn assert_tampered(s: &Scene, name: &str, bundle: &[u8], with_witness: bool, check: &str) {
    let (out, v) = verify_cli(s, bundle, with_witness);
    assert_eq!(out.status.code(), Some(1), "{name}: {}", describe(&out));
    let v = v.unwrap_or_else(|| panic!("{name}: no JSON verdict: {}", describe(&out)));
    assert_eq!(v["intact"], false, "{name}");
    let failed = failed_checks(&v);
    assert!(failed.iter().any(|c| c == check), "{name}: expected {check} among {failed:?}\n{v:#}");
    let report = v["checks"].as_array().unwrap().iter().find(|c| c["check"] == check).unwrap();
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.get("seq").is_some() || f.get("line").is_some()),
        "{name}: {check} names no seq range or line\n{report:#}"
    );
}

#[test]
fn original_bundle_is_intact_with_and_without_the_witness() {
    let s = scene();
    for with_witness in [true, false] {
        let (out, v) = verify_cli(&s, &s.bundle, with_witness);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let v = v.unwrap();
        assert_eq!(v["intact"], true);
        assert_eq!(v["records"], tamper::record_count(&s.bundle));
        let witness =
            v["checks"].as_array().unwrap().iter().find(|c| c["check"] == "witness").unwrap();
        assert_eq!(witness["status"], if with_witness { "pass" } else { "skipped" });
        if with_witness {
            assert_eq!(v["cosignatures"], 2);
        }
    }
    // The human form names every check and the limits.
    let path = s.dir.path().join("human.jsonl");
    std::fs::write(&path, &s.bundle).unwrap();
    let out =
        run(Command::new(bin()).arg("verify").arg(&path).arg("--public-key").arg(&s.public_key));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    for word in [
        "1 signatures",
        "2 chain",
        "3 checkpoints",
        "4 witness",
        "5 time",
        "6 identity",
        "INTACT",
        "cannot prove",
    ] {
        assert!(text.contains(word), "missing {word:?} in\n{text}");
    }
}

#[test]
fn deleted_record_fails_the_chain() {
    let s = scene();
    assert_tampered(&s, "delete", &tamper::delete_record(&s.bundle, 9), true, "chain");
}

#[test]
fn edited_field_fails_the_signatures() {
    let s = scene();
    let usage = tamper::seqs_of_type(&s.bundle, "usage")[3];
    let t = tamper::edit_field(&s.bundle, usage, "/body/devices/0/points_read", Value::from(9_999));
    assert_tampered(&s, "edit", &t, true, "signatures");
}

#[test]
fn swapped_records_fail_the_chain() {
    let s = scene();
    assert_tampered(&s, "swap", &tamper::swap_records(&s.bundle, 5, 6), true, "chain");
}

#[test]
fn duplicated_record_fails_the_chain() {
    let s = scene();
    assert_tampered(&s, "duplicate", &tamper::duplicate_record(&s.bundle, 7), true, "chain");
}

#[test]
fn record_spliced_from_another_gateway_fails_signatures_and_identity() {
    let s = scene();
    let other = fake_gateway::standard("gw-099", 12, &s.witness).bundle();
    let t = tamper::splice_record(&s.bundle, &other, 8);
    assert_tampered(&s, "splice", &t, true, "signatures");
    assert_tampered(&s, "splice", &t, true, "identity");
}

#[test]
fn tail_cut_below_a_checkpoint_fails_the_checkpoints() {
    let s = scene();
    let size = tamper::largest_checkpoint(&s.bundle);
    assert!(size > 3);
    let t = tamper::truncate_from(&s.bundle, size - 3);
    assert_tampered(&s, "truncate", &t, false, "checkpoints");
    assert_tampered(&s, "truncate", &t, true, "checkpoints");
}

#[test]
fn backdated_copy_resigned_with_the_right_key_fails_the_witness() {
    let s = scene();
    let t = tamper::resign_backdated(&s.bundle, &s.gateway.key, 6, 86_400_000);
    assert_tampered(&s, "backdated", &t, true, "witness");
    // Without a witness the rewrite is indistinguishable from a genuine log: the documented
    // limit of what a gateway key alone can prove.
    let (out, v) = verify_cli(&s, &t, false);
    let v = v.unwrap();
    assert!(
        !failed_checks(&v).iter().any(|c| c == "signatures" || c == "chain" || c == "checkpoints"),
        "{}",
        describe(&out)
    );
}

#[test]
fn wall_clock_jump_inside_one_boot_fails_the_time_check() {
    let s = scene();
    let usage = tamper::seqs_of_type(&s.bundle, "usage")[4];
    let t = tamper::wall_clock_jump(&s.bundle, &s.gateway.key, usage, 3_600_000);
    assert_tampered(&s, "clock jump", &t, false, "time");
    let (_, v) = verify_cli(&s, &t, false);
    assert_eq!(failed_checks(&v.unwrap()), vec!["time".to_string()], "only the clocks are wrong");
}

#[test]
fn other_gateway_key_or_wrong_expectations_fail_identity() {
    let s = scene();
    let path = s.dir.path().join("b.jsonl");
    std::fs::write(&path, &s.bundle).unwrap();
    let out = run(Command::new(bin())
        .arg("verify")
        .arg(&path)
        .arg("--public-key")
        .arg(&s.public_key)
        .args(["--project", "GD-2026-9999", "--json"]));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(failed_checks(&v), vec!["identity".to_string()]);
}

#[test]
fn unusable_input_exits_2() {
    let s = scene();
    let d = s.dir.path();
    std::fs::write(d.join("not-a-bundle"), b"hello\n").unwrap();
    std::fs::write(d.join("empty"), b"").unwrap();
    let mut v2 = s.bundle.clone();
    let header_end = v2.iter().position(|b| *b == b'\n').unwrap();
    v2.splice(
        ..header_end,
        br#"{"bundle":2,"origin":"edgeproof/gw-017","public_key":"x"}"#.iter().copied(),
    );
    std::fs::write(d.join("v2"), &v2).unwrap();
    std::fs::write(d.join("bad.pub"), b"not a key").unwrap();
    std::fs::write(d.join("ok"), &s.bundle).unwrap();
    let (ok, pk) = (d.join("ok"), s.public_key.clone());
    let cases = [
        ("missing bundle", d.join("nope"), pk.clone()),
        ("not a bundle", d.join("not-a-bundle"), pk.clone()),
        ("empty file", d.join("empty"), pk.clone()),
        ("bundle version 2", d.join("v2"), pk.clone()),
        ("bad key file", ok.clone(), d.join("bad.pub")),
        ("missing key file", ok.clone(), d.join("none.pub")),
    ];
    for (name, bundle, key) in cases {
        let out = run(Command::new(bin()).arg("verify").arg(bundle).arg("--public-key").arg(key));
        assert_eq!(out.status.code(), Some(2), "{name}: {}", describe(&out));
        assert!(!out.stderr.is_empty(), "{name}: says nothing");
    }
}

#[test]
fn bundle_from_stdin() {
    let s = scene();
    let mut child = Command::new(bin())
        .args(["verify", "-", "--public-key"])
        .arg(&s.public_key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&s.bundle).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

#[test]
fn keygen_writes_a_private_key_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let out = run(Command::new(bin()).arg("keygen").arg("--dir").arg(&keys));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let secret = keys.join("evidence.key");
    let public = keys.join("evidence.pub");
    assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
    let pk = edgeproof::evidence::PublicKey::load(&public).unwrap();
    assert!(stdout.contains(&pk.fingerprint()), "{stdout}");
    edgeproof::evidence::GatewayKey::load(&secret).unwrap();
    let before = std::fs::read(&secret).unwrap();
    let again = run(Command::new(bin()).arg("keygen").arg("--dir").arg(&keys));
    assert_eq!(again.status.code(), Some(1), "{}", describe(&again));
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(&secret).unwrap(), before);
}

/// Deterministic xorshift, so a failing case can be replayed from its printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = b.len().max(1);
        match rng.below(8) {
            0 => {
                let i = rng.below(len);
                if i < b.len() {
                    b[i] = rng.next() as u8;
                }
            }
            1 => {
                let i = rng.below(len);
                let n = rng.below(64).min(b.len() - i.min(b.len()));
                b.drain(i.min(b.len())..i.min(b.len()) + n);
            }
            2 => {
                let i = rng.below(len).min(b.len());
                let j = rng.below(len).min(b.len());
                let chunk: Vec<u8> = b[i.min(j)..i.max(j)].iter().take(4096).copied().collect();
                let at = rng.below(len).min(b.len());
                b.splice(at..at, chunk);
            }
            3 => b.truncate(rng.below(len)),
            4 => {
                // Swap two lines.
                let mut lines: Vec<&[u8]> = b.split(|c| *c == b'\n').collect();
                let (x, y) = (rng.below(lines.len()), rng.below(lines.len()));
                lines.swap(x, y);
                b = lines.join(&b'\n');
            }
            5 => {
                let i = rng.below(len).min(b.len());
                let junk: &[&[u8]] = &[
                    b"1e999",
                    b"\"\\ud800\"",
                    b"[[[[[[[[",
                    b"-0",
                    b"18446744073709551616",
                    b"{\"record\":{}}\n",
                    b"\xff\xfe",
                    b"\"seq\":0,\"seq\":1",
                ];
                let j = junk[rng.below(junk.len())];
                b.splice(i..i, j.iter().copied());
            }
            6 => {
                let i = rng.below(len).min(b.len());
                b.splice(i..i, std::iter::repeat_n(b'[', 200));
            }
            _ => {
                // Flip a digit, keeping the JSON valid: the interesting, signed-content case.
                let digits: Vec<usize> = b
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.is_ascii_digit())
                    .map(|(i, _)| i)
                    .collect();
                if !digits.is_empty() {
                    let i = digits[rng.below(digits.len())];
                    b[i] = b'0' + (rng.next() % 10) as u8;
                }
            }
        }
    }
    b
}

#[test]
fn random_and_mutated_bundles_never_panic_or_hang() {
    // A small log with every line kind: Ed25519 in a debug build costs ~10 ms per record,
    // so volume comes from the cargo-fuzz target (fuzz/), breadth from here.
    let witness = FakeWitness::new("witness.example.org/w1", 77);
    let mut g = FakeGateway::new("gw-fuzz", 13);
    g.enroll();
    g.checkpoint();
    g.usage(2);
    g.checkpoint();
    g.witness(&witness, 10);
    g.shutdown();
    g.restart(true, 1_000);
    g.usage(1);
    let bundle = g.bundle();
    let mut opts = VerifyOptions::new(g.key.public());
    opts.witnesses.push(witness.trusted());
    assert!(verify_bundle(&bundle[..], &opts).unwrap().intact);
    // The same bundle seeds the cargo-fuzz corpus (fuzz/corpus/verify/), whose target uses
    // these keys.
    if let Ok(path) = std::env::var("EDGEPROOF_FUZZ_SEED_OUT") {
        std::fs::write(path, &bundle).unwrap();
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut runs, mut intact, mut unusable) = (0u32, 0u32, 0u32);
    while runs < 150 {
        let case_seed = rng.0;
        let input = if runs % 10 == 9 {
            (0..rng.below(4096)).map(|_| rng.next() as u8).collect()
        } else {
            mutate(&mut rng, &bundle)
        };
        // A hang shows as this test never finishing; a panic names the case to replay.
        let r = std::panic::catch_unwind(|| verify_bundle(&input[..], &opts));
        let verdict = r.unwrap_or_else(|_| panic!("verify panicked on case seed {case_seed:#x}"));
        match verdict {
            Ok(v) if v.intact => intact += 1,
            Ok(v) => assert!(v.checks.iter().any(|c| c.status == Status::Fail)),
            Err(_) => unusable += 1,
        }
        runs += 1;
    }
    eprintln!("{runs} mutated bundles: {intact} intact, {unusable} unusable, rest tampered");
}

#[test]
fn tamper_helpers_leave_the_original_intact() {
    // Re-signing without edits reproduces a bundle that verifies: the helpers change only
    // what each attack changes.
    let s = scene();
    let same = tamper::resign(&s.bundle, &s.gateway.key, |_| {});
    let opts = {
        let mut o = VerifyOptions::new(s.gateway.key.public());
        o.witnesses.push(s.witness.trusted());
        o
    };
    let v = verify_bundle(&same[..], &opts).unwrap();
    assert!(v.intact, "{v:#?}");
    assert_eq!(same, s.bundle);
}

#[test]
fn cosignatures_carried_on_the_checkpoint_note_count_too() {
    // Some transports keep one note per tree head with every signature on it.
    let s = scene();
    let mut items = tamper::parse(&s.bundle);
    let mut witness_lines: Vec<(String, String)> = Vec::new();
    items.retain(|i| match i {
        tamper::Item::Other(l) if l.starts_with("{\"cosignature\"") => {
            let v: Value = serde_json::from_str(l).unwrap();
            let note = v["cosignature"].as_str().unwrap();
            let (text, sigs) = note.split_once("\n\n").unwrap();
            witness_lines.push((text.to_string(), sigs.to_string()));
            false
        }
        _ => true,
    });
    assert_eq!(witness_lines.len(), 2);
    for i in &mut items {
        if let tamper::Item::Checkpoint(c) = i {
            for (text, sigs) in &witness_lines {
                if c.starts_with(&format!("{text}\n\n")) {
                    c.push_str(sigs);
                }
            }
        }
    }
    let merged = tamper::join(&items);
    let mut opts = VerifyOptions::new(s.gateway.key.public());
    opts.witnesses.push(s.witness.trusted());
    let v = verify_bundle(&merged[..], &opts).unwrap();
    assert!(v.intact, "{v:#?}");
    assert_eq!(v.cosignatures, 2);
}
