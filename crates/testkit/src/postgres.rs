//! A throwaway PostgreSQL database per test, on a real server.
//!
//! The server is `EDGEPROOF_TEST_PG` (a `postgres://` URL of a database the test user may
//! `CREATE DATABASE` from; default `postgres://postgres@127.0.0.1:5432/test`). `scripts/test`
//! makes sure one runs. Tests never skip when it is missing: they fail, naming the URL.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::NoTls;

/// The server every PostgreSQL test uses.
pub fn server_url() -> String {
    std::env::var("EDGEPROOF_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database created for one test and dropped (with its connections) when this drops.
pub struct TestDb {
    /// The database's own URL, to hand to `--db`.
    pub url: String,
    name: String,
}

impl TestDb {
    /// Creates a fresh, empty database named after `what`, the process and a counter.
    pub async fn create(what: &str) -> TestDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let clean: String = what
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .take(30)
            .collect();
        let name =
            format!("ep_{clean}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        let admin = admin().await;
        // One statement per call: CREATE DATABASE cannot run inside the implicit transaction
        // of a multi-statement batch.
        for sql in [format!("DROP DATABASE IF EXISTS {name}"), format!("CREATE DATABASE {name}")] {
            admin
                .batch_execute(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql} on {}: {}", server_url(), describe(&e)));
        }
        let base = server_url();
        let url = match base.rfind('/') {
            Some(i) if i > "postgres://".len() => format!("{}/{name}", &base[..i]),
            _ => panic!("EDGEPROOF_TEST_PG {base:?} does not end in /<database>"),
        };
        TestDb { url, name }
    }

    /// A connection to this database (its driver task runs on the current runtime).
    pub async fn connect(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs outside any runtime guarantee: use a small one of its own, on a thread
        // so that dropping inside a runtime does not nest runtimes.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let admin = admin().await;
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                });
            }
        })
        .join();
    }
}

/// A PostgreSQL error with the server's message (the plain `Display` says only "db error").
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

async fn admin() -> tokio_postgres::Client {
    connect(&server_url()).await
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap_or_else(|e| {
        panic!("connect to PostgreSQL at {url}: {} (set EDGEPROOF_TEST_PG)", describe(&e))
    });
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}
