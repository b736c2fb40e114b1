//! Setting up a session, one step at a time so each failure has its own message:
//!
//! 1. GetEndpoints on an unsecured channel (needs no trust);
//! 2. pick the endpoint with the configured policy and mode, or fail listing what the
//!    server offers;
//! 3. check the server certificate of that endpoint ([`super::trust`]);
//! 4. create and activate the session on it, with the agent's certificate
//!    ([`super::identity`]) and the configured user.
//!
//! The session's event loop runs in its own task (it drives the transport: requests only
//! move while it is polled). async-opcua's own reconnect is turned off: when the link drops,
//! [`Link::lost`] fires and the device task builds a new session from step 1, so a server
//! that came back with another certificate is checked again.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use opcua::client::{Client, ClientBuilder, IdentityToken, Session, SessionPollResult};
use opcua::crypto::SecurityPolicy;
use opcua::types::{EndpointDescription, StatusCode, UserTokenType};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::debug;

use super::error::OpcUaError;
use super::identity::{self, ClientIdentity, APPLICATION_NAME, APPLICATION_URI};
use super::security::{password_env_var, Mode, Policy, Trust, UserAuth};
use super::trust::{self, Trusted};
use crate::config::OpcUaDevice;

/// How long the server keeps a session whose client vanished (asked of it; it may revise).
/// Short, so a session orphaned by a network cut does not keep its monitored items long.
const SESSION_TIMEOUT_MS: u32 = 60_000;
/// Keep-alive reads on an idle session; two failures in a row drop the link.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Why a session's link ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Still up.
    Up,
    /// The transport closed or the event loop gave up, with the status it gave.
    Lost(String),
}

/// An active session and the task driving it.
pub struct Connection {
    /// The session: Read, CreateSubscription … go through it.
    pub session: Arc<Session>,
    /// The endpoint in use (server certificate, ApplicationUri, security).
    pub endpoint: EndpointDescription,
    /// Whether the certificate was pinned by this connection.
    pub trusted: Trusted,
    /// The event-loop watcher.
    pub link: Link,
}

/// Watches the event-loop task.
pub struct Link {
    state: watch::Receiver<LinkState>,
    task: JoinHandle<()>,
}

impl Link {
    /// Resolves once the link is lost; returns why.
    pub async fn lost(&mut self) -> String {
        loop {
            if let LinkState::Lost(why) = &*self.state.borrow_and_update() {
                return why.clone();
            }
            if self.state.changed().await.is_err() {
                return "session event loop ended".into();
            }
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Connection {
    /// The link watcher, to select on alongside reads.
    pub fn link(&mut self) -> &mut Link {
        &mut self.link
    }

    /// Closes the session (deleting its subscriptions on the server), bounded by `timeout`.
    pub async fn close(self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.session.disconnect()).await;
    }
}

/// An endpoint as `Policy/Mode (user tokens)`, for listing what a server offers.
pub fn describe_endpoint(e: &EndpointDescription) -> String {
    let policy = e.security_policy_uri.as_ref().rsplit('#').next().unwrap_or("?").to_string();
    let tokens: Vec<&str> = e
        .user_identity_tokens
        .iter()
        .flatten()
        .map(|t| match t.token_type {
            UserTokenType::Anonymous => "anonymous",
            UserTokenType::UserName => "user",
            UserTokenType::Certificate => "certificate",
            UserTokenType::IssuedToken => "issued",
        })
        .collect();
    format!("{policy}/{} ({})", Mode::name_of(e.security_mode), tokens.join(", "))
}

/// The async-opcua client for `cfg`: the agent's certificate, trust settings of the mode,
/// reconnects off (the device task owns recovery).
pub fn client(cfg: &OpcUaDevice, id: &ClientIdentity) -> Result<Client, String> {
    // first-use: trust was decided by the pin before connecting; async-opcua's own store
    // (kept apart from pki/trusted) then accepts that certificate. pki: async-opcua checks
    // the trusted folder itself too, with hostname and validity dates.
    let (store, first_use) = match cfg.trust {
        Trust::FirstUse => (cfg.pki_dir.join("first-use"), true),
        Trust::Pki => (cfg.pki_dir.clone(), false),
    };
    ClientBuilder::new()
        .application_name(APPLICATION_NAME)
        .application_uri(APPLICATION_URI)
        .product_uri("urn:edgeproof")
        .pki_dir(store)
        .certificate_path(&id.cert_path)
        .private_key_path(&id.key_path)
        .create_sample_keypair(false)
        .trust_server_certs(first_use)
        .verify_server_certs(!first_use)
        .session_retry_limit(0)
        .session_retry_initial(Duration::from_millis(100))
        .keep_alive_interval(KEEP_ALIVE)
        .max_failed_keep_alive_count(2)
        .request_timeout(cfg.timeout)
        .session_timeout(SESSION_TIMEOUT_MS)
        .recreate_subscriptions(false)
        .session_name("edgeproof")
        .client()
        .map_err(|errs| errs.join("; "))
}

/// GetEndpoints, bounded by the device timeout.
pub async fn endpoints(
    device: &str,
    cfg: &OpcUaDevice,
    client: &Client,
) -> Result<Vec<EndpointDescription>, OpcUaError> {
    let unreachable = |reason: String| OpcUaError::Unreachable {
        device: device.to_string(),
        endpoint: cfg.endpoint.clone(),
        reason,
    };
    match tokio::time::timeout(
        cfg.timeout,
        client.get_server_endpoints_from_url(cfg.endpoint.as_str()),
    )
    .await
    {
        Ok(Ok(list)) => Ok(list),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!("no answer within {:?}", cfg.timeout))),
    }
}

