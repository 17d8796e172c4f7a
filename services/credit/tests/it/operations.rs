//! What every service serves before it has a domain: liveness, readiness, metrics, its OpenAPI
//! document, and problems for what it does not serve.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{SERVICE, TITLE, check_is, spawn_app};

#[tokio::test]
async fn it_says_it_is_alive() {
    let a = spawn_app().await;
    let r = a.get("/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn it_is_ready_when_its_database_and_the_bus_answer() {
    let a = spawn_app().await;
    let r = a.get("/readyz").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let report = r.json();
    assert_eq!(report["ready"], true);
    assert!(check_is(&report, "database", true), "{report}");
    assert!(check_is(&report, "bus", true), "{report}");
}

#[tokio::test]
async fn its_metrics_count_the_requests_it_served_by_route_pattern() {
    let a = spawn_app().await;
    assert_eq!(a.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(a.get("/no/such/page").await.status, StatusCode::NOT_FOUND);
    let r = a.get("/metrics").await;
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
                && l.contains(&format!("service=\"{SERVICE}\""))
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

#[tokio::test]
async fn it_serves_an_openapi_3_1_document_with_its_title() {
    let a = spawn_app().await;
    let r = a.get(&format!("/api/v1/{SERVICE}/openapi.json")).await;
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
    assert_eq!(doc["info"]["title"], TITLE);
    assert!(doc["info"]["version"].is_string());
    assert!(doc["paths"].is_object());
}

#[tokio::test]
async fn an_unknown_route_is_a_not_found_problem() {
    let a = spawn_app().await;
    for path in [
        format!("/api/v1/{SERVICE}/records"),
        "/api/v2/anything".to_owned(),
        "/".to_owned(),
    ] {
        let r = a.get(&path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            r.content_type.starts_with("application/problem+json"),
            "{path}: {}",
            r.content_type
        );
        let problem = r.json();
        assert_eq!(problem["type"], "urn:zhiwang:problem:not-found");
        assert_eq!(problem["code"], "not-found");
        assert_eq!(problem["status"], 404);
    }
}

#[tokio::test]
async fn a_wrong_method_on_a_known_route_is_a_problem_too() {
    let a = spawn_app().await;
    // Today the platform answers 404 (the GET route's guard fails and the default service
    // takes the request); what matters here is a 4xx problem, never a plain-text error.
    let r = a.send(a.app.client.post(a.app.url("/healthz"))).await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert!(
        r.content_type.starts_with("application/problem+json"),
        "{}: {}",
        r.status,
        r.content_type
    );
    assert_eq!(r.json()["status"], r.status.as_u16());
}
