//! Rules embedded in collection (智能嵌入): rule sets as data, versioned, evaluated when a record
//! is collected; the cases they raise.
//!
//! Callers in the other modules use two functions, inside the transaction of their change:
//! - [`on_change`] after a step in a record's life, with the facts the rules may look at;
//! - [`classify`] to give a house its class level and colour (分类分级分色).
//!
//! Facts are a flat JSON object with dotted keys, e.g. `{"house.status": "rented",
//! "house.previous_status": "in_use", "house.residents": 3, "house.registered_size": 4,
//! "person.age": 80, "house.open_incidents": 0, "house.pending_declarations": 1,
//! "house.legal": true, "house.category": "residential"}`; the names rules may use are
//! [`zw_rules::KNOWN_FACTS`]. `house.residents` is counted *after* the change (after a move-in,
//! the newcomer is included), and a change into a status passes `house.previous_status`.
//!
//! Rule sets (one `collection`, one `classification`) are stored versioned in `rule_sets`; the
//! highest version is active. The first use stores the defaults of `services/grid/rules/` as
//! version 1. An operator replaces a set with `PUT /api/v1/grid/rules/{kind}`: validated with
//! its examples, stored as the next version with an evidence record, and in force at once on
//! every replica, since each use reads the active version's digest (one indexed row) and keeps
//! parsed sets in memory by digest.
//!
//! Cases (`cases`): what collection rules raise — a case for a department, a reminder for a
//! party such as the landlord, a verification task for the grid worker. One rule raises at most
//! one open case per subject (unique `open_key`), so "turns 80" raises one case, not one per
//! collection. A department sees the cases of the recipients named in its data sets as
//! `cases:<recipient>` (e.g. `cases:civil_affairs`).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use zw_platform::db::BeginWrite;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::OpenApi;
use uuid::Uuid;
use zw_auth::{Principal, Role};
use zw_contracts::Event;
use zw_contracts::events::CaseRaised;
use zw_domain::JurisdictionCode;
use zw_platform::Problem;
use zw_platform::page::{Page, PageQuery};
use zw_rules::{ErrorCode, Kind, RuleSet, RuleSetError};

use crate::declarations::{Grid, STAFF};
use crate::error::ApiError;
use crate::ledger::{Source, SubjectKind};

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

/// The rule sets shipped with the release, stored as version 1 on first use.
const DEFAULT_COLLECTION: &str = include_str!("../rules/collection.json");
const DEFAULT_CLASSIFICATION: &str = include_str!("../rules/classification.json");

fn default_document(kind: Kind) -> &'static str {
    match kind {
        Kind::Collection => DEFAULT_COLLECTION,
        Kind::Classification => DEFAULT_CLASSIFICATION,
    }
}

/// A change the collection rules look at.
#[derive(Debug, Clone)]
pub struct Trigger<'a> {
    pub kind: SubjectKind,
    /// House code, person id (UUID) or credit code.
    pub key: &'a str,
    pub grid: &'a JurisdictionCode,
    /// The step, e.g. `moved_in`, `rented`.
    pub change: &'a str,
    /// Flat facts with dotted keys (see the module documentation).
    pub facts: serde_json::Value,
}

/// What a rule did in response to a change.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleOutcome {
    pub rule_id: String,
    pub rule_version: i64,
    /// `case`, `reminder` or `verification_task`.
    pub action: String,
    /// The case, reminder or task it created.
    pub id: uuid::Uuid,
}

/// A house's class (分类分级分色) under the current classification rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Classification {
    /// e.g. `normal`, `attention`, `key`.
    pub level: String,
    /// `green`, `yellow` or `red`.
    pub colour: String,
    /// The version of the rule set that decided it.
    pub rules_version: i64,
}

// ---------------------------------------------------------------------------------------------
// Storage and the active set

/// The active rule set of a kind.
#[derive(Debug, Clone)]
pub struct Active {
    pub version: i64,
    pub set: Arc<RuleSet>,
}

