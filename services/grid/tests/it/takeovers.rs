//! What one grid holds, another grid's worker cannot take: a person, a legal entity, a photo.
//! Each way in — a REST route, a collected record, a declaration — is authorized on the record
//! as it is now (its current holder), not only on where it would go.

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zw_auth::Role;
use zw_testkit::http;

use crate::collection::{batch, record, upload};
use crate::entities::{credit_code, patch};
use crate::helpers::{World, spawn_world};
use crate::people::{houses_in_use, id_born_days_ago, problem_type};

fn is(body: &Value, code: &str) -> bool {
    problem_type(body) == format!("urn:zhiwang:problem:{code}")
}

/// A person recorded in the example grid by its worker: his id.
async fn person_of_grid(w: &World, seq: u16) -> String {
    let ex = w.example();
    let house = houses_in_use(w, &ex.grid)[0].clone();
    let p = crate::people::record(
        w,
        &w.worker(&ex.grid),
        &id_born_days_ago(12_000, seq),
        &house,
        "registered",
    )
    .await;
    p["id"].as_str().unwrap().to_owned()
}

/// The person as his own grid's worker sees him.
async fn as_held(w: &World, id: &str) -> Value {
    let ex = w.example();
    let (status, p) = w
        .get(&w.worker(&ex.grid), &format!("/api/v1/grid/persons/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    p
}

/// A grid of the district outside the example grid's community.
fn grid_of_another_community(w: &World) -> String {
    let ex = w.example();
    w.demo
        .grids()
        .map(|g| g.code.to_string())
        .find(|g| g[..12] != ex.grid[..12])
        .unwrap()
}

#[tokio::test]
async fn the_destination_grids_worker_cannot_pull_a_person_out_of_another_grid() {
    let w = spawn_world().await;
    let ex = w.example();
    let id = person_of_grid(&w, 401).await;
    let before = as_held(&w, &id).await;
    let neighbour = w.worker(&ex.neighbour_grid);
    let his_house = houses_in_use(&w, &ex.neighbour_grid)[0].clone();

    let (status, refused) = w
        .post(
            &neighbour,
            &format!("/api/v1/grid/persons/{id}/moves"),
            json!({"to_house": his_house}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(is(&refused, "source-out-of-scope"), "{refused}");
    assert!(
        !refused.to_string().contains(&ex.grid),
        "the refusal does not say where he lives: {refused}"
    );

    // Nothing changed: not his house, grid or version, and the neighbour still cannot see him.
    assert_eq!(as_held(&w, &id).await, before);
    let (status, _) = w
        .get(&neighbour, &format!("/api/v1/grid/persons/{id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, timeline) = w
        .get(
            &w.worker(&ex.grid),
            &format!("/api/v1/grid/persons/{id}/timeline"),
        )
        .await;
    assert_eq!(timeline["steps"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_collected_move_out_of_another_grid_is_rejected_and_changes_nothing() {
    let w = spawn_world().await;
    let ex = w.example();
    let id = person_of_grid(&w, 402).await;
    let before = as_held(&w, &id).await;
    let his_house = houses_in_use(&w, &ex.neighbour_grid)[0].clone();
    let neighbour = w.worker(&ex.neighbour_grid);

    let offline = batch(
        "phone-b",
        vec![
            record(
                "person.move",
                Some(&id),
                None,
                json!({"to_house": his_house}),
            ),
            record(
                "person.death",
                Some(&id),
                None,
                json!({"date": chrono::Utc::now().date_naive()}),
            ),
        ],
    );
    let answer = upload(&w, &neighbour, &offline).await;
    assert_eq!(answer["summary"]["applied"], 0, "{answer}");
    assert_eq!(answer["records"][0]["outcome"], "rejected", "{answer}");
    assert_eq!(answer["records"][0]["status"], 403, "{answer}");
    assert!(is(&answer["records"][0]["result"], "source-out-of-scope"));
    assert_eq!(answer["records"][1]["outcome"], "rejected", "{answer}");
    assert_eq!(
        answer["records"][1]["status"], 404,
        "another grid's person is none of his: {answer}"
    );
    assert_eq!(as_held(&w, &id).await, before);
}

#[tokio::test]
async fn the_source_grids_worker_sends_a_person_anywhere_and_an_officer_only_within_his_scope() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let far_grid = grid_of_another_community(&w);
    let far_house = houses_in_use(&w, &far_grid)[0].clone();

    // The community officer holds the source, not the destination: refused.
    let community = w.env.token_for(Role::CommunityOfficer, &ex.grid[..12]);
    let id = person_of_grid(&w, 403).await;
    let before = as_held(&w, &id).await;
    let (status, refused) = w
        .post(
            &community,
            &format!("/api/v1/grid/persons/{id}/moves"),
            json!({"to_house": far_house}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(as_held(&w, &id).await, before);

    // He holds both grids of his community: he moves a person between them.
    let next_door = houses_in_use(&w, &ex.neighbour_grid)[0].clone();
    let (status, moved) = w
        .post(
            &community,
            &format!("/api/v1/grid/persons/{id}/moves"),
            json!({"to_house": next_door}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["grid_code"], ex.neighbour_grid.as_str());

    // The grid worker sends one of his own to another community, and then no longer sees him.
    let other = person_of_grid(&w, 404).await;
    let (status, moved) = w
        .post(
            &worker,
            &format!("/api/v1/grid/persons/{other}/moves"),
            json!({"to_house": far_house}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["grid_code"], far_grid.as_str());
    assert_eq!(
        w.get(&worker, &format!("/api/v1/grid/persons/{other}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, there) = w
        .get(
            &w.worker(&far_grid),
            &format!("/api/v1/grid/persons/{other}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{there}");
    assert_eq!(there["house_code"], far_house.as_str());
}

#[tokio::test]
async fn a_credit_code_does_not_make_another_grids_entity_his_to_change_or_deregister() {
    let w = spawn_world().await;
    let ex = w.example();
    let code = credit_code("MA5TAKE01");
    let own = houses_in_use(&w, &ex.grid);
    let (status, e) = w
        .post(
            &w.worker(&ex.grid),
            "/api/v1/grid/entities",
            json!({"credit_code": code, "name": "网格便利店", "house_code": own[0]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    let path = format!("/api/v1/grid/entities/{code}");
    let neighbour = w.worker(&ex.neighbour_grid);
    let his_house = houses_in_use(&w, &ex.neighbour_grid)[0].clone();

    // New premises in his own grid do not make it his.
    let (status, refused) = patch(&w, &neighbour, &path, json!({"house_code": his_house})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(is(&refused, "source-out-of-scope"), "{refused}");
    let (status, refused) = w
        .post(
            &neighbour,
            &format!("{path}/deregistration"),
            json!({"reason": "taken over"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");
    // Nor does a collected record.
    let answer = upload(
        &w,
        &neighbour,
        &batch(
            "phone-b",
            vec![record(
                "entity.change",
                Some(&code),
                None,
                json!({"house_code": his_house}),
            )],
        ),
    )
    .await;
    assert_eq!(answer["records"][0]["status"], 403, "{answer}");

    let (_, now) = w.get(&w.worker(&ex.grid), &path).await;
    assert_eq!(now["version"], 1, "nothing changed: {now}");
    assert_eq!(now["status"], "registered");
    assert_eq!(now["grid_code"], ex.grid.as_str());

    // Its own grid's worker gives it premises in the neighbour's grid: the neighbour holds it.
    let (status, moved) = patch(
        &w,
        &w.worker(&ex.grid),
        &path,
        json!({"house_code": his_house, "expected_version": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["grid_code"], ex.neighbour_grid.as_str());
    let (status, closed) = w
        .post(
            &neighbour,
            &format!("{path}/deregistration"),
            json!({"reason": "dissolved", "expected_version": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
}

async fn upload_photo(w: &World, token: &str, bytes: &[u8]) -> String {
    let (status, stored) = http::call(
        w.grid
            .client
            .post(w.grid.url("/api/v1/grid/media"))
            .bearer_auth(token)
            .header(CONTENT_TYPE, "image/png")
            .body(bytes.to_vec()),
    )
    .await;
    assert!(status.is_success(), "{stored}");
    stored["sha256"].as_str().unwrap().to_owned()
}

async fn fetch(w: &World, token: &str, sha256: &str) -> StatusCode {
    w.grid
        .client
        .get(w.grid.url(&format!("/api/v1/grid/media/{sha256}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_photo_belongs_to_its_records_grid_and_its_hash_opens_it_to_nobody_else() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let neighbour = w.worker(&ex.neighbour_grid);
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    png.extend_from_slice(b"the door of house 1 in grid 1");
    let sha256 = upload_photo(&w, &worker, &png).await;
    assert_eq!(hex::encode(Sha256::digest(&png)), sha256);

    // Collected with a sighting of a house of his grid: the photo is that house's.
    let answer = upload(
        &w,
        &worker,
        &batch(
            "phone-a",
            vec![{
                let mut r = record("house.sighting", Some(&ex.house), None, json!({}));
                r["photos"] = json!([sha256]);
                r
            }],
        ),
    )
    .await;
    assert_eq!(answer["summary"]["applied"], 1, "{answer}");

    assert_eq!(fetch(&w, &worker, &sha256).await, StatusCode::OK);
    let community = w.env.token_for(Role::CommunityOfficer, &ex.grid[..12]);
    assert_eq!(
        fetch(&w, &community, &sha256).await,
        StatusCode::OK,
        "staff whose scope holds the house"
    );
    assert_eq!(
        fetch(&w, &neighbour, &sha256).await,
        StatusCode::NOT_FOUND,
        "knowing the hash is not enough"
    );
    let other_street = w.demo.streets[1].code.to_string();
    assert_eq!(
        fetch(
            &w,
            &w.env.token_for(Role::StreetOfficer, &other_street),
            &sha256
        )
        .await,
        StatusCode::NOT_FOUND
    );

    // Attaching the hash to a record of his own does not make it his either.
    let his_house = houses_in_use(&w, &ex.neighbour_grid)[0].clone();
    let answer = upload(
        &w,
        &neighbour,
        &batch(
            "phone-b",
            vec![{
                let mut r = record("house.sighting", Some(&his_house), None, json!({}));
                r["photos"] = json!([sha256]);
                r
            }],
        ),
    )
    .await;
    assert_eq!(answer["records"][0]["outcome"], "rejected", "{answer}");
    assert!(
        is(&answer["records"][0]["result"], "unknown-media"),
        "{answer}"
    );
    assert_eq!(fetch(&w, &neighbour, &sha256).await, StatusCode::NOT_FOUND);
    let (_, his) = w
        .get(&neighbour, &format!("/api/v1/grid/houses/{his_house}"))
        .await;
    assert_eq!(
        his["version"], 1,
        "the rejected sighting changed nothing: {his}"
    );

    // Whoever uploads the same bytes holds them anyway: he may fetch them back.
    upload_photo(&w, &neighbour, &png).await;
    assert_eq!(fetch(&w, &neighbour, &sha256).await, StatusCode::OK);
}

#[tokio::test]
async fn a_photo_named_by_a_citizens_report_reaches_the_incidents_handler() {
    let w = spawn_world().await;
    let ex = w.example();
    let citizen = w.citizen("reporter");
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    png.extend_from_slice(b"a loose cable");
    let sha256 = upload_photo(&w, &citizen, &png).await;
    let worker = w.worker(&ex.grid);
    assert_eq!(fetch(&w, &worker, &sha256).await, StatusCode::NOT_FOUND);
    let (status, incident) = w
        .post(
            &citizen,
            "/api/v1/grid/incidents",
            json!({
                "category": "hazard",
                "description": "Loose cable over the stairwell",
                "house_code": ex.house,
                "media_url": format!("/api/v1/grid/media/{sha256}"),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{incident}");
    assert_eq!(fetch(&w, &worker, &sha256).await, StatusCode::OK);
    assert_eq!(
        fetch(&w, &w.worker(&ex.neighbour_grid), &sha256).await,
        StatusCode::NOT_FOUND
    );

    // A hash he cannot fetch himself is refused, and no incident is made of it.
    let foreign = hex::encode(Sha256::digest(b"someone else's photo"));
    let (status, refused) = w
        .post(
            &citizen,
            "/api/v1/grid/incidents",
            json!({
                "category": "hazard",
                "description": "x",
                "house_code": ex.house,
                "media_url": format!("/api/v1/grid/media/{foreign}"),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (_, mine) = w.get(&citizen, "/api/v1/grid/incidents").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_declaration_does_not_bring_a_person_from_another_grid_unless_it_is_his_own() {
    let w = spawn_world().await;
    let ex = w.example();
    let id_number = id_born_days_ago(11_000, 405);
    let house = houses_in_use(&w, &ex.grid)[0].clone();
    let p = crate::people::record(&w, &w.worker(&ex.grid), &id_number, &house, "registered").await;
    let id = p["id"].as_str().unwrap().to_owned();
    let before = as_held(&w, &id).await;
    let neighbour = w.worker(&ex.neighbour_grid);
    let his_house = houses_in_use(&w, &ex.neighbour_grid)[1].clone();

    // The neighbour records a declaration of him at his door: it waits, and he cannot confirm it.
    let (status, d) = w.declare(&neighbour, &id_number, &his_house).await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!(d["status"], "pending");
    assert!(
        d["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("recorded_elsewhere")),
        "{d}"
    );
    let (_, tasks) = w.get(&neighbour, "/api/v1/grid/tasks").await;
    let task = tasks["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["declaration"]["id"] == d["id"])
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, refused) = w
        .post(
            &neighbour,
            &format!("/api/v1/grid/tasks/{task}/decision"),
            json!({"outcome": "confirm"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(is(&refused, "source-out-of-scope"), "{refused}");
    assert_eq!(as_held(&w, &id).await, before, "nothing changed");
    let (_, open) = w.get(&neighbour, "/api/v1/grid/tasks").await;
    assert!(
        open["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == task.as_str()),
        "the task is still open"
    );

    // His own declaration moves him (the register does not know him: the worker confirms it).
    let himself = w.resident("newcomer", &id_number);
    let (status, own) = w.declare(&himself, &id_number, &his_house).await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    let (_, tasks) = w.get(&neighbour, "/api/v1/grid/tasks").await;
    let own_task = tasks["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["declaration"]["id"] == own["id"])
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, decided) = w
        .post(
            &neighbour,
            &format!("/api/v1/grid/tasks/{own_task}/decision"),
            json!({"outcome": "confirm"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    let (status, there) = w
        .get(&neighbour, &format!("/api/v1/grid/persons/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{there}");
    assert_eq!(there["house_code"], his_house.as_str());
}

#[tokio::test]
async fn a_collected_records_answer_goes_back_to_its_collector_and_to_nobody_else() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let collected = record(
        "person.register",
        None,
        None,
        json!({"id_number": id_born_days_ago(10_000, 406), "name": "王五", "phone": "13800138000", "house_code": ex.house, "change": "registered"}),
    );
    let first = upload(&w, &worker, &batch("phone-a", vec![collected.clone()])).await;
    assert_eq!(first["records"][0]["outcome"], "applied", "{first}");
    let again = upload(&w, &worker, &batch("phone-a", vec![collected.clone()])).await;
    assert_eq!(again["records"][0]["outcome"], "duplicate", "{again}");

    // Another collector who learnt the record's client id and body gets no answer of it.
    let officer = w
        .env
        .token_for(Role::StreetOfficer, w.demo.streets[1].code.as_str());
    let theirs = upload(&w, &officer, &batch("phone-x", vec![collected])).await;
    assert_eq!(theirs["records"][0]["outcome"], "rejected", "{theirs}");
    assert!(
        is(&theirs["records"][0]["result"], "client-id-reused"),
        "{theirs}"
    );
    assert!(
        !theirs.to_string().contains("13800138000") && !theirs.to_string().contains("王五"),
        "nothing of the first answer: {theirs}"
    );
}
