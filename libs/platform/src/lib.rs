//! What every Zhiwang service shares, so each service writes only its domain.
//!
//! - [`config`]: the one configuration loader ([`Settings`]): embedded defaults, a file, `ZW__…`.
//! - [`problem`]: RFC 9457 problem+json, the one error body, and extractor error handlers.
//! - [`http`]: the HTTP server with the shared middleware, `/healthz`, `/readyz`, `/metrics`, and
//!   a service's OpenAPI document.
//! - [`openapi`]: what every OpenAPI document says without the service writing it (the problems
//!   the platform answers: bad parameters and bodies, tokens, a busy database).
//! - [`health`]: readiness checks (database, bus).
//! - [`metrics`]: a Prometheus registry per service.
//! - [`telemetry`]: tracing, OTLP export, W3C trace context over HTTP and NATS.
//! - [`db`]: connecting to a service's own database and migrating it.
//! - [`page`]: cursor pagination.

pub mod config;
pub mod db;
pub mod health;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod page;
pub mod problem;
pub mod telemetry;

pub use config::Settings;
pub use problem::Problem;
