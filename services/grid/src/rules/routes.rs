//! The rule sets and the cases they raise, over HTTP: read, replace and try out a rule set
//! (`/rules/{kind}`), list and close cases (`/cases`). Writes go through the one write operation
//! ([`crate::write`]); who sees which case is [`crate::access`]'s.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use uuid::Uuid;
use zw_auth::{Principal, Role};
use zw_platform::Problem;
use zw_platform::page::{Page, PageQuery};
use zw_rules::{ErrorCode, Kind, RuleSet, RuleSetError};

use super::{
    Classification, RuleOutcome, active, case, digest_of, ensure_default, head, joined, remember,
    rule_set,
};
use crate::access::{self, STAFF};
use crate::body::{self, JsonBody};
use crate::error::{ApiError, parse_cursor};
use crate::paging::{self, Order};
use crate::state::Grid;
use crate::write::{Answer, Applied, Change, Done, Tx, Write};

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi(
    paths(
        get_rule_set,
        list_versions,
        put_rule_set,
        evaluate,
        list_cases,
        close_case
    ),
    components(schemas(
        RuleSetView,
        EvaluateRequest,
        EvaluationView,
        FiringView,
        ClassView,
        CaseView,
        CloseCase,
        RuleOutcome,
        Classification
    ))
)]
pub struct Api;

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/grid/rules/{kind}")
            .route(web::get().to(get_rule_set))
            .route(web::put().to(put_rule_set)),
    )
    .service(
        web::resource("/api/v1/grid/rules/{kind}/versions").route(web::get().to(list_versions)),
    )
    .service(web::resource("/api/v1/grid/rules/{kind}/evaluate").route(web::post().to(evaluate)))
    .service(web::resource("/api/v1/grid/cases").route(web::get().to(list_cases)))
    .service(web::resource("/api/v1/grid/cases/{id}/close").route(web::post().to(close_case)));
}

// ---------------------------------------------------------------------------------------------
// Rule set routes

fn kind_of(path: &str) -> Result<Kind, ApiError> {
    Kind::parse(path).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no rule set {path:?}: there are collection and classification"
        ))
    })
}

/// Who may read rule sets: staff and departments (rules hold no personal data).
fn may_read_rules(principal: &Principal) -> Result<(), ApiError> {
    let mut roles = STAFF.to_vec();
    roles.push(Role::Department);
    principal.require_role(&roles)?;
    Ok(())
}

/// A stored version of a rule set.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleSetView {
    /// `collection` or `classification`.
    pub kind: String,
    pub version: i64,
    /// SHA-256 (hex) of the document.
    pub digest: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// The rule set document, as stored.
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
}

impl From<rule_set::Model> for RuleSetView {
    fn from(m: rule_set::Model) -> Self {
        RuleSetView {
            kind: m.kind,
            version: m.version,
            digest: m.digest,
            created_by: m.created_by,
            created_at: m.created_at,
            document: m.document,
        }
    }
}

