//! `GET /api/v1/<centre>/stats?under=<code>`: counts under a jurisdiction, for those whose scope
//! contains it. Each centre wraps [`stats`] in its own documented handler.

use actix_web::{HttpResponse, web};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use zw_auth::{Principal, Role};
use zw_domain::{JurisdictionCode, Level};
use zw_platform::Problem;

use crate::declarations::{DeclarationCounts, counts_under};

/// Query of the stats endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// A street, community or grid code (or the district) inside the caller's scope.
    pub under: JurisdictionCode,
}

/// Counts under a jurisdiction.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub under: JurisdictionCode,
    #[schema(value_type = String, example = "street")]
    pub level: Level,
    pub declarations: DeclarationCounts,
}

/// Who may read statistics: officers, grid workers and administrators (within their scope).
pub const STATS_ROLES: [Role; 5] = [
    Role::GridWorker,
    Role::CommunityOfficer,
    Role::StreetOfficer,
    Role::DistrictOfficer,
    Role::Admin,
];

/// The shared handler body.
pub async fn stats(
    db: &DatabaseConnection,
    principal: &Principal,
    query: &StatsQuery,
) -> Result<HttpResponse, Problem> {
    principal.require_role(&STATS_ROLES)?;
    principal.authorize(&query.under)?;
    let declarations = counts_under(db, &query.under).await.map_err(query_failed)?;
    Ok(HttpResponse::Ok().json(Stats {
        under: query.under.clone(),
        level: query.under.level(),
        declarations,
    }))
}

/// A busy database is a 503 with `Retry-After` (nothing to fix but to wait); anything else is
/// logged and an opaque 500.
fn query_failed(err: sea_orm::DbErr) -> Problem {
    if zw_platform::db::is_busy(&err) {
        return zw_platform::db::busy_problem();
    }
    tracing::error!(error = %err, "stats query failed");
    Problem::internal()
}

/// Type alias to keep handler signatures short.
pub type StatsParams = web::Query<StatsQuery>;

#[cfg(test)]
mod tests {
    use sea_orm::DbErr;
    use sea_orm::error::ConnAcquireErr;

    use super::query_failed;

    #[test]
    fn a_busy_database_is_a_503_to_retry_and_anything_else_a_500() {
        let busy = query_failed(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout));
        assert_eq!((busy.status, busy.code.as_str()), (503, "database-busy"));
        let broken = query_failed(DbErr::Custom("boom".into()));
        assert_eq!(broken.status, 500);
    }
}
