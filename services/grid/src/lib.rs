//! The grid service: the grid database of the four-level database (网格库).
//!
//! What one grid worker in each grid collects, keeps current and verifies, and what flows up:
//! - [`jurisdictions`]: streets, communities and grids imported; one worker per grid, with history;
//! - [`houses`] (+ [`qr`]): one code per house through its whole life, census, classification;
//! - [`people`], [`entities`]: people from birth to death, legal entities from registration to
//!   deregistration; [`timeline`]: the whole life of each, step by step with evidence;
//! - [`declarations`] + [`decision`]: citizens' self-declarations and verification tasks;
//! - [`incidents`] (+ [`open311`]): disputes, hazards and complaints, escalating upwards;
//! - [`collection`] (+ [`media`]): offline batches from the field; [`rules`]: rules embedded in
//!   collection; [`imports`]: bulk loads of a district's existing data;
//! - [`privacy`]: the masking policy and purpose-logged unmasking;
//! - [`ledger`]: every change recorded as life event, evidence and outbox event in one
//!   transaction; [`evidence`]: sealing and proofs; [`idempotency`]: `Idempotency-Key`;
//! - [`routes`]: the declaration routes; each module registers its own; [`error`]: the one API
//!   error type; [`model`] + [`migration`]: the tables; [`seed`]: the demo district.

pub mod collection;
pub mod decision;
pub mod declarations;
pub mod entities;
pub mod error;
pub mod evidence;
pub mod houses;
pub mod idempotency;
pub mod imports;
pub mod incidents;
pub mod jurisdictions;
pub mod ledger;
pub(crate) mod locks;
pub mod media;
pub mod migration;
pub mod model;
pub mod open311;
pub mod people;
pub mod privacy;
pub mod qr;
pub mod routes;
pub mod rules;
pub mod seed;
pub mod timeline;

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
    let escalation = incidents::spawn_escalation(
        db.clone(),
        relay.clone(),
        Duration::from_secs(settings.grid.escalation_interval_secs),
        stop.clone(),
    );
    let grid = web::Data::new(declarations::Grid {
        db,
        bus,
        relay: relay.clone(),
        signer,
        settings: settings.grid.clone(),
        upload_max_bytes: settings.http.max_upload_bytes,
        district: settings.district.code.clone(),
    });
    let verifier = web::Data::new(verifier);
    let app = Application::new(listener, common, move |cfg| {
        cfg.app_data(grid.clone()).app_data(verifier.clone());
        configure(cfg);
    })
    .with_openapi("/api/v1/grid/openapi.json", openapi())
    .with_task(escalation);
    let app_stop = app.stop_token();
    Ok(app.with_task(sealer).with_task(tokio::spawn(async move {
        app_stop.cancelled().await;
        stop.cancel();
        relay.stopped().await;
    })))
}

/// Every route of the service. Modules register full paths as resources; the declaration routes
/// (one `/api/v1/grid` scope) come last, because a scope that matches a prefix takes every path
/// under it.
pub fn configure(cfg: &mut web::ServiceConfig) {
    jurisdictions::configure(cfg);
    houses::configure(cfg);
    qr::configure(cfg);
    people::configure(cfg);
    entities::configure(cfg);
    timeline::configure(cfg);
    privacy::configure(cfg);
    incidents::configure(cfg);
    open311::configure(cfg);
    collection::configure(cfg);
    media::configure(cfg);
    rules::configure(cfg);
    imports::configure(cfg);
    routes::configure(cfg);
}

/// The service's OpenAPI document: every module's paths in one.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = routes::ApiDoc::openapi();
    for part in [
        jurisdictions::Api::openapi(),
        houses::Api::openapi(),
        qr::Api::openapi(),
        people::Api::openapi(),
        entities::Api::openapi(),
        timeline::Api::openapi(),
        privacy::Api::openapi(),
        incidents::Api::openapi(),
        open311::Api::openapi(),
        collection::Api::openapi(),
        media::Api::openapi(),
        rules::Api::openapi(),
        imports::Api::openapi(),
    ] {
        doc.merge(part);
    }
    doc
}
