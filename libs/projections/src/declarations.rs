//! The declaration tally: counts of declarations by status under any jurisdiction.

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, Statement, Value};
use serde::Serialize;
use zw_bus::{ConsumerSpec, EventHandler, HandlerError, StreamKind};
use zw_contracts::{DeclarationStatus, Envelope, Event};
use zw_domain::JurisdictionCode;

/// Counts of declarations by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeclarationCounts {
    pub pending: i64,
    pub accepted: i64,
    pub rejected: i64,
    pub total: i64,
}

/// The consumer that keeps `declaration_tally` and `declaration_counts` current. A status only
/// replaces an older one (by `version`), so redelivered or reordered events never move a count
/// backwards.
pub struct DeclarationTally;

/// The durable consumer of `service`'s tally: every declaration event of the district.
pub fn tally_consumer(service: &str, district: &JurisdictionCode) -> ConsumerSpec {
    ConsumerSpec {
        durable: format!("{service}-declaration-tally"),
        kind: StreamKind::Events,
        filter_subjects: vec![zw_contracts::envelope::event_type_filter(
            district,
            "declaration",
            "*",
        )],
    }
}

#[async_trait::async_trait]
impl EventHandler for DeclarationTally {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        let event = env.event().map_err(HandlerError::permanent)?;
        let (id, status, version) = match event {
            Event::DeclarationSubmitted(e) => (e.declaration_id, e.status, e.version),
            Event::DeclarationStatusChanged(e) => (e.declaration_id, e.to, e.version),
            // The consumer's subject filter lets only declaration events through.
            other => {
                return Err(HandlerError::permanent(format!(
                    "not a declaration event: {}",
                    other.event_type()
                )));
            }
        };
        upsert(
            txn,
            &id.to_string(),
            env.jurisdiction.as_str(),
            status,
            version,
        )
        .await
        .map_err(HandlerError::transient)
    }
}

/// Apply one declaration's status at `version`: a newer version replaces the tallied status and
/// moves one count from the old status to the new; an older or equal one changes nothing.
///
/// Race-free with several consumers on PostgreSQL: the first write of a declaration is an
/// `INSERT … ON CONFLICT DO NOTHING` (a concurrent insert of the same id waits, then finds the
/// row), and a later one locks the row (`FOR UPDATE`) before comparing versions. SQLite has one
/// writer at a time.
async fn upsert(
    conn: &impl ConnectionTrait,
    id: &str,
    grid: &str,
    status: DeclarationStatus,
    version: i64,
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let stmt = |sql: &str, values: Vec<Value>| Statement::from_sql_and_values(backend, sql, values);
    let inserted = conn
        .execute_raw(stmt(
            "INSERT INTO declaration_tally (declaration_id, grid_code, status, version) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (declaration_id) DO NOTHING",
            vec![
                id.into(),
                grid.into(),
                status.as_str().into(),
                version.into(),
            ],
        ))
        .await?
        .rows_affected();
    if inserted == 0 {
        let lock = if backend == DbBackend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let row = conn
            .query_one_raw(stmt(
                &format!(
                    "SELECT grid_code, status, version FROM declaration_tally \
                     WHERE declaration_id = $1{lock}"
                ),
                vec![id.into()],
            ))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("declaration_tally {id}")))?;
        let old_grid: String = row.try_get("", "grid_code")?;
        let old_status: String = row.try_get("", "status")?;
        let old_version: i64 = row.try_get("", "version")?;
        if old_version >= version {
            return Ok(());
        }
        conn.execute_raw(stmt(
            "UPDATE declaration_tally SET status = $2, version = $3 WHERE declaration_id = $1",
            vec![id.into(), status.as_str().into(), version.into()],
        ))
        .await?;
        conn.execute_raw(stmt(
            "UPDATE declaration_counts SET n = n - 1 WHERE grid_code = $1 AND status = $2",
            vec![old_grid.into(), old_status.into()],
        ))
        .await?;
    }
    conn.execute_raw(stmt(
        "INSERT INTO declaration_counts (grid_code, status, n) VALUES ($1, $2, 1) \
         ON CONFLICT (grid_code, status) DO UPDATE SET n = declaration_counts.n + 1",
        vec![grid.into(), status.as_str().into()],
    ))
    .await?;
    Ok(())
}

/// Counts of declarations in grids under `under` (any level).
pub async fn counts_under(
    conn: &impl ConnectionTrait,
    under: &JurisdictionCode,
) -> Result<DeclarationCounts, DbErr> {
    // Codes are digits only, so a prefix match is exact.
    // One row per grid and status: a district reads ~1,000 grids × 3 statuses, not every
    // declaration.
    let sql = "SELECT status, CAST(SUM(n) AS BIGINT) AS n FROM declaration_counts \
               WHERE grid_code LIKE $1 GROUP BY status";
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            sql,
            [Value::from(format!("{}%", under.as_str()))],
        ))
        .await?;
    let mut counts = DeclarationCounts::default();
    for row in rows {
        let status: String = row.try_get("", "status")?;
        let n: i64 = row.try_get("", "n")?;
        match DeclarationStatus::parse(&status) {
            Some(DeclarationStatus::Pending) => counts.pending += n,
            Some(DeclarationStatus::Accepted) => counts.accepted += n,
            Some(DeclarationStatus::Rejected) => counts.rejected += n,
            None => tracing::warn!(status, "unknown status in declaration_tally"),
        }
        counts.total += n;
    }
    Ok(counts)
}
