//! The gateway: Zhiwang's one public entry.
//!
//! - [`build`] / [`build_with`]: the service on a bound listener, with the platform's middleware
//!   (request id, trace span, metrics, problem+json), `/healthz`, `/readyz` and `/metrics`.
//!   `/readyz` checks Redis when it is configured, as an optional check: without Redis the
//!   gateway still serves (the rate limiter fails open), so it stays ready and names Redis
//!   under `degraded` instead of being taken out of rotation.
//! - `proxy` (private): `/api/v1/<service>/…` forwarded to `gateway.upstreams[<service>]` with
//!   the same path and query — the checks at the edge (body size, token, rate limit), the
//!   headers that cross, the response streamed back.
//! - [`ratelimit`]: fixed-window counters per principal or client address, in Redis or in
//!   memory; fails open when Redis is down (why: see the module).
//! - [`openapi`]: the merged OpenAPI 3.1 document of every service at `/api/openapi.json`,
//!   browsable at `/api/docs`.
//! - [`error`]: [`ApiError`], the one error type, mapped to problem+json in one place.
//!
//! Routes: `GET /` (a landing page), `GET /declare` (the citizen's declaration page a house QR code opens), `GET /api/openapi.json`, `GET /api/docs` (the docs
//! page; its assets under `/api/docs/`),
//! `GET /api/v1/gateway/openapi.json` (the gateway's own small document), and any method on
//! `/api/v1/<service>` and below.
//!
//! Authentication happens at the edge *and* in each service: a request with
//! `Authorization: Bearer` is forwarded only when its token verifies (401 otherwise, and the
//! service sees nothing); the header is forwarded unchanged so the service verifies it again and
//! decides what the principal may do. A request without a token is forwarded as anonymous (and
//! so is one with `Basic` client credentials, which only identity's token endpoint takes). The
//! gateway never sends a principal in a header of its own, and removes any such header a client
//! sends.

pub mod error;
pub mod openapi;
mod proxy;
pub mod ratelimit;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use prometheus::{IntCounter, IntCounterVec, Opts};
use utoipa::OpenApi;
use utoipa_swagger_ui::{Config, SwaggerUi};
use zw_platform::Settings;
use zw_platform::health::{FnCheck, Readiness};
use zw_platform::http::{Application, HttpCommon};
use zw_platform::metrics::Metrics;

pub use error::ApiError;

use crate::openapi::MergedDocs;
use crate::ratelimit::RateLimiter;

/// The service's name: its metrics label and the prefix of its own routes.
pub const NAME: &str = "gateway";

/// Where the merged OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// Tunables that are not in [`Settings`] (tests shorten them).
#[derive(Debug, Clone)]
pub struct Options {
    /// How long a service may take to send its response headers, and the longest pause while it
    /// streams its body (504 after that).
    pub upstream_timeout: Duration,
    /// How long connecting to a service may take (then 503: the service counts as down).
    pub connect_timeout: Duration,
    /// How long the merged OpenAPI document is cached (at most 5 s while a service is missing).
    pub openapi_ttl: Duration,
    /// The rate limit window; `gateway.rate_limit_per_minute` requests are allowed per window.
    pub rate_limit_window: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            upstream_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            openapi_ttl: Duration::from_secs(30),
            rate_limit_window: Duration::from_secs(60),
        }
    }
}

/// What every request handler shares.
pub(crate) struct Gateway {
    /// Service name → base URL (no trailing slash).
    pub(crate) upstreams: BTreeMap<String, String>,
    pub(crate) client: reqwest::Client,
    pub(crate) verifier: zw_auth::Verifier,
    pub(crate) limiter: RateLimiter,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_upload_bytes: usize,
    pub(crate) upstream_timeout: Duration,
    pub(crate) docs: MergedDocs,
    upstream_requests: IntCounterVec,
}

impl Gateway {
    /// Count a forwarded (or refused) request by service and outcome (status or reason).
    pub(crate) fn count(&self, service: &str, outcome: &str) {
        self.upstream_requests
            .with_label_values(&[service, outcome])
            .inc();
    }
}

/// The gateway's own OpenAPI document (the services' documents are merged at
/// [`OPENAPI_PATH`]).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Zhiwang gateway",
        description = "The one public entry: token verification, routing, rate limits and the merged API document."
    ),
    paths(merged_openapi, docs_page, landing, declare_page)
)]
pub struct ApiDoc;

