//! Self-declarations of residence and the grid worker's verification tasks, each state change
//! through the one write operation ([`crate::write`]): the declaration, the resident or the
//! task, its evidence record and its event in one transaction.
//!
//! Who declares whom:
//! - A citizen's account is bound to his own real-name ID number (the token's `id_number`,
//!   checked at registration). Without one he declares nobody (403 `real-name-required`).
//! - He declares himself: the register decides at once, as for anyone.
//! - He declares a member of his household: someone the district's historical register records
//!   at the same registered house as himself (the one thing `PopulationLookup` tells of a
//!   household). The register decides as for himself.
//! - Anyone else (his tenant, a neighbour): received and held for the grid worker
//!   (`not_household`); the register does not decide it.
//! - A grid worker records a declaration at the door of a house of his grid, as before.
//!
//! What a citizen learns: nothing from the register that he did not type. His reply and his
//! reads never carry the register's name; the reasons a declaration waits are shown to him for
//! his own declaration only; and a declaration of anyone but himself never answers "already
//! living there" — it is received (`pending`) like any other. Staff see names and reasons.
//!
//! A person whose record another grid keeps moves in through a declaration only if it is his own
//! (or when the one deciding it may move him from there, see [`crate::access`]): any other
//! declaration of him waits (`recorded_elsewhere`), and its task cannot be confirmed by the
//! worker of the destination alone (403 `source-out-of-scope`).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use uuid::Uuid;
use zw_auth::{Principal, Role};
use zw_contracts::events::{DeclarationStatusChanged, DeclarationSubmitted};
use zw_contracts::rpc::{PopulationLookup, PopulationLookupRequest};
use zw_contracts::{Actor, DeclarationStatus, Envelope, Event};
use zw_domain::{HouseCode, IdNumber, JurisdictionCode};
use zw_platform::Problem;
use zw_platform::page::{Page, PageQuery};

use crate::access::{self, only_citizen, stored_grid};
use crate::body::{self, JsonBody};
use crate::decision::{DeclaredAs, Facts, PendingReason, RegisterAnswer, decide};
use crate::error::{ApiError, parse_cursor};
use crate::idempotency::IdempotencyKey;
use crate::ledger::Source;
use crate::locks::lock_row;
use crate::model::{declaration, house, resident, task};
use crate::paging::{self, Order};
use crate::residence::{self, Arrival, Mover, house_in_use};
use crate::state::Grid;
use crate::write::{Answer, Applied, Change, Creation, Done, Tx, Write};

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi(
    paths(
        submit_declaration,
        get_declaration,
        list_declarations,
        declaration_proof,
        list_tasks,
        decide_task
    ),
    components(schemas(NewDeclaration, DeclarationView, TaskView, TaskDecision, Problem))
)]
pub struct Api;

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/grid/declarations")
            .route(web::post().to(submit_declaration))
            .route(web::get().to(list_declarations)),
    )
    .service(web::resource("/api/v1/grid/declarations/{id}").route(web::get().to(get_declaration)))
    .service(
        web::resource("/api/v1/grid/declarations/{id}/proof")
            .route(web::get().to(declaration_proof)),
    )
    .service(web::resource("/api/v1/grid/tasks").route(web::get().to(list_tasks)))
    .service(web::resource("/api/v1/grid/tasks/{id}/decision").route(web::post().to(decide_task)));
}

// ---------------------------------------------------------------------------------------------
// Views

/// A declaration as its callers see it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeclarationView {
    pub id: Uuid,
    /// Masked (`440304********123X`) unless the caller is the grid worker of that grid.
    pub id_number: String,
    /// Pre-filled from the historical register when it knows the person: for staff only, never
    /// for a citizen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub house_code: String,
    pub grid_code: String,
    /// `pending` (received, waiting for the grid worker), `accepted` or `rejected`.
    pub status: DeclarationStatus,
    /// Why it waits for verification (empty unless pending or decided after a wait). A citizen
    /// sees them for his own declaration only.
    pub reasons: Vec<PendingReason>,
    pub created_at: chrono::DateTime<Utc>,
    pub decided_at: Option<chrono::DateTime<Utc>>,
    /// The grid worker's reason for a rejection.
    pub decision_reason: Option<String>,
    pub version: i64,
}

