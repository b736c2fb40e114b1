//! One task per device (per bus, for serial lines): which task a device gets depends on its
//! protocol. Each protocol adds its arm here.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Device, DeviceProtocol};
use crate::source::modbus::rtu::RtuBuses;
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
    // RTU devices on the same port share one bus task; it ends when their tasks do.
    let mut buses = RtuBuses::new(observer.clone());
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
            DeviceProtocol::ModbusRtu(m) => {
                let unit = buses.unit(device.name.clone(), m);
                let reader =
                    DeviceReader::with_link(device.name.clone(), m.points.clone(), &m.limits, unit);
                tasks.push(tokio::spawn(run_device(
                    reader,
                    sink.clone(),
                    observer.clone(),
                    cancel.clone(),
                )));
            }
            #[cfg(feature = "opcua")]
            DeviceProtocol::OpcUa(o) => {
                tasks.push(tokio::spawn(crate::source::opcua::run_device(
                    device.name.clone(),
                    o.clone(),
                    sink.clone(),
                    observer.clone(),
                    crate::source::opcua::FingerprintBoard::global(),
                    cancel.clone(),
                )));
            }
        }
    }
    // After the device tasks, so a stop waits for them before their buses.
    tasks.extend(buses.into_tasks());
    tasks
}
