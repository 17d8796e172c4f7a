//! The one test harness every crate's integration tests use.
//!
//! Tests run against the real servers of the machine; each test isolates itself:
//! - [`TestDb::postgres`] creates a fresh PostgreSQL database (dropped when the value drops),
//!   [`TestDb::sqlite`] a fresh SQLite file;
//! - [`unique_prefix`] gives a prefix for NATS subjects and stream names, and Redis keys;
//! - [`TestEnv`] bundles them for services under test (settings, bus, token issuer) and starts a
//!   service with its own `build` ([`TestEnv::spawn`]); [`TestEnv::sqlite_settings`] puts a
//!   service on SQLite files as `zhiwang up` does; [`RunningApp`] is a service running on a
//!   free port;
//! - [`eventually`] waits for a condition (never a sleep), [`PATIENCE`] long by default.
//!
//! What the services' tests share, so that no crate copies it:
//! - [`http`]: GET/POST with a token giving `(StatusCode, serde_json::Value)`, every error body
//!   checked to be problem+json; [`http::Reply`] for raw responses;
//! - [`codes`]: the jurisdiction codes of the small test district (a street, its communities and
//!   grids, a sibling street);
//! - [`events`]: declaration events of a grid ([`events::Declaration`]) published on a bus as
//!   the grid's outbox relay does, and copies under a new message id;
//! - [`service`]: the checks every service passes (health, readiness — also with its database
//!   dropped —, metrics, OpenAPI, unknown routes), run with [`service_checks!`];
//! - [`centres`]: a community, street or district centre's stats endpoint, and the test suite
//!   every centre passes, run with [`centre_stats_suite!`];
//! - [`fuzz`]: the number of cases of a fuzz test (bounded, or `ZW_FUZZ_CASES`).
//!
//! Where the servers are comes from the environment that `scripts/test` sets:
//! `ZW_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432`),
//! `ZW_TEST_NATS_URL` (no default: the machine's own NATS is too old; the test script starts a
//! 2.10+ server), `ZW_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`).

pub mod centres;
pub mod codes;
mod env;
pub mod events;
pub mod fuzz;
pub mod http;
pub mod service;

use std::time::Duration;

pub use env::{RunningApp, TestEnv};

/// How long a test waits for something asynchronous by default: a projection catching up with
/// what was published, readiness noticing a dependency went away.
pub const PATIENCE: Duration = Duration::from_secs(20);

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// Base URL of the PostgreSQL server (no database name).
pub fn postgres_server_url() -> String {
    std::env::var("ZW_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// URL of a NATS 2.10+ server with JetStream.
///
/// # Panics
/// When `ZW_TEST_NATS_URL` is not set: run the tests through `scripts/test`, which starts one.
pub fn nats_url() -> String {
    match std::env::var("ZW_TEST_NATS_URL") {
        Ok(url) => url,
        Err(_) => panic!(
            "ZW_TEST_NATS_URL is not set: run the tests with scripts/test, which starts a NATS \
             2.10+ server (the machine's NATS 2.9 ignores consumer subject filters)"
        ),
    }
}

/// URL of the Redis server.
pub fn redis_url() -> String {
    std::env::var("ZW_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A prefix unique to this test: `t<12 hex>` (valid as a NATS token, a stream name part and a
/// Redis key prefix).
pub fn unique_prefix() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("t{}", &id[..12])
}

/// A fresh database for one test.
pub struct TestDb {
    pub url: String,
    pub conn: DatabaseConnection,
    drop_name: Option<String>,
}

impl TestDb {
    /// A fresh PostgreSQL database named `zw_test_<random>`, dropped when this value drops.
    pub async fn postgres() -> TestDb {
        let name = format!("zw_test_{}", uuid::Uuid::new_v4().simple());
        let server = postgres_server_url();
        let admin = Database::connect(format!("{server}/postgres"))
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {server}: {e}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let _ = admin.close().await;
        let url = format!("{server}/{name}");
        let conn = Database::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
        TestDb {
            url,
            conn,
            drop_name: Some(name),
        }
    }

    /// A fresh SQLite database in a temporary file.
    pub async fn sqlite() -> TestDb {
        let path =
            std::env::temp_dir().join(format!("zw_test_{}.db", uuid::Uuid::new_v4().simple()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let conn = Database::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
        TestDb {
            url,
            conn,
            drop_name: None,
        }
    }

    /// Just a database name on the PostgreSQL server, created empty, for a service under test to
    /// connect to itself. Dropped with the returned guard.
    pub async fn postgres_url_only() -> TestDb {
        let db = Self::postgres().await;
        let _ = db.conn.clone().close().await;
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.drop_name.take() else {
            return;
        };
        // Best effort, outside any runtime: scripts/test also removes stale zw_test_ databases.
        let server = postgres_server_url();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let _ = tokio::time::timeout(
                    Duration::from_secs(10),
                    drop_postgres_database(&server, &name),
                )
                .await;
            });
        })
        .join();
    }
}

/// Drop the PostgreSQL database at `url` (`<server>/<name>`) from under whoever uses it, through
/// a connection of our own: how a test breaks a service's database.
///
/// # Panics
/// When the server cannot be reached or refuses.
pub async fn drop_database(url: &str) {
    let (server, name) = url
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("not a database URL: {url}"));
    drop_postgres_database(server, name)
        .await
        .unwrap_or_else(|e| panic!("cannot drop database {name}: {e}"));
}

/// `DROP DATABASE IF EXISTS name WITH (FORCE)` on `server`.
async fn drop_postgres_database(server: &str, name: &str) -> Result<(), sea_orm::DbErr> {
    let admin = Database::connect(format!("{server}/postgres")).await?;
    let dropped = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
    let _ = admin.close().await;
    dropped.map(|_| ())
}

/// Wait until `check` returns `Some`, polling every 20 ms, or panic after `deadline` with `what`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One `#[tokio::test]` per method named, each calling that method of `value` (built anew for
/// each test): how [`service_checks!`] and [`centre_stats_suite!`] turn a parameterised suite into
/// the calling crate's tests. The calling crate needs `tokio`.
#[macro_export]
macro_rules! one_test_each {
    ($value:expr; $($test:ident),+ $(,)?) => {$(
        #[tokio::test]
        async fn $test() {
            $value.$test().await;
        }
    )+};
}
