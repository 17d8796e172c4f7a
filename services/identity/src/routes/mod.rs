//! HTTP routes of the identity service, all under `/api/v1/identity` (the gateway forwards paths
//! unchanged).
//!
//! - [`token`]: `POST /token` (password and client-credentials grants).
//! - [`users`]: `POST /users` (admin), `GET /users/{id}` (admin), `POST /citizens` (public).
//! - [`service_accounts`]: `POST /service-accounts` (admin; the secret is shown once).
//! - [`keys`]: `GET /.well-known/jwks.json` (public), `GET /keys`, `POST /keys/rotate`,
//!   `POST /keys/{kid}/retire` (admin).
//! - here: `GET /me`, `GET /evidence/tree-head` (public), the OpenAPI document and the shared
//!   handler state.

use actix_web::{HttpResponse, web};
use sea_orm::DatabaseConnection;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use zw_auth::{Principal, Role};
use zw_domain::JurisdictionCode;
use zw_platform::Problem;

use crate::error::ApiError;
use crate::keyring::KeyRing;
use crate::password::Passwords;

pub mod keys;
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
    /// Signs the tree heads of the evidence log of every account and key change.
    pub evidence_signer: std::sync::Arc<zw_evidence::EvidenceSigner>,
}

/// The identity service's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Zhiwang identity",
        description = "Users, roles, jurisdiction scopes and department service accounts. Issues short-lived signed access tokens (EdDSA or RS256 JWTs) with the password and client-credentials grants, publishes the public keys as a JWKS, and rotates and retires signing keys."
    ),
    paths(
        token::issue_token,
        me,
        users::create_user,
        users::get_user,
        users::register_citizen,
        service_accounts::create_service_account,
        keys::jwks,
        keys::list_keys,
        keys::rotate_key,
        keys::retire_key,
        evidence_tree_head,
    ),
    components(schemas(
        token::TokenForm,
        zw_auth::IssuedToken,
        Principal,
        Role,
        users::CreateUser,
        users::CitizenRegistration,
        crate::accounts::UserView,
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
            .service(web::resource("/users").route(web::post().to(users::create_user)))
            .service(web::resource("/users/{id}").route(web::get().to(users::get_user)))
            .service(web::resource("/citizens").route(web::post().to(users::register_citizen)))
            .service(
                web::resource("/service-accounts")
                    .route(web::post().to(service_accounts::create_service_account)),
            )
            .service(web::resource("/.well-known/jwks.json").route(web::get().to(keys::jwks)))
            .service(web::resource("/keys").route(web::get().to(keys::list_keys)))
            .service(web::resource("/keys/rotate").route(web::post().to(keys::rotate_key)))
            .service(web::resource("/keys/{kid}/retire").route(web::post().to(keys::retire_key)))
            .service(web::resource("/evidence/tree-head").route(web::get().to(evidence_tree_head))),
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

/// The latest signed tree head of the evidence log of account and key changes, and the key that
/// signs it (public: anyone may check that the log only grows).
#[utoipa::path(
    get,
    path = "/api/v1/identity/evidence/tree-head",
    responses((status = 200, description = "Signed tree head and public key"))
)]
pub async fn evidence_tree_head(state: web::Data<Identity>) -> Result<HttpResponse, ApiError> {
    let head = zw_evidence::publish_head(&state.db, &state.evidence_signer)
        .await
        .map_err(|e| ApiError::Unexpected(e.into()))?;
    Ok(HttpResponse::Ok().json(head))
}
