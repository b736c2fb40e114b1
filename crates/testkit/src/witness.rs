//! `edgeproof witness serve` as a child process on a free port, a raw HTTP/1.1 client for
//! `add-checkpoint`, and logs to submit: a request body builder over any list of leaves.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use edgeproof::evidence::checkpoint::Checkpoint;
use edgeproof::evidence::cosignature::WitnessKey;
use edgeproof::evidence::keys::GatewayKey;
use edgeproof::evidence::merkle::{Hash, Tree};
use edgeproof_review::witness::request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{bin, describe, free_port, run};

/// A running `edgeproof witness serve`; killed when dropped.
pub struct WitnessProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its key name.
    pub name: String,
    /// Its signing key (the same as in its key file).
    pub key: GatewayKey,
    /// Its stderr, for failure messages.
    pub log: PathBuf,
}

/// Writes a witness signing key file (0600) for `seed` into `dir`.
pub fn key_file(dir: &Path, seed: u8) -> (PathBuf, GatewayKey) {
    let key = GatewayKey::from_seed([seed; 32]);
    let path = dir.join(format!("witness-{seed}.key"));
    std::fs::write(&path, key.to_pkcs8_pem()).expect("write witness key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    (path, key)
}

impl WitnessProcess {
    /// Starts a witness named `name` with key `seed` on `db`; waits until it accepts
    /// connections. `extra` arguments go to `serve` (e.g. TLS files).
    pub async fn start(dir: &Path, db: &str, name: &str, seed: u8, extra: &[&str]) -> Self {
        Self::start_on(dir, db, name, seed, free_port(), extra).await
    }

    /// Like [`WitnessProcess::start`], on a given port (e.g. one a gateway was already told
    /// about while the witness was down).
    pub async fn start_on(
        dir: &Path,
        db: &str,
        name: &str,
        seed: u8,
        port: u16,
        extra: &[&str],
    ) -> Self {
        Self::start_with_env(dir, db, name, seed, port, extra, &[]).await
    }

    /// Like [`WitnessProcess::start_on`], with extra environment variables (e.g. libfaketime's,
    /// for a witness whose clock runs behind or ahead of the gateway's).
    pub async fn start_with_env(
        dir: &Path,
        db: &str,
        name: &str,
        seed: u8,
        port: u16,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let (key_path, key) = key_file(dir, seed);
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let log = dir.join(format!("witness-{port}.log"));
        let child = Command::new(bin())
            .args(["witness", "serve", "--db", db, "--name", name, "--listen"])
            .arg(addr.to_string())
            .arg("--key")
            .arg(&key_path)
            .args(extra)
            .env("RUST_LOG", "edgeproof=info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn edgeproof witness serve");
        let mut w = WitnessProcess { child, addr, name: name.into(), key, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).await.is_err() {
            if let Some(status) = w.child.try_wait().expect("try_wait") {
                panic!("witness exited with {status} before listening:\n{}", w.stderr());
            }
            assert!(Instant::now() < deadline, "witness not listening on {addr}:\n{}", w.stderr());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        w
    }

    /// The verifier key reviewers trust.
    pub fn trusted(&self) -> WitnessKey {
        WitnessKey { name: self.name.clone(), key: self.key.public() }
    }

    /// What it logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it with SIGTERM and waits; returns its exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("wait for witness")
    }
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `edgeproof witness add-log` for `origin` with the public key `key`, written into `dir`.
pub fn add_log(dir: &Path, db: &str, origin: &str, key: &GatewayKey) -> Output {
    let public = dir.join(format!("{}.pub", origin.replace('/', "_")));
    std::fs::write(&public, key.public().to_spki_pem()).expect("write public key");
    run(Command::new(bin())
        .args(["witness", "add-log", "--db", db, "--origin", origin, "--public-key"])
        .arg(&public))
}

/// Like [`add_log`], asserting success.
pub fn must_add_log(dir: &Path, db: &str, origin: &str, key: &GatewayKey) {
    let out = add_log(dir, db, origin, key);
    assert!(out.status.success(), "add-log {origin}: {}", describe(&out));
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// `Content-Type` header.
    pub content_type: String,
    /// Body as text.
    pub body: String,
}

/// Sends one request (`Connection: close`) and reads the whole answer.
pub async fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Reply {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.expect("connect to witness");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.expect("send head");
        s.write_all(body).await.expect("send body");
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.expect("read answer");
        parse_reply(&out)
    };
    tokio::time::timeout(Duration::from_secs(30), exchange).await.expect("witness answered")
}

/// `POST /add-checkpoint`.
pub async fn add_checkpoint(addr: SocketAddr, body: &[u8]) -> Reply {
    request(addr, "POST", "/add-checkpoint", body).await
}

/// Parses one complete HTTP/1.1 response.
pub fn parse_reply(raw: &[u8]) -> Reply {
    let text = String::from_utf8(raw.to_vec()).expect("UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head: {text:?}"));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let content_type =
        head.lines().find_map(|l| l.strip_prefix("Content-Type: ")).unwrap_or_default().to_string();
    Reply { status, content_type, body: body.to_string() }
}

/// A log to submit: leaves, the key that signs its checkpoints, its origin.
pub struct SubmitLog {
    /// Origin line (and key name).
    pub origin: String,
    /// Checkpoint signing key.
    pub key: GatewayKey,
    /// The tree over the leaves.
    pub tree: Tree,
}

impl SubmitLog {
    /// A log over these leaf hashes.
    pub fn new(origin: &str, key: GatewayKey, leaves: &[Hash]) -> Self {
        SubmitLog { origin: origin.into(), key, tree: Tree::from_leaves(leaves.iter().copied()) }
    }

    /// The signed checkpoint note at `size`.
    pub fn note(&self, size: u64) -> String {
        let root = self.tree.root_at(size).expect("size within the log");
        Checkpoint::new(self.origin.clone(), size, root).sign(&self.key).to_text()
    }

    /// The note text (what cosignatures cover) at `size`.
    pub fn text(&self, size: u64) -> String {
        let note = self.note(size);
        note[..note.find("\n\n").expect("note text") + 1].to_string()
    }

    /// A correct `add-checkpoint` body from `old` to `size`.
    pub fn body(&self, old: u64, size: u64) -> Vec<u8> {
        let proof = self.tree.consistency_proof(old, size).expect("proof");
        request::encode(old, &proof, &self.note(size))
    }
}
