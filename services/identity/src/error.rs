//! The identity service's one API error, mapped to problem+json in one place.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use sea_orm::DbErr;
use zw_platform::Problem;

/// Which credentials were refused (the message names the pair, never which half was wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// Username and password.
    Password,
    /// Client id and secret.
    Client,
}

/// Everything a handler can fail with. Each variant's doc names its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `invalid-input`: the request does not parse into the domain.
    #[error("{0}")]
    InvalidInput(String),
    /// 400 `unsupported-grant-type`: the token endpoint knows `password` and
    /// `client_credentials` only.
    #[error("grant_type {0:?} is not supported: use password or client_credentials")]
    UnsupportedGrantType(String),
    /// 415 `unsupported-media-type`: the token and revocation endpoints take JSON or a form.
    #[error("send application/json or application/x-www-form-urlencoded")]
    UnsupportedMediaType,
    /// 401 `invalid-credentials`: the same answer for an unknown name, a wrong password and a
    /// disabled account.
    #[error("{}", match .0 {
        Credentials::Password => "the username or password is not correct",
        Credentials::Client => "the client id or secret is not correct",
    })]
    InvalidCredentials(Credentials),
    /// 401 / 403 from the auth library (with its `WWW-Authenticate` challenge).
    #[error(transparent)]
    Auth(#[from] zw_auth::AuthError),
    /// 404 `not-found`.
    #[error("{0}")]
    NotFound(String),
    /// 409 with a specific code (`username-taken`, `id-number-taken`, `client-id-taken`,
    /// `own-account`).
    #[error("{detail}")]
    Conflict {
        /// The stable problem code.
        code: &'static str,
        /// What conflicts.
        detail: String,
    },
    /// 409 `active-key`: the key that signs new tokens cannot be retired; rotate first.
    #[error("key {0} is the active signing key: rotate first, then retire it")]
    ActiveKey(String),
    /// 503 `database-busy` with `Retry-After`: the database could not be had in time; nothing
    /// was changed.
    #[error("the database is busy")]
    Busy,
    /// 500: logged with its cause chain; the body says nothing.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<DbErr> for ApiError {
    fn from(e: DbErr) -> Self {
        if zw_platform::db::is_busy(&e) {
            tracing::warn!(error = %e, "database busy");
            return ApiError::Busy;
        }
        ApiError::Unexpected(e.into())
    }
}

impl ApiError {
    /// The problem body for this error.
    pub fn problem(&self) -> Problem {
        match self {
            ApiError::InvalidInput(m) => Problem::invalid_input(m.clone()),
            ApiError::UnsupportedGrantType(_) => Problem::new(
                StatusCode::BAD_REQUEST,
                "unsupported-grant-type",
                "Unsupported grant type",
            )
            .with_detail(self.to_string())
            .with("error", "unsupported_grant_type"),
            ApiError::UnsupportedMediaType => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            )
            .with_detail(self.to_string()),
            ApiError::InvalidCredentials(kind) => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-credentials",
                "Invalid credentials",
            )
            .with_detail(self.to_string())
            // The OAuth 2.0 error code (RFC 6749 §5.2), for OAuth clients.
            .with(
                "error",
                match kind {
                    Credentials::Password => "invalid_grant",
                    Credentials::Client => "invalid_client",
                },
            ),
            ApiError::Auth(e) => Problem::from(e.clone()),
            ApiError::NotFound(m) => Problem::not_found(m.clone()),
            ApiError::Conflict { code, detail } => Problem::conflict(code, detail.clone()),
            ApiError::ActiveKey(_) => Problem::conflict("active-key", self.to_string()),
            ApiError::Busy => zw_platform::db::busy_problem(),
            ApiError::Unexpected(e) => zw_platform::problem::internal_error(e),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Auth(e) => e.status(),
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => self.problem().status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = match self {
            // Keeps the WWW-Authenticate challenge.
            ApiError::Auth(e) => e.error_response(),
            _ => self.problem().to_response(),
        };
        res.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}

/// A unique index, by the names each database reports it with: PostgreSQL names the index,
/// SQLite names `table.column`.
#[derive(Debug, Clone, Copy)]
pub struct UniqueKey {
    /// The index name (PostgreSQL).
    pub index: &'static str,
    /// `table.column` (SQLite).
    pub column: &'static str,
}

/// `users.username`.
pub const USERNAME_KEY: UniqueKey = UniqueKey {
    index: "users_username_key",
    column: "users.username",
};
/// `users.id_number`: one account per resident ID number.
pub const ID_NUMBER_KEY: UniqueKey = UniqueKey {
    index: "users_id_number_key",
    column: "users.id_number",
};
/// `service_accounts.client_id`.
pub const CLIENT_ID_KEY: UniqueKey = UniqueKey {
    index: "service_accounts_client_id_key",
    column: "service_accounts.client_id",
};

impl UniqueKey {
    /// Whether `err` violates this key.
    pub fn violated_by(&self, err: &DbErr) -> bool {
        zw_platform::db::is_unique_violation(err, self.index)
            || zw_platform::db::is_unique_violation(err, self.column)
    }
}

/// Map a violation of one unique key to a chosen error; every other database error is
/// unexpected.
pub trait OnUnique<T> {
    /// `Err(conflict())` when `key` is violated.
    fn on_unique(self, key: UniqueKey, conflict: impl FnOnce() -> ApiError) -> Result<T, ApiError>;
}

impl<T> OnUnique<T> for Result<T, DbErr> {
    fn on_unique(self, key: UniqueKey, conflict: impl FnOnce() -> ApiError) -> Result<T, ApiError> {
        self.map_err(|e| {
            if key.violated_by(&e) {
                conflict()
            } else {
                ApiError::from(e)
            }
        })
    }
}