/// A verification task as the grid worker sees it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskView {
    pub id: Uuid,
    pub grid_code: String,
    /// `open` or `closed`.
    pub status: String,
    pub reasons: Vec<PendingReason>,
    pub created_at: chrono::DateTime<Utc>,
    /// `confirmed` or `rejected` once closed.
    pub outcome: Option<String>,
    pub declaration: DeclarationView,
}

fn reasons_of(json: &serde_json::Value) -> Vec<PendingReason> {
    serde_json::from_value(json.clone()).unwrap_or_default()
}

fn status_of(s: &str) -> DeclarationStatus {
    DeclarationStatus::parse(s).unwrap_or(DeclarationStatus::Pending)
}

/// Only the grid worker of the declaration's grid needs the full ID number (he checks papers
/// at the door); everyone else sees it masked.
fn shown_id(principal: &Principal, grid: &str, id_number: &str) -> String {
    let full = principal.has_role(Role::GridWorker)
        && JurisdictionCode::parse(grid).is_ok_and(|g| principal.can_access(&g));
    match IdNumber::parse(id_number) {
        Ok(id) if !full => id.masked(),
        _ => id_number.to_owned(),
    }
}

/// `m` as `principal` may see it (see the module documentation for what a citizen sees).
pub fn view(principal: &Principal, m: &declaration::Model) -> DeclarationView {
    let citizen = only_citizen(principal);
    let own = DeclaredAs::parse(&m.declared_as) == DeclaredAs::Himself;
    DeclarationView {
        id: m.id,
        id_number: shown_id(principal, &m.grid_code, &m.id_number),
        name: if citizen { None } else { m.name.clone() },
        house_code: m.house_code.clone(),
        grid_code: m.grid_code.clone(),
        status: status_of(&m.status),
        reasons: if citizen && !own {
            Vec::new()
        } else {
            reasons_of(&m.reasons)
        },
        created_at: m.created_at,
        decided_at: m.decided_at,
        decision_reason: m.decision_reason.clone(),
        version: m.version,
    }
}

fn task_view(principal: &Principal, t: &task::Model, d: &declaration::Model) -> TaskView {
    TaskView {
        id: t.id,
        grid_code: t.grid_code.clone(),
        status: t.status.clone(),
        reasons: reasons_of(&t.reasons),
        created_at: t.created_at,
        outcome: t.outcome.clone(),
        declaration: view(principal, d),
    }
}

fn actor(principal: &Principal) -> Actor {
    Actor {
        id: principal.subject.clone(),
        roles: principal.roles.iter().map(|r| r.to_string()).collect(),
    }
}

