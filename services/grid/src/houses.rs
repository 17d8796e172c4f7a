//! Houses (一户一码): one code per house, legal or not, from planned to demolished; census
//! rounds; classification by category, level and colour (分类分级分色) from operator rules.

use actix_web::web;
use utoipa::OpenApi;

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi()]
pub struct Api;

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(_cfg: &mut web::ServiceConfig) {}
