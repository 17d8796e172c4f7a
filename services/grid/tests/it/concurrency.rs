//! Sixteen writers at once on every write route of the grid — on the embedded default (SQLite
//! files and the in-process bus, as `zhiwang up` runs it) and on PostgreSQL — and no answer is a
//! 5xx: a database too busy to be had in time would be a 503 with `Retry-After` (none is expected
//! at this load; the test says how many it saw), never a 500. What was accepted is all there.

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zw_auth::Role;
use zw_testkit::http::decode;

use crate::collection::{batch, record};
use crate::entities::credit_code;
use crate::helpers::{Backend, World, spawn_world_on};
use crate::people::houses_in_use;

const WRITERS: usize = 16;

/// One answer: its status and body.
struct Answer {
    status: StatusCode,
    body: Value,
}

/// Every answer of the run, by route, and the 5xx among them.
#[derive(Default)]
struct Tally {
    statuses: Mutex<BTreeMap<String, BTreeMap<u16, usize>>>,
    server_errors: Mutex<Vec<String>>,
    busy: Mutex<usize>,
}

enum Body {
    None,
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

struct Client<'a> {
    w: &'a World,
    tally: Tally,
}

impl Client<'_> {
    async fn send(
        &self,
        route: &str,
        method: Method,
        path: &str,
        token: &str,
        body: Body,
    ) -> Answer {
        let mut req = self
            .w
            .grid
            .client
            .request(method, self.w.grid.url(path))
            .bearer_auth(token);
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Raw(content_type, bytes) => req.header("content-type", content_type).body(bytes),
        };
        let res = req.send().await.unwrap();
        let retry_after = res.headers().contains_key("retry-after");
        let (status, body) = decode(res).await;
        *self
            .tally
            .statuses
            .lock()
            .unwrap()
            .entry(route.to_owned())
            .or_default()
            .entry(status.as_u16())
            .or_default() += 1;
        if status.is_server_error() {
            if status == StatusCode::SERVICE_UNAVAILABLE && retry_after {
                *self.tally.busy.lock().unwrap() += 1;
            }
            self.tally
                .server_errors
                .lock()
                .unwrap()
                .push(format!("{route}: {status} {body}"));
        }
        Answer { status, body }
    }

    /// `WRITERS` requests at once, the `i`-th made by `request(i)`.
    async fn at_once<F, Fut>(&self, request: F) -> Vec<Answer>
    where
        F: Fn(usize) -> Fut,
        Fut: std::future::Future<Output = Answer>,
    {
        futures::future::join_all((0..WRITERS).map(request)).await
    }
}

fn statuses(answers: &[Answer]) -> Vec<u16> {
    answers.iter().map(|a| a.status.as_u16()).collect()
}

fn all_are(answers: &[Answer], status: StatusCode, what: &str) {
    for a in answers {
        assert_eq!(a.status, status, "{what}: {}", a.body);
    }
}

/// Exactly one of `answers` is `won`, every other `lost`.
fn one_wins(answers: &[Answer], won: StatusCode, lost: StatusCode, what: &str) {
    let s = statuses(answers);
    assert_eq!(
        s.iter().filter(|x| **x == won.as_u16()).count(),
        1,
        "{what}: {s:?}"
    );
    assert!(
        s.iter().all(|x| *x == won.as_u16() || *x == lost.as_u16()),
        "{what}: {s:?}"
    );
}

fn id_number(seq: u16) -> String {
    let birth = chrono::NaiveDate::from_ymd_opt(1988, 8, 8).unwrap();
    zw_domain::IdNumber::from_parts("110105", birth, seq)
        .unwrap()
        .to_string()
}

fn str_of(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .to_owned()
}

