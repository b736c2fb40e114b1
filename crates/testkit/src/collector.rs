//! `edgeproof collect` as a child process: started with its log in a file, ready once it
//! logged its subscription, stopped with SIGTERM; its log is printed when a test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::{bin, describe, run};

/// A running collector.
pub struct Collector {
    child: Option<Child>,
    log: PathBuf,
}

/// Registers gateway `gw` with its key file in the archive `db`.
pub fn add_gateway(db: &str, gw: &str, key: &Path, extra: &[&str]) {
    let out = run(Command::new(bin())
        .args(["collect", "add-gateway", "--db", db, "--gateway", gw, "--public-key"])
        .arg(key)
        .args(extra));
    assert!(out.status.success(), "add-gateway {gw}: {}", describe(&out));
}

impl Collector {
    /// Starts `edgeproof collect` on the broker at `port` into `db`, with this client id, and
    /// waits until it has subscribed.
    pub async fn start(dir: &Path, port: u16, db: &str, client_id: &str) -> Collector {
        Self::start_with(dir, port, db, client_id, &[]).await
    }

    /// [`Collector::start`] with `extra` arguments (e.g. `--metrics-listen`).
    pub async fn start_with(
        dir: &Path,
        port: u16,
        db: &str,
        client_id: &str,
        extra: &[&str],
    ) -> Collector {
        let log = dir.join(format!("{client_id}.log"));
        let file = std::fs::File::create(&log).expect("collector log");
        // EDGEPROOF_COLLECT_BIN: measure another build (e.g. release) of the collector.
        let program = std::env::var_os("EDGEPROOF_COLLECT_BIN").map_or_else(bin, Into::into);
        let child = Command::new(program)
            .args(["collect", "--mqtt", &format!("mqtt://127.0.0.1:{port}"), "--db", db])
            .args(["--client-id", client_id])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .spawn()
            .expect("spawn edgeproof collect");
        let c = Collector { child: Some(child), log };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !c.log().contains("collector subscribed") {
            assert!(
                tokio::time::Instant::now() < deadline,
                "collector did not subscribe\n{}",
                c.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        c
    }

    /// Its resident set now and its peak so far (`VmRSS`, `VmHWM` of `/proc/<pid>/status`), in
    /// KiB; `None` once it exited.
    pub fn rss_kib(&self) -> Option<(u64, u64)> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, as a crash or power cut would; its log moves to `<client id>.killed.log` so
    /// that a restart under the same client id starts a fresh one.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::rename(&self.log, self.log.with_extension("killed.log"));
    }

    /// SIGTERM, then waits up to `timeout` for the exit.
    pub async fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("collector running");
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("wait collector") {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "collector did not stop\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- {} ---\n{}", self.log.display(), self.log());
        }
    }
}
