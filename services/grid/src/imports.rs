//! Bulk imports of houses and residents (the path a district's existing data takes in), streamed
//! in batches.

use actix_web::web;
use utoipa::OpenApi;

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi()]
pub struct Api;

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(_cfg: &mut web::ServiceConfig) {}
