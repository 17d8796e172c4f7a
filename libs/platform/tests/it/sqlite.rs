//! The embedded default's SQLite holds concurrent writers: per-connection pragmas, `BEGIN
//! IMMEDIATE` write transactions, and a busy database classified as busy (503), not as a 500.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
use zw_platform::db::{BeginWrite, is_busy};

fn scratch_file() -> PathBuf {
    std::env::temp_dir().join(format!("zw-sqlite-{}.db", uuid::Uuid::new_v4()))
}

fn url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

async fn count(db: &impl ConnectionTrait) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM counters",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

#[tokio::test]
async fn sixteen_writers_that_read_then_write_all_commit_on_one_sqlite_file() {
    let path = scratch_file();
    let db = zw_platform::db::connect(&url(&path), 8).await.unwrap();
    db.execute_unprepared("CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        .await
        .unwrap();
    // Each writer reads before it writes: a deferred transaction would fail at once on the
    // lock upgrade ("database is locked") whenever another writer got in between.
    let writers = (0..16).map(|w| {
        let db = db.clone();
        tokio::spawn(async move {
            for i in 0..10 {
                let txn = db.begin_write().await?;
                let before = count(&txn).await;
                txn.execute_raw(Statement::from_string(
                    txn.get_database_backend(),
                    format!(
                        "INSERT INTO counters (id, n) VALUES ({}, {before})",
                        w * 100 + i
                    ),
                ))
                .await?;
                txn.commit().await?;
            }
            Ok::<_, sea_orm::DbErr>(())
        })
    });
    for result in futures::future::join_all(writers).await {
        result.unwrap().unwrap();
    }
    assert_eq!(count(&db).await, 160);
    // Every pooled connection has the pragmas, not only the one that happened to run them.
    let mut conns = Vec::new();
    for _ in 0..8 {
        let txn = db.begin_write().await;
        // Holding transactions open forces the pool onto distinct connections; the later
        // ones wait for the write lock, so check pragmas with a read-only probe instead.
        drop(txn);
        conns.push(
            db.query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "PRAGMA busy_timeout",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap(),
        );
    }
    assert!(
        conns.iter().all(|t| *t == 10_000),
        "busy_timeout per connection: {conns:?}"
    );
    db.close().await.unwrap();
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_writer_that_cannot_get_the_lock_in_time_is_busy_not_an_internal_error() {
    let path = scratch_file();
    let db = zw_platform::db::connect(&url(&path), 2).await.unwrap();
    db.execute_unprepared("CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        .await
        .unwrap();
    let holder = db.begin_write().await.unwrap();
    holder
        .execute_unprepared("INSERT INTO counters (id, n) VALUES (1, 1)")
        .await
        .unwrap();
    // A second process on the same file with a short busy timeout.
    let mut opts = ConnectOptions::new(url(&path));
    opts.max_connections(1)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| o.busy_timeout(Duration::from_millis(50)));
    let other: DatabaseConnection = Database::connect(opts).await.unwrap();
    let err = other
        .begin_write()
        .await
        .expect_err("the lock is held elsewhere");
    assert!(is_busy(&err), "classified as busy: {err:?}");
    holder.commit().await.unwrap();
    let txn = other.begin_write().await.unwrap();
    assert_eq!(count(&txn).await, 1);
    txn.commit().await.unwrap();
    let problem = zw_platform::db::busy_problem();
    assert_eq!(problem.status, 503);
    let response = problem.to_response();
    assert_eq!(response.headers().get("retry-after").unwrap(), "1");
    let _ = std::fs::remove_file(&path);
}
