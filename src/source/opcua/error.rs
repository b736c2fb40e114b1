//! What can go wrong talking to an OPC UA server, with what an integrator needs to fix it.

use std::path::PathBuf;

/// Why a session to an OPC UA device could not be set up (or was lost).
#[derive(Debug, thiserror::Error)]
pub enum OpcUaError {
    /// The server did not answer GetEndpoints (down, wrong address, firewall).
    #[error("device {device}: cannot reach {endpoint}: {reason}")]
    Unreachable {
        /// Device name.
        device: String,
        /// The configured endpoint.
        endpoint: String,
        /// What the stack said.
        reason: String,
    },
    /// The server does not offer the configured security policy and mode.
    #[error(
        "device {device}: {endpoint} does not offer security_policy {policy:?} with \
         security_mode {mode:?}; it offers: {}",
        offered.join("; ")
    )]
    EndpointMismatch {
        /// Device name.
        device: String,
        /// The configured endpoint.
        endpoint: String,
        /// Configured policy.
        policy: String,
        /// Configured mode.
        mode: String,
        /// Every endpoint the server offers, as `policy/mode (user tokens)`.
        offered: Vec<String>,
    },
    /// The server certificate is not trusted (changed pin, rejected or unknown under pki).
    #[error("device {device}: {message}")]
    Untrusted {
        /// Device name.
        device: String,
        /// What happened and the command that fixes it.
        message: String,
    },
    /// The agent's own certificate or a pin could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Pki {
        /// What was being done.
        what: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The application instance certificate could not be created or parsed.
    #[error("client certificate {}: {message}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The user identity could not be prepared (no password, unreadable key).
    #[error("device {device}: {message}")]
    Identity {
        /// Device name.
        device: String,
        /// What is missing.
        message: String,
    },
    /// The session could not be created or activated (bad user, rejected certificate …).
    #[error("device {device}: session to {endpoint} failed: {reason}")]
    Session {
        /// Device name.
        device: String,
        /// The endpoint.
        endpoint: String,
        /// What the stack said.
        reason: String,
    },
}
