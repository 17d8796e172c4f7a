//! The masking policy as data (for each field and role: plain, masked or hidden), and unmasking
//! with a stated purpose, recorded as evidence the citizen can see.

use actix_web::web;
use utoipa::OpenApi;

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi()]
pub struct Api;

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(_cfg: &mut web::ServiceConfig) {}
