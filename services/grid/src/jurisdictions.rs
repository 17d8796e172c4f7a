//! Jurisdictions: importing districts, streets, communities and grids (CSV or JSON, idempotent,
//! with a report), and the one grid worker of each grid (一格一员) with the history of assignments.

use actix_web::web;
use utoipa::OpenApi;

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi()]
pub struct Api;

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(_cfg: &mut web::ServiceConfig) {}
