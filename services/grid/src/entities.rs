//! Legal entities from registration to deregistration: registered, changed, deregistered; each
//! step goes through the one write operation ([`crate::write`]) as a life event with its source
//! and evidence.
//!
//! The key is the unified social credit code (public data, printed on every licence, so it
//! appears in URLs and events). Who may record ([`crate::access`]): a department entitled to the
//! `entities` data set (market regulation), the grid worker of the grid of its premises, or an
//! officer whose scope holds them. New premises in another grid are the current holder's to give:
//! the grid worker of its premises now (to any house in use in the district, after which he no
//! longer sees it), or an officer or a department whose scope holds both grids. A grid worker
//! who names a house of his own grid as the premises of an entity held elsewhere is refused (403
//! `source-out-of-scope`), and a credit code alone never makes an entity his.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use zw_auth::Principal;
use zw_domain::{CreditCode, HouseCode, JurisdictionCode};
use zw_platform::Problem;
use zw_platform::page::{Page, PageQuery};

use crate::access::{self, ENTITIES, GridFilter, stored_grid};
use crate::body::{self, JsonBody, clean_phone, clean_text};
use crate::error::ApiError;
use crate::ledger::{self, Source, Step, SubjectKind};
use crate::locks::lock_row;
use crate::masking::{self, Field, Masker};
use crate::model::{house, legal_entity};
use crate::paging::{self, Order};
use crate::residence::house_in_use;
use crate::rules;
use crate::state::Grid;
use crate::write::{Answer, Applied, Change, Creation, Done, Tx, Write};

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

