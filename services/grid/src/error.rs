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
    /// 403 for a reason of this service (not a missing role or scope, which is `Auth`).
    #[error("{0}")]
    Forbidden(String),
    /// 403 with a stable problem type (`field-hidden`, …): refused by a policy, not by scope.
    #[error("{detail}")]
    Refused { code: &'static str, detail: String },
    /// 409: the request is valid but conflicts with the record's state; `code` is the stable
    /// problem type (`house-demolished`, `person-deceased`, `version-conflict`, …).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// 422: well-formed but not acceptable; `code` is the stable problem type.
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    /// 422 `bad-lines`: an uploaded file with refused lines; nothing was written. `listed`
    /// holds the first [`MAX_BAD_LINES_LISTED`] by line; `count` is complete.
    #[error("{count} bad line(s); nothing was imported")]
    BadLines { count: usize, listed: Vec<BadLine> },
    /// 413: the body is larger than `limit` bytes.
    #[error("the body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 415: the content type is not one this route takes.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 503 `database-busy` with `Retry-After`: the database could not be had in time; nothing
    /// was changed.
    #[error("the database is busy")]
    Busy,
    /// What the evidence log answers (400, 404, 503 `evidence-log-tampered`), as it says.
    #[error("{0}")]
    Evidence(Box<zw_platform::Problem>),
    /// 500: logged with its cause chain; the client learns nothing.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        if zw_platform::db::is_busy(&e) {
            tracing::warn!(error = %e, "database busy");
            return ApiError::Busy;
        }
        ApiError::Unexpected(e.into())
    }
}

impl From<zw_evidence::EvidenceError> for ApiError {
    fn from(e: zw_evidence::EvidenceError) -> Self {
        match e {
            zw_evidence::EvidenceError::Database(e) => ApiError::from(e),
            e => match zw_evidence::http::problem(&e) {
                Some(problem) => ApiError::Evidence(Box::new(problem)),
                None => ApiError::Unexpected(e.into()),
            },
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
            ApiError::Forbidden(m) => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden").with_detail(m.clone())
            }
            ApiError::Refused { code, detail } => {
                Problem::new(StatusCode::FORBIDDEN, code, &title_of(code))
                    .with_detail(detail.clone())
            }
            ApiError::Conflict { code, detail } => Problem::conflict(code, detail.clone()),
            ApiError::Unprocessable { code, detail } => {
                Problem::new(unprocessable, code, &title_of(code)).with_detail(detail.clone())
            }
            ApiError::BadLines { count, listed } => {
                let lines: Vec<String> = listed
                    .iter()
                    .map(|b| format!("line {}: {}", b.line, b.problem))
                    .collect();
                let more = if *count > listed.len() { "; …" } else { "" };
                Problem::new(unprocessable, "bad-lines", "Bad lines")
                    .with_detail(format!("{self}. {}{more}", lines.join("; ")))
                    .with("bad_lines", listed)
                    .with("bad_line_count", count)
            }
            ApiError::PayloadTooLarge { .. } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            )
            .with_detail(self.to_string()),
            ApiError::UnsupportedMediaType(m) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            )
            .with_detail(m.clone()),
            ApiError::Busy => zw_platform::db::busy_problem(),
            ApiError::Evidence(problem) => (**problem).clone(),
            ApiError::Unexpected(e) => zw_platform::problem::internal_error(e),
        }
    }
}

/// Bad lines of a file listed in a problem at most; their count is always complete.
pub const MAX_BAD_LINES_LISTED: usize = 100;

/// A line of an uploaded file that was refused, and why.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct BadLine {
    /// 1-based: the CSV line (the header is line 1) or the JSON array element.
    pub line: u64,
    /// The code of the record on that line, when it has a readable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub problem: String,
}

impl BadLine {
    pub fn new(line: u64, problem: impl Into<String>) -> BadLine {
        BadLine {
            line,
            code: None,
            problem: problem.into(),
        }
    }
}

impl ApiError {
    /// `Ok` for a file without bad lines, else 422 `bad-lines` listing them in line order.
    pub fn refuse_bad_lines(mut bad: Vec<BadLine>) -> Result<(), ApiError> {
        if bad.is_empty() {
            return Ok(());
        }
        let count = bad.len();
        bad.sort_by_key(|b| b.line);
        bad.truncate(MAX_BAD_LINES_LISTED);
        Err(ApiError::BadLines { count, listed: bad })
    }
}

/// `house-demolished` → `House demolished`.
fn title_of(code: &str) -> String {
    let mut t = code.replace('-', " ");
    if let Some(first) = t.get(0..1) {
        let upper = first.to_uppercase();
        t.replace_range(0..1, &upper);
    }
    t
}

impl ApiError {
    /// 409 with a stable problem type.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::Conflict {
            code,
            detail: detail.into(),
        }
    }

    /// 403 with a stable problem type.
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::Refused {
            code,
            detail: detail.into(),
        }
    }

    /// 422 with a stable problem type.
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::Unprocessable {
            code,
            detail: detail.into(),
        }
    }

    /// 400 for a field that does not parse.
    pub fn invalid(field: &str, e: impl std::fmt::Display) -> ApiError {
        ApiError::InvalidInput(format!("{field}: {e}"))
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

/// The HTTP answer of an operation that gives a status and a JSON body.
pub fn reply(
    result: Result<(StatusCode, serde_json::Value), ApiError>,
) -> Result<HttpResponse, ApiError> {
    let (status, body) = result?;
    Ok(HttpResponse::build(status).json(body))
}

/// A page cursor as this API hands them out (the last row's UUID).
pub fn parse_cursor(c: Option<&str>) -> Result<Option<uuid::Uuid>, ApiError> {
    c.map(|c| {
        uuid::Uuid::parse_str(c)
            .map_err(|_| ApiError::InvalidInput("cursor is not one this API returned".into()))
    })
    .transpose()
}

/// 409 `version-conflict` when the client expected another version of `what` than `actual`.
pub fn check_version(what: &str, expected: Option<i64>, actual: i64) -> Result<(), ApiError> {
    match expected {
        Some(v) if v != actual => Err(ApiError::conflict(
            "version-conflict",
            format!("{what} is at version {actual}, not {v}: read it again and retry"),
        )),
        _ => Ok(()),
    }
}
