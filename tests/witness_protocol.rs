//! `edgeproof witness serve` as a child process over real HTTP, on a real SQLite file and on a
//! real PostgreSQL database: a gateway's log submitted in growing checkpoints is cosigned
//! (C2SP tlog-cosignature, verified with the reviewer's code), and every refusal C2SP
//! tlog-witness names comes with its status — rollback and fork 409 with the latest size,
//! bad proof 422, bad signature 403, unknown log 404, malformed 400. State survives a restart.

use std::process::Command;

use edgeproof::evidence::cosignature::{verify_cosignatures, WitnessKey};
use edgeproof::evidence::keys::GatewayKey;
use edgeproof::evidence::merkle::Hash;
use edgeproof::evidence::note::SignedNote;
use edgeproof_review::witness::request;

use crate::support::fake_gateway::FakeGateway;
use crate::support::postgres::TestDb;
use crate::support::witness::{
    add_checkpoint, add_log, must_add_log, request as http, Reply, SubmitLog, WitnessProcess,
};
use crate::support::{bin, describe, run};

const NAME: &str = "witness.test.example/w1";

/// Checks a 200 answer: one cosignature line of `w` over `text`; returns its timestamp.
fn cosigned(reply: &Reply, text: &str, w: &WitnessKey) -> u64 {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.starts_with('\u{2014}') && reply.body.ends_with('\n'), "{reply:?}");
    let note = SignedNote::parse(&format!("{text}\n{}", reply.body)).expect("note + cosignature");
    let got = verify_cosignatures(&note, w).expect("cosignature verifies");
    got[0].timestamp
}

fn conflict(reply: &Reply, latest: u64) {
    assert_eq!(reply.status, 409, "{reply:?}");
    assert_eq!(reply.content_type, "text/x.tlog.size", "{reply:?}");
    assert_eq!(reply.body, format!("{latest}\n"));
}

