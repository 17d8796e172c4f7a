//! RFC 9457 problem details: the one error body every service returns.
//!
//! A service's own error enum converts into a [`Problem`] in one place (its `error.rs`); handlers
//! return `Result<_, ApiError>` and never build responses for errors themselves. `type` values are
//! stable URNs (`urn:zhiwang:problem:<code>`) that clients may match on; `code` repeats the last
//! part for convenience.

use std::collections::BTreeMap;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};

/// The media type of a problem body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What a client is told to wait (`Retry-After`, seconds) before retrying a request that found a
/// dependency down ([`Problem::unavailable`]).
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

/// A problem details body (RFC 9457).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:zhiwang:problem:<code>`; stable, safe to match on.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Human-readable explanation of this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The stable code (the last part of `type`).
    pub code: String,
    /// Extra members, e.g. `errors` with per-field messages, or `request_id`.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, serde_json::Value>,
}

impl Problem {
    /// A problem with a status, a stable code and a title.
    pub fn new(status: StatusCode, code: &str, title: &str) -> Self {
        Self {
            problem_type: format!("urn:zhiwang:problem:{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: None,
            code: code.to_owned(),
            extensions: BTreeMap::new(),
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        if let Ok(v) = serde_json::to_value(value) {
            self.extensions.insert(key.to_owned(), v);
        }
        self
    }

    /// 400: the input does not parse into the domain (`detail` says why).
    pub fn invalid_input(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-input",
            "The request is not valid",
        )
        .with_detail(detail)
    }

    /// 401: no valid credentials.
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Authentication is required",
        )
        .with_detail(detail)
    }

    /// 403: authenticated, but not allowed here.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed").with_detail(detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found").with_detail(detail)
    }

    /// 409: conflicts with the current state.
    pub fn conflict(code: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            code,
            "Conflict with the current state",
        )
        .with_detail(detail)
    }

    /// 413.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "The request body is too large",
        )
        .with_detail(format!("the body may have at most {limit} bytes"))
    }

    /// 429.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
        )
        .with_detail(format!("try again in {retry_after_secs} s"))
        .with("retry_after", retry_after_secs)
    }

    /// 503 with `Retry-After` ([`UNAVAILABLE_RETRY_AFTER_SECS`]): a dependency is down; the
    /// request changed nothing and may be retried.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Temporarily unavailable",
        )
        .with_detail(detail)
        .with("retry_after", UNAVAILABLE_RETRY_AFTER_SECS)
    }

    /// 500: says nothing; the log says everything.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
        )
        .with_detail("the error was logged; the request may be retried")
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The response for this problem.
    pub fn to_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((CONTENT_TYPE, PROBLEM_JSON));
        if let Some(secs) = self.extensions.get("retry_after").and_then(|v| v.as_u64()) {
            res.insert_header(("Retry-After", secs.to_string()));
        }
        res.body(serde_json::to_vec(self).unwrap_or_default())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.code)?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl actix_web::Responder for Problem {
    type Body = actix_web::body::BoxBody;
    fn respond_to(self, _req: &actix_web::HttpRequest) -> HttpResponse {
        self.to_response()
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        Problem::status_code(self)
    }
    fn error_response(&self) -> HttpResponse {
        self.to_response()
    }
}

/// Log an unexpected error with its whole cause chain and return the opaque 500 problem.
pub fn internal_error(err: &anyhow::Error) -> Problem {
    tracing::error!(error = ?err, "unexpected error");
    Problem::internal()
}

/// Error handlers that turn actix's extractor errors (bad JSON, bad query, too large) into
/// problems instead of its plain-text defaults.
pub mod extractors {
    use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
    use actix_web::{HttpRequest, web};

    use super::Problem;

    pub fn json_config(limit: usize) -> web::JsonConfig {
        web::JsonConfig::default()
            .limit(limit)
            .error_handler(move |err, _req: &HttpRequest| {
                let problem = match &err {
                    JsonPayloadError::Overflow { .. }
                    | JsonPayloadError::OverflowKnownLength { .. } => {
                        Problem::payload_too_large(limit)
                    }
                    JsonPayloadError::ContentType => Problem::new(
                        actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "unsupported-media-type",
                        "The body must be JSON",
                    )
                    .with_detail("send Content-Type: application/json"),
                    JsonPayloadError::Deserialize(e) => Problem::invalid_input(e.to_string()),
                    other => Problem::invalid_input(other.to_string()),
                };
                actix_web::error::InternalError::from_response(err, problem.to_response()).into()
            })
    }

    pub fn query_config() -> web::QueryConfig {
        web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
            let problem = Problem::invalid_input(err.to_string());
            actix_web::error::InternalError::from_response(err, problem.to_response()).into()
        })
    }

    pub fn path_config() -> web::PathConfig {
        web::PathConfig::default().error_handler(|err: PathError, _req| {
            let problem = Problem::invalid_input(err.to_string());
            actix_web::error::InternalError::from_response(err, problem.to_response()).into()
        })
    }

    /// Raw bodies (`web::Bytes`, `String`) are limited too.
    pub fn payload_config(limit: usize) -> web::PayloadConfig {
        web::PayloadConfig::new(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependency_that_is_down_answers_503_problem_json_with_retry_after() {
        let res = Problem::unavailable("the signing keys are unavailable").to_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(header("content-type").as_deref(), Some(PROBLEM_JSON));
        assert_eq!(
            header("retry-after"),
            Some(UNAVAILABLE_RETRY_AFTER_SECS.to_string())
        );
    }
}
