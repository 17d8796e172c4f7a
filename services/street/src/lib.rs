//! The street operations centre: projections of its communities (declaration counts), and later task dispatch and the street hall.
//!
//! One instance serves every street of the district: it keeps its own projection of the
//! district's declarations ([`zw_projections`]), built from events, and serves
//! `GET /api/v1/street/stats?under=<code>` over it to those whose scope contains the code.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use sea_orm::DatabaseConnection;
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use utoipa::OpenApi;
use zw_auth::Principal;
use zw_platform::health::Readiness;
use zw_platform::http::{Application, HttpCommon};
use zw_platform::{Problem, Settings};
use zw_projections::stats::{Stats, StatsParams, StatsQuery};

/// The service's name: its route prefix, database name and metrics label.
pub const NAME: &str = "street";

/// The street database: the shared inbox and the projection tables.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(zw_bus::Migration),
            Box::new(zw_projections::migration::CreateDeclarationTally),
        ]
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Zhiwang street centre",
        description = "The street operations centre: statistics over its communities and grids, built from events."
    ),
    paths(stats),
    components(schemas(Stats, zw_projections::DeclarationCounts, Problem))
)]
pub struct ApiDoc;

/// Build the service on `listener`: database, projection consumer, routes.
pub async fn build(
    settings: &Settings,
    bus: zw_bus::Bus,
    verifier: zw_auth::Verifier,
    listener: TcpListener,
) -> anyhow::Result<Application> {
    let db = zw_platform::db::connect_and_migrate::<Migrator>(
        &settings.database_url(NAME),
        settings.database.max_connections,
    )
    .await?;
    let common = HttpCommon::new(
        NAME,
        settings,
        Readiness::database_and_bus(db.clone(), bus.clone()),
    );
    let state = web::Data::new(db.clone());
    let verifier = web::Data::new(verifier);
    let app = Application::new(listener, common, move |cfg| {
        cfg.app_data(state.clone())
            .app_data(verifier.clone())
            .route("/api/v1/street/stats", web::get().to(stats));
    })
    .with_openapi("/api/v1/street/openapi.json", ApiDoc::openapi());
    let tally = zw_bus::inbox::spawn_consumer(
        bus,
        db,
        zw_projections::tally_consumer(NAME, &settings.district.code),
        Arc::new(zw_projections::DeclarationTally),
        app.stop_token().cancelled_owned(),
    );
    Ok(app.with_task(tokio::spawn(async move {
        let _ = tally.await;
    })))
}

/// Declarations by status under a code inside the caller's scope.
#[utoipa::path(
    get,
    path = "/api/v1/street/stats",
    params(StatsQuery),
    responses(
        (status = 200, description = "Counts under the code", body = Stats),
        (status = 400, description = "Malformed code", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside the caller's scope", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn stats(
    db: web::Data<DatabaseConnection>,
    principal: Principal,
    query: StatsParams,
) -> Result<HttpResponse, Problem> {
    zw_projections::stats::stats(&db, &principal, &query).await
}
