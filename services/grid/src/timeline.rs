//! `GET …/timeline`: the whole life of a house, a person or an entity, each step with its
//! evidence (an inclusion proof to a signed tree head).
//!
//! A house's timeline is its own steps plus the people and entities moving in and out of it. The
//! steps name houses but never ID numbers, so whoever may read the record may read its timeline
//! (a citizen: his own, and those of the household members he declared), through the same scoped
//! finders ([`crate::access`]).

use actix_web::{HttpResponse, web};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use uuid::Uuid;
use zw_auth::Principal;
use zw_domain::HouseCode;
use zw_evidence::InclusionProof;
use zw_platform::Problem;

use crate::access;
use crate::error::ApiError;
use crate::ledger::{LifeEventView, SubjectKind, life_event};
use crate::state::Grid;

/// At most this many steps are returned (a house's life over decades stays far below).
const MAX_STEPS: u64 = 5_000;

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi(
    paths(person_timeline, entity_timeline, house_timeline),
    components(schemas(Timeline, TimelineStep))
)]
pub struct Api;

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/grid/persons/{id}/timeline").route(web::get().to(person_timeline)),
    )
    .service(
        web::resource("/api/v1/grid/entities/{code}/timeline")
            .route(web::get().to(entity_timeline)),
    )
    .service(
        web::resource("/api/v1/grid/houses/{code}/timeline").route(web::get().to(house_timeline)),
    );
}

/// One step and the proof that it is in the signed evidence log.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineStep {
    /// `person`, `entity` or `house`: whose step it is (a house's timeline mixes them).
    pub subject_kind: String,
    /// Person id, credit code or house code.
    pub subject_key: String,
    #[serde(flatten)]
    pub step: LifeEventView,
    /// The evidence record of the step with its audit path to a signed tree head (see
    /// zw-evidence `InclusionProof`).
    #[schema(value_type = Object)]
    pub proof: InclusionProof,
}

/// A whole life, oldest step first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Timeline {
    /// `person/<id>`, `entity/<code>` or `house/<code>`.
    pub subject: String,
    /// Base64 Ed25519 public key that signs the tree heads.
    pub public_key: String,
    pub steps: Vec<TimelineStep>,
}

async fn timeline(grid: &Grid, subject: String, filter: Condition) -> Result<Timeline, ApiError> {
    let rows = life_event::Entity::find()
        .filter(filter)
        .order_by_asc(life_event::Column::EvidenceSeq)
        .limit(MAX_STEPS)
        .all(&grid.db)
        .await?;
    let seqs: Vec<i64> = rows.iter().map(|r| r.evidence_seq).collect();
    let proofs = grid.evidence.inclusion_proofs(&seqs).await?;
    let steps = rows
        .into_iter()
        .zip(proofs)
        .map(|(row, proof)| TimelineStep {
            subject_kind: row.subject_kind.clone(),
            subject_key: row.subject_key.clone(),
            step: LifeEventView::from(row),
            proof,
        })
        .collect();
    Ok(Timeline {
        subject,
        public_key: grid.evidence.public_key_base64(),
        steps,
    })
}

fn subject_is(kind: SubjectKind, key: &str) -> Condition {
    Condition::all()
        .add(life_event::Column::SubjectKind.eq(kind.as_str()))
        .add(life_event::Column::SubjectKey.eq(key))
}

/// A person's life: born or registered, moves, death.
#[utoipa::path(
    get,
    path = "/api/v1/grid/persons/{id}/timeline",
    params(("id" = Uuid, Path, description = "Person id")),
    responses(
        (status = 200, body = Timeline),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A role that reads no persons", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such person that you may see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn person_timeline(
    grid: web::Data<Grid>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let p = access::person(&grid.db, &principal, id.into_inner()).await?;
    let key = p.id.to_string();
    let t = timeline(
        &grid,
        format!("person/{key}"),
        subject_is(SubjectKind::Person, &key),
    )
    .await?;
    Ok(HttpResponse::Ok().json(t))
}

/// A legal entity's life: registration, changes, deregistration.
#[utoipa::path(
    get,
    path = "/api/v1/grid/entities/{code}/timeline",
    params(("code" = String, Path, description = "Unified social credit code")),
    responses(
        (status = 200, body = Timeline),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn entity_timeline(
    grid: web::Data<Grid>,
    principal: Principal,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let code = zw_domain::CreditCode::parse(code.trim())
        .map_err(|e| ApiError::invalid("credit_code", e))?;
    let e = access::entity(&grid.db, &principal, &code).await?;
    let t = timeline(
        &grid,
        format!("entity/{}", e.credit_code),
        subject_is(SubjectKind::Entity, &e.credit_code),
    )
    .await?;
    Ok(HttpResponse::Ok().json(t))
}

/// A house's life: its own steps, and the people and entities moving in and out of it.
#[utoipa::path(
    get,
    path = "/api/v1/grid/houses/{code}/timeline",
    params(("code" = String, Path, description = "House code (20 digits)")),
    responses(
        (status = 200, body = Timeline),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn house_timeline(
    grid: web::Data<Grid>,
    principal: Principal,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let code = HouseCode::parse(code.trim()).map_err(|e| ApiError::invalid("house code", e))?;
    let h = access::house(&grid.db, &principal, &code).await?;
    let filter = Condition::any()
        .add(subject_is(SubjectKind::House, &h.code))
        .add(life_event::Column::HouseCode.eq(h.code.clone()));
    let t = timeline(&grid, format!("house/{}", h.code), filter).await?;
    Ok(HttpResponse::Ok().json(t))
}