/// Put `event` in the outbox of `tx`, in `grid`, as `principal`'s.
async fn enqueue(tx: &Tx<'_>, event: &Event, grid: JurisdictionCode) -> Result<(), ApiError> {
    let envelope = Envelope::new(event, grid, actor(tx.principal));
    zw_bus::outbox::enqueue(
        tx.txn,
        &envelope,
        &zw_platform::telemetry::current_trace_headers(),
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Submitting

/// A self-declaration of residence: the two fields a citizen types (the house code comes from
/// the house's QR code).
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeclaration {
    /// Resident ID number (GB 11643, 18 characters).
    #[schema(example = "11010519491231002X")]
    pub id_number: String,
    /// The house code (20 digits) from the house's QR code.
    #[schema(example = "44030400100100100011")]
    pub house_code: String,
}

/// Whom `principal` may declare as `id_number`, before anything is looked up: `None` while a
/// citizen's other declaration waits for the register to say whether it is his household.
fn declarant(principal: &Principal, id_number: &IdNumber) -> Result<Option<DeclaredAs>, ApiError> {
    if only_citizen(principal) {
        return match &principal.id_number {
            None => Err(ApiError::forbidden(
                "real-name-required",
                "your account has no real-name ID number: register it with your ID card, then \
                 declare yourself and your household",
            )),
            Some(own) if own == id_number => Ok(Some(DeclaredAs::Himself)),
            Some(_) => Ok(None),
        };
    }
    principal.require_role(&[Role::Citizen, Role::GridWorker])?;
    if principal.has_role(Role::GridWorker) {
        Ok(Some(DeclaredAs::Staff))
    } else {
        Ok(None)
    }
}

/// What the register says of `id_number`, and the name it knows him by. Asked before the
/// transaction: never hold a transaction over the network.
async fn ask_register(grid: &Grid, id_number: &IdNumber) -> (RegisterAnswer, Option<String>) {
    let request = PopulationLookupRequest {
        id_number: id_number.to_string(),
    };
    match grid.bus.request::<PopulationLookup>(&request).await {
        Ok(reply) => match reply.record {
            Some(r) => (
                RegisterAnswer::Found {
                    registered_house: r.registered_house_code,
                },
                Some(r.name),
            ),
            None => (RegisterAnswer::NotFound, None),
        },
        Err(e) => {
            tracing::warn!(error = %e, "population register unavailable; the declaration waits for verification");
            (RegisterAnswer::Unavailable, None)
        }
    }
}

/// A declaration checked and looked up, ready to be written.
struct Submission {
    id_number: IdNumber,
    house: house::Model,
    grid: JurisdictionCode,
    district: JurisdictionCode,
    declared_as: DeclaredAs,
    register: RegisterAnswer,
    name: Option<String>,
    recorded_elsewhere: bool,
}

#[async_trait::async_trait]
impl Creation for Submission {
    type Record = declaration::Model;
    type Output = DeclarationView;

    /// A citizen anywhere in his scope (the district); a grid worker for a house of his grid.
    fn authorize(&self, principal: &Principal) -> Result<(), ApiError> {
        principal.authorize(&self.grid)?;
        Ok(())
    }

    async fn apply(self, tx: &Tx<'_>) -> Done<declaration::Model, Self::Output> {
        let house = &self.house;
        // Declarations for one house take turns, so two at once cannot both take its last
        // place (SQLite already serialises writers).
        lock_row(tx.txn, "houses", "code", house.code.as_str()).await?;
        let residents_in_house = resident::Entity::find()
            .filter(resident::Column::HouseCode.eq(house.code.as_str()))
            .filter(resident::Column::IdNumber.ne(self.id_number.as_str()))
            .count(tx.txn)
            .await?;
        let has_pending = declaration::Entity::find()
            .filter(declaration::Column::IdNumber.eq(self.id_number.as_str()))
            .filter(declaration::Column::Status.eq(DeclarationStatus::Pending.as_str()))
            .count(tx.txn)
            .await?
            > 0;
        let reasons = decide(&Facts {
            declared_house: &house.code,
            register: self.register,
            residents_in_house,
            registered_size: u64::try_from(house.registered_size).unwrap_or(0),
            has_pending_declaration: has_pending,
            declared_as: self.declared_as,
            recorded_elsewhere: self.recorded_elsewhere,
        });
        let status = if reasons.is_empty() {
            DeclarationStatus::Accepted
        } else {
            DeclarationStatus::Pending
        };
        let now = Utc::now();
        let id = Uuid::now_v7();
        let reasons_json = serde_json::to_value(&reasons).map_err(anyhow::Error::from)?;
        let model = declaration::ActiveModel {
            id: Set(id),
            id_number: Set(self.id_number.to_string()),
            name: Set(self.name),
            house_code: Set(house.code.clone()),
            grid_code: Set(house.grid_code.clone()),
            status: Set(status.as_str().to_owned()),
            reasons: Set(reasons_json.clone()),
            submitted_by: Set(tx.principal.subject.clone()),
            created_at: Set(now),
            decided_at: Set((status == DeclarationStatus::Accepted).then_some(now)),
            decided_by: Set(
                (status == DeclarationStatus::Accepted).then(|| "system:rules".to_owned())
            ),
            decision_reason: Set(None),
            version: Set(1),
            declared_as: Set(self.declared_as.as_str().to_owned()),
        }
        .insert(tx.txn)
        .await?;
        if status == DeclarationStatus::Accepted {
            let mover = mover(self.declared_as, tx.principal, &self.district);
            move_in(tx, &model, house, mover).await?;
        } else {
            task::ActiveModel {
                id: Set(Uuid::now_v7()),
                declaration_id: Set(id),
                grid_code: Set(house.grid_code.clone()),
                status: Set("open".into()),
                reasons: Set(reasons_json),
                created_at: Set(now),
                closed_at: Set(None),
                closed_by: Set(None),
                outcome: Set(None),
            }
            .insert(tx.txn)
            .await?;
        }
        zw_evidence::at_commit::append_at_commit(
            tx.txn,
            zw_evidence::NewEvidence {
                actor: &tx.principal.subject,
                action: "declaration.submit",
                object: &format!("declaration/{id}"),
                payload: &serde_json::json!({
                    "id_number": self.id_number.to_string(),
                    "house_code": house.code,
                    "status": status,
                    "reasons": reasons,
                    "declared_as": self.declared_as.as_str(),
                }),
            },
            None,
        )
        .await?;
        let event = Event::DeclarationSubmitted(DeclarationSubmitted {
            declaration_id: id,
            house_code: house.code.clone(),
            status,
            version: 1,
            reasons: reasons.iter().map(|r| r.as_str().to_owned()).collect(),
        });
        enqueue(tx, &event, self.grid).await?;
        Ok(Applied {
            output: view(tx.principal, &model),
            record: model,
        })
    }
}

/// Who moves the person in when a declaration of him is accepted.
fn mover<'a>(
    declared_as: DeclaredAs,
    principal: &'a Principal,
    district: &'a JurisdictionCode,
) -> Mover<'a> {
    match declared_as {
        DeclaredAs::Himself => Mover::Himself,
        _ => Mover::By {
            principal,
            district,
        },
    }
}

