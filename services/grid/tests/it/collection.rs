//! Offline collection: the same batch uploaded twice changes nothing, and a record collected
//! against an older version is reported back as a conflict, not applied over the newer data.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::entities::credit_code;
use crate::helpers::{World, spawn_world};
use crate::people::houses_in_use;

pub fn record(
    kind: &str,
    target: Option<&str>,
    expected_version: Option<i64>,
    data: Value,
) -> Value {
    json!({
        "client_id": Uuid::now_v7(),
        "collected_at": "2026-11-30T08:00:00Z",
        "kind": kind,
        "target": target,
        "expected_version": expected_version,
        "data": data,
    })
}

pub fn batch(device: &str, records: Vec<Value>) -> Value {
    json!({"batch_id": Uuid::now_v7(), "device": device, "records": records})
}

pub async fn upload(w: &World, token: &str, batch: &Value) -> Value {
    let (status, answer) = w.post(token, "/api/v1/grid/batches", batch.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

fn newcomer(seq: u16) -> String {
    let birth = chrono::NaiveDate::from_ymd_opt(1991, 4, 2).unwrap();
    zw_domain::IdNumber::from_parts("440304", birth, seq)
        .unwrap()
        .to_string()
}

async fn timeline_len(w: &World, token: &str, person: &str) -> usize {
    let (status, t) = w
        .get(token, &format!("/api/v1/grid/persons/{person}/timeline"))
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    t["steps"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn uploading_the_same_batch_twice_changes_nothing() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let houses = houses_in_use(&w, &ex.grid);
    let id_number = newcomer(301);
    let offline = batch(
        "phone-1",
        vec![
            record(
                "person.register",
                None,
                None,
                json!({"id_number": id_number, "name": "张三", "house_code": houses[1], "change": "registered"}),
            ),
            record(
                "entity.register",
                None,
                None,
                json!({"credit_code": credit_code("MA5CMM01X"), "name": "网格便利店", "house_code": houses[1]}),
            ),
        ],
    );

    let first = upload(&w, &worker, &offline).await;
    assert_eq!(first["summary"]["applied"], 2, "{first}");
    let person = first["records"][0]["result"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let steps = timeline_len(&w, &worker, &person).await;
    assert_eq!(steps, 1);
    let (_, timeline) = w
        .get(&worker, &format!("/api/v1/grid/persons/{person}/timeline"))
        .await;
    let source = &timeline["steps"][0]["source"];
    assert_eq!(source["kind"], "collection", "{timeline}");
    assert_eq!(source["reference"], offline["records"][0]["client_id"]);

    let again = upload(&w, &worker, &offline).await;
    assert_eq!(again["summary"]["duplicate"], 2, "{again}");
    assert_eq!(again["summary"]["applied"], 0);
    for (r, f) in again["records"]
        .as_array()
        .unwrap()
        .iter()
        .zip(first["records"].as_array().unwrap())
    {
        assert_eq!(r["outcome"], "duplicate");
        assert_eq!(r["first_outcome"], "applied");
        assert_eq!(r["result"], f["result"], "the first answer again");
    }
    assert_eq!(
        timeline_len(&w, &worker, &person).await,
        steps,
        "nothing changed"
    );
    let (_, p) = w
        .get(&worker, &format!("/api/v1/grid/persons/{person}"))
        .await;
    assert_eq!(p["version"], 1);

    // The same client id with different content is not the same record.
    let mut altered = offline.clone();
    altered["records"][0]["data"]["name"] = "李四".into();
    let answer = upload(&w, &worker, &altered).await;
    assert_eq!(answer["records"][0]["outcome"], "rejected", "{answer}");
    assert_eq!(
        answer["records"][0]["result"]["type"],
        "urn:zhiwang:problem:client-id-reused"
    );
}

#[tokio::test]
async fn a_record_collected_against_an_older_version_is_reported_back_not_applied() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let houses = houses_in_use(&w, &ex.grid);
    let (status, p) = w
        .post(
            &worker,
            "/api/v1/grid/persons",
            json!({"id_number": newcomer(302), "house_code": houses[1], "change": "registered"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let person = p["id"].as_str().unwrap().to_owned();
    assert_eq!(p["version"], 1);

    // Two devices saw version 1 while offline. The first to upload moves him to house 2.
    let first = upload(
        &w,
        &worker,
        &batch(
            "phone-1",
            vec![record(
                "person.move",
                Some(&person),
                Some(1),
                json!({"to_house": houses[2]}),
            )],
        ),
    )
    .await;
    assert_eq!(first["records"][0]["outcome"], "applied", "{first}");

    // The second collected a move to house 3 against version 1: a conflict, with the server's
    // current record, and the person stays where the newer record put him.
    let second = upload(
        &w,
        &worker,
        &batch(
            "phone-2",
            vec![record(
                "person.move",
                Some(&person),
                Some(1),
                json!({"to_house": houses[3]}),
            )],
        ),
    )
    .await;
    let r = &second["records"][0];
    assert_eq!(r["outcome"], "conflict", "{second}");
    assert_eq!(r["status"], 409);
    assert_eq!(r["result"]["type"], "urn:zhiwang:problem:version-conflict");
    assert_eq!(r["current"]["version"], 2, "{r}");
    assert_eq!(r["current"]["house_code"], houses[2].as_str());
    let (_, now) = w
        .get(&worker, &format!("/api/v1/grid/persons/{person}"))
        .await;
    assert_eq!(now["house_code"], houses[2].as_str());
    assert_eq!(now["version"], 2);

    // Houses too: a transition collected against an older version of the house is a conflict.
    let house = &houses[4];
    let (_, h) = w
        .get(&worker, &format!("/api/v1/grid/houses/{house}"))
        .await;
    let seen = h["version"].as_i64().unwrap();
    let to = if h["status"] == "rented" {
        "in_use"
    } else {
        "rented"
    };
    let answer = upload(
        &w,
        &worker,
        &batch(
            "phone-1",
            vec![
                record("house.sighting", Some(house), Some(seen), json!({})),
                record(
                    "house.transition",
                    Some(house),
                    Some(seen),
                    json!({"to": to}),
                ),
            ],
        ),
    )
    .await;
    assert_eq!(answer["records"][0]["outcome"], "applied", "{answer}");
    assert_eq!(answer["records"][1]["outcome"], "conflict", "{answer}");
    assert_eq!(
        answer["records"][1]["result"]["type"],
        "urn:zhiwang:problem:version-conflict"
    );
    assert_eq!(
        answer["records"][1]["current"]["version"],
        seen + 1,
        "{answer}"
    );

    // Registering someone already recorded is a conflict too, answered with his record.
    let again = upload(
        &w,
        &worker,
        &batch(
            "phone-2",
            vec![record(
                "person.register",
                None,
                None,
                json!({"id_number": newcomer(302), "house_code": houses[1], "change": "registered"}),
            )],
        ),
    )
    .await;
    assert_eq!(again["records"][0]["outcome"], "conflict", "{again}");
    assert_eq!(again["records"][0]["current"]["id"], person.as_str());
}

#[tokio::test]
async fn bad_records_are_rejected_one_by_one_and_a_bad_batch_as_a_whole() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let houses = houses_in_use(&w, &ex.grid);
    let answer = upload(
        &w,
        &worker,
        &batch(
            "phone-1",
            vec![
                record("house.paint", Some(&houses[1]), None, json!({})),
                json!({
                    "client_id": Uuid::now_v7(),
                    "collected_at": "2026-11-30T08:00:00Z",
                    "kind": "person.register",
                    "data": {"id_number": newcomer(303), "house_code": houses[1], "change": "registered"},
                    "photos": ["0".repeat(64)],
                }),
                record(
                    "person.register",
                    None,
                    None,
                    json!({"id_number": "123", "house_code": houses[1], "change": "registered"}),
                ),
                record(
                    "person.register",
                    None,
                    None,
                    json!({"id_number": newcomer(304), "house_code": houses[1], "change": "registered"}),
                ),
            ],
        ),
    )
    .await;
    let outcomes: Vec<&str> = answer["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["rejected", "rejected", "rejected", "applied"],
        "{answer}"
    );
    let types: Vec<&str> = answer["records"]
        .as_array()
        .unwrap()
        .iter()
        .take(3)
        .map(|r| r["result"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "urn:zhiwang:problem:unknown-kind",
            "urn:zhiwang:problem:unknown-media",
            "urn:zhiwang:problem:invalid-input"
        ]
    );
    let (status, _) = w
        .post(
            &worker,
            "/api/v1/grid/persons/search",
            json!({"id_number": newcomer(303)}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a rejected record changed nothing"
    );

    // A batch that is not one is refused whole.
    let id = Uuid::now_v7();
    let mut twice = batch(
        "phone-1",
        vec![record("person.move", Some("x"), None, json!({}))],
    );
    twice["records"][0]["client_id"] = json!(id);
    let dup = twice["records"][0].clone();
    twice["records"].as_array_mut().unwrap().push(dup);
    let (status, p) = w.post(&worker, "/api/v1/grid/batches", twice).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    let (status, p) = w
        .post(&worker, "/api/v1/grid/batches", json!({"records": "nope"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    let (status, p) = w
        .post(&w.citizen("c"), "/api/v1/grid/batches", batch("x", vec![]))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
}

#[tokio::test]
async fn incidents_are_reported_moved_on_and_escalated_from_the_field_exactly_once() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let houses = houses_in_use(&w, &ex.grid);
    let report = batch(
        "phone-1",
        vec![record(
            "incident.report",
            None,
            None,
            json!({"category": "dispute", "description": "noise between neighbours", "house_code": houses[1]}),
        )],
    );
    let first = upload(&w, &worker, &report).await;
    let r = &first["records"][0];
    assert_eq!(r["outcome"], "applied", "{first}");
    assert_eq!(r["status"], 201);
    assert_eq!(r["result"]["status"], "reported");
    assert_eq!(
        r["result"]["reporter_kind"], "grid_worker",
        "the worker reported it"
    );
    let id = r["result"]["id"].as_str().unwrap().to_owned();

    // Uploaded again (the phone never saw the answer): the same incident, not a second one.
    let again = upload(&w, &worker, &report).await;
    assert_eq!(again["records"][0]["outcome"], "duplicate", "{again}");
    assert_eq!(again["records"][0]["result"]["id"], id.as_str());
    let (s, list) = w
        .get(&worker, "/api/v1/grid/incidents?status=reported")
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let mine: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["description"] == "noise between neighbours")
        .collect();
    assert_eq!(mine.len(), 1, "{list}");

    // Moved on from the field; a second phone's transition against the version it saw offline
    // is a conflict answered with the incident as it is now. Then escalated from the field.
    let transition = record(
        "incident.transition",
        Some(&id),
        Some(1),
        json!({"to": "accepted"}),
    );
    let accepted = upload(&w, &worker, &batch("phone-1", vec![transition])).await;
    assert_eq!(accepted["records"][0]["outcome"], "applied", "{accepted}");
    let stale = record(
        "incident.transition",
        Some(&id),
        Some(1),
        json!({"to": "accepted"}),
    );
    let late = upload(&w, &worker, &batch("phone-2", vec![stale])).await;
    let r = &late["records"][0];
    assert_eq!(r["outcome"], "conflict", "{late}");
    assert_eq!(r["result"]["type"], "urn:zhiwang:problem:version-conflict");
    assert_eq!(r["current"]["id"], id.as_str());
    assert_eq!(r["current"]["version"], 2, "{r}");
    assert_eq!(r["current"]["status"], "accepted");
    let reason = json!({"reason": "the landlord lives in another community"});
    let escalation = record("incident.escalate", Some(&id), Some(2), reason);
    let escalated = upload(&w, &worker, &batch("phone-1", vec![escalation])).await;
    assert_eq!(escalated["records"][0]["outcome"], "applied", "{escalated}");
    assert_eq!(escalated["records"][0]["result"]["level"], "community");

    // Each applied record left its mark in its own change's transaction (what makes a retry
    // after a crash between the change and the stored answer a duplicate, not a second change).
    let db = zw_grid::connect(&w.grid_settings).await.unwrap();
    for client_id in [
        &report["records"][0]["client_id"],
        &accepted["records"][0]["client_id"],
        &escalated["records"][0]["client_id"],
    ] {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT COUNT(*) FROM collection_marks WHERE client_id = '{}'",
                    client_id.as_str().unwrap()
                ),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 1, "{client_id}");
    }
    let (s, inc) = w
        .get(&worker, &format!("/api/v1/grid/incidents/{id}"))
        .await;
    assert_eq!(s, StatusCode::OK, "{inc}");
    let steps: Vec<&str> = inc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["reported", "accepted", "escalated"], "{inc}");

    // A bad target is the record's own rejection.
    let bad = upload(
        &w,
        &worker,
        &batch(
            "phone-1",
            vec![record(
                "incident.transition",
                Some("not-an-id"),
                None,
                json!({"to": "accepted"}),
            )],
        ),
    )
    .await;
    assert_eq!(bad["records"][0]["outcome"], "rejected", "{bad}");
    assert_eq!(
        bad["records"][0]["result"]["type"],
        "urn:zhiwang:problem:invalid-input"
    );
}
