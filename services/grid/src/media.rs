//! Photos and scans, stored by content hash (SHA-256) with size and type limits.

use actix_web::web;
use utoipa::OpenApi;

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi()]
pub struct Api;

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(_cfg: &mut web::ServiceConfig) {}