/// The whole protocol against one database URL.
async fn scenario(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = FakeGateway::new("gw-w1", 21);
    gw.enroll();
    gw.usage(4);
    let origin = gw.origin();
    must_add_log(dir.path(), db, &origin, &gw.key);
    // Adding it again with the same key is fine; with another key it is refused (exit 1).
    must_add_log(dir.path(), db, &origin, &gw.key);
    let out = add_log(dir.path(), db, &origin, &GatewayKey::from_seed([99; 32]));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another key"), "{}", describe(&out));

    let w = WitnessProcess::start(dir.path(), db, NAME, 40, &[]).await;
    let trusted = w.trusted();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();

    // First checkpoint: old size 0, no proof.
    let s1 = gw.leaves().len() as u64;
    let log1 = SubmitLog::new(&origin, GatewayKey::from_seed([21; 32]), gw.leaves());
    let t = cosigned(&add_checkpoint(w.addr, &log1.body(0, s1)).await, &log1.text(s1), &trusted);
    assert!(t + 60 >= now && t <= now + 3600, "cosignature time {t} is not now ({now})");

    // Grows with a consistency proof.
    gw.usage(7);
    gw.checkpoint();
    let s2 = gw.leaves().len() as u64;
    let log2 = SubmitLog::new(&origin, GatewayKey::from_seed([21; 32]), gw.leaves());
    cosigned(&add_checkpoint(w.addr, &log2.body(s1, s2)).await, &log2.text(s2), &trusted);
    // The same checkpoint again: cosigned again, nothing changes.
    cosigned(&add_checkpoint(w.addr, &log2.body(s2, s2)).await, &log2.text(s2), &trusted);

    // Rollback to the older checkpoint, and a stale old size: 409 with the latest size.
    conflict(&add_checkpoint(w.addr, &log2.body(0, s1)).await, s2);
    conflict(&add_checkpoint(w.addr, &log2.body(s1, s1)).await, s2);
    gw.usage(3);
    let s3 = gw.leaves().len() as u64;
    let log3 = SubmitLog::new(&origin, GatewayKey::from_seed([21; 32]), gw.leaves());
    conflict(&add_checkpoint(w.addr, &log3.body(s1, s3)).await, s2);

    // A fork: the same key re-signs another history of the same size → 409; beyond that
    // size the proof cannot reach the cosigned root → 422.
    let mut forged = FakeGateway::new("gw-w1", 21);
    forged.enroll();
    forged.usage(3);
    forged.restart(false, 60_000);
    forged.usage(20);
    let fork = SubmitLog::new(&origin, GatewayKey::from_seed([21; 32]), forged.leaves());
    assert_ne!(fork.tree.root_at(s2), log2.tree.root_at(s2), "the fork must differ");
    conflict(&add_checkpoint(w.addr, &fork.body(s2, s2)).await, s2);
    let r = add_checkpoint(w.addr, &fork.body(s2, s2 + 3)).await;
    assert_eq!(r.status, 422, "{r:?}");

    // A proof that does not verify: 422.
    let mut proof = log3.tree.consistency_proof(s2, s3).unwrap();
    proof[0].0[0] ^= 1;
    let r = add_checkpoint(w.addr, &request::encode(s2, &proof, &log3.note(s3))).await;
    assert_eq!(r.status, 422, "{r:?}");
    let r = add_checkpoint(w.addr, &request::encode(s2, &proof[1..], &log3.note(s3))).await;
    assert_eq!(r.status, 422, "{r:?}");

    // The checkpoint signed by another key, or with a broken signature: 403.
    let stranger = SubmitLog::new(&origin, GatewayKey::from_seed([77; 32]), gw.leaves());
    let r = add_checkpoint(w.addr, &stranger.body(s2, s3)).await;
    assert_eq!(r.status, 403, "{r:?}");
    let mut note = SignedNote::parse(&log3.note(s3)).unwrap();
    note.signatures[0].sig[0] ^= 1;
    let proof = log3.tree.consistency_proof(s2, s3).unwrap();
    let r = add_checkpoint(w.addr, &request::encode(s2, &proof, &note.to_text())).await;
    assert_eq!(r.status, 403, "{r:?}");

    // A log the witness was not told about: 404.
    let unknown =
        SubmitLog::new("edgeproof/gw-nobody", GatewayKey::from_seed([21; 32]), gw.leaves());
    let r = add_checkpoint(w.addr, &unknown.body(0, s3)).await;
    assert_eq!(r.status, 404, "{r:?}");

    // Malformed: 400 (old size above the checkpoint's is 400 too, per the spec).
    for (what, body) in [
        ("garbage", b"hello\n".to_vec()),
        ("no checkpoint", b"old 0\n\n".to_vec()),
        ("old above size", request::encode(s3 + 1, &[], &log3.note(s3))),
        ("proof line not base64", format!("old {s2}\n!!\n\n{}", log3.note(s3)).into_bytes()),
    ] {
        let r = add_checkpoint(w.addr, &body).await;
        assert_eq!(r.status, 400, "{what}: {r:?}");
    }
    let r = http(w.addr, "GET", "/add-checkpoint", b"").await;
    assert_eq!(r.status, 405, "{r:?}");

    // None of that moved the state: the honest next checkpoint is cosigned.
    cosigned(&add_checkpoint(w.addr, &log3.body(s2, s3)).await, &log3.text(s3), &trusted);
    let stderr = w.stderr();
    for reason in [
        "reason=\"old_size\"",
        "reason=\"fork\"",
        "reason=\"bad_proof\"",
        "reason=\"bad_signature\"",
        "reason=\"unknown_log\"",
        "reason=\"malformed\"",
    ] {
        assert!(stderr.contains(reason), "refusal {reason} not logged:\n{stderr}");
    }
    assert!(stderr.contains(&origin), "{stderr}");

    // Each answer was counted by outcome.
    let m = http(w.addr, "GET", "/metrics", b"").await;
    assert_eq!(m.status, 200, "{m:?}");
    for (outcome, n) in [
        ("cosigned", 4),
        ("old_size", 3),
        ("fork", 1),
        ("bad_proof", 3),
        ("bad_signature", 2),
        ("unknown_log", 1),
        ("malformed", 4),
        ("unavailable", 0),
    ] {
        let line = format!("edgeproof_witness_requests_total{{outcome=\"{outcome}\"}} {n}\n");
        assert!(m.body.contains(&line), "{line:?} not in:\n{}", m.body);
    }

    // The fork and the unproven checkpoints (all signed by the gateway's key) were kept as
    // evidence; the 403s were not. The fork row holds two signed roots for one size.
    let out = run(Command::new(bin()).args(["witness", "conflicts", "--db", db]));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let reasons: Vec<&str> = rows.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons.iter().filter(|r| **r == "fork").count(), 1, "{reasons:?}");
    assert_eq!(reasons.iter().filter(|r| **r == "bad_proof").count(), 3, "{reasons:?}");
    let fork_row = rows.iter().find(|r| r["reason"] == "fork").unwrap();
    let refused = request::parse(fork_row["request"].as_str().unwrap().as_bytes()).unwrap();
    let gw_key = GatewayKey::from_seed([21; 32]).public();
    refused.note.verify_ed25519(&origin, &gw_key).expect("the fork is signed by the gateway");
    let kept = SignedNote::parse(fork_row["cosigned_note"].as_str().unwrap()).unwrap();
    kept.verify_ed25519(&origin, &gw_key).expect("the cosigned checkpoint is signed too");
    assert_eq!(kept.text, log2.text(s2));
    assert_eq!(refused.checkpoint.size, s2);
    assert_ne!(refused.note.text, kept.text, "two different signed checkpoints of size {s2}");

    // A restart keeps the state: asking with old size 0 tells the latest size.
    let status = w.stop();
    assert!(status.success(), "witness stopped with {status}");
    let w = WitnessProcess::start(dir.path(), db, NAME, 40, &[]).await;
    conflict(&add_checkpoint(w.addr, &log3.body(0, s1)).await, s3);
    let out = run(Command::new(bin()).args(["witness", "list", "--db", db]));
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{origin}\tsize {s3}")),
        "{}",
        describe(&out)
    );
}

