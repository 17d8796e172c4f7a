//! `POST /api/v1/identity/token`: the OAuth 2.0 token endpoint (RFC 6749) for the password and
//! client-credentials grants, as JSON or as a form.

use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use zw_platform::Problem;

use super::{Identity, form_or_json};
use crate::accounts::{client_token_request, find_service_account, find_user, user_token_request};
use crate::error::{ApiError, Credentials};

/// A token request. `grant_type=password` needs `username` and `password`;
/// `grant_type=client_credentials` needs `client_id` and `client_secret`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenForm {
    /// `password` or `client_credentials`.
    #[schema(example = "password")]
    pub grant_type: Option<String>,
    /// For the password grant.
    pub username: Option<String>,
    /// For the password grant.
    pub password: Option<String>,
    /// For the client-credentials grant.
    pub client_id: Option<String>,
    /// For the client-credentials grant.
    pub client_secret: Option<String>,
}

/// A token request, parsed.
enum Grant {
    Password {
        username: String,
        password: String,
    },
    ClientCredentials {
        client_id: String,
        client_secret: String,
    },
}

fn required(v: Option<String>, name: &str, grant: &str) -> Result<String, ApiError> {
    v.filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::InvalidInput(format!("{name} is required for grant_type={grant}")))
}

impl TryFrom<TokenForm> for Grant {
    type Error = ApiError;
    fn try_from(f: TokenForm) -> Result<Grant, ApiError> {
        let grant_type = f
            .grant_type
            .ok_or_else(|| ApiError::InvalidInput("grant_type is required".into()))?;
        match grant_type.as_str() {
            "password" => Ok(Grant::Password {
                username: required(f.username, "username", "password")?,
                password: required(f.password, "password", "password")?,
            }),
            "client_credentials" => Ok(Grant::ClientCredentials {
                client_id: required(f.client_id, "client_id", "client_credentials")?,
                client_secret: required(f.client_secret, "client_secret", "client_credentials")?,
            }),
            _ => Err(ApiError::UnsupportedGrantType(grant_type)),
        }
    }
}

/// Client credentials sent as `Authorization: Basic base64(client_id:client_secret)`
/// (`client_secret_basic`, RFC 6749 §2.3.1), which many OAuth client libraries use by default.
/// Our client ids and secrets never contain characters that need form-encoding, so the values
/// are taken as they are.
fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, ApiError> {
    use base64::Engine;
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::InvalidInput("Basic client credentials must be base64(client_id:secret)".into())
    };
    // Other schemes (say, a stale Bearer token a client sends along) are not client
    // authentication: ignored here.
    let Some((scheme, encoded)) = value.to_str().ok().and_then(|v| v.split_once(' ')) else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(Some((id.to_owned(), secret.to_owned())))
}

/// Exchange credentials for an access token. A wrong password, an unknown username and a
/// disabled account all get the same 401, in the same time. Client credentials may also come as
/// `Authorization: Basic base64(client_id:client_secret)`.
#[utoipa::path(
    post,
    path = "/api/v1/identity/token",
    request_body(
        content(
            (TokenForm = "application/json"),
            (TokenForm = "application/x-www-form-urlencoded"),
        ),
        description = "The grant and its credentials"
    ),
    responses(
        (status = 200, description = "An access token", body = zw_auth::IssuedToken),
        (status = 400, description = "Missing field, malformed body or unsupported grant_type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The credentials are not correct", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor a form", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn issue_token(
    state: web::Data<Identity>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let mut form: TokenForm = form_or_json(&req, &body)?;
    if let Some((client_id, client_secret)) = basic_credentials(&req)? {
        if form.client_secret.is_some() {
            return Err(ApiError::InvalidInput(
                "send the client credentials either in the Authorization header or in the body, not both".into(),
            ));
        }
        form.client_id = Some(client_id);
        form.client_secret = Some(client_secret);
    }
    let grant = Grant::try_from(form)?;
    let token_request = match grant {
        Grant::Password { username, password } => {
            let user = find_user(&state.db, &username.to_ascii_lowercase()).await?;
            let hash = user.as_ref().map(|u| u.password_hash.as_str());
            let matches = state.passwords.verify_or_dummy(&password, hash).await?;
            match user {
                Some(u) if matches && !u.disabled => user_token_request(&u)?,
                _ => {
                    // What was typed, often a mobile or ID number: masked.
                    tracing::info!(username = %zw_domain::redact(&username), "password login refused");
                    return Err(ApiError::InvalidCredentials(Credentials::Password));
                }
            }
        }
        Grant::ClientCredentials {
            client_id,
            client_secret,
        } => {
            let account = find_service_account(&state.db, &client_id.to_ascii_lowercase()).await?;
            let hash = account.as_ref().map(|a| a.secret_hash.as_str());
            let matches = state
                .passwords
                .verify_or_dummy(&client_secret, hash)
                .await?;
            match account {
                Some(a) if matches && !a.disabled => client_token_request(&a)?,
                _ => {
                    tracing::info!(client_id = %zw_domain::redact(&client_id), "client-credentials login refused");
                    return Err(ApiError::InvalidCredentials(Credentials::Client));
                }
            }
        }
    };
    // Younger than the subject's latest sign-out, even one in this very second.
    let now = chrono::Utc::now().timestamp();
    let iat = crate::revocations::issued_not_before(&state.db, &token_request.subject)
        .await?
        .map_or(now, |earliest| earliest.max(now));
    let issued = state.ring.issuer().issue_at(&token_request, iat)?;
    tracing::info!(subject = %token_request.subject, "access token issued");
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .json(issued))
}
