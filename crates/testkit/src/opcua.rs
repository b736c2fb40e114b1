//! OPC UA test helpers: an in-process simulated server, a device config for it, and the
//! agent's OPC UA device task run in process with a channel sink, so a test sees every batch.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use edgeproof::config::{self, Device, DeviceProtocol, OpcUaDevice};
use edgeproof::model::Batch;
use edgeproof::source::opcua::{run_device, FingerprintBoard};
use edgeproof::source::{ChannelSink, NoObserver};
use edgeproof_sim::opcua::{SimOpcUa, SimOpcUaOptions};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::gateway;

/// The simulator with its variables still (tick zero) unless `tick` says otherwise.
pub async fn server(pki: &Path, f: impl FnOnce(&mut SimOpcUaOptions)) -> SimOpcUa {
    let mut o = SimOpcUaOptions::new(pki);
    o.tick = Duration::ZERO;
    f(&mut o);
    SimOpcUa::start(o).await.expect("start the simulated OPC UA server")
}

/// Compiles one `[[devices]]` section (with `data_dir` as the gateway's) and returns its
/// OPC UA settings; fails the test if the config is invalid.
pub fn device(data_dir: &Path, section: &str) -> (Arc<str>, OpcUaDevice) {
    let text = format!("{}\n{section}", gateway(data_dir));
    let cfg = config::load_str(Path::new("test.toml"), &text, false)
        .unwrap_or_else(|e| panic!("invalid test config: {e}\n{text}"));
    let Device { name, protocol } = cfg.devices.into_iter().next().expect("one device");
    match protocol {
        DeviceProtocol::OpcUa(o) => (name, o),
        other => panic!("not an opcua device: {other:?}"),
    }
}

/// The device task running in process.
pub struct Task {
    /// Batches as the task sent them.
    pub rx: mpsc::Receiver<Batch>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Task {
    /// Starts the device task for `cfg`.
    pub fn start(name: Arc<str>, cfg: OpcUaDevice) -> Task {
        let (tx, rx) = mpsc::channel(10_000);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run_device(
            name,
            cfg,
            Arc::new(ChannelSink::new(tx)),
            Arc::new(NoObserver),
            FingerprintBoard::global(),
            cancel.clone(),
        ));
        Task { rx, cancel, task }
    }

    /// Waits up to `timeout` for a batch holding a sample of `point` that satisfies `cond`;
    /// returns every batch seen meanwhile (the matching one last).
    pub async fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&edgeproof::model::Sample) -> bool,
    ) -> Vec<Batch> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(b)) => {
                    let hit = b.samples.iter().any(&mut cond);
                    seen.push(b);
                    if hit {
                        return seen;
                    }
                }
                Ok(None) => panic!("device task ended while waiting for {what}; saw {seen:#?}"),
                Err(_) => panic!("timed out after {timeout:?} waiting for {what}; saw {seen:#?}"),
            }
        }
    }

    /// Stops the task and waits for it.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}
