//! Verdicts a reviewer can act on (issue 14), on a real exported bundle: `edgeproof run`
//! under libfaketime with a real mosquitto and a real `edgeproof witness serve` whose clock
//! runs 2 h ahead (cosignatures arrive "late" but within the default 6 h lag), SIGKILLed
//! once, stopped cleanly, its wall clock stepped back 30 s while stopped (an NTP step at
//! service restart, same kernel boot), started again, exported.
//!
//! - The honest bundle verifies (exit 0): the step is a time note explained by the `clock`
//!   record the agent wrote at start, the SIGKILL an unclean stop, the witness lag within
//!   the allowed one; with `--max-witness-lag 1h` still exit 0, but every witnessed record
//!   is *witnessed late* and the report's witnessed coverage drops to 0.
//! - A mutation harness: over 30 tamper classes, each exit 1 naming the right check with a
//!   seq range or line; a middle gap is a gap (never "another root" or "the tail was cut").

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use edgeproof::evidence::checkpoint::Checkpoint;
use edgeproof::evidence::keys::GatewayKey;
use edgeproof::evidence::merkle::Hash;
use edgeproof::evidence::note::SignedNote;
use edgeproof::evidence::record::{Body, ClockStep, PreviousRun};
use serde_json::{json, Value};

use crate::support::agent::{mqtt_plain, write_config, Agent};
use crate::support::mosquitto::Mosquitto;
use crate::support::plant::{Plant, Points};
use crate::support::subscriber::Subscriber;
use crate::support::tamper::{self, Item};
use crate::support::witness::{key_file, must_add_log, WitnessProcess};
use crate::support::{bin, describe, free_port, run, wait_for};

const WAIT: Duration = Duration::from_secs(90);
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const PREFIX: &str = "edgeproof/gw-test";
const ORIGIN: &str = "edgeproof/gw-test";
const WITNESS: &str = "witness.test/late";
const WITNESS_SEED: u8 = 43;

fn faketime_env(offset_file: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("LD_PRELOAD", LIBFAKETIME.to_string()),
        ("FAKETIME_TIMESTAMP_FILE", offset_file.display().to_string()),
        ("FAKETIME_NO_CACHE", "1".to_string()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_string()),
    ]
}

/// Distinct seqs of published evidence records of a type.
fn published(sub: &Subscriber, typ: &str) -> std::collections::BTreeSet<u64> {
    sub.all()
        .iter()
        .filter(|m| m.topic == format!("{PREFIX}/evidence"))
        .map(|m| m.json())
        .filter(|v| v["typ"] == typ)
        .filter_map(|v| v["seq"].as_u64())
        .collect()
}

struct Real {
    dir: tempfile::TempDir,
    config: PathBuf,
    bundle: Vec<u8>,
    key: GatewayKey,
    public_key: PathBuf,
    vkey: PathBuf,
}

