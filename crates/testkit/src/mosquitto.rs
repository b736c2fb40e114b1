//! A real `mosquitto` per test: spawned on a free port with a generated config, optionally
//! with a TLS listener, killed (SIGKILL) on drop. Its log is printed when a test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::net::TcpStream;

use super::pki::Pki;

/// How long a broker gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether this process runs as root: mosquitto then drops to its own user unless told
/// `user root`, and that user cannot read the test's temp dirs.
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A running mosquitto.
pub struct Mosquitto {
    child: Option<Child>,
    dir: tempfile::TempDir,
    listeners: String,
    wait_port: u16,
    /// Holds the password file of [`Mosquitto::plain_with_user`] while the broker runs.
    _passwd_dir: Option<tempfile::TempDir>,
    /// Whether clients without a user name may connect.
    anonymous: bool,
}

impl Mosquitto {
    /// A plain MQTT listener on 127.0.0.1:`port`.
    pub async fn plain(port: u16) -> Mosquitto {
        Mosquitto::start(format!("listener {port} 127.0.0.1\n"), port).await
    }

    /// A plain listener with extra `mosquitto.conf` lines, e.g. `max_inflight_messages 1000`
    /// for a collector that acknowledges in batches.
    pub async fn plain_with(port: u16, extra: &str) -> Mosquitto {
        Mosquitto::start(format!("{extra}\nlistener {port} 127.0.0.1\n"), port).await
    }

    /// A TLS listener on `tls_port` (client certificates required if `mtls`) signed by
    /// `pki.ca`, and a plain one on `plain_port` for the test's subscriber.
    pub async fn tls(pki: &Pki, tls_port: u16, plain_port: u16, mtls: bool) -> Mosquitto {
        let p = |p: &Path| p.display().to_string();
        let listeners = format!(
            "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n\
             require_certificate {mtls}\nlistener {plain_port} 127.0.0.1\n",
            p(&pki.ca),
            p(&pki.server_cert),
            p(&pki.server_key),
        );
        Mosquitto::start(listeners, plain_port).await
    }

    /// A plain listener on `port` of every interface (the test reaches it on 127.0.0.1, the
    /// agent on another address of this machine).
    pub async fn plain_all_interfaces(port: u16) -> Mosquitto {
        Mosquitto::start(format!("listener {port}\n"), port).await
    }

    /// A plain listener on 127.0.0.1:`port` that checks `user`'s password: a client giving a
    /// user name must give its password (CONNACK 5 otherwise); anonymous clients (the test's
    /// subscriber) still connect.
    pub async fn plain_with_user(port: u16, user: &str, password: &str) -> Mosquitto {
        let dir = tempfile::tempdir().expect("temp dir for the password file");
        let file = dir.path().join("passwd");
        let status = Command::new("mosquitto_passwd")
            .args(["-c", "-b"])
            .arg(&file)
            .args([user, password])
            .status()
            .expect("run mosquitto_passwd");
        assert!(status.success(), "mosquitto_passwd failed: {status}");
        let listeners = format!("password_file {}\nlistener {port} 127.0.0.1\n", file.display());
        let mut m = Mosquitto::start(listeners, port).await;
        m._passwd_dir = Some(dir);
        m
    }

    /// A plain listener on 127.0.0.1:`port` as a production broker is set up: no anonymous
    /// clients, `users` (name, password) in a password file made with `mosquitto_passwd`,
    /// and `acl_file` (e.g. the one `edgeproof-review collect acl` writes).
    pub async fn secured(port: u16, users: &[(&str, String)], acl_file: &Path) -> Mosquitto {
        let dir = tempfile::tempdir().expect("temp dir for the password file");
        let file = dir.path().join("passwd");
        for (i, (user, password)) in users.iter().enumerate() {
            let mut cmd = Command::new("mosquitto_passwd");
            if i == 0 {
                cmd.arg("-c");
            }
            let status = cmd
                .arg("-b")
                .arg(&file)
                .args([user, password.as_str()])
                .status()
                .expect("run mosquitto_passwd");
            assert!(status.success(), "mosquitto_passwd failed: {status}");
        }
        let listeners = format!(
            "password_file {}\nacl_file {}\nlistener {port} 127.0.0.1\n",
            file.display(),
            acl_file.display()
        );
        let mut m = Mosquitto::start_with(listeners, port, false).await;
        m._passwd_dir = Some(dir);
        m
    }

    async fn start(listeners: String, wait_port: u16) -> Mosquitto {
        Mosquitto::start_with(listeners, wait_port, true).await
    }

    async fn start_with(listeners: String, wait_port: u16, anonymous: bool) -> Mosquitto {
        let dir = tempfile::tempdir().expect("temp dir for mosquitto");
        let mut m =
            Mosquitto { child: None, dir, listeners, wait_port, _passwd_dir: None, anonymous };
        m.restart().await;
        m
    }

    /// Kills the broker with SIGKILL, as a crash or a power cut would: no clean disconnect,
    /// no state saved (persistence is off anyway).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker (again) with the same listeners, and waits until it accepts.
    pub async fn restart(&mut self) {
        self.kill();
        let conf = self.dir.path().join("mosquitto.conf");
        // No limit on queued QoS 1 messages per subscriber (default 1000): a test backlog
        // must never be dropped by the broker on its way to the test's subscriber.
        let mut text = format!(
            "per_listener_settings false\nallow_anonymous {}\npersistence false\n\
             log_dest stderr\nmax_queued_messages 0\n",
            self.anonymous
        );
        if running_as_root() {
            text.push_str("user root\n");
        }
        text.push_str(&self.listeners);
        std::fs::write(&conf, text).expect("write mosquitto.conf");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("mosquitto log file");
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn /usr/sbin/mosquitto");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.wait_port)).await.is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("mosquitto exited at start ({status})\n{}", self.log());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "mosquitto did not listen on {} within {START_TIMEOUT:?}\n{}",
                self.wait_port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The broker's log file (all starts).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.log")
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- mosquitto log (last {} lines) ---", tail.len());
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}
