//! People from birth to death through the API: each step, the illegal ones, versions, scopes.

use reqwest::StatusCode;
use serde_json::{Value, json};
use zw_auth::{Role, TokenRequest};
use zw_demo::DemoHouseStatus;

use crate::helpers::{World, spawn_world};

/// Houses of `grid` people can live in.
pub fn houses_in_use(w: &World, grid: &str) -> Vec<String> {
    w.demo
        .houses(&zw_domain::JurisdictionCode::parse(grid).unwrap())
        .into_iter()
        .filter(|h| matches!(h.status, DemoHouseStatus::InUse | DemoHouseStatus::Rented))
        .map(|h| h.code.to_string())
        .collect()
}

/// A house of the district nobody can live in.
pub fn house_with(w: &World, status: DemoHouseStatus) -> String {
    w.demo
        .all_houses()
        .find(|h| h.status == status)
        .unwrap()
        .code
        .to_string()
}

/// A valid ID number of someone born `days_ago` days ago.
pub fn id_born_days_ago(days_ago: i64, seq: u16) -> String {
    let birth = chrono::Utc::now().date_naive() - chrono::Duration::days(days_ago);
    zw_domain::IdNumber::from_parts("110105", birth, seq)
        .unwrap()
        .to_string()
}

/// A department's service account entitled to `datasets`.
pub fn department(w: &World, datasets: &[&str]) -> String {
    w.env.issuer.token_for(&TokenRequest {
        subject: format!("dept-{}", datasets.join("-")),
        roles: vec![Role::Department],
        scope: w.demo.code.clone(),
        datasets: datasets.iter().map(|d| (*d).to_owned()).collect(),
        name: None,
        id_number: None,
    })
}

pub fn token(w: &World, role: Role, scope: &str) -> String {
    w.env.token_for(role, scope)
}

