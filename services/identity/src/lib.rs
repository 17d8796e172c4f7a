//! The identity service: users, roles, jurisdiction scopes and department service accounts; it
//! issues short-lived signed access tokens, publishes the public keys (JWKS) and rotates them.
//!
//! What lives where:
//! - [`routes`]: the HTTP endpoints under `/api/v1/identity` and the OpenAPI document
//!   ([`ApiDoc`]).
//! - [`accounts`]: users and service accounts in the database (a citizen bound to his ID
//!   number), and the idempotent seeding ([`seed_accounts`], [`seed_service_accounts`]) that
//!   `zhiwang up` uses for demo accounts.
//! - [`keyring`]: signing keys in the database, the [`zw_auth::Issuer`] and the fixed
//!   [`zw_auth::Verifier`] this service checks its own tokens with (it never calls itself).
//! - [`revocations`]: revoked tokens and signed-out subjects in the database, each with its
//!   evidence and its event (outbox), and the list of what is in force that verifiers fetch.
//! - [`domain`]: request fields parsed once (username, password, role/scope fit, a citizen's
//!   ID number, …).
//! - [`password`]: argon2id hashing off the async executor, with a dummy hash for unknown names.
//! - [`error`]: [`error::ApiError`], mapped to problem+json in one place.
//! - [`model`], [`migration`]: tables and their migrations (one per file).
//!
//! Seeding uses the same database as the service: call [`connect`] (which migrates), seed, then
//! [`build_with_db`] with that connection (or [`build`], which connects again to the same URL).
//!
//! Besides the HTTP server, [`build`] runs the outbox relay (revocation events), the evidence
//! sealer, the key-ring reloader, and its verifier's [`zw_auth::Verifier::follow`] (so another
//! replica's revocations take effect here at once too).

use std::net::TcpListener;

use actix_web::web;
use sea_orm::DatabaseConnection;
use utoipa::OpenApi;
use zw_platform::Settings;
use zw_platform::health::Readiness;
use zw_platform::http::{Application, HttpCommon};

pub mod accounts;
pub mod domain;
pub mod error;
pub mod keyring;
pub mod migration;
pub mod model;
pub mod password;
pub mod revocations;
pub mod routes;

pub use accounts::{SeedAccount, SeedServiceAccount, seed_accounts, seed_service_accounts};
pub use migration::Migrator;
pub use routes::ApiDoc;

/// The service's OpenAPI document: its own routes and the evidence log's.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(zw_evidence::http::openapi(NAME));
    doc
}

/// The service's name: its route prefix, database name and metrics label.
pub const NAME: &str = "identity";

/// Connect to the identity database named by `settings` and migrate it.
pub async fn connect(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    Ok(zw_platform::db::connect_service::<Migrator>(settings, NAME).await?)
}

/// Build the service on `listener`: connect and migrate its database, load (or create) the
/// signing keys, publish its outbox on the bus and follow the revocation events.
pub async fn build(
    settings: &Settings,
    bus: zw_bus::Bus,
    listener: TcpListener,
) -> anyhow::Result<Application> {
    let db = connect(settings).await?;
    build_with_db(settings, db, bus, listener).await
}

/// [`build`] on a connection the caller already has (migrated by [`connect`]).
pub async fn build_with_db(
    settings: &Settings,
    db: DatabaseConnection,
    bus: zw_bus::Bus,
    listener: TcpListener,
) -> anyhow::Result<Application> {
    let ring = keyring::KeyRing::open(&db, settings).await?;
    let passwords = password::Passwords::new().await?;
    let evidence = zw_evidence::EvidenceLog::open_with(db.clone(), NAME, settings).await?;
    let relay_stop = tokio_util::sync::CancellationToken::new();
    let relay = zw_bus::outbox::spawn_relay(
        db.clone(),
        bus.clone(),
        relay_stop.clone().cancelled_owned(),
    );
    let state = web::Data::new(routes::Identity {
        db: db.clone(),
        ring: ring.clone(),
        passwords,
        district: settings.district.code.clone(),
        relay: relay.clone(),
        auth: settings.auth.clone(),
    });
    let verifier = web::Data::new(ring.verifier());
    let common = HttpCommon::new(
        NAME,
        settings,
        Readiness::database_and_bus(db.clone(), bus.clone()).with(evidence.readiness_check()),
    );
    let routes_evidence = evidence.clone();
    let app = Application::new(listener, common, move |cfg| {
        cfg.app_data(state.clone()).app_data(verifier.clone());
        // Before the service's scope, which would hide it.
        zw_evidence::http::configure(cfg, NAME, routes_evidence.clone());
        routes::configure(cfg);
    })
    .with_openapi("/api/v1/identity/openapi.json", openapi());
    let stop = app.stop_token();
    let sealer = evidence.spawn_guard(
        std::time::Duration::from_secs(settings.evidence.seal_interval_secs),
        std::time::Duration::from_secs(settings.evidence.full_verify_every_secs),
        stop.clone(),
    );
    let follower = ring
        .verifier()
        .follow(bus, &settings.district.code, stop.clone());
    let reloader = ring.spawn_reloader(db, stop.clone());
    Ok(app
        .with_task(reloader)
        .with_task(sealer)
        .with_task(follower)
        .with_task(tokio::spawn(async move {
            // The relay makes its last pass after the server has stopped.
            stop.cancelled().await;
            relay_stop.cancel();
            relay.stopped().await;
        })))
}
