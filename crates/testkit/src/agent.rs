//! `edgeproof run -c FILE` as a child process: started, killed with SIGKILL (a crash or a
//! power cut), stopped with SIGTERM (a clean shutdown). Its stderr goes to a file that
//! collects every start, printed when a test fails.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use edgeproof::config;
use edgeproof::journal::{Journal, JournalOptions, JournalStats, OpenReport, StoredBatch};

use super::{bin, gateway};

/// Writes `dir/edgeproof.toml`: the test `[gateway]` (id `gw-test`, data in `dir/data`) and
/// `sections`. Fails the test at once if the config does not validate.
pub fn write_config(dir: &Path, sections: &str) -> PathBuf {
    let text = format!("{}\n{sections}", gateway(&dir.join("data")));
    let path = dir.join("edgeproof.toml");
    std::fs::write(&path, &text).expect("write config");
    if let Err(e) = config::load(&path) {
        panic!("test config is invalid: {e}\n{text}");
    }
    path
}

/// `[mqtt]` for a plain broker on 127.0.0.1:`port`.
pub fn mqtt_plain(port: u16) -> String {
    format!("[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\n")
}

/// `[metrics]` on `addr`.
pub fn metrics_on(addr: SocketAddr) -> String {
    format!("[metrics]\nlisten = \"{addr}\"\n")
}

/// The journal file the agent started with `config` uses.
pub fn journal_path(config: &Path) -> PathBuf {
    let cfg = config::load(config).expect("config");
    edgeproof::agent::journal_path(&cfg)
}

/// Opens the journal of a stopped (or killed) agent, as the next start would, and returns
/// what it found and every entry still in it. Never call it while the agent runs.
pub fn journal_contents(config: &Path) -> (OpenReport, Vec<StoredBatch>) {
    let (mut journal, report) =
        Journal::open(journal_path(config), JournalOptions { max_bytes: u64::MAX })
            .expect("open the journal");
    let entries = journal.read_after(None, usize::MAX).expect("read the journal");
    (report, entries)
}

/// The journal's persisted statistics (dropped totals included) of a stopped agent.
pub fn journal_stats(config: &Path) -> JournalStats {
    let (journal, _) = Journal::open(journal_path(config), JournalOptions { max_bytes: u64::MAX })
        .expect("open the journal");
    journal.stats().expect("journal stats")
}

/// A running `edgeproof run`. Killed on drop; its log is printed if the test failed.
pub struct Agent {
    child: Option<Child>,
    config: PathBuf,
    log: PathBuf,
    starts: u32,
    env: Vec<(String, String)>,
}

impl Agent {
    /// Starts `edgeproof run -c config`, stderr appended to `config`'s dir/agent.log.
    pub fn start(config: &Path) -> Agent {
        Agent::start_with_env(config, &[])
    }

    /// Like [`Agent::start`], with extra environment variables (e.g. `NOTIFY_SOCKET`) for
    /// this and every later start.
    pub fn start_with_env(config: &Path, env: &[(&str, &str)]) -> Agent {
        let log = config.with_file_name("agent.log");
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut a = Agent { child: None, config: config.to_path_buf(), log, starts: 0, env };
        a.restart();
        a
    }

    /// Starts the agent again (after [`Agent::kill`] or [`Agent::terminate`]) with the same
    /// config and data directory.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart: the agent is still running");
        self.starts += 1;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("agent log file");
        writeln!(log, "===== start #{} =====", self.starts).expect("write agent log");
        let child = Command::new(bin())
            .args(["run", "-c"])
            .arg(&self.config)
            // Deterministic log level whatever the developer's environment says.
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn edgeproof run");
        self.child = Some(child);
    }

    /// The process id, while running.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("agent running").id()
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the current start has logged that it is running (journal open, publisher
    /// and device tasks started).
    pub fn started(&self) -> bool {
        let log = self.log();
        let marker = format!("===== start #{} =====", self.starts);
        log.split_once(&marker).is_some_and(|(_, run)| run.contains("agent running"))
    }

    /// Sends SIGTERM, once the agent is running, and waits up to `timeout` for the exit.
    ///
    /// `edgeproof run` installs its signal handler after start-up; a SIGTERM before that
    /// ends the process by the default action, which is not what these tests are about.
    pub async fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.started() {
            assert!(self.is_running(), "agent exited before SIGTERM\n{}", self.log());
            assert!(
                tokio::time::Instant::now() < deadline,
                "agent not running within {timeout:?}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pid = self.pid().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let child = self.child.as_mut().expect("agent running");
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "agent did not exit within {timeout:?} of SIGTERM\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the process is still alive (not exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().expect("try_wait").is_none(),
            None => false,
        }
    }

    /// Everything the agent wrote to stderr, over every start.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            eprintln!(
                "--- edgeproof stderr ({}; last {} lines) ---",
                self.log.display(),
                tail.len()
            );
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}
