//! The masking policy per role, changing it, and purpose-logged unmasking the citizen sees.

use reqwest::StatusCode;
use serde_json::{Value, json};
use zw_auth::Role;

use crate::helpers::spawn_world;
use crate::people::{department, problem_type, token};

fn is(body: &Value, code: &str) -> bool {
    problem_type(body) == format!("urn:zhiwang:problem:{code}")
}

async fn put(w: &crate::helpers::World, tok: &str, body: &Value) -> (StatusCode, Value) {
    zw_testkit::http::call(
        w.grid
            .client
            .put(w.grid.url("/api/v1/grid/privacy/policy"))
            .bearer_auth(tok)
            .json(body),
    )
    .await
}

/// A person declared by citizen `who` (so he is linked), with a name and a phone.
async fn declared_person(w: &crate::helpers::World, who: &str) -> (String, String, String) {
    let ex = w.example();
    let citizen = w.resident(who, &ex.resident_id);
    let (status, _) = w.declare(&citizen, &ex.resident_id, &ex.house).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, p) = w
        .post(
            &w.worker(&ex.grid),
            "/api/v1/grid/persons/search",
            json!({"id_number": ex.resident_id}),
        )
        .await;
    (
        p["id"].as_str().unwrap().to_owned(),
        citizen,
        ex.resident_id,
    )
}

#[tokio::test]
async fn each_role_sees_the_fields_the_policy_gives_it() {
    let w = spawn_world().await;
    let ex = w.example();
    let (id, citizen, id_number) = declared_person(&w, "masked").await;
    let path = format!("/api/v1/grid/persons/{id}");

    let (_, by_worker) = w.get(&w.worker(&ex.grid), &path).await;
    assert_eq!(
        by_worker["id_number"],
        id_number.as_str(),
        "plain for the grid worker"
    );
    assert!(by_worker["birth_date"].is_string());

    let officer = token(&w, Role::StreetOfficer, &ex.grid[..9]);
    let (status, by_officer) = w.get(&officer, &path).await;
    assert_eq!(status, StatusCode::OK, "{by_officer}");
    let masked = by_officer["id_number"].as_str().unwrap();
    assert_eq!(
        masked,
        format!("{}********{}", &id_number[..6], &id_number[14..])
    );
    assert!(by_officer.get("phone").is_none(), "hidden: absent");
    assert!(
        by_officer.get("birth_date").is_none(),
        "it would unmask the number"
    );

    let (_, by_dept) = w.get(&department(&w, &["persons"]), &path).await;
    assert_eq!(
        by_dept["id_number"],
        id_number.as_str(),
        "the data set opens it"
    );

    let (status, own) = w.get(&citizen, &path).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert!(own["id_number"].as_str().unwrap().contains('*'));
    assert!(!by_officer.to_string().contains(&id_number));
}

