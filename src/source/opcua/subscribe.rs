//! Subscribed points: one subscription per session, one monitored item per point with the
//! point's sampling interval, queue size 1 (only the latest value matters) and, when set, an
//! absolute deadband filter (OPC UA Part 4 §7.22.2) the server applies.
//!
//! Notifications arrive on async-opcua's callback; they are handed to the device task over
//! a bounded channel (full means dropped and counted, never a blocked event loop).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opcua::client::{DataChangeCallback, Session};
use opcua::types::{
    AttributeId, DataChangeFilter, DataChangeTrigger, DataValue, DeadbandType, ExtensionObject,
    MonitoredItemCreateRequest, MonitoringMode, MonitoringParameters, ReadValueId, StatusCode,
    TimestampsToReturn,
};
use tokio::sync::mpsc;

use super::point::OpcUaPoint;

/// Notifications waiting for the device task before new ones are dropped.
pub const QUEUE: usize = 8192;

/// A notification: the point's index in the device's points, and its value.
pub type Notification = (usize, DataValue);

/// The receiving end of a subscription.
pub struct Subscribed {
    /// Notifications, in arrival order.
    pub rx: mpsc::Receiver<Notification>,
    /// Points whose monitored item the server refused, with its status code.
    pub refused: Vec<(usize, StatusCode)>,
    /// Notifications dropped because the device task fell behind.
    pub dropped: Arc<AtomicU64>,
}

/// The monitored-item request for point `index`. Client handles are `index + 1` (0 means
/// "assign one" to async-opcua).
pub fn item_request(index: usize, p: &OpcUaPoint) -> MonitoredItemCreateRequest {
    let filter = match p.deadband {
        Some(db) => ExtensionObject::from_message(DataChangeFilter {
            trigger: DataChangeTrigger::StatusValue,
            deadband_type: DeadbandType::Absolute as u32,
            deadband_value: db,
        }),
        None => ExtensionObject::null(),
    };
    MonitoredItemCreateRequest {
        item_to_monitor: ReadValueId {
            node_id: p.node.clone(),
            attribute_id: AttributeId::Value as u32,
            ..Default::default()
        },
        monitoring_mode: MonitoringMode::Reporting,
        requested_parameters: MonitoringParameters {
            client_handle: index as u32 + 1,
            sampling_interval: p.interval.as_secs_f64() * 1000.0,
            filter,
            queue_size: 1,
            discard_oldest: true,
        },
    }
}

/// Creates the subscription and the monitored items of `points` (indices into the device's
/// points). The publishing interval is the shortest sampling interval.
pub async fn subscribe(
    session: &Session,
    points: &[(usize, &OpcUaPoint)],
) -> Result<Subscribed, StatusCode> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let counter = dropped.clone();
    let publishing = points.iter().map(|(_, p)| p.interval).min().unwrap_or(Duration::from_secs(1));
    let callback = DataChangeCallback::new(move |value, item| {
        let Some(index) = (item.client_handle() as usize).checked_sub(1) else { return };
        if tx.try_send((index, value)).is_err() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    // Keep-alive count 10 and lifetime 30 publishing intervals (Part 4 §5.13.2: lifetime
    // ≥ 3 × keep-alive): a subscription outlives a short stall, not a dead client.
    let id = session
        .create_subscription(publishing, 30, 10, 0, 0, true, callback)
        .await
        .map_err(|e| e.status())?;
    let requests: Vec<_> = points.iter().map(|(i, p)| item_request(*i, p)).collect();
    let created = session
        .create_monitored_items(id, TimestampsToReturn::Both, requests)
        .await
        .map_err(|e| e.status())?;
    let refused = points
        .iter()
        .zip(created.iter())
        .filter(|(_, c)| !c.result.status_code.is_good())
        .map(|((i, _), c)| (*i, c.result.status_code))
        .collect();
    Ok(Subscribed { rx, refused, dropped })
}
