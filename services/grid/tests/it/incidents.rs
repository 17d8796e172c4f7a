//! Incidents: the life cycle by the right actors, illegal moves, scopes, escalation by hand and by
//! the overdue sweep, idempotent reporting, and the events on the bus.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use zw_auth::Role;
use zw_bus::ConsumerSpec;
use zw_demo::{DemoDistrict, DemoHouseStatus};
use zw_testkit::{RunningApp, TestEnv, http};

/// The grid service alone (incidents need no register) on real PostgreSQL + NATS, the demo
/// district seeded, and its database at hand for the sweep and for setting grid centres.
pub struct IncidentWorld {
    pub env: TestEnv,
    pub grid: RunningApp,
    pub db: DatabaseConnection,
    pub demo: DemoDistrict,
    pub deadline_hours: i64,
    /// The first grid, its first house, and the next grid.
    pub grid_code: String,
    pub house: String,
    pub neighbour_grid: String,
}

pub async fn spawn() -> IncidentWorld {
    let mut env = TestEnv::nats().await;
    let settings = env.settings().await;
    let demo = DemoDistrict::generate(&settings.district.code, "test");
    let db = zw_grid::connect(&settings).await.unwrap();
    zw_grid::seed::seed_demo(&db, &demo).await.unwrap();
    let grid = env.start(&settings, zw_grid::build).await;
    let (grid_code, neighbour_grid) = {
        let mut grids = demo.grids();
        (
            grids.next().unwrap().code.to_string(),
            grids.next().unwrap().code.to_string(),
        )
    };
    let house = demo.houses(&grid_code.parse().unwrap())[0].code.to_string();
    IncidentWorld {
        env,
        grid,
        db,
        deadline_hours: i64::from(settings.grid.incident_deadline_hours),
        demo,
        grid_code,
        house,
        neighbour_grid,
    }
}