#[tokio::test]
async fn protocol_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("witness.sqlite3");
    scenario(&db.display().to_string()).await;
}

#[tokio::test]
async fn protocol_on_postgres() {
    let db = TestDb::create("witness protocol").await;
    scenario(&db.url).await;
}

/// The vkey `witness vkey` prints is what `verify --witness-key` reads, and a bundle whose
/// checkpoint the real witness cosigned passes the witness check with it.
#[tokio::test]
async fn vkey_is_what_verify_takes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.sqlite3").display().to_string();
    let mut gw = FakeGateway::new("gw-w2", 22);
    gw.enroll();
    gw.usage(6);
    gw.checkpoint();
    must_add_log(dir.path(), &db, &gw.origin(), &gw.key);
    let w = WitnessProcess::start(dir.path(), &db, NAME, 41, &[]).await;
    let key_file = dir.path().join("witness-41.key");
    let out =
        run(Command::new(bin()).args(["witness", "vkey", "--name", NAME, "--key"]).arg(&key_file));
    assert!(out.status.success(), "{}", describe(&out));
    let vkey = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(WitnessKey::parse(&vkey, "vkey").unwrap(), w.trusted());

    let size = gw.leaves().len() as u64;
    let log = SubmitLog::new(&gw.origin(), GatewayKey::from_seed([22; 32]), gw.leaves());
    let r = add_checkpoint(w.addr, &log.body(0, size)).await;
    cosigned(&r, &log.text(size), &w.trusted());
    gw.add_cosigned(&format!("{}\n{}", log.text(size), r.body));
    let bundle = dir.path().join("bundle.jsonl");
    std::fs::write(&bundle, gw.bundle()).unwrap();
    let public = dir.path().join("gw.pub");
    std::fs::write(&public, gw.key.public().to_spki_pem()).unwrap();
    let vkey_file = dir.path().join("witness.vkey");
    std::fs::write(&vkey_file, &vkey).unwrap();
    let out = run(Command::new(bin())
        .arg("verify")
        .arg(&bundle)
        .arg("--public-key")
        .arg(&public)
        .arg("--witness-key")
        .arg(&vkey_file)
        .arg("--json"));
    assert!(out.status.success(), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = v.to_string();
    assert!(text.contains(&format!("\"witnessed_size\":{size}")), "{text}");
}