/// The active rule set of a kind.
#[utoipa::path(
    get,
    path = "/api/v1/grid/rules/{kind}",
    params(("kind" = String, Path, description = "`collection` or `classification`")),
    responses(
        (status = 200, body = RuleSetView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such kind", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_rule_set(
    grid: web::Data<Grid>,
    principal: Principal,
    kind: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    may_read_rules(&principal)?;
    let kind = kind_of(&kind)?;
    let version = active(&grid.db, kind).await?.version;
    let row = rule_set::Entity::find_by_id((kind.as_str().to_owned(), version))
        .one(&grid.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no {} rule set", kind.as_str())))?;
    Ok(HttpResponse::Ok().json(RuleSetView::from(row)))
}

/// Every version of a rule set, newest (active) first.
#[utoipa::path(
    get,
    path = "/api/v1/grid/rules/{kind}/versions",
    params(("kind" = String, Path, description = "`collection` or `classification`")),
    responses(
        (status = 200, body = Vec<RuleSetView>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such kind", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn list_versions(
    grid: web::Data<Grid>,
    principal: Principal,
    kind: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    may_read_rules(&principal)?;
    let kind = kind_of(&kind)?;
    active(&grid.db, kind).await?;
    let rows = rule_set::Entity::find()
        .filter(rule_set::Column::Kind.eq(kind.as_str()))
        .order_by_desc(rule_set::Column::Version)
        .all(&grid.db)
        .await?;
    let views: Vec<RuleSetView> = rows.into_iter().map(RuleSetView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// The 422 for a rule set that does not validate: every error, machine-readable.
fn invalid_rule_set(errors: &[RuleSetError]) -> HttpResponse {
    Problem::new(
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-rule-set",
        "Invalid rule set",
    )
    .with_detail(format!("{} error(s): {}", errors.len(), joined(errors)))
    .with("errors", errors)
    .to_response()
}

/// Store a new version of a rule set (district officers and administrators). The document is
/// validated, its examples included; on any error nothing is stored and the answer lists every
/// error. Otherwise it becomes the active version at once, with an evidence record.
#[utoipa::path(
    put,
    path = "/api/v1/grid/rules/{kind}",
    params(("kind" = String, Path, description = "`collection` or `classification`")),
    request_body(content = Object, description = "A rule set document (see zw-rules)"),
    responses(
        (status = 201, description = "Stored as the next version, now active", body = RuleSetView),
        (status = 400, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such kind", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another version was stored at the same moment", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid-rule-set`: `errors` lists every problem (code, at, message)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn put_rule_set(
    w: Write,
    kind: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    w.principal
        .require_role(&[Role::DistrictOfficer, Role::Admin])?;
    let kind = kind_of(&kind)?;
    let document: serde_json::Value = body::parse(&body, "a rule set")?;
    let said = document
        .get("kind")
        .and_then(|k| k.as_str())
        .map(str::to_owned);
    let set = match RuleSet::from_value(document) {
        Ok(set) if set.kind() != kind => {
            return Ok(invalid_rule_set(&[RuleSetError::new(
                ErrorCode::Malformed,
                "/kind",
                format!(
                    "this is the {} rule set; the document is a {} set",
                    kind.as_str(),
                    said.unwrap_or_default()
                ),
            )]));
        }
        Ok(set) => set,
        Err(errors) => return Ok(invalid_rule_set(&errors)),
    };
    let document = set.document().clone();
    let digest = digest_of(&document);

    let row = w
        .run(async |tx| {
            // The defaults are version 1 even when an operator replaces them before their first
            // use.
            ensure_default(tx.txn, kind).await?;
            let version = head(tx.txn, kind).await?.map_or(0, |(v, _)| v) + 1;
            let row = rule_set::ActiveModel {
                kind: Set(kind.as_str().into()),
                version: Set(version),
                document: Set(document),
                digest: Set(digest.clone()),
                created_by: Set(tx.principal.subject.clone()),
                created_at: Set(Utc::now()),
            }
            .insert(tx.txn)
            .await
            .map_err(|e| match e.sql_err() {
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => ApiError::conflict(
                    "rule-set-version-conflict",
                    "another version of this rule set was stored at the same moment; read it and retry",
                ),
                _ => e.into(),
            })?;
            zw_evidence::append(
                tx.txn,
                &tx.principal.subject,
                "rules.updated",
                &format!("rules/{}", kind.as_str()),
                &serde_json::json!({
                    "kind": kind.as_str(),
                    "version": version,
                    "digest": digest,
                    "source": tx.source,
                }),
            )
            .await?;
            Ok(row)
        })
        .await?;
    remember(digest, Arc::new(set));
    Ok(HttpResponse::Created().json(RuleSetView::from(row)))
}

/// A dry run: a change and its facts.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    /// The change (`moved_in`, `rented`, …); required for the collection rules.
    #[schema(example = "moved_in")]
    pub change: Option<String>,
    /// Flat facts with dotted keys.
    #[schema(value_type = Object, example = json!({"person.age": 80}))]
    pub facts: serde_json::Value,
}

/// A rule that would fire, and its action as written in the rule set.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FiringView {
    pub rule_id: String,
    /// e.g. `{"case": {"type": "elderly_allowance", "recipient": "civil_affairs"}}`.
    #[schema(value_type = Object)]
    pub action: serde_json::Value,
}

/// The class a house with these facts would get.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClassView {
    pub level: String,
    pub colour: String,
    /// The rule that decided; absent when the default did.
    pub rule_id: Option<String>,
}

/// What the active rule set would do; nothing is stored.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvaluationView {
    pub kind: String,
    pub version: i64,
    /// Collection: the rules that would fire (an open case for the same subject would still
    /// keep a real change from raising another).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firings: Option<Vec<FiringView>>,
    /// Classification: the class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<ClassView>,
    /// Facts given that no rule can read (typos, or facts for later rules).
    pub unknown_facts: Vec<String>,
}

/// What the active rule set of a kind would do with a change and its facts (staff).
#[utoipa::path(
    post,
    path = "/api/v1/grid/rules/{kind}/evaluate",
    params(("kind" = String, Path, description = "`collection` or `classification`")),
    request_body = EvaluateRequest,
    responses(
        (status = 200, body = EvaluationView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such kind", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn evaluate(
    grid: web::Data<Grid>,
    principal: Principal,
    kind: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    principal.require_role(&STAFF)?;
    let kind = kind_of(&kind)?;
    let input: EvaluateRequest = body::parse(&body, "facts (an object) and change")?;
    let Some(facts) = input.facts.as_object() else {
        return Err(ApiError::invalid("facts", "must be an object"));
    };
    let unknown_facts: Vec<String> = facts
        .keys()
        .filter(|k| !zw_rules::is_known_fact(k))
        .cloned()
        .collect();
    let active = active(&grid.db, kind).await?;
    let (firings, class) = match kind {
        Kind::Collection => {
            let change = input
                .change
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| ApiError::invalid("change", "required for the collection rules"))?;
            let firings = active
                .set
                .evaluate(change, &input.facts)
                .into_iter()
                .map(|f| FiringView {
                    rule_id: f.rule_id,
                    action: serde_json::to_value(&f.action).unwrap_or_default(),
                })
                .collect();
            (Some(firings), None)
        }
        Kind::Classification => {
            let class = active.set.classify(&input.facts).map(|c| ClassView {
                level: c.level,
                colour: c.colour.as_str().into(),
                rule_id: active.set.deciding_rule(&input.facts).map(|r| r.id.clone()),
            });
            (None, class)
        }
    };
    Ok(HttpResponse::Ok().json(EvaluationView {
        kind: kind.as_str().into(),
        version: active.version,
        firings,
        class,
        unknown_facts,
    }))
}

// ---------------------------------------------------------------------------------------------
// Case routes

/// A case, reminder or verification task raised by a rule.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseView {
    pub id: Uuid,
    pub rule_id: String,
    pub rule_version: i64,
    /// e.g. `elderly_allowance`, `declare_tenants`, `house_over_limit`.
    pub case_type: String,
    /// `case`, `reminder` or `verification_task`.
    pub action: String,
    /// A department (`civil_affairs`), a party (`landlord`) or `grid_worker`.
    pub recipient: String,
    /// `house`, `person` or `entity`.
    pub subject_kind: String,
    /// House code, person id or credit code.
    pub subject_key: String,
    pub grid_code: String,
    /// `open` or `closed`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    pub note: Option<String>,
}

impl From<case::Model> for CaseView {
    fn from(m: case::Model) -> Self {
        CaseView {
            id: m.id,
            rule_id: m.rule_id,
            rule_version: m.rule_version,
            case_type: m.case_type,
            action: m.action,
            recipient: m.recipient,
            subject_kind: m.subject_kind,
            subject_key: m.subject_key,
            grid_code: m.grid_code,
            status: m.status,
            created_at: m.created_at,
            closed_at: m.closed_at,
            closed_by: m.closed_by,
            note: m.note,
        }
    }
}

/// Filter of the case list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseFilter {
    /// Only cases for this recipient (`civil_affairs`, `landlord`, `grid_worker`, …).
    pub recipient: Option<String>,
    /// `open` (default), `closed` or `all`.
    pub status: Option<String>,
}

/// Cases the caller may see, newest first: staff those in their scope; a department those in
/// its scope for the recipients named in its data sets (`cases:<recipient>`), and 403 for any
/// other recipient.
#[utoipa::path(
    get,
    path = "/api/v1/grid/cases",
    params(CaseFilter, PageQuery),
    responses(
        (status = 200, body = Page<CaseView>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn list_cases(
    grid: web::Data<Grid>,
    principal: Principal,
    filter: web::Query<CaseFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit().map_err(ApiError::InvalidInput)?;
    let cursor = parse_cursor(page.cursor.as_deref())?;
    let status = paging::open_or_closed(filter.status.as_deref())?;
    let recipient = filter.recipient.as_deref().map(str::trim);
    let mut cond = access::cases_visible(&principal, recipient)?;
    if let Some(s) = status {
        cond = cond.add(case::Column::Status.eq(s));
    }
    let q = case::Entity::find().filter(cond);
    let rows = paging::rows(
        &grid.db,
        q,
        case::Column::Id,
        Order::Descending,
        cursor,
        limit,
    )
    .await?;
    let views: Vec<CaseView> = rows.into_iter().map(CaseView::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |v| v.id.to_string())))
}

/// Closing a case (the body may be left out).
#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseCase {
    /// What was done (at most 500 characters).
    #[schema(example = "allowance granted")]
    pub note: Option<String>,
}

/// Close a case: the recipient department (data set `cases:<recipient>`) or staff, each within
/// their scope.
#[utoipa::path(
    post,
    path = "/api/v1/grid/cases/{id}/close",
    params(("id" = Uuid, Path, description = "Case id")),
    request_body = CloseCase,
    responses(
        (status = 200, body = CaseView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither staff nor a department", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case that you may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`case-closed`: already closed", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn close_case(w: Write, id: web::Path<String>, body: JsonBody) -> Result<Answer, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|e| ApiError::invalid("id", e))?;
    let input: CloseCase = body::parse_or_default(&body, "note")?;
    let note = input
        .note
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return Err(ApiError::invalid("note", "at most 500 characters"));
    }

    Answer::ok(w.change(&id, None, Closing { note }).await?)
}

/// Closing a case, checked.
struct Closing {
    note: Option<String>,
}

#[async_trait::async_trait]
impl Change<case::Model> for Closing {
    type Output = CaseView;

    fn check(&self, row: &case::Model) -> Result<(), ApiError> {
        if row.status != "open" {
            return Err(ApiError::conflict(
                "case-closed",
                format!("case {} is already closed", row.id),
            ));
        }
        Ok(())
    }

    async fn apply(self, tx: &Tx<'_>, row: case::Model) -> Done<case::Model, Self::Output> {
        let id = row.id;
        let mut active: case::ActiveModel = row.into();
        active.status = Set("closed".into());
        active.open_key = Set(None);
        active.closed_at = Set(Some(Utc::now()));
        active.closed_by = Set(Some(tx.principal.subject.clone()));
        active.note = Set(self.note.clone());
        let row = active.update(tx.txn).await?;
        zw_evidence::append(
            tx.txn,
            &tx.principal.subject,
            "case.closed",
            &format!("case/{id}"),
            &serde_json::json!({
                "rule_id": row.rule_id,
                "case_type": row.case_type,
                "recipient": row.recipient,
                "note": self.note,
                "source": tx.source,
            }),
        )
        .await?;
        Ok(Applied {
            output: CaseView::from(row.clone()),
            record: row,
        })
    }
}
