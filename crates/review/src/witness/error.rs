//! Errors starting the witness's server.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the witness server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listening address is taken or not ours.
    #[error("--listen {addr}: cannot listen: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error("{path}: {why}")]
    Tls {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}