/// Build the gateway on `listener` with default [`Options`].
pub async fn build(
    settings: &Settings,
    verifier: zw_auth::Verifier,
    listener: TcpListener,
) -> anyhow::Result<Application> {
    build_with(settings, verifier, listener, Options::default()).await
}

/// Build the gateway on `listener`: check the upstream URLs, set up the rate limiter (Redis
/// when `redis.url` is set, memory otherwise) and the HTTP client.
pub async fn build_with(
    settings: &Settings,
    verifier: zw_auth::Verifier,
    listener: TcpListener,
    options: Options,
) -> anyhow::Result<Application> {
    let metrics = Metrics::new(NAME);
    let upstream_requests = IntCounterVec::new(
        Opts::new(
            "gateway_upstream_requests_total",
            "Requests for each service by outcome (the service's status, or why the gateway answered)",
        ),
        &["service", "outcome"],
    )?;
    metrics.register(Box::new(upstream_requests.clone()));
    let limiter_failures = IntCounter::new(
        "gateway_ratelimit_failures_total",
        "Requests let through unlimited because the rate limit store failed",
    )?;
    metrics.register(Box::new(limiter_failures.clone()));

    let upstreams = upstream_bases(&settings.gateway.upstreams)?;
    let limit = settings.gateway.rate_limit_per_minute;
    let window = options.rate_limit_window;
    let limiter = match settings.redis_url() {
        Some(url) => RateLimiter::redis(
            limit,
            window,
            url,
            &settings.redis.key_prefix,
            limiter_failures,
        )?,
        None => RateLimiter::memory(limit, window),
    };
    let mut readiness = Readiness::new();
    if settings.redis_url().is_some() {
        let limiter = limiter.clone();
        // Optional: the limiter fails open without Redis, so the gateway still serves.
        readiness = readiness.with_optional(FnCheck::new("redis", move || {
            let limiter = limiter.clone();
            async move { limiter.ping().await }
        }));
    }

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.upstream_timeout)
        // Shorter than the services' keep-alive (75 s, zw_platform::http), so the gateway never
        // sends on a connection the service is closing.
        .pool_idle_timeout(Duration::from_secs(30))
        .build()?;
    let own_doc = serde_json::to_value(ApiDoc::openapi())?;
    let docs = MergedDocs::new(
        client.clone(),
        &upstreams,
        own_doc,
        options.openapi_ttl,
        Duration::from_secs(3),
    );
    let gateway = web::Data::new(Gateway {
        upstreams,
        client,
        verifier,
        limiter,
        max_body_bytes: settings.http.max_body_bytes,
        max_upload_bytes: settings.http.max_upload_bytes,
        upstream_timeout: options.upstream_timeout,
        docs,
        upstream_requests,
    });

    let common = HttpCommon {
        service: NAME,
        metrics,
        readiness,
        max_body_bytes: settings.http.max_body_bytes,
        workers: settings.http.workers,
    };
    let openapi_path = format!("/api/v1/{NAME}/openapi.json");
    let docs = web::Data::new(DocsPage(docs_page_html()?));
    Ok(Application::new(listener, common, move |cfg| {
        configure(cfg, gateway.clone(), docs.clone())
    })
    .with_openapi(&openapi_path, ApiDoc::openapi()))
}

/// The routes. The gateway's own `/api/v1/gateway/openapi.json` is registered before these by
/// [`Application`], so it wins over the proxy route.
fn configure(cfg: &mut web::ServiceConfig, gateway: web::Data<Gateway>, docs: web::Data<DocsPage>) {
    cfg.app_data(gateway)
        .app_data(docs)
        .route("/", web::get().to(landing))
        .route("/declare", web::get().to(declare_page))
        .route(OPENAPI_PATH, web::get().to(merged_openapi))
        .route(DOCS_PATH, web::get().to(docs_page))
        .service(SwaggerUi::new(format!("{DOCS_PATH}/{{_:.*}}")).config(docs_config()))
        .route("/api/v1/{service}", web::route().to(proxy::forward))
        .route(
            "/api/v1/{service}/{rest:.*}",
            web::route().to(proxy::forward),
        );
}

/// Service name → base URL without a trailing slash; every URL must be absolute http(s).
fn upstream_bases(
    configured: &BTreeMap<String, String>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (service, base) in configured {
        if service.is_empty()
            || !service
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            anyhow::bail!("gateway.upstreams: {service:?} is not a service name");
        }
        let url = reqwest::Url::parse(base).map_err(|e| {
            anyhow::anyhow!("gateway.upstreams.{service}: {base:?} is not a URL: {e}")
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            anyhow::bail!("gateway.upstreams.{service}: {base:?} must be an http(s) URL");
        }
        out.insert(service.clone(), base.trim_end_matches('/').to_owned());
    }
    Ok(out)
}

