//! Connecting to PostgreSQL, shared by the reviewer side's two stores: the witness's state
//! ([`crate::witness::store`]) and the collector's archive ([`crate::archive`]).
//!
//! Plain TCP without TLS: these servers are reached on localhost or a private network (the
//! README says so). The connection's driver runs as its own task and logs once when the
//! connection ends; callers see a closed [`Client`] and reconnect.

use tokio_postgres::{Client, NoTls};

/// A PostgreSQL error as one line with the server's own message and SQLSTATE (the plain
/// `Display` of a server error says only "db error").
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// Connects to `url` and drives the connection on its own task; `who` names the store in
/// the log line written when the connection ends with an error.
pub async fn connect(url: &str, who: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    let who = who.to_string();
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::warn!(store = %who, error = %describe(&e), "PostgreSQL connection ended");
        }
    });
    Ok(client)
}
