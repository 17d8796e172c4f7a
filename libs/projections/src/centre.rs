//! A centre — community, street or district — as a service: its own database with the
//! projection tables, the consumers that keep them current, and `GET /api/v1/<centre>/stats`.
//! Each centre adds only what is its own (the district: the population register).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use utoipa::OpenApi;
use zw_auth::Principal;
use zw_platform::health::Readiness;
use zw_platform::http::{Application, HttpCommon};
use zw_platform::{Problem, Settings};

use crate::stats::{Stats, StatsParams, StatsQuery};

/// The path the shared stats handler is documented under; [`build`] renames it per centre.
const TEMPLATE_PATH: &str = "/api/v1/centre/stats";

#[derive(OpenApi)]
#[openapi(
    paths(stats),
    components(schemas(Stats, crate::DeclarationCounts, Problem))
)]
struct StatsDoc;

/// Declarations by status under a code inside the caller's scope.
#[utoipa::path(
    get,
    path = "/api/v1/centre/stats",
    params(StatsQuery),
    responses(
        (status = 200, description = "Counts under the code", body = Stats),
        (status = 400, description = "Malformed code", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside the caller's scope, or a role without statistics", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn stats(
    db: web::Data<Projections>,
    principal: Principal,
    query: StatsParams,
) -> Result<HttpResponse, Problem> {
    crate::stats::stats(&db.0, &principal, &query).await
}

/// The centre's database, as the stats handler finds it in the app data.
struct Projections(DatabaseConnection);

/// The schema of a centre that keeps only projections (community, street): the shared inbox and
/// the projection tables. A centre with tables of its own (district) lists these and its own.
pub struct ProjectionsMigrator;

impl MigratorTrait for ProjectionsMigrator {
    fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> {
        let mut list: Vec<Box<dyn sea_orm_migration::MigrationTrait>> =
            vec![Box::new(zw_bus::Migration)];
        list.extend(crate::migration::migrations());
        list
    }
}

/// A built centre: the application to run and its database (for the centre's own parts).
pub struct Centre {
    pub app: Application,
    pub db: DatabaseConnection,
}

/// Build centre `name` on `listener`: connect and migrate its database with `M` (which must
/// include the projection and inbox migrations), start the declaration tally consumer, and serve
/// the stats endpoint, documented in `doc` together with the centre's own `routes`.
pub async fn build<M: MigratorTrait>(
    name: &'static str,
    settings: &Settings,
    bus: zw_bus::Bus,
    verifier: zw_auth::Verifier,
    listener: TcpListener,
    doc: utoipa::openapi::OpenApi,
    routes: impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static,
) -> anyhow::Result<Centre> {
    let db = zw_platform::db::connect_service::<M>(settings, name).await?;
    let common = HttpCommon::new(
        name,
        settings,
        Readiness::database_and_bus(db.clone(), bus.clone()),
    );
    let path = format!("/api/v1/{name}/stats");
    let mut doc = doc;
    doc.merge(stats_doc(&path));
    let projections = web::Data::new(Projections(db.clone()));
    let verifier = web::Data::new(verifier);
    let route = path.clone();
    let app = Application::new(listener, common, move |cfg| {
        cfg.app_data(projections.clone())
            .app_data(verifier.clone())
            .service(web::resource(route.as_str()).route(web::get().to(stats)));
        routes(cfg);
    })
    .with_openapi(&format!("/api/v1/{name}/openapi.json"), doc);
    let tally = zw_bus::inbox::spawn_consumer(
        bus,
        db.clone(),
        crate::tally_consumer(name, &settings.district.code),
        Arc::new(crate::DeclarationTally),
        app.stop_token().cancelled_owned(),
    );
    let app = app.with_task(tokio::spawn(async move {
        let _ = tally.await;
    }));
    Ok(Centre { app, db })
}

/// The stats operation documented under the centre's own path.
fn stats_doc(path: &str) -> utoipa::openapi::OpenApi {
    let mut doc = StatsDoc::openapi();
    if let Some(item) = doc.paths.paths.remove(TEMPLATE_PATH) {
        doc.paths.paths.insert(path.to_owned(), item);
    }
    doc
}
