//! HTTP routes of the identity service, all under `/api/v1/identity` (the gateway forwards paths
//! unchanged).
//!
//! - [`token`]: `POST /token` (password and client-credentials grants).
//! - [`users`]: `POST /users`, `GET /users` (admin), `GET /users/{id}` (admin),
//!   `POST /users/{id}/disable`, `POST /users/{id}/enable` (admin), `POST /citizens` (public).
//! - [`service_accounts`]: `POST /service-accounts` (admin; the secret is shown once).
//! - [`keys`]: `GET /.well-known/jwks.json` (public), `GET /keys`, `POST /keys/rotate`,
//!   `POST /keys/{kid}/retire` (admin).
//! - [`revocations`]: `POST /revoke` (RFC 7009; the token's holder or an admin),
//!   `POST /users/{id}/sign-out` (the user or an admin), `GET /revocations` (public: what every
//!   verifier refuses).
//! - here: `GET /me`, the OpenAPI document and the shared handler state. The public evidence
//!   routes (`/evidence/keys`, `/evidence/tree-head`, `/evidence/consistency`) are
//!   `zw_evidence::http`'s.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use sea_orm::DatabaseConnection;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use zw_auth::{Principal, Revocation, Role};
use zw_domain::JurisdictionCode;
use zw_platform::Problem;
use zw_platform::config::AuthSettings;

use crate::error::ApiError;
use crate::keyring::KeyRing;
use crate::password::Passwords;

pub mod keys;
pub mod revocations;
pub mod service_accounts;
pub mod token;
pub mod users;

/// What every handler shares.
pub struct Identity {
    /// The identity database.
    pub db: DatabaseConnection,
    /// Signing keys, the issuer and the verifier for this service's own endpoints.
    pub ring: KeyRing,
    /// Password hashing.
    pub passwords: Passwords,
    /// The district this deployment governs (citizens' scope).
    pub district: JurisdictionCode,
    /// Publishes the outbox (the revocation events).
    pub relay: zw_bus::RelayHandle,
    /// Token rules: how long revocations must be kept.
    pub auth: AuthSettings,
}

impl Identity {
    /// After committing a revocation: refuse its tokens here at once, and publish its event for
    /// every other verifier now.
    pub fn announce(&self, revocation: &Revocation) {
        self.ring.verifier().revoke(revocation);
        self.relay.notify();
    }
}

/// The identity service's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Zhiwang identity",
        description = "Users, roles, jurisdiction scopes and department service accounts; a citizen's account is bound to his resident ID number. Issues short-lived signed access tokens (EdDSA or RS256 JWTs, typ at+jwt) with the password and client-credentials grants, publishes the public keys as a JWKS, rotates and retires signing keys, revokes tokens and signs accounts out everywhere; every verifier applies a retirement or revocation at once."
    ),
    paths(
        token::issue_token,
        me,
        users::create_user,
        users::list_users,
        users::get_user,
        users::disable_user,
        users::enable_user,
        users::register_citizen,
        service_accounts::create_service_account,
        keys::jwks,
        keys::list_keys,
        keys::rotate_key,
        keys::retire_key,
        revocations::revoke,
        revocations::sign_out,
        revocations::list,
    ),
    components(schemas(
        token::TokenForm,
        zw_auth::IssuedToken,
        Principal,
        Role,
        users::CreateUser,
        users::CitizenRegistration,
        crate::accounts::UserView,
        revocations::RevocationForm,
        zw_auth::RevocationList,
        zw_contracts::events::SigningKeyRetired,
        zw_contracts::events::AccessTokenRevoked,
        zw_contracts::events::SubjectRevoked,
        service_accounts::CreateServiceAccount,
        crate::accounts::ServiceAccountView,
        zw_auth::Jwks,
        zw_auth::Jwk,
        crate::keyring::KeyInfo,
        Problem,
    )),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme the operations refer to.
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Mount the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/identity")
            .service(web::resource("/token").route(web::post().to(token::issue_token)))
            .service(web::resource("/me").route(web::get().to(me)))
            .service(
                web::resource("/users")
                    .route(web::post().to(users::create_user))
                    .route(web::get().to(users::list_users)),
            )
            .service(web::resource("/users/{id}").route(web::get().to(users::get_user)))
            .service(
                web::resource("/users/{id}/disable").route(web::post().to(users::disable_user)),
            )
            .service(web::resource("/users/{id}/enable").route(web::post().to(users::enable_user)))
            .service(
                web::resource("/users/{id}/sign-out").route(web::post().to(revocations::sign_out)),
            )
            .service(web::resource("/revoke").route(web::post().to(revocations::revoke)))
            .service(web::resource("/revocations").route(web::get().to(revocations::list)))
            .service(web::resource("/citizens").route(web::post().to(users::register_citizen)))
            .service(
                web::resource("/service-accounts")
                    .route(web::post().to(service_accounts::create_service_account)),
            )
            .service(web::resource("/.well-known/jwks.json").route(web::get().to(keys::jwks)))
            .service(web::resource("/keys").route(web::get().to(keys::list_keys)))
            .service(web::resource("/keys/rotate").route(web::post().to(keys::rotate_key)))
            .service(web::resource("/keys/{kid}/retire").route(web::post().to(keys::retire_key))),
    );
}

/// 403 unless the caller is an admin.
pub(crate) fn require_admin(p: &Principal) -> Result<(), ApiError> {
    Ok(p.require_role(&[Role::Admin])?)
}

/// Parse a JSON body into `T`, as a 400 when it does not parse.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidInput(format!("the body is not valid: {e}")))
}

/// Parse a body sent as a form (what OAuth clients send to `/token` and `/revoke`) or as JSON;
/// any other media type is 415.
pub(crate) fn form_or_json<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, ApiError> {
    let content_type = req.content_type().to_ascii_lowercase();
    if content_type == "application/x-www-form-urlencoded" {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::InvalidInput("the form is not UTF-8".into()))?;
        web::Query::<T>::from_query(text)
            .map(web::Query::into_inner)
            .map_err(|e| ApiError::InvalidInput(format!("the form is not valid: {e}")))
    } else if content_type == "application/json" || content_type.ends_with("+json") {
        json_body(body)
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// The caller, as its token says.
#[utoipa::path(
    get,
    path = "/api/v1/identity/me",
    responses(
        (status = 200, description = "The verified caller", body = Principal),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn me(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(principal)
}
