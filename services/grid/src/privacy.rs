//! The masking policy as data (for each field and role: plain, masked or hidden), and unmasking
//! with a stated purpose, recorded as evidence the citizen can see.
//!
//! Every view of a person, an entity (and a house's landlord) goes through [`show`] (or a
//! [`Masker`]): `None` means hidden, and the field is left out of the JSON. The policy is
//! versioned in `masking_policies`; the newest row applies. The first read seeds the default
//! (`policy/masking.json`).

use std::collections::BTreeMap;
use zw_platform::db::BeginWrite;

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
use zw_domain::{IdNumber, Phone};
use zw_platform::Problem;

use crate::declarations::Grid;
use crate::error::ApiError;

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

/// The default policy, used until an operator stores another.
pub const DEFAULT_POLICY: &str = include_str!("../policy/masking.json");

/// A personal field the policy governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    PersonIdNumber,
    PersonName,
    PersonPhone,
    EntityRepresentative,
    EntityPhone,
    HouseLandlordName,
    HouseLandlordPhone,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::PersonIdNumber,
        Field::PersonName,
        Field::PersonPhone,
        Field::EntityRepresentative,
        Field::EntityPhone,
        Field::HouseLandlordName,
        Field::HouseLandlordPhone,
    ];

    /// The name in the policy document (`person.id_number`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Field::PersonIdNumber => "person.id_number",
            Field::PersonName => "person.name",
            Field::PersonPhone => "person.phone",
            Field::EntityRepresentative => "entity.representative",
            Field::EntityPhone => "entity.phone",
            Field::HouseLandlordName => "house.landlord_name",
            Field::HouseLandlordPhone => "house.landlord_phone",
        }
    }

    pub fn parse(s: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// How a masked value looks: the domain type's own mask where there is one.
    fn mask(self, value: &str) -> String {
        match self {
            Field::PersonIdNumber => IdNumber::parse(value)
                .map(|id| id.masked())
                .unwrap_or_else(|_| mask_text(value)),
            Field::PersonPhone | Field::EntityPhone | Field::HouseLandlordPhone => {
                Phone::parse(value)
                    .map(|p| p.masked())
                    .unwrap_or_else(|_| mask_text(value))
            }
            Field::PersonName | Field::EntityRepresentative | Field::HouseLandlordName => {
                mask_text(value)
            }
        }
    }
}

/// First character kept, every other one a `*` (`张**`).
fn mask_text(value: &str) -> String {
    let mut chars = value.chars();
    match chars.next() {
        Some(first) => {
            let rest = chars.count().max(1);
            format!("{first}{}", "*".repeat(rest))
        }
        None => String::new(),
    }
}

/// How a role sees a field.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Not shown at all (left out of the response).
    Hidden,
    /// Shown masked; roles listed in `unmask` may see it plain by stating a purpose.
    Masked,
    /// Shown as stored.
    Plain,
}

/// The rule of one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// For every role (citizen, grid_worker, community_officer, street_officer,
    /// district_officer, department, admin): `plain`, `masked` or `hidden`.
    pub roles: BTreeMap<String, Visibility>,
    /// A department entitled to one of these data sets sees the field this way instead (the
    /// most open of its data sets and its role applies).
    #[serde(default)]
    pub datasets: BTreeMap<String, Visibility>,
    /// The roles that may unmask the field, stating a purpose.
    #[serde(default)]
    pub unmask: Vec<String>,
}

/// The whole policy: a rule for every governed field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    pub fields: BTreeMap<String, FieldRule>,
}

