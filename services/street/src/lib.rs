//! The street operations centre: projections of its communities (declaration counts), and later task dispatch and the street hall.
//!
//! One instance serves every street of the district: it keeps its own projection of the
//! district's declarations, built from events, and serves `GET /api/v1/street/stats?under=<code>`
//! over it to those whose scope contains the code (all of it from [`zw_projections::centre`]).

use std::net::TcpListener;

use utoipa::OpenApi;
use zw_platform::Settings;
use zw_platform::http::Application;

/// The service's name: its route prefix, database name and metrics label.
pub const NAME: &str = "street";

/// The street database: the shared inbox and the projection tables.
pub use zw_projections::centre::ProjectionsMigrator as Migrator;

#[derive(OpenApi)]
#[openapi(info(
    title = "Zhiwang street centre",
    description = "The street operations centre: statistics over its communities and grids, built from events."
))]
pub struct ApiDoc;

/// Build the service on `listener`: database, projection consumer, routes.
pub async fn build(
    settings: &Settings,
    bus: zw_bus::Bus,
    verifier: zw_auth::Verifier,
    listener: TcpListener,
) -> anyhow::Result<Application> {
    let centre = zw_projections::centre::build::<Migrator>(
        NAME,
        settings,
        bus,
        verifier,
        listener,
        ApiDoc::openapi(),
        |_| {},
    )
    .await?;
    Ok(centre.app)
}