/// Several requests on one keep-alive connection (tlog-witness: witnesses SHOULD support
/// keep-alive), each sent the way curl sends a body: `Expect: 100-continue` first.
#[tokio::test]
async fn keep_alive_and_expect_continue() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.sqlite3").display().to_string();
    let key = GatewayKey::from_seed([23; 32]);
    must_add_log(dir.path(), &db, "edgeproof/gw-w3", &key);
    let w = WitnessProcess::start(dir.path(), &db, NAME, 42, &[]).await;
    let leaves: Vec<Hash> = (0..9u8).map(|i| Hash::sha256(&[i])).collect();
    let log = SubmitLog::new("edgeproof/gw-w3", key, &leaves);
    let mut s = tokio::net::TcpStream::connect(w.addr).await.unwrap();
    let mut buf = Vec::new();
    for (old, size, status) in [(0, 4, 200), (4, 9, 200), (4, 9, 409)] {
        let body = log.body(old, size);
        let head = format!(
            "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        // Wait for "100 Continue" before the body, as curl does.
        let cont = b"HTTP/1.1 100 Continue\r\n\r\n";
        let mut got = vec![0u8; cont.len()];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(got, cont);
        s.write_all(&body).await.unwrap();
        // One response: head, then Content-Length bytes.
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                if buf.len() >= end + 4 + len {
                    let reply = crate::support::witness::parse_reply(&buf[..end + 4 + len]);
                    buf.drain(..end + 4 + len);
                    assert!(head.contains("Connection: keep-alive"), "{head}");
                    if status == 409 {
                        conflict(&reply, 9);
                    } else {
                        cosigned(&reply, &log.text(size), &w.trusted());
                    }
                    break;
                }
            }
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed");
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Interop: a client written in Python from the C2SP specs and RFC 6962 alone
/// (tests/interop/tlog_witness_client.py: its own Merkle tree, consistency proofs, signed
/// notes, and cosignature verification with `cryptography`) gets cosignatures it can verify,
/// and the refusals the spec names, over one keep-alive connection.
#[tokio::test]
async fn a_client_written_from_the_specs_interoperates() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.sqlite3").display().to_string();
    let key = GatewayKey::from_seed([24; 32]);
    let key_pem = dir.path().join("log.key");
    std::fs::write(&key_pem, key.to_pkcs8_pem()).unwrap();
    must_add_log(dir.path(), &db, "example.com/interop-log", &key);
    let w = WitnessProcess::start(dir.path(), &db, NAME, 43, &[]).await;
    let script = format!("{}/tests/interop/tlog_witness_client.py", env!("CARGO_MANIFEST_DIR"));
    let out = run(Command::new(crate::support::python())
        .arg(script)
        .arg(format!("http://{}", w.addr))
        .arg(&key_pem)
        .arg("example.com/interop-log")
        .arg(w.trusted().vkey()));
    assert!(out.status.success(), "{}\n--- witness ---\n{}", describe(&out), w.stderr());
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("ok\n"), "{}", describe(&out));
}

