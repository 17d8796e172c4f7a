//! The public routes of a service's evidence log, the same for every service that keeps one:
//! `GET /api/v1/<service>/evidence/keys`, `…/tree-head`, `…/consistency?old=&new=` and
//! `…/checkpoint` (also `POST`, for witnesses' cosignatures), none needing a token (a
//! cosignature proves itself). Also the one mapping of [`EvidenceError`] to a problem.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::OpenApi;
use zw_platform::Problem;

use crate::checkpoint::CheckpointError;
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
        EvidenceError::Checkpoint(CheckpointError::Malformed(_)) => {
            Problem::invalid_input(e.to_string())
        }
        EvidenceError::Checkpoint(
            CheckpointError::NotOurs(_)
            | CheckpointError::NoValidCosignature
            | CheckpointError::NoWitnesses,
        ) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "cosignature-refused",
            "No cosignature was taken",
        )
        .with_detail(e.to_string()),
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
            .service(web::resource("/consistency").route(web::get().to(consistency)))
            .service(
                web::resource("/checkpoint")
                    .route(web::get().to(checkpoint))
                    .route(web::post().to(add_cosignatures)),
            ),
    );
}

/// The OpenAPI paths of [`configure`] for `service`.
pub fn openapi(service: &str) -> utoipa::openapi::OpenApi {
    let mut doc = EvidenceApi::openapi();
    let paths = std::mem::take(&mut doc.paths.paths);
    for (path, mut item) in paths {
        for op in [&mut item.get, &mut item.post].into_iter().flatten() {
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
    paths(keys, tree_head, consistency, checkpoint, add_cosignatures),
    components(schemas(
        PublishedKeys,
        PublishedHead,
        CosignaturesTaken,
        TakenCosignature,
        Problem
    ))
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

/// Which checkpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CheckpointQuery {
    /// The tree size of an earlier signed head; the latest head when absent.
    tree_size: Option<i64>,
}

/// The signed tree head as a C2SP checkpoint (c2sp.org/tlog-checkpoint): a signed note whose
/// text is the origin (`<evidence.checkpoint_origin>/<service>`), the tree size and the base64
/// root hash, signed with the log's Ed25519 key under the origin (its note verifier key is in
/// `…/evidence/keys`), followed by the witnesses' cosignatures of that size (public).
#[utoipa::path(
    get,
    path = "/api/v1/SERVICE/evidence/checkpoint",
    operation_id = "evidence_checkpoint",
    params(CheckpointQuery),
    responses(
        (status = 200, description = "The checkpoint as a signed note", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No signed tree head of that size", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The log was found tampered with (`evidence-log-tampered`), or the database is busy", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn checkpoint(
    log: web::Data<EvidenceLog>,
    query: web::Query<CheckpointQuery>,
) -> HttpResponse {
    match log.checkpoint(query.tree_size).await {
        Ok(note) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(note),
        Err(e) => respond(e),
    }
}

/// The cosignatures taken from a note.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct CosignaturesTaken {
    tree_size: i64,
    cosignatures: Vec<TakenCosignature>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct TakenCosignature {
    witness: String,
    /// Hex key id of the witness key.
    key_id: String,
    /// When the witness signed, in seconds since the Unix epoch.
    timestamp: u64,
}

/// The largest note taken: a checkpoint with up to 100 signature lines.
const NOTE_LIMIT: usize = 64 * 1024;

/// A witness's cosignature of one of this log's checkpoints (c2sp.org/tlog-cosignature,
/// `cosignature/v1`): the checkpoint as served, with the witness's signature line(s) under it.
/// Lines of witnesses not configured in `evidence.witnesses` are ignored; each one taken is
/// verified and then shown with the checkpoint of that size (public: a cosignature proves
/// itself).
#[utoipa::path(
    post,
    path = "/api/v1/SERVICE/evidence/checkpoint",
    operation_id = "evidence_add_cosignatures",
    request_body(content = String, content_type = "text/plain", description = "The cosigned checkpoint note"),
    responses(
        (status = 200, description = "The cosignatures taken", body = CosignaturesTaken),
        (status = 400, description = "Not a signed note", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No signed tree head of that size", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not text/plain", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not this log's checkpoint, or no valid cosignature of a configured witness (`cosignature-refused`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The log was found tampered with, or the database is busy", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn add_cosignatures(
    log: web::Data<EvidenceLog>,
    req: actix_web::HttpRequest,
    mut body: web::Payload,
) -> HttpResponse {
    use futures::StreamExt as _;
    let is_text = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/plain"));
    if !is_text {
        return Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "The body must be a signed note",
        )
        .with_detail("send the cosigned checkpoint with Content-Type: text/plain")
        .to_response();
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            return Problem::invalid_input("the body could not be read").to_response();
        };
        if bytes.len() + chunk.len() > NOTE_LIMIT {
            return Problem::payload_too_large(NOTE_LIMIT).to_response();
        }
        bytes.extend_from_slice(&chunk);
    }
    let Ok(note) = String::from_utf8(bytes) else {
        return Problem::invalid_input("a signed note is UTF-8 text").to_response();
    };
    match log.add_cosignatures(&note).await {
        Ok(taken) => {
            let tree_size = crate::checkpoint::tree_size_of(&note, log.origin()).unwrap_or(0);
            HttpResponse::Ok().json(CosignaturesTaken {
                tree_size,
                cosignatures: taken
                    .into_iter()
                    .map(|c| TakenCosignature {
                        witness: c.witness,
                        key_id: c.key_id,
                        timestamp: c.timestamp,
                    })
                    .collect(),
            })
        }
        Err(e) => respond(e),
    }
}
