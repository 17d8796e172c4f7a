//! The district operations centre (区指挥中心) and the public information library (一库).
//!
//! In this release it holds:
//! - the historical population register used to pre-fill declarations ([`register`]), served to
//!   the grid service over request/reply (`zw.rpc.district.population.lookup`);
//! - its projection of every declaration in the district ([`zw_projections`]), built from events,
//!   and `GET /api/v1/district/stats?under=<code>` over it ([`routes`]).
//!
//! [`build`] wires the database, the bus consumers and the routes; `main` lives in `zhiwang`.

pub mod migration;
pub mod register;
pub mod routes;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::web;
use utoipa::OpenApi;
use zw_platform::Settings;
use zw_platform::health::Readiness;
use zw_platform::http::{Application, HttpCommon};

pub use migration::Migrator;

/// The service's name: its route prefix, database name and metrics label.
pub const NAME: &str = "district";

/// Connect to (and migrate) the district's own database.
pub async fn connect(settings: &Settings) -> anyhow::Result<sea_orm::DatabaseConnection> {
    Ok(zw_platform::db::connect_and_migrate::<Migrator>(
        &settings.database_url(NAME),
        settings.database.max_connections,
    )
    .await?)
}

/// Build the service on `listener`.
pub async fn build(
    settings: &Settings,
    bus: zw_bus::Bus,
    verifier: zw_auth::Verifier,
    listener: TcpListener,
) -> anyhow::Result<Application> {
    let db = connect(settings).await?;
    let common = HttpCommon::new(
        NAME,
        settings,
        Readiness::database_and_bus(db.clone(), bus.clone()),
    );
    let state = web::Data::new(routes::State { db: db.clone() });
    let verifier = web::Data::new(verifier);
    let app = Application::new(listener, common, move |cfg| {
        cfg.app_data(state.clone()).app_data(verifier.clone());
        routes::configure(cfg);
    })
    .with_openapi("/api/v1/district/openapi.json", routes::ApiDoc::openapi());

    let lookup = register::serve_lookup(&bus, db.clone()).await?;
    let stop = app.stop_token();
    let tally = zw_bus::inbox::spawn_consumer(
        bus.clone(),
        db.clone(),
        zw_projections::tally_consumer(NAME, &settings.district.code),
        Arc::new(zw_projections::DeclarationTally),
        stop.clone().cancelled_owned(),
    );
    let stop_lookup = stop.clone();
    Ok(app
        .with_task(tokio::spawn(async move {
            let _ = tally.await;
        }))
        .with_task(tokio::spawn(async move {
            stop_lookup.cancelled().await;
            lookup.abort();
        })))
}