impl PolicyDocument {
    /// The default policy shipped with the service.
    pub fn default_policy() -> Result<PolicyDocument, ApiError> {
        let doc: PolicyDocument = serde_json::from_str(DEFAULT_POLICY)
            .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("default masking policy: {e}")))?;
        doc.validate()?;
        Ok(doc)
    }

    /// Every field and every role named, nothing unknown (422 `invalid-policy` otherwise).
    pub fn validate(&self) -> Result<(), ApiError> {
        let bad = |m: String| ApiError::unprocessable("invalid-policy", m);
        for name in self.fields.keys() {
            if Field::parse(name).is_none() {
                return Err(bad(format!("unknown field {name:?}")));
            }
        }
        for field in Field::ALL {
            let Some(rule) = self.fields.get(field.as_str()) else {
                return Err(bad(format!("no rule for field {}", field.as_str())));
            };
            for role in rule.roles.keys().chain(rule.unmask.iter()) {
                if role.parse::<Role>().is_err() {
                    return Err(bad(format!(
                        "unknown role {role:?} in the rule of {}",
                        field.as_str()
                    )));
                }
            }
            for role in Role::ALL {
                if !rule.roles.contains_key(role.as_str()) {
                    return Err(bad(format!(
                        "the rule of {} does not say how {role} sees it",
                        field.as_str()
                    )));
                }
            }
            for name in rule.datasets.keys() {
                if name.trim().is_empty() {
                    return Err(bad(format!(
                        "an empty data set name in the rule of {}",
                        field.as_str()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The policy in force.
#[derive(Debug, Clone)]
pub struct Policy {
    pub version: i64,
    pub document: PolicyDocument,
}

impl Policy {
    /// How `principal` sees `field`: the most open of its roles (a department's data sets may
    /// open it further).
    pub fn visibility(&self, principal: &Principal, field: Field) -> Visibility {
        let Some(rule) = self.document.fields.get(field.as_str()) else {
            return Visibility::Hidden;
        };
        let mut best = Visibility::Hidden;
        for role in &principal.roles {
            let mut v = rule
                .roles
                .get(role.as_str())
                .copied()
                .unwrap_or(Visibility::Hidden);
            if *role == Role::Department {
                for d in &principal.datasets {
                    if let Some(o) = rule.datasets.get(d) {
                        v = v.max(*o);
                    }
                }
            }
            best = best.max(v);
        }
        best
    }

    /// The role in which `principal` may unmask `field`, if any: one of its roles that sees the
    /// field masked and is listed in `unmask`.
    pub fn unmasking_role(&self, principal: &Principal, field: Field) -> Option<Role> {
        let rule = self.document.fields.get(field.as_str())?;
        principal.roles.iter().copied().find(|r| {
            rule.unmask.iter().any(|u| u == r.as_str())
                && rule.roles.get(r.as_str()) == Some(&Visibility::Masked)
        })
    }
}

/// `value` of `field` as `principal` may see it under `policy`: plain, masked, or `None`
/// (hidden: leave it out).
pub fn show(policy: &Policy, principal: &Principal, field: Field, value: &str) -> Option<String> {
    match policy.visibility(principal, field) {
        Visibility::Plain => Some(value.to_owned()),
        Visibility::Masked => Some(field.mask(value)),
        Visibility::Hidden => None,
    }
}

/// [`show`] for one caller and one policy, over optional values.
pub struct Masker<'a> {
    pub policy: &'a Policy,
    pub principal: &'a Principal,
}

impl<'a> Masker<'a> {
    pub fn new(policy: &'a Policy, principal: &'a Principal) -> Self {
        Masker { policy, principal }
    }

    pub fn show(&self, field: Field, value: Option<&str>) -> Option<String> {
        value.and_then(|v| show(self.policy, self.principal, field, v))
    }

    /// Whether `field` is shown plain.
    pub fn is_plain(&self, field: Field) -> bool {
        self.policy.visibility(self.principal, field) == Visibility::Plain
    }
}

/// The policy in force (seeding the default on first use).
pub async fn current(conn: &impl ConnectionTrait) -> Result<Policy, ApiError> {
    if let Some(row) = latest(conn).await? {
        return policy_of(row);
    }
    let document = PolicyDocument::default_policy()?;
    masking_policy::Entity::insert(masking_policy::ActiveModel {
        version: Set(1),
        document: Set(serde_json::to_value(&document).unwrap_or_default()),
        created_by: Set("system:default".into()),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(masking_policy::Column::Version)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    match latest(conn).await? {
        Some(row) => policy_of(row),
        None => Ok(Policy {
            version: 1,
            document,
        }),
    }
}

async fn latest(conn: &impl ConnectionTrait) -> Result<Option<masking_policy::Model>, ApiError> {
    Ok(masking_policy::Entity::find()
        .order_by_desc(masking_policy::Column::Version)
        .limit(1)
        .one(conn)
        .await?)
}

fn policy_of(row: masking_policy::Model) -> Result<Policy, ApiError> {
    let document: PolicyDocument = serde_json::from_value(row.document).map_err(|e| {
        ApiError::Unexpected(anyhow::anyhow!(
            "stored masking policy {} does not parse: {e}",
            row.version
        ))
    })?;
    Ok(Policy {
        version: row.version,
        document,
    })
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
        (status = 422, description = "Unknown or missing field or role (`invalid-policy`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn put_policy(
    grid: web::Data<Grid>,
    principal: Principal,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    principal.require_role(&[Role::Admin, Role::DistrictOfficer])?;
    let document: PolicyDocument = serde_json::from_slice(&body)
        .map_err(|e| ApiError::InvalidInput(format!("the body must be a policy document: {e}")))?;
    document.validate()?;
    let previous = current(&grid.db).await?;
    let version = previous.version + 1;
    let txn = grid.db.begin_write().await?;
    let stored = masking_policy::Entity::insert(masking_policy::ActiveModel {
        version: Set(version),
        document: Set(serde_json::to_value(&document).unwrap_or_default()),
        created_by: Set(principal.subject.clone()),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(masking_policy::Column::Version)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    if stored == 0 {
        return Err(ApiError::conflict(
            "version-conflict",
            format!("masking policy version {version} was stored by someone else meanwhile"),
        ));
    }
    zw_evidence::append(
        &txn,
        &principal.subject,
        "privacy.policy_changed",
        "privacy/masking-policy",
        &serde_json::json!({ "version": version, "document": document }),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(version, actor = %principal.subject, "masking policy changed");
    Ok(HttpResponse::Ok().json(policy_view(&grid.db).await?))
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
        (status = 403, description = "Out of scope, `field-hidden`, or `unmask-not-allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`not-masked`: the caller already sees it plain", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn unmask(
    grid: web::Data<Grid>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: UnmaskRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::InvalidInput(format!(
            "the body must be JSON with fields and purpose: {e}"
        ))
    })?;
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
    let person = crate::people::readable(&grid.db, &principal, id.into_inner()).await?;
    let policy = current(&grid.db).await?;
    let mut role = None;
    for f in &fields {
        match policy.visibility(&principal, *f) {
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
            Visibility::Masked => match policy.unmasking_role(&principal, *f) {
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
    let txn = grid.db.begin_write().await?;
    let evidence = zw_evidence::append(
        &txn,
        &principal.subject,
        "person.unmasked",
        &format!("person/{}", person.id),
        &serde_json::json!({
            "actor": principal.subject,
            "role": role,
            "fields": names,
            "purpose": purpose,
            "policy_version": policy.version,
        }),
    )
    .await?;
    disclosure::ActiveModel {
        id: Set(Uuid::now_v7()),
        person_id: Set(person.id),
        actor: Set(principal.subject.clone()),
        role: Set(role.to_owned()),
        fields: Set(serde_json::json!(names)),
        purpose: Set(purpose.to_owned()),
        evidence_seq: Set(evidence.seq),
        at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
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
        evidence_seq: evidence.seq,
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

/// The disclosures of the persons a citizen declared (himself, his family), newest first.
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
    let persons = crate::people::persons_of_citizen(&grid.db, &principal.subject).await?;
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

pub mod masking_policy {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "masking_policies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        pub document: Json,
        pub created_by: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
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

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, datasets: &[&str]) -> Principal {
        Principal {
            subject: "s".into(),
            roles: vec![role],
            scope: zw_domain::JurisdictionCode::parse("440304").unwrap(),
            datasets: datasets.iter().map(|d| (*d).to_owned()).collect(),
            token_id: "t".into(),
            name: None,
            id_number: None,
        }
    }

    #[test]
    fn the_default_policy_is_complete_and_sensible() {
        let policy = Policy {
            version: 1,
            document: PolicyDocument::default_policy().unwrap(),
        };
        let id = "11010519491231002X";
        let worker = principal(Role::GridWorker, &[]);
        let officer = principal(Role::StreetOfficer, &[]);
        let dept = principal(Role::Department, &[]);
        let civil = principal(Role::Department, &["persons"]);
        assert_eq!(
            show(&policy, &worker, Field::PersonIdNumber, id).as_deref(),
            Some(id)
        );
        assert_eq!(
            show(&policy, &officer, Field::PersonIdNumber, id).as_deref(),
            Some("110105********002X")
        );
        assert_eq!(
            show(&policy, &dept, Field::PersonIdNumber, id).as_deref(),
            Some("110105********002X")
        );
        assert_eq!(
            show(&policy, &civil, Field::PersonIdNumber, id).as_deref(),
            Some(id)
        );
        assert_eq!(
            show(&policy, &officer, Field::PersonPhone, "13800138000"),
            None
        );
        assert_eq!(
            show(&policy, &worker, Field::PersonName, "张三丰").as_deref(),
            Some("张三丰")
        );
        assert_eq!(
            show(&policy, &officer, Field::PersonName, "张三丰").as_deref(),
            Some("张**")
        );
        assert_eq!(
            policy.unmasking_role(&officer, Field::PersonIdNumber),
            Some(Role::StreetOfficer)
        );
        assert_eq!(policy.unmasking_role(&worker, Field::PersonIdNumber), None);
    }

    #[test]
    fn a_policy_missing_a_role_or_naming_an_unknown_field_is_refused() {
        let mut doc = PolicyDocument::default_policy().unwrap();
        doc.fields
            .get_mut("person.phone")
            .unwrap()
            .roles
            .remove("admin");
        assert!(doc.validate().is_err());
        let mut doc = PolicyDocument::default_policy().unwrap();
        let rule = doc.fields["person.phone"].clone();
        doc.fields.insert("person.shoe_size".into(), rule);
        assert!(doc.validate().is_err());
        let mut doc = PolicyDocument::default_policy().unwrap();
        doc.fields
            .get_mut("person.phone")
            .unwrap()
            .unmask
            .push("mayor".into());
        assert!(doc.validate().is_err());
    }
}