/// Parsed rule sets by document digest. Keyed by content, not version: one process may serve
/// several databases (tests do), and a digest never means two documents.
static PARSED: LazyLock<Mutex<HashMap<String, Arc<RuleSet>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// More than this many parsed sets (only after many PUTs): start again.
const PARSED_MAX: usize = 64;

fn digest_of(document: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(document.to_string().as_bytes()))
}

fn cached(digest: &str) -> Option<Arc<RuleSet>> {
    PARSED
        .lock()
        .map(|m| m.get(digest).cloned())
        .unwrap_or(None)
}

fn remember(digest: String, set: Arc<RuleSet>) {
    if let Ok(mut m) = PARSED.lock() {
        if m.len() >= PARSED_MAX {
            m.clear();
        }
        m.insert(digest, set);
    }
}

/// Store the default set of `kind` as version 1 unless a version exists (a concurrent first use
/// inserts nothing).
async fn ensure_default(conn: &impl ConnectionTrait, kind: Kind) -> Result<(), ApiError> {
    let set = RuleSet::parse(default_document(kind)).map_err(|errors| {
        ApiError::Unexpected(anyhow::anyhow!(
            "the default {} rule set is invalid: {}",
            kind.as_str(),
            joined(&errors)
        ))
    })?;
    let document = set.document().clone();
    rule_set::Entity::insert(rule_set::ActiveModel {
        kind: Set(kind.as_str().into()),
        version: Set(1),
        digest: Set(digest_of(&document)),
        document: Set(document),
        created_by: Set("system:defaults".into()),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([rule_set::Column::Kind, rule_set::Column::Version])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The active version's number and digest.
async fn head(conn: &impl ConnectionTrait, kind: Kind) -> Result<Option<(i64, String)>, ApiError> {
    Ok(rule_set::Entity::find()
        .select_only()
        .column(rule_set::Column::Version)
        .column(rule_set::Column::Digest)
        .filter(rule_set::Column::Kind.eq(kind.as_str()))
        .order_by_desc(rule_set::Column::Version)
        .limit(1)
        .into_tuple::<(i64, String)>()
        .one(conn)
        .await?)
}

/// The active rule set of `kind` (the defaults stored first if there is none).
pub async fn active(conn: &impl ConnectionTrait, kind: Kind) -> Result<Active, ApiError> {
    let (version, digest) = match head(conn, kind).await? {
        Some(h) => h,
        None => {
            ensure_default(conn, kind).await?;
            head(conn, kind).await?.ok_or_else(|| {
                ApiError::Unexpected(anyhow::anyhow!(
                    "no {} rule set after storing the default",
                    kind.as_str()
                ))
            })?
        }
    };
    if let Some(set) = cached(&digest) {
        return Ok(Active { version, set });
    }
    let row = rule_set::Entity::find_by_id((kind.as_str().to_owned(), version))
        .one(conn)
        .await?
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("rule set version vanished")))?;
    let set = RuleSet::from_value(row.document).map_err(|errors| {
        ApiError::Unexpected(anyhow::anyhow!(
            "stored {} rule set version {version} is invalid: {}",
            kind.as_str(),
            joined(&errors)
        ))
    })?;
    let set = Arc::new(set);
    remember(digest, set.clone());
    Ok(Active { version, set })
}

fn joined(errors: &[RuleSetError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

// ---------------------------------------------------------------------------------------------
// What the other modules call

/// Evaluate the collection rules on `trigger` and carry out what fires, inside `txn`: a row in
/// `cases`, its evidence record (`case.raised`) and a `CaseRaised` event for each. Returns what
/// was created; a rule whose case for this subject is still open creates nothing (and is not
/// in the result).
pub async fn on_change(
    txn: &DatabaseTransaction,
    source: &Source,
    trigger: Trigger<'_>,
) -> Result<Vec<RuleOutcome>, ApiError> {
    let active = active(txn, Kind::Collection).await?;
    carry_out(txn, source, &active, trigger).await
}

/// [`on_change`] with the collection rule set already at hand.
pub async fn carry_out(
    txn: &DatabaseTransaction,
    source: &Source,
    active: &Active,
    trigger: Trigger<'_>,
) -> Result<Vec<RuleOutcome>, ApiError> {
    carry_out_all(txn, source, active, std::slice::from_ref(&trigger)).await
}

/// [`carry_out`] for many changes at once (a bulk import's chunk, with one version of the
/// rules): the cases one by one (each may already be open), then the evidence of all of them in
/// one append, then their events.
pub async fn carry_out_all(
    txn: &DatabaseTransaction,
    source: &Source,
    active: &Active,
    triggers: &[Trigger<'_>],
) -> Result<Vec<RuleOutcome>, ApiError> {
    let mut outcomes = Vec::new();
    let mut evidence = Vec::new();
    let mut events = Vec::new();
    for trigger in triggers {
        for firing in active.set.evaluate(trigger.change, &trigger.facts) {
            let action = &firing.action;
            let id = Uuid::now_v7();
            let subject_kind = trigger.kind.as_str();
            let open_key = format!(
                "{}|{}|{}|{}",
                firing.rule_id,
                action.case_type(),
                subject_kind,
                trigger.key
            );
            let inserted = case::Entity::insert(case::ActiveModel {
                id: Set(id),
                rule_id: Set(firing.rule_id.clone()),
                rule_version: Set(active.version),
                case_type: Set(action.case_type().into()),
                action: Set(action.kind().into()),
                recipient: Set(action.recipient().into()),
                subject_kind: Set(subject_kind.into()),
                subject_key: Set(trigger.key.into()),
                grid_code: Set(trigger.grid.to_string()),
                status: Set("open".into()),
                open_key: Set(Some(open_key)),
                created_at: Set(Utc::now()),
                closed_at: Set(None),
                closed_by: Set(None),
                note: Set(None),
            })
            .on_conflict(
                OnConflict::column(case::Column::OpenKey)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
            if inserted == 0 {
                continue;
            }
            evidence.push((
                format!("case/{id}"),
                serde_json::json!({
                    "rule_id": firing.rule_id,
                    "rule_version": active.version,
                    "action": action.kind(),
                    "case_type": action.case_type(),
                    "recipient": action.recipient(),
                    "subject": format!("{subject_kind}/{}", trigger.key),
                    "grid_code": trigger.grid.to_string(),
                    "change": trigger.change,
                    "source": source,
                }),
            ));
            let event = Event::CaseRaised(CaseRaised {
                case_id: id,
                rule_id: firing.rule_id.clone(),
                rule_version: active.version,
                case_type: action.case_type().into(),
                recipient: action.recipient().into(),
                subject_kind: subject_kind.into(),
                subject_key: trigger.key.into(),
            });
            events.push((event, trigger.grid));
            outcomes.push(RuleOutcome {
                rule_id: firing.rule_id,
                rule_version: active.version,
                action: action.kind().into(),
                id,
            });
        }
    }
    let entries: Vec<zw_evidence::NewEvidence> = evidence
        .iter()
        .map(|(object, payload)| zw_evidence::NewEvidence {
            actor: &source.actor,
            action: "case.raised",
            object,
            payload,
        })
        .collect();
    zw_evidence::append_many(txn, &entries).await?;
    for (event, grid) in &events {
        crate::ledger::enqueue(txn, event, grid, source).await?;
    }
    Ok(outcomes)
}

/// Classify a house from its facts with the active classification set (the default stored
/// first if there is none); `None` only if the active set cannot classify.
pub async fn classify(
    txn: &impl sea_orm::ConnectionTrait,
    facts: &serde_json::Value,
) -> Result<Option<Classification>, ApiError> {
    Ok(active(txn, Kind::Classification)
        .await?
        .classification(facts))
}

impl Active {
    /// The class this (classification) rule set gives a house with `facts`.
    pub fn classification(&self, facts: &serde_json::Value) -> Option<Classification> {
        self.set.classify(facts).map(|c| Classification {
            level: c.level,
            colour: c.colour.as_str().into(),
            rules_version: self.version,
        })
    }
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
        (status = 422, description = "`invalid-rule-set`: `errors` lists every problem (code, at, message)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn put_rule_set(
    grid: web::Data<Grid>,
    principal: Principal,
    kind: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    principal.require_role(&[Role::DistrictOfficer, Role::Admin])?;
    let kind = kind_of(&kind)?;
    let document: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::InvalidInput(format!("the body must be a JSON rule set: {e}")))?;
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

    let txn = grid.db.begin_write().await?;
    // The defaults are version 1 even when an operator replaces them before their first use.
    ensure_default(&txn, kind).await?;
    let version = head(&txn, kind).await?.map_or(0, |(v, _)| v) + 1;
    let row = rule_set::ActiveModel {
        kind: Set(kind.as_str().into()),
        version: Set(version),
        document: Set(document),
        digest: Set(digest.clone()),
        created_by: Set(principal.subject.clone()),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => ApiError::conflict(
            "rule-set-version-conflict",
            "another version of this rule set was stored at the same moment; read it and retry",
        ),
        _ => e.into(),
    })?;
    zw_evidence::append(
        &txn,
        &principal.subject,
        "rules.updated",
        &format!("rules/{}", kind.as_str()),
        &serde_json::json!({
            "kind": kind.as_str(),
            "version": version,
            "digest": digest,
            "source": Source::of(&principal),
        }),
    )
    .await?;
    txn.commit().await?;
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
    ),
    security(("bearer" = []))
)]
async fn evaluate(
    grid: web::Data<Grid>,
    principal: Principal,
    kind: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    principal.require_role(&STAFF)?;
    let kind = kind_of(&kind)?;
    let input: EvaluateRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::InvalidInput(format!(
            "the body must be JSON with facts (an object) and change: {e}"
        ))
    })?;
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

/// The recipients whose cases a department is entitled to (`cases:<recipient>` data sets).
fn entitled_recipients(principal: &Principal) -> Vec<String> {
    principal
        .datasets
        .iter()
        .filter_map(|d| d.strip_prefix("cases:"))
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Filter of the case list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
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
    let cursor = page
        .cursor
        .as_deref()
        .map(|c| {
            Uuid::parse_str(c)
                .map_err(|_| ApiError::InvalidInput("cursor is not one this API returned".into()))
        })
        .transpose()?;
    let status = match filter.status.as_deref() {
        None | Some("open") => Some("open"),
        Some("closed") => Some("closed"),
        Some("all") => None,
        Some(other) => {
            return Err(ApiError::InvalidInput(format!(
                "status must be open, closed or all, not {other:?}"
            )));
        }
    };
    let recipient = filter.recipient.as_deref().map(str::trim);
    let mut cond =
        Condition::all().add(case::Column::GridCode.starts_with(principal.scope.as_str()));
    if principal.has_any_role(&STAFF) {
        if let Some(r) = recipient {
            cond = cond.add(case::Column::Recipient.eq(r));
        }
    } else if principal.has_role(Role::Department) {
        let entitled = entitled_recipients(&principal);
        match recipient {
            Some(r) if entitled.iter().any(|e| e == r) => {
                cond = cond.add(case::Column::Recipient.eq(r));
            }
            Some(r) => {
                return Err(zw_auth::AuthError::NotEntitled(format!("cases:{r}")).into());
            }
            None if entitled.is_empty() => {
                return Err(zw_auth::AuthError::NotEntitled("cases:<recipient>".into()).into());
            }
            None => cond = cond.add(case::Column::Recipient.is_in(entitled)),
        }
    } else {
        let mut roles = STAFF.to_vec();
        roles.push(Role::Department);
        principal.require_role(&roles)?;
    }
    if let Some(s) = status {
        cond = cond.add(case::Column::Status.eq(s));
    }
    if let Some(c) = cursor {
        cond = cond.add(case::Column::Id.lt(c));
    }
    let rows = case::Entity::find()
        .filter(cond)
        .order_by_desc(case::Column::Id)
        .limit(limit + 1)
        .all(&grid.db)
        .await?;
    let views: Vec<CaseView> = rows.into_iter().map(CaseView::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |v| v.id.to_string())))
}