/// The declared person now lives in the declared house (moving out of any other): recorded if
/// unknown, with a `moved_in` step whose source is the declaration.
async fn move_in(
    tx: &Tx<'_>,
    d: &declaration::Model,
    house: &house::Model,
    mover: Mover<'_>,
) -> Result<(), ApiError> {
    let id_number = IdNumber::parse(&d.id_number)
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored ID number: {e}")))?;
    let source = Source::of(tx.principal).via("declaration", d.id.to_string());
    residence::move_in(
        tx.txn,
        &source,
        Arrival {
            id_number: &id_number,
            name: d.name.clone(),
            phone: None,
            house,
            declaration_id: Some(d.id),
        },
        mover,
    )
    .await?;
    Ok(())
}

/// A declaration as `w` of `id_number` at `house_code`, checked and looked up: the house, whom
/// it is of, what the register says. The write then decides it and stores the declaration (plus
/// resident or verification task, evidence, event) in one transaction.
async fn submission(
    w: &Write,
    id_number: IdNumber,
    house_code: HouseCode,
) -> Result<Submission, ApiError> {
    let grid = w.grid();
    let principal = &w.principal;
    let declared = declarant(principal, &id_number)?;
    let house = house_in_use(&grid.db, &house_code).await?;
    let house_grid = stored_grid(&house.grid_code)?;
    if declared == Some(DeclaredAs::Staff) {
        principal.authorize(&house_grid)?;
    }
    // "Already living there" is said only to the person himself and to staff: to anyone else it
    // would tell where the person lives.
    if matches!(declared, Some(DeclaredAs::Himself | DeclaredAs::Staff))
        && resident::Entity::find_by_id(id_number.as_str())
            .one(&grid.db)
            .await?
            .is_some_and(|r| r.house_code == house.code)
    {
        return Err(ApiError::AlreadyResident(house.code));
    }
    let (register, name) = ask_register(grid, &id_number).await;
    let declared_as = match declared {
        Some(d) => d,
        None => household_or_other(grid, principal, &register).await,
    };
    let recorded_elsewhere =
        residence::recorded_elsewhere(&grid.db, &id_number, &house.grid_code).await?;
    Ok(Submission {
        id_number,
        grid: house_grid,
        district: grid.district.clone(),
        house,
        declared_as,
        register,
        name,
        recorded_elsewhere,
    })
}

