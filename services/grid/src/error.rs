//! The grid service's one API error type, mapped to problem+json in one place.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use zw_platform::Problem;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: input that does not parse into the domain.
    #[error("{0}")]
    InvalidInput(String),
    /// 401 / 403 from the auth library.
    #[error(transparent)]
    Auth(#[from] zw_auth::AuthError),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 422: the house code is valid but no such house is registered.
    #[error("no house with code {0} is registered")]
    UnknownHouse(String),
    /// 422: the house exists but nobody can live there (planned or demolished).
    #[error("house {code} is {status}: nobody can declare residence there")]
    HouseNotInUse { code: String, status: String },
    /// 409: the person already lives in that house.
    #[error("this person is already registered as living in house {0}")]
    AlreadyResident(String),
    /// 409: the task was already decided.
    #[error("task {0} is already closed")]
    TaskClosed(String),
    /// 422: the Idempotency-Key was used before with a different request.
    #[error("the Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    /// 500: logged with its cause chain; the client learns nothing.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::Unexpected(e.into())
    }
}

impl From<zw_evidence::EvidenceError> for ApiError {
    fn from(e: zw_evidence::EvidenceError) -> Self {
        use zw_evidence::EvidenceError as E;
        match e {
            E::InvalidInput(m) => ApiError::InvalidInput(m),
            e @ (E::RecordNotFound { .. } | E::TreeHeadNotFound { .. }) => {
                ApiError::NotFound(e.to_string())
            }
            e => ApiError::Unexpected(e.into()),
        }
    }
}

impl ApiError {
    pub fn problem(&self) -> Problem {
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        match self {
            ApiError::InvalidInput(m) => Problem::invalid_input(m.clone()),
            ApiError::Auth(e) => Problem::from(e.clone()),
            ApiError::NotFound(m) => Problem::not_found(m.clone()),
            ApiError::UnknownHouse(_) => {
                Problem::new(unprocessable, "unknown-house", "Unknown house")
                    .with_detail(self.to_string())
            }
            ApiError::HouseNotInUse { .. } => {
                Problem::new(unprocessable, "house-not-in-use", "House not in use")
                    .with_detail(self.to_string())
            }
            ApiError::AlreadyResident(_) => Problem::conflict("already-resident", self.to_string()),
            ApiError::TaskClosed(_) => Problem::conflict("task-closed", self.to_string()),
            ApiError::IdempotencyKeyReused => Problem::new(
                unprocessable,
                "idempotency-key-reused",
                "Idempotency-Key reused",
            )
            .with_detail(self.to_string()),
            ApiError::Unexpected(e) => zw_platform::problem::internal_error(e),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.problem().status_code()
    }
    fn error_response(&self) -> HttpResponse {
        match self {
            // Keeps the WWW-Authenticate challenge.
            ApiError::Auth(e) => e.error_response(),
            _ => self.problem().to_response(),
        }
    }
}
