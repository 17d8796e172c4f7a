//! The privacy routes: the masking policy ([`crate::masking`]) read and replaced, and unmasking
//! with a stated purpose, recorded as evidence the citizen reads at `GET /me/disclosures`.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use uuid::Uuid;
use zw_auth::{Principal, Role};
use zw_platform::Problem;

use crate::access;
use crate::body::{self, JsonBody};
use crate::error::ApiError;
use crate::masking::{
    Field, FieldRule, PolicyDocument, Visibility, current, latest, masking_policy, policy_of,
};
use crate::state::Grid;
use crate::write::Write;

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi(
    paths(get_policy, put_policy, unmask, my_disclosures),
    components(schemas(
        PolicyDocument,
        FieldRule,
        Visibility,
        PolicyView,
        UnmaskRequest,
        Unmasked,
        DisclosureView
    ))
)]
pub struct Api;

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/grid/privacy/policy")
            .route(web::get().to(get_policy))
            .route(web::put().to(put_policy)),
    )
    .service(web::resource("/api/v1/grid/persons/{id}/unmask").route(web::post().to(unmask)))
    .service(web::resource("/api/v1/grid/me/disclosures").route(web::get().to(my_disclosures)));
}

/// A version of the policy.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyView {
    pub version: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub document: PolicyDocument,
}

async fn policy_view(conn: &impl ConnectionTrait) -> Result<PolicyView, ApiError> {
    current(conn).await?;
    let row = latest(conn)
        .await?
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("masking policy vanished")))?;
    Ok(PolicyView {
        version: row.version,
        created_by: row.created_by.clone(),
        created_at: row.created_at,
        document: policy_of(row)?.document,
    })
}

