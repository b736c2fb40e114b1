//! The write tripwire: the agent never writes to a device, and the simulators prove it.
//!
//! Every simulator (Modbus TCP, Modbus RTU, OPC UA) refuses writes — Modbus FC 05, 06, 15,
//! 16, 22, 23 answer exception 01; an OPC UA Write answers `BadUserAccessDenied` — and
//! records each in its [`WriteTripwire`] and in one process-wide count,
//! [`unexpected_writes`]. When a simulator is dropped (which `stop` also does) it panics if it
//! saw a write or if any simulator in the process did: every test that uses a simulator
//! fails once a write was sent anywhere in the test binary, and the first failure names the
//! simulator and the request. A panic is skipped while the thread already panics.
//!
//! A test that sends writes on purpose (to prove this detector) marks its simulator with
//! `expect_writes()`: its writes are still refused and counted on the instance, but not in
//! the process-wide count, and its drop does not panic. `edgeproof demo` does the same and
//! reports writes itself: a local client may poke the demo's devices, and the demo must
//! never panic over it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Writes received by simulators that did not expect them, in this process.
static UNEXPECTED_WRITES: AtomicU64 = AtomicU64::new(0);

/// Writes received in this process by simulators that did not expect them.
pub fn unexpected_writes() -> u64 {
    UNEXPECTED_WRITES.load(Ordering::Relaxed)
}

/// One simulator's record of the write requests it received.
#[derive(Debug)]
pub struct WriteTripwire {
    expected: AtomicBool,
    seen: AtomicU64,
    last: Mutex<Option<String>>,
    /// The process-wide count (a test's own counter in this module's tests).
    process: &'static AtomicU64,
}

impl Default for WriteTripwire {
    fn default() -> Self {
        WriteTripwire::counting_into(&UNEXPECTED_WRITES)
    }
}

impl WriteTripwire {
    fn counting_into(process: &'static AtomicU64) -> Self {
        WriteTripwire {
            expected: AtomicBool::new(false),
            seen: AtomicU64::new(0),
            last: Mutex::new(None),
            process,
        }
    }

    /// Records one write request, described for the failure message (`FC 06 at 100`).
    pub fn record(&self, what: String) {
        self.seen.fetch_add(1, Ordering::Relaxed);
        if !self.expected.load(Ordering::Relaxed) {
            self.process.fetch_add(1, Ordering::Relaxed);
        }
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(what);
    }

    /// Writes to this simulator are intended: still refused and counted here, but not
    /// process-wide, and dropping it does not panic.
    pub fn expect_writes(&self) {
        self.expected.store(true, Ordering::Relaxed);
    }

    /// Write requests this simulator received.
    pub fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }

    /// What dropping simulator `sim` fails with — were its writes not expected — or `None`
    /// when neither it nor any other simulator of the process received a write.
    pub fn violation(&self, sim: &str) -> Option<String> {
        let seen = self.seen();
        if seen > 0 {
            let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
            return Some(format!(
                "simulator {sim} received {seen} write request(s) (last: {}); edgeproof must \
                 never write to a device",
                last.unwrap_or_default()
            ));
        }
        let elsewhere = self.process.load(Ordering::Relaxed);
        (elsewhere > 0).then(|| {
            format!(
                "simulator {sim} received no write, but {elsewhere} write request(s) reached \
                 other simulators in this process; edgeproof must never write to a device \
                 (the first test to fail names the simulator and the request)"
            )
        })
    }

    /// The check a simulator's `Drop` makes: panics with [`WriteTripwire::violation`] unless
    /// writes were expected or the thread is already panicking.
    pub fn check_on_drop(&self, sim: &str) {
        if self.expected.load(Ordering::Relaxed) || std::thread::panicking() {
            return;
        }
        if let Some(message) = self.violation(sim) {
            panic!("{message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "simulator sim-a received 1 write request(s) (last: FC 06 at 7)")]
    fn an_unexpected_write_panics_at_drop() {
        static PROCESS: AtomicU64 = AtomicU64::new(0);
        let wire = WriteTripwire::counting_into(&PROCESS);
        wire.record("FC 06 at 7".into());
        wire.check_on_drop("sim-a");
    }

    #[test]
    #[should_panic(expected = "simulator sim-b received no write, but 1 write request(s)")]
    fn a_write_anywhere_in_the_process_fails_every_simulator() {
        static PROCESS: AtomicU64 = AtomicU64::new(0);
        let a = WriteTripwire::counting_into(&PROCESS);
        let b = WriteTripwire::counting_into(&PROCESS);
        a.record("FC 16 at 0".into());
        b.check_on_drop("sim-b");
    }

    #[test]
    fn expected_writes_stay_on_their_simulator() {
        static PROCESS: AtomicU64 = AtomicU64::new(0);
        let a = WriteTripwire::counting_into(&PROCESS);
        let b = WriteTripwire::counting_into(&PROCESS);
        a.expect_writes();
        a.record("FC 05 at 1".into());
        assert_eq!(a.seen(), 1);
        assert!(a.violation("a").is_some(), "still detected on the instance");
        a.check_on_drop("a");
        assert_eq!(PROCESS.load(Ordering::Relaxed), 0);
        assert_eq!(b.violation("b"), None);
        b.check_on_drop("b");
    }
}