/// The merged OpenAPI document of every service.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "gateway",
    responses((status = 200, description = "The OpenAPI 3.1 document of every service, merged; a service that is down is named in the description", content_type = "application/json"))
)]
async fn merged_openapi(gateway: web::Data<Gateway>) -> HttpResponse {
    let doc = gateway.docs.get().await;
    HttpResponse::Ok().json(&*doc)
}

/// Where the docs page is served (its assets under `/api/docs/`).
pub const DOCS_PATH: &str = "/api/docs";

fn docs_config() -> Config<'static> {
    Config::new([OPENAPI_PATH])
}

/// The docs page's HTML, made once at build.
struct DocsPage(String);

/// Swagger UI's own page, served at `/api/docs` itself: its links to its assets are relative
/// (`./swagger-ui.css`), so a `<base>` anchors them under `/api/docs/`, where they are served.
fn docs_page_html() -> anyhow::Result<String> {
    let file = utoipa_swagger_ui::serve("index.html", std::sync::Arc::new(docs_config()))
        .map_err(|e| anyhow::anyhow!("the Swagger UI page: {e}"))?
        .ok_or_else(|| anyhow::anyhow!("the Swagger UI page is not built in"))?;
    anyhow::ensure!(!file.gzpipped, "the Swagger UI page is compressed");
    let html = String::from_utf8(file.bytes.into_owned())?;
    let head = html
        .find("<head>")
        .map(|at| at + "<head>".len())
        .ok_or_else(|| anyhow::anyhow!("the Swagger UI page has no <head>"))?;
    Ok(format!(
        "{}\n    <base href=\"{DOCS_PATH}/\">{}",
        &html[..head],
        &html[head..]
    ))
}

/// The browsable documentation of every service (Swagger UI over the merged document).
#[utoipa::path(
    get,
    path = "/api/docs",
    tag = "gateway",
    responses((status = 200, description = "The Swagger UI page showing `/api/openapi.json`; its scripts and styles are under `/api/docs/`", content_type = "text/html"))
)]
async fn docs_page(page: web::Data<DocsPage>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page.0.clone())
}

/// A landing page linking the API documentation.
#[utoipa::path(
    get,
    path = "/",
    tag = "gateway",
    responses((status = 200, description = "A small HTML page linking the API documentation", content_type = "text/html"))
)]
async fn landing() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(LANDING_HTML)
}

/// The citizen's declaration page: what a house's QR code opens (`/declare?house=<code>`), with
/// the house code filled in; the citizen types his ID number and signs in.
#[utoipa::path(
    get,
    path = "/declare",
    tag = "gateway",
    params(DeclareQuery),
    responses((status = 200, description = "The declaration page", content_type = "text/html"))
)]
async fn declare_page(_query: web::Query<DeclareQuery>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(DECLARE_HTML)
}

/// The declaration page's query: the page's script reads it and fills in the house code.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DeclareQuery {
    /// The house code from the QR label.
    #[allow(dead_code)]
    // read by the page's script in the browser; parsed here only to refuse garbage
    house: Option<String>,
}

const DECLARE_HTML: &str = include_str!("pages/declare.html");

const LANDING_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Zhiwang 织网</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem; line-height: 1.5; color: #222; }
  h1 { font-weight: 600; }
  a { color: #0b5cad; }
</style>
</head>
<body>
<h1>Zhiwang 织网</h1>
<p>The grid-based social governance platform of the district: one gateway to every service.</p>
<ul>
  <li><a href="/api/docs">API documentation</a> (browsable)</li>
  <li><a href="/api/openapi.json">OpenAPI 3.1 document</a> of every service</li>
  <li><a href="/declare">Declare where you live</a> (what a house's QR code opens)</li>
</ul>
<p>Send <code>Authorization: Bearer &lt;token&gt;</code> with each request; requests without a token are anonymous.</p>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_lose_their_trailing_slash_and_bad_ones_are_refused() {
        let mut configured = BTreeMap::new();
        configured.insert("grid".to_owned(), "http://grid:8080/".to_owned());
        let bases = upstream_bases(&configured).expect("valid");
        assert_eq!(bases["grid"], "http://grid:8080");

        configured.insert("credit".to_owned(), "grid:8080".to_owned());
        assert!(upstream_bases(&configured).is_err());
    }
}
