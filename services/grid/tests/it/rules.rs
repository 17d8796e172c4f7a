//! Rules embedded in collection: versioned rule sets through the API, and the cases that
//! `zw_grid::rules::on_change` raises, seen by the departments entitled to them.

use std::time::Duration;
use zw_platform::db::BeginWrite;

use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use uuid::Uuid;
use zw_auth::{Role, TokenRequest};
use zw_bus::ConsumerSpec;
use zw_contracts::{Envelope, Event};
use zw_domain::JurisdictionCode;
use zw_grid::ledger::{Source, SubjectKind};
use zw_grid::rules::{Trigger, case, on_change};
use zw_testkit::http;

use crate::helpers::{World, spawn_world};

impl World {
    async fn put_rules(&self, token: &str, kind: &str, body: &Value) -> (StatusCode, Value) {
        http::call(
            self.grid
                .client
                .put(self.grid.url(&format!("/api/v1/grid/rules/{kind}")))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    async fn version_of(&self, kind: &str) -> i64 {
        let (status, body) = self
            .get(&self.officer(), &format!("/api/v1/grid/rules/{kind}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["version"].as_i64().unwrap()
    }

    fn department(&self, datasets: &[&str]) -> String {
        self.env.issuer.token_for(&TokenRequest {
            subject: format!("dept-{}", datasets.join("-")),
            roles: vec![Role::Department],
            scope: self.demo.code.clone(),
            datasets: datasets.iter().map(|d| d.to_string()).collect(),
            name: None,
            id_number: None,
        })
    }

    /// Call `on_change` for a person aged `age` moving in, in a transaction of its own (as the
    /// people routes do), and commit.
    async fn person_moves_in(&self, person: &str, grid: &str, age: i64) -> usize {
        let db = zw_grid::connect(&self.grid_settings).await.unwrap();
        let grid = JurisdictionCode::parse(grid).unwrap();
        let txn = db.begin_write().await.unwrap();
        let outcomes = on_change(
            &txn,
            &Source::system("test"),
            Trigger {
                kind: SubjectKind::Person,
                key: person,
                grid: &grid,
                change: "moved_in",
                facts: json!({"person.age": age, "house.residents": 2, "house.registered_size": 4}),
            },
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        for o in &outcomes {
            assert_eq!(o.rule_id, "elderly_allowance");
            assert_eq!(o.action, "case");
        }
        outcomes.len()
    }
}

fn problem_type(body: &Value) -> &str {
    body["type"].as_str().unwrap_or_default()
}

fn collection_with_threshold(age: i64) -> Value {
    json!({
        "kind": "collection",
        "description": "elderly allowance from 70",
        "rules": [{
            "id": "elderly_allowance",
            "on": ["born", "registered", "moved_in"],
            "when": {"fact": "person.age", "op": "gte", "value": age},
            "then": {"case": {"type": "elderly_allowance", "recipient": "civil_affairs"}}
        }],
        "examples": [
            {"name": "at the threshold", "change": "moved_in", "facts": {"person.age": age},
             "expect": ["elderly_allowance"]},
            {"name": "below it", "change": "moved_in", "facts": {"person.age": age - 1},
             "expect": []}
        ]
    })
}

#[tokio::test]
async fn the_defaults_are_version_1_and_a_bad_rule_set_is_refused_with_every_error() {
    let w = spawn_world().await;
    let officer = w.officer();
    for kind in ["collection", "classification"] {
        let (status, body) = w.get(&officer, &format!("/api/v1/grid/rules/{kind}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["version"], 1);
        assert_eq!(body["kind"], kind);
        assert_eq!(body["created_by"], "system:defaults");
        assert_eq!(body["document"]["kind"], kind);
    }
    let (_, body) = w.get(&officer, "/api/v1/grid/rules/collection").await;
    let ids: Vec<&str> = body["document"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["elderly_allowance", "declare_tenants", "house_over_limit"]
    );

    // Four problems at once: an unknown op, a duplicate id, an unknown fact, a bad action.
    let mut bad = collection_with_threshold(80);
    bad["rules"] = json!([
        {"id": "a", "when": {"fact": "person.age", "op": "older_than", "value": 80},
         "then": {"case": {"type": "x", "recipient": "civil_affairs"}}},
        {"id": "a", "when": {"fact": "person.shoe_size", "op": "eq", "value": 42},
         "then": {"letter": {}}}
    ]);
    bad["examples"] = json!([]);
    let (status, body) = w.put_rules(&officer, "collection", &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(problem_type(&body), "urn:zhiwang:problem:invalid-rule-set");
    let codes: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["unknown_op", "duplicate_id", "unknown_fact", "bad_action"],
        "{body}"
    );
    assert_eq!(body["errors"][0]["at"], "/rules/0/when/op");

    // A well-formed set whose example does not come out as written.
    let mut failing = collection_with_threshold(70);
    failing["examples"][1]["expect"] = json!(["elderly_allowance"]);
    let (status, body) = w.put_rules(&officer, "collection", &failing).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["code"], "example_failed");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("below it"),
        "{body}"
    );

    // A classification with a bad colour and no default.
    let classification = json!({"kind": "classification", "rules": [
        {"id": "r", "when": {"all": []}, "then": {"level": "key", "colour": "purple"}}]});
    let (status, body) = w
        .put_rules(&officer, "classification", &classification)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let codes: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["bad_colour", "missing_default"]);

    // A valid set of the other kind, not JSON at all, and someone not entitled.
    let (status, body) = w
        .put_rules(&officer, "classification", &collection_with_threshold(70))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = http::call(
        w.grid
            .client
            .put(w.grid.url("/api/v1/grid/rules/collection"))
            .bearer_auth(&officer)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let ex = w.example();
    let (status, body) = w
        .put_rules(
            &w.worker(&ex.grid),
            "collection",
            &collection_with_threshold(70),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = w
        .put_rules(&officer, "weather", &collection_with_threshold(70))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Nothing was stored.
    assert_eq!(w.version_of("collection").await, 1);
    assert_eq!(w.version_of("classification").await, 1);
    let (_, versions) = w
        .get(&officer, "/api/v1/grid/rules/collection/versions")
        .await;
    assert_eq!(versions.as_array().unwrap().len(), 1, "{versions}");
}

#[tokio::test]
async fn a_good_rule_set_becomes_the_next_version_and_evaluation_uses_it_at_once() {
    let w = spawn_world().await;
    let officer = w.officer();
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let dry_run = json!({"change": "moved_in", "facts": {"person.age": 75, "shoe_size": 42}});

    let (status, body) = w
        .post(
            &worker,
            "/api/v1/grid/rules/collection/evaluate",
            dry_run.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 1);
    assert_eq!(body["firings"], json!([]));
    assert_eq!(body["unknown_facts"], json!(["shoe_size"]));

    let (status, body) = w
        .put_rules(&officer, "collection", &collection_with_threshold(70))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["version"], 2);
    assert_eq!(body["created_by"], "officer");

    let (status, body) = w
        .post(&worker, "/api/v1/grid/rules/collection/evaluate", dry_run)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);
    assert_eq!(
        body["firings"],
        json!([{"rule_id": "elderly_allowance",
                "action": {"case": {"type": "elderly_allowance", "recipient": "civil_affairs"}}}])
    );
    let (_, versions) = w
        .get(&officer, "/api/v1/grid/rules/collection/versions")
        .await;
    let numbers: Vec<i64> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1]);

    // The default classification, through the API and through the function houses call.
    let (status, body) = w
        .post(
            &worker,
            "/api/v1/grid/rules/classification/evaluate",
            json!({"facts": {"house.legal": true, "house.status": "rented"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["class"],
        json!({"level": "attention", "colour": "yellow", "rule_id": "rented"})
    );
    let db = zw_grid::connect(&w.grid_settings).await.unwrap();
    let class = zw_grid::rules::classify(&db, &json!({"house.open_incidents": 2}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (class.level.as_str(), class.colour.as_str()),
        ("key", "red")
    );
    assert_eq!(class.rules_version, 1);

    // A dry run needs its change, and facts that are an object; citizens may not run one.
    let (status, _) = w
        .post(
            &worker,
            "/api/v1/grid/rules/collection/evaluate",
            json!({"facts": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = w
        .post(
            &worker,
            "/api/v1/grid/rules/collection/evaluate",
            json!({"change": "x", "facts": [1]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = w
        .post(
            &w.citizen("c"),
            "/api/v1/grid/rules/collection/evaluate",
            json!({"change": "x", "facts": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_person_of_80_raises_one_case_for_civil_affairs_who_alone_may_see_and_close_it() {
    let w = spawn_world().await;
    let ex = w.example();
    let mut events = w
        .env
        .bus
        .subscribe(ConsumerSpec::events(
            "test-rules-cases",
            vec!["zw.evt.>".into()],
        ))
        .await
        .unwrap();
    let person = Uuid::now_v7().to_string();

    assert_eq!(w.person_moves_in(&person, &ex.grid, 79).await, 0);
    assert_eq!(w.person_moves_in(&person, &ex.grid, 80).await, 1);
    assert_eq!(
        w.person_moves_in(&person, &ex.grid, 80).await,
        0,
        "the case is still open: no second one"
    );
    let db = zw_grid::connect(&w.grid_settings).await.unwrap();
    assert_eq!(case::Entity::find().count(&db).await.unwrap(), 1);

    // The event reaches the bus (through the outbox).
    let raised = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let delivery = events.next().await.unwrap().unwrap();
            let envelope = Envelope::from_bytes(&delivery.payload).unwrap();
            delivery.ack().await.unwrap();
            if let Event::CaseRaised(c) = envelope.event().unwrap() {
                return (c, envelope.jurisdiction);
            }
        }
    })
    .await
    .expect("a case.raised event on the bus");
    let (raised, jurisdiction) = raised;
    assert_eq!(raised.rule_id, "elderly_allowance");
    assert_eq!(raised.rule_version, 1);
    assert_eq!(raised.case_type, "elderly_allowance");
    assert_eq!(raised.recipient, "civil_affairs");
    assert_eq!(raised.subject_kind, "person");
    assert_eq!(raised.subject_key, person);
    assert_eq!(jurisdiction.to_string(), ex.grid);

    // Civil affairs sees it; a department without the data set does not.
    let civil = w.department(&["cases:civil_affairs"]);
    let (status, page) = w.get(&civil, "/api/v1/grid/cases").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["id"], raised.case_id.to_string());
    assert_eq!(items[0]["recipient"], "civil_affairs");
    assert_eq!(items[0]["status"], "open");
    assert_eq!(items[0]["subject_key"], person);
    let (status, body) = w.get(&civil, "/api/v1/grid/cases?recipient=landlord").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let police = w.department(&["police.cases"]);
    let (status, body) = w.get(&police, "/api/v1/grid/cases").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(problem_type(&body), "urn:zhiwang:problem:forbidden");
    // Staff of the grid see it too; the neighbouring grid's worker does not.
    let (_, mine) = w.get(&w.worker(&ex.grid), "/api/v1/grid/cases").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let (_, theirs) = w
        .get(&w.worker(&ex.neighbour_grid), "/api/v1/grid/cases")
        .await;
    assert_eq!(theirs["items"], json!([]));

    // Closing: not by the police, once by civil affairs, not twice.
    let close = format!("/api/v1/grid/cases/{}/close", raised.case_id);
    let (status, _) = w.post(&police, &close, json!({"note": "x"})).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a case a department may not see is none to it"
    );
    let (status, body) = w
        .post(&civil, &close, json!({"note": "allowance granted"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "closed");
    assert_eq!(body["note"], "allowance granted");
    let (status, body) = w.post(&civil, &close, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(problem_type(&body), "urn:zhiwang:problem:case-closed");
    let (_, open) = w.get(&civil, "/api/v1/grid/cases").await;
    assert_eq!(open["items"], json!([]));
    let (_, closed) = w.get(&civil, "/api/v1/grid/cases?status=closed").await;
    assert_eq!(closed["items"].as_array().unwrap().len(), 1);

    // Once it is closed, the rule may raise a new one.
    assert_eq!(w.person_moves_in(&person, &ex.grid, 81).await, 1);
    assert_eq!(case::Entity::find().count(&db).await.unwrap(), 2);
}

/// `zhiwang up` runs on SQLite: the same statements (defaults stored on first use, the open-case
/// key, evidence, outbox) work there too.
#[tokio::test]
async fn on_sqlite_rules_raise_one_open_case_and_classify_houses() {
    use sea_orm_migration::MigratorTrait;

    let db = zw_testkit::TestDb::sqlite().await;
    zw_grid::Migrator::up(&db.conn, None).await.unwrap();
    let grid = JurisdictionCode::parse("440304001001001").unwrap();
    let house = "house-over-limit";
    for expected in [1, 0] {
        let txn = db.conn.begin_write().await.unwrap();
        let outcomes = on_change(
            &txn,
            &Source::system("test"),
            Trigger {
                kind: SubjectKind::House,
                key: house,
                grid: &grid,
                change: "moved_in",
                facts: json!({"house.residents": 5, "house.registered_size": 4}),
            },
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        assert_eq!(outcomes.len(), expected, "{outcomes:?}");
        if let Some(o) = outcomes.first() {
            assert_eq!(
                (o.rule_id.as_str(), o.action.as_str()),
                ("house_over_limit", "verification_task")
            );
        }
    }
    let cases = case::Entity::find().all(&db.conn).await.unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].recipient, "grid_worker");
    assert_eq!(cases[0].subject_kind, "house");
    let class = zw_grid::rules::classify(&db.conn, &json!({"house.legal": false}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (class.level.as_str(), class.colour.as_str()),
        ("key", "red")
    );
}
