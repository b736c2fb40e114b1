//! A compiled OPC UA point: which node, read how (subscription or polled Read), how often.

use std::sync::Arc;
use std::time::Duration;

use opcua::types::NodeId;

/// How a point's value reaches the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointMode {
    /// A monitored item in the device's subscription: the server samples and reports changes.
    Subscribe,
    /// A Read service call every poll interval, batched with the device's other poll points.
    Poll,
}

impl PointMode {
    /// The config spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            PointMode::Subscribe => "subscribe",
            PointMode::Poll => "poll",
        }
    }
}

/// One `[[devices.points]]` of an `opcua` device, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct OpcUaPoint {
    /// Unique within the device.
    pub name: Arc<str>,
    /// The node, parsed from `ns=2;s=Line1.Temp` form.
    pub node: NodeId,
    /// Subscribe or poll.
    pub mode: PointMode,
    /// Subscribe: the sampling interval asked of the server. Poll: the poll interval.
    pub interval: Duration,
    /// Subscribe only: absolute deadband the server applies before reporting a change.
    pub deadband: Option<f64>,
    /// Engineering unit, for people reading `probe` and `check`.
    pub unit: Option<String>,
}
