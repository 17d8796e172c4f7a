//! The shared HTTP server: what every service gets from the platform, tested on a small app.

// Helpers outside #[test] functions may unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod postgres;
mod sqlite;

use actix_web::{HttpResponse, web};
use reqwest::StatusCode;
use serde_json::{Value, json};
use zw_platform::Settings;
use zw_platform::health::{FnCheck, Readiness};
use zw_platform::http::{Application, HttpCommon};
use zw_testkit::RunningApp;

#[derive(serde::Deserialize)]
struct Echo {
    name: String,
}

async fn echo(body: web::Json<Echo>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"hello": body.name}))
}

async fn trace() -> HttpResponse {
    let headers: std::collections::BTreeMap<String, String> =
        zw_platform::telemetry::current_trace_headers()
            .into_iter()
            .collect();
    HttpResponse::Ok().json(headers)
}

/// A check named `name` that passes when `up`, else fails with "down for the test".
fn dependency(name: &str, up: bool) -> FnCheck {
    FnCheck::new(name, move || async move {
        if up {
            Ok(())
        } else {
            Err("down for the test".to_owned())
        }
    })
}

fn start(ready: bool) -> RunningApp {
    start_with(Readiness::new().with(dependency("dependency", ready)))
}

fn start_with(readiness: Readiness) -> RunningApp {
    let settings = Settings::load_with(
        None,
        [("ZW__HTTP__MAX_BODY_BYTES".to_owned(), "1024".to_owned())],
    )
    .unwrap();
    zw_platform::telemetry::init(&settings.telemetry, "test");
    let common = HttpCommon::new("test", &settings, readiness);
    let app = Application::new(RunningApp::listener(), common, |cfg| {
        cfg.service(web::resource("/api/v1/test/echo").route(web::post().to(echo)))
            .service(web::resource("/api/v1/test/trace").route(web::get().to(trace)));
    });
    RunningApp::start(app)
}

async fn problem(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(ct.starts_with("application/problem+json"), "{status}: {ct}");
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_given_one_is_kept() {
    let app = start(true);
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!res.headers()["x-request-id"].is_empty());
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "x".repeat(500))
        .send()
        .await
        .unwrap();
    assert_ne!(
        res.headers()["x-request-id"].len(),
        500,
        "an unreasonable id is replaced"
    );
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_bad_bodies_get_problem_json() {
    let app = start(true);
    let (status, p) = problem(app.client.get(app.url("/nowhere")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(p["type"], "urn:zhiwang:problem:not-found");
    // A resource registered for POST only answers a GET with 405, as problem+json.
    let (status, _) = problem(
        app.client
            .get(app.url("/api/v1/test/echo"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let url = app.url("/api/v1/test/echo");
    let (status, p) = problem(
        app.client
            .post(&url)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(p["detail"].is_string());
    let (status, _) = problem(
        app.client
            .post(&url)
            .json(&json!({"other": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a missing field");
    let (status, _) = problem(app.client.post(&url).body("name=x").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, p) = problem(
        app.client
            .post(&url)
            .json(&json!({"name": "x".repeat(5000)}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(p["code"], "payload-too-large");
    let ok = app
        .client
        .post(&url)
        .json(&json!({"name": "zhiwang"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ok.json::<Value>().await.unwrap(),
        json!({"hello": "zhiwang"})
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern() {
    let app = start(true);
    for _ in 0..3 {
        app.client
            .post(app.url("/api/v1/test/echo"))
            .json(&json!({"name": "n"}))
            .send()
            .await
            .unwrap();
    }
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("zw_http_requests_total")
                && l.contains("route=\"/api/v1/test/echo\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no counter for the echo route in:\n{text}"));
    assert!(line.ends_with(" 3"), "{line}");
    assert!(line.contains("service=\"test\""));
}

#[tokio::test]
async fn readyz_reports_each_dependency_and_fails_when_one_is_down() {
    let up = start(true);
    let res = up.client.get(up.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let down = start(false);
    let res = down.client.get(down.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["ready"], false);
    assert_eq!(report["checks"][0]["name"], "dependency");
    assert_eq!(report["checks"][0]["error"], "down for the test");
    let live = down.client.get(down.url("/healthz")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK, "alive even when not ready");
}

#[tokio::test]
async fn readyz_stays_ok_and_names_an_optional_dependency_that_is_down_as_degraded() {
    let app = start_with(
        Readiness::new()
            .with(dependency("dependency", true))
            .with_optional(dependency("cache", false)),
    );
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["ready"], true, "{report}");
    assert_eq!(report["degraded"], json!(["cache"]), "{report}");
    assert_eq!(report["checks"][1]["name"], "cache");
    assert_eq!(report["checks"][1]["ok"], false);
    assert_eq!(report["checks"][1]["required"], false);
    assert_eq!(report["checks"][1]["error"], "down for the test");

    let both_down = start_with(
        Readiness::new()
            .with(dependency("dependency", false))
            .with_optional(dependency("cache", false)),
    );
    let res = both_down
        .client
        .get(both_down.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a required check still decides"
    );
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["ready"], false);
    assert_eq!(report["degraded"], json!(["cache"]));
}

#[tokio::test]
async fn an_incoming_traceparent_continues_into_what_the_handler_sends_on() {
    let app = start(true);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let res = app
        .client
        .get(app.url("/api/v1/test/trace"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    let headers: Value = res.json().await.unwrap();
    let outgoing = headers["traceparent"]
        .as_str()
        .unwrap_or_else(|| panic!("a traceparent: {headers}"));
    assert!(outgoing.contains(trace_id), "same trace: {outgoing}");
    assert!(
        !outgoing.contains("00f067aa0ba902b7"),
        "a new span id: {outgoing}"
    );
}
