//! Revocation: one access token (RFC 7009), every token of a user ("sign out everywhere"), and
//! the list of what is revoked now, which every verifier fetches with the JWKS.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use uuid::Uuid;
use zw_auth::Principal;
use zw_platform::Problem;
use zw_platform::db::BeginWrite;

use super::{Identity, form_or_json, require_admin};
use crate::accounts::find_user_by_id;
use crate::error::ApiError;
use crate::revocations::{self, Revoker, SubjectReason};

/// A revocation request (RFC 7009 §2.1), as a form or as JSON.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RevocationForm {
    /// The access token to revoke.
    pub token: Option<String>,
    /// `access_token`, the only kind of token there is; any other hint is ignored (RFC 7009).
    #[schema(example = "access_token")]
    pub token_type_hint: Option<String>,
}

/// Revoke one access token: from now on the gateway and every service refuse it (401
/// `revoked`). Its holder may revoke it (e.g. to log out, sending it as the bearer token too),
/// and an admin any token within his scope. As RFC 7009 says, a token that is not valid
/// anyway (expired, revoked already, not issued here) is answered with 200 as well: there is
/// nothing to revoke.
#[utoipa::path(
    post,
    path = "/api/v1/identity/revoke",
    request_body(
        content(
            (RevocationForm = "application/x-www-form-urlencoded"),
            (RevocationForm = "application/json"),
        ),
        description = "The token to revoke"
    ),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, description = "No token in the request, or a malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token of the caller's own", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another subject's token, and the caller is no admin over its scope", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither a form nor JSON", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database-busy`: nothing was changed; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    state: web::Data<Identity>,
    principal: Principal,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let form: RevocationForm = form_or_json(&req, &body)?;
    let token = form
        .token
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::InvalidInput("token is required".into()))?;
    let Ok(target) = state.ring.verifier().verify(token.trim()).await else {
        return Ok(revoked());
    };
    if target.subject != principal.subject {
        require_admin(&principal)?;
        principal.authorize(&target.scope)?;
    }
    let txn = state.db.begin_write().await?;
    let revocation = revocations::revoke_token(
        &txn,
        &target,
        &Revoker::from(&principal),
        &state.district,
        &state.auth,
    )
    .await?;
    txn.commit().await?;
    if let Some(r) = revocation {
        state.announce(&r);
        tracing::info!(subject = %target.subject, by = %principal.subject, "access token revoked");
    }
    Ok(revoked())
}

fn revoked() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish()
}

/// Sign a user out everywhere: every token issued to him until now is refused from now on, by
/// the gateway and every service; he may log in again (unless disabled). The user himself may
/// do it, and an admin for any user within his scope.
#[utoipa::path(
    post,
    path = "/api/v1/identity/users/{id}/sign-out",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Signed out: his earlier tokens are refused"),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user, and the caller is no admin over his scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database-busy`: nothing was changed; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn sign_out(
    state: web::Data<Identity>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let own = principal.subject == id.to_string();
    if !own {
        require_admin(&principal)?;
    }
    let user = find_user_by_id(&state.db, id).await?;
    if !own {
        principal.authorize(&crate::accounts::user_view(&user)?.scope)?;
    }
    let by = Revoker::from(&principal);
    let txn = state.db.begin_write().await?;
    let revocation = revocations::revoke_subject(
        &txn,
        &user.id.to_string(),
        SubjectReason::SignOut,
        &by,
        &state.district,
        &state.auth,
    )
    .await?;
    crate::accounts::user_evidence(&txn, &by.id, "user.sign_out", &user).await?;
    txn.commit().await?;
    state.announce(&revocation);
    tracing::info!(user = %user.id, by = %principal.subject, "user signed out everywhere");
    Ok(HttpResponse::NoContent().finish())
}

/// What every verifier refuses now: keys retired lately, revoked tokens and signed-out (or
/// disabled) accounts, each until no token it concerns can be valid. Public, like the JWKS:
/// tokens and accounts appear only as SHA-256 fingerprints of their ids. Verifiers fetch it
/// with the key set and apply the revocation events from the bus in between.
#[utoipa::path(
    get,
    path = "/api/v1/identity/revocations",
    responses(
        (status = 200, description = "The revocations in force", body = zw_auth::RevocationList),
    )
)]
pub async fn list(state: web::Data<Identity>) -> Result<HttpResponse, ApiError> {
    let list = revocations::in_force(&state.db, &state.auth).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-cache"))
        .json(list))
}
