//! The service's own routes under `/api/v1/grid`: the public evidence log (its signed tree head
//! and consistency proofs), and the title of the service's OpenAPI document. Each capability
//! module registers its own routes.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::OpenApi;
use zw_platform::Problem;

use crate::error::ApiError;
use crate::state::Grid;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Zhiwang grid",
        description = "The grid database: houses, residents, self-declarations of residence and the grid worker's verification tasks."
    ),
    paths(tree_head, consistency),
    components(schemas(Problem))
)]
pub struct ApiDoc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/grid/evidence/tree-head").route(web::get().to(tree_head)))
        .service(
            web::resource("/api/v1/grid/evidence/consistency").route(web::get().to(consistency)),
        );
}

/// The latest signed tree head of the grid's evidence log and the key that signs it (public).
#[utoipa::path(
    get,
    path = "/api/v1/grid/evidence/tree-head",
    responses((status = 200, description = "Signed tree head and public key"))
)]
async fn tree_head(grid: web::Data<Grid>) -> Result<HttpResponse, ApiError> {
    let head = zw_evidence::publish_head(&grid.db, &grid.signer).await?;
    Ok(HttpResponse::Ok().json(head))
}

/// Two tree sizes of the grid's evidence log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The size of the older signed tree head.
    pub old: i64,
    /// The size of the newer signed tree head.
    pub new: i64,
}

/// Proof that the newer signed tree head only extends the older one (RFC 6962 consistency
/// proof): what a monitor checks so the log can never be rewritten unnoticed.
#[utoipa::path(
    get,
    path = "/api/v1/grid/evidence/consistency",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "Both signed tree heads and the consistency proof"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No signed tree head of that size", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn consistency(
    grid: web::Data<Grid>,
    query: web::Query<ConsistencyQuery>,
) -> Result<HttpResponse, ApiError> {
    let proof = zw_evidence::consistency_proof(&grid.db, query.old, query.new).await?;
    Ok(HttpResponse::Ok().json(proof))
}
