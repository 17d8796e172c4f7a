//! HTTP routes of the grid service, all under `/api/v1/grid`: declarations, tasks, evidence (the
//! house routes are in [`crate::houses`]).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use uuid::Uuid;
use zw_auth::Principal;
use zw_contracts::DeclarationStatus;
use zw_domain::{HouseCode, IdNumber};
use zw_platform::Problem;
use zw_platform::page::{Page, PageQuery};

use crate::declarations::{DeclarationView, Grid, TaskView, Verdict, view};
use crate::error::{ApiError, parse_cursor};
use crate::idempotency::IdempotencyKey;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Zhiwang grid",
        description = "The grid database: houses, residents, self-declarations of residence and the grid worker's verification tasks."
    ),
    paths(
        submit_declaration,
        get_declaration,
        list_declarations,
        declaration_proof,
        list_tasks,
        decide_task,
        tree_head,
        consistency
    ),
    components(schemas(NewDeclaration, DeclarationView, TaskView, TaskDecision, Problem))
)]
pub struct ApiDoc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/grid")
            .service(
                web::resource("/declarations")
                    .route(web::post().to(submit_declaration))
                    .route(web::get().to(list_declarations)),
            )
            .service(web::resource("/declarations/{id}").route(web::get().to(get_declaration)))
            .service(
                web::resource("/declarations/{id}/proof").route(web::get().to(declaration_proof)),
            )
            .service(web::resource("/tasks").route(web::get().to(list_tasks)))
            .service(web::resource("/tasks/{id}/decision").route(web::post().to(decide_task)))
            .service(web::resource("/evidence/tree-head").route(web::get().to(tree_head)))
            .service(web::resource("/evidence/consistency").route(web::get().to(consistency))),
    );
}

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

/// Submit a declaration. Accepted straight away when the register agrees and the house has room;
/// otherwise pending, with a verification task for the grid worker.
#[utoipa::path(
    post,
    path = "/api/v1/grid/declarations",
    request_body = NewDeclaration,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key: the same key and body return the first response")),
    responses(
        (status = 201, description = "Received: `status` is accepted or pending", body = DeclarationView),
        (status = 400, description = "Malformed ID number or house code", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already living there", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown house, or house not in use", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn submit_declaration(
    grid: web::Data<Grid>,
    principal: Principal,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: NewDeclaration = serde_json::from_slice(&body).map_err(|e| {
        ApiError::InvalidInput(format!(
            "the body must be JSON with id_number and house_code: {e}"
        ))
    })?;
    let id_number = IdNumber::parse(input.id_number.trim())
        .map_err(|e| ApiError::InvalidInput(format!("id_number: {e}")))?;
    let house_code = HouseCode::parse(input.house_code.trim())
        .map_err(|e| ApiError::InvalidInput(format!("house_code: {e}")))?;
    let idem = match req.headers().get("idempotency-key") {
        Some(v) => Some(IdempotencyKey::parse(v.to_str().unwrap_or(""), &body)?),
        None => None,
    };
    let (status, body) = grid.submit(&principal, id_number, house_code, idem).await?;
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::CREATED);
    Ok(HttpResponse::build(status).json(body))
}

/// One declaration: a citizen sees his own, staff those of their jurisdiction.
#[utoipa::path(
    get,
    path = "/api/v1/grid/declarations/{id}",
    params(("id" = Uuid, Path, description = "Declaration id")),
    responses(
        (status = 200, body = DeclarationView),
        (status = 404, description = "No such declaration that you may see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_declaration(
    grid: web::Data<Grid>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let d = grid.get(&principal, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view(&principal, &d)))
}

/// Filter of the declaration list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DeclarationFilter {
    /// Only declarations in this status.
    pub status: Option<DeclarationStatus>,
}

/// Declarations the caller may see, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/grid/declarations",
    params(DeclarationFilter, PageQuery),
    responses((status = 200, body = Page<DeclarationView>)),
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
    let rows = grid.list(&principal, filter.status, limit, cursor).await?;
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
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn declaration_proof(
    grid: web::Data<Grid>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let d = grid.get(&principal, id.into_inner()).await?;
    let proofs =
        crate::evidence::proofs_for(&grid.db, &grid.signer, &format!("declaration/{}", d.id))
            .await?;
    Ok(HttpResponse::Ok().json(proofs))
}

/// Filter of the task list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TaskFilter {
    /// `open` (default) or `closed`; `all` for both.
    pub status: Option<String>,
}

/// Verification tasks in the caller's grid(s), oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/grid/tasks",
    params(TaskFilter, PageQuery),
    responses((status = 200, body = Page<TaskView>)),
    security(("bearer" = []))
)]
async fn list_tasks(
    grid: web::Data<Grid>,
    principal: Principal,
    filter: web::Query<TaskFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit().map_err(ApiError::InvalidInput)?;
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
    let cursor = parse_cursor(page.cursor.as_deref())?;
    let tasks = grid.tasks(&principal, status, limit, cursor).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(tasks, limit, |t| t.id.to_string())))
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

/// Confirm or reject the declaration behind a task (the grid worker of its grid only).
#[utoipa::path(
    post,
    path = "/api/v1/grid/tasks/{id}/decision",
    params(("id" = Uuid, Path, description = "Task id")),
    request_body = TaskDecision,
    responses(
        (status = 200, body = TaskView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn decide_task(
    grid: web::Data<Grid>,
    principal: Principal,
    id: web::Path<Uuid>,
    decision: web::Json<TaskDecision>,
) -> Result<HttpResponse, ApiError> {
    let verdict = decision.into_inner().verdict()?;
    let t = grid
        .decide_task(&principal, id.into_inner(), verdict)
        .await?;
    Ok(HttpResponse::Ok().json(t))
}

/// The latest signed tree head of the grid's evidence log and the key that signs it (public).
#[utoipa::path(
    get,
    path = "/api/v1/grid/evidence/tree-head",
    responses((status = 200, description = "Signed tree head and public key"))
)]
async fn tree_head(grid: web::Data<Grid>) -> Result<HttpResponse, ApiError> {
    let head = zw_evidence::publish_head(&grid.db, &grid.signer).await?;
    Ok(HttpResponse::Ok().json(head))
}

/// Two tree sizes of the grid's evidence log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ConsistencyQuery {
    /// The size of the older signed tree head.
    pub old: i64,
    /// The size of the newer signed tree head.
    pub new: i64,
}

/// Proof that the newer signed tree head only extends the older one (RFC 6962 consistency
/// proof): what a monitor checks so the log can never be rewritten unnoticed.
#[utoipa::path(
    get,
    path = "/api/v1/grid/evidence/consistency",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "Both signed tree heads and the consistency proof"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No signed tree head of that size", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn consistency(
    grid: web::Data<Grid>,
    query: web::Query<ConsistencyQuery>,
) -> Result<HttpResponse, ApiError> {
    let proof = zw_evidence::consistency_proof(&grid.db, query.old, query.new).await?;
    Ok(HttpResponse::Ok().json(proof))
}
