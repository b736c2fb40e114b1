//! Connecting to PostgreSQL, shared by the reviewer side's two stores: the witness's state
//! ([`crate::witness::store`], through a [`Pool`]) and the collector's archive
//! ([`crate::archive`], through [`connect`]).
//!
//! Plain TCP without TLS: these servers are reached on localhost or a private network (the
//! README says so).
//!
//! # Never wait for a database that does not answer
//!
//! Every connection made here carries [`Timeouts`]:
//!
//! - a **connect timeout**: a server that does not accept (or a path that drops SYNs) costs at
//!   most that long;
//! - a server-side **`statement_timeout`** (sent as a startup option): a statement blocked
//!   behind a lock (`LOCK TABLE … IN ACCESS EXCLUSIVE MODE`, a long migration) is cancelled
//!   by the server and fails with SQLSTATE 57014;
//! - **TCP keepalives** and `TCP_USER_TIMEOUT`: a peer that vanished (a pulled cable, a
//!   rebooted firewall dropping state) is noticed by the kernel within
//!   [`Timeouts::keepalive`] and the connection closes;
//! - a client-side **answer deadline** ([`Timeouts::answer`], a little above the statement
//!   timeout) that callers apply around each exchange: a path that swallows bytes without
//!   resetting (a half-open NAT entry, a proxy that stopped forwarding) is not noticed by the
//!   kernel at all, so the caller gives up on the request and throws that connection away
//!   ([`Pool`]'s objects abort their driver task when dropped).
//!
//! A request therefore fails within about [`Timeouts::answer`] whatever the database does,
//! and the next request gets a fresh connection.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod, Runtime};
use tokio_postgres::{Client, Config, NoTls};

/// The pool of connections the witness's store uses.
pub type Pool = deadpool_postgres::Pool;
/// One connection taken from a [`Pool`]; back into the pool when dropped, or thrown away
/// with [`deadpool_postgres::Object::take`].
pub type Pooled = deadpool_postgres::Object;

/// How long to wait for PostgreSQL (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening a connection (TCP, startup, authentication).
    pub connect: Duration,
    /// The server cancels a statement running (or waiting for a lock) longer than this.
    pub statement: Duration,
    /// The client gives up on one exchange (and its connection) after this.
    pub answer: Duration,
    /// Idle time before TCP keepalive probes; also the `TCP_USER_TIMEOUT`.
    pub keepalive: Duration,
}

impl Default for Timeouts {
    /// The witness's: a request it cannot serve is answered 503 within about 4 s.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            statement: Duration::from_secs(3),
            answer: Duration::from_secs(4),
            keepalive: Duration::from_secs(10),
        }
    }
}

impl Timeouts {
    /// The archive's: a batch of a few thousand records is written in a few large
    /// statements, which may legitimately take seconds on a loaded server, and nobody waits
    /// on it interactively. A stalled database still costs the collector at most
    /// [`Timeouts::answer`] per attempt before it drops the connection and retries.
    pub const ARCHIVE: Timeouts = Timeouts {
        connect: Duration::from_secs(5),
        statement: Duration::from_secs(30),
        answer: Duration::from_secs(45),
        keepalive: Duration::from_secs(10),
    };
}

/// Why a connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL does not parse as a libpq connection string or URL.
    #[error("not a PostgreSQL URL: {0}")]
    Url(String),
    /// The pool cannot be built (a bug: the configuration is fixed here).
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
}

/// A PostgreSQL error as one line with the server's own message and SQLSTATE (the plain
/// `Display` of a server error says only "db error").
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// The connection settings of `url` with `timeouts` applied. A `statement_timeout` already
/// given in the URL's `options` is kept.
pub fn config(url: &str, timeouts: &Timeouts) -> Result<Config, ConnectError> {
    let mut config: Config = url.parse().map_err(|e| ConnectError::Url(describe(&e)))?;
    config
        .connect_timeout(timeouts.connect)
        .keepalives(true)
        .keepalives_idle(timeouts.keepalive)
        .keepalives_interval(Duration::from_secs(2))
        .keepalives_retries(3)
        .tcp_user_timeout(timeouts.keepalive);
    let options = config.get_options().unwrap_or_default().to_string();
    if !options.contains("statement_timeout") {
        let ms = timeouts.statement.as_millis();
        let joined = format!("{options} -c statement_timeout={ms}");
        config.options(joined.trim_start());
    }
    Ok(config)
}

/// A client whose connection is driven on its own task; dropping it stops that task (a
/// connection to a black-holed server would otherwise wait on its socket forever).
pub struct Connection {
    client: Client,
    driver: tokio::task::AbortHandle,
}

impl std::ops::Deref for Connection {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl std::ops::DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Connects to `url` with `timeouts` and drives the connection on its own task; `who`
/// names the store in the log line written when the connection ends with an error.
pub async fn connect(
    url: &str,
    who: &str,
    timeouts: &Timeouts,
) -> Result<Connection, tokio_postgres::Error> {
    let config = match config(url, timeouts) {
        Ok(c) => c,
        // Let tokio-postgres say what is wrong with the URL.
        Err(_) => url.parse::<Config>()?,
    };
    let (client, conn) = config.connect(NoTls).await?;
    let who = who.to_string();
    let driver = tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::warn!(store = %who, error = %describe(&e), "PostgreSQL connection ended");
        }
    });
    Ok(Connection { client, driver: driver.abort_handle() })
}

/// A pool of at most `size` connections to `url` with `timeouts`. Taking a connection waits
/// at most [`Timeouts::answer`] for a free one and [`Timeouts::connect`] to open one; a
/// connection found closed is dropped and replaced.
///
/// `who` names the store in the warning logged when a pooled connection is found broken
/// (server restart, failover, an admin terminating it) and replaced.
pub fn pool(url: &str, who: &str, timeouts: &Timeouts, size: usize) -> Result<Pool, ConnectError> {
    let who = who.to_string();
    let broken = deadpool_postgres::Hook::sync_fn(
        move |c: &mut deadpool_postgres::ClientWrapper, _| {
            if c.is_closed() {
                tracing::warn!(store = %who, "{who}: the PostgreSQL connection broke; reconnecting");
            }
            Ok(())
        },
    );
    let manager = Manager::from_config(
        config(url, timeouts)?,
        NoTls,
        ManagerConfig { recycling_method: RecyclingMethod::Fast },
    );
    Pool::builder(manager)
        .pre_recycle(broken)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeouts.answer))
        .create_timeout(Some(timeouts.connect))
        .recycle_timeout(Some(timeouts.answer))
        .build()
        .map_err(|e| ConnectError::Pool(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_applied_and_a_given_statement_timeout_is_kept() {
        let t = Timeouts::default();
        let c = config("postgres://u@db.example/x", &t).unwrap();
        assert_eq!(c.get_connect_timeout(), Some(&t.connect));
        assert!(c.get_keepalives());
        assert_eq!(c.get_options(), Some("-c statement_timeout=3000"));
        let c = config("postgres://u@h/x?options=-c%20statement_timeout%3D9s", &t).unwrap();
        assert_eq!(c.get_options(), Some("-c statement_timeout=9s"));
        let c = config("postgres://u@h/x?options=-c%20search_path%3Dw", &t).unwrap();
        assert_eq!(c.get_options(), Some("-c search_path=w -c statement_timeout=3000"));
        assert!(matches!(config("postgres://u@h:notaport/x", &t), Err(ConnectError::Url(_))));
    }
}
