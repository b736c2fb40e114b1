//! What `demo` shows the product is for: usage evidence a reviewer checks. The demo makes
//! the gateway's key in its data directory, runs a local witness (the `edgeproof-review`
//! binary installed next to this one, as a child process: the gateway never links the
//! reviewer's code), and at the end exports the bundle, verifies it and writes the report,
//! printing the paths and the one-line verdict. Without `edgeproof-review` it says so and
//! goes on without a witness and a report.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use edgeproof::evidence::cosignature::WitnessKey;
use edgeproof::evidence::keys::{write_key_files, GatewayKey};
use tracing::warn;

/// The demo gateway's log origin (`edgeproof/<gateway id>`).
const ORIGIN: &str = "edgeproof/gw-demo-01";
/// The local witness's key name.
const WITNESS_NAME: &str = "witness.demo.local/w1";
/// How long the witness may take to listen.
const WITNESS_START: Duration = Duration::from_secs(10);

/// The local witness, a child process.
struct Witness {
    child: Child,
    url: String,
    vkey: String,
    vkey_file: PathBuf,
}

/// Keys and witness of one demo run.
pub struct DemoEvidence {
    dir: PathBuf,
    review: Option<PathBuf>,
    witness: Option<Witness>,
}

/// `edgeproof-review` beside the running binary, if installed.
fn review_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let review = exe.with_file_name("edgeproof-review");
    review.is_file().then_some(review)
}

impl DemoEvidence {
    /// Makes the gateway key under `data_dir/keys` (kept if there is one) and starts the
    /// witness. Errors are messages for the user; only a key that cannot be made is fatal.
    pub fn prepare(data_dir: &Path) -> Result<DemoEvidence, String> {
        let keys = data_dir.join("keys");
        if !keys.join("evidence.key").exists() {
            write_key_files(&keys, &GatewayKey::generate())
                .map_err(|e| format!("cannot make the demo's evidence key: {e}"))?;
        }
        let review = review_binary();
        let witness = match &review {
            Some(bin) => match start_witness(bin, data_dir) {
                Ok(w) => Some(w),
                Err(e) => {
                    warn!("the local witness did not start ({e}); the demo runs without one");
                    None
                }
            },
            None => None,
        };
        Ok(DemoEvidence { dir: data_dir.to_path_buf(), review, witness })
    }

    /// The `[evidence]` section: short intervals so a short demo shows several records.
    pub fn config_section(&self) -> String {
        let mut t = String::from(
            "# Usage evidence: signed records every 10 s, checkpoints cosigned by a witness.\n\
             [evidence]\ninterval = \"10s\"\ncheckpoint_interval = \"10s\"\n",
        );
        if let Some(w) = &self.witness {
            let _ = writeln!(
                t,
                "[[evidence.witnesses]]\nurl = \"{}\"\npublic_key = \"{}\"",
                w.url, w.vkey
            );
        }
        t.push('\n');
        t
    }

    /// Lines for the demo's banner.
    pub fn banner(&self) -> String {
        let mut s =
            format!("  evidence key {}\n", self.dir.join("keys").join("evidence.pub").display());
        match (&self.witness, &self.review) {
            (Some(w), _) => {
                let _ = writeln!(s, "  witness      {} (edgeproof-review witness serve)", w.url);
            }
            (None, Some(_)) => s.push_str("  witness      none: the local witness did not start\n"),
            (None, None) => s.push_str(
                "  witness      none: edgeproof-review is not installed next to edgeproof, so \
                 there is no witness and no report\n",
            ),
        }
        s
    }

