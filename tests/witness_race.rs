//! Two `edgeproof witness serve` processes on one PostgreSQL database (and, the same, on one
//! SQLite file), hammered by concurrent
//! clients submitting many forks of one log at the same sizes: no size is ever cosigned with
//! two roots, and every cosigned tree lies on one history (tlog-witness: checking the old size
//! and persisting the new checkpoint must be atomic).

use std::collections::BTreeMap;
use std::sync::Arc;

use edgeproof::evidence::cosignature::verify_cosignatures;
use edgeproof::evidence::keys::GatewayKey;
use edgeproof::evidence::merkle::Hash;
use edgeproof::evidence::note::SignedNote;

use crate::support::postgres::TestDb;
use crate::support::witness::{add_checkpoint, must_add_log, SubmitLog, WitnessProcess};

const ORIGIN: &str = "edgeproof/gw-race";
const CLIENTS: usize = 8;
const REQUESTS: usize = 50;
const LEAVES: u64 = 300;
/// Where each fork leaves the common history (`LEAVES`: never).
const DIVERGE_AT: [u64; 6] = [LEAVES, 3, 9, 20, 40, 80];

/// Fork `f` of the log: common leaves up to its divergence point, its own after.
fn fork(f: usize) -> SubmitLog {
    let leaves: Vec<Hash> = (0..LEAVES)
        .map(|j| {
            if j < DIVERGE_AT[f] {
                Hash::sha256(format!("common {j}").as_bytes())
            } else {
                Hash::sha256(format!("fork {f} leaf {j}").as_bytes())
            }
        })
        .collect();
    SubmitLog::new(ORIGIN, GatewayKey::from_seed([31; 32]), &leaves)
}

/// What one client saw: every cosigned (size, root, fork), and counts by status.
#[derive(Default)]
struct Seen {
    cosigned: Vec<(u64, Hash, usize)>,
    statuses: BTreeMap<u16, usize>,
    by_instance: [usize; 2],
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_postgres_never_cosign_two_roots_for_one_size() {
    let db = TestDb::create("witness race").await;
    hammer(&db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_sqlite_never_cosign_two_roots_for_one_size() {
    let dir = tempfile::tempdir().unwrap();
    hammer(&dir.path().join("witness.sqlite3").display().to_string()).await;
}

/// `CLIENTS` × `REQUESTS` add-checkpoint calls spread over two instances on `db`.
async fn hammer(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let key = GatewayKey::from_seed([31; 32]);
    must_add_log(dir.path(), db, ORIGIN, &key);
    // Two instances of one witness (same name and key) on one database.
    let a = WitnessProcess::start(dir.path(), db, "witness.test/race", 50, &[]).await;
    let b = WitnessProcess::start(dir.path(), db, "witness.test/race", 50, &[]).await;
    let addrs = [a.addr, b.addr];
    let trusted = a.trusted();
    let forks: Arc<Vec<SubmitLog>> = Arc::new((0..DIVERGE_AT.len()).map(fork).collect());

    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let forks = Arc::clone(&forks);
        let trusted = trusted.clone();
        clients.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(c as u64);
            let mut seen = Seen::default();
            let mut known = 0u64;
            for _ in 0..REQUESTS {
                let f = rng.usize(..forks.len());
                let log = &forks[f];
                // Mostly small steps from the size this client believes is the latest, so
                // clients collide on the same sizes; sometimes a re-submission at that size.
                let size = (known + rng.u64(0..4)).min(LEAVES);
                let instance = rng.usize(..2);
                let reply = add_checkpoint(addrs[instance], &log.body(known, size)).await;
                *seen.statuses.entry(reply.status).or_default() += 1;
                match reply.status {
                    200 => {
                        let text = log.text(size);
                        let note = SignedNote::parse(&format!("{text}\n{}", reply.body))
                            .expect("cosigned note");
                        verify_cosignatures(&note, &trusted).expect("cosignature verifies");
                        seen.cosigned.push((size, log.tree.root_at(size).unwrap(), f));
                        seen.by_instance[instance] += 1;
                        known = size;
                    }
                    409 => known = reply.body.trim().parse().expect("409 body is a size"),
                    422 => {} // this fork cannot extend what was cosigned
                    other => panic!("unexpected status {other}: {reply:?}"),
                }
            }
            seen
        }));
    }
    let mut all = Seen::default();
    for c in clients {
        let s = c.await.expect("client task");
        all.cosigned.extend(s.cosigned);
        for (k, v) in s.statuses {
            *all.statuses.entry(k).or_default() += v;
        }
        all.by_instance[0] += s.by_instance[0];
        all.by_instance[1] += s.by_instance[1];
    }

    // The invariant: one root per size.
    let mut root_at: BTreeMap<u64, Hash> = BTreeMap::new();
    for (size, root, f) in &all.cosigned {
        let first = *root_at.entry(*size).or_insert(*root);
        assert_eq!(first, *root, "size {size} cosigned with two roots (second from fork {f})");
    }
    // Stronger: every cosigned tree is a prefix of the largest one.
    let (&max, &max_root) = root_at.iter().next_back().expect("something was cosigned");
    let winner = forks
        .iter()
        .find(|l| l.tree.root_at(max) == Some(max_root))
        .expect("the largest cosigned tree is one of the forks");
    for (size, root) in &root_at {
        assert_eq!(winner.tree.root_at(*size), Some(*root), "size {size} is off the history");
    }
    // The hammering was real: many cosignatures from both instances, and many conflicts.
    let cosigned = all.cosigned.len();
    let conflicts = all.statuses.get(&409).copied().unwrap_or(0);
    eprintln!(
        "race on {db}: statuses {:?}, cosigned {cosigned} ({} distinct sizes, up to {max}), by instance {:?}",
        all.statuses,
        root_at.len(),
        all.by_instance
    );
    assert!(cosigned >= 20 && conflicts >= 20, "too little contention: {:?}", all.statuses);
    assert!(all.by_instance.iter().all(|&n| n > 0), "one instance never cosigned");
    drop((a, b));
}

/// Instances starting together on a fresh database apply each migration exactly once.
#[tokio::test]
async fn instances_starting_together_migrate_once() {
    let db = TestDb::create("witness migrate").await;
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(crate::support::bin())
                .args(["witness", "list", "--db", &db.url])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn witness list")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let rows = db.connect().await.query("SELECT version FROM witness_schema", &[]).await.unwrap();
    let versions: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, vec![1, 2], "each migration recorded once");
}
