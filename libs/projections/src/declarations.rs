//! The declaration tally: counts of declarations by status under any jurisdiction.

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, Statement, Value};
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

/// The consumer that keeps `declaration_tally` current. A status only replaces an older one
/// (by `version`), so redelivered or reordered events never move a count backwards.
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

async fn upsert(
    conn: &impl ConnectionTrait,
    id: &str,
    grid: &str,
    status: DeclarationStatus,
    version: i64,
) -> Result<(), DbErr> {
    let sql = "INSERT INTO declaration_tally (declaration_id, grid_code, status, version) \
               VALUES ($1, $2, $3, $4) \
               ON CONFLICT (declaration_id) DO UPDATE \
               SET status = excluded.status, version = excluded.version \
               WHERE declaration_tally.version < excluded.version";
    let values: [Value; 4] = [
        id.into(),
        grid.into(),
        status.as_str().into(),
        version.into(),
    ];
    conn.execute_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        sql,
        values,
    ))
    .await?;
    Ok(())
}

/// Counts of declarations in grids under `under` (any level).
pub async fn counts_under(
    conn: &impl ConnectionTrait,
    under: &JurisdictionCode,
) -> Result<DeclarationCounts, DbErr> {
    // Codes are digits only, so a prefix match is exact and can use the index.
    let sql = "SELECT status, COUNT(*) AS n FROM declaration_tally \
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
