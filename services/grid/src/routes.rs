//! The title of the service's OpenAPI document. Each capability module registers its own routes;
//! the public evidence routes (`/api/v1/grid/evidence/…`) are `zw_evidence::http`'s.

use utoipa::OpenApi;
use zw_platform::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Zhiwang grid",
        description = "The grid database: houses, residents, self-declarations of residence and the grid worker's verification tasks."
    ),
    components(schemas(Problem))
)]
pub struct ApiDoc;
