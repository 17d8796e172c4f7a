//! Timelines: every step in order, each with an inclusion proof that verifies.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_world;
use crate::people::{houses_in_use, id_born_days_ago, record};

/// Check every step's proof against its signed tree head and the public key.
fn verify(timeline: &Value, object: &str) {
    let key = zw_evidence::EvidencePublicKey::from_base64(timeline["public_key"].as_str().unwrap())
        .unwrap();
    for step in timeline["steps"].as_array().unwrap() {
        let proof: zw_evidence::InclusionProof =
            serde_json::from_value(step["proof"].clone()).unwrap();
        zw_evidence::verify_inclusion_proof(&proof, &key).expect("the proof verifies");
        assert_eq!(proof.record.seq, step["evidence_seq"].as_i64().unwrap());
        assert_eq!(
            proof.record.action,
            format!(
                "{}.{}",
                step["subject_kind"].as_str().unwrap(),
                step["change"].as_str().unwrap()
            )
        );
        if !object.is_empty() {
            assert_eq!(proof.record.object, object);
        }
    }
}

#[tokio::test]
async fn a_life_of_birth_move_and_death_has_exactly_those_steps_each_proven() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let houses = houses_in_use(&w, &ex.grid);
    let id_number = id_born_days_ago(100, 31);
    let p = record(&w, &worker, &id_number, &houses[0], "born").await;
    let id = p["id"].as_str().unwrap().to_owned();
    let (s, _) = w
        .post(
            &worker,
            &format!("/api/v1/grid/persons/{id}/moves"),
            json!({"to_house": houses[1]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = w
        .post(
            &worker,
            &format!("/api/v1/grid/persons/{id}/death"),
            json!({"date": chrono::Utc::now().date_naive()}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    let (status, tl) = w
        .get(&w.officer(), &format!("/api/v1/grid/persons/{id}/timeline"))
        .await;
    assert_eq!(status, StatusCode::OK, "{tl}");
    let steps = tl["steps"].as_array().unwrap();
    let seen: Vec<(&str, &str, &str)> = steps
        .iter()
        .map(|s| {
            (
                s["change"].as_str().unwrap(),
                s["state"].as_str().unwrap(),
                s["house_code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("born", "alive", houses[0].as_str()),
            ("moved_out", "alive", houses[0].as_str()),
            ("moved_in", "alive", houses[1].as_str()),
            ("died", "dead", houses[1].as_str()),
        ]
    );
    for s in steps {
        assert_eq!(s["source"]["kind"], "grid_worker");
        assert_eq!(s["source"]["actor"], format!("worker-{}", ex.grid));
        assert!(s["occurred_at"].is_string());
    }
    assert!(
        !tl.to_string().contains(&id_number),
        "no ID number in a timeline"
    );
    verify(&tl, &format!("person/{id}"));

    // The house he was born in shows his arrival and departure.
    let (status, house) = w
        .get(
            &worker,
            &format!("/api/v1/grid/houses/{}/timeline", houses[0]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{house}");
    let changes: Vec<&str> = house["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["born", "moved_out"]);
    verify(&house, "");
    let (status, _) = w
        .get(
            &w.worker(&ex.neighbour_grid),
            &format!("/api/v1/grid/houses/{}/timeline", houses[0]),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_citizen_reads_the_timeline_of_the_person_he_declared_and_no_other() {
    let w = spawn_world().await;
    let ex = w.example();
    let citizen = w.resident("self", &ex.resident_id);
    let (status, _) = w.declare(&citizen, &ex.resident_id, &ex.house).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, p) = w
        .post(
            &w.worker(&ex.grid),
            "/api/v1/grid/persons/search",
            json!({"id_number": ex.resident_id}),
        )
        .await;
    let id = p["id"].as_str().unwrap();
    let path = format!("/api/v1/grid/persons/{id}/timeline");
    let (status, tl) = w.get(&citizen, &path).await;
    assert_eq!(status, StatusCode::OK, "{tl}");
    assert_eq!(tl["steps"].as_array().unwrap().len(), 1);
    verify(&tl, &format!("person/{id}"));
    let (status, _) = w.get(&w.citizen("stranger"), &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