/// A citizen's declaration of someone else: of his household when the register records both at
/// one registered house, else of another.
async fn household_or_other(
    grid: &Grid,
    principal: &Principal,
    register: &RegisterAnswer,
) -> DeclaredAs {
    let (
        RegisterAnswer::Found {
            registered_house: Some(theirs),
        },
        Some(own),
    ) = (register, &principal.id_number)
    else {
        return DeclaredAs::Other;
    };
    match ask_register(grid, own).await.0 {
        RegisterAnswer::Found {
            registered_house: Some(mine),
        } if mine == *theirs => DeclaredAs::Household,
        _ => DeclaredAs::Other,
    }
}

/// Submit a declaration: a citizen for himself (accepted straight away when the register agrees
/// and the house has room) or his household, or anyone else (received and held for the grid
/// worker); a grid worker at the door of a house of his grid. Otherwise pending, with a
/// verification task for the grid worker.
#[utoipa::path(
    post,
    path = "/api/v1/grid/declarations",
    request_body = NewDeclaration,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key: the same key and body return the first response")),
    responses(
        (status = 201, description = "Received: `status` is accepted or pending", body = DeclarationView),
        (status = 400, description = "Malformed ID number (its birth date in the future included) or house code", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`real-name-required`: a citizen's account without its ID number; staff other than the grid worker of the house's grid", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already-resident`: the person himself (or staff) declares the house he lives in", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown house, or house not in use, or `idempotency-key-reused`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn submit_declaration(
    w: Write,
    req: HttpRequest,
    body: JsonBody,
) -> Result<Answer, ApiError> {
    let input: NewDeclaration = body::parse(&body, "id_number and house_code")?;
    let id_number = IdNumber::parse(input.id_number.trim())
        .map_err(|e| ApiError::InvalidInput(format!("id_number: {e}")))?;
    let house_code = HouseCode::parse(input.house_code.trim())
        .map_err(|e| ApiError::InvalidInput(format!("house_code: {e}")))?;
    let w = w.idempotent(IdempotencyKey::from_request(&req, &body)?);
    w.create_once(async || submission(&w, id_number, house_code).await)
        .await
}

// ---------------------------------------------------------------------------------------------
// Reading

/// One declaration: a citizen sees his own, staff those of their jurisdiction.
#[utoipa::path(
    get,
    path = "/api/v1/grid/declarations/{id}",
    params(("id" = Uuid, Path, description = "Declaration id")),
    responses(
        (status = 200, body = DeclarationView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A role that sees no declarations", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such declaration that you may see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_declaration(
    grid: web::Data<Grid>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let d = access::declaration(&grid.db, &principal, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view(&principal, &d)))
}

/// Filter of the declaration list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeclarationFilter {
    /// Only declarations in this status.
    pub status: Option<DeclarationStatus>,
}

/// Declarations the caller may see, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/grid/declarations",
    params(DeclarationFilter, PageQuery),
    responses(
        (status = 200, body = Page<DeclarationView>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A role that sees no declarations", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn list_declarations(
    grid: web::Data<Grid>,
    principal: Principal,
    filter: web::Query<DeclarationFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit().map_err(ApiError::InvalidInput)?;
    let cursor = parse_cursor(page.cursor.as_deref())?;
    let mut q = declaration::Entity::find().filter(access::declarations_visible(&principal)?);
    if let Some(s) = filter.status {
        q = q.filter(declaration::Column::Status.eq(s.as_str()));
    }
    let rows = paging::rows(
        &grid.db,
        q,
        declaration::Column::Id,
        Order::Descending,
        cursor,
        limit,
    )
    .await?;
    let views: Vec<DeclarationView> = rows.iter().map(|m| view(&principal, m)).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |v| v.id.to_string())))
}