impl IncidentWorld {
    pub fn citizen(&self, name: &str) -> String {
        self.env.token(Role::Citizen, self.demo.code.as_str(), name)
    }
    pub fn worker(&self, grid: &str) -> String {
        self.env
            .token(Role::GridWorker, grid, &format!("worker-{grid}"))
    }
    pub fn community_officer(&self) -> String {
        self.env
            .token(Role::CommunityOfficer, &self.grid_code[..12], "community-1")
    }
    pub fn street_officer(&self) -> String {
        self.env
            .token(Role::StreetOfficer, &self.grid_code[..9], "street-1")
    }
    pub fn district_officer(&self) -> String {
        self.env
            .token(Role::DistrictOfficer, self.demo.code.as_str(), "district-1")
    }
    pub async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        http::post(&self.grid, Some(token), path, &body).await
    }
    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        http::get(&self.grid, Some(token), path).await
    }
    /// Report a hazard at the example house; returns its id.
    pub async fn report(&self, token: &str) -> String {
        let (status, body) = self
            .post(
                token,
                "/api/v1/grid/incidents",
                json!({"category": "hazard", "description": "loose cable", "house_code": self.house}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }
    pub async fn move_to(&self, token: &str, id: &str, body: Value) -> (StatusCode, Value) {
        self.post(
            token,
            &format!("/api/v1/grid/incidents/{id}/transitions"),
            body,
        )
        .await
    }
    pub async fn escalate(&self, token: &str, id: &str, reason: &str) -> (StatusCode, Value) {
        self.post(
            token,
            &format!("/api/v1/grid/incidents/{id}/escalate"),
            json!({"reason": reason}),
        )
        .await
    }
    /// The incident with its steps, as the district officer sees it.
    pub async fn incident(&self, id: &str) -> Value {
        let (status, body) = self
            .get(
                &self.district_officer(),
                &format!("/api/v1/grid/incidents/{id}"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
    pub async fn count(&self, sql: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(Statement::from_string(self.db.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }
}

fn problem_code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

fn steps(incident: &Value) -> Vec<(String, String, String)> {
    incident["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_owned(),
                s["to"].as_str().unwrap().to_owned(),
                s["level"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every step has its own evidence record, in order.
fn assert_evidence(incident: &Value) {
    let seqs: Vec<i64> = incident["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["evidence_seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[tokio::test]
async fn an_incident_lives_from_report_to_closure_by_the_right_actors() {
    let w = spawn().await;
    let alice = w.citizen("alice");
    let (status, body) = w
        .post(
            &alice,
            "/api/v1/grid/incidents",
            json!({"category": "hazard", "description": "loose cable", "house_code": w.house}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "reported");
    assert_eq!(body["level"], "grid");
    assert_eq!(body["grid_code"], w.grid_code.as_str());
    assert_eq!(body["reporter_kind"], "citizen");
    assert_eq!(body["version"], 1);
    let id = body["id"].as_str().unwrap().to_owned();

    let worker = w.worker(&w.grid_code);
    let (s, b) = w.move_to(&worker, &id, json!({"to": "accepted"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = w
        .move_to(
            &worker,
            &id,
            json!({"to": "assigned", "assignee": "repair-team", "expected_version": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["assignee"], "repair-team");
    // The assignee resolves it; the grid worker verifies (he did not resolve it) and closes.
    let team = w
        .env
        .token(Role::Department, w.demo.code.as_str(), "repair-team");
    let (s, b) = w
        .move_to(
            &team,
            &id,
            json!({"to": "resolved", "note": "cable fixed to the wall"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["resolution"], "cable fixed to the wall");
    let (s, b) = w.move_to(&worker, &id, json!({"to": "verified"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = w.move_to(&worker, &id, json!({"to": "closed"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "closed");
    assert_eq!(b["version"], 6);

    // Closed is the end.
    for to in ["accepted", "reported", "closed"] {
        let (s, b) = w.move_to(&worker, &id, json!({"to": to})).await;
        assert_eq!(s, StatusCode::CONFLICT, "{b}");
        assert_eq!(problem_code(&b), "incident-closed");
    }
    let (s, b) = w.escalate(&worker, &id, "too late").await;
    assert_eq!(
        (s, problem_code(&b)),
        (StatusCode::CONFLICT, "incident-closed")
    );

    let inc = w.incident(&id).await;
    assert_eq!(inc["version"], 6);
    let names: Vec<String> = steps(&inc).into_iter().map(|s| s.0).collect();
    assert_eq!(
        names,
        [
            "reported", "accepted", "assigned", "resolved", "verified", "closed"
        ]
    );
    assert_evidence(&inc);
    assert_eq!(inc["steps"][3]["actor"], "repair-team");
    assert_eq!(inc["steps"][3]["note"], "cable fixed to the wall");
    assert_eq!(
        w.count(&format!(
            "SELECT COUNT(*) FROM evidence_records WHERE object = 'incident/{id}'"
        ))
        .await,
        6,
        "one evidence record per step"
    );

    // The reporter follows it.
    let (s, mine) = w.get(&alice, &format!("/api/v1/grid/incidents/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mine["status"], "closed");
}

#[tokio::test]
async fn whoever_resolved_an_incident_may_not_verify_it() {
    let w = spawn().await;
    let id = w.report(&w.citizen("c")).await;
    let worker = w.worker(&w.grid_code);
    w.move_to(&worker, &id, json!({"to": "accepted"})).await;
    w.move_to(
        &worker,
        &id,
        json!({"to": "assigned", "assignee": "worker-self"}),
    )
    .await;
    let (s, b) = w
        .move_to(
            &worker,
            &id,
            json!({"to": "resolved", "note": "done myself"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = w.move_to(&worker, &id, json!({"to": "verified"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(w.incident(&id).await["status"], "resolved");
    // The assignee may only resolve: not accept, verify or close.
    let assignee = w
        .env
        .token(Role::Department, w.demo.code.as_str(), "worker-self");
    let (s, _) = w.move_to(&assignee, &id, json!({"to": "verified"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn every_illegal_move_is_refused_with_the_allowed_targets_and_changes_nothing() {
    let w = spawn().await;
    let id = w.report(&w.citizen("c")).await;
    let worker = w.worker(&w.grid_code);
    let path = [
        ("reported", json!({"to": "accepted"})),
        ("accepted", json!({"to": "assigned", "assignee": "team"})),
        ("assigned", json!({"to": "resolved", "note": "fixed"})),
        // Verified by the grid worker: the assignee "team" is not him, so resolve as the team.
        ("resolved", json!({"to": "verified"})),
        ("verified", json!({"to": "closed"})),
    ];
    let all = [
        "reported", "accepted", "assigned", "resolved", "verified", "closed",
    ];
    let team = w.env.token(Role::Department, w.demo.code.as_str(), "team");
    for (i, (at, next)) in path.iter().enumerate() {
        let before = w.incident(&id).await;
        assert_eq!(before["status"], *at);
        let allowed = next["to"].as_str().unwrap();
        for to in all.iter().filter(|t| *t != &allowed) {
            let (s, b) = w
                .move_to(
                    &worker,
                    &id,
                    json!({"to": to, "note": "n", "assignee": "x"}),
                )
                .await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{at} → {to}: {b}");
            assert_eq!(problem_code(&b), "illegal-transition");
            assert!(
                b["detail"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("[{allowed}]")),
                "lists the allowed target: {b}"
            );
        }
        assert_eq!(w.incident(&id).await["version"], before["version"]);
        let actor = if *at == "assigned" { &team } else { &worker };
        let (s, b) = w.move_to(actor, &id, next.clone()).await;
        assert_eq!(s, StatusCode::OK, "{at} → {allowed}: {b}");
        assert_eq!(b["version"], i as i64 + 2);
    }
}

#[tokio::test]
async fn bad_transition_requests_are_refused_before_anything_is_written() {
    let w = spawn().await;
    let id = w.report(&w.citizen("c")).await;
    let worker = w.worker(&w.grid_code);
    let (s, b) = w
        .move_to(
            &worker,
            &id,
            json!({"to": "accepted", "expected_version": 7}),
        )
        .await;
    assert_eq!(
        (s, problem_code(&b)),
        (StatusCode::CONFLICT, "version-conflict")
    );
    for body in [
        json!({"to": "somewhere"}),
        json!({"to": "accepted", "colour": "red"}),
        json!({"note": "no target"}),
    ] {
        let (s, b) = w.move_to(&worker, &id, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {b}");
    }
    let (s, _) = http::call(
        w.grid
            .client
            .post(
                w.grid
                    .url(&format!("/api/v1/grid/incidents/{id}/transitions")),
            )
            .bearer_auth(&worker)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    w.move_to(&worker, &id, json!({"to": "accepted"})).await;
    let (s, b) = w.move_to(&worker, &id, json!({"to": "assigned"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "assignee required: {b}");
    w.move_to(&worker, &id, json!({"to": "assigned", "assignee": "t"}))
        .await;
    let (s, b) = w
        .move_to(&worker, &id, json!({"to": "resolved", "note": "  "}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "resolution required: {b}");
    let inc = w.incident(&id).await;
    assert_eq!(
        (inc["status"].as_str(), inc["version"].as_i64()),
        (Some("assigned"), Some(3))
    );
    let (s, _) = w
        .move_to(
            &worker,
            &uuid::Uuid::now_v7().to_string(),
            json!({"to": "accepted"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_the_handler_of_the_level_acts_and_citizens_see_only_their_own() {
    let w = spawn().await;
    let alice = w.citizen("alice");
    let id = w.report(&alice).await;
    let neighbour = w.worker(&w.neighbour_grid);
    let (s, b) = w.move_to(&neighbour, &id, json!({"to": "accepted"})).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another grid's incident is none of his: {b}"
    );
    let (s, _) = w.escalate(&neighbour, &id, "not mine").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Nor may the community officer while it is at the grid level, nor a citizen.
    let (s, _) = w
        .move_to(&w.community_officer(), &id, json!({"to": "accepted"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = w.move_to(&alice, &id, json!({"to": "accepted"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(w.incident(&id).await["version"], 1, "nothing changed");

    // The neighbour cannot report in a grid not his, nor see this one.
    let (s, _) = w
        .post(
            &neighbour,
            "/api/v1/grid/incidents",
            json!({"category": "dispute", "description": "x", "house_code": w.house}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = w
        .get(&neighbour, &format!("/api/v1/grid/incidents/{id}"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = w.get(&neighbour, "/api/v1/grid/incidents").await;
    assert_eq!(list["items"], json!([]));

    let bob = w.citizen("bob");
    let bobs = w.report(&bob).await;
    let (s, _) = w.get(&bob, &format!("/api/v1/grid/incidents/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = w.get(&bob, "/api/v1/grid/incidents").await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [bobs.as_str()]);

    // The grid worker sees both, with filters and pages.
    let worker = w.worker(&w.grid_code);
    w.move_to(&worker, &id, json!({"to": "accepted"})).await;
    let (_, page) = w.get(&worker, "/api/v1/grid/incidents?limit=1").await;
    assert_eq!(page["items"][0]["id"], bobs.as_str(), "newest first");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page2) = w
        .get(
            &worker,
            &format!("/api/v1/grid/incidents?limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(page2["items"][0]["id"], id.as_str());
    assert!(page2.get("next_cursor").is_none());
    let (_, accepted) = w
        .get(&worker, "/api/v1/grid/incidents?status=accepted&level=grid")
        .await;
    assert_eq!(accepted["items"].as_array().unwrap().len(), 1);
    let (s, _) = w.get(&worker, "/api/v1/grid/incidents?status=lost").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Departments: only with the `incidents` data set.
    let police = w
        .env
        .token(Role::Department, w.demo.code.as_str(), "police");
    assert_eq!(
        w.get(&police, "/api/v1/grid/incidents").await.0,
        StatusCode::FORBIDDEN
    );
    let entitled = w.env.issuer.token_for(&zw_auth::TokenRequest {
        subject: "civil-affairs".into(),
        roles: vec![Role::Department],
        scope: w.demo.code.clone(),
        datasets: vec!["incidents".into()],
        name: None,
        id_number: None,
    });
    let (s, list) = w.get(&entitled, "/api/v1/grid/incidents").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let (s, b) = w
        .post(
            &entitled,
            "/api/v1/grid/incidents",
            json!({"category": "vulnerable_person", "description": "lives alone, 90", "grid_code": w.grid_code}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["reporter_kind"], "department");
}

#[tokio::test]
async fn reports_are_placed_by_house_grid_or_nearest_grid_centre() {
    let w = spawn().await;
    let c = w.citizen("c");
    let new = |loc: Value| {
        let mut body = json!({"category": "environment", "description": "rubbish"});
        body.as_object_mut()
            .unwrap()
            .extend(loc.as_object().unwrap().clone());
        body
    };
    // The demo seed gives every grid its centre: start from a district without any.
    w.db.execute_unprepared("UPDATE grids SET lat = NULL, lng = NULL")
        .await
        .unwrap();
    let (s, b) = w
        .post(
            &c,
            "/api/v1/grid/incidents",
            new(json!({"lat": 22.54, "lng": 113.93})),
        )
        .await;
    assert_eq!(
        (s, problem_code(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "location-unknown"),
        "no grid has a centre yet: {b}"
    );
    for (code, lat, lng) in [
        (&w.grid_code, 22.50, 113.90),
        (&w.neighbour_grid, 22.60, 114.00),
    ] {
        w.db.execute_unprepared(&format!(
            "UPDATE grids SET lat = {lat}, lng = {lng} WHERE code = '{code}'"
        ))
        .await
        .unwrap();
    }
    let (s, b) = w
        .post(
            &c,
            "/api/v1/grid/incidents",
            new(json!({"lat": 22.58, "lng": 113.99})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["grid_code"], w.neighbour_grid.as_str());
    let (s, b) = w
        .post(
            &c,
            "/api/v1/grid/incidents",
            new(json!({"grid_code": w.grid_code})),
        )
        .await;
    assert_eq!(
        (s, b["grid_code"].as_str()),
        (StatusCode::CREATED, Some(w.grid_code.as_str()))
    );
    let (s, b) = w
        .post(
            &c,
            "/api/v1/grid/incidents",
            new(json!({"house_code": w.house})),
        )
        .await;
    assert_eq!(
        (s, b["house_code"].as_str()),
        (StatusCode::CREATED, Some(w.house.as_str()))
    );
    for (loc, status) in [
        (json!({}), StatusCode::BAD_REQUEST),
        (json!({"lat": 22.5}), StatusCode::BAD_REQUEST),
        (json!({"house_code": "123"}), StatusCode::BAD_REQUEST),
        (json!({"grid_code": "440304"}), StatusCode::BAD_REQUEST),
    ] {
        let (s, b) = w.post(&c, "/api/v1/grid/incidents", new(loc.clone())).await;
        assert_eq!(s, status, "{loc}: {b}");
    }
    let (s, _) = w
        .post(
            &c,
            "/api/v1/grid/incidents",
            json!({"category": "ufo", "description": "x", "house_code": w.house}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(w.count("SELECT COUNT(*) FROM incidents").await, 3);
}

#[tokio::test]
async fn escalation_by_hand_climbs_to_the_district_and_each_level_takes_over() {
    let w = spawn().await;
    let id = w.report(&w.citizen("c")).await;
    let worker = w.worker(&w.grid_code);
    w.move_to(&worker, &id, json!({"to": "accepted"})).await;
    let (s, b) = w.escalate(&worker, &id, "").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a reason is required: {b}");
    let (s, b) = w
        .escalate(&worker, &id, "a family dispute beyond the grid")
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["level"].as_str(), b["status"].as_str()),
        (Some("community"), Some("reported"))
    );
    let (s, _) = w.move_to(&worker, &id, json!({"to": "accepted"})).await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "the grid worker no longer handles it"
    );

    let community = w.community_officer();
    let (s, b) = w.move_to(&community, &id, json!({"to": "accepted"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = w
        .escalate(&community, &id, "needs the street's law office")
        .await;
    assert_eq!((s, b["level"].as_str()), (StatusCode::OK, Some("street")));
    let (s, _) = w.escalate(&community, &id, "again").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = w
        .escalate(&w.street_officer(), &id, "needs several bureaus")
        .await;
    assert_eq!((s, b["level"].as_str()), (StatusCode::OK, Some("district")));
    let district = w.district_officer();
    let (s, b) = w.escalate(&district, &id, "higher still").await;
    assert_eq!(
        (s, problem_code(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "cannot-escalate")
    );
    let (s, b) = w.move_to(&district, &id, json!({"to": "accepted"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let inc = w.incident(&id).await;
    assert_eq!(
        steps(&inc),
        [
            ("reported", "reported", "grid"),
            ("accepted", "accepted", "grid"),
            ("escalated", "reported", "community"),
            ("accepted", "accepted", "community"),
            ("escalated", "reported", "street"),
            ("escalated", "reported", "district"),
            ("accepted", "accepted", "district"),
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    );
    assert_eq!(inc["steps"][2]["note"], "a family dispute beyond the grid");
    assert_evidence(&inc);
}

#[tokio::test]
async fn overdue_incidents_climb_one_level_per_sweep_and_are_marked_at_the_district() {
    let w = spawn().await;
    let id = w.report(&w.citizen("c")).await;
    let done = w.report(&w.citizen("d")).await;
    let worker = w.worker(&w.grid_code);
    w.move_to(&worker, &done, json!({"to": "accepted"})).await;
    w.move_to(&worker, &done, json!({"to": "assigned", "assignee": "t"}))
        .await;
    let team = w.env.token(Role::Department, w.demo.code.as_str(), "t");
    w.move_to(&team, &done, json!({"to": "resolved", "note": "ok"}))
        .await;

    let id_uuid: uuid::Uuid = id.parse().unwrap();
    let step = chrono::Duration::hours(w.deadline_hours) + chrono::Duration::minutes(1);
    let now = Utc::now();
    assert_eq!(
        zw_grid::incidents::escalate_overdue(&w.db, now)
            .await
            .unwrap(),
        Vec::<uuid::Uuid>::new(),
        "nothing is overdue yet"
    );
    let mut at = now;
    for level in ["community", "street", "district"] {
        at += step;
        // Two sweeps at once (two replicas): the incident moves up once.
        let (a, b) = tokio::join!(
            zw_grid::incidents::escalate_overdue(&w.db, at),
            zw_grid::incidents::escalate_overdue(&w.db, at)
        );
        let mut all = a.unwrap();
        all.extend(b.unwrap());
        assert_eq!(all, [id_uuid], "the resolved one stays where it is");
        let inc = w.incident(&id).await;
        assert_eq!(
            (inc["level"].as_str(), inc["status"].as_str()),
            (Some(level), Some("reported"))
        );
        let deadline: chrono::DateTime<Utc> = inc["deadline"].as_str().unwrap().parse().unwrap();
        assert!(deadline > at, "a new deadline for the new level");
    }
    at += step;
    assert_eq!(
        zw_grid::incidents::escalate_overdue(&w.db, at)
            .await
            .unwrap(),
        [id_uuid]
    );
    let inc = w.incident(&id).await;
    assert_eq!(
        (inc["level"].as_str(), inc["overdue"].as_bool()),
        (Some("district"), Some(true))
    );
    at += step;
    assert!(
        zw_grid::incidents::escalate_overdue(&w.db, at)
            .await
            .unwrap()
            .is_empty(),
        "marked overdue once"
    );
    let names: Vec<String> = steps(&w.incident(&id).await)
        .into_iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(
        names,
        ["reported", "escalated", "escalated", "escalated", "overdue"]
    );
    let inc = w.incident(&id).await;
    assert_evidence(&inc);
    assert_eq!(inc["steps"][1]["actor"], "system:escalation");
    assert_eq!(
        w.count(&format!(
            "SELECT COUNT(*) FROM evidence_records WHERE object = 'incident/{id}' AND action = 'incident.escalated'"
        ))
        .await,
        3
    );
    assert_eq!(w.incident(&done).await["level"], "grid");
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_creates_one_incident() {
    let w = spawn().await;
    let c = w.citizen("c");
    let body =
        json!({"category": "complaint", "description": "noise at night", "house_code": w.house});
    let send = |key: &'static str, body: Value| {
        http::call(
            w.grid
                .client
                .post(w.grid.url("/api/v1/grid/incidents"))
                .bearer_auth(&c)
                .header("Idempotency-Key", key)
                .json(&body),
        )
    };
    let (s1, first) = send("k-1", body.clone()).await;
    let (s2, again) = send("k-1", body.clone()).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first["id"], again["id"]);
    let (s, b) = send(
        "k-1",
        json!({"category": "complaint", "description": "other", "house_code": w.house}),
    )
    .await;
    assert_eq!(
        (s, problem_code(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused")
    );
    assert_eq!(w.count("SELECT COUNT(*) FROM incidents").await, 1);
    assert_eq!(w.count("SELECT COUNT(*) FROM incident_steps").await, 1);
}

#[tokio::test]
async fn incident_changes_reach_the_bus() {
    let w = spawn().await;
    let mut sub = w
        .env
        .bus
        .subscribe(ConsumerSpec::events(
            "test-incidents",
            vec!["zw.evt.>".into()],
        ))
        .await
        .unwrap();
    let id = w.report(&w.citizen("c")).await;
    let worker = w.worker(&w.grid_code);
    w.move_to(&worker, &id, json!({"to": "accepted"})).await;
    w.escalate(&worker, &id, "beyond me").await;
    let mut seen = Vec::new();
    let got = tokio::time::timeout(Duration::from_secs(20), async {
        while seen.len() < 3 {
            let d = sub.next().await.unwrap().unwrap();
            let env = zw_contracts::Envelope::from_bytes(&d.payload).unwrap();
            d.ack().await.unwrap();
            if env.event_type == "incident.changed" && env.payload["incident_id"] == id.as_str() {
                assert_eq!(env.jurisdiction.as_str(), w.grid_code);
                seen.push((
                    env.payload["change"].as_str().unwrap().to_owned(),
                    env.payload["level"].as_str().unwrap().to_owned(),
                    env.payload["version"].as_i64().unwrap(),
                ));
            }
        }
    })
    .await;
    assert!(got.is_ok(), "events seen before the timeout: {seen:?}");
    assert_eq!(
        seen,
        [
            ("reported".to_owned(), "grid".to_owned(), 1),
            ("accepted".to_owned(), "grid".to_owned(), 2),
            ("escalated".to_owned(), "community".to_owned(), 3),
        ]
    );
}

#[tokio::test]
async fn open_incidents_at_a_house_colour_it_until_they_are_resolved() {
    let w = spawn().await;
    let worker = w.worker(&w.grid_code);
    let house = w
        .demo
        .houses(&w.grid_code.parse().unwrap())
        .into_iter()
        .find(|h| h.status == DemoHouseStatus::InUse)
        .unwrap()
        .code
        .to_string();
    let class = |h: &Value| {
        (
            h["class_level"].as_str().unwrap_or("").to_owned(),
            h["colour"].as_str().unwrap_or("").to_owned(),
        )
    };
    let house_now = || async {
        let (s, h) = w
            .get(&worker, &format!("/api/v1/grid/houses/{house}"))
            .await;
        assert_eq!(s, StatusCode::OK, "{h}");
        h
    };
    let mut ids = Vec::new();
    for description in ["gas smell in the stairwell", "cracked balcony"] {
        let (s, b) = w
            .post(
                &worker,
                "/api/v1/grid/incidents",
                json!({"category": "hazard", "description": description, "house_code": house}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        ids.push(b["id"].as_str().unwrap().to_owned());
        if ids.len() == 1 {
            assert_eq!(class(&house_now().await), ("normal".into(), "green".into()));
        }
    }
    // The classification's rule: two or more open incidents make a key, red house.
    let h = house_now().await;
    assert_eq!(class(&h), ("key".into(), "red".into()), "{h}");
    let (s, t) = w
        .get(&worker, &format!("/api/v1/grid/houses/{house}/timeline"))
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let reclassified: Vec<&Value> = t["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["change"] == "reclassified")
        .collect();
    assert!(!reclassified.is_empty(), "{t}");
    let last = reclassified.last().unwrap();
    assert_eq!(last["details"]["colour"], "red");
    assert_eq!(last["source"]["kind"], "grid_worker");

    // Resolving one leaves one open incident: green again, in the resolution's transaction.
    let id = &ids[0];
    for body in [
        json!({"to": "accepted"}),
        json!({"to": "assigned", "assignee": format!("worker-{}", w.grid_code)}),
        json!({"to": "resolved", "note": "gas company sealed the pipe"}),
    ] {
        let (s, b) = w.move_to(&worker, id, body).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    assert_eq!(class(&house_now().await), ("normal".into(), "green".into()));
}
