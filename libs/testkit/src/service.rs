//! The checks every service must pass before it has a domain, whatever it does: it is alive, it
//! is ready when its database and the bus answer and says so when its database goes, it counts
//! the requests it served, it documents itself in OpenAPI 3.1, and what it does not serve is a
//! problem.
//!
//! A crate runs them all with [`service_checks!`](crate::service_checks), one test each:
//!
//! ```ignore
//! zw_testkit::service_checks!(name: "credit", title: "Zhiwang credit", build: zw_credit::build);
//! ```

use std::fmt::Display;
use std::net::TcpListener;

use reqwest::StatusCode;
use serde_json::{Value, json};
use zw_auth::Verifier;
use zw_bus::Bus;
use zw_platform::Settings;
use zw_platform::http::Application;

use crate::http::Reply;
use crate::{PATIENCE, RunningApp, TestEnv, drop_database, eventually};

/// A service under the checks.
pub struct Service<B> {
    /// Its name, as its routes (`/api/v1/<name>/…`), metrics and database use it.
    pub name: &'static str,
    /// The title of its OpenAPI document.
    pub title: &'static str,
    /// Its `build` (`zw_<service>::build`).
    pub build: B,
}

/// A service running in a test, on a bus and a database of its own.
pub struct Running {
    /// Owns the database and the bus for as long as the test runs.
    pub env: TestEnv,
    pub settings: Settings,
    pub app: RunningApp,
}

impl Running {
    /// `GET path`, as it comes.
    pub async fn get(&self, path: &str) -> Reply {
        Reply::of(self.app.client.get(self.app.url(path))).await
    }
}