/// Runs the agent through SIGKILL, a clean stop and a 30 s step back, and exports.
async fn real_bundle() -> Real {
    assert!(Path::new(LIBFAKETIME).exists(), "needs libfaketime: apt-get install libfaketime");
    let plant = Plant::start(&[("press-01", Points::U16(4), "200ms")]).await;
    let port = free_port();
    let _broker = Mosquitto::plain(port).await;
    let sub = Subscriber::start(port, &format!("{PREFIX}/#")).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("data").join("keys");
    let out = run(Command::new(bin()).arg("keygen").arg("--dir").arg(&keys));
    assert!(out.status.success(), "{}", describe(&out));
    let key = GatewayKey::load(&keys.join("evidence.key")).unwrap();

    // A witness whose clock runs two hours ahead: every cosignature is 2 h "late".
    let db = dir.path().join("witness.sqlite3").display().to_string();
    must_add_log(dir.path(), &db, ORIGIN, &key);
    let (_, witness_key) = key_file(dir.path(), WITNESS_SEED);
    let vkey = edgeproof::evidence::cosignature::WitnessKey {
        name: WITNESS.into(),
        key: witness_key.public(),
    }
    .vkey();
    let vkey_file = dir.path().join("witness.vkey");
    std::fs::write(&vkey_file, format!("{vkey}\n")).unwrap();
    let witness_clock = dir.path().join("witness-faketime.rc");
    std::fs::write(&witness_clock, "+7200\n").unwrap();
    let wenv = faketime_env(&witness_clock);
    let wenv: Vec<(&str, &str)> = wenv.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let witness = WitnessProcess::start_with_env(
        dir.path(),
        &db,
        WITNESS,
        WITNESS_SEED,
        free_port(),
        &[],
        &wenv,
    )
    .await;

    let config = write_config(
        dir.path(),
        &format!(
            "{}\n[journal]\nflush_interval = \"100ms\"\n\n[evidence]\ninterval = \"1s\"\n\
             checkpoint_interval = \"2s\"\nwitnesses = [{{ url = \"http://{}\", \
             public_key = \"{vkey}\" }}]\n\n{}",
            mqtt_plain(port),
            witness.addr,
            plant.toml()
        ),
    );
    let agent_clock = dir.path().join("agent-faketime.rc");
    std::fs::write(&agent_clock, "+0\n").unwrap();
    let aenv = faketime_env(&agent_clock);
    let aenv: Vec<(&str, &str)> = aenv.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut agent = Agent::start_with_env(&config, &aenv);
    wait_for("usage and an anchor in run 1", WAIT, || {
        published(&sub, "usage").len() >= 3 && !published(&sub, "anchor").is_empty()
    })
    .await;

    // SIGKILL: an unclean stop, then run 2.
    agent.kill();
    agent.restart();
    wait_for("run 2 started", WAIT, || published(&sub, "boot").len() >= 2).await;
    let usage = published(&sub, "usage").len();
    wait_for("usage in run 2", WAIT, || published(&sub, "usage").len() >= usage + 2).await;
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "{status}");

    // An NTP step back while the service is stopped, same kernel boot; run 3.
    std::fs::write(&agent_clock, "-30\n").unwrap();
    agent.restart();
    wait_for("the clock record at start", WAIT, || !published(&sub, "clock").is_empty()).await;
    let clock_seq = *published(&sub, "clock").iter().next().unwrap();
    wait_for("an anchor covering run 3", WAIT, || {
        sub.all()
            .iter()
            .filter(|m| m.topic == format!("{PREFIX}/evidence"))
            .map(|m| m.json())
            .any(|v| v["typ"] == "anchor" && v["body"]["size"].as_u64() > Some(clock_seq + 3))
    })
    .await;
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "{status}");
    drop(witness);

    let path = dir.path().join("bundle.jsonl");
    let out = run(Command::new(bin()).args(["export", "-c"]).arg(&config).arg("-o").arg(&path));
    assert!(out.status.success(), "{}", describe(&out));
    let bundle = std::fs::read(&path).unwrap();
    Real { public_key: keys.join("evidence.pub"), vkey: vkey_file, dir, config, bundle, key }
}

impl Real {
    fn verify(&self, bundle: &[u8], extra: &[&str]) -> (Output, Value) {
        let path = self.dir.path().join("candidate.jsonl");
        std::fs::write(&path, bundle).unwrap();
        let out = run(Command::new(bin())
            .arg("verify")
            .arg(&path)
            .arg("--public-key")
            .arg(&self.public_key)
            .arg("--witness-key")
            .arg(&self.vkey)
            .arg("--json")
            .args(extra));
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, v)
    }
}

