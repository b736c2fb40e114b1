//! Counters the publisher keeps for the metrics module, as plain atomics: `publish` does not
//! depend on prometheus; `metrics` reads a [`PublishSnapshot`] when it is scraped.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live publisher counters, shared with the metrics exporter through an `Arc`.
///
/// Counters only go up; `in_flight` and `connected` are gauges. All counts are of *data*
/// messages (journal entries); the retained `online`/`offline` status messages are not counted.
#[derive(Debug, Default)]
pub struct PublishCounters {
    published: AtomicU64,
    acknowledged: AtomicU64,
    in_flight: AtomicU64,
    connected: AtomicU64,
    connects: AtomicU64,
    reconnects: AtomicU64,
    connect_failures: AtomicU64,
    bytes: AtomicU64,
}

/// A consistent-enough copy of [`PublishCounters`] (each field read atomically, not all at once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishSnapshot {
    /// Data messages handed to the MQTT client, re-sends after a reconnect included.
    pub published: u64,
    /// Data messages whose PUBACK arrived (and whose journal entry was released).
    pub acknowledged: u64,
    /// Data messages handed to the client on the current connection and not acknowledged yet.
    pub in_flight: u64,
    /// 1 while a broker connection is up (CONNACK received), else 0.
    pub connected: u64,
    /// Broker connections established (CONNACK received), the first one included.
    pub connects: u64,
    /// Connections established after an earlier one was lost: `connects - 1` once connected.
    pub reconnects: u64,
    /// Connection attempts that failed before CONNACK (broker down, TLS, auth).
    pub connect_failures: u64,
    /// Payload bytes of data messages handed to the client, re-sends included.
    pub bytes: u64,
}

impl PublishCounters {
    /// All zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> PublishSnapshot {
        PublishSnapshot {
            published: self.published.load(Ordering::Relaxed),
            acknowledged: self.acknowledged.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            connected: self.connected.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            connect_failures: self.connect_failures.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn on_published(&self, payload_bytes: usize) {
        self.published.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(payload_bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn on_acknowledged(&self) {
        self.acknowledged.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_in_flight(&self, n: usize) {
        self.in_flight.store(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn on_connected(&self) {
        let before = self.connects.fetch_add(1, Ordering::Relaxed);
        if before > 0 {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        self.connected.store(1, Ordering::Relaxed);
    }

    pub(crate) fn on_disconnected(&self) {
        self.connected.store(0, Ordering::Relaxed);
        self.in_flight.store(0, Ordering::Relaxed);
    }

    pub(crate) fn on_connect_failed(&self) {
        self.connect_failures.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnects_count_connections_after_the_first() {
        let c = PublishCounters::new();
        c.on_connect_failed();
        c.on_connected();
        assert_eq!((c.snapshot().connects, c.snapshot().reconnects), (1, 0));
        c.on_disconnected();
        c.on_connected();
        let s = c.snapshot();
        assert_eq!((s.connects, s.reconnects, s.connect_failures, s.connected), (2, 1, 1, 1));
    }

    #[test]
    fn disconnect_clears_gauges() {
        let c = PublishCounters::new();
        c.on_connected();
        c.set_in_flight(5);
        c.on_published(10);
        c.on_disconnected();
        let s = c.snapshot();
        assert_eq!((s.connected, s.in_flight, s.published, s.bytes), (0, 0, 1, 10));
    }
}