impl<B, E> Service<B>
where
    B: AsyncFn(&Settings, Bus, Verifier, TcpListener) -> Result<Application, E>,
    E: Display,
{
    /// Start the service on a fresh database and a bus of its own.
    pub async fn spawn(&self) -> Running {
        let mut env = TestEnv::nats().await;
        let (settings, app) = env.spawn(&self.build).await;
        Running { env, settings, app }
    }

    /// `/healthz` answers `{"status": "ok"}`.
    pub async fn it_says_it_is_alive(&self) {
        let s = self.spawn().await;
        let r = s.get("/healthz").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json(), json!({"status": "ok"}));
    }

    /// `/readyz` answers 200 with both checks passing.
    pub async fn it_is_ready_when_its_database_and_the_bus_answer(&self) {
        let s = self.spawn().await;
        let r = s.get("/readyz").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let report = r.json();
        assert_eq!(report["ready"], true);
        assert!(check_is(&report, "database", true), "{report}");
        assert!(check_is(&report, "bus", true), "{report}");
    }

    /// `/metrics` (Prometheus text) counts requests by route pattern, one label value for every
    /// unknown path.
    pub async fn its_metrics_count_the_requests_it_served_by_route_pattern(&self) {
        let s = self.spawn().await;
        assert_eq!(s.get("/healthz").await.status, StatusCode::OK);
        assert_eq!(s.get("/no/such/page").await.status, StatusCode::NOT_FOUND);
        let r = s.get("/metrics").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.content_type.starts_with("text/plain"),
            "{}",
            r.content_type
        );
        assert!(r.body.contains("zw_http_requests_total"), "{}", r.body);
        let counted = |route: &str, status: &str| {
            r.body.lines().any(|l| {
                l.starts_with("zw_http_requests_total{")
                    && l.contains(&format!("route=\"{route}\""))
                    && l.contains(&format!("service=\"{}\"", self.name))
                    && l.contains(&format!("status=\"{status}\""))
            })
        };
        assert!(counted("/healthz", "200"), "{}", r.body);
        assert!(
            counted("unmatched", "404"),
            "unknown paths share one label value: {}",
            r.body
        );
        assert!(!r.body.contains("/no/such/page"), "no label per raw path");
        assert!(r.body.contains("zw_http_request_duration_seconds"));
    }

    /// `/api/v1/<name>/openapi.json` is an OpenAPI 3.1 document with the service's title.
    pub async fn it_serves_an_openapi_3_1_document_with_its_title(&self) {
        let s = self.spawn().await;
        let r = s.get(&format!("/api/v1/{}/openapi.json", self.name)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.content_type.starts_with("application/json"));
        let doc = r.json();
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1")),
            "{}",
            doc["openapi"]
        );
        assert_eq!(doc["info"]["title"], self.title);
        assert!(doc["info"]["version"].is_string());
        assert!(doc["paths"].is_object());
    }

    /// Paths it does not serve — under its prefix, another API version, the root — are 404
    /// `not-found` problems.
    pub async fn an_unknown_route_is_a_not_found_problem(&self) {
        let s = self.spawn().await;
        for path in [
            format!("/api/v1/{}/records", self.name),
            "/api/v2/anything".to_owned(),
            "/".to_owned(),
        ] {
            let r = s.get(&path).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
            assert!(r.is_problem(), "{path}: {}", r.content_type);
            let problem = r.json();
            assert_eq!(problem["type"], "urn:zhiwang:problem:not-found");
            assert_eq!(problem["code"], "not-found");
            assert_eq!(problem["status"], 404);
        }
    }

    /// A method a known route does not take is a 405 problem, never a plain-text error.
    pub async fn a_wrong_method_on_a_known_route_is_a_problem_too(&self) {
        let s = self.spawn().await;
        let r = Reply::of(s.app.client.post(s.app.url("/healthz"))).await;
        assert_eq!(r.status.as_u16(), 405, "{}", r.status);
        assert!(r.is_problem(), "{}: {}", r.status, r.content_type);
        assert_eq!(r.json()["status"], r.status.as_u16());
    }

    /// With its database dropped from under it, `/readyz` turns 503 naming the database (and
    /// why), the bus still passing; `/healthz` stays 200: restarting would not help.
    pub async fn it_reports_not_ready_when_its_database_is_gone_and_stays_alive(&self) {
        let s = self.spawn().await;
        assert_eq!(s.get("/readyz").await.status, StatusCode::OK);

        drop_database(&s.settings.database_url(self.name)).await;

        let report = eventually(PATIENCE, "/readyz to report the database down", || async {
            let r = s.get("/readyz").await;
            (r.status == StatusCode::SERVICE_UNAVAILABLE).then(|| r.json())
        })
        .await;
        assert_eq!(report["ready"], false);
        assert!(check_is(&report, "database", false), "{report}");
        assert!(
            check_is(&report, "bus", true),
            "only the database: {report}"
        );
        let database = report["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == "database"))
            .unwrap_or_else(|| panic!("a database check: {report}"));
        assert!(database["error"].is_string(), "it says why: {report}");

        assert_eq!(
            s.get("/healthz").await.status,
            StatusCode::OK,
            "alive all the same: restarting would not bring the database back"
        );
    }
}

/// Whether the readiness `report` has check `name` with `ok`.
pub fn check_is(report: &Value, name: &str, ok: bool) -> bool {
    report["checks"]
        .as_array()
        .is_some_and(|checks| checks.iter().any(|c| c["name"] == name && c["ok"] == ok))
}

/// One test per check of [`Service`], in the calling module:
/// `service_checks!(name: "credit", title: "Zhiwang credit", build: zw_credit::build);`.
/// The calling crate needs `tokio` (for `#[tokio::test]`).
#[macro_export]
macro_rules! service_checks {
    (name: $name:expr, title: $title:expr, build: $build:expr $(,)?) => {
        $crate::one_test_each!(
            $crate::service::Service { name: $name, title: $title, build: $build };
            it_says_it_is_alive,
            it_is_ready_when_its_database_and_the_bus_answer,
            its_metrics_count_the_requests_it_served_by_route_pattern,
            it_serves_an_openapi_3_1_document_with_its_title,
            an_unknown_route_is_a_not_found_problem,
            a_wrong_method_on_a_known_route_is_a_problem_too,
            it_reports_not_ready_when_its_database_is_gone_and_stays_alive,
        );
    };
}
