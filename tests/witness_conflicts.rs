//! The witness keeps at most 100 conflicts per log (issue 15, finding 6), even when several
//! instances on one database record them at once: counting and inserting are one atomic
//! step. Two stores (two instances: two connection pools, or two SQLite connections) race
//! 300 inserts for one log; exactly 100 are kept and exactly 100 callers are told so.

use std::sync::Arc;

use edgeproof::evidence::keys::GatewayKey;
use edgeproof_review::witness::store::{Conflict, Store, MAX_CONFLICTS_PER_LOG};

use crate::support::postgres::TestDb;

const ORIGIN: &str = "edgeproof/gw-conflicts";
const ATTEMPTS: usize = 300;

fn conflict(i: usize) -> Conflict {
    Conflict {
        origin: ORIGIN.into(),
        received_at: 1_700_000_000 + i as i64,
        reason: "bad_proof".into(),
        cosigned_size: 5,
        cosigned_root: "cm9vdA==".into(),
        cosigned_note: None,
        old_size: 5,
        size: 10 + i as u64,
        root: "b3RoZXI=".into(),
        request: format!("request {i}"),
    }
}

async fn race(db: &str) {
    let a = Arc::new(Store::open(db).await.unwrap());
    let b = Arc::new(Store::open(db).await.unwrap());
    a.add_log(ORIGIN, &GatewayKey::from_seed([81; 32]).public()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..ATTEMPTS {
        let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
        tasks.push(tokio::spawn(async move { store.record_conflict(&conflict(i)).await }));
    }
    let mut kept = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            kept += 1;
        }
    }
    let stored = a.conflicts(Some(ORIGIN)).await.unwrap().len();
    println!("{ATTEMPTS} racing conflicts: {kept} reported kept, {stored} stored");
    assert_eq!(stored as i64, MAX_CONFLICTS_PER_LOG, "conflicts stored");
    assert_eq!(kept as i64, MAX_CONFLICTS_PER_LOG, "conflicts reported kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_instances_on_postgres_keep_at_most_100_conflicts() {
    let db = TestDb::create("witness conflict cap").await;
    race(&db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_instances_on_sqlite_keep_at_most_100_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    race(&dir.path().join("w.sqlite3").display().to_string()).await;
}
