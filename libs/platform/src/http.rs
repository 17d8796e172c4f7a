//! The HTTP server every service runs: the same middleware (request id, trace span, metrics,
//! problem+json for every error), `/healthz`, `/readyz`, `/metrics`, body limits, and graceful
//! shutdown. A service supplies only its routes and its OpenAPI document, which is served
//! completed with the problems the platform answers ([`crate::openapi::complete`]).

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, Error, HttpMessage, HttpRequest, HttpResponse, HttpServer, web};
use tracing::Instrument;

use crate::health::Readiness;
use crate::metrics::Metrics;
use crate::problem::{PROBLEM_JSON, Problem, extractors};

/// The header carrying the request id (set by the gateway, echoed by every service).
pub const REQUEST_ID: &str = "x-request-id";

/// What the shared middleware and endpoints of one service need.
#[derive(Clone)]
pub struct HttpCommon {
    pub service: &'static str,
    pub metrics: Metrics,
    pub readiness: Readiness,
    pub max_body_bytes: usize,
    pub workers: usize,
}

impl HttpCommon {
    /// The shared HTTP settings of `service` from the configuration.
    pub fn new(service: &'static str, settings: &crate::Settings, readiness: Readiness) -> Self {
        Self {
            service,
            metrics: Metrics::new(service),
            readiness,
            max_body_bytes: settings.http.max_body_bytes,
            workers: settings.http.workers,
        }
    }
}

/// The request id of this request (set by the middleware).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Run `configure`'s routes with the shared middleware on `listener` until `shutdown` resolves;
/// in-flight requests then get up to 10 s to finish.
pub async fn serve<F>(
    listener: TcpListener,
    common: HttpCommon,
    configure: F,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let workers = common.workers;
    let server = HttpServer::new(move || {
        let common = common.clone();
        App::new()
            .app_data(extractors::json_config(common.max_body_bytes))
            .app_data(extractors::query_config())
            .app_data(extractors::path_config())
            .app_data(extractors::payload_config(common.max_body_bytes))
            .app_data(web::Data::new(common.clone()))
            .wrap(from_fn(observe))
            // Resources, not bare routes: a wrong method is then 405, not 404.
            .service(web::resource("/healthz").route(web::get().to(healthz)))
            .service(web::resource("/readyz").route(web::get().to(readyz)))
            .service(web::resource("/metrics").route(web::get().to(metrics)))
            .configure(configure.clone())
            .default_service(web::to(not_found))
    })
    .workers(workers)
    // actix keeps the OS default (Nagle on): the gateway streams an answer as its head and then
    // its body, and Nagle held the body back until the client acknowledged the head, which a
    // client delays up to 40 ms. Answers are written whole anyway.
    .tcp_nodelay(true)
    // Longer than the gateway keeps an idle upstream connection (30 s): a server that closes
    // first races the gateway's next request on that connection, which then fails as a 502.
    .keep_alive(std::time::Duration::from_secs(75))
    .disable_signals()
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    let handle = server.handle();
    let server = tokio::spawn(server);
    shutdown.await;
    handle.stop(true).await;
    match server.await {
        Ok(r) => r,
        Err(e) => Err(std::io::Error::other(e)),
    }
}

/// Bind a listener (port 0 picks a free port).
pub fn bind(host: &str, port: u16) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind((host, port))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn readyz(common: web::Data<HttpCommon>) -> HttpResponse {
    let report = common.readiness.check().await;
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(status).json(report)
}

async fn metrics(common: web::Data<HttpCommon>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(common.metrics.render())
}

async fn not_found(req: HttpRequest) -> Problem {
    Problem::not_found(format!("no route for {} {}", req.method(), req.path()))
}

