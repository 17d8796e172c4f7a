//! What a PostgreSQL server that goes away under a service's statements is classified as.

use sea_orm::{ConnectionTrait, Statement};
use zw_platform::db::BeginWrite;
use zw_platform::db::is_busy;
use zw_testkit::TestDb;

async fn backend_pid(conn: &impl ConnectionTrait) -> i32 {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT pg_backend_pid() AS pid",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "pid").unwrap()
}

#[tokio::test]
async fn a_transaction_whose_connection_the_server_terminated_is_busy_not_an_internal_error() {
    let test = TestDb::postgres().await;
    let db = zw_platform::db::connect(&test.url, 2).await.unwrap();
    let txn = db.begin_write().await.unwrap();
    let pid = backend_pid(&txn).await;
    // What a fast shutdown does to every session: pg_terminate_backend (SIGTERM, 57P01).
    test.conn
        .execute_unprepared(&format!("SELECT pg_terminate_backend({pid})"))
        .await
        .unwrap();
    let err = txn
        .execute_unprepared("SELECT 1")
        .await
        .expect_err("the session was terminated");
    assert!(is_busy(&err), "a lost connection is transient: {err:?}");
    // The pool waits for what is checked out before it closes.
    drop(txn);
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_serialization_failure_is_busy_not_an_internal_error() {
    let test = TestDb::postgres().await;
    let err = test
        .conn
        .execute_unprepared(
            "DO $$ BEGIN RAISE EXCEPTION 'retry' USING ERRCODE = 'serialization_failure'; END $$",
        )
        .await
        .expect_err("raised");
    assert!(is_busy(&err), "40001 is transient: {err:?}");
    let err = test
        .conn
        .execute_unprepared("DO $$ BEGIN RAISE EXCEPTION 'nope' USING ERRCODE = '22012'; END $$")
        .await
        .expect_err("raised");
    assert!(!is_busy(&err), "a division by zero is not: {err:?}");
}
