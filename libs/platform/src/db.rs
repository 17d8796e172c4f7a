//! Databases: each service owns one (PostgreSQL in production, a SQLite file in one process).

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;

pub use zw_domain::db::{BeginWrite, is_busy};

/// How long a SQLite connection waits for another writer before its statement fails as busy.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a client is told to wait before retrying a request that found the database busy.
pub const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// Connect to `service`'s own database (as `settings` name it) and bring its schema up to date
/// with `M`.
pub async fn connect_service<M: MigratorTrait>(
    settings: &crate::Settings,
    service: &str,
) -> Result<DatabaseConnection, DbErr> {
    let db = connect(
        &settings.database_url(service),
        settings.database.max_connections,
    )
    .await?;
    M::up(&db, None).await?;
    Ok(db)
}

/// Connect with sensible pool settings. Every SQLite connection of the pool gets WAL, foreign
/// keys and a busy timeout (set per connection: a pragma run once on the pool reaches only the
/// connection that ran it).
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    if let Some(dir) = sqlite_path(url).and_then(|p| std::path::Path::new(p).parent())
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
        });
    Database::connect(opts).await
}

/// The 503 a busy database answers (`Retry-After: 1`): nothing was changed, retry.
pub fn busy_problem() -> crate::Problem {
    crate::Problem::new(
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        "database-busy",
        "The database is busy",
    )
    .with_detail("the database is busy; nothing was changed: retry in a moment")
    .with("retry_after", BUSY_RETRY_AFTER_SECS)
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(rest.split('?').next().unwrap_or(rest))
}

/// Readiness probe of a database.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.ping().await
}

/// Whether `err` violates the unique constraint or index `name` (PostgreSQL names the
/// constraint; SQLite names the columns as `table.column`, so pass that for SQLite-backed checks).
pub fn is_unique_violation(err: &DbErr, name: &str) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(msg)) if msg.contains(name))
}
