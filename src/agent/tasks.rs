//! The running device tasks, keyed so that a reload can stop and start some of them and leave
//! the others alone. Each key has its own cancellation token, a child of the agent's: stopping
//! the agent stops them all, stopping one key stops only its task.
//!
//! The key is the device name for Modbus TCP and OPC UA (one task per device). Modbus RTU
//! units on one bus share the bus's task, so they run under the bus's key (its port path or
//! converter address, see [`task_key`]): a change to any unit on a bus restarts that bus's
//! units, and no other.
//!
//! Stopping a task lets it finish the poll cycle it is in (the scheduler checks its token only
//! between cycles), so the batch of that cycle still reaches the journal: nothing polled is
//! lost. Waiting is bounded; a task still running at the bound is aborted and logged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error};

use crate::config::{Device, DeviceProtocol};
use crate::service::liveness::{device_allowance, CountingSink};
use crate::service::PollProgress;
use crate::source::{BatchSink, PollObserver};

use super::devices::spawn_devices;

/// How long stopping waits for device tasks to finish their current cycle.
pub const DEVICE_STOP_BOUND: Duration = Duration::from_secs(5);

/// The key a device's task runs under (see the module docs).
pub fn task_key(device: &Device) -> String {
    match &device.protocol {
        DeviceProtocol::ModbusTcp(_) => device.name.to_string(),
        #[cfg(feature = "opcua")]
        DeviceProtocol::OpcUa(_) => device.name.to_string(),
        // Device names cannot contain a space, so this never meets a device's key.
        DeviceProtocol::ModbusRtu(m) => format!("bus {}", m.bus.name()),
    }
}

struct Running {
    devices: Vec<Device>,
    cancel: CancellationToken,
    handles: Vec<JoinHandle<()>>,
}

/// Every running device task, by [`task_key`].
pub struct DeviceTasks {
    tasks: BTreeMap<String, Running>,
    parent: CancellationToken,
    sink: Arc<dyn BatchSink>,
    observer: Arc<dyn PollObserver>,
    polls: Arc<PollProgress>,
}

impl DeviceTasks {
    /// No tasks yet. Tasks get `sink` and `observer`; Modbus TCP tasks are watched through
    /// `polls`.
    pub fn new(
        sink: Arc<dyn BatchSink>,
        observer: Arc<dyn PollObserver>,
        polls: Arc<PollProgress>,
    ) -> DeviceTasks {
        DeviceTasks {
            tasks: BTreeMap::new(),
            parent: CancellationToken::new(),
            sink,
            observer,
            polls,
        }
    }

    /// Starts tasks for `devices`, grouped by [`task_key`]. Keys already running are left alone.
    pub fn start(&mut self, devices: &[Device]) {
        let mut groups: BTreeMap<String, Vec<Device>> = BTreeMap::new();
        for d in devices {
            groups.entry(task_key(d)).or_default().push(d.clone());
        }
        for (key, group) in groups {
            if self.tasks.contains_key(&key) {
                continue;
            }
            let cancel = self.parent.child_token();
            // A single Modbus TCP device gets its own counting sink, so the watchdog sees its
            // task's progress.
            let sink = match (group.as_slice(), group.first().and_then(device_allowance)) {
                ([device], Some(allowance)) => {
                    let counter = self.polls.register(device.name.clone(), allowance);
                    Arc::new(CountingSink::new(self.sink.clone(), counter)) as Arc<dyn BatchSink>
                }
                _ => self.sink.clone(),
            };
            let handles = spawn_devices(&group, &sink, &self.observer, &cancel);
            self.tasks.insert(key, Running { devices: group, cancel, handles });
        }
    }

    /// Stops the task running under `key` (see the module docs for the bound).
    pub async fn stop(&mut self, key: &str) {
        if let Some(running) = self.tasks.remove(key) {
            running.cancel.cancel();
            self.forget(&running);
            join_bounded(vec![(key.to_string(), running)], DEVICE_STOP_BOUND).await;
        }
    }

    /// Stops every task at once, waiting at most `bound` in all.
    pub async fn stop_all(&mut self, bound: Duration) {
        self.parent.cancel();
        let all: Vec<(String, Running)> = std::mem::take(&mut self.tasks).into_iter().collect();
        for (_, running) in &all {
            self.forget(running);
        }
        join_bounded(all, bound).await;
    }

    fn forget(&self, running: &Running) {
        for d in &running.devices {
            self.polls.unregister(&d.name);
        }
    }
}

async fn join_bounded(tasks: Vec<(String, Running)>, bound: Duration) {
    let deadline = tokio::time::Instant::now() + bound;
    for (key, running) in tasks {
        for mut handle in running.handles {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => error!(task = %key, error = %e, "device task {key} panicked"),
                Err(_) => {
                    handle.abort();
                    error!(
                        task = %key,
                        bound = ?bound,
                        "device task {key} did not finish its poll cycle within {bound:?}; \
                         aborted (the samples of that cycle are lost)"
                    );
                }
            }
        }
        debug!(task = %key, "device task {key} stopped");
    }
}
