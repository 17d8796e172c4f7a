//! Legal entities from registration to deregistration through the API.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_world;
use crate::people::{department, houses_in_use, problem_type};

pub fn credit_code(org: &str) -> String {
    zw_domain::CreditCode::from_parts(&format!("91440300{org}"))
        .unwrap()
        .as_str()
        .to_owned()
}

fn is(body: &Value, code: &str) -> bool {
    problem_type(body) == format!("urn:zhiwang:problem:{code}")
}

pub async fn patch(
    w: &crate::helpers::World,
    token: &str,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    zw_testkit::http::call(
        w.grid
            .client
            .patch(w.grid.url(path))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn an_entity_is_registered_changed_and_deregistered_and_then_cannot_change() {
    let w = spawn_world().await;
    let ex = w.example();
    let market = department(&w, &["entities"]);
    let code = credit_code("MA5FUT7AX");
    let houses = houses_in_use(&w, &ex.grid);
    let new = json!({"credit_code": code, "name": "福田小吃店", "representative": "李四", "phone": "13912345678", "house_code": houses[0]});
    let (status, e) = w.post(&market, "/api/v1/grid/entities", new.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    assert_eq!(e["status"], "registered");
    assert_eq!(e["version"], 1);
    assert_eq!(e["phone"], "13912345678", "plain for market regulation");

    let (status, dup) = w.post(&market, "/api/v1/grid/entities", new).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(is(&dup, "entity-exists"), "{dup}");

    let path = format!("/api/v1/grid/entities/{code}");
    let worker = w.worker(&ex.grid);
    let (status, changed) = patch(
        &w,
        &worker,
        &path,
        json!({"name": "福田小吃店（二店）", "house_code": houses[1], "expected_version": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["house_code"], houses[1].as_str());

    let (status, stale) = patch(
        &w,
        &worker,
        &path,
        json!({"name": "x店", "expected_version": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(is(&stale, "version-conflict"), "{stale}");

    let (status, bad) = w
        .post(&worker, &format!("{path}/deregistration"), json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a reason is required: {bad}"
    );
    let (status, gone) = w
        .post(
            &worker,
            &format!("{path}/deregistration"),
            json!({"reason": "dissolved by its shareholders", "expected_version": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone["status"], "deregistered");

    let (status, refused) = patch(&w, &market, &path, json!({"name": "重开"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(is(&refused, "entity-deregistered"), "{refused}");
    let (status, refused) = w
        .post(
            &market,
            &format!("{path}/deregistration"),
            json!({"reason": "once more"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(is(&refused, "entity-deregistered"), "{refused}");

    let (status, tl) = w.get(&worker, &format!("{path}/timeline")).await;
    assert_eq!(status, StatusCode::OK, "{tl}");
    let steps = tl["steps"].as_array().unwrap();
    let changes: Vec<&str> = steps
        .iter()
        .map(|s| s["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["registered", "changed", "deregistered"]);
    assert_eq!(steps[1]["details"]["fields"], json!(["name", "house_code"]));
    assert_eq!(steps[0]["source"]["kind"], "department");
    let (_, after) = w.get(&worker, &path).await;
    assert_eq!(after["version"], 3, "nothing changed on the refusals");
    assert_eq!(after["name"], "福田小吃店（二店）");
}

#[tokio::test]
async fn entities_respect_scopes_data_sets_and_codes() {
    let w = spawn_world().await;
    let ex = w.example();
    let code = credit_code("MA5FUT7AY");
    let body = json!({"credit_code": code, "name": "某公司", "house_code": ex.house});
    let (status, _) = w
        .post(
            &w.worker(&ex.neighbour_grid),
            "/api/v1/grid/entities",
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another grid's worker");
    let (status, _) = w
        .post(
            &department(&w, &["persons"]),
            "/api/v1/grid/entities",
            body.clone(),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a department without `entities`"
    );
    let mut wrong = body.clone();
    let mut bad_code = code.clone();
    bad_code.replace_range(17..18, if code.ends_with('0') { "1" } else { "0" });
    wrong["credit_code"] = bad_code.into();
    let (status, _) = w
        .post(&w.worker(&ex.grid), "/api/v1/grid/entities", wrong)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "check character");

    let (status, e) = w
        .post(&w.worker(&ex.grid), "/api/v1/grid/entities", body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    let path = format!("/api/v1/grid/entities/{code}");
    assert_eq!(
        w.get(&w.worker(&ex.neighbour_grid), &path).await.0,
        StatusCode::NOT_FOUND,
        "another grid's entity is none of his"
    );
    assert_eq!(
        w.get(&department(&w, &["persons"]), &path).await.0,
        StatusCode::FORBIDDEN,
        "a department without `entities` reads no entity"
    );
    let (status, _) = patch(
        &w,
        &w.worker(&ex.neighbour_grid),
        &path,
        json!({"name": "抢注"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = w
        .get(
            &w.worker(&ex.grid),
            &format!("/api/v1/grid/entities?grid={}", ex.grid),
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["version"], 1);
}