#[tokio::test]
async fn a_policy_change_applies_and_a_bad_policy_changes_nothing() {
    let w = spawn_world().await;
    let ex = w.example();
    let (id, _, id_number) = declared_person(&w, "policy").await;
    let officer = w.officer();
    let (status, policy) = w.get(&officer, "/api/v1/grid/privacy/policy").await;
    assert_eq!(status, StatusCode::OK, "{policy}");
    assert_eq!(policy["version"], 1);

    // Refused: wrong role, unknown field, unknown role, bad value, missing role.
    let mut doc = policy["document"].clone();
    let (status, _) = put(&w, &w.worker(&ex.grid), &doc).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut unknown_field = doc.clone();
    unknown_field["fields"]["person.shoe_size"] = doc["fields"]["person.phone"].clone();
    let mut unknown_role = doc.clone();
    unknown_role["fields"]["person.phone"]["roles"]["mayor"] = json!("plain");
    let mut bad_value = doc.clone();
    bad_value["fields"]["person.phone"]["roles"]["admin"] = json!("sometimes");
    let mut missing = doc.clone();
    missing["fields"]["person.phone"]["roles"]
        .as_object_mut()
        .unwrap()
        .remove("admin");
    for (bad, expected) in [
        (unknown_field, StatusCode::UNPROCESSABLE_ENTITY),
        (unknown_role, StatusCode::UNPROCESSABLE_ENTITY),
        (bad_value, StatusCode::BAD_REQUEST),
        (missing, StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"fields": "all plain"}), StatusCode::BAD_REQUEST),
    ] {
        let (status, problem) = put(&w, &officer, &bad).await;
        assert_eq!(status, expected, "{problem}");
    }
    let (_, still) = w.get(&officer, "/api/v1/grid/privacy/policy").await;
    assert_eq!(still["version"], 1, "nothing stored");
    assert_eq!(still["document"], policy["document"]);

    // District officers now see ID numbers plain.
    doc["fields"]["person.id_number"]["roles"]["district_officer"] = json!("plain");
    let (status, stored) = put(&w, &officer, &doc).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["version"], 2);
    let (_, p) = w.get(&officer, &format!("/api/v1/grid/persons/{id}")).await;
    assert_eq!(p["id_number"], id_number.as_str());
    // And nobody sees names any more than hidden, for the grid worker.
    doc["fields"]["person.name"]["roles"]["grid_worker"] = json!("hidden");
    let (status, _) = put(&w, &officer, &doc).await;
    assert_eq!(status, StatusCode::OK);
    let (_, p) = w
        .get(&w.worker(&ex.grid), &format!("/api/v1/grid/persons/{id}"))
        .await;
    assert!(p.get("name").is_none(), "{p}");
}

#[tokio::test]
async fn unmasking_needs_a_purpose_is_recorded_and_the_citizen_sees_it() {
    let w = spawn_world().await;
    let ex = w.example();
    let (id, citizen, id_number) = declared_person(&w, "watched").await;
    let officer = token(&w, Role::StreetOfficer, &ex.grid[..9]);
    let path = format!("/api/v1/grid/persons/{id}/unmask");

    let (status, p) = w
        .post(&officer, &path, json!({"fields": ["person.id_number"]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    let (status, _) = w
        .post(
            &officer,
            &path,
            json!({"fields": ["person.id_number"], "purpose": "why"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a purpose of under 10 characters"
    );
    let (status, p) = w
        .post(
            &officer,
            &path,
            json!({"fields": ["person.phone"], "purpose": "to call him about his flooded flat"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(is(&p, "field-hidden"), "{p}");
    let (status, p) = w
        .post(
            &w.worker(&ex.grid),
            &path,
            json!({"fields": ["person.id_number"], "purpose": "checking papers at the door"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "already plain: {p}"
    );
    let other_street = w.demo.streets[1].code.to_string();
    let (status, p) = w
        .post(
            &token(&w, Role::StreetOfficer, &other_street),
            &path,
            json!({"fields": ["person.id_number"], "purpose": "curious about my neighbours"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another street's person is none of his: {p}"
    );
    let (_, none) = w.get(&citizen, "/api/v1/grid/me/disclosures").await;
    assert_eq!(none, json!([]), "refusals disclose nothing");

    let purpose = "verifying identity for the elderly allowance case";
    let (status, plain) = w
        .post(
            &officer,
            &path,
            json!({"fields": ["person.id_number"], "purpose": purpose}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plain}");
    assert_eq!(plain["values"]["person.id_number"], id_number.as_str());

    let (status, seen) = w.get(&citizen, "/api/v1/grid/me/disclosures").await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    let list = seen.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["person_id"], id.as_str());
    assert_eq!(
        list[0]["actor"],
        format!("street_officer-{}", &ex.grid[..9])
    );
    assert_eq!(list[0]["role"], "street_officer");
    assert_eq!(list[0]["fields"], json!(["person.id_number"]));
    assert_eq!(list[0]["purpose"], purpose);
    assert_eq!(list[0]["evidence_seq"], plain["evidence_seq"]);

    // The evidence record is there and proves.
    let (_, other) = w
        .get(&w.citizen("someone-else"), "/api/v1/grid/me/disclosures")
        .await;
    assert_eq!(other, json!([]));
    let (status, _) = w.get(&officer, "/api/v1/grid/me/disclosures").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "citizens only");
}