    /// After the agent stopped: stops the witness, exports the bundle, verifies it and
    /// writes the report; prints the paths and the verdict.
    pub fn finish(mut self, config: &Path) {
        if let Some(mut w) = self.witness.take() {
            stop(&mut w.child);
            self.witness = Some(w);
        }
        let bundle = self.dir.join("bundle.jsonl");
        let public = self.dir.join("keys").join("evidence.pub");
        let exported = super::export::run(super::export::ExportArgs {
            config: config.to_path_buf(),
            from: None,
            to: None,
            output: bundle.clone(),
            utc_offset: "+08:00".into(),
        });
        if exported != ExitCode::SUCCESS {
            println!("evidence: no bundle (see the error above)");
            return;
        }
        println!("bundle       {}", bundle.display());
        let mut verify =
            Command::new(std::env::current_exe().unwrap_or_else(|_| "edgeproof".into()));
        verify.arg("verify").arg(&bundle).arg("--public-key").arg(&public);
        let mut report = self.review.as_ref().map(|bin| {
            let mut c = Command::new(bin);
            c.arg("report").arg(&bundle).arg("--public-key").arg(&public);
            c.arg("--html").arg(self.dir.join("report.html"));
            c
        });
        if let Some(w) = &self.witness {
            verify.arg("--witness-key").arg(&w.vkey_file);
            if let Some(r) = report.as_mut() {
                r.arg("--witness-key").arg(&w.vkey_file);
            }
        }
        match verify.stderr(Stdio::inherit()).output() {
            Ok(out) => {
                let text = String::from_utf8_lossy(&out.stdout);
                let verdict = text.lines().find_map(|l| l.strip_prefix("verdict")).unwrap_or("?");
                println!("verdict      {}", verdict.trim());
            }
            Err(e) => println!("verdict      could not run verify: {e}"),
        }
        match report {
            Some(mut r) => match r.stdout(Stdio::null()).stderr(Stdio::inherit()).status() {
                Ok(s) if s.code().is_some_and(|c| c <= 1) => {
                    println!("report       {}", self.dir.join("report.html").display())
                }
                Ok(s) => println!("report       not written ({s})"),
                Err(e) => println!("report       could not run edgeproof-review: {e}"),
            },
            None => println!("report       none: edgeproof-review is not installed"),
        }
        let w = self.witness.as_ref().map(|w| format!(" --witness-key {}", w.vkey_file.display()));
        println!(
            "check it yourself: edgeproof verify {} --public-key {}{}",
            bundle.display(),
            public.display(),
            w.unwrap_or_default()
        );
    }
}

impl Drop for DemoEvidence {
    fn drop(&mut self) {
        if let Some(w) = self.witness.as_mut() {
            stop(&mut w.child);
        }
    }
}

/// SIGTERM (the witness stops cleanly on it), then wait for it.
fn stop(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let _ = child.wait();
    }
}

fn start_witness(bin: &Path, data_dir: &Path) -> Result<Witness, String> {
    let dir = data_dir.join("witness");
    let key = if dir.join("evidence.key").exists() {
        GatewayKey::load(&dir.join("evidence.key")).map_err(|e| e.to_string())?
    } else {
        let key = GatewayKey::generate();
        write_key_files(&dir, &key).map_err(|e| e.to_string())?;
        key
    };
    let vkey = WitnessKey { name: WITNESS_NAME.to_string(), key: key.public() }.vkey();
    let vkey_file = dir.join("witness.vkey");
    std::fs::write(&vkey_file, format!("{vkey}\n")).map_err(|e| e.to_string())?;
    let db = dir.join("witness.sqlite3");
    let out = Command::new(bin)
        .args(["witness", "add-log", "--origin", ORIGIN, "--db"])
        .arg(&db)
        .arg("--public-key")
        .arg(data_dir.join("keys").join("evidence.pub"))
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!("add-log: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let addr: SocketAddr =
        TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join("witness.log")).map_err(|e| e.to_string())?;
    let mut child = Command::new(bin)
        .args(["witness", "serve", "--name", WITNESS_NAME, "--db"])
        .arg(&db)
        .arg("--key")
        .arg(dir.join("evidence.key"))
        .arg("--listen")
        .arg(addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let deadline = Instant::now() + WITNESS_START;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline || !matches!(child.try_wait(), Ok(None)) {
            stop(&mut child);
            return Err(format!(
                "not listening on {addr} (see {})",
                dir.join("witness.log").display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Witness { child, url: format!("http://{addr}"), vkey, vkey_file })
}
