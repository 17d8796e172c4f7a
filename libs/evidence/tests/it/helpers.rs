//! Fresh migrated databases, a few SQL helpers, and the macro that runs a test on both backends.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use serde_json::json;
use zw_evidence::EvidenceRecord;
use zw_testkit::TestDb;

/// A service's migrator, reduced to the evidence migrations.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        zw_evidence::migrations()
    }
}

/// Which database a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A fresh database of `backend` with the evidence migration applied.
pub async fn fresh(backend: Backend) -> TestDb {
    let db = match backend {
        Backend::Postgres => TestDb::postgres().await,
        Backend::Sqlite => TestDb::sqlite().await,
    };
    Migrator::up(&db.conn, None)
        .await
        .expect("the evidence migration applies");
    db
}

/// Appends `n` records about `declaration/<i>`, each in its own transaction.
pub async fn append_n(db: &TestDb, n: usize) -> Vec<EvidenceRecord> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let record = zw_evidence::append(
            &db.conn,
            "user/7",
            "declaration.submit",
            &format!("declaration/{i}"),
            &json!({ "declaration": i, "name": "张三" }),
        )
        .await
        .expect("append");
        out.push(record);
    }
    out
}

/// Runs raw SQL, as an administrator with database access would.
pub async fn sql(db: &TestDb, statement: &str) {
    db.conn
        .execute_unprepared(statement)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// Removes the append-only guard, as someone determined to tamper would.
pub async fn drop_append_only_guard(db: &TestDb) {
    let tables = [
        "evidence_records",
        "evidence_tree_heads",
        "evidence_merkle_nodes",
    ];
    match db.conn.get_database_backend() {
        DbBackend::Postgres => {
            for table in tables {
                sql(db, &format!("ALTER TABLE {table} DISABLE TRIGGER USER")).await;
            }
        }
        _ => {
            for table in tables {
                for op in ["update", "delete"] {
                    sql(db, &format!("DROP TRIGGER {table}_no_{op}")).await;
                }
            }
        }
    }
}

/// Defines `mod $name { on_postgres, on_sqlite }` running `async fn $name(Backend)`.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use crate::helpers::Backend;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_postgres() {
                    super::$name(Backend::Postgres).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_sqlite() {
                    super::$name(Backend::Sqlite).await
                }
            }
        )+
    };
}
pub(crate) use on_both_backends;
