//! The PostgreSQL server the fleet tests (witness, collector) use is there and each test gets
//! a database of its own: a failure here explains every PostgreSQL test failing after it.

use crate::support::postgres::{server_url, TestDb};

#[tokio::test]
async fn each_test_gets_its_own_empty_database() {
    let a = TestDb::create("smoke a").await;
    let b = TestDb::create("smoke b").await;
    assert_ne!(a.url, b.url);
    let ca = a.connect().await;
    ca.batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)").await.expect("create");
    let cb = b.connect().await;
    let seen = cb
        .query("SELECT 1 FROM information_schema.tables WHERE table_name = 't'", &[])
        .await
        .expect("query");
    assert!(
        seen.is_empty(),
        "database {} sees another test's table (server {})",
        b.url,
        server_url()
    );
}