/// The evidence of a declaration: every record about it, each with an inclusion proof to a
/// signed tree head, and the public key to check the signature with.
#[utoipa::path(
    get,
    path = "/api/v1/grid/declarations/{id}/proof",
    params(("id" = Uuid, Path, description = "Declaration id")),
    responses(
        (status = 200, description = "Inclusion proofs (see zw-evidence for the format)"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A role that sees no declarations", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such declaration that you may see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn declaration_proof(
    grid: web::Data<Grid>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let d = access::declaration(&grid.db, &principal, id.into_inner()).await?;
    let proofs =
        crate::evidence::proofs_for(&grid.evidence, &format!("declaration/{}", d.id)).await?;
    Ok(HttpResponse::Ok().json(proofs))
}

// ---------------------------------------------------------------------------------------------
// Tasks

/// Filter of the task list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskFilter {
    /// `open` (default) or `closed`; `all` for both.
    pub status: Option<String>,
}

/// Verification tasks in the caller's grid(s), oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/grid/tasks",
    params(TaskFilter, PageQuery),
    responses(
        (status = 200, body = Page<TaskView>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn list_tasks(
    grid: web::Data<Grid>,
    principal: Principal,
    filter: web::Query<TaskFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit().map_err(ApiError::InvalidInput)?;
    let status = paging::open_or_closed(filter.status.as_deref())?;
    let cursor = parse_cursor(page.cursor.as_deref())?;
    let mut q = task::Entity::find().filter(access::tasks_visible(&principal)?);
    if let Some(s) = status {
        q = q.filter(task::Column::Status.eq(s));
    }
    let tasks = paging::rows(
        &grid.db,
        q,
        task::Column::Id,
        Order::Ascending,
        cursor,
        limit,
    )
    .await?;
    let ids: Vec<Uuid> = tasks.iter().map(|t| t.declaration_id).collect();
    let decls = declaration::Entity::find()
        .filter(declaration::Column::Id.is_in(ids))
        .all(&grid.db)
        .await?;
    let views: Vec<TaskView> = tasks
        .into_iter()
        .filter_map(|t| {
            let d = decls.iter().find(|d| d.id == t.declaration_id)?;
            Some(task_view(&principal, &t, d))
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |t| t.id.to_string())))
}

/// The grid worker's decision on a verification task.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskDecision {
    /// `confirm` or `reject`.
    #[schema(example = "reject")]
    pub outcome: String,
    /// Required for a rejection (1–500 characters): the citizen is told why.
    #[schema(example = "nobody of that name lives at this address")]
    pub reason: Option<String>,
}

/// A grid worker's decision, checked.
#[derive(Debug, Clone)]
enum Verdict {
    Confirm,
    Reject { reason: String },
}

impl TaskDecision {
    fn verdict(self) -> Result<Verdict, ApiError> {
        match self.outcome.as_str() {
            "confirm" => Ok(Verdict::Confirm),
            "reject" => {
                let reason = self.reason.map(|r| r.trim().to_owned()).unwrap_or_default();
                if reason.is_empty() || reason.chars().count() > 500 {
                    return Err(ApiError::InvalidInput(
                        "a rejection needs a reason of 1 to 500 characters".into(),
                    ));
                }
                Ok(Verdict::Reject { reason })
            }
            other => Err(ApiError::InvalidInput(format!(
                "outcome must be confirm or reject, not {other:?}"
            ))),
        }
    }
}

