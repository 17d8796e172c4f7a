//! Legal entities from registration to deregistration: registered, changed, deregistered; each
//! step a life event with its source and evidence.
//!
//! The key is the unified social credit code (public data, so it appears in URLs and events).
//! Who may record: a department entitled to the `entities` data set (market regulation), the
//! grid worker of the grid of its premises (of the new premises when it moves), or an officer
//! whose scope covers every grid concerned.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use zw_auth::Principal;
use zw_domain::{CreditCode, HouseCode, JurisdictionCode};
use zw_platform::Problem;
use zw_platform::db::BeginWrite;
use zw_platform::page::{Page, PageQuery};

use crate::declarations::Grid;
use crate::error::{ApiError, check_version, parse_json};
use crate::ledger::{self, Source, Step, SubjectKind};
use crate::locks::lock_row;
use crate::model::{house, legal_entity};
use crate::people::{
    authorize_change, authorize_read, clean_phone, clean_text, grid_of, house_in_use,
};
use crate::privacy::{self, Field, Masker};
use crate::rules;

/// The data set a department needs to read or change legal entities.
pub const DATASET: &str = "entities";

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi(
    paths(create, get_entity, list, change, deregister),
    components(schemas(NewEntity, EntityChange, Deregistration, EntityView))
)]
pub struct Api;

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/grid/entities")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        web::resource("/api/v1/grid/entities/{code}")
            .route(web::get().to(get_entity))
            .route(web::patch().to(change)),
    )
    .service(
        web::resource("/api/v1/grid/entities/{code}/deregistration")
            .route(web::post().to(deregister)),
    );
}

fn parse_code(code: &str) -> Result<CreditCode, ApiError> {
    CreditCode::parse(code.trim()).map_err(|e| ApiError::invalid("credit_code", e))
}

/// The entity `code`, if `principal` may read it (staff in scope, departments with
/// `entities`).
pub async fn readable(
    db: &DatabaseConnection,
    principal: &Principal,
    code: &str,
) -> Result<legal_entity::Model, ApiError> {
    let code = parse_code(code)?;
    let e = legal_entity::Entity::find_by_id(code.as_str().to_owned())
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no legal entity {}", code.as_str())))?;
    authorize_read(principal, DATASET, &grid_of(&e.grid_code)?)?;
    Ok(e)
}

/// A legal entity as the caller may see it (personal fields per the masking policy).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntityView {
    pub credit_code: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub representative: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub house_code: Option<String>,
    pub grid_code: String,
    /// `registered` or `deregistered`.
    pub status: String,
    pub version: i64,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

pub fn view(masker: &Masker<'_>, e: &legal_entity::Model) -> EntityView {
    EntityView {
        credit_code: e.credit_code.clone(),
        name: e.name.clone(),
        representative: masker.show(Field::EntityRepresentative, e.representative.as_deref()),
        phone: masker.show(Field::EntityPhone, e.phone.as_deref()),
        house_code: e.house_code.clone(),
        grid_code: e.grid_code.clone(),
        status: e.status.clone(),
        version: e.version,
        created_at: e.created_at,
        updated_at: e.updated_at,
    }
}

pub(crate) async fn view_one(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    e: &legal_entity::Model,
) -> Result<EntityView, ApiError> {
    let policy = privacy::current(conn).await?;
    Ok(view(&Masker::new(&policy, principal), e))
}

/// Record the step and run the collection rules on it.
async fn step(
    txn: &DatabaseTransaction,
    source: &Source,
    e: &legal_entity::Model,
    change: &str,
    house: Option<&house::Model>,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    let grid = grid_of(&e.grid_code)?;
    ledger::record(
        txn,
        source,
        Step {
            kind: SubjectKind::Entity,
            key: &e.credit_code,
            change,
            state: &e.status,
            house_code: e.house_code.as_deref(),
            grid: &grid,
            version: e.version,
            details,
        },
    )
    .await?;
    let mut facts = serde_json::json!({ "entity.status": e.status });
    if let Some(h) = house {
        facts["house.code"] = h.code.clone().into();
        facts["house.status"] = h.status.clone().into();
        facts["house.category"] = h.category.clone().into();
    }
    rules::on_change(
        txn,
        source,
        rules::Trigger {
            kind: SubjectKind::Entity,
            key: &e.credit_code,
            grid: &grid,
            change,
            facts,
        },
    )
    .await?;
    Ok(())
}

