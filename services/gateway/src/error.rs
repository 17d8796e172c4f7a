//! The gateway's one API error, mapped to problem+json in one place ([`ApiError::problem`]).
//!
//! Every variant's doc says which status it returns. Upstream failures and unexpected errors are
//! logged with their cause here; the body only says what a client can act on.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use zw_platform::Problem;

/// Why the gateway answered a request itself instead of forwarding it (or its answer).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404: `/api/v1/<service>/…` names no configured upstream.
    #[error("no service named {0:?}")]
    UnknownService(String),
    /// 400: the path has `.` or `..` segments (they could step outside the service's prefix).
    #[error("the path may not contain . or .. segments")]
    DotSegments,
    /// 400: the request body could not be read (the client broke off, bad chunked encoding).
    #[error("the request body could not be read: {0}")]
    BadBody(String),
    /// 401 with a `WWW-Authenticate: Bearer` challenge: the bearer token did not verify
    /// (malformed, forged, expired, `alg: none`, wrong issuer or audience). 503 when the signing
    /// keys cannot be fetched at all.
    #[error(transparent)]
    Unauthenticated(zw_auth::AuthError),
    /// 413: the body (declared or actually sent) is larger than `http.max_body_bytes`.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },
    /// 429 with `Retry-After`: the principal (or client address) used up its window.
    #[error("rate limited for {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the window resets.
        retry_after_secs: u64,
    },
    /// 503 with `Retry-After` (`unavailable`): no connection to the upstream could be made
    /// (refused, or not made within the connect timeout): the service is down, the request was
    /// never sent, so nothing was changed.
    #[error("service {service} is down")]
    UpstreamDown {
        /// The service the request was for.
        service: String,
        /// What went wrong (logged, not shown).
        #[source]
        source: reqwest::Error,
    },
    /// 502: the upstream was connected but broke off or sent no valid HTTP answer (the request
    /// may have reached it).
    #[error("service {service} sent no valid answer")]
    UpstreamBroken {
        /// The service the request was for.
        service: String,
        /// What went wrong (logged, not shown).
        #[source]
        source: reqwest::Error,
    },
    /// 504: the upstream did not answer in time.
    #[error("service {service} did not answer within {timeout_secs} s")]
    UpstreamTimeout {
        /// The service the request was for.
        service: String,
        /// The timeout that elapsed, in seconds.
        timeout_secs: u64,
    },
    /// 500: anything else; logged with its cause chain, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ApiError {
    /// The problem+json body for this error; logs what the client is not told.
    pub fn problem(&self) -> Problem {
        match self {
            ApiError::UnknownService(service) => {
                Problem::new(StatusCode::NOT_FOUND, "unknown-service", "No such service")
                    .with_detail(format!("no service is named {service:?}"))
            }
            ApiError::DotSegments => Problem::invalid_input(self.to_string()),
            ApiError::BadBody(_) => Problem::invalid_input(self.to_string()),
            ApiError::Unauthenticated(err) => Problem::from(err.clone()),
            ApiError::PayloadTooLarge { limit } => Problem::payload_too_large(*limit),
            ApiError::RateLimited { retry_after_secs } => Problem::rate_limited(*retry_after_secs),
            ApiError::UpstreamDown { service, source } => {
                tracing::warn!(%service, error = ?source, "upstream down");
                Problem::unavailable(format!(
                    "the {service} service is down; the request was not sent to it, so nothing \
                     was changed: retry after Retry-After seconds"
                ))
            }
            ApiError::UpstreamBroken { service, source } => {
                tracing::warn!(%service, error = ?source, "upstream broke off");
                Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "bad-gateway",
                    "The service sent no valid answer",
                )
                .with_detail(format!(
                    "the {service} service broke off or sent no valid HTTP answer; the request \
                     may have reached it"
                ))
            }
            ApiError::UpstreamTimeout {
                service,
                timeout_secs,
            } => {
                tracing::warn!(%service, timeout_secs, "upstream timed out");
                Problem::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "gateway-timeout",
                    "The service did not answer in time",
                )
                .with_detail(format!(
                    "the {service} service did not answer within {timeout_secs} s"
                ))
            }
            ApiError::Unexpected(err) => zw_platform::problem::internal_error(err),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::UnknownService(_) => StatusCode::NOT_FOUND,
            ApiError::DotSegments | ApiError::BadBody(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(err) => err.status(),
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UpstreamDown { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UpstreamBroken { .. } => StatusCode::BAD_GATEWAY,
            ApiError::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            // The verifier's own answer: its problem plus the RFC 6750 challenge.
            ApiError::Unauthenticated(err) => err.error_response(),
            _ => self.problem().to_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_answers_with_the_status_its_doc_names() {
        let cases = [
            (ApiError::UnknownService("x".into()), 404),
            (ApiError::DotSegments, 400),
            (ApiError::BadBody("eof".into()), 400),
            (ApiError::Unauthenticated(zw_auth::AuthError::Expired), 401),
            (ApiError::PayloadTooLarge { limit: 10 }, 413),
            (
                ApiError::RateLimited {
                    retry_after_secs: 3,
                },
                429,
            ),
            (
                ApiError::UpstreamTimeout {
                    service: "grid".into(),
                    timeout_secs: 1,
                },
                504,
            ),
            (
                ApiError::UpstreamDown {
                    service: "grid".into(),
                    source: a_reqwest_error(),
                },
                503,
            ),
            (
                ApiError::UpstreamBroken {
                    service: "grid".into(),
                    source: a_reqwest_error(),
                },
                502,
            ),
            (ApiError::Unexpected(anyhow::anyhow!("boom")), 500),
        ];
        for (err, status) in cases {
            assert_eq!(err.status_code().as_u16(), status, "{err}");
            assert_eq!(err.problem().status, status, "{err}");
        }
    }

    /// Any `reqwest::Error` (the variants only log it): a URL that does not parse.
    fn a_reqwest_error() -> reqwest::Error {
        reqwest::Client::new()
            .get("not a url")
            .build()
            .expect_err("not a URL")
    }

    #[test]
    fn a_service_that_is_down_is_unavailable_with_retry_after() {
        let res = ApiError::UpstreamDown {
            service: "grid".into(),
            source: a_reqwest_error(),
        }
        .error_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            res.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some(
                zw_platform::problem::UNAVAILABLE_RETRY_AFTER_SECS
                    .to_string()
                    .as_str()
            )
        );
    }

    #[test]
    fn a_rate_limited_answer_carries_retry_after() {
        let res = ApiError::RateLimited {
            retry_after_secs: 7,
        }
        .error_response();
        assert_eq!(
            res.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("7")
        );
    }
}
