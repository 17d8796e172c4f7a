//! The public key set and the admin operations on signing keys.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};
use zw_auth::Principal;
use zw_platform::Problem;

use super::{Identity, require_admin};
use crate::error::ApiError;
use crate::keyring::{KeyInfo, KeyRing};
use crate::revocations::Revoker;

/// How long clients may cache the JWKS. Short: verifiers also refetch on an unknown `kid`, and a
/// retired key should disappear from caches quickly.
pub const JWKS_MAX_AGE_SECS: u32 = 60;

/// The public keys that verify access tokens: the active key and any previous keys not yet
/// retired.
#[utoipa::path(
    get,
    path = "/api/v1/identity/.well-known/jwks.json",
    responses((status = 200, description = "The JWK set (RFC 7517)", body = zw_auth::Jwks))
)]
pub async fn jwks(state: web::Data<Identity>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            CACHE_CONTROL,
            format!("public, max-age={JWKS_MAX_AGE_SECS}"),
        ))
        .json(state.ring.issuer().jwks())
}

/// Every signing key, newest first, with its state (never the private key).
#[utoipa::path(
    get,
    path = "/api/v1/identity/keys",
    responses(
        (status = 200, description = "The keys", body = [KeyInfo]),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_keys(
    state: web::Data<Identity>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    require_admin(&principal)?;
    Ok(HttpResponse::Ok().json(KeyRing::list(&state.db).await?))
}

/// Generate a new active signing key. The previous key stays in the JWKS, so tokens it signed
/// keep verifying until it is retired.
#[utoipa::path(
    post,
    path = "/api/v1/identity/keys/rotate",
    responses(
        (status = 201, description = "The new active key", body = KeyInfo),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database-busy`: nothing was changed; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn rotate_key(
    state: web::Data<Identity>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    require_admin(&principal)?;
    let key = state.ring.rotate(&state.db, &principal.subject).await?;
    tracing::info!(kid = %key.kid, by = %principal.subject, "key rotation requested");
    Ok(HttpResponse::Created().json(key))
}

/// Drop a previous key from the JWKS: tokens it signed are refused from now on, by identity at
/// once and by the gateway and every service as soon as the `signing_key.retired` event reaches
/// them (they need not wait for their next key-set refresh). The active key cannot be retired
/// (rotate first). Retiring a retired key changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/identity/keys/{kid}/retire",
    params(("kid" = String, Path, description = "The key id")),
    responses(
        (status = 200, description = "The retired key", body = KeyInfo),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key is the active key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database-busy`: nothing was changed; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn retire_key(
    state: web::Data<Identity>,
    principal: Principal,
    kid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&principal)?;
    let key = state
        .ring
        .retire(&state.db, &kid, &Revoker::from(&principal))
        .await?;
    state.relay.notify();
    tracing::info!(kid = %key.kid, by = %principal.subject, "key retirement requested");
    Ok(HttpResponse::Ok().json(key))
}
