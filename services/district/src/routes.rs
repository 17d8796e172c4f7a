//! HTTP routes of the district centre.

use actix_web::{HttpResponse, web};
use sea_orm::DatabaseConnection;
use utoipa::OpenApi;
use zw_auth::Principal;
use zw_platform::Problem;
use zw_projections::stats::{Stats, StatsParams, StatsQuery};

/// Shared state of the handlers.
pub struct State {
    pub db: DatabaseConnection,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Zhiwang district centre",
        description = "The district operations centre: statistics over every street, community and grid, built from events."
    ),
    paths(stats),
    components(schemas(Stats, zw_projections::DeclarationCounts, Problem))
)]
pub struct ApiDoc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/district/stats", web::get().to(stats));
}

/// Declarations by status under a street, community or grid (or the whole district).
#[utoipa::path(
    get,
    path = "/api/v1/district/stats",
    params(StatsQuery),
    responses(
        (status = 200, description = "Counts under the code", body = Stats),
        (status = 400, description = "Malformed code", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside the caller's scope", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn stats(
    state: web::Data<State>,
    principal: Principal,
    query: StatsParams,
) -> Result<HttpResponse, Problem> {
    zw_projections::stats::stats(&state.db, &principal, &query).await
}
