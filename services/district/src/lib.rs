//! The district operations centre (区指挥中心) and the public information library (一库).
//!
//! In this release it holds:
//! - the historical population register used to pre-fill declarations ([`register`]), served to
//!   the grid service over request/reply (`zw.rpc.district.population.lookup`);
//! - its projection of every declaration in the district, built from events, and
//!   `GET /api/v1/district/stats?under=<code>` over it ([`zw_projections::centre`]).
//!
//! [`build`] wires the database, the bus consumers and the routes; `main` lives in `zhiwang`.

pub mod migration;
pub mod register;
pub mod routes;

use std::net::TcpListener;

use utoipa::OpenApi;
use zw_platform::Settings;
use zw_platform::http::Application;

pub use migration::Migrator;

/// The service's name: its route prefix, database name and metrics label.
pub const NAME: &str = "district";

/// Connect to (and migrate) the district's own database.
pub async fn connect(settings: &Settings) -> anyhow::Result<sea_orm::DatabaseConnection> {
    Ok(zw_platform::db::connect_service::<Migrator>(settings, NAME).await?)
}

/// Build the service on `listener`: the centre (database, projection, stats) and the register
/// lookup over request/reply.
pub async fn build(
    settings: &Settings,
    bus: zw_bus::Bus,
    verifier: zw_auth::Verifier,
    listener: TcpListener,
) -> anyhow::Result<Application> {
    let centre = zw_projections::centre::build::<Migrator>(
        NAME,
        settings,
        bus.clone(),
        verifier,
        listener,
        routes::ApiDoc::openapi(),
        |_| {},
    )
    .await?;
    let lookup = register::serve_lookup(&bus, centre.db.clone()).await?;
    let stop = centre.app.stop_token();
    Ok(centre.app.with_task(tokio::spawn(async move {
        stop.cancelled().await;
        lookup.abort();
    })))
}
