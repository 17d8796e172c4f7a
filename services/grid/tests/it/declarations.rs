use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{World, spawn_world, unknown_id};
use crate::people::houses_in_use;

#[tokio::test]
async fn a_consistent_declaration_is_accepted_at_once_and_counted_at_the_district() {
    let w = spawn_world().await;
    let ex = w.example();
    let (status, body) = w
        .declare(
            &w.resident("alice", &ex.resident_id),
            &ex.resident_id,
            &ex.house,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "accepted");
    assert_eq!(body["reasons"], json!([]));
    assert!(
        body.get("name").is_none(),
        "the register's name is for staff, not even his own to a citizen: {body}"
    );
    assert!(
        body["id_number"].as_str().unwrap().contains('*'),
        "masked for the citizen"
    );
    w.district_counts_reach(
        &ex.grid,
        json!({"pending": 0, "accepted": 1, "rejected": 0, "total": 1}),
    )
    .await;
}

#[tokio::test]
async fn an_unknown_person_waits_for_the_grid_worker_who_confirms() {
    let w = spawn_world().await;
    let ex = w.example();
    let citizen = w.resident("bob", &unknown_id());
    let (status, body) = w.declare(&citizen, &unknown_id(), &ex.house).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "pending");
    assert_eq!(body["reasons"], json!(["unknown_id"]));
    let id = body["id"].as_str().unwrap().to_owned();

    let worker = w.worker(&ex.grid);
    let (status, tasks) = w.get(&worker, "/api/v1/grid/tasks").await;
    assert_eq!(status, StatusCode::OK);
    let task = tasks["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["declaration"]["id"] == id.as_str())
        .expect("task");
    assert_eq!(
        task["declaration"]["id_number"],
        unknown_id(),
        "the grid worker sees the full ID"
    );
    let task_id = task["id"].as_str().unwrap();

    let (status, decided) = w
        .post(
            &worker,
            &format!("/api/v1/grid/tasks/{task_id}/decision"),
            json!({"outcome": "confirm"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["declaration"]["status"], "accepted");

    let (status, again) = w
        .post(
            &worker,
            &format!("/api/v1/grid/tasks/{task_id}/decision"),
            json!({"outcome": "reject", "reason": "x"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a closed task cannot be decided twice: {again}"
    );

    let (_, mine) = w
        .get(&citizen, &format!("/api/v1/grid/declarations/{id}"))
        .await;
    assert_eq!(mine["status"], "accepted");
    assert_eq!(mine["version"], 2);
    w.district_counts_reach(
        &ex.grid,
        json!({"pending": 0, "accepted": 1, "rejected": 0, "total": 1}),
    )
    .await;
}

#[tokio::test]
async fn a_rejection_needs_a_reason_and_the_citizen_reads_it() {
    let w = spawn_world().await;
    let ex = w.example();
    let citizen = w.resident("carol", &unknown_id());
    let (_, body) = w.declare(&citizen, &unknown_id(), &ex.house).await;
    let id = body["id"].as_str().unwrap().to_owned();
    let worker = w.worker(&ex.grid);
    let (_, tasks) = w.get(&worker, "/api/v1/grid/tasks").await;
    let task_id = tasks["items"][0]["id"].as_str().unwrap().to_owned();

    let (status, problem) = w
        .post(
            &worker,
            &format!("/api/v1/grid/tasks/{task_id}/decision"),
            json!({"outcome": "reject"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let (status, _) = w
        .post(
            &worker,
            &format!("/api/v1/grid/tasks/{task_id}/decision"),
            json!({"outcome": "reject", "reason": "nobody of that name lives here"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, mine) = w
        .get(&citizen, &format!("/api/v1/grid/declarations/{id}"))
        .await;
    assert_eq!(mine["status"], "rejected");
    assert_eq!(mine["decision_reason"], "nobody of that name lives here");
    w.district_counts_reach(
        &ex.grid,
        json!({"pending": 0, "accepted": 0, "rejected": 1, "total": 1}),
    )
    .await;
}

#[tokio::test]
async fn a_second_declaration_while_one_is_pending_is_held_as_a_duplicate() {
    let w = spawn_world().await;
    let ex = w.example();
    let id = unknown_id();
    let citizen = w.resident("dan", &id);
    let (_, first) = w.declare(&citizen, &id, &ex.house).await;
    assert_eq!(first["status"], "pending");
    let (_, second) = w.declare(&citizen, &id, &ex.house).await;
    assert_eq!(second["status"], "pending");
    assert_eq!(
        second["reasons"],
        json!(["unknown_id", "duplicate_pending"])
    );
}

#[tokio::test]
async fn a_full_house_holds_the_declaration() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    // The example house is registered for 4 and nobody has declared there yet: fill it.
    for seq in 0..4u16 {
        let birth = chrono::NaiveDate::from_ymd_opt(1985, 3, 1).unwrap();
        let id = zw_domain::IdNumber::from_parts("110105", birth, 100 + seq)
            .unwrap()
            .to_string();
        let (_, d) = w.declare(&w.resident("eve", &id), &id, &ex.house).await;
        let (_, tasks) = w.get(&worker, "/api/v1/grid/tasks").await;
        let task = tasks["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["declaration"]["id"] == d["id"])
            .unwrap()
            .clone();
        let (s, _) = w
            .post(
                &worker,
                &format!(
                    "/api/v1/grid/tasks/{}/decision",
                    task["id"].as_str().unwrap()
                ),
                json!({"outcome": "confirm"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    // Now even the person the register has at this house is one too many.
    let (_, body) = w
        .declare(
            &w.resident("frank", &ex.resident_id),
            &ex.resident_id,
            &ex.house,
        )
        .await;
    assert_eq!(body["status"], "pending");
    assert_eq!(body["reasons"], json!(["house_full"]));
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_first_response_and_creates_nothing_more() {
    let w = spawn_world().await;
    let ex = w.example();
    let token = w.resident("gina", &ex.resident_id);
    let send = |body: serde_json::Value| {
        w.grid
            .client
            .post(w.grid.url("/api/v1/grid/declarations"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "k-123")
            .json(&body)
            .send()
    };
    let body = json!({"id_number": ex.resident_id, "house_code": ex.house});
    let first: serde_json::Value = send(body.clone()).await.unwrap().json().await.unwrap();
    let res = send(body).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let second: serde_json::Value = res.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    let (_, list) = w.get(&token, "/api/v1/grid/declarations").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let res = send(json!({"id_number": unknown_id(), "house_code": ex.house}))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "same key, different body"
    );
}

#[tokio::test]
async fn the_citizen_gets_a_proof_that_verifies_against_the_signed_tree_head() {
    let w = spawn_world().await;
    let ex = w.example();
    let token = w.resident("hana", &ex.resident_id);
    let (_, body) = w.declare(&token, &ex.resident_id, &ex.house).await;
    let (status, proofs) = w
        .get(
            &token,
            &format!(
                "/api/v1/grid/declarations/{}/proof",
                body["id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{proofs}");
    let key = proofs["public_key"].as_str().unwrap();
    let list = proofs["proofs"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    let proof: zw_evidence::InclusionProof = serde_json::from_value(list[0].clone()).unwrap();
    let key = zw_evidence::EvidencePublicKey::from_base64(key).unwrap();
    zw_evidence::verify_inclusion_proof(&proof, &key).expect("the proof verifies");
    assert_eq!(proof.record.action, "declaration.submit");
    let (_, head) = w.get(&token, "/api/v1/grid/evidence/tree-head").await;
    assert!(head["tree_head"]["tree_size"].as_i64().unwrap() >= 1);
}

#[tokio::test]
async fn when_the_district_does_not_answer_the_declaration_waits_instead_of_failing() {
    let mut w = spawn_world().await;
    let ex = w.example();
    w.district.app.stop().await;
    let (status, body) = w
        .declare(
            &w.resident("ivan", &ex.resident_id),
            &ex.resident_id,
            &ex.house,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "pending");
    assert_eq!(body["reasons"], json!(["register_unavailable"]));
}

#[tokio::test]
async fn concurrent_retries_with_one_idempotency_key_store_one_declaration() {
    let w = spawn_world().await;
    let ex = w.example();
    let token = w.resident("retrying", &ex.resident_id);
    let body = json!({"id_number": ex.resident_id, "house_code": ex.house});
    let sends = (0..6).map(|_| {
        w.grid
            .client
            .post(w.grid.url("/api/v1/grid/declarations"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "same-key")
            .json(&body)
            .send()
    });
    let responses = futures::future::join_all(sends).await;
    let mut ids = std::collections::BTreeSet::new();
    for r in responses {
        let r = r.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: serde_json::Value = r.json().await.unwrap();
        ids.insert(v["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "every retry got the same declaration");
    let (_, list) = w.get(&token, "/api/v1/grid/declarations").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_newer_tree_head_provably_extends_an_older_one() {
    let w = spawn_world().await;
    let ex = w.example();
    let token = w.resident("monitor", &ex.resident_id);
    let _ = w.declare(&token, &ex.resident_id, &ex.house).await;
    let (_, first) = w.get(&token, "/api/v1/grid/evidence/tree-head").await;
    let _ = w.declare(&token, &unknown_id(), &ex.house).await;
    let (_, second) = w.get(&token, "/api/v1/grid/evidence/tree-head").await;
    let (old, new) = (
        first["tree_head"]["tree_size"].as_i64().unwrap(),
        second["tree_head"]["tree_size"].as_i64().unwrap(),
    );
    assert!(new > old);
    let (status, body) = w
        .get(
            &token,
            &format!("/api/v1/grid/evidence/consistency?old={old}&new={new}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let proof: zw_evidence::ConsistencyProof = serde_json::from_value(body).unwrap();
    let key = zw_evidence::EvidencePublicKey::from_base64(second["public_key"].as_str().unwrap())
        .unwrap();
    zw_evidence::verify_consistency_proof(&proof, &key).expect("consistent");
    assert_eq!(
        proof.old.root_hash,
        first["tree_head"]["root_hash"].as_str().unwrap()
    );

    let (status, _) = w
        .get(
            &token,
            &format!("/api/v1/grid/evidence/consistency?old={new}&new={old}"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "old after new");
    let (status, _) = w
        .get(
            &token,
            &format!("/api/v1/grid/evidence/consistency?old={old}&new=999999"),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no such tree head");
}

/// The name the district's register knows `id_number` by.
fn register_name(w: &World, id_number: &str) -> String {
    w.demo
        .register()
        .into_iter()
        .find(|p| p.id_number.as_str() == id_number)
        .expect("in the register")
        .name
}

/// Two people the register records at one house in use (a household), and that house.
fn household(w: &World) -> (String, String, String) {
    let mut by_house: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for p in w.demo.register() {
        if let Some(h) = p.registered_house {
            by_house
                .entry(h.to_string())
                .or_default()
                .push(p.id_number.to_string());
        }
    }
    let (house, people) = by_house
        .into_iter()
        .find(|(_, people)| people.len() >= 2)
        .expect("a household of two");
    (people[0].clone(), people[1].clone(), house)
}

#[tokio::test]
async fn a_declaration_of_someone_else_tells_the_citizen_nothing_from_the_register() {
    let w = spawn_world().await;
    let ex = w.example();
    let name = register_name(&w, &ex.resident_id);
    // He lives in the example house: his own declaration, accepted.
    let (status, own) = w
        .declare(
            &w.resident("him", &ex.resident_id),
            &ex.resident_id,
            &ex.house,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    assert_eq!(own["status"], "accepted");

    // A stranger types his number: at another house, and at the house he lives in.
    let stranger = w.resident("stranger", &unknown_id());
    let elsewhere = houses_in_use(&w, &ex.grid)[1].clone();
    let mut received = Vec::new();
    for house in [&elsewhere, &ex.house] {
        let (status, d) = w.declare(&stranger, &ex.resident_id, house).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "received, whatever the register says: {d}"
        );
        assert_eq!(d["status"], "pending", "{d}");
        assert_eq!(d["reasons"], json!([]), "{d}");
        assert!(d.get("name").is_none(), "{d}");
        let text = d.to_string();
        assert!(!text.contains(&name), "no name from the register: {d}");
        assert!(!text.contains("already"), "no word of where he lives: {d}");
        let (_, read) = w
            .get(
                &stranger,
                &format!("/api/v1/grid/declarations/{}", d["id"].as_str().unwrap()),
            )
            .await;
        assert!(!read.to_string().contains(&name), "{read}");
        assert_eq!(read["reasons"], json!([]));
        received.push(d["id"].clone());
    }
    let (_, list) = w.get(&stranger, "/api/v1/grid/declarations").await;
    assert!(!list.to_string().contains(&name), "{list}");

    // The grid worker, who checks at the door, sees the name and why they wait.
    let (_, tasks) = w.get(&w.worker(&ex.grid), "/api/v1/grid/tasks").await;
    for id in received {
        let task = tasks["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["declaration"]["id"] == id)
            .expect("a task")
            .clone();
        assert_eq!(task["declaration"]["name"], name.as_str());
        assert!(
            task["reasons"]
                .as_array()
                .unwrap()
                .contains(&json!("not_household")),
            "{task}"
        );
    }
}

#[tokio::test]
async fn a_citizen_without_a_real_name_id_number_declares_nobody() {
    let w = spawn_world().await;
    let ex = w.example();
    let anonymous = w.citizen("no-id");
    let (status, refused) = w.declare(&anonymous, &ex.resident_id, &ex.house).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["type"], "urn:zhiwang:problem:real-name-required");
    let (_, list) = w.get(&anonymous, "/api/v1/grid/declarations").await;
    assert_eq!(list["items"], json!([]));
    let (_, tasks) = w
        .get(&w.worker(&ex.grid), "/api/v1/grid/tasks?status=all")
        .await;
    assert_eq!(tasks["items"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn a_citizen_declares_a_member_of_his_household_and_the_register_decides_it() {
    let w = spawn_world().await;
    let (me, my_son, home) = household(&w);
    let father = w.resident("father", &me);
    let (status, d) = w.declare(&father, &my_son, &home).await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!(
        d["status"], "accepted",
        "his household, at the house the register has: {d}"
    );
    assert!(d.get("name").is_none(), "{d}");
    // Someone the register has in another house is not of his household: received, held.
    let ex = w.example();
    let (status, d) = w.declare(&father, &ex.resident_id, &home).await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!(d["status"], "pending");
    assert_eq!(d["reasons"], json!([]));
}

#[tokio::test]
async fn an_id_number_born_in_the_future_is_refused_as_impossible() {
    let w = spawn_world().await;
    let ex = w.example();
    // Well-formed, the check character right, born on 1 January 2099.
    let unborn = "440304209901010013";
    let (status, refused) = w
        .declare(&w.resident("hopeful", &ex.resident_id), unborn, &ex.house)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("future"),
        "{refused}"
    );
    let worker = w.worker(&ex.grid);
    for (path, body) in [
        (
            "/api/v1/grid/persons",
            json!({"id_number": unborn, "house_code": ex.house, "change": "born"}),
        ),
        ("/api/v1/grid/persons/search", json!({"id_number": unborn})),
    ] {
        let (status, refused) = w.post(&worker, path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {refused}");
    }
    let (_, tasks) = w.get(&worker, "/api/v1/grid/tasks?status=all").await;
    assert_eq!(tasks["items"], json!([]), "nothing was stored");
}