/// The masking policy in force (any signed-in caller: what is shown to whom is no secret).
#[utoipa::path(
    get,
    path = "/api/v1/grid/privacy/policy",
    responses(
        (status = 200, body = PolicyView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_policy(
    grid: web::Data<Grid>,
    _principal: Principal,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(policy_view(&grid.db).await?))
}

/// Replace the masking policy (admin or district officer): validated whole, stored as a new
/// version with an evidence record; it applies to the next request.
#[utoipa::path(
    put,
    path = "/api/v1/grid/privacy/policy",
    request_body = PolicyDocument,
    responses(
        (status = 200, description = "The new version", body = PolicyView),
        (status = 400, description = "Not a policy document (or an unknown visibility)", body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another change was stored at the same time", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown or missing field or role (`invalid-policy`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn put_policy(w: Write, body: JsonBody) -> Result<HttpResponse, ApiError> {
    w.principal
        .require_role(&[Role::Admin, Role::DistrictOfficer])?;
    let document: PolicyDocument = body::parse(&body, "a policy document (fields)")?;
    document.validate()?;
    let version = w
        .run(async |tx| {
            let version = current(tx.txn).await?.version + 1;
            let stored = masking_policy::Entity::insert(masking_policy::ActiveModel {
                version: Set(version),
                document: Set(serde_json::to_value(&document).map_err(anyhow::Error::from)?),
                created_by: Set(tx.principal.subject.clone()),
                created_at: Set(Utc::now()),
            })
            .on_conflict(
                OnConflict::column(masking_policy::Column::Version)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(tx.txn)
            .await?;
            if stored == 0 {
                return Err(ApiError::conflict(
                    "version-conflict",
                    format!(
                        "masking policy version {version} was stored by someone else meanwhile"
                    ),
                ));
            }
            zw_evidence::append(
                tx.txn,
                &tx.principal.subject,
                "privacy.policy_changed",
                "privacy/masking-policy",
                &serde_json::json!({ "version": version, "document": document }),
            )
            .await?;
            Ok(version)
        })
        .await?;
    tracing::info!(version, actor = %w.principal.subject, "masking policy changed");
    Ok(HttpResponse::Ok().json(policy_view(&w.grid().db).await?))
}

/// Fields to see plain, and why.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnmaskRequest {
    /// e.g. `["person.id_number"]`.
    pub fields: Vec<String>,
    /// Why (10–500 characters): the citizen reads it.
    pub purpose: Option<String>,
}

/// The plain values, by field name.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Unmasked {
    pub person_id: Uuid,
    pub values: BTreeMap<String, Option<String>>,
    /// The evidence record of this disclosure.
    pub evidence_seq: i64,
}

/// See masked fields of a person plain, stating a purpose. Allowed where the policy shows the
/// field masked to the caller's role and lets that role unmask; recorded as evidence and as a
/// disclosure the citizen sees.
#[utoipa::path(
    post,
    path = "/api/v1/grid/persons/{id}/unmask",
    params(("id" = Uuid, Path, description = "Person id")),
    request_body = UnmaskRequest,
    responses(
        (status = 200, body = Unmasked),
        (status = 400, description = "No purpose, or unknown fields", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A role that reads no persons, `field-hidden`, or `unmask-not-allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such person that you may see", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`not-masked`: the caller already sees it plain", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn unmask(w: Write, id: web::Path<Uuid>, body: JsonBody) -> Result<HttpResponse, ApiError> {
    let (grid, principal) = (w.grid(), &w.principal);
    let input: UnmaskRequest = body::parse(&body, "fields and purpose")?;
    let purpose = input.purpose.as_deref().map(str::trim).unwrap_or_default();
    let len = purpose.chars().count();
    if !(10..=500).contains(&len) {
        return Err(ApiError::InvalidInput(
            "purpose is required: 10 to 500 characters saying why".into(),
        ));
    }
    if input.fields.is_empty() {
        return Err(ApiError::InvalidInput("name at least one field".into()));
    }
    let mut fields = Vec::new();
    for name in &input.fields {
        match Field::parse(name) {
            Some(f @ (Field::PersonIdNumber | Field::PersonName | Field::PersonPhone)) => {
                if !fields.contains(&f) {
                    fields.push(f);
                }
            }
            _ => {
                return Err(ApiError::InvalidInput(format!(
                    "{name:?} is not a field of a person (person.id_number, person.name, person.phone)"
                )));
            }
        }
    }
    let person = access::person(&grid.db, principal, id.into_inner()).await?;
    let policy = current(&grid.db).await?;
    let mut role = None;
    for f in &fields {
        match policy.visibility(principal, *f) {
            Visibility::Hidden => {
                return Err(ApiError::forbidden(
                    "field-hidden",
                    format!("{} is hidden from your role", f.as_str()),
                ));
            }
            Visibility::Plain => {
                return Err(ApiError::unprocessable(
                    "not-masked",
                    format!("you already see {} plain", f.as_str()),
                ));
            }
            Visibility::Masked => match policy.unmasking_role(principal, *f) {
                Some(r) => role = role.or(Some(r)),
                None => {
                    return Err(ApiError::forbidden(
                        "unmask-not-allowed",
                        format!("your role may not unmask {}", f.as_str()),
                    ));
                }
            },
        }
    }
    let role = role.map(|r| r.as_str()).unwrap_or("unknown");
    let names: Vec<&str> = fields.iter().map(|f| f.as_str()).collect();
    let person_id = person.id;
    let evidence_seq = w
        .run(async |tx| {
            let evidence = zw_evidence::append(
                tx.txn,
                &tx.principal.subject,
                "person.unmasked",
                &format!("person/{person_id}"),
                &serde_json::json!({
                    "actor": tx.principal.subject,
                    "role": role,
                    "fields": names,
                    "purpose": purpose,
                    "policy_version": policy.version,
                }),
            )
            .await?;
            disclosure::ActiveModel {
                id: Set(Uuid::now_v7()),
                person_id: Set(person_id),
                actor: Set(tx.principal.subject.clone()),
                role: Set(role.to_owned()),
                fields: Set(serde_json::json!(names)),
                purpose: Set(purpose.to_owned()),
                evidence_seq: Set(evidence.seq),
                at: Set(Utc::now()),
            }
            .insert(tx.txn)
            .await?;
            Ok(evidence.seq)
        })
        .await?;
    tracing::info!(person = %person.id, actor = %principal.subject, fields = ?names, "personal fields unmasked");
    let values = fields
        .iter()
        .map(|f| {
            let v = match f {
                Field::PersonIdNumber => Some(person.id_number.clone()),
                Field::PersonName => person.name.clone(),
                _ => person.phone.clone(),
            };
            (f.as_str().to_owned(), v)
        })
        .collect();
    Ok(HttpResponse::Ok().json(Unmasked {
        person_id: person.id,
        values,
        evidence_seq,
    }))
}

/// Who saw which of the citizen's fields plain, when, and why.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DisclosureView {
    pub person_id: Uuid,
    /// Who unmasked (his account).
    pub actor: String,
    /// In which role.
    pub role: String,
    pub fields: Vec<String>,
    pub purpose: String,
    pub evidence_seq: i64,
    pub at: DateTime<Utc>,
}

/// The disclosures of the citizen's own record and of the household members he declared, newest
/// first.
#[utoipa::path(
    get,
    path = "/api/v1/grid/me/disclosures",
    responses(
        (status = 200, body = Vec<DisclosureView>),
        (status = 403, description = "Not a citizen", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn my_disclosures(
    grid: web::Data<Grid>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    principal.require_role(&[Role::Citizen])?;
    let persons = access::citizen_persons(&grid.db, &principal).await?;
    let rows = disclosure::Entity::find()
        .filter(disclosure::Column::PersonId.is_in(persons))
        .order_by_desc(disclosure::Column::Id)
        .limit(500)
        .all(&grid.db)
        .await?;
    let views: Vec<DisclosureView> = rows
        .into_iter()
        .map(|d| DisclosureView {
            person_id: d.person_id,
            actor: d.actor,
            role: d.role,
            fields: serde_json::from_value(d.fields).unwrap_or_default(),
            purpose: d.purpose,
            evidence_seq: d.evidence_seq,
            at: d.at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

pub mod disclosure {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "disclosures")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub person_id: Uuid,
        pub actor: String,
        pub role: String,
        pub fields: Json,
        pub purpose: String,
        pub evidence_seq: i64,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