/// With `--tls-cert/--tls-key` the witness speaks HTTPS: a client trusting the CA gets a
/// cosignature; the server certificate is the one given.
#[tokio::test]
async fn serves_https_with_the_given_certificate() {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{crypto::ring, ClientConfig, RootCertStore};

    let pki = crate::support::pki::Pki::generate();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.sqlite3").display().to_string();
    let key = GatewayKey::from_seed([25; 32]);
    must_add_log(dir.path(), &db, "edgeproof/gw-tls", &key);
    let (cert, tls_key) =
        (pki.server_cert.display().to_string(), pki.server_key.display().to_string());
    let w = WitnessProcess::start(
        dir.path(),
        &db,
        NAME,
        44,
        &["--tls-cert", &cert, "--tls-key", &tls_key],
    )
    .await;

    let mut roots = RootCertStore::empty();
    for c in edgeproof::publish::tls::pem_certs(std::path::Path::new(&pki.ca)).unwrap() {
        roots.add(CertificateDer::from(c.to_vec())).unwrap();
    }
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(w.addr).await.unwrap();
    let mut s = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();

    let leaves: Vec<Hash> = (0..6u8).map(|i| Hash::sha256(&[i])).collect();
    let log = SubmitLog::new("edgeproof/gw-tls", key, &leaves);
    let body = log.body(0, 6);
    let head = format!(
        "POST /add-checkpoint HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body).await.unwrap();
    let mut out = Vec::new();
    // The server closes after answering; a TLS close_notify may or may not precede it.
    let _ = s.read_to_end(&mut out).await;
    let reply = crate::support::witness::parse_reply(&out);
    cosigned(&reply, &log.text(6), &w.trusted());

    // Plain HTTP on the TLS port gets no answer, only a closed connection.
    let mut plain = tokio::net::TcpStream::connect(w.addr).await.unwrap();
    plain.write_all(b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await.unwrap();
    let mut junk = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), plain.read_to_end(&mut junk))
        .await
        .expect("server closed the plain connection");
    assert!(!junk.starts_with(b"HTTP/1.1 200"), "plain HTTP was served on the TLS port");
}

/// HTTP the witness does not serve gets the status that says why.
#[tokio::test]
async fn http_it_does_not_serve() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.sqlite3").display().to_string();
    let w = WitnessProcess::start(dir.path(), &db, NAME, 45, &[]).await;
    let raw = |bytes: &'static [u8]| async move {
        let mut s = tokio::net::TcpStream::connect(w.addr).await.unwrap();
        s.write_all(bytes).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        crate::support::witness::parse_reply(&out)
    };
    let cases: &[(&str, &[u8], u16)] = &[
        (
            "body too large",
            b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: 10000000\r\n\r\nold",
            413,
        ),
        (
            "chunked",
            b"POST /add-checkpoint HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        ("not HTTP", b"\x16\x03\x01\x00\x05hello\r\n\r\n", 400),
        ("other path", b"GET /checkpoint HTTP/1.1\r\nConnection: close\r\n\r\n", 404),
        ("health", b"GET /healthz HTTP/1.0\r\n\r\n", 200),
    ];
    for (case, bytes, status) in cases {
        let r = raw(bytes).await;
        assert_eq!(r.status, *status, "{case}: {r:?}");
    }
}

/// The PostgreSQL connection breaking (server restart, failover, an admin killing it) costs
/// the requests in flight a 503, never the witness: the next request reconnects.
#[tokio::test]
async fn survives_losing_its_postgres_connection() {
    let db = TestDb::create("witness reconnect").await;
    let dir = tempfile::tempdir().unwrap();
    let key = GatewayKey::from_seed([26; 32]);
    must_add_log(dir.path(), &db.url, "edgeproof/gw-pg", &key);
    let w = WitnessProcess::start(dir.path(), &db.url, NAME, 46, &[]).await;
    let leaves: Vec<Hash> = (0..12u8).map(|i| Hash::sha256(&[i])).collect();
    let log = SubmitLog::new("edgeproof/gw-pg", key, &leaves);
    cosigned(&add_checkpoint(w.addr, &log.body(0, 4)).await, &log.text(4), &w.trusted());

    let admin = db.connect().await;
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert!(!killed.is_empty(), "the witness had no connection to kill");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = add_checkpoint(w.addr, &log.body(4, 12)).await;
        if r.status == 200 {
            cosigned(&r, &log.text(12), &w.trusted());
            break;
        }
        assert_eq!(r.status, 503, "{r:?}");
        assert!(std::time::Instant::now() < deadline, "witness never reconnected:\n{}", w.stderr());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(w.stderr().contains("reconnecting"), "{}", w.stderr());
}