/// The endpoint with the configured policy and mode, its URL set to the configured one
/// (servers often advertise a host name the gateway cannot resolve).
pub fn select(
    device: &str,
    cfg: &OpcUaDevice,
    offered: &[EndpointDescription],
) -> Result<EndpointDescription, OpcUaError> {
    let want_policy = cfg.security_policy.to_opcua();
    let want_mode = cfg.security_mode.to_opcua();
    let found = offered.iter().find(|e| {
        e.security_mode == want_mode
            && SecurityPolicy::from_uri(e.security_policy_uri.as_ref()) == want_policy
    });
    match found {
        Some(e) => {
            let mut e = e.clone();
            e.endpoint_url = cfg.endpoint.as_str().into();
            Ok(e)
        }
        None => Err(OpcUaError::EndpointMismatch {
            device: device.to_string(),
            endpoint: cfg.endpoint.clone(),
            policy: cfg.security_policy.as_str().to_string(),
            mode: cfg.security_mode.as_str().to_string(),
            offered: offered.iter().map(describe_endpoint).collect(),
        }),
    }
}

/// The identity token for `auth`; reads the password file or environment variable.
pub fn identity_token(device: &str, auth: &UserAuth) -> Result<IdentityToken, OpcUaError> {
    let fail = |message: String| OpcUaError::Identity { device: device.to_string(), message };
    match auth {
        UserAuth::Anonymous => Ok(IdentityToken::Anonymous),
        UserAuth::Password { user, password_file: Some(file) } => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| fail(format!("cannot read password_file {}: {e}", file.display())))?;
            Ok(IdentityToken::new_user_name(user.clone(), text.trim_end_matches(['\r', '\n'])))
        }
        UserAuth::Password { user, password_file: None } => {
            let var = password_env_var(device);
            match std::env::var(&var) {
                Ok(p) => Ok(IdentityToken::new_user_name(user.clone(), p)),
                Err(_) => Err(fail(format!(
                    "user {user:?} has no password: set password_file or the environment variable {var}"
                ))),
            }
        }
        UserAuth::Certificate { cert_file, key_file } => {
            IdentityToken::new_x509_path(cert_file, key_file).map_err(|e| {
                fail(format!(
                    "cannot load user certificate {} / key {}: {e}",
                    cert_file.display(),
                    key_file.display()
                ))
            })
        }
    }
}

/// Runs steps 1–4 and returns the live connection.
pub async fn connect(device: &str, cfg: &OpcUaDevice) -> Result<Connection, OpcUaError> {
    let id = identity::ensure(&cfg.pki_dir)?;
    let token = identity_token(device, &cfg.auth)?;
    let session_err = |reason: String| OpcUaError::Session {
        device: device.to_string(),
        endpoint: cfg.endpoint.clone(),
        reason,
    };
    let mut client = client(cfg, &id).map_err(session_err)?;
    let offered = endpoints(device, cfg, &client).await?;
    let endpoint = select(device, cfg, &offered)?;
    let cert = endpoint.server_certificate.as_ref();
    let trusted = if cert.is_empty() {
        if cfg.security_policy != Policy::None {
            return Err(OpcUaError::Untrusted {
                device: device.to_string(),
                message: "the server offers a secured endpoint without a certificate".into(),
            });
        }
        Trusted::Known
    } else {
        trust::check(device, cfg.trust, &cfg.pki_dir, cert)?
    };
    let (session, event_loop) = client
        .connect_to_endpoint_directly(endpoint.clone(), token)
        .map_err(|e| session_err(e.to_string()))?;
    session.disable_reconnects();

    let (up_tx, up_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
    let (state_tx, state_rx) = watch::channel(LinkState::Up);
    let name = device.to_string();
    let task = tokio::spawn(async move {
        let events = event_loop.enter();
        let mut events = std::pin::pin!(events);
        let mut up_tx = Some(up_tx);
        let why = loop {
            match events.next().await {
                Some(Ok(SessionPollResult::Reconnected(_))) => {
                    if let Some(tx) = up_tx.take() {
                        let _ = tx.send(Ok(()));
                    }
                }
                Some(Ok(SessionPollResult::ConnectionLost(code))) => break code.to_string(),
                Some(Ok(SessionPollResult::ReconnectFailed(code))) => break code.to_string(),
                Some(Ok(other)) => debug!(device = %name, event = ?other, "session event"),
                Some(Err(code)) => break code.to_string(),
                None => break StatusCode::BadConnectionClosed.to_string(),
            }
        };
        if let Some(tx) = up_tx.take() {
            let _ = tx.send(Err(why.clone()));
        }
        let _ = state_tx.send(LinkState::Lost(why));
    });
    let link = Link { state: state_rx, task };
    // Session creation and activation: a few round trips, each bounded by the timeout.
    match tokio::time::timeout(cfg.timeout * 3, up_rx).await {
        Ok(Ok(Ok(()))) => Ok(Connection { session, endpoint, trusted, link }),
        Ok(Ok(Err(why))) => Err(session_err(why)),
        Ok(Err(_)) => Err(session_err("session event loop ended".into())),
        Err(_) => Err(session_err(format!("not active within {:?}", cfg.timeout * 3))),
    }
}
