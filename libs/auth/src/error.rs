//! [`AuthError`]: why a request is not authenticated (401) or not authorized (403).

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use zw_domain::JurisdictionCode;
use zw_platform::Problem;

use crate::Role;

/// Why authentication or authorization failed.
///
/// Each variant's doc names the status it answers with. Every 401 carries a
/// `WWW-Authenticate: Bearer` header when returned through actix ([`ResponseError`]); as a
/// [`Problem`] the `reason` member repeats [`AuthError::reason`], a stable snake_case word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// 401: no `Authorization` header.
    #[error("an access token is required: send Authorization: Bearer <token>")]
    MissingToken,
    /// 401: the `Authorization` header is not `Bearer <token>`.
    #[error("the Authorization header must be \"Bearer <token>\"")]
    NotBearer,
    /// 401: not a compact JWS with a readable header and payload.
    #[error("the access token is malformed: {0}")]
    Malformed(String),
    /// 401: the header's `alg` is not EdDSA or RS256 (this includes `none` and HMAC).
    #[error("the token algorithm {0:?} is not accepted (only EdDSA and RS256)")]
    UnsupportedAlgorithm(String),
    /// 401: the header's `typ` is not `at+jwt` (RFC 9068): an ID token, a legacy `JWT`, or any
    /// other JWT is not an access token.
    #[error("the token type {0:?} is not an access token (typ must be at+jwt)")]
    NotAnAccessToken(String),
    /// 401: the header has no `kid`.
    #[error("the token header has no key id (kid)")]
    MissingKeyId,
    /// 401: no published key has this `kid` (even after refreshing the key set).
    #[error("the token is signed with an unknown key {0:?}")]
    UnknownKey(String),
    /// 401: the header's `alg` does not match the type of the key its `kid` names.
    #[error("the token algorithm {alg} does not match key {kid:?}")]
    AlgorithmMismatch {
        /// The algorithm in the token header.
        alg: String,
        /// The key id in the token header.
        kid: String,
    },
    /// 401: the signature does not verify.
    #[error("the token signature is not valid")]
    BadSignature,
    /// 401: `exp` has passed (beyond the allowed clock skew).
    #[error("the token has expired")]
    Expired,
    /// 401: `nbf` is in the future (beyond the allowed clock skew).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// 401: `iat` is in the future (beyond the allowed clock skew).
    #[error("the token claims to be issued in the future")]
    IssuedInFuture,
    /// 401: `exp - iat` or `exp - nbf` is longer than `auth.max_token_lifetime_secs`.
    #[error("the token's lifetime of {lifetime} s is longer than the {max} s accepted")]
    LifetimeTooLong {
        /// The token's lifetime in seconds.
        lifetime: i64,
        /// The longest accepted.
        max: u64,
    },
    /// 401: the token was revoked, or its subject signed out (or was disabled) after it was
    /// issued.
    #[error("the token has been revoked: log in again")]
    Revoked,
    /// 401: `iss` is not the configured issuer.
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    /// 401: `aud` does not name this platform.
    #[error("the token is meant for another audience")]
    WrongAudience,
    /// 401: a claim is missing or does not parse (e.g. an unknown role, a bad scope code).
    #[error("the token claims are not valid: {0}")]
    InvalidClaims(String),
    /// 503: the key set or the revocation list cannot be fetched and none is cached.
    #[error("the signing keys or the revocations are unavailable: {0}")]
    KeysUnavailable(String),
    /// 500: the service registered no `Verifier` (a wiring bug, logged).
    #[error("no token verifier is configured")]
    NotConfigured,
    /// 403: the object lies outside the principal's jurisdiction.
    #[error("{target} is outside your jurisdiction {scope}")]
    OutOfScope {
        /// The code of the object acted on.
        target: JurisdictionCode,
        /// The principal's scope.
        scope: JurisdictionCode,
    },
    /// 403: the principal has none of the roles required.
    #[error("this requires one of the roles: {}", roles_list(.0))]
    MissingRole(Vec<Role>),
    /// 403: a department is not entitled to this data set.
    #[error("you are not entitled to the data set {0:?}")]
    NotEntitled(String),
    /// 500: a key could not be generated, read or used to sign (logged).
    #[error("signing key error: {0}")]
    Key(String),
}