pub async fn record(w: &World, token: &str, id_number: &str, house: &str, change: &str) -> Value {
    let (status, body) = w
        .post(
            token,
            "/api/v1/grid/persons",
            json!({"id_number": id_number, "name": "王小明", "phone": "13800138000", "house_code": house, "change": change}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

pub fn problem_type(body: &Value) -> &str {
    body["type"].as_str().unwrap_or_default()
}

fn is(body: &Value, code: &str) -> bool {
    problem_type(body) == format!("urn:zhiwang:problem:{code}")
}

#[tokio::test]
async fn a_person_is_born_moves_and_dies_and_a_dead_person_cannot_move() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let houses = houses_in_use(&w, &ex.grid);
    let id_number = id_born_days_ago(30, 11);

    let born = record(&w, &worker, &id_number, &houses[0], "born").await;
    assert_eq!(born["status"], "alive");
    assert_eq!(born["version"], 1);
    assert_eq!(born["house_code"], houses[0].as_str());
    assert_eq!(born["age"], 0);
    assert_eq!(
        born["id_number"],
        id_number.as_str(),
        "plain for the grid worker"
    );
    let id = born["id"].as_str().unwrap().to_owned();
    assert!(!id.contains(&id_number));

    let (status, again) = w
        .post(
            &worker,
            "/api/v1/grid/persons",
            json!({"id_number": id_number, "house_code": houses[1], "change": "registered"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(is(&again, "person-exists"), "{again}");

    let (status, moved) = w
        .post(
            &worker,
            &format!("/api/v1/grid/persons/{id}/moves"),
            json!({"to_house": houses[1], "expected_version": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["house_code"], houses[1].as_str());
    assert_eq!(moved["version"], 2);

    // An offline client that still thinks version 1.
    let (status, stale) = w
        .post(
            &worker,
            &format!("/api/v1/grid/persons/{id}/moves"),
            json!({"to_house": houses[0], "expected_version": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(is(&stale, "version-conflict"), "{stale}");

    let (status, dead) = w
        .post(
            &worker,
            &format!("/api/v1/grid/persons/{id}/death"),
            json!({"date": chrono::Utc::now().date_naive(), "expected_version": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dead}");
    assert_eq!(dead["status"], "dead");
    assert_eq!(dead["house_code"], Value::Null, "no longer a resident");
    assert_eq!(dead["version"], 3);

    for (path, body) in [
        ("moves", json!({"to_house": houses[0]})),
        ("move-out", json!({})),
        ("death", json!({"date": chrono::Utc::now().date_naive()})),
    ] {
        let (status, refused) = w
            .post(&worker, &format!("/api/v1/grid/persons/{id}/{path}"), body)
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {refused}");
        assert!(is(&refused, "person-deceased"), "{refused}");
    }
    let (_, after) = w.get(&worker, &format!("/api/v1/grid/persons/{id}")).await;
    assert_eq!(after["version"], 3, "nothing changed on the refusals");
    assert_eq!(after["status"], "dead");
}

#[tokio::test]
async fn births_need_a_newborn_and_a_house_people_live_in() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let (status, body) = w
        .post(
            &worker,
            "/api/v1/grid/persons",
            json!({"id_number": id_born_days_ago(800, 13), "house_code": ex.house, "change": "born"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(is(&body, "not-a-newborn"), "{body}");

    let (status, body) = w
        .post(
            &worker,
            "/api/v1/grid/persons",
            json!({"id_number": id_born_days_ago(800, 13), "house_code": ex.house, "change": "registered"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["age"], 2);

    let demolished = house_with(&w, DemoHouseStatus::Demolished);
    let admin_scope = w.officer();
    let (status, body) = w
        .post(
            &admin_scope,
            "/api/v1/grid/persons",
            json!({"id_number": id_born_days_ago(10, 15), "house_code": demolished, "change": "born"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(is(&body, "house-not-in-use"), "{body}");

    let unknown =
        zw_domain::HouseCode::new(&zw_domain::JurisdictionCode::parse(&ex.grid).unwrap(), 9999)
            .unwrap()
            .to_string();
    let (status, body) = w
        .post(
            &worker,
            "/api/v1/grid/persons",
            json!({"id_number": id_born_days_ago(10, 15), "house_code": unknown, "change": "born"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(is(&body, "unknown-house"), "{body}");

    for bad in [
        json!({"id_number": "110105199001011234", "house_code": ex.house, "change": "born"}),
        json!({"id_number": id_born_days_ago(10, 15), "house_code": ex.house, "change": "arrived"}),
        json!({"id_number": id_born_days_ago(10, 15), "house_code": ex.house, "change": "born", "shoe": 1}),
        json!({"id_number": id_born_days_ago(10, 15), "house_code": ex.house, "change": "born", "phone": "12"}),
    ] {
        let (status, body) = w.post(&worker, "/api/v1/grid/persons", bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (_, list) = w
        .get(&worker, &format!("/api/v1/grid/persons?grid={}", ex.grid))
        .await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "only the registered one: {list}"
    );
}

#[tokio::test]
async fn each_records_only_in_his_scope_and_departments_need_the_data_set() {
    let w = spawn_world().await;
    let ex = w.example();
    let neighbour = w.worker(&ex.neighbour_grid);
    let id_number = id_born_days_ago(5, 17);
    let body = json!({"id_number": id_number, "house_code": ex.house, "change": "born"});

    let (status, refused) = w
        .post(&neighbour, "/api/v1/grid/persons", body.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, _) = w
        .post(
            &department(&w, &["entities"]),
            "/api/v1/grid/persons",
            body.clone(),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a department without `persons`"
    );
    let (status, _) = w
        .post(&w.citizen("zed"), "/api/v1/grid/persons", body.clone())
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "citizens do not record people"
    );

    // The hospital reports the birth.
    let hospital = department(&w, &["persons"]);
    let (status, born) = w.post(&hospital, "/api/v1/grid/persons", body).await;
    assert_eq!(status, StatusCode::CREATED, "{born}");
    let id = born["id"].as_str().unwrap();

    let path = format!("/api/v1/grid/persons/{id}");
    assert_eq!(
        w.get(&neighbour, &path).await.0,
        StatusCode::NOT_FOUND,
        "another grid's person is none of his"
    );
    assert_eq!(
        w.get(&department(&w, &["entities"]), &path).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.get(&w.citizen("zed"), &path).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = w
        .post(
            &neighbour,
            &format!("{path}/death"),
            json!({"date": chrono::Utc::now().date_naive()}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = w
        .get(
            &neighbour,
            &format!("/api/v1/grid/persons?grid={}", ex.grid),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Search by ID number: found in scope, not outside it.
    let (status, found) = w
        .post(
            &w.worker(&ex.grid),
            "/api/v1/grid/persons/search",
            json!({"id_number": id_number}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["id"], id);
    let (status, _) = w
        .post(
            &neighbour,
            "/api/v1/grid/persons/search",
            json!({"id_number": id_number}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A move into the neighbour's grid is the source side's: his own grid's worker sends him.
    let target = houses_in_use(&w, &ex.neighbour_grid)[0].clone();
    let (status, moved) = w
        .post(
            &w.worker(&ex.grid),
            &format!("{path}/moves"),
            json!({"to_house": target}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["grid_code"], ex.neighbour_grid.as_str());
    // The old grid's worker no longer reaches him; the new one does.
    assert_eq!(
        w.get(&w.worker(&ex.grid), &path).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(w.get(&neighbour, &path).await.0, StatusCode::OK);
}

#[tokio::test]
async fn moving_out_leaves_him_recorded_but_living_nowhere() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let p = record(
        &w,
        &worker,
        &id_born_days_ago(9000, 21),
        &ex.house,
        "registered",
    )
    .await;
    let id = p["id"].as_str().unwrap();
    let (status, out) = w
        .post(
            &worker,
            &format!("/api/v1/grid/persons/{id}/move-out"),
            json!({"reason": "left for work in another city"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["house_code"], Value::Null);
    assert_eq!(out["status"], "alive");
    let (status, again) = w
        .post(
            &worker,
            &format!("/api/v1/grid/persons/{id}/move-out"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(is(&again, "not-resident"), "{again}");
    let (status, bad) = w
        .post(
            &worker,
            &format!("/api/v1/grid/persons/{id}/death"),
            json!({"date": "2999-01-01"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
}

#[tokio::test]
async fn an_accepted_declaration_records_the_person_moving_in() {
    let w = spawn_world().await;
    let ex = w.example();
    let citizen = w.resident("decl", &ex.resident_id);
    let (status, d) = w.declare(&citizen, &ex.resident_id, &ex.house).await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!(d["status"], "accepted");
    let worker = w.worker(&ex.grid);
    let (status, p) = w
        .post(
            &worker,
            "/api/v1/grid/persons/search",
            json!({"id_number": ex.resident_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "alive");
    assert_eq!(p["house_code"], ex.house.as_str());
    let id = p["id"].as_str().unwrap();
    let (status, tl) = w
        .get(&worker, &format!("/api/v1/grid/persons/{id}/timeline"))
        .await;
    assert_eq!(status, StatusCode::OK, "{tl}");
    let steps = tl["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0]["change"], "moved_in");
    assert_eq!(steps[0]["source"]["kind"], "declaration");
    assert_eq!(steps[0]["source"]["reference"], d["id"]);

    // A second house, declared later: he moves there.
    let other = houses_in_use(&w, &ex.grid)[1].clone();
    let (status, d2) = w.declare(&citizen, &ex.resident_id, &other).await;
    assert_eq!(status, StatusCode::CREATED, "{d2}");
    if d2["status"] == "pending" {
        let (_, tasks) = w.get(&worker, "/api/v1/grid/tasks").await;
        let task = tasks["items"][0]["id"].as_str().unwrap().to_owned();
        let (s, _) = w
            .post(
                &worker,
                &format!("/api/v1/grid/tasks/{task}/decision"),
                json!({"outcome": "confirm"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let (_, tl) = w
        .get(&worker, &format!("/api/v1/grid/persons/{id}/timeline"))
        .await;
    let changes: Vec<&str> = tl["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["moved_in", "moved_out", "moved_in"]);
}
