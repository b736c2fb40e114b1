//! A stalled PostgreSQL (issue 15, finding 4): the witness answers 503 within seconds
//! instead of hanging, `/healthz` says 503 while the database is unreachable, and service
//! comes back within seconds after the database does.
//!
//! - **Table lock**: another connection holds `LOCK TABLE witness_logs IN ACCESS EXCLUSIVE
//!   MODE` for 20 s. The server cancels the witness's statements at its `statement_timeout`.
//! - **Black hole**: a fault proxy between the witness and PostgreSQL swallows every byte
//!   without resetting (a half-open path the kernel cannot notice). The witness's answer
//!   deadline gives up and throws the connection away.
//!
//! The latencies are printed and recorded in docs/performance.md; the assertions are
//! generous (10 s for a 503, 15 s to recover).

use std::time::{Duration, Instant};

use edgeproof::evidence::keys::GatewayKey;
use edgeproof::evidence::merkle::Hash;

use crate::support::postgres::TestDb;
use crate::support::proxy::{FaultProxy, Mode};
use crate::support::witness::{add_checkpoint, must_add_log, request, SubmitLog, WitnessProcess};

const NAME: &str = "witness.test.example/stall";
const LEAVES: u64 = 64;
/// Most a request may take to be refused while the database stalls (generous; the
/// default timeouts give 3–4 s).
const REFUSED_WITHIN: Duration = Duration::from_secs(10);
/// Most it may take after the database is back until a request is cosigned again.
const RECOVERED_WITHIN: Duration = Duration::from_secs(15);

fn log(seed: u8, origin: &str) -> SubmitLog {
    let leaves: Vec<Hash> = (0..LEAVES).map(|i| Hash::sha256(&i.to_be_bytes())).collect();
    SubmitLog::new(origin, GatewayKey::from_seed([seed; 32]), &leaves)
}

/// Sends add-checkpoint from `size` on until one is cosigned; returns the new size and how
/// long that took. Every answer before it must be 503.
async fn until_cosigned(w: &WitnessProcess, log: &SubmitLog, size: u64) -> (u64, Duration) {
    let started = Instant::now();
    loop {
        let r = add_checkpoint(w.addr, &log.body(size, size + 1)).await;
        if r.status == 200 {
            return (size + 1, started.elapsed());
        }
        assert_eq!(r.status, 503, "{r:?}\n{}", w.stderr());
        assert!(started.elapsed() < RECOVERED_WITHIN, "not recovered:\n{}", w.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_locked_table_costs_503_within_seconds_not_a_hang() {
    let db = TestDb::create("witness lock").await;
    let dir = tempfile::tempdir().unwrap();
    let log = log(71, "edgeproof/gw-lock");
    must_add_log(dir.path(), &db.url, &log.origin, &log.key);
    let w = WitnessProcess::start(dir.path(), &db.url, NAME, 72, &[]).await;
    assert_eq!(add_checkpoint(w.addr, &log.body(0, 1)).await.status, 200);

    let locker = db.connect().await;
    locker.batch_execute("BEGIN; LOCK TABLE witness_logs IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let locked_at = Instant::now();
    let mut refused = Vec::new();
    while locked_at.elapsed() < Duration::from_secs(20) - REFUSED_WITHIN {
        let started = Instant::now();
        let r = add_checkpoint(w.addr, &log.body(1, 2)).await;
        refused.push(started.elapsed());
        assert_eq!(r.status, 503, "{r:?}");
    }
    // Hold the lock for its 20 s, then release it.
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(locked_at.elapsed())).await;
    locker.batch_execute("ROLLBACK").await.unwrap();
    let (_, recovery) = until_cosigned(&w, &log, 1).await;
    let worst = refused.iter().max().copied().unwrap_or_default();
    println!(
        "table lock 20 s: {} requests during it, all 503, slowest {worst:?}; cosigning again \
         {recovery:?} after the lock was released",
        refused.len()
    );
    assert!(worst < REFUSED_WITHIN, "a refusal took {worst:?}");
}

#[tokio::test]
async fn a_black_holed_database_costs_503_and_healthz_says_so() {
    let db = TestDb::create("witness blackhole").await;
    let dir = tempfile::tempdir().unwrap();
    let log = log(73, "edgeproof/gw-hole");
    must_add_log(dir.path(), &db.url, &log.origin, &log.key);
    let pg_port: u16 =
        db.url.rsplit_once(':').unwrap().1.split('/').next().unwrap().parse().unwrap();
    let proxy = FaultProxy::start(pg_port).await;
    let proxied = db.url.replace(&format!(":{pg_port}/"), &format!(":{}/", proxy.port));
    let w = WitnessProcess::start(dir.path(), &proxied, NAME, 74, &[]).await;
    assert_eq!(add_checkpoint(w.addr, &log.body(0, 1)).await.status, 200);
    assert_eq!(request(w.addr, "GET", "/healthz", b"").await.status, 200);

    proxy.set_mode(Mode::Blackhole);
    let holed_at = Instant::now();
    let mut refused = Vec::new();
    let mut health = Vec::new();
    while holed_at.elapsed() < Duration::from_secs(12) {
        let started = Instant::now();
        let r = add_checkpoint(w.addr, &log.body(1, 2)).await;
        refused.push(started.elapsed());
        assert_eq!(r.status, 503, "{r:?}");
        let started = Instant::now();
        let h = request(w.addr, "GET", "/healthz", b"").await;
        health.push(started.elapsed());
        assert_eq!(h.status, 503, "/healthz while the database is unreachable: {h:?}");
    }
    proxy.set_mode(Mode::Pass);
    let (_, recovery) = until_cosigned(&w, &log, 1).await;
    assert_eq!(request(w.addr, "GET", "/healthz", b"").await.status, 200);
    let worst = refused.iter().max().copied().unwrap_or_default();
    let worst_health = health.iter().max().copied().unwrap_or_default();
    println!(
        "black hole 12 s: {} add-checkpoint all 503, slowest {worst:?}; {} /healthz all 503, \
         slowest {worst_health:?}; cosigning again {recovery:?} after the path healed",
        refused.len(),
        health.len()
    );
    assert!(worst < REFUSED_WITHIN && worst_health < REFUSED_WITHIN, "{worst:?} {worst_health:?}");
    assert!(w.stderr().contains("did not answer"), "{}", w.stderr());
}