fn roles_list(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl AuthError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::OutOfScope { .. }
            | AuthError::MissingRole(_)
            | AuthError::NotEntitled(_) => StatusCode::FORBIDDEN,
            AuthError::KeysUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::NotConfigured | AuthError::Key(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// A stable snake_case word for the failure, for logs, metrics and the problem body.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::NotBearer => "not_bearer",
            AuthError::Malformed(_) => "malformed",
            AuthError::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            AuthError::NotAnAccessToken(_) => "not_an_access_token",
            AuthError::MissingKeyId => "missing_key_id",
            AuthError::UnknownKey(_) => "unknown_key",
            AuthError::AlgorithmMismatch { .. } => "algorithm_mismatch",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::IssuedInFuture => "issued_in_future",
            AuthError::LifetimeTooLong { .. } => "lifetime_too_long",
            AuthError::Revoked => "revoked",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::InvalidClaims(_) => "invalid_claims",
            AuthError::KeysUnavailable(_) => "keys_unavailable",
            AuthError::NotConfigured => "not_configured",
            AuthError::OutOfScope { .. } => "out_of_scope",
            AuthError::MissingRole(_) => "missing_role",
            AuthError::NotEntitled(_) => "not_entitled",
            AuthError::Key(_) => "key_error",
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750) for a 401, `None` otherwise.
    pub fn challenge(&self) -> Option<String> {
        match self {
            // No credentials at all: the bare challenge, no error code (RFC 6750 §3.1).
            AuthError::MissingToken => Some("Bearer realm=\"zhiwang\"".to_owned()),
            AuthError::NotBearer => {
                Some("Bearer realm=\"zhiwang\", error=\"invalid_request\"".to_owned())
            }
            e if e.status() == StatusCode::UNAUTHORIZED => {
                let description = e.to_string().replace(['"', '\\'], "'");
                Some(format!(
                    "Bearer realm=\"zhiwang\", error=\"invalid_token\", error_description=\"{description}\""
                ))
            }
            _ => None,
        }
    }
}

impl From<AuthError> for Problem {
    fn from(err: AuthError) -> Problem {
        let problem = match err.status() {
            StatusCode::FORBIDDEN => Problem::forbidden(err.to_string()),
            StatusCode::SERVICE_UNAVAILABLE => Problem::unavailable(err.to_string()),
            StatusCode::INTERNAL_SERVER_ERROR => {
                tracing::error!(error = %err, "authentication machinery failed");
                return Problem::internal();
            }
            _ => Problem::unauthenticated(err.to_string()),
        };
        problem.with("reason", err.reason())
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = Problem::from(self.clone()).to_response();
        if let Some(challenge) = self.challenge()
            && let Ok(v) = HeaderValue::from_str(&challenge)
        {
            res.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_failures_are_401_with_a_bearer_challenge_and_scope_failures_are_403() {
        let expired = AuthError::Expired.error_response();
        assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
        let challenge = expired
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok());
        assert!(challenge.is_some_and(|c| c.starts_with("Bearer ") && c.contains("invalid_token")));

        let out = AuthError::OutOfScope {
            target: JurisdictionCode::parse("440304009").expect("code"),
            scope: JurisdictionCode::parse("440304008").expect("code"),
        };
        let res = out.error_response();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(res.headers().get(WWW_AUTHENTICATE).is_none());
        let problem = Problem::from(out);
        assert_eq!(problem.code, "forbidden");
        assert_eq!(
            problem.extensions.get("reason"),
            Some(&serde_json::json!("out_of_scope"))
        );
    }
}
