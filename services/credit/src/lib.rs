//! The credit-integrity service (政务征信).
//!
//! Its domain — credit records with source and evidence, scores and levels, red and black
//! lists, audited queries, objections and repair — comes in its own issue. Until then it runs as
//! every service does: its own database (migrated, empty), the bus, `/healthz`, `/readyz`,
//! `/metrics` and its OpenAPI document at `/api/v1/credit/openapi.json`.

use std::net::TcpListener;

use sea_orm_migration::{MigrationTrait, MigratorTrait};
use utoipa::OpenApi;
use zw_platform::Settings;
use zw_platform::health::Readiness;
use zw_platform::http::{Application, HttpCommon};

/// The service's name: its route prefix, database name and metrics label.
pub const NAME: &str = "credit";

/// The service's schema (none of its own yet).
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        Vec::new()
    }
}

#[derive(OpenApi)]
#[openapi(info(
    title = "Zhiwang credit",
    description = "Credit-integrity records of persons and legal entities. The domain operations arrive in a later release."
))]
pub struct ApiDoc;

/// Build the service on `listener`: connect and migrate its database, check the bus.
pub async fn build(
    settings: &Settings,
    bus: zw_bus::Bus,
    _verifier: zw_auth::Verifier,
    listener: TcpListener,
) -> anyhow::Result<Application> {
    let db = zw_platform::db::connect_service::<Migrator>(settings, NAME).await?;
    let common = HttpCommon::new(NAME, settings, Readiness::database_and_bus(db, bus));
    Ok(Application::new(listener, common, |_cfg| {})
        .with_openapi("/api/v1/credit/openapi.json", ApiDoc::openapi()))
}
