//! Polled points: one Read service call per group of points due together, split so no call
//! asks for more nodes than the server's `MaxNodesPerRead` (OPC UA Part 5 §6.3.11).

use std::time::{Duration, Instant};

use opcua::client::Session;
use opcua::types::{
    AttributeId, DataValue, ReadValueId, StatusCode, TimestampsToReturn, VariableId,
};

use crate::model::BadReason;
use crate::source::modbus::CycleStats;

/// `MaxNodesPerRead` of the server; 0 (no limit, or not published) becomes `fallback`.
pub async fn max_nodes_per_read(session: &Session, fallback: usize) -> usize {
    let id = ReadValueId {
        node_id: VariableId::Server_ServerCapabilities_OperationLimits_MaxNodesPerRead.into(),
        attribute_id: AttributeId::Value as u32,
        ..Default::default()
    };
    let limit = match session.read(&[id], TimestampsToReturn::Neither, 0.0).await {
        Ok(values) => values
            .first()
            .and_then(|dv| dv.value.as_ref())
            .and_then(|v| v.clone().try_cast_to::<u32>().ok())
            .unwrap_or(0),
        Err(_) => 0,
    };
    if limit == 0 {
        fallback
    } else {
        limit as usize
    }
}

/// How a Read call ended, for the points it carried.
#[derive(Debug, Clone)]
pub enum ReadOutcome {
    /// One DataValue per node, in order.
    Values(Vec<DataValue>),
    /// The whole call failed.
    Failed(BadReason),
    /// The session is gone (closed, timed out on the server, channel broken): reconnect.
    SessionLost(StatusCode),
}

/// Status codes of a failed service call that mean the session must be rebuilt.
pub fn is_session_gone(code: StatusCode) -> bool {
    matches!(
        code,
        StatusCode::BadSessionIdInvalid
            | StatusCode::BadSessionClosed
            | StatusCode::BadSessionNotActivated
            | StatusCode::BadSecureChannelIdInvalid
            | StatusCode::BadSecureChannelClosed
            | StatusCode::BadConnectionClosed
            | StatusCode::BadNotConnected
            | StatusCode::BadServerNotConnected
    )
}

/// Reads `nodes` in calls of at most `max_nodes`, filling `stats`. Returns one outcome per
/// call, with the range of `nodes` it covered.
pub async fn read(
    session: &Session,
    nodes: &[ReadValueId],
    max_nodes: usize,
    timeout: Duration,
    stats: &mut CycleStats,
) -> Vec<(std::ops::Range<usize>, ReadOutcome)> {
    let mut out = Vec::new();
    let step = max_nodes.max(1);
    let mut start = 0;
    while start < nodes.len() {
        let end = (start + step).min(nodes.len());
        stats.requests += 1;
        let began = Instant::now();
        let result = tokio::time::timeout(
            timeout,
            session.read(&nodes[start..end], TimestampsToReturn::Both, 0.0),
        )
        .await;
        let outcome = match result {
            Ok(Ok(values)) if values.len() == end - start => {
                stats.ok += 1;
                stats.response_times.push(began.elapsed());
                ReadOutcome::Values(values)
            }
            Ok(Ok(_)) => {
                stats.malformed += 1;
                ReadOutcome::Failed(BadReason::Malformed)
            }
            Ok(Err(e)) if is_session_gone(e.status()) => {
                stats.connection_errors += 1;
                ReadOutcome::SessionLost(e.status())
            }
            Ok(Err(e)) if e.status() == StatusCode::BadTimeout => {
                stats.timeouts += 1;
                ReadOutcome::Failed(BadReason::Timeout)
            }
            Ok(Err(e)) => {
                stats.malformed += 1;
                ReadOutcome::Failed(super::value::status_reason(e.status()))
            }
            Err(_) => {
                stats.timeouts += 1;
                ReadOutcome::Failed(BadReason::Timeout)
            }
        };
        let lost = matches!(outcome, ReadOutcome::SessionLost(_));
        out.push((start..end, outcome));
        if lost {
            break;
        }
        start = end;
    }
    out
}