fn name_of(name: String) -> Result<String, ApiError> {
    clean_text("name", Some(name), 200)?
        .ok_or_else(|| ApiError::InvalidInput("name must be 1 to 200 characters".into()))
}

/// A registration.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEntity {
    /// Unified social credit code (GB 32100).
    #[schema(example = "91440300MA5FUTIAN8")]
    pub credit_code: String,
    pub name: String,
    /// The legal representative.
    pub representative: Option<String>,
    pub phone: Option<String>,
    /// Its premises (a house in use).
    pub house_code: String,
}

/// Register a legal entity at its premises.
#[utoipa::path(
    post,
    path = "/api/v1/grid/entities",
    request_body = NewEntity,
    responses(
        (status = 201, body = EntityView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`entity-exists`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown-house`, `house-not-in-use`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn create(
    grid: web::Data<Grid>,
    principal: Principal,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let source = Source::of(&principal);
    crate::error::reply(create_op(&grid, &principal, &source, &body).await)
}

/// `create` as `principal`, the change recorded as coming from `source` (the REST route,
/// or a record collected in the field).
pub async fn create_op(
    grid: &Grid,
    principal: &Principal,
    source: &Source,
    body: &[u8],
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let input: NewEntity = parse_json(body, "credit_code, name and house_code")?;
    let code = parse_code(&input.credit_code)?;
    let name = name_of(input.name)?;
    let representative = clean_text("representative", input.representative, 100)?;
    let phone = clean_phone(input.phone)?;
    let house_code = HouseCode::parse(input.house_code.trim())
        .map_err(|e| ApiError::invalid("house_code", e))?;
    let house = house_in_use(&grid.db, &house_code).await?;
    let dest = grid_of(&house.grid_code)?;
    authorize_change(principal, DATASET, &[], &dest)?;
    let txn = grid.db.begin_write().await?;
    lock_row(
        &txn,
        "legal_entities",
        "credit_code",
        sea_orm::Value::from(code.as_str().to_owned()),
    )
    .await?;
    if legal_entity::Entity::find_by_id(code.as_str().to_owned())
        .count(&txn)
        .await?
        > 0
    {
        return Err(ApiError::conflict(
            "entity-exists",
            format!("legal entity {} is already registered", code.as_str()),
        ));
    }
    let now = Utc::now();
    let e = legal_entity::ActiveModel {
        credit_code: Set(code.as_str().to_owned()),
        name: Set(name),
        representative: Set(representative),
        phone: Set(phone),
        house_code: Set(Some(house.code.clone())),
        grid_code: Set(house.grid_code.clone()),
        status: Set("registered".into()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    step(
        &txn,
        source,
        &e,
        "registered",
        Some(&house),
        serde_json::json!({}),
    )
    .await?;
    let v = view_one(&txn, principal, &e).await?;
    txn.commit().await?;
    grid.relay.notify();
    Ok((
        StatusCode::CREATED,
        serde_json::to_value(&v).map_err(anyhow::Error::from)?,
    ))
}

/// One legal entity.
#[utoipa::path(
    get,
    path = "/api/v1/grid/entities/{code}",
    params(("code" = String, Path, description = "Unified social credit code")),
    responses(
        (status = 200, body = EntityView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_entity(
    grid: web::Data<Grid>,
    principal: Principal,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let e = readable(&grid.db, &principal, &code).await?;
    Ok(HttpResponse::Ok().json(view_one(&grid.db, &principal, &e).await?))
}

/// Legal entities whose premises lie under a code, by credit code.
#[utoipa::path(
    get,
    path = "/api/v1/grid/entities",
    params(crate::people::GridFilter, PageQuery),
    responses(
        (status = 200, body = Page<EntityView>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn list(
    grid: web::Data<Grid>,
    principal: Principal,
    filter: web::Query<crate::people::GridFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit().map_err(ApiError::InvalidInput)?;
    let under = match &filter.grid {
        Some(g) => JurisdictionCode::parse(g.trim()).map_err(|e| ApiError::invalid("grid", e))?,
        None => principal.scope.clone(),
    };
    authorize_read(&principal, DATASET, &under)?;
    let mut q = legal_entity::Entity::find()
        .filter(legal_entity::Column::GridCode.starts_with(under.as_str()));
    if let Some(c) = &page.cursor {
        q = q.filter(legal_entity::Column::CreditCode.gt(c.clone()));
    }
    let rows = q
        .order_by_asc(legal_entity::Column::CreditCode)
        .limit(limit + 1)
        .all(&grid.db)
        .await?;
    let policy = privacy::current(&grid.db).await?;
    let masker = Masker::new(&policy, &principal);
    let views: Vec<EntityView> = rows.iter().map(|e| view(&masker, e)).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |v| v.credit_code.clone())))
}

/// What changed (only the fields given).
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntityChange {
    pub name: Option<String>,
    pub representative: Option<String>,
    pub phone: Option<String>,
    /// New premises.
    pub house_code: Option<String>,
    pub expected_version: Option<i64>,
}

/// Lock and read the entity (404 if none; 409 `entity-deregistered`, `version-conflict`).
async fn locked_current(
    txn: &DatabaseTransaction,
    code: &CreditCode,
    expected_version: Option<i64>,
    principal: &Principal,
    destination: Option<&JurisdictionCode>,
) -> Result<legal_entity::Model, ApiError> {
    lock_row(
        txn,
        "legal_entities",
        "credit_code",
        sea_orm::Value::from(code.as_str().to_owned()),
    )
    .await?;
    let e = legal_entity::Entity::find_by_id(code.as_str().to_owned())
        .one(txn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no legal entity {}", code.as_str())))?;
    let current = grid_of(&e.grid_code)?;
    authorize_change(
        principal,
        DATASET,
        &[&current],
        destination.unwrap_or(&current),
    )?;
    if e.status == "deregistered" {
        return Err(ApiError::conflict(
            "entity-deregistered",
            format!(
                "legal entity {} is deregistered: it cannot change",
                code.as_str()
            ),
        ));
    }
    check_version("the entity", expected_version, e.version)?;
    Ok(e)
}

/// Change a legal entity's name, representative, phone or premises (`changed`; the step lists
/// the names of the fields that changed, not their values).
#[utoipa::path(
    patch,
    path = "/api/v1/grid/entities/{code}",
    params(("code" = String, Path, description = "Unified social credit code")),
    request_body = EntityChange,
    responses(
        (status = 200, description = "Changed (or unchanged when nothing differs)", body = EntityView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`entity-deregistered`, `version-conflict`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown-house`, `house-not-in-use`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn change(
    grid: web::Data<Grid>,
    principal: Principal,
    code: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let source = Source::of(&principal);
    crate::error::reply(change_op(&grid, &principal, &source, code.into_inner(), &body).await)
}

/// `change` as `principal`, the change recorded as coming from `source` (the REST route,
/// or a record collected in the field).
pub async fn change_op(
    grid: &Grid,
    principal: &Principal,
    source: &Source,
    code: String,
    body: &[u8],
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let input: EntityChange = parse_json(body, "the fields to change")?;
    let code = parse_code(&code)?;
    let name = input.name.map(name_of).transpose()?;
    let representative = clean_text("representative", input.representative, 100)?;
    let phone = clean_phone(input.phone)?;
    let house = match &input.house_code {
        Some(h) => {
            let h = HouseCode::parse(h.trim()).map_err(|e| ApiError::invalid("house_code", e))?;
            Some(house_in_use(&grid.db, &h).await?)
        }
        None => None,
    };
    let dest = house.as_ref().map(|h| grid_of(&h.grid_code)).transpose()?;
    let txn = grid.db.begin_write().await?;
    let e = locked_current(
        &txn,
        &code,
        input.expected_version,
        principal,
        dest.as_ref(),
    )
    .await?;
    let mut fields = Vec::new();
    let mut am: legal_entity::ActiveModel = e.clone().into();
    if let Some(n) = name.filter(|n| *n != e.name) {
        am.name = Set(n);
        fields.push("name");
    }
    if let Some(r) = representative.filter(|r| Some(r) != e.representative.as_ref()) {
        am.representative = Set(Some(r));
        fields.push("representative");
    }
    if let Some(p) = phone.filter(|p| Some(p) != e.phone.as_ref()) {
        am.phone = Set(Some(p));
        fields.push("phone");
    }
    let moved = house
        .as_ref()
        .filter(|h| Some(&h.code) != e.house_code.as_ref());
    if let Some(h) = moved {
        am.house_code = Set(Some(h.code.clone()));
        am.grid_code = Set(h.grid_code.clone());
        fields.push("house_code");
    }
    if fields.is_empty() {
        let v = view_one(&txn, principal, &e).await?;
        return Ok((
            StatusCode::OK,
            serde_json::to_value(&v).map_err(anyhow::Error::from)?,
        ));
    }
    am.version = Set(e.version + 1);
    am.updated_at = Set(Utc::now());
    let updated = am.update(&txn).await?;
    let mut details = serde_json::json!({ "fields": fields });
    if moved.is_some() {
        details["from_house"] = e.house_code.clone().into();
    }
    step(&txn, source, &updated, "changed", moved, details).await?;
    let v = view_one(&txn, principal, &updated).await?;
    txn.commit().await?;
    grid.relay.notify();
    Ok((
        StatusCode::OK,
        serde_json::to_value(&v).map_err(anyhow::Error::from)?,
    ))
}

/// A deregistration.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deregistration {
    /// Why (1–500 characters), e.g. `dissolved by resolution of the shareholders`.
    pub reason: String,
    pub expected_version: Option<i64>,
}

/// Deregister a legal entity: nothing changes it afterwards.
#[utoipa::path(
    post,
    path = "/api/v1/grid/entities/{code}/deregistration",
    params(("code" = String, Path, description = "Unified social credit code")),
    request_body = Deregistration,
    responses(
        (status = 200, body = EntityView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`entity-deregistered`, `version-conflict`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn deregister(
    grid: web::Data<Grid>,
    principal: Principal,
    code: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let source = Source::of(&principal);
    crate::error::reply(deregister_op(&grid, &principal, &source, code.into_inner(), &body).await)
}

/// `deregister` as `principal`, the change recorded as coming from `source` (the REST route,
/// or a record collected in the field).
pub async fn deregister_op(
    grid: &Grid,
    principal: &Principal,
    source: &Source,
    code: String,
    body: &[u8],
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let input: Deregistration = parse_json(body, "reason")?;
    let code = parse_code(&code)?;
    let reason = clean_text("reason", Some(input.reason), 500)?.unwrap_or_default();
    let txn = grid.db.begin_write().await?;
    let e = locked_current(&txn, &code, input.expected_version, principal, None).await?;
    let version = e.version + 1;
    let mut am: legal_entity::ActiveModel = e.into();
    am.status = Set("deregistered".into());
    am.version = Set(version);
    am.updated_at = Set(Utc::now());
    let e = am.update(&txn).await?;
    step(
        &txn,
        source,
        &e,
        "deregistered",
        None,
        serde_json::json!({ "reason": reason }),
    )
    .await?;
    let v = view_one(&txn, principal, &e).await?;
    txn.commit().await?;
    grid.relay.notify();
    Ok((
        StatusCode::OK,
        serde_json::to_value(&v).map_err(anyhow::Error::from)?,
    ))
}
