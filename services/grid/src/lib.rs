//! The grid service: the grid database of the four-level database (网格库).
//!
//! In this release it carries the citizen's self-declaration of residence end to end:
//! - [`routes`]: `/api/v1/grid/…` — declarations, the grid worker's verification tasks, houses,
//!   evidence proofs;
//! - [`declarations`]: the operations; each writes its change, evidence record and event in one
//!   transaction;
//! - [`decision`]: the pure rule that accepts a declaration or holds it for verification;
//! - [`model`]: the tables; [`migration`]: their schema; [`seed`]: demo grids and houses;
//! - [`evidence`]: the signing key, sealing and proofs; [`idempotency`]: `Idempotency-Key`;
//! - [`error`]: the one API error type.

pub mod decision;
pub mod declarations;
pub mod error;
pub mod evidence;
pub mod idempotency;
pub mod migration;
pub mod model;
pub mod routes;
pub mod seed;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use utoipa::OpenApi;
use zw_platform::Settings;
use zw_platform::health::Readiness;
use zw_platform::http::{Application, HttpCommon};

pub use migration::Migrator;

/// The service's name: its route prefix, database name and metrics label.
pub const NAME: &str = "grid";

/// Connect to (and migrate) the grid's own database.
pub async fn connect(settings: &Settings) -> anyhow::Result<sea_orm::DatabaseConnection> {
    Ok(zw_platform::db::connect_service::<Migrator>(settings, NAME).await?)
}

/// Build the service on `listener`: database, outbox relay, evidence sealer, routes.
pub async fn build(
    settings: &Settings,
    bus: zw_bus::Bus,
    verifier: zw_auth::Verifier,
    listener: TcpListener,
) -> anyhow::Result<Application> {
    let db = connect(settings).await?;
    let signer = Arc::new(zw_evidence::load_or_create_signer(&db).await?);
    let common = HttpCommon::new(
        NAME,
        settings,
        Readiness::database_and_bus(db.clone(), bus.clone()),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let relay =
        zw_bus::outbox::spawn_relay(db.clone(), bus.clone(), stop.clone().cancelled_owned());
    let sealer = zw_evidence::spawn_sealer(
        db.clone(),
        signer.clone(),
        Duration::from_secs(10),
        stop.clone(),
    );
    let grid = web::Data::new(declarations::Grid {
        db,
        bus,
        relay: relay.clone(),
        signer,
    });
    let verifier = web::Data::new(verifier);
    let app = Application::new(listener, common, move |cfg| {
        cfg.app_data(grid.clone()).app_data(verifier.clone());
        routes::configure(cfg);
    })
    .with_openapi("/api/v1/grid/openapi.json", routes::ApiDoc::openapi());
    let app_stop = app.stop_token();
    Ok(app.with_task(sealer).with_task(tokio::spawn(async move {
        app_stop.cancelled().await;
        stop.cancel();
        relay.stopped().await;
    })))
}
