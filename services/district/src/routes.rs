//! The district centre's API document. Its statistics come from [`zw_projections::centre`];
//! its own routes (departmental data ingest, collision runs) come in later releases.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(info(
    title = "Zhiwang district centre",
    description = "The district operations centre: statistics over every street, community and grid, built from events, and the historical population register behind declarations."
))]
pub struct ApiDoc;
