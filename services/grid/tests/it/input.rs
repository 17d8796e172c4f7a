//! Bad input of every kind gets a 4xx problem+json and changes nothing.

use reqwest::StatusCode;
use serde_json::json;

use zw_testkit::http::decode;

use crate::helpers::{spawn_world, unknown_id};

#[tokio::test]
async fn bad_declarations_are_refused_with_problems_and_store_nothing() {
    let w = spawn_world().await;
    let ex = w.example();
    let token = w.resident("mallory", &ex.resident_id);
    let mut wrong_check = ex.resident_id.clone();
    let last = wrong_check.pop().unwrap();
    wrong_check.push(if last == '0' { '1' } else { '0' });
    let mut wrong_house_check = ex.house.clone();
    let last = wrong_house_check.pop().unwrap();
    wrong_house_check.push(if last == '0' { '1' } else { '0' });
    let unregistered_house = zw_domain::HouseCode::new(&ex.grid.parse().unwrap(), 9999)
        .unwrap()
        .to_string();
    let demolished = w
        .demo
        .all_houses()
        .find(|h| h.status == zw_demo::DemoHouseStatus::Demolished)
        .expect("the demo has a demolished house")
        .code
        .to_string();

    let cases = [
        (
            json!({"id_number": "12345", "house_code": ex.house}),
            StatusCode::BAD_REQUEST,
            "malformed ID",
        ),
        (
            json!({"id_number": wrong_check, "house_code": ex.house}),
            StatusCode::BAD_REQUEST,
            "wrong check digit",
        ),
        (
            json!({"id_number": "440304198001011", "house_code": ex.house}),
            StatusCode::BAD_REQUEST,
            "old 15-digit ID",
        ),
        (
            json!({"id_number": ex.resident_id, "house_code": "not-a-code"}),
            StatusCode::BAD_REQUEST,
            "malformed house",
        ),
        (
            json!({"id_number": ex.resident_id, "house_code": wrong_house_check}),
            StatusCode::BAD_REQUEST,
            "house check digit",
        ),
        (
            json!({"id_number": ex.resident_id, "house_code": unregistered_house}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown house",
        ),
        (
            json!({"id_number": ex.resident_id, "house_code": demolished}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "demolished house",
        ),
        (
            json!({"id_number": ex.resident_id}),
            StatusCode::BAD_REQUEST,
            "missing field",
        ),
        (
            json!({"id_number": ex.resident_id, "house_code": ex.house, "role": "admin"}),
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (json!([1, 2, 3]), StatusCode::BAD_REQUEST, "not an object"),
    ];
    for (body, expected, what) in cases {
        let (status, problem) = w.post(&token, "/api/v1/grid/declarations", body).await;
        assert_eq!(status, expected, "{what}: {problem}");
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:zhiwang:problem:"),
            "{what}: {problem}"
        );
        assert!(problem["detail"].is_string(), "{what} says why: {problem}");
    }

    let raw = w
        .grid
        .client
        .post(w.grid.url("/api/v1/grid/declarations"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"id_number\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(
        decode(raw).await.0,
        StatusCode::BAD_REQUEST,
        "truncated JSON"
    );

    let huge = "x".repeat(200_000);
    let raw = w
        .grid
        .client
        .post(w.grid.url("/api/v1/grid/declarations"))
        .bearer_auth(&token)
        .json(&json!({"id_number": huge, "house_code": ex.house}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        decode(raw).await.0,
        StatusCode::PAYLOAD_TOO_LARGE,
        "oversized body"
    );

    let (_, list) = w.get(&token, "/api/v1/grid/declarations").await;
    assert_eq!(list["items"], json!([]), "nothing was stored");
    let (_, tasks) = w
        .get(&w.worker(&ex.grid), "/api/v1/grid/tasks?status=all")
        .await;
    assert_eq!(tasks["items"], json!([]), "no task was made");
    let _ = unknown_id();
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let w = spawn_world().await;
    let ex = w.example();
    let body = json!({"id_number": ex.resident_id, "house_code": ex.house});
    let res = w
        .grid
        .client
        .post(w.grid.url("/api/v1/grid/declarations"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(decode(res).await.0, StatusCode::UNAUTHORIZED);
    let res = w
        .grid
        .client
        .post(w.grid.url("/api/v1/grid/declarations"))
        .bearer_auth("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(decode(res).await.0, StatusCode::UNAUTHORIZED, "alg none");
}

#[tokio::test]
async fn bad_task_decisions_and_queries_are_refused() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let (_, d) = w
        .declare(&w.resident("x", &unknown_id()), &unknown_id(), &ex.house)
        .await;
    assert_eq!(d["status"], "pending");
    let (_, tasks) = w.get(&worker, "/api/v1/grid/tasks").await;
    let task_id = tasks["items"][0]["id"].as_str().unwrap().to_owned();
    for (body, what) in [
        (json!({"outcome": "maybe"}), "unknown outcome"),
        (
            json!({"outcome": "reject", "reason": "   "}),
            "blank reason",
        ),
        (
            json!({"outcome": "reject", "reason": "r".repeat(501)}),
            "reason too long",
        ),
    ] {
        let (status, p) = w
            .post(
                &worker,
                &format!("/api/v1/grid/tasks/{task_id}/decision"),
                body,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {p}");
    }
    for path in [
        "/api/v1/grid/tasks?status=bogus",
        "/api/v1/grid/tasks?limit=0",
        "/api/v1/grid/declarations?cursor=zzz",
        "/api/v1/grid/declarations/not-a-uuid",
    ] {
        let (status, p) = w.get(&worker, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {p}");
    }
    let (_, still) = w.get(&worker, "/api/v1/grid/tasks").await;
    assert_eq!(still["items"][0]["status"], "open", "the task is untouched");
}

#[tokio::test]
async fn a_json_body_sent_as_text_or_without_a_content_type_is_refused_with_415_and_stores_nothing()
{
    let w = spawn_world().await;
    let ex = w.example();
    let token = w.resident("plain-text", &ex.resident_id);
    let body = json!({"id_number": ex.resident_id, "house_code": ex.house}).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut req = w
            .grid
            .client
            .post(w.grid.url("/api/v1/grid/declarations"))
            .bearer_auth(&token)
            .body(body.clone());
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        let (status, problem) = decode(req.send().await.unwrap()).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}: {problem}"
        );
        assert_eq!(
            problem["type"],
            "urn:zhiwang:problem:unsupported-media-type"
        );
    }
    let (_, list) = w.get(&token, "/api/v1/grid/declarations").await;
    assert_eq!(list["items"], json!([]), "nothing was stored");

    // Every JSON route of the grid, by the one body parser.
    let officer = w.officer();
    let id = uuid::Uuid::now_v7();
    let grid = &ex.grid;
    let house = &ex.house;
    let routes = [
        ("POST", "/api/v1/grid/houses".to_owned()),
        ("PATCH", format!("/api/v1/grid/houses/{house}")),
        ("POST", format!("/api/v1/grid/houses/{house}/transitions")),
        ("POST", format!("/api/v1/grid/houses/{house}/sightings")),
        ("POST", "/api/v1/grid/persons".to_owned()),
        ("POST", "/api/v1/grid/persons/search".to_owned()),
        ("POST", format!("/api/v1/grid/persons/{id}/moves")),
        ("POST", format!("/api/v1/grid/persons/{id}/move-out")),
        ("POST", format!("/api/v1/grid/persons/{id}/death")),
        ("POST", format!("/api/v1/grid/persons/{id}/unmask")),
        ("POST", "/api/v1/grid/entities".to_owned()),
        (
            "PATCH",
            "/api/v1/grid/entities/91440300MA5FUTIAN8".to_owned(),
        ),
        (
            "POST",
            "/api/v1/grid/entities/91440300MA5FUTIAN8/deregistration".to_owned(),
        ),
        ("POST", "/api/v1/grid/incidents".to_owned()),
        ("POST", format!("/api/v1/grid/incidents/{id}/transitions")),
        ("POST", format!("/api/v1/grid/incidents/{id}/escalate")),
        ("POST", "/api/v1/grid/batches".to_owned()),
        ("PUT", "/api/v1/grid/rules/collection".to_owned()),
        ("POST", "/api/v1/grid/rules/collection/evaluate".to_owned()),
        ("POST", format!("/api/v1/grid/cases/{id}/close")),
        ("PUT", "/api/v1/grid/privacy/policy".to_owned()),
        ("PUT", format!("/api/v1/grid/grids/{grid}/worker")),
        ("POST", format!("/api/v1/grid/tasks/{id}/decision")),
    ];
    for (method, path) in routes {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let res = w
            .grid
            .client
            .request(method.clone(), w.grid.url(&path))
            .bearer_auth(&officer)
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap();
        let (status, problem) = decode(res).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{method} {path}: {problem}"
        );
    }
}
