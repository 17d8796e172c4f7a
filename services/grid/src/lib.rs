//! The grid service: the grid database of the four-level database (网格库).
//!
//! What one grid worker in each grid collects, keeps current and verifies, and what flows up.
//! Modules in layers; each imports only those below it (and the libs):
//!
//! 1. The tables and the pieces every write records: [`model`] + [`migration`]; [`ledger`]
//!    (life event, evidence record and outbox event of a change); [`idempotency`]
//!    (`Idempotency-Key`); [`evidence`] (sealing and proofs); [`error`] (the one API error type,
//!    mapped to problem+json); [`body`] (the one JSON body parser); [`paging`] (lists a page at a
//!    time); `locks` (row locks on PostgreSQL); [`decision`] (the pure rules of a declaration).
//! 2. [`state`] ([`state::Grid`], what the handlers share); [`access`] (the scoped finders: who
//!    may read or touch what, once); [`write`] (the one write operation every write goes through:
//!    find and lock through the scoped finder, authorize on the record as it is and on its
//!    destination, check the version, apply a typed change, record, commit, notify).
//! 3. The engines several capabilities share: [`rules`] (rules embedded in collection, the
//!    cases they raise), [`masking`] (the masking policy), [`classification`] (a house's class
//!    and the tail of its every change), [`residence`] (where people live: moving in and out).
//! 4. One module per capability, each with its routes: [`jurisdictions`] (streets, communities,
//!    grids, one worker per grid); [`houses`] (+ [`qr`]): one code per house through its whole
//!    life, census; [`people`], [`entities`]; [`timeline`] (the whole life of each, with
//!    evidence); [`declarations`] (self-declarations and verification tasks); [`incidents`]
//!    (+ Open311); [`media`] (photos); [`privacy`] (the policy, purpose-logged unmasking);
//!    [`rules::routes`] (rule sets and cases); [`imports`] (bulk loads); [`routes`] (the public
//!    evidence log and the service's OpenAPI title).
//! 5. [`collection`]: offline batches from the field, each record applied through the operation
//!    of its REST route.
//!
//! [`seed`] loads the demo district.

pub mod access;
pub mod body;
pub mod classification;
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
pub mod masking;
pub mod media;
pub mod migration;
pub mod model;
pub mod paging;
pub mod people;
pub mod privacy;
pub mod qr;
pub mod residence;
pub mod routes;
pub mod rules;
pub mod seed;
pub mod state;
pub mod timeline;
pub mod write;

use std::net::TcpListener;
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
    let evidence = zw_evidence::EvidenceLog::open_with(db.clone(), NAME, settings).await?;
    let common = HttpCommon::new(
        NAME,
        settings,
        Readiness::database_and_bus(db.clone(), bus.clone()).with(evidence.readiness_check()),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let relay =
        zw_bus::outbox::spawn_relay(db.clone(), bus.clone(), stop.clone().cancelled_owned());
    let sealer = evidence.spawn_guard(
        Duration::from_secs(settings.evidence.seal_interval_secs),
        Duration::from_secs(settings.evidence.full_verify_every_secs),
        stop.clone(),
    );
    let escalation = incidents::spawn_escalation(
        db.clone(),
        relay.clone(),
        Duration::from_secs(settings.grid.escalation_interval_secs),
        stop.clone(),
    );
    let import_staging = imports::staging_pool(&db);
    let grid = web::Data::new(state::Grid {
        import_staging,
        db,
        bus,
        relay: relay.clone(),
        evidence: evidence.clone(),
        settings: settings.grid.clone(),
        upload_max_bytes: settings.http.max_upload_bytes,
        district: settings.district.code.clone(),
    });
    let verifier = web::Data::new(verifier);
    let app = Application::new(listener, common, move |cfg| {
        cfg.app_data(grid.clone()).app_data(verifier.clone());
        // Before the service's own routes: a scope matched first would hide it.
        zw_evidence::http::configure(cfg, NAME, evidence.clone());
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

/// Every route of the service (each module registers full paths as resources).
pub fn configure(cfg: &mut web::ServiceConfig) {
    jurisdictions::configure(cfg);
    houses::configure(cfg);
    qr::configure(cfg);
    people::configure(cfg);
    entities::configure(cfg);
    timeline::configure(cfg);
    privacy::configure(cfg);
    incidents::configure(cfg);
    collection::configure(cfg);
    media::configure(cfg);
    rules::routes::configure(cfg);
    imports::configure(cfg);
    declarations::configure(cfg);
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
        incidents::open311::Api::openapi(),
        collection::Api::openapi(),
        media::Api::openapi(),
        rules::routes::Api::openapi(),
        imports::Api::openapi(),
        declarations::Api::openapi(),
        zw_evidence::http::openapi(NAME),
    ] {
        doc.merge(part);
    }
    doc
}
