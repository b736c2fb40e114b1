//! Wiring and lifecycle: start every stage of the data flow, and stop them in the order that
//! loses nothing.
//!
//! Start: open the journal (moving a corrupt one aside) → start its writer thread → the
//! evidence recorder, when there is a key (`enroll`/`boot` written before anything is polled)
//! → metrics and `/metrics` + `/healthz` → the MQTT publisher (if `[mqtt]` is configured) →
//! one poll task per device.
//!
//! Stop (SIGTERM / Ctrl-C): stop polling (each device task finishes its current cycle) →
//! commit what was polled → the last `usage`, the `shutdown` record and a final checkpoint →
//! let the publisher wait, up to a bound, for the PUBACKs of what is
//! in flight, publish `offline` and disconnect → close the journal. Whatever the broker has
//! not acknowledged by then stays in the journal and is published at the next start.

mod devices;
mod evidence;
mod intake;
mod lifecycle;
mod observers;
mod reload;
mod tasks;

pub use lifecycle::{
    journal_path, release_freed_memory, start, AgentError, AgentOptions, RunningAgent,
    DEFAULT_SHUTDOWN_GRACE,
};
pub use reload::{diff, ConfigChange};
pub use tasks::{task_key, DEVICE_STOP_BOUND};
