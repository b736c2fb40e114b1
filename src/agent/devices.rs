//! One task per device (per bus, for serial lines): which task a device gets depends on its
//! protocol. Each protocol adds its arm here.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Device, DeviceProtocol};
use crate::source::modbus::DeviceReader;
use crate::source::{run_device, BatchSink, PollObserver};

/// Spawns the poll tasks for `devices`; they run until `cancel` fires.
pub(super) fn spawn_devices(
    devices: &[Device],
    sink: &Arc<dyn BatchSink>,
    observer: &Arc<dyn PollObserver>,
    cancel: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::with_capacity(devices.len());
    for device in devices {
        match &device.protocol {
            DeviceProtocol::ModbusTcp(m) => {
                let reader = DeviceReader::new(device.name.clone(), m);
                tasks.push(tokio::spawn(run_device(
                    reader,
                    sink.clone(),
                    observer.clone(),
                    cancel.clone(),
                )));
            }
        }
    }
    tasks
}
