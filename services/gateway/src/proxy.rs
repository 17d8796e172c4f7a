//! Forwarding `/api/v1/<service>/…` to the service: the checks at the edge (body size, token,
//! rate limit), the headers that cross (and those that do not), and the response streamed back.
//!
//! The order of the checks is deliberate:
//! 1. the service must exist (404) and the path must not step out of it (400);
//! 2. a declared `Content-Length` over the limit is refused (413) before anything else is read;
//! 3. an `Authorization` header must be `Bearer <token>` and the token must verify; the rate limit is then counted against the verified `sub`, or
//!    against the client address when there is no token *or the token failed* (so guessing
//!    tokens is rate limited too); only then does a bad token get its 401. `Basic` client
//!    credentials are no token: they pass to the service as they are (the identity service's
//!    token endpoint takes them, OAuth's `client_secret_basic`; every other service refuses
//!    them), counted against the client address;
//! 4. the body is read up to the limit (413 past it), so an oversized body never reaches a
//!    service, even when it was sent chunked or with a lying `Content-Length`;
//! 5. the request is sent with a timeout (504); a service that takes no connection (refused,
//!    or not connected within the connect timeout) is down: 503 with `Retry-After`, since the
//!    request never left; a connection that breaks off without a valid answer is 502. The
//!    response's status, headers and body are streamed back as they arrive.

use std::net::IpAddr;
use std::pin::Pin;
use std::time::Duration;

use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::StatusCode;
use actix_web::http::header::{self as actix_header, HeaderMap as ActixHeaders};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use zw_platform::http::{REQUEST_ID, RequestId};

use crate::Gateway;
use crate::error::ApiError;
use crate::ratelimit::{Decision, retry_after_secs};

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus those a
/// proxy must set itself (`host`, `content-length`, `expect`).
const HOP_BY_HOP: [&str; 11] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Prefixes of headers only the platform itself may set: a client can never claim a principal
/// or an internal identity by sending them. The gateway forwards the token, never a principal.
const INTERNAL_PREFIXES: [&str; 5] = [
    "x-principal",
    "x-zw-",
    "x-internal-",
    "x-authenticated-",
    "x-user-",
];

/// Headers the gateway sets from what it saw itself, never taken from the client: the gateway
/// is the edge, so a client-supplied forwarding chain is not trusted.
const EDGE_SET: [&str; 7] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "expect",
    REQUEST_ID,
];

/// Routes that take large bodies (photos, bulk imports, offline collection batches): they get
/// `http.max_upload_bytes` instead of `http.max_body_bytes`.
const UPLOAD_PATHS: [&str; 3] = [
    "/api/v1/grid/media",
    "/api/v1/grid/imports/",
    "/api/v1/grid/batches",
];

fn is_upload_path(path: &str) -> bool {
    UPLOAD_PATHS.iter().any(|p| path.starts_with(p))
}

/// The handler for `/api/v1/{service}` and everything under it.
pub(crate) async fn forward(
    req: HttpRequest,
    payload: web::Payload,
    gateway: web::Data<Gateway>,
) -> Result<HttpResponse, ApiError> {
    let service = req
        .match_info()
        .get("service")
        .unwrap_or_default()
        .to_owned();
    let Some(base) = gateway.upstreams.get(&service) else {
        return Err(ApiError::UnknownService(service));
    };
    if has_dot_segments(req.uri().path()) {
        return Err(ApiError::DotSegments);
    }
    let limit = if is_upload_path(req.uri().path()) {
        gateway.max_upload_bytes
    } else {
        gateway.max_body_bytes
    };
    if declared_length(&req).is_some_and(|len| len > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }

    let client_ip = req.peer_addr().map(|a| a.ip());
    // The same parser as every service: an `Authorization` header that is not
    // `Bearer <token>` is refused here as it would be there.
    let verified = match zw_auth::bearer_token(&req) {
        Ok(None) => Ok(None),
        Ok(Some(token)) => gateway.verifier.verify(&token).await.map(Some),
        Err(_) if has_basic_credentials(&req) => Ok(None),
        Err(e) => Err(e),
    };
    let key = match &verified {
        Ok(Some(principal)) => format!("sub:{}", principal.subject),
        _ => format!(
            "ip:{}",
            client_ip.map(|ip| ip.to_string()).unwrap_or_default()
        ),
    };
    if let Decision::Deny { retry_after } = gateway.limiter.check(&key).await {
        gateway.count(&service, "rate_limited");
        return Err(ApiError::RateLimited {
            retry_after_secs: retry_after_secs(retry_after),
        });
    }
    let principal = verified.map_err(|e| {
        gateway.count(&service, "unauthenticated");
        ApiError::Unauthenticated(e)
    })?;

    let body = read_body(payload, limit).await?;

    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let headers = upstream_headers(&req, request_id.as_deref(), client_ip);
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("{base}{path_and_query}");
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|e| ApiError::Unexpected(e.into()))?;
    tracing::debug!(
        %service,
        // The path and query are the client's: masked of ID and phone numbers.
        url = %zw_domain::redact(&url),
        principal = principal.as_ref().map(|p| p.subject.as_str()).unwrap_or("anonymous"),
        "forwarding"
    );

    let send = gateway
        .client
        .request(method, &url)
        .headers(headers)
        .body(body)
        .send();
    let timeout = gateway.upstream_timeout;
    let upstream = match tokio::time::timeout(timeout, send).await {
        Ok(Ok(res)) => res,
        // Before `is_timeout`: a connect timeout is both, and it means the service is down.
        Ok(Err(source)) if source.is_connect() => {
            gateway.count(&service, "down");
            return Err(ApiError::UpstreamDown { service, source });
        }
        Ok(Err(e)) if e.is_timeout() => {
            gateway.count(&service, "timeout");
            return Err(ApiError::UpstreamTimeout {
                service,
                timeout_secs: whole_secs(timeout),
            });
        }
        Ok(Err(source)) => {
            gateway.count(&service, "broken");
            return Err(ApiError::UpstreamBroken { service, source });
        }
        Err(_) => {
            gateway.count(&service, "timeout");
            return Err(ApiError::UpstreamTimeout {
                service,
                timeout_secs: whole_secs(timeout),
            });
        }
    };
    gateway.count(&service, upstream.status().as_str());
    Ok(downstream_response(upstream))
}