async fn sixteen_writers_on_every_write_route(backend: Backend) {
    let w = spawn_world_on(backend).await;
    let ex = w.example();
    let c = Client {
        w: &w,
        tally: Tally::default(),
    };
    let worker = w.worker(&ex.grid);
    let officer = w.officer();
    let houses = houses_in_use(&w, &ex.grid);
    let house_of = |i: usize| houses[i % houses.len()].clone();

    // Declarations, each citizen declaring himself (unknown to the register: each waits).
    let declarations = c
        .at_once(|i| {
            let id = id_number(100 + i as u16);
            let token = w.resident(&format!("declarant-{i}"), &id);
            let body = json!({"id_number": id, "house_code": house_of(i)});
            let c = &c;
            async move {
                c.send(
                    "declarations",
                    Method::POST,
                    "/api/v1/grid/declarations",
                    &token,
                    Body::Json(body),
                )
                .await
            }
        })
        .await;
    all_are(&declarations, StatusCode::CREATED, "declarations");
    let (_, tasks) = w.get(&worker, "/api/v1/grid/tasks?limit=100").await;
    let tasks: Vec<String> = tasks["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| str_of(t, "id"))
        .collect();
    assert_eq!(tasks.len(), WRITERS, "every declaration was received");

    // The grid worker's decisions.
    let decisions = c
        .at_once(|i| {
            let path = format!("/api/v1/grid/tasks/{}/decision", tasks[i]);
            let body = json!({"outcome": "confirm"});
            let (c, worker) = (&c, &worker);
            async move {
                c.send("decisions", Method::POST, &path, worker, Body::Json(body))
                    .await
            }
        })
        .await;
    all_are(&decisions, StatusCode::OK, "decisions");

    // Houses: registered at once in one grid, each its own code.
    let created = c
        .at_once(|i| {
            let body = json!({"grid_code": ex.grid, "address": format!("Block 9, Room {i}"), "category": "residential", "legal": true, "registered_size": 3});
            let (c, worker) = (&c, &worker);
            async move { c.send("houses", Method::POST, "/api/v1/grid/houses", worker, Body::Json(body)).await }
        })
        .await;
    all_are(&created, StatusCode::CREATED, "houses");
    let new_houses: Vec<String> = created.iter().map(|a| str_of(&a.body, "code")).collect();
    let distinct: std::collections::BTreeSet<_> = new_houses.iter().collect();
    assert_eq!(distinct.len(), WRITERS, "one code each: {new_houses:?}");

    // One house edited by all at once: every edit is a version.
    let edited = &new_houses[0];
    let edits = c
        .at_once(|i| {
            let path = format!("/api/v1/grid/houses/{edited}");
            let body = json!({"address": format!("Block 9, Room {i}, edited")});
            let (c, worker) = (&c, &worker);
            async move {
                c.send(
                    "house edits",
                    Method::PATCH,
                    &path,
                    worker,
                    Body::Json(body),
                )
                .await
            }
        })
        .await;
    all_are(&edits, StatusCode::OK, "house edits");
    let (_, h) = w
        .get(&worker, &format!("/api/v1/grid/houses/{edited}"))
        .await;
    assert_eq!(h["version"], json!(1 + WRITERS), "no edit was lost: {h}");

    // Transitions of the new houses, and sightings of one house.
    let transitions = c
        .at_once(|i| {
            let path = format!("/api/v1/grid/houses/{}/transitions", new_houses[i]);
            let (c, worker) = (&c, &worker);
            async move {
                c.send(
                    "house transitions",
                    Method::POST,
                    &path,
                    worker,
                    Body::Json(json!({"to": "built"})),
                )
                .await
            }
        })
        .await;
    all_are(&transitions, StatusCode::OK, "house transitions");
    let (_, before) = w
        .get(&worker, &format!("/api/v1/grid/houses/{}", ex.house))
        .await;
    let sightings = c
        .at_once(|_| {
            let path = format!("/api/v1/grid/houses/{}/sightings", ex.house);
            let (c, worker) = (&c, &worker);
            async move {
                c.send(
                    "sightings",
                    Method::POST,
                    &path,
                    worker,
                    Body::Json(json!({})),
                )
                .await
            }
        })
        .await;
    all_are(&sightings, StatusCode::OK, "sightings");
    let (_, after) = w
        .get(&worker, &format!("/api/v1/grid/houses/{}", ex.house))
        .await;
    assert_eq!(
        after["version"].as_i64().unwrap(),
        before["version"].as_i64().unwrap() + WRITERS as i64,
        "every sighting was recorded"
    );

    // A census round opened by all at once: one opens it; closed by all at once: one closes it.
    let opens = c
        .at_once(|_| {
            let path = format!("/api/v1/grid/grids/{}/census", ex.grid);
            let (c, worker) = (&c, &worker);
            async move {
                c.send("census opened", Method::POST, &path, worker, Body::None)
                    .await
            }
        })
        .await;
    one_wins(
        &opens,
        StatusCode::CREATED,
        StatusCode::CONFLICT,
        "census opened",
    );
    let round = opens
        .iter()
        .find(|a| a.status == StatusCode::CREATED)
        .map(|a| str_of(&a.body, "id"))
        .unwrap();
    let closes = c
        .at_once(|_| {
            let path = format!("/api/v1/grid/grids/{}/census/{round}/close", ex.grid);
            let (c, worker) = (&c, &worker);
            async move {
                c.send("census closed", Method::POST, &path, worker, Body::None)
                    .await
            }
        })
        .await;
    one_wins(
        &closes,
        StatusCode::OK,
        StatusCode::CONFLICT,
        "census closed",
    );

    // People recorded, moved into one house, moved out and dead.
    let people = c
        .at_once(|i| {
            let body = json!({"id_number": id_number(300 + i as u16), "house_code": house_of(i), "change": "registered"});
            let (c, worker) = (&c, &worker);
            async move { c.send("persons", Method::POST, "/api/v1/grid/persons", worker, Body::Json(body)).await }
        })
        .await;
    all_are(&people, StatusCode::CREATED, "persons");
    let ids: Vec<String> = people.iter().map(|a| str_of(&a.body, "id")).collect();
    let target = houses[2 % houses.len()].clone();
    let moves = c
        .at_once(|i| {
            let path = format!("/api/v1/grid/persons/{}/moves", ids[i]);
            let (c, worker, target) = (&c, &worker, &target);
            async move {
                c.send(
                    "moves",
                    Method::POST,
                    &path,
                    worker,
                    Body::Json(json!({"to_house": target})),
                )
                .await
            }
        })
        .await;
    for a in &moves {
        assert!(
            matches!(a.status.as_u16(), 200 | 409),
            "moves (409: he already lives there): {}",
            a.body
        );
    }
    let departures = c
        .at_once(|i| {
            let (path, body) = if i % 2 == 0 {
                (
                    format!("/api/v1/grid/persons/{}/move-out", ids[i]),
                    json!({"reason": "left"}),
                )
            } else {
                (
                    format!("/api/v1/grid/persons/{}/death", ids[i]),
                    json!({"date": chrono::Utc::now().date_naive()}),
                )
            };
            let (c, worker) = (&c, &worker);
            async move {
                c.send(
                    "move-out and death",
                    Method::POST,
                    &path,
                    worker,
                    Body::Json(body),
                )
                .await
            }
        })
        .await;
    all_are(&departures, StatusCode::OK, "move-out and death");

    // An officer unmasks the same person's number, each time with a purpose.
    let street = w.env.token_for(Role::StreetOfficer, &ex.grid[..9]);
    let unmasks = c
        .at_once(|_| {
            let path = format!("/api/v1/grid/persons/{}/unmask", ids[0]);
            let body =
                json!({"fields": ["person.id_number"], "purpose": "checking an allowance claim"});
            let (c, street) = (&c, &street);
            async move {
                c.send("unmask", Method::POST, &path, street, Body::Json(body))
                    .await
            }
        })
        .await;
    all_are(&unmasks, StatusCode::OK, "unmask");

    // Legal entities: registered, one changed by all at once, each deregistered.
    let entities = c
        .at_once(|i| {
            let body = json!({"credit_code": credit_code(&format!("MA5CW{i:03}Y")), "name": format!("店 {i}"), "house_code": house_of(i)});
            let (c, worker) = (&c, &worker);
            async move { c.send("entities", Method::POST, "/api/v1/grid/entities", worker, Body::Json(body)).await }
        })
        .await;
    all_are(&entities, StatusCode::CREATED, "entities");
    let codes: Vec<String> = entities
        .iter()
        .map(|a| str_of(&a.body, "credit_code"))
        .collect();
    let changes = c
        .at_once(|i| {
            let path = format!("/api/v1/grid/entities/{}", codes[0]);
            let body = json!({"name": format!("店 0, changed {i}")});
            let (c, worker) = (&c, &worker);
            async move {
                c.send(
                    "entity changes",
                    Method::PATCH,
                    &path,
                    worker,
                    Body::Json(body),
                )
                .await
            }
        })
        .await;
    all_are(&changes, StatusCode::OK, "entity changes");
    let (_, e) = w
        .get(&worker, &format!("/api/v1/grid/entities/{}", codes[0]))
        .await;
    assert_eq!(e["version"], json!(1 + WRITERS), "no change was lost: {e}");
    let closed = c
        .at_once(|i| {
            let path = format!("/api/v1/grid/entities/{}/deregistration", codes[i]);
            let (c, worker) = (&c, &worker);
            async move {
                c.send(
                    "deregistrations",
                    Method::POST,
                    &path,
                    worker,
                    Body::Json(json!({"reason": "dissolved"})),
                )
                .await
            }
        })
        .await;
    all_are(&closed, StatusCode::OK, "deregistrations");

    // Incidents: reported, accepted, escalated.
    let reported = c
        .at_once(|i| {
            let body = json!({"category": "hazard", "description": format!("hazard {i}"), "house_code": house_of(i)});
            let (c, worker) = (&c, &worker);
            async move { c.send("incidents", Method::POST, "/api/v1/grid/incidents", worker, Body::Json(body)).await }
        })
        .await;
    all_are(&reported, StatusCode::CREATED, "incidents");
    let incidents: Vec<String> = reported.iter().map(|a| str_of(&a.body, "id")).collect();
    let accepted = c
        .at_once(|i| {
            let path = format!("/api/v1/grid/incidents/{}/transitions", incidents[i]);
            let (c, worker) = (&c, &worker);
            async move {
                c.send(
                    "incident transitions",
                    Method::POST,
                    &path,
                    worker,
                    Body::Json(json!({"to": "accepted"})),
                )
                .await
            }
        })
        .await;
    all_are(&accepted, StatusCode::OK, "incident transitions");
    let escalated = c
        .at_once(|i| {
            let path = format!("/api/v1/grid/incidents/{}/escalate", incidents[i]);
            let (c, worker) = (&c, &worker);
            async move {
                c.send(
                    "escalations",
                    Method::POST,
                    &path,
                    worker,
                    Body::Json(json!({"reason": "beyond the grid"})),
                )
                .await
            }
        })
        .await;
    all_are(&escalated, StatusCode::OK, "escalations");

    // Batches from sixteen phones at once.
    let batches = c
        .at_once(|i| {
            let body = batch(
                &format!("phone-{i}"),
                vec![
                    record("house.sighting", Some(&new_houses[i]), None, json!({})),
                    record(
                        "incident.report",
                        None,
                        None,
                        json!({"category": "environment", "description": format!("rubbish {i}"), "house_code": house_of(i)}),
                    ),
                ],
            );
            let (c, worker) = (&c, &worker);
            async move { c.send("batches", Method::POST, "/api/v1/grid/batches", worker, Body::Json(body)).await }
        })
        .await;
    all_are(&batches, StatusCode::OK, "batches");
    for a in &batches {
        assert_eq!(a.body["summary"]["applied"], 2, "{}", a.body);
    }

    // Photos: the same bytes from half of them, each his own from the others.
    let media = c
        .at_once(|i| {
            let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
            png.extend_from_slice(format!("photo {}", i % 2 * i).as_bytes());
            let (c, worker) = (&c, &worker);
            async move {
                c.send(
                    "media",
                    Method::POST,
                    "/api/v1/grid/media",
                    worker,
                    Body::Raw("image/png", png),
                )
                .await
            }
        })
        .await;
    for a in &media {
        assert!(matches!(a.status.as_u16(), 200 | 201), "media: {}", a.body);
    }

    // Rule sets and the masking policy, replaced by all at once: each a version, or a conflict.
    let (_, rules) = w.get(&officer, "/api/v1/grid/rules/classification").await;
    let rule_puts = c
        .at_once(|_| {
            let body = rules["document"].clone();
            let (c, officer) = (&c, &officer);
            async move {
                c.send(
                    "rules",
                    Method::PUT,
                    "/api/v1/grid/rules/classification",
                    officer,
                    Body::Json(body),
                )
                .await
            }
        })
        .await;
    for a in &rule_puts {
        assert!(matches!(a.status.as_u16(), 201 | 409), "rules: {}", a.body);
    }
    let (_, policy) = w.get(&officer, "/api/v1/grid/privacy/policy").await;
    let policy_puts = c
        .at_once(|_| {
            let body = policy["document"].clone();
            let (c, officer) = (&c, &officer);
            async move {
                c.send(
                    "privacy policy",
                    Method::PUT,
                    "/api/v1/grid/privacy/policy",
                    officer,
                    Body::Json(body),
                )
                .await
            }
        })
        .await;
    for a in &policy_puts {
        assert!(
            matches!(a.status.as_u16(), 200 | 409),
            "privacy policy: {}",
            a.body
        );
    }

    // Jurisdiction imports, worker assignments, reclassifications.
    let imports = c
        .at_once(|i| {
            let rows = json!([{"code": ex.grid, "name": format!("Grid renamed {i}")}]).to_string();
            let (c, officer) = (&c, &officer);
            async move {
                c.send(
                    "jurisdictions import",
                    Method::POST,
                    "/api/v1/grid/jurisdictions/import",
                    officer,
                    Body::Raw("application/json", rows.into_bytes()),
                )
                .await
            }
        })
        .await;
    all_are(&imports, StatusCode::OK, "jurisdictions import");
    let assignments = c
        .at_once(|i| {
            let path = format!("/api/v1/grid/grids/{}/worker", ex.neighbour_grid);
            let body = json!({"worker": format!("worker-{i}")});
            let (c, officer) = (&c, &officer);
            async move {
                c.send(
                    "worker assignment",
                    Method::PUT,
                    &path,
                    officer,
                    Body::Json(body),
                )
                .await
            }
        })
        .await;
    all_are(&assignments, StatusCode::OK, "worker assignment");
    let (_, g) = w
        .get(
            &officer,
            &format!("/api/v1/grid/grids/{}", ex.neighbour_grid),
        )
        .await;
    let current: Vec<&Value> = g["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["ended_at"].is_null())
        .collect();
    assert_eq!(current.len(), 1, "one worker per grid: {g}");
    let reclassified = c
        .at_once(|_| {
            let path = format!("/api/v1/grid/houses/reclassify?under={}", ex.grid);
            let (c, officer) = (&c, &officer);
            async move {
                c.send("reclassify", Method::POST, &path, officer, Body::None)
                    .await
            }
        })
        .await;
    all_are(&reclassified, StatusCode::OK, "reclassify");

    // Bulk loads: sixteen chunks at once.
    let house_chunks = c
        .at_once(|i| {
            let code =
                zw_domain::HouseCode::new(&ex.neighbour_grid.parse().unwrap(), 5000 + i as u16)
                    .unwrap();
            let csv =
                format!("code,address,status,registered_size\n{code},Imported {i},in_use,3\n");
            let (c, officer) = (&c, &officer);
            async move {
                c.send(
                    "house imports",
                    Method::POST,
                    "/api/v1/grid/imports/houses",
                    officer,
                    Body::Raw("text/csv", csv.into_bytes()),
                )
                .await
            }
        })
        .await;
    all_are(&house_chunks, StatusCode::CREATED, "house imports");
    let resident_chunks = c
        .at_once(|i| {
            let csv = format!(
                "id_number,name,house_code\n{},Imported {i},{}\n",
                id_number(600 + i as u16),
                house_of(i)
            );
            let (c, officer) = (&c, &officer);
            async move {
                c.send(
                    "resident imports",
                    Method::POST,
                    "/api/v1/grid/imports/residents",
                    officer,
                    Body::Raw("text/csv", csv.into_bytes()),
                )
                .await
            }
        })
        .await;
    all_are(&resident_chunks, StatusCode::CREATED, "resident imports");

    let statuses = c.tally.statuses.lock().unwrap().clone();
    let busy = *c.tally.busy.lock().unwrap();
    println!("{backend:?}: answers by route and status: {statuses:?}; 503 database-busy: {busy}");
    let errors = c.tally.server_errors.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "{} answers of {} were 5xx ({busy} busy with Retry-After): {errors:#?}",
        errors.len(),
        statuses.values().flat_map(|s| s.values()).sum::<usize>()
    );
}

#[tokio::test]
async fn sixteen_writers_at_once_on_every_write_route_get_no_5xx_on_sqlite() {
    sixteen_writers_on_every_write_route(Backend::Sqlite).await;
}

#[tokio::test]
async fn sixteen_writers_at_once_on_every_write_route_get_no_5xx_on_postgresql() {
    sixteen_writers_on_every_write_route(Backend::Postgres).await;
}
