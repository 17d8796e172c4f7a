//! Each principal sees and changes only what its scope allows.

use reqwest::StatusCode;
use serde_json::json;
use zw_auth::Role;

use crate::helpers::{spawn_world, unknown_id};

#[tokio::test]
async fn a_citizen_sees_only_his_own_declarations() {
    let w = spawn_world().await;
    let ex = w.example();
    let (alice, bob) = (
        w.resident("alice", &ex.resident_id),
        w.resident("bob", &unknown_id()),
    );
    let (_, d) = w.declare(&alice, &ex.resident_id, &ex.house).await;
    let id = d["id"].as_str().unwrap();
    assert_eq!(
        w.get(&alice, &format!("/api/v1/grid/declarations/{id}"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        w.get(&bob, &format!("/api/v1/grid/declarations/{id}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = w.get(&bob, "/api/v1/grid/declarations").await;
    assert_eq!(list["items"], json!([]));
    assert_eq!(
        w.get(&bob, &format!("/api/v1/grid/declarations/{id}/proof"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_grid_worker_works_only_in_his_own_grid() {
    let w = spawn_world().await;
    let ex = w.example();
    let (_, d) = w
        .declare(&w.resident("c", &unknown_id()), &unknown_id(), &ex.house)
        .await;
    let id = d["id"].as_str().unwrap();
    let neighbour = w.worker(&ex.neighbour_grid);
    let (_, tasks) = w.get(&neighbour, "/api/v1/grid/tasks").await;
    assert_eq!(
        tasks["items"],
        json!([]),
        "the neighbour sees no task of another grid"
    );
    assert_eq!(
        w.get(&neighbour, &format!("/api/v1/grid/declarations/{id}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let (_, own) = w.get(&w.worker(&ex.grid), "/api/v1/grid/tasks").await;
    let task_id = own["items"][0]["id"].as_str().unwrap();
    let (status, _) = w
        .post(
            &neighbour,
            &format!("/api/v1/grid/tasks/{task_id}/decision"),
            json!({"outcome": "confirm"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nor can he decide it");

    // Collecting in the field, he cannot declare for a house of another grid either.
    let (status, _) = w.declare(&neighbour, &unknown_id(), &ex.house).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn officers_see_their_jurisdiction_masked_and_departments_see_nothing() {
    let w = spawn_world().await;
    let ex = w.example();
    let (_, d) = w
        .declare(
            &w.resident("d", &ex.resident_id),
            &ex.resident_id,
            &ex.house,
        )
        .await;
    let id = d["id"].as_str().unwrap();
    let street_of_grid = &ex.grid[..9];
    let officer = w.env.token(Role::StreetOfficer, street_of_grid, "s1");
    let (status, seen) = w
        .get(&officer, &format!("/api/v1/grid/declarations/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        seen["id_number"].as_str().unwrap().contains("********"),
        "masked for officers"
    );
    let other_street = w.demo.streets[1].code.to_string();
    let other = w.env.token(Role::StreetOfficer, &other_street, "s2");
    assert_eq!(
        w.get(&other, &format!("/api/v1/grid/declarations/{id}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let dept = w
        .env
        .token(Role::Department, w.demo.code.as_str(), "police");
    assert_eq!(
        w.get(&dept, "/api/v1/grid/declarations").await.0,
        StatusCode::FORBIDDEN
    );
    // Officers cannot declare on someone's behalf, nor decide tasks.
    assert_eq!(
        w.declare(&officer, &unknown_id(), &ex.house).await.0,
        StatusCode::FORBIDDEN
    );
}