/// Closing a case.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
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
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`case-closed`: already closed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn close_case(
    grid: web::Data<Grid>,
    principal: Principal,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|e| ApiError::invalid("id", e))?;
    let input: CloseCase = if body.is_empty() {
        CloseCase { note: None }
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::InvalidInput(format!("the body must be JSON with note: {e}")))?
    };
    let note = input
        .note
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return Err(ApiError::invalid("note", "at most 500 characters"));
    }

    let txn = grid.db.begin_write().await?;
    crate::locks::lock_row(&txn, "cases", "id", id).await?;
    let row = case::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no case {id}")))?;
    let grid_code = JurisdictionCode::parse(&row.grid_code)
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored grid code: {e}")))?;
    if principal.has_any_role(&STAFF) {
        principal.authorize(&grid_code)?;
    } else if principal.has_role(Role::Department) {
        principal.authorize(&grid_code)?;
        principal.require_dataset(&format!("cases:{}", row.recipient))?;
    } else {
        let mut roles = STAFF.to_vec();
        roles.push(Role::Department);
        principal.require_role(&roles)?;
    }
    if row.status != "open" {
        return Err(ApiError::conflict(
            "case-closed",
            format!("case {id} is already closed"),
        ));
    }
    let now = Utc::now();
    let mut active: case::ActiveModel = row.into();
    active.status = Set("closed".into());
    active.open_key = Set(None);
    active.closed_at = Set(Some(now));
    active.closed_by = Set(Some(principal.subject.clone()));
    active.note = Set(note.clone());
    let row = active.update(&txn).await?;
    zw_evidence::append(
        &txn,
        &principal.subject,
        "case.closed",
        &format!("case/{id}"),
        &serde_json::json!({
            "rule_id": row.rule_id,
            "case_type": row.case_type,
            "recipient": row.recipient,
            "note": note,
            "source": Source::of(&principal),
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(CaseView::from(row)))
}

// ---------------------------------------------------------------------------------------------
// Tables

pub mod rule_set {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "rule_sets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        pub document: Json,
        pub digest: String,
        pub created_by: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod case {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "cases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub rule_id: String,
        pub rule_version: i64,
        pub case_type: String,
        pub action: String,
        pub recipient: String,
        pub subject_kind: String,
        pub subject_key: String,
        pub grid_code: String,
        pub status: String,
        pub open_key: Option<String>,
        pub created_at: DateTimeUtc,
        pub closed_at: Option<DateTimeUtc>,
        pub closed_by: Option<String>,
        pub note: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rule_sets_are_valid_and_pass_their_examples() {
        for kind in Kind::ALL {
            let set = RuleSet::parse(default_document(kind))
                .unwrap_or_else(|e| panic!("{}: {}", kind.as_str(), joined(&e)));
            assert_eq!(set.kind(), kind);
            assert!(!set.examples().is_empty());
        }
    }

    #[test]
    fn departments_are_entitled_to_the_recipients_of_their_cases_data_sets() {
        let p = Principal {
            subject: "d".into(),
            roles: vec![Role::Department],
            scope: JurisdictionCode::parse("440304").expect("code"),
            datasets: vec![
                "cases:civil_affairs".into(),
                "police.cases".into(),
                "cases:".into(),
            ],
            token_id: "t".into(),
            name: None,
            id_number: None,
        };
        assert_eq!(entitled_recipients(&p), ["civil_affairs"]);
    }
}