/// A decision on the declaration behind a task.
struct Decision {
    verdict: Verdict,
    district: JurisdictionCode,
}

#[async_trait::async_trait]
impl Change<task::Model> for Decision {
    type Output = TaskView;

    fn check(&self, t: &task::Model) -> Result<(), ApiError> {
        if t.status != "open" {
            return Err(ApiError::TaskClosed(t.id.to_string()));
        }
        Ok(())
    }

    async fn apply(self, tx: &Tx<'_>, t: task::Model) -> Done<task::Model, Self::Output> {
        let (outcome, to, reason) = match &self.verdict {
            Verdict::Confirm => ("confirmed", DeclarationStatus::Accepted, None),
            Verdict::Reject { reason } => (
                "rejected",
                DeclarationStatus::Rejected,
                Some(reason.clone()),
            ),
        };
        let now = Utc::now();
        let mut closing: task::ActiveModel = t.into();
        closing.status = Set("closed".into());
        closing.closed_at = Set(Some(now));
        closing.closed_by = Set(Some(tx.principal.subject.clone()));
        closing.outcome = Set(Some(outcome.into()));
        let t = closing.update(tx.txn).await?;
        let d = declaration::Entity::find_by_id(t.declaration_id)
            .one(tx.txn)
            .await?
            .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("task without declaration")))?;
        let from = status_of(&d.status);
        let version = d.version + 1;
        let declared_as = DeclaredAs::parse(&d.declared_as);
        let mut am: declaration::ActiveModel = d.into();
        am.status = Set(to.as_str().to_owned());
        am.decided_at = Set(Some(now));
        am.decided_by = Set(Some(tx.principal.subject.clone()));
        am.decision_reason = Set(reason.clone());
        am.version = Set(version);
        let d = am.update(tx.txn).await?;
        if to == DeclarationStatus::Accepted {
            let house = house::Entity::find_by_id(d.house_code.as_str())
                .one(tx.txn)
                .await?
                .ok_or_else(|| ApiError::UnknownHouse(d.house_code.clone()))?;
            move_in(
                tx,
                &d,
                &house,
                mover(declared_as, tx.principal, &self.district),
            )
            .await?;
        }
        let action = if to == DeclarationStatus::Accepted {
            "declaration.confirm"
        } else {
            "declaration.reject"
        };
        zw_evidence::at_commit::append_at_commit(
            tx.txn,
            zw_evidence::NewEvidence {
                actor: &tx.principal.subject,
                action,
                object: &format!("declaration/{}", d.id),
                payload: &serde_json::json!({ "task": t.id, "from": from, "to": to, "reason": reason }),
            },
            None,
        )
        .await?;
        let event = Event::DeclarationStatusChanged(DeclarationStatusChanged {
            declaration_id: d.id,
            from,
            to,
            version,
            reason,
        });
        enqueue(tx, &event, stored_grid(&t.grid_code)?).await?;
        Ok(Applied {
            output: task_view(tx.principal, &t, &d),
            record: t,
        })
    }
}

/// Confirm or reject the declaration behind a task (the grid worker of its grid only).
#[utoipa::path(
    post,
    path = "/api/v1/grid/tasks/{id}/decision",
    params(("id" = Uuid, Path, description = "Task id")),
    request_body = TaskDecision,
    responses(
        (status = 200, body = TaskView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a grid worker, or `source-out-of-scope`: confirming would bring a person whose record another grid keeps", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such task in your grid", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided, or the person died meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn decide_task(w: Write, id: web::Path<Uuid>, body: JsonBody) -> Result<Answer, ApiError> {
    let input: TaskDecision = body::parse(&body, "outcome (and reason)")?;
    let decision = Decision {
        verdict: input.verdict()?,
        district: w.grid().district.clone(),
    };
    Answer::ok(w.change(&id.into_inner(), None, decision).await?)
}
