//! The OPC UA source: one task per device keeps a session to the server, subscribes to the
//! `subscribe` points, reads the `poll` points in batched Read calls, and sends
//! [`crate::model::Batch`]es down the same sink as every other source.
//!
//! - [`point`], [`security`]: the compiled config of a device;
//! - [`identity`]: the agent's application instance certificate under `data_dir/pki/`;
//! - [`trust`]: whether a server certificate is trusted (`first-use` pins, `pki` folders);
//! - [`session`]: endpoint selection, trust check and session set-up;
//! - [`read`], [`subscribe`]: the two ways values arrive, [`value`] turns them into samples;
//! - [`timeline`]: per-point ordering rules so a reconnect never repeats or reorders samples;
//! - [`fingerprint`]: who the server says it is, for the evidence log;
//! - [`device`]: the device task — connect, read, recover;
//! - [`browse`]: the address-space walk behind `edgeproof browse`.
//!
//! The agent never writes to a device: no Write or Call service is ever sent.

pub mod browse;
pub mod device;
pub mod error;
pub mod fingerprint;
pub mod identity;
pub mod point;
pub mod read;
pub mod security;
pub mod session;
pub mod subscribe;
pub mod timeline;
pub mod trust;
pub mod value;

pub use device::{read_once, run_device};
pub use error::OpcUaError;
pub use fingerprint::{BuildSummary, DeviceFingerprint, FingerprintBoard};
pub use identity::ClientIdentity;
pub use point::{OpcUaPoint, PointMode};
pub use security::{password_env_var, Mode, Policy, Trust, UserAuth};
