//! The public routes of a service's evidence log, the same for every service that keeps one:
//! `GET /api/v1/<service>/evidence/keys`, `…/tree-head` and `…/consistency?old=&new=`, none
//! needing a token. Also the one mapping of [`EvidenceError`] to a problem.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::OpenApi;
use zw_platform::Problem;

use crate::error::EvidenceError;
use crate::keys::PublishedKeys;
use crate::log::{EvidenceLog, PublishedHead};

/// The problem for an evidence error; `None` for what is the caller's service's own business
/// (a database error: its busy/unexpected mapping applies).
pub fn problem(e: &EvidenceError) -> Option<Problem> {
    Some(match e {
        EvidenceError::InvalidInput(m) => Problem::invalid_input(m.clone()),
        EvidenceError::RecordNotFound { .. } | EvidenceError::TreeHeadNotFound { .. } => {
            Problem::not_found(e.to_string())
        }
        EvidenceError::Tampered(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "evidence-log-tampered",
            "The evidence log was found tampered with",
        )
        .with_detail(
            "this service found its stored evidence log altered and serves no heads or proofs \
             until its operators have restored it; heads published before remain valid",
        ),
        _ => return None,
    })
}

/// The evidence routes of `service` (its log in `log`, as `web::Data<EvidenceLog>`).
pub fn configure(cfg: &mut web::ServiceConfig, service: &str, log: EvidenceLog) {
    let base = format!("/api/v1/{service}/evidence");
    cfg.service(
        web::scope(&base)
            .app_data(web::Data::new(log))
            .service(web::resource("/keys").route(web::get().to(keys)))
            .service(web::resource("/tree-head").route(web::get().to(tree_head)))
            .service(web::resource("/consistency").route(web::get().to(consistency))),
    );
}

/// The OpenAPI paths of [`configure`] for `service`.
pub fn openapi(service: &str) -> utoipa::openapi::OpenApi {
    let mut doc = EvidenceApi::openapi();
    let paths = std::mem::take(&mut doc.paths.paths);
    for (path, mut item) in paths {
        for op in [&mut item.get].into_iter().flatten() {
            if let Some(id) = &op.operation_id {
                op.operation_id = Some(format!("{service}_{id}"));
            }
            op.tags = Some(vec![format!("{service} evidence")]);
        }
        doc.paths
            .paths
            .insert(path.replace(PLACEHOLDER, service), item);
    }
    doc
}

const PLACEHOLDER: &str = "SERVICE";

#[derive(OpenApi)]
#[openapi(
    paths(keys, tree_head, consistency),
    components(schemas(PublishedKeys, PublishedHead, Problem))
)]
struct EvidenceApi;

fn respond(e: EvidenceError) -> HttpResponse {
    match problem(&e) {
        Some(p) => p.to_response(),
        None => {
            if let EvidenceError::Database(db) = &e
                && zw_domain::db::is_busy(db)
            {
                return zw_platform::db::busy_problem().to_response();
            }
            zw_platform::problem::internal_error(&anyhow::Error::new(e)).to_response()
        }
    }
}

/// Every key that signed this service's tree heads (public): pin them, and compare a head's
/// `key_id` with them.
#[utoipa::path(
    get,
    path = "/api/v1/SERVICE/evidence/keys",
    operation_id = "evidence_keys",
    responses((status = 200, description = "The public keys, current and retired", body = PublishedKeys))
)]
async fn keys(log: web::Data<EvidenceLog>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(log.keys())
}

/// The latest signed tree head of this service's evidence log and the key that signs it
/// (public).
#[utoipa::path(
    get,
    path = "/api/v1/SERVICE/evidence/tree-head",
    operation_id = "evidence_tree_head",
    responses(
        (status = 200, description = "Signed tree head and public key", body = PublishedHead),
        (status = 503, description = "The log was found tampered with (`evidence-log-tampered`), or the database is busy", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn tree_head(log: web::Data<EvidenceLog>) -> HttpResponse {
    match log.publish_head().await {
        Ok(head) => HttpResponse::Ok().json(head),
        Err(e) => respond(e),
    }
}

/// Two tree sizes of the evidence log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ConsistencyQuery {
    /// The size of the older signed tree head.
    old: i64,
    /// The size of the newer signed tree head.
    new: i64,
}

/// Proof that the newer signed tree head only extends the older one (RFC 6962 consistency
/// proof): what a monitor checks so the log can never be rewritten unnoticed (public).
#[utoipa::path(
    get,
    path = "/api/v1/SERVICE/evidence/consistency",
    operation_id = "evidence_consistency",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "Both signed tree heads and the consistency proof"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No signed tree head of that size", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The log was found tampered with (`evidence-log-tampered`), or the database is busy", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn consistency(
    log: web::Data<EvidenceLog>,
    query: web::Query<ConsistencyQuery>,
) -> HttpResponse {
    match log.consistency_proof(query.old, query.new).await {
        Ok(proof) => HttpResponse::Ok().json(proof),
        Err(e) => respond(e),
    }
}
