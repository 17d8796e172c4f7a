//! Importing jurisdictions (CSV and JSON, idempotent, all or nothing, dry run) and the one worker
//! of each grid with its history.

use reqwest::StatusCode;
use serde_json::{Value, json};
use zw_auth::Role;
use zw_testkit::http;

use crate::helpers::{World, spawn_world};

const IMPORT: &str = "/api/v1/grid/jurisdictions/import";

async fn import(w: &World, token: &str, content_type: &str, body: String) -> (StatusCode, Value) {
    http::call(
        w.grid
            .client
            .post(w.grid.url(IMPORT))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

async fn dry_run(w: &World, token: &str, content_type: &str, body: String) -> (StatusCode, Value) {
    http::call(
        w.grid
            .client
            .post(w.grid.url(&format!("{IMPORT}?dry_run=true")))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

async fn tree_size(w: &World) -> i64 {
    let (status, body) = http::get(&w.grid, None, "/api/v1/grid/evidence/tree-head").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["tree_head"]["tree_size"].as_i64().expect("tree size")
}

fn counts(c: &Value) -> (u64, u64, u64) {
    (
        c["created"].as_u64().expect("created"),
        c["updated"].as_u64().expect("updated"),
        c["unchanged"].as_u64().expect("unchanged"),
    )
}

#[tokio::test]
async fn a_csv_import_creates_what_is_new_and_importing_it_again_changes_nothing() {
    let w = spawn_world().await;
    let officer = w.officer();
    let first_grid = w.demo.grids().next().expect("grid");
    let csv = format!(
        "code,name,lat,lng,worker,worker_name\r\n\
         440304011001001,\"New Grid, One\",22.5301,114.0302,gw-new-1,Li Wei\r\n\
         440304011,Xinzhou Street,,,,\r\n\
         440304011001,Xinzhou Community 1,22.53,114.03,,\r\n\
         {},{},,,,\r\n",
        first_grid.code, first_grid.name
    );
    let before = tree_size(&w).await;
    let (status, report) = import(&w, &officer, "text/csv", csv.clone()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(counts(&report["streets"]), (1, 0, 0));
    assert_eq!(counts(&report["communities"]), (1, 0, 0));
    assert_eq!(counts(&report["grids"]), (1, 0, 1));
    assert_eq!(report["workers"]["assigned"], 1);
    assert_eq!(
        report["changed"],
        json!(["440304011", "440304011001", "440304011001001"])
    );
    assert!(report["evidence_seq"].as_i64().is_some());
    assert_eq!(tree_size(&w).await, before + 1, "one evidence record");

    let (status, g) = w.get(&officer, "/api/v1/grid/grids/440304011001001").await;
    assert_eq!(status, StatusCode::OK, "{g}");
    assert_eq!(g["name"], "New Grid, One");
    assert_eq!(g["lat"], 22.5301);
    assert_eq!(g["worker"]["worker"], "gw-new-1");
    assert_eq!(g["worker"]["worker_name"], "Li Wei");

    let (status, again) = import(&w, &officer, "text/csv", csv).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(counts(&again["streets"]), (0, 0, 1));
    assert_eq!(counts(&again["communities"]), (0, 0, 1));
    assert_eq!(counts(&again["grids"]), (0, 0, 2));
    assert_eq!(again["workers"]["unchanged"], 1);
    assert_eq!(again["changed"], json!([]));
    assert_eq!(again["evidence_seq"], Value::Null);
    assert_eq!(tree_size(&w).await, before + 1, "no new evidence");
}

#[tokio::test]
async fn a_json_import_updates_and_a_dry_run_writes_nothing() {
    let w = spawn_world().await;
    let officer = w.officer();
    let rows = json!([
        {"code": "440304012", "name": "Dry Street"},
        {"code": "440304012001", "name": "Dry Community"},
        {"code": "440304012001001", "name": "Dry Grid", "lat": 22.54, "lng": 114.05},
    ])
    .to_string();
    let (status, report) = dry_run(&w, &officer, "application/json", rows.clone()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["dry_run"], true);
    assert_eq!(counts(&report["grids"]), (1, 0, 0));
    let (status, _) = w.get(&officer, "/api/v1/grid/grids/440304012001001").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a dry run writes nothing");

    let (status, report) = import(&w, &officer, "application/json", rows).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(counts(&report["streets"]), (1, 0, 0));

    let renamed = json!([{"code": "440304012001001", "name": "Wet Grid"}]).to_string();
    let (status, report) = import(&w, &officer, "application/json", renamed).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(counts(&report["grids"]), (0, 1, 0));
    let (_, g) = w.get(&officer, "/api/v1/grid/grids/440304012001001").await;
    assert_eq!(g["name"], "Wet Grid");
    assert_eq!(g["lat"], 22.54, "omitted coordinates stay as they were");
}

#[tokio::test]
async fn a_file_with_bad_lines_is_refused_whole_listing_every_bad_line() {
    let w = spawn_world().await;
    let officer = w.officer();
    let csv = "code,name,lat,lng\n\
               440304013,Good Street,,\n\
               12345,Bad Code,,\n\
               440305001,Other District,,\n\
               440304013099001,Orphan Grid,,\n\
               440304013,Good Street Again,,\n\
               440304013001,Bad Lat,abc,114.0\n\
               440304013002,Far North,95,114.0\n"
        .to_owned();
    let before = tree_size(&w).await;
    let (status, problem) = import(&w, &officer, "text/csv", csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "urn:zhiwang:problem:bad-lines");
    assert_eq!(problem["bad_line_count"], 6, "{problem}");
    let lines: Vec<u64> = problem["bad_lines"]
        .as_array()
        .expect("bad_lines")
        .iter()
        .map(|e| e["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 8], "{problem}");
    assert_eq!(tree_size(&w).await, before);
    // The good street was not written either.
    let (_, report) = dry_run(
        &w,
        &officer,
        "text/csv",
        "code,name\n440304013,Good Street\n".into(),
    )
    .await;
    assert_eq!(counts(&report["streets"]), (1, 0, 0), "{report}");

    // A file of mostly bad lines: all counted, the first hundred listed.
    let mut csv = String::from("code,name\n");
    for n in 0..250 {
        csv.push_str(&format!("bad-{n},Nowhere\n"));
    }
    let (status, problem) = import(&w, &officer, "text/csv", csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["bad_line_count"], 250);
    let listed = problem["bad_lines"].as_array().expect("bad_lines");
    assert_eq!(listed.len(), 100);
    assert_eq!(listed[0]["line"], 2);
    assert_eq!(listed[0]["code"], "bad-0");
    assert_eq!(tree_size(&w).await, before);

    // Not CSV or JSON; not a district officer.
    let (status, _) = import(&w, &officer, "text/plain", "x".into()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let community = w.env.token(Role::CommunityOfficer, "440304001001", "co");
    let (status, _) = import(&w, &community, "text/csv", "code,name\n".into()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn put_worker(w: &World, token: &str, grid: &str, body: Value) -> (StatusCode, Value) {
    http::call(
        w.grid
            .client
            .put(w.grid.url(&format!("/api/v1/grid/grids/{grid}/worker")))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn reassigning_a_grid_keeps_the_history_and_the_same_worker_changes_nothing() {
    let w = spawn_world().await;
    let ex = w.example();
    let officer = w.env.token(Role::CommunityOfficer, "440304001001", "co-1");
    let (status, g) = w
        .get(&officer, &format!("/api/v1/grid/grids/{}", ex.grid))
        .await;
    assert_eq!(status, StatusCode::OK, "{g}");
    // The demo's worker, named by the id identity gives the demo login `grid-worker`.
    let demo_worker = w.demo.grid_worker(&ex.grid.parse().unwrap()).0;
    assert!(uuid::Uuid::parse_str(&demo_worker).is_ok(), "{demo_worker}");
    assert_eq!(g["worker"]["worker"], demo_worker.as_str());

    let body = json!({"worker": "gw-successor", "worker_name": "Zhang Min"});
    let (status, g) = put_worker(&w, &officer, &ex.grid, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{g}");
    assert_eq!(g["worker"]["worker"], "gw-successor");
    let history = g["history"].as_array().expect("history");
    assert_eq!(history.len(), 2, "{g}");
    assert_eq!(history[1]["worker"], demo_worker.as_str());
    assert!(history[1]["ended_at"].is_string());

    let (status, again) = put_worker(&w, &officer, &ex.grid, body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        again["history"], g["history"],
        "the same worker changes nothing"
    );

    // Nobody else may assign: the grid worker himself, an officer of another community.
    let (status, _) = put_worker(&w, &w.worker(&ex.grid), &ex.grid, body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let other = w.env.token(Role::CommunityOfficer, "440304001002", "co-2");
    let (status, _) = put_worker(&w, &other, &ex.grid, body).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = put_worker(&w, &officer, &ex.grid, json!({"who": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The list of a community's grids, page by page, each with its worker.
    let (status, page) = w
        .get(&officer, "/api/v1/grid/grids?under=440304001001&limit=4")
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().expect("items").len(), 4);
    assert_eq!(page["items"][0]["worker"]["worker"], "gw-successor");
    let mut seen = 4;
    let mut cursor = page["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let (_, next) = w
            .get(
                &officer,
                &format!("/api/v1/grid/grids?under=440304001001&limit=4&cursor={c}"),
            )
            .await;
        seen += next["items"].as_array().expect("items").len();
        cursor = next["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, 10);
    let (status, _) = w.get(&officer, "/api/v1/grid/grids?under=440304002").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