/// Request id, trace span, metrics, and problem+json for every error response that a handler
/// or actix itself produced without one (e.g. 405).
async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<BoxBody>>, Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let common = req.app_data::<web::Data<HttpCommon>>().cloned();
    let method = req.method().to_string();
    let span = tracing::info_span!(
        "http",
        service = common.as_ref().map(|c| c.service).unwrap_or(""),
        %method,
        // A client may put an ID or phone number in the path (a lookup gone wrong): masked.
        path = %zw_domain::redact(req.path()),
        request_id = %request_id,
        status = tracing::field::Empty,
    );
    crate::telemetry::set_parent_from(
        &span,
        req.headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
    );
    let res = next.call(req).instrument(span.clone()).await?;
    let status = res.status();
    span.record("status", status.as_u16());
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    if let Some(c) = &common {
        c.metrics
            .http_requests
            .with_label_values(&[&route, &method, status.as_str()])
            .inc();
        c.metrics
            .http_duration
            .with_label_values(&[&route, &method])
            .observe(started.elapsed().as_secs_f64());
    }
    if status.is_server_error() {
        span.in_scope(|| tracing::warn!(%status, "request failed"));
    }
    // Actix's own errors (405, extractor defaults) come as text; handlers' come as problem+json
    // or deliberate JSON (e.g. the /readyz report). Only the former are rewritten.
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON) || v.starts_with("application/json"));
    let mut res = if (status.is_client_error() || status.is_server_error()) && !is_json {
        {
            let title = status.canonical_reason().unwrap_or("Error");
            let code = title.to_ascii_lowercase().replace(' ', "-");
            let problem = Problem::new(status, &code, title);
            let (req, _) = res.into_parts();
            ServiceResponse::new(req, problem.to_response()).map_into_right_body()
        }
    } else {
        res.map_into_boxed_body().map_into_left_body()
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), v);
    }
    Ok(res)
}

/// A shutdown signal for `serve`: Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Shared, cheaply clonable handle type for application state.
pub type Shared<T> = Arc<T>;

type Configure = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// A built service, ready to run: its bound listener, routes and background tasks (relays,
/// consumers). `zhiwang serve` runs one; `zhiwang up` runs them all; tests run them on port 0.
pub struct Application {
    listener: TcpListener,
    common: HttpCommon,
    configure: Configure,
    openapi: Option<(String, serde_json::Value)>,
    stop: tokio_util::sync::CancellationToken,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    pub fn new(
        listener: TcpListener,
        common: HttpCommon,
        configure: impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static,
    ) -> Self {
        Self {
            listener,
            common,
            configure: Arc::new(configure),
            openapi: None,
            stop: tokio_util::sync::CancellationToken::new(),
            background: Vec::new(),
        }
    }

    /// Serve `doc` at `path` (e.g. `/api/v1/grid/openapi.json`), completed with the problems
    /// the platform answers for each operation (a service with a database check in its
    /// readiness may answer 503 `database-busy` anywhere).
    pub fn with_openapi(mut self, path: &str, doc: utoipa::openapi::OpenApi) -> Self {
        let backing = crate::openapi::Backing {
            database: self
                .common
                .readiness
                .includes(crate::health::DatabaseCheck::NAME),
        };
        let mut doc = serde_json::to_value(doc).unwrap_or(serde_json::Value::Null);
        crate::openapi::complete(&mut doc, backing);
        self.openapi = Some((path.to_owned(), doc));
        self
    }

    /// The OpenAPI document as it is served (see [`Application::with_openapi`]).
    pub fn openapi(&self) -> Option<&serde_json::Value> {
        self.openapi.as_ref().map(|(_, doc)| doc)
    }

    /// The token background tasks watch; cancelled when the application stops.
    pub fn stop_token(&self) -> tokio_util::sync::CancellationToken {
        self.stop.clone()
    }

    /// Keep a background task; it is awaited (after the stop token is cancelled) at shutdown.
    pub fn with_task(mut self, task: tokio::task::JoinHandle<()>) -> Self {
        self.background.push(task);
        self
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn service(&self) -> &'static str {
        self.common.service
    }

    /// Serve until `shutdown` resolves, then stop background tasks.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let configure = self.configure.clone();
        let openapi = self
            .openapi
            .clone()
            .map(|(path, doc)| (path, Arc::new(doc)));
        let stop = self.stop.clone();
        let result = serve(
            self.listener,
            self.common,
            move |cfg: &mut web::ServiceConfig| {
                if let Some((path, doc)) = &openapi {
                    let doc = doc.clone();
                    cfg.service(web::resource(path.as_str()).route(web::get().to(move || {
                        let doc = doc.clone();
                        async move { HttpResponse::Ok().json(&*doc) }
                    })));
                }
                configure(cfg);
            },
            async move {
                tokio::select! {
                    _ = shutdown => {},
                    _ = stop.cancelled() => {},
                }
            },
        )
        .await;
        self.stop.cancel();
        for task in self.background {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
        }
        result
    }
}
