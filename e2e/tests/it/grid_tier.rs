//! The grid tier through the gateway, with tokens from identity: the demo worker assignment
//! names the identity user, a house through its life, an offline batch, and the Open311
//! GeoReport v2 endpoints driven by a third-party Python client.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use zw_e2e::cluster::Cluster;

#[tokio::test]
async fn the_grid_tier_answers_through_the_gateway_as_the_readme_shows() {
    let c = Cluster::start().await;
    let (grid, house, _) = c.example();
    let worker = c.login("grid-worker").await;
    let citizen = c.login("citizen").await;
    let officer = c.login("district-officer").await;

    // 一格一员: the grid's worker is the identity user who logs in as `grid-worker`.
    let (status, me) = c.get("/api/v1/identity/me", &worker).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let (status, g) = c.get(&format!("/api/v1/grid/grids/{grid}"), &officer).await;
    assert_eq!(status, StatusCode::OK, "{g}");
    assert_eq!(g["worker"]["worker"], me["subject"], "{g} / {me}");

    // A house through its life: rented by its worker, the life event on its timeline, the
    // class the rules give a rented house, its QR label.
    let (status, h) = c
        .post(
            &format!("/api/v1/grid/houses/{house}/transitions"),
            &worker,
            json!({"to": "rented"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(h["status"], "rented");
    assert_eq!(h["colour"], "yellow");
    let (status, t) = c
        .get(&format!("/api/v1/grid/houses/{house}/timeline"), &worker)
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let last = t["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["change"], "rented");
    assert_eq!(last["source"]["actor"], me["subject"]);
    let qr = c
        .client
        .get(format!("{}/api/v1/grid/houses/{house}/qr.png", c.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(qr.status(), StatusCode::OK);
    assert_eq!(qr.headers()["content-type"], "image/png");
    assert!(qr.bytes().await.unwrap().starts_with(b"\x89PNG"));

    // An offline batch, uploaded twice: applied once, then a duplicate.
    let batch = json!({
        "batch_id": Uuid::now_v7(),
        "device": "e2e-phone",
        "records": [{
            "client_id": Uuid::now_v7(),
            "collected_at": "2026-11-30T08:00:00Z",
            "kind": "incident.report",
            "data": {"category": "environment", "description": "rubbish by the gate", "house_code": house},
        }],
    });
    let (status, first) = c.post("/api/v1/grid/batches", &worker, batch.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["records"][0]["outcome"], "applied", "{first}");
    let (_, again) = c.post("/api/v1/grid/batches", &worker, batch).await;
    assert_eq!(again["records"][0]["outcome"], "duplicate", "{again}");
    assert_eq!(
        again["records"][0]["result"]["id"],
        first["records"][0]["result"]["id"]
    );

    // Open311 GeoReport v2, with a client someone else wrote, through the gateway.
    let out = run_open311_client(&c, &citizen, &house).await;
    let created = &out["created"][0];
    let id = created["service_request_id"].as_str().unwrap();
    assert!(
        created["service_notice"]
            .as_str()
            .unwrap()
            .contains(&format!("grid worker of grid {grid}")),
        "{created}"
    );
    assert_eq!(out["fetched"]["service_request_id"], id);
    assert_eq!(out["fetched"]["status"], "open");
    // The same incident in the REST API, for its reporter.
    let (status, incident) = c
        .get(&format!("/api/v1/grid/incidents/{id}"), &citizen)
        .await;
    assert_eq!(status, StatusCode::OK, "{incident}");
    assert_eq!(incident["category"], "hazard");
    assert_eq!(
        incident["reporter"],
        json!(citizen_subject(&c, &citizen).await)
    );
}

async fn citizen_subject(c: &Cluster, token: &str) -> Value {
    c.get("/api/v1/identity/me", token).await.1["subject"].clone()
}

/// The grid service's Open311 client script (civicbot), pointed at the gateway.
async fn run_open311_client(c: &Cluster, token: &str, house: &str) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../services/grid/tests/open311/client.py"
    );
    let args = [
        script.to_owned(),
        format!("{}/api/v1/grid/open311/v2", c.gateway),
        token.to_owned(),
        house.to_owned(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3").args(&args).output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("cannot run python3 ({e}): scripts/test installs civicbot"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the Open311 client failed ({}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}