/// A credit code typed by a caller.
pub fn parse_code(code: &str) -> Result<CreditCode, ApiError> {
    CreditCode::parse(code.trim()).map_err(|e| ApiError::invalid("credit_code", e))
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

pub async fn view_one(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    e: &legal_entity::Model,
) -> Result<EntityView, ApiError> {
    let policy = masking::current(conn).await?;
    Ok(view(&Masker::new(&policy, principal), e))
}

/// The answer of a step: the entity as the caller may see it.
async fn answered(tx: &Tx<'_>, e: legal_entity::Model) -> Done<legal_entity::Model, EntityView> {
    let output = view_one(tx.txn, tx.principal, &e).await?;
    Ok(Applied { record: e, output })
}

/// Record the step and run the collection rules on it.
async fn step(
    tx: &Tx<'_>,
    source: &Source,
    e: &legal_entity::Model,
    change: &str,
    house: Option<&house::Model>,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    let grid = stored_grid(&e.grid_code)?;
    ledger::record(
        tx.txn,
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
        tx.txn,
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

/// 409 for an entity nothing changes any more.
fn registered(e: &legal_entity::Model) -> Result<(), ApiError> {
    if e.status == "deregistered" {
        return Err(ApiError::conflict(
            "entity-deregistered",
            format!(
                "legal entity {} is deregistered: it cannot change",
                e.credit_code
            ),
        ));
    }
    Ok(())
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

/// A checked registration.
struct Registration {
    code: CreditCode,
    name: String,
    representative: Option<String>,
    phone: Option<String>,
    house: house::Model,
    grid: JurisdictionCode,
}

#[async_trait::async_trait]
impl Creation for Registration {
    type Record = legal_entity::Model;
    type Output = EntityView;

    fn authorize(&self, principal: &Principal) -> Result<(), ApiError> {
        ENTITIES.authorize_create(principal, &self.grid)
    }

    async fn apply(self, tx: &Tx<'_>) -> Done<legal_entity::Model, Self::Output> {
        let code = self.code.as_str();
        lock_row(tx.txn, "legal_entities", "credit_code", code).await?;
        let exists = || {
            ApiError::conflict(
                "entity-exists",
                format!("legal entity {code} is already registered"),
            )
        };
        if legal_entity::Entity::find_by_id(code).count(tx.txn).await? > 0 {
            return Err(exists());
        }
        let now = Utc::now();
        let e = legal_entity::ActiveModel {
            credit_code: Set(code.to_owned()),
            name: Set(self.name),
            representative: Set(self.representative),
            phone: Set(self.phone),
            house_code: Set(Some(self.house.code.clone())),
            grid_code: Set(self.house.grid_code.clone()),
            status: Set("registered".into()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(tx.txn)
        .await
        .map_err(|e| match e.sql_err() {
            // Registered by someone else at the same moment.
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => exists(),
            _ => e.into(),
        })?;
        step(
            tx,
            tx.source,
            &e,
            "registered",
            Some(&self.house),
            serde_json::json!({}),
        )
        .await?;
        answered(tx, e).await
    }
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
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown-house`, `house-not-in-use`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(w: Write, body: JsonBody) -> Result<Answer, ApiError> {
    let input: NewEntity = body::parse(&body, "credit_code, name and house_code")?;
    let code = parse_code(&input.credit_code)?;
    let name = name_of(input.name)?;
    let representative = clean_text("representative", input.representative, 100)?;
    let phone = clean_phone(input.phone)?;
    let house_code = HouseCode::parse(input.house_code.trim())
        .map_err(|e| ApiError::invalid("house_code", e))?;
    let house = house_in_use(&w.grid().db, &house_code).await?;
    let registration = Registration {
        grid: stored_grid(&house.grid_code)?,
        code,
        name,
        representative,
        phone,
        house,
    };
    Answer::created(w.create(registration).await?)
}

/// One legal entity.
#[utoipa::path(
    get,
    path = "/api/v1/grid/entities/{code}",
    params(("code" = String, Path, description = "Unified social credit code")),
    responses(
        (status = 200, body = EntityView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A role that reads no legal entities", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entity that you may see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_entity(
    grid: web::Data<Grid>,
    principal: Principal,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let e = access::entity(&grid.db, &principal, &parse_code(&code)?).await?;
    Ok(HttpResponse::Ok().json(view_one(&grid.db, &principal, &e).await?))
}

/// Legal entities whose premises lie under a code, by credit code.
#[utoipa::path(
    get,
    path = "/api/v1/grid/entities",
    params(GridFilter, PageQuery),
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
    filter: web::Query<GridFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit().map_err(ApiError::InvalidInput)?;
    let under = filter.under(&principal)?;
    ENTITIES.authorize_list(&principal, &under)?;
    let q = legal_entity::Entity::find()
        .filter(legal_entity::Column::GridCode.starts_with(under.as_str()));
    let key = legal_entity::Column::CreditCode;
    let rows = paging::rows(
        &grid.db,
        q,
        key,
        Order::Ascending,
        page.cursor.clone(),
        limit,
    )
    .await?;
    let policy = masking::current(&grid.db).await?;
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

/// A checked change; new premises are a house in use.
struct Edit {
    name: Option<String>,
    representative: Option<String>,
    phone: Option<String>,
    premises: Option<house::Model>,
}

#[async_trait::async_trait]
impl Change<legal_entity::Model> for Edit {
    type Output = EntityView;

    fn destination(&self, _entity: &legal_entity::Model) -> Option<JurisdictionCode> {
        self.premises
            .as_ref()
            .and_then(|h| JurisdictionCode::parse(&h.grid_code).ok())
    }

    fn check(&self, e: &legal_entity::Model) -> Result<(), ApiError> {
        registered(e)
    }

    async fn apply(
        self,
        tx: &Tx<'_>,
        e: legal_entity::Model,
    ) -> Done<legal_entity::Model, Self::Output> {
        let mut fields = Vec::new();
        let mut am: legal_entity::ActiveModel = e.clone().into();
        if let Some(n) = self.name.filter(|n| *n != e.name) {
            am.name = Set(n);
            fields.push("name");
        }
        if let Some(r) = self
            .representative
            .filter(|r| Some(r) != e.representative.as_ref())
        {
            am.representative = Set(Some(r));
            fields.push("representative");
        }
        if let Some(p) = self.phone.filter(|p| Some(p) != e.phone.as_ref()) {
            am.phone = Set(Some(p));
            fields.push("phone");
        }
        let moved = self
            .premises
            .filter(|h| Some(&h.code) != e.house_code.as_ref());
        if let Some(h) = &moved {
            am.house_code = Set(Some(h.code.clone()));
            am.grid_code = Set(h.grid_code.clone());
            fields.push("house_code");
        }
        if fields.is_empty() {
            return answered(tx, e).await;
        }
        am.version = Set(e.version + 1);
        am.updated_at = Set(Utc::now());
        let updated = am.update(tx.txn).await?;
        let mut details = serde_json::json!({ "fields": fields });
        if moved.is_some() {
            details["from_house"] = e.house_code.clone().into();
        }
        step(tx, tx.source, &updated, "changed", moved.as_ref(), details).await?;
        answered(tx, updated).await
    }
}

/// Change a legal entity's name, representative, phone or premises (`changed`; the step lists
/// the names of the fields that changed, not their values). New premises in another grid are
/// given by the current holder (see the module documentation).
#[utoipa::path(
    patch,
    path = "/api/v1/grid/entities/{code}",
    params(("code" = String, Path, description = "Unified social credit code")),
    request_body = EntityChange,
    responses(
        (status = 200, description = "Changed (or unchanged when nothing differs)", body = EntityView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a role that records entities, premises outside an officer's scope, or `source-out-of-scope`: the entity is held by another grid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entity that you may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`entity-deregistered`, `version-conflict`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown-house`, `house-not-in-use`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn change(w: Write, code: web::Path<String>, body: JsonBody) -> Result<Answer, ApiError> {
    let input: EntityChange = body::parse(&body, "the fields to change")?;
    let code = parse_code(&code)?;
    let premises = match &input.house_code {
        Some(h) => {
            let h = HouseCode::parse(h.trim()).map_err(|e| ApiError::invalid("house_code", e))?;
            Some(house_in_use(&w.grid().db, &h).await?)
        }
        None => None,
    };
    let edit = Edit {
        name: input.name.map(name_of).transpose()?,
        representative: clean_text("representative", input.representative, 100)?,
        phone: clean_phone(input.phone)?,
        premises,
    };
    Answer::ok(w.change(&code, input.expected_version, edit).await?)
}

/// A deregistration.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deregistration {
    /// Why (1–500 characters), e.g. `dissolved by resolution of the shareholders`.
    pub reason: String,
    pub expected_version: Option<i64>,
}

/// A checked deregistration.
struct Closing {
    reason: String,
}

#[async_trait::async_trait]
impl Change<legal_entity::Model> for Closing {
    type Output = EntityView;

    fn check(&self, e: &legal_entity::Model) -> Result<(), ApiError> {
        registered(e)
    }

    async fn apply(
        self,
        tx: &Tx<'_>,
        e: legal_entity::Model,
    ) -> Done<legal_entity::Model, Self::Output> {
        let version = e.version + 1;
        let mut am: legal_entity::ActiveModel = e.into();
        am.status = Set("deregistered".into());
        am.version = Set(version);
        am.updated_at = Set(Utc::now());
        let e = am.update(tx.txn).await?;
        step(
            tx,
            tx.source,
            &e,
            "deregistered",
            None,
            serde_json::json!({ "reason": self.reason }),
        )
        .await?;
        answered(tx, e).await
    }
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
        (status = 404, description = "No such entity that you may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`entity-deregistered`, `version-conflict`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn deregister(
    w: Write,
    code: web::Path<String>,
    body: JsonBody,
) -> Result<Answer, ApiError> {
    let input: Deregistration = body::parse(&body, "reason")?;
    let code = parse_code(&code)?;
    let closing = Closing {
        reason: clean_text("reason", Some(input.reason), 500)?.unwrap_or_default(),
    };
    Answer::ok(w.change(&code, input.expected_version, closing).await?)
}