fn failed(v: &Value) -> Vec<String> {
    v["checks"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|c| c["status"] == "fail")
                .map(|c| c["check"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn findings(v: &Value) -> Vec<String> {
    v["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["findings"].as_array().cloned().unwrap_or_default())
        .map(|f| f["message"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Bundle lines as JSON values (records are `{"record":…}` lines).
fn lines(bundle: &[u8]) -> Vec<String> {
    String::from_utf8(bundle.to_vec()).unwrap().lines().map(str::to_string).collect()
}

fn unlines(lines: &[String]) -> Vec<u8> {
    (lines.join("\n") + "\n").into_bytes()
}

/// Index of the line holding record `seq`.
fn line_of(lines: &[String], seq: u64) -> usize {
    lines
        .iter()
        .position(|l| {
            serde_json::from_str::<Value>(l).ok().and_then(|v| v["record"]["seq"].as_u64())
                == Some(seq)
        })
        .unwrap()
}

/// Replaces every checkpoint line by `f(note)`, keeping cosignature lines.
fn map_checkpoints(bundle: &[u8], mut f: impl FnMut(&str) -> Option<String>) -> Vec<u8> {
    let items: Vec<Item> = tamper::parse(bundle)
        .into_iter()
        .filter_map(|i| match i {
            Item::Checkpoint(c) => f(&c).map(Item::Checkpoint),
            other => Some(other),
        })
        .collect();
    tamper::join(&items)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_bundles_accuse_no_honest_gateway_and_reject_every_tamper_class() {
    let real = real_bundle().await;
    let b = &real.bundle;
    let key = &real.key;
    let n = tamper::record_count(b);
    let usage = tamper::seqs_of_type(b, "usage");
    let boots = tamper::seqs_of_type(b, "boot");
    let clocks = tamper::seqs_of_type(b, "clock");
    assert!(boots.len() >= 3 && clocks.len() == 1 && usage.len() >= 6, "{boots:?} {clocks:?}");
    assert_eq!(clocks[0], boots[2] + 1, "the clock record follows run 3's boot record");

    // Legitimate: SIGKILL, a 30 s step between runs, a witness 2 h behind.
    let (out, v) = real.verify(b, &[]);
    assert_eq!(out.status.code(), Some(0), "honest bundle: {}", describe(&out));
    let text = v.to_string();
    assert!(text.contains("recorded by the agent at start"), "{v:#}");
    assert_eq!(v["witness_reach"]["witnessed_late"], 0, "{v:#}");
    assert_eq!(v["witness_reach"]["first_witnessed_seq"], 0, "{v:#}");
    let (out, v) = real.verify(b, &["--max-witness-lag", "1h"]);
    assert_eq!(out.status.code(), Some(0), "late witnessing is no tampering: {}", describe(&out));
    let late = v["witness_reach"]["witnessed_late"].as_u64().unwrap();
    let last = v["witness_reach"]["last_witnessed_seq"].as_u64().unwrap();
    assert_eq!(late, last + 1, "every witnessed record is late against 1 h: {v:#}");
    assert!(v.to_string().contains("witnessed late"), "{v:#}");
    // Without the witness key too.
    let path = real.dir.path().join("plain.jsonl");
    std::fs::write(&path, b).unwrap();
    let out =
        run(Command::new(bin()).arg("verify").arg(&path).arg("--public-key").arg(&real.public_key));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    // The report: witnessed coverage beside coverage; late witnessing lowers only the former.
    let at = edgeproof::model::now_ms().to_string();
    let report = |extra: &[&str]| -> Value {
        let json = real.dir.path().join("report.json");
        let out = run(Command::new(bin())
            .arg("report")
            .arg(&path)
            .arg("--public-key")
            .arg(&real.public_key)
            .arg("--witness-key")
            .arg(&real.vkey)
            .args(["--gateway", "gw-test", "--uscc", "91440300MA5DEM0A0G", "--project", "P-TEST"])
            .arg("--html")
            .arg(real.dir.path().join("report.html"))
            .arg("--json")
            .arg(&json)
            .args(["--at", &at])
            .args(extra));
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap()
    };
    let timely = report(&[]);
    let late = report(&["--max-witness-lag", "1h"]);
    assert!(timely["coverage_ppm"].as_u64().unwrap() > 0, "{timely:#}");
    assert!(timely["witnessed_coverage_ppm"].as_u64().unwrap() > 0, "{timely:#}");
    assert_eq!(late["witnessed_coverage_ppm"], 0, "{late:#}");
    assert_eq!(late["coverage_ppm"], timely["coverage_ppm"]);
    assert!(late["anomalies"].to_string().contains("witnessed_late"));
    let html = std::fs::read_to_string(real.dir.path().join("report.html")).unwrap();
    assert!(html.contains("witnessed coverage") && html.contains("witness reach"));
    crate::evidence_run::render_in_chromium(
        &real.dir.path().join("report.html"),
        &crate::evidence_run::target_dir().join("evidence-witness-report.png"),
    );

    // export --to: the summary counts checkpoint lines and cosignature lines apart, and what
    // it writes verifies.
    let cut_at = tamper::parse(b)
        .iter()
        .find_map(|i| match i {
            Item::Record(v) if v["seq"].as_u64() == Some(usage[usage.len() / 2]) => {
                v["t"]["wall_ms"].as_u64()
            }
            _ => None,
        })
        .unwrap();
    let partial = real.dir.path().join("partial.jsonl");
    let out = run(Command::new(bin())
        .args(["export", "-c"])
        .arg(&real.config)
        .arg("-o")
        .arg(&partial)
        .args(["--to", &cut_at.to_string()]));
    assert!(out.status.success(), "{}", describe(&out));
    let written = std::fs::read(&partial).unwrap();
    let count = |prefix: &str| lines(&written).iter().filter(|l| l.starts_with(prefix)).count();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        said.contains(&format!(
            "{} checkpoints and {} cosigned checkpoints",
            count("{\"checkpoint\""),
            count("{\"cosignature\"")
        )),
        "{said}"
    );
    let (out, _) = real.verify(&written, &[]);
    assert_eq!(out.status.code(), Some(0), "export --to: {}", describe(&out));

    // A middle gap is a gap, with its range; never another root nor a cut tail.
    let mid = usage[usage.len() / 2];
    let gap = [mid, mid + 1].iter().fold(b.clone(), |acc, s| tamper::delete_record(&acc, *s));
    let (out, v) = real.verify(&gap, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(failed(&v), ["chain"], "only the chain fails: {v:#}");
    let all = findings(&v).join("\n");
    assert!(all.contains(&format!("missing: 2 record(s) absent before seq {}", mid + 2)), "{all}");
    assert!(!all.contains("another root") && !all.contains("tail was cut"), "{all}");
    assert!(v.to_string().contains("(records missing)"), "{v:#}");

    // The mutation harness: (name, bundle, the check that must fail).
    let ls = lines(b);
    let u = usage[1];
    let first_cp = ls.iter().position(|l| l.starts_with("{\"checkpoint\"")).unwrap();
    let cos_line = ls.iter().position(|l| l.starts_with("{\"cosignature\""));
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "usage count edited",
            tamper::edit_field(b, u, "/body/devices/0/points_read", json!(999_999)),
            "signatures",
        ),
        ("wall time edited", tamper::edit_field(b, u, "/t/wall_ms", json!(1)), "signatures"),
        ("signature removed", tamper::edit_field(b, u, "/sig", json!("")), "signatures"),
        ("seq edited", tamper::edit_field(b, u, "/seq", json!(u + 1000)), "signatures"),
        (
            "record signed by another key",
            tamper::resign(b, &GatewayKey::from_seed([9; 32]), |_| {}),
            "signatures",
        ),
        ("middle record deleted", tamper::delete_record(b, u), "chain"),
        ("first record deleted", tamper::delete_record(b, 0), "chain"),
        ("record duplicated", tamper::duplicate_record(b, u), "chain"),
        ("records swapped", tamper::swap_records(b, u, u + 1), "chain"),
        (
            "prev relinked",
            tamper::edit_field(b, u, "/prev", json!(Hash::sha256(b"x").to_hex())),
            "chain",
        ),
        (
            "record of format v2",
            unlines(&{
                let mut l = ls.clone();
                let i = line_of(&l, u);
                l[i] = l[i].replacen("\"v\":1", "\"v\":2", 1);
                l
            }),
            "chain",
        ),
        (
            "garbage line",
            unlines(&{
                let mut l = ls.clone();
                l.insert(line_of(&l, u), "{\"record\":".into());
                l
            }),
            "chain",
        ),
        (
            "record line cut in half",
            unlines(&{
                let mut l = ls.clone();
                let i = line_of(&l, u);
                let h = l[i].len() / 2;
                l[i].truncate(h);
                l
            }),
            "chain",
        ),
        ("tail cut below a checkpoint", tamper::truncate_from(b, n - 3), "checkpoints"),
        (
            "usage inflated and re-signed",
            tamper::resign(b, key, |r| {
                if let Body::Usage(x) = &mut r.body {
                    for d in &mut x.devices {
                        d.points_read *= 3
                    }
                }
            }),
            "witness",
        ),
        ("all checkpoints removed", map_checkpoints(b, |_| None), "checkpoints"),
        (
            "checkpoint signature flipped",
            map_checkpoints(b, |c| {
                Some(c.replacen("— edgeproof/gw-test ", "— edgeproof/gw-test AAAA", 1))
            }),
            "checkpoints",
        ),
        (
            "checkpoint with a forged root",
            map_checkpoints(b, |c| {
                let note = SignedNote::parse(c).ok()?;
                let cp = Checkpoint::parse_body(&note.text).ok()?;
                Some(
                    Checkpoint::new(cp.origin, cp.size, Hash::sha256(b"forged"))
                        .sign(key)
                        .to_text(),
                )
            }),
            "checkpoints",
        ),
        (
            "checkpoint of another origin",
            map_checkpoints(b, |c| {
                let note = SignedNote::parse(c).ok()?;
                let cp = Checkpoint::parse_body(&note.text).ok()?;
                Some(
                    Checkpoint::new(String::from("edgeproof/other"), cp.size, cp.root)
                        .sign(key)
                        .to_text(),
                )
            }),
            "checkpoints",
        ),
        (
            "history backdated and re-signed",
            tamper::resign_backdated(b, key, usage[2], 3_600_000),
            "witness",
        ),
        ("wall clock jump re-signed", tamper::wall_clock_jump(b, key, u, 600_000), "time"),
        (
            "bogus clock step claimed",
            tamper::resign(b, key, |r| {
                if let Body::Clock(c) = &mut r.body {
                    c.step_ms = 600_000
                }
            }),
            "time",
        ),
        (
            "clock record inserted without a step",
            tamper::resign(b, key, |r| {
                if r.seq == u {
                    r.body = Body::Clock(ClockStep { step_ms: -600_000 })
                }
            }),
            "time",
        ),
        (
            "clock record at start claims no step",
            tamper::resign(b, key, |r| {
                if let Body::Clock(c) = &mut r.body {
                    c.step_ms = 0
                }
            }),
            "time",
        ),
        (
            "monotonic clock back",
            tamper::resign(b, key, |r| {
                if r.seq == u {
                    r.t.mono_ms -= 10_000
                }
            }),
            "time",
        ),
        (
            "boot says clean after a kill",
            tamper::resign(b, key, |r| {
                if let Body::Boot(x) = &mut r.body {
                    if x.previous == PreviousRun::Unclean {
                        x.previous = PreviousRun::Clean
                    }
                }
            }),
            "time",
        ),
        (
            "start counter back",
            tamper::resign(b, key, |r| {
                if r.seq >= boots[2] {
                    r.boot.n = 1
                }
            }),
            "time",
        ),
        (
            "origin changed",
            tamper::resign(b, key, |r| {
                if r.seq == u {
                    r.origin = "edgeproof/other".into()
                }
            }),
            "identity",
        ),
        (
            "gateway changed",
            tamper::resign(b, key, |r| {
                if r.seq == u {
                    r.gw = "gw-other".into()
                }
            }),
            "identity",
        ),
        (
            "enrolled USCC changed",
            tamper::resign(b, key, |r| {
                if let Body::Enroll(e) = &mut r.body {
                    e.uscc = "91440300MA5DEM0A0X".into()
                }
            }),
            "identity",
        ),
        (
            "enrolled key changed",
            tamper::resign(b, key, |r| {
                if let Body::Enroll(e) = &mut r.body {
                    e.key = GatewayKey::from_seed([8; 32]).public().to_base64()
                }
            }),
            "identity",
        ),
        (
            "header names another key",
            unlines(&{
                let mut l = ls.clone();
                let h: Value = serde_json::from_str(&l[0]).unwrap();
                l[0] = l[0].replace(
                    h["public_key"].as_str().unwrap(),
                    &GatewayKey::from_seed([8; 32]).public().to_base64(),
                );
                l
            }),
            "identity",
        ),
        (
            "second header",
            unlines(&{
                let mut l = ls.clone();
                let h = l[0].clone();
                l.insert(first_cp, h);
                l
            }),
            "identity",
        ),
        (
            "records after a checkpoint dated in the future",
            tamper::resign(b, key, |r| {
                if r.seq == usage[0] {
                    r.t.wall_ms += 86_400_000;
                    r.t.mono_ms += 86_400_000
                }
            }),
            "time",
        ),
    ];
    if let Some(c) = cos_line {
        cases.push((
            "cosignature lines removed",
            unlines(&{
                let mut l = ls.clone();
                l.retain(|x| !x.starts_with("{\"cosignature\""));
                l.iter_mut().for_each(|x| {
                    if x.starts_with("{\"checkpoint\"") {
                        let v: Value = serde_json::from_str(x).unwrap();
                        let t = v["checkpoint"].as_str().unwrap();
                        let keep: Vec<&str> = t.lines().filter(|y| !y.contains(WITNESS)).collect();
                        *x = serde_json::to_string(&json!({"checkpoint": keep.join("\n") + "\n"}))
                            .unwrap();
                    }
                });
                l
            }),
            "witness",
        ));
        cases.push((
            "cosignature signature flipped",
            unlines(&{
                let mut l = ls.clone();
                let v: Value = serde_json::from_str(&l[c]).unwrap();
                let t = v["cosignature"].as_str().unwrap();
                let i = t.find(&format!("\u{2014} {WITNESS} ")).unwrap();
                let i = i + t[i..].find('\n').unwrap() - 6;
                let mut t = t.to_string();
                let ch = if &t[i..i + 1] == "A" { "B" } else { "A" };
                t.replace_range(i..i + 1, ch);
                l[c] = serde_json::to_string(&json!({"cosignature": t})).unwrap();
                l
            }),
            "witness",
        ));
    }
    assert!(cases.len() >= 30, "{} tamper classes", cases.len());
    let mut summary = Vec::new();
    for (name, bundle, check) in &cases {
        assert_ne!(bundle, b, "{name}: the mutation changed nothing");
        let (out, v) = real.verify(bundle, &[]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", describe(&out));
        let f = failed(&v);
        assert!(f.iter().any(|c| c == check), "{name}: expected {check} among {f:?}\n{v:#}");
        let report = v["checks"].as_array().unwrap().iter().find(|c| c["check"] == *check).unwrap();
        assert!(
            report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f.get("seq").is_some() || f.get("line").is_some())
                || report["findings"].to_string().contains("no signed checkpoint")
                || report["findings"].to_string().contains("no cosignature"),
            "{name}: {check} names no seq range or line\n{report:#}"
        );
        summary.push(format!("{name} → {f:?}"));
    }
    // Expecting another gateway is an identity failure, too.
    let (out, v) = real.verify(b, &["--gateway", "gw-other"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(failed(&v), ["identity"]);
    eprintln!(
        "evidence_verdicts: {n} records, {} tamper classes all exit 1 with the named check:\n  {}",
        cases.len(),
        summary.join("\n  ")
    );
}

/// The committed v1 bundle (from the fake gateway: enroll, boot, usage, checkpoints, a
/// witness cosignature) with its gateway key and witness vkey: `verify` must accept it as
/// long as format version 1 exists. `EDGEPROOF_WRITE_GOLDEN=1` writes it anew — only ever
/// for a new format version, never to make this test pass.
#[test]
fn golden_v1_bundle_verifies_forever() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/evidence-v1");
    if std::env::var_os("EDGEPROOF_WRITE_GOLDEN").is_some() {
        use crate::support::fake_gateway::{self, FakeWitness};
        let witness = FakeWitness::new("witness.example.org/golden", 77);
        let gateway = fake_gateway::standard("gw-golden", 11, &witness);
        std::fs::write(dir.join("bundle.jsonl"), gateway.bundle()).unwrap();
        let (public, vkey) = fake_gateway::key_files(&dir, &gateway, &witness);
        std::fs::rename(public, dir.join("gateway.pub")).unwrap();
        std::fs::rename(vkey, dir.join("witness.vkey")).unwrap();
    }
    let out = run(Command::new(bin())
        .arg("verify")
        .arg(dir.join("bundle.jsonl"))
        .arg("--public-key")
        .arg(dir.join("gateway.pub"))
        .arg("--witness-key")
        .arg(dir.join("witness.vkey"))
        .args(["--gateway", "gw-golden", "--json"]));
    assert_eq!(out.status.code(), Some(0), "the golden v1 bundle: {}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["intact"], true);
    assert_eq!(failed(&v), Vec::<String>::new());
    assert!(v["witnessed_size"].as_u64().unwrap() > 0, "{v:#}");
    assert_eq!(
        v["records"].as_u64(),
        Some(tamper::record_count(&std::fs::read(dir.join("bundle.jsonl")).unwrap()))
    );
}