/// Whether the request carries `Authorization: Basic …` (client credentials, not a token).
fn has_basic_credentials(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
}

fn whole_secs(d: Duration) -> u64 {
    d.as_secs().max(1)
}

fn declared_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(actix_header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether any segment is `.` or `..`, also percent-encoded (`%2e`): such a path could step
/// outside `/api/v1/<service>/` once normalised.
fn has_dot_segments(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

/// Read the whole body, refusing it as soon as it grows past `limit` bytes.
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadBody(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn is_hop_by_hop(name: &str, listed_in_connection: &[String]) -> bool {
    HOP_BY_HOP.contains(&name) || listed_in_connection.iter().any(|c| c == name)
}

fn is_internal(name: &str) -> bool {
    INTERNAL_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Names listed in the `Connection` header(s): hop-by-hop for this message.
fn connection_listed(headers: &ActixHeaders) -> Vec<String> {
    headers
        .get_all(actix_header::CONNECTION)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The headers sent to the service: the client's, minus hop-by-hop and internal ones, plus the
/// request id, the forwarding chain as the gateway saw it, and the trace context.
fn upstream_headers(
    req: &HttpRequest,
    request_id: Option<&str>,
    client_ip: Option<IpAddr>,
) -> HeaderMap {
    let listed = connection_listed(req.headers());
    let trace = zw_platform::telemetry::current_trace_headers();
    let own_trace = trace
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("traceparent"));
    let mut out = HeaderMap::new();
    for (name, value) in req.headers() {
        let name = name.as_str();
        if is_hop_by_hop(name, &listed) || is_internal(name) || EDGE_SET.contains(&name) {
            continue;
        }
        // Our own span continues the client's trace; without one (no tracing layer installed)
        // the client's context passes through untouched.
        if own_trace && (name == "traceparent" || name == "tracestate") {
            continue;
        }
        append(&mut out, name, value.as_bytes());
    }
    if own_trace {
        for (name, value) in &trace {
            append(&mut out, name, value.as_bytes());
        }
    }
    if let Some(id) = request_id {
        append(&mut out, REQUEST_ID, id.as_bytes());
    }
    if let Some(ip) = client_ip {
        append(&mut out, "x-forwarded-for", ip.to_string().as_bytes());
        let node = match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("\"[{v6}]\""),
        };
        let host = req
            .headers()
            .get(actix_header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .replace(['"', '\\'], "");
        let proto = req.connection_info().scheme().to_owned();
        append(
            &mut out,
            "forwarded",
            format!("for={node};host=\"{host}\";proto={proto}").as_bytes(),
        );
    }
    out
}

fn append(headers: &mut HeaderMap, name: &str, value: &[u8]) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_bytes(value),
    ) {
        headers.append(name, value);
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>>>>;

/// The service's answer, streamed back with its status and end-to-end headers.
fn downstream_response(upstream: reqwest::Response) -> HttpResponse {
    let status =
        StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut res = HttpResponse::build(status);
    let listed: Vec<String> = upstream
        .headers()
        .get_all(reqwest::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect();
    for (name, value) in upstream.headers() {
        if is_hop_by_hop(name.as_str(), &listed) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            actix_header::HeaderName::from_bytes(name.as_str().as_bytes()),
            actix_header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            res.append_header((name, value));
        }
    }
    let length = upstream.content_length();
    let chunks: ChunkStream = Box::pin(futures::stream::unfold(
        Some(upstream),
        |state| async move {
            let mut upstream = state?;
            match upstream.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(upstream))),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "upstream broke off while streaming its response");
                    Some((Err(e), None))
                }
            }
        },
    ));
    match length {
        Some(len) => res.body(SizedStream::new(len, chunks)),
        None => res.body(BodyStream::new(chunks)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_found_also_when_percent_encoded() {
        assert!(has_dot_segments("/api/v1/grid/../identity/x"));
        assert!(has_dot_segments("/api/v1/grid/%2E%2e/identity"));
        assert!(has_dot_segments("/api/v1/grid/./x"));
        assert!(!has_dot_segments("/api/v1/grid/houses/a.b"));
        assert!(!has_dot_segments("/api/v1/grid/..."));
    }

    #[test]
    fn internal_and_hop_by_hop_headers_are_recognised() {
        assert!(is_internal("x-principal"));
        assert!(is_internal("x-principal-roles"));
        assert!(is_internal("x-zw-scope"));
        assert!(!is_internal("x-request-id"));
        assert!(is_hop_by_hop("transfer-encoding", &[]));
        assert!(is_hop_by_hop("x-custom", &["x-custom".to_owned()]));
        assert!(!is_hop_by_hop("content-type", &[]));
    }
}
