//! MQTT over TLS against a mosquitto whose certificates come from a CA generated in the test:
//! server verification with `ca_file`, one clear error line for a broker the agent must not
//! trust (and it keeps retrying), and mutual TLS.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::support::agent::{metrics_on, write_config, Agent};
use crate::support::metrics::scrape_until;
use crate::support::mosquitto::Mosquitto;
use crate::support::pki::Pki;
use crate::support::plant::{Plant, Points};
use crate::support::subscriber::Subscriber;
use crate::support::{free_port, wait_for};

const WAIT: Duration = Duration::from_secs(60);

/// `[mqtt]` for `mqtts://127.0.0.1:port` with the given files.
fn mqtts(port: u16, ca: &Path, client: Option<(&Path, &Path)>) -> String {
    let mut t = format!(
        "[mqtt]\nurl = \"mqtts://127.0.0.1:{port}\"\nca_file = {:?}\n",
        ca.display().to_string()
    );
    if let Some((cert, key)) = client {
        t.push_str(&format!(
            "cert_file = {:?}\nkey_file = {:?}\n",
            cert.display().to_string(),
            key.display().to_string()
        ));
    }
    t
}

async fn plant() -> Plant {
    Plant::start(&[("press-01", Points::U16(10), "100ms")]).await
}

/// Runs an agent with `mqtt` until `n` correct data messages reached `sub`, then stops it.
async fn delivers(dir: &Path, mqtt: &str, plant: &Plant, sub: &Subscriber, n: usize) {
    let config = write_config(dir, &format!("{mqtt}\n{}", plant.toml()));
    let mut agent = Agent::start(&config);
    wait_for(&format!("{n} data messages over TLS"), WAIT, || sub.data_count() >= n).await;
    for m in sub.data() {
        plant.check_message(&m).unwrap();
    }
    assert!(agent.log().contains("connected to MQTT broker"), "{}", agent.log());
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_agent_verifying_the_broker_with_ca_file_delivers() {
    let pki = Pki::generate();
    let (tls_port, plain_port) = (free_port(), free_port());
    let _broker = Mosquitto::tls(&pki, tls_port, plain_port, false).await;
    let sub = Subscriber::start(plain_port, "edgeproof/gw-test/#").await;
    let plant = plant().await;
    let dir = tempfile::tempdir().unwrap();
    delivers(dir.path(), &mqtts(tls_port, &pki.ca, None), &plant, &sub, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_broker_signed_by_an_untrusted_ca_is_one_clear_error_line_and_the_agent_keeps_retrying()
{
    let pki = Pki::generate();
    let (tls_port, plain_port) = (free_port(), free_port());
    let _broker = Mosquitto::tls(&pki, tls_port, plain_port, false).await;
    let sub = Subscriber::start(plain_port, "edgeproof/gw-test/#").await;
    let plant = plant().await;
    let dir = tempfile::tempdir().unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "{}\n{}\n{}",
            mqtts(tls_port, &pki.other_ca, None),
            metrics_on(metrics),
            plant.toml()
        ),
    );
    let mut agent = Agent::start(&config);

    let want = format!(
        "TLS handshake with broker 127.0.0.1:{tls_port} failed: invalid peer certificate: \
         UnknownIssuer — check mqtt.ca_file"
    );
    wait_for("the certificate error in the log", WAIT, || agent.log().contains(&want)).await;
    // Still running, still retrying, still polling and journaling.
    let s = scrape_until(metrics, "retries and polls", WAIT, |s| {
        s.value("edgeproof_publish_connect_failures_total") >= 2.0
            && s.value("edgeproof_journal_entries") > 0.0
    })
    .await;
    assert_eq!(s.value("edgeproof_publish_mqtt_connected"), 0.0);
    assert!(agent.is_running(), "a TLS failure never ends the agent\n{}", agent.log());
    let log = agent.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("UnknownIssuer")).collect();
    assert_eq!(lines.len(), 1, "one line, not one per retry: {lines:#?}");
    assert!(lines[0].contains("WARN") || lines[0].contains("ERROR"), "{}", lines[0]);
    assert_eq!(sub.data_count(), 0, "nothing reached the untrusted broker");
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_broker_refuses_an_agent_without_client_certificate_and_accepts_one_with_it() {
    let pki = Pki::generate();
    let (tls_port, plain_port) = (free_port(), free_port());
    let _broker = Mosquitto::tls(&pki, tls_port, plain_port, true).await;
    let sub = Subscriber::start(plain_port, "edgeproof/gw-test/#").await;
    let plant = plant().await;

    let without = tempfile::tempdir().unwrap();
    let config = write_config(
        without.path(),
        &format!("{}\n{}", mqtts(tls_port, &pki.ca, None), plant.toml()),
    );
    let mut agent = Agent::start(&config);
    wait_for("the client certificate error in the log", WAIT, || {
        agent.log().contains("check mqtt.cert_file and mqtt.key_file")
    })
    .await;
    assert!(agent.is_running(), "{}", agent.log());
    assert_eq!(sub.data_count(), 0);
    let status = agent.terminate(WAIT).await;
    assert!(status.success(), "exit after SIGTERM: {status}");

    let with = tempfile::tempdir().unwrap();
    let mqtt = mqtts(tls_port, &pki.ca, Some((&pki.client_cert, &pki.client_key)));
    delivers(with.path(), &mqtt, &plant, &sub, 10).await;
}

/// `openssl s_server` speaking only TLS 1.1, killed on drop.
struct Tls11Server(std::process::Child);

impl Drop for Tls11Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A broker address whose TLS stops at 1.1 (OpenSSL's own client proves it answers TLS 1.1)
/// is refused: `doctor` fails the broker line and says why. rustls has no TLS below 1.2;
/// this is the proof against a real old server, not a reading of the config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_speaks_only_tls_1_1_is_refused() {
    use std::process::{Command, Stdio};
    let pki = Pki::generate();
    let port = free_port();
    let accept = format!("127.0.0.1:{port}");
    // SECLEVEL=0: OpenSSL 3 refuses TLS 1.1 at its default security level.
    let _server = Tls11Server(
        Command::new("openssl")
            .args(["s_server", "-quiet", "-accept", &accept, "-tls1_1"])
            .args(["-cipher", "DEFAULT@SECLEVEL=0", "-cert"])
            .arg(&pki.server_cert)
            .arg("-key")
            .arg(&pki.server_key)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn openssl s_server"),
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(&accept).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "openssl s_server did not listen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = crate::support::run(
        Command::new("openssl")
            .args(["s_client", "-connect", &accept, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
            .stdin(Stdio::null()),
    );
    let said = crate::support::describe(&out);
    assert!(said.contains("Protocol  : TLSv1.1"), "the server speaks TLS 1.1\n{said}");

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &mqtts(port, &pki.ca, None));
    let out = crate::support::run(
        Command::new(crate::support::bin()).args(["doctor", "-c"]).arg(&config),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let broker = stdout
        .lines()
        .find(|l| l.get(8..).is_some_and(|rest| rest.starts_with("broker ")))
        .unwrap_or_default();
    assert!(broker.trim_start().starts_with("FAIL"), "{stdout}");
    assert!(broker.contains("TLS 1.1 and older are refused"), "{stdout}");
}
