//! Living under a service manager (systemd): the readiness, reload, stop and watchdog
//! notifications of sd_notify(3), spoken directly over a Unix datagram socket (no
//! libsystemd), and the liveness judgement that decides whether the watchdog is pinged.
//!
//! - [`notify`]: `$NOTIFY_SOCKET` (path or `@abstract` name) and `$WATCHDOG_USEC`;
//! - [`liveness`]: "alive" defined from real progress — batches delivered per device task,
//!   journal commits, publisher moves — each with an allowance;
//! - [`watchdog`]: the task that pings `WATCHDOG=1` only while nothing is stalled;
//! - [`Supervisor`] (in `supervisor.rs`): what `edgeproof run` sends at each step of its life.
//!
//! `deploy/systemd/edgeproof.service` is the unit these notifications are written for.

pub mod liveness;
pub mod logging;
pub mod notify;
mod signals;
mod supervisor;
pub mod watchdog;

pub use liveness::{Allowances, PipelineProbe, PollProgress};
pub use notify::{Notifier, NotifyError};
pub use signals::ShutdownSignals;
pub use supervisor::Supervisor;
pub use watchdog::Watchdog;
