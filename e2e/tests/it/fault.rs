//! Faults: nothing accepted is lost or applied twice.
//!
//! A steady load of declarations and incident reports from a citizen goes through the gateway,
//! each request with an `Idempotency-Key` of its own, while one thing after another fails: each
//! service is SIGKILLed and restarted; PostgreSQL, NATS and Redis (the cluster's own) are stopped
//! and started again. After each fault every request that was not answered 2xx is sent again with
//! its key until it is, and then:
//! - every request is stored exactly once in the grid (by its ID number or its description), under
//!   the id it was answered with, complete (a pending declaration with its one verification task);
//! - an answer with an error left nothing, or (its outcome unknown to the client: the connection
//!   broke) the whole write, which the retry then answered instead of writing it again;
//! - the tally of every tier (community, street, district) holds exactly the grid's declarations,
//!   and its statistics count each once;
//! - the evidence logs of the grid and of identity export and verify against their published keys,
//!   with exactly one record for each declaration and incident, and none for anything not stored.
//!
//! While a dependency is down the API answers 2xx (what does not need it: the grid's writes while
//! NATS is down go to its outbox, the gateway lets requests through unlimited without Redis) or 503
//! problem+json with `Retry-After`, and `/readyz` of each service that needs it names it (503), or
//! of one that serves on without it names it degraded (200: the gateway without Redis).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use zw_e2e::cluster::{BACKENDS, Cluster, unknown_id};
use zw_e2e::deps::Dependency;

const SENDERS: usize = 3;

/// What a request creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Declaration,
    Incident,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Declaration => "/api/v1/grid/declarations",
            Kind::Incident => "/api/v1/grid/incidents",
        }
    }
}

/// One creating request of the load.
#[derive(Debug, Clone)]
struct Request {
    kind: Kind,
    key: String,
    body: Value,
    /// What identifies what it creates in the grid's tables: the ID number of a declaration,
    /// the description of an incident (both unique to the request).
    natural: String,
}

/// How a request was answered (what is not matched on is shown in failures).
#[derive(Debug, Clone)]
#[allow(dead_code)]
enum Answer {
    /// 2xx with the id of what it created.
    Acknowledged(String),
    /// An error status; whether the body was problem+json and a `Retry-After` came with it.
    Refused {
        status: StatusCode,
        problem: bool,
        retry_after: bool,
        body: String,
    },
    /// No HTTP answer at all (the connection was refused or broke off).
    Unanswered(String),
}

impl Answer {
    fn acknowledged(&self) -> bool {
        matches!(self, Answer::Acknowledged(_))
    }

    /// A 503 problem+json with `Retry-After`: what a dependency that is down must answer.
    fn retry_later(&self) -> bool {
        matches!(
            self,
            Answer::Refused { status, problem: true, retry_after: true, .. }
                if *status == StatusCode::SERVICE_UNAVAILABLE
        )
    }
}

#[derive(Debug, Clone)]
struct Sent {
    request: Request,
    answer: Answer,
}

/// Everything the load sent, in the order the answers came.
type Journal = Arc<Mutex<Vec<Sent>>>;

/// Send `request` once.
async fn send(client: &reqwest::Client, gateway: &str, token: &str, request: &Request) -> Answer {
    let res = client
        .post(format!("{gateway}{}", request.kind.path()))
        .bearer_auth(token)
        .header("Idempotency-Key", &request.key)
        .json(&request.body)
        .send()
        .await;
    let res = match res {
        Ok(res) => res,
        Err(e) => return Answer::Unanswered(format!("{e:?}")),
    };
    let status = res.status();
    let problem = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"));
    let retry_after = res.headers().contains_key("retry-after");
    let text = match res.text().await {
        Ok(t) => t,
        Err(e) => return Answer::Unanswered(format!("the body broke off: {e:?}")),
    };
    if status.is_success() {
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        match v["id"].as_str() {
            Some(id) => Answer::Acknowledged(id.to_owned()),
            None => panic!("a {status} without an id: {text}"),
        }
    } else {
        Answer::Refused {
            status,
            problem,
            retry_after,
            body: text,
        }
    }
}

/// The citizen's steady stream of declarations and incident reports, from [`SENDERS`] tasks.
struct Load {
    journal: Journal,
    stop: Arc<AtomicBool>,
    senders: Vec<JoinHandle<()>>,
}

/// What a load needs to make its requests.
#[derive(Clone)]
struct Source {
    client: reqwest::Client,
    gateway: String,
    token: String,
    houses: Arc<Vec<String>>,
    next: Arc<AtomicU16>,
}

impl Source {
    fn request(&self) -> Request {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let house = &self.houses[usize::from(n) % self.houses.len()];
        if n.is_multiple_of(2) {
            let id_number = unknown_id(n);
            Request {
                kind: Kind::Declaration,
                key: format!("fault-{}", uuid::Uuid::new_v4()),
                body: json!({"id_number": id_number, "house_code": house}),
                natural: id_number,
            }
        } else {
            let description = format!("fault load incident {n}: a loose cable on the stairs");
            Request {
                kind: Kind::Incident,
                key: format!("fault-{}", uuid::Uuid::new_v4()),
                body: json!({"category": "hazard", "description": description, "house_code": house}),
                natural: description,
            }
        }
    }
}

impl Load {
    fn start(source: &Source) -> Load {
        let journal: Journal = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let senders = (0..SENDERS)
            .map(|_| {
                let (source, journal, stop) = (source.clone(), journal.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let request = source.request();
                        let answer =
                            send(&source.client, &source.gateway, &source.token, &request).await;
                        if !answer.acknowledged() {
                            // Do not hammer what is down.
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        journal.lock().unwrap().push(Sent { request, answer });
                    }
                })
            })
            .collect();
        Load {
            journal,
            stop,
            senders,
        }
    }

    fn answered(&self) -> usize {
        self.journal.lock().unwrap().len()
    }

    /// Wait until at least `n` answers after the first `from` satisfy `which`.
    async fn wait_for(&self, from: usize, n: usize, what: &str, which: fn(&Answer) -> bool) {
        zw_testkit::eventually(Duration::from_secs(120), what, || async {
            let journal = self.journal.lock().unwrap();
            (journal
                .iter()
                .skip(from)
                .filter(|s| which(&s.answer))
                .count()
                >= n)
                .then_some(())
        })
        .await;
    }

    /// Stop sending; every request made so far, with its answer.
    async fn stop(self) -> Vec<Sent> {
        self.stop.store(true, Ordering::Relaxed);
        for s in self.senders {
            s.await.unwrap();
        }
        std::mem::take(&mut *self.journal.lock().unwrap())
    }
}

/// What the whole test sent so far: each request and the id it was finally acknowledged with.
#[derive(Default)]
struct Ledger {
    acknowledged: Vec<(Request, String)>,
}

/// The shared setup: a cluster, the citizen's load source and the officer's token.
struct Scene {
    c: Cluster,
    source: Source,
    officer: String,
    ledger: Ledger,
}

impl Scene {
    async fn new(c: Cluster) -> Scene {
        let citizen = c.login("citizen").await;
        let officer = c.login("district-officer").await;
        let houses: Vec<String> = c
            .demo
            .all_houses()
            .filter(|h| {
                matches!(
                    h.status,
                    zw_demo::DemoHouseStatus::InUse | zw_demo::DemoHouseStatus::Rented
                )
            })
            .map(|h| h.code.to_string())
            .take(200)
            .collect();
        let source = Source {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            gateway: c.gateway.clone(),
            token: citizen,
            houses: Arc::new(houses),
            next: Arc::new(AtomicU16::new(1)),
        };
        Scene {
            c,
            source,
            officer,
            ledger: Ledger::default(),
        }
    }

    /// After `fault`: send every request not answered 2xx again with its key until it is, then
    /// check everything acknowledged so far (see the module docs).
    async fn settle(&mut self, fault: &str, sent: Vec<Sent>) {
        let grid = sea_orm::Database::connect(&self.c.dbs["grid"].url)
            .await
            .unwrap();
        let (declared, reported) = (
            stored_declarations(&grid).await,
            stored_incidents(&grid).await,
        );
        for s in sent {
            let id = match s.answer {
                Answer::Acknowledged(id) => id,
                answer => {
                    // An error answer left nothing, or (the client cannot know: the connection
                    // broke) the whole write, which the retry finds under its key.
                    let earlier = match s.request.kind {
                        Kind::Declaration => declared.get(&s.request.natural),
                        Kind::Incident => reported.get(&s.request.natural),
                    };
                    if let Some(ids) = earlier {
                        assert_eq!(ids.len(), 1, "{fault}: {:?} stored twice", s.request);
                        assert!(
                            matches!(&answer, Answer::Unanswered(_))
                                || matches!(&answer, Answer::Refused { status, .. }
                                    if *status == StatusCode::BAD_GATEWAY
                                        || *status == StatusCode::GATEWAY_TIMEOUT),
                            "{fault}: a request answered {answer:?} was stored: an error that \
                             says nothing was changed changed something"
                        );
                    }
                    let retried = zw_testkit::eventually(
                        Duration::from_secs(60),
                        &format!("{fault}: {:?} to be acknowledged on retry", s.request),
                        || async {
                            match send(
                                &self.source.client,
                                &self.source.gateway,
                                &self.source.token,
                                &s.request,
                            )
                            .await
                            {
                                Answer::Acknowledged(id) => Some(id),
                                _ => None,
                            }
                        },
                    )
                    .await;
                    if let Some(ids) = earlier {
                        assert!(
                            ids.contains(&retried),
                            "{fault}: the retry of a request already applied answered another id"
                        );
                    }
                    retried
                }
            };
            self.ledger.acknowledged.push((s.request, id));
        }
        self.check(fault, &grid).await;
        let _ = grid.close().await;
    }

    async fn check(&self, fault: &str, grid: &sea_orm::DatabaseConnection) {
        let declared = stored_declarations(grid).await;
        let reported = stored_incidents(grid).await;
        let tasks = ids_of(
            grid,
            "SELECT CAST(declaration_id AS TEXT) AS id FROM verification_tasks",
        )
        .await;
        let mut tasks_of: BTreeMap<String, usize> = BTreeMap::new();
        for t in tasks {
            *tasks_of.entry(t).or_default() += 1;
        }
        let (mut declarations, mut incidents) = (BTreeSet::new(), BTreeSet::new());
        for (request, id) in &self.ledger.acknowledged {
            let stored = match request.kind {
                Kind::Declaration => declared.get(&request.natural),
                Kind::Incident => reported.get(&request.natural),
            };
            assert_eq!(
                stored,
                Some(&vec![id.clone()]),
                "{fault}: {request:?} acknowledged as {id} is stored exactly once under that id"
            );
            match request.kind {
                Kind::Declaration => {
                    assert_eq!(
                        tasks_of.get(id),
                        Some(&1),
                        "{fault}: the pending declaration {id} has one verification task"
                    );
                    declarations.insert(id.clone());
                }
                Kind::Incident => {
                    incidents.insert(id.clone());
                }
            }
        }
        assert!(
            declarations.len() > 5 && incidents.len() > 5,
            "{fault}: the load made declarations and incidents"
        );

        // Every tier holds exactly the grid's declarations, and counts each once.
        let all: BTreeSet<String> = declared.values().flatten().cloned().collect();
        for tier in ["community", "street", "district"] {
            let url = &self.c.dbs[tier].url;
            let what = format!("{fault}: the {tier} tally to hold exactly the grid's declarations");
            zw_testkit::eventually(Duration::from_secs(120), &what, || async {
                let db = sea_orm::Database::connect(url).await.ok()?;
                let rows = db
                    .query_all_raw(Statement::from_string(
                        db.get_database_backend(),
                        "SELECT declaration_id AS id FROM declaration_tally",
                    ))
                    .await
                    .ok()?;
                let _ = db.close().await;
                let tally: BTreeSet<String> = rows
                    .iter()
                    .map(|r| r.try_get::<String>("", "id").unwrap())
                    .collect();
                (tally == all).then_some(())
            })
            .await;
            let (status, stats) = self
                .c
                .get(&format!("/api/v1/{tier}/stats?under=440304"), &self.officer)
                .await;
            assert_eq!(status, StatusCode::OK, "{fault}: {tier} stats: {stats}");
            assert_eq!(
                stats["declarations"]["total"].as_u64(),
                Some(all.len() as u64),
                "{fault}: {tier} counts every declaration once: {stats}"
            );
        }

        // The evidence logs verify, with one record for each creation and none for anything else.
        let grid_log = self.verified_evidence("grid").await;
        self.verified_evidence("identity").await;
        let all_incidents: BTreeSet<String> = reported.values().flatten().cloned().collect();
        let mut submitted: BTreeMap<String, usize> = BTreeMap::new();
        let mut incident_reports: BTreeMap<String, usize> = BTreeMap::new();
        for r in grid_log["records"].as_array().unwrap() {
            let (action, object) = (r["action"].as_str().unwrap(), r["object"].as_str().unwrap());
            if action == "declaration.submit" {
                let id = object.strip_prefix("declaration/").unwrap();
                assert!(
                    all.contains(id),
                    "{fault}: evidence of a declaration not stored"
                );
                *submitted.entry(id.to_owned()).or_default() += 1;
            }
            if action == "incident.reported" {
                let id = object.strip_prefix("incident/").unwrap();
                assert!(
                    all_incidents.contains(id),
                    "{fault}: evidence of an incident not stored"
                );
                *incident_reports.entry(id.to_owned()).or_default() += 1;
            }
        }
        for id in &declarations {
            assert_eq!(
                submitted.get(id),
                Some(&1),
                "{fault}: one submission record of {id}"
            );
        }
        for id in &incidents {
            assert_eq!(
                incident_reports.get(id),
                Some(&1),
                "{fault}: one report record of {id}"
            );
        }
    }

    /// `zhiwang evidence export <service>`, then `zhiwang evidence verify` with the keys the
    /// service publishes; the exported log.
    async fn verified_evidence(&self, service: &'static str) -> Value {
        let dir = std::env::temp_dir();
        let file = dir.join(format!("zw-fault-{service}-{}.json", uuid::Uuid::new_v4()));
        let keys_file = file.with_extension("keys.json");
        self.c.run_to_end(
            &[
                "evidence",
                "export",
                service,
                "--output",
                file.to_str().unwrap(),
            ],
            service,
        );
        let keys = self
            .c
            .client
            .get(format!("{}/api/v1/{service}/evidence/keys", self.c.gateway))
            .send()
            .await
            .unwrap();
        assert_eq!(keys.status(), StatusCode::OK, "{service} evidence keys");
        std::fs::write(&keys_file, keys.bytes().await.unwrap()).unwrap();
        let verified = self.c.run(
            &[
                "evidence",
                "verify",
                file.to_str().unwrap(),
                "--keys",
                keys_file.to_str().unwrap(),
            ],
            service,
        );
        assert!(
            verified.status.success(),
            "the {service} evidence log verifies: {}{}",
            String::from_utf8_lossy(&verified.stdout),
            String::from_utf8_lossy(&verified.stderr)
        );
        let log: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(&keys_file);
        log
    }
}

/// Rows of `sql` (one text column `id`).
async fn ids_of(db: &sea_orm::DatabaseConnection, sql: &str) -> Vec<String> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "id").unwrap())
        .collect()
}

/// `key` → the ids stored under it, from rows of `sql` with columns `key` and `id`.
async fn stored_by(db: &sea_orm::DatabaseConnection, sql: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
    {
        out.entry(r.try_get("", "key").unwrap())
            .or_default()
            .push(r.try_get("", "id").unwrap());
    }
    out
}

async fn stored_declarations(db: &sea_orm::DatabaseConnection) -> BTreeMap<String, Vec<String>> {
    stored_by(
        db,
        "SELECT id_number AS key, CAST(id AS TEXT) AS id FROM declarations",
    )
    .await
}

async fn stored_incidents(db: &sea_orm::DatabaseConnection) -> BTreeMap<String, Vec<String>> {
    stored_by(
        db,
        "SELECT description AS key, CAST(id AS TEXT) AS id FROM incidents",
    )
    .await
}

/// Print how the requests of a phase were answered (shown with `--no-capture`).
fn summarize(phase: &str, sent: &[Sent]) {
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for s in sent {
        let outcome = match &s.answer {
            Answer::Acknowledged(_) => "2xx".to_owned(),
            Answer::Refused {
                status,
                retry_after,
                ..
            } => format!(
                "{}{}",
                status.as_u16(),
                if *retry_after {
                    " with Retry-After"
                } else {
                    ""
                }
            ),
            Answer::Unanswered(_) => "no answer".to_owned(),
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    eprintln!("{phase}: {outcomes:?}");
}

/// What a request may be answered while `service` is killed: 2xx, unless it is on the way.
fn allowed_while_killed(service: &str, answer: &Answer) -> bool {
    match (service, answer) {
        (_, Answer::Acknowledged(_)) => true,
        // The gateway answers for the grid it cannot reach (or that broke off).
        (
            "grid",
            Answer::Refused {
                status, problem, ..
            },
        ) => {
            *problem
                && [
                    StatusCode::BAD_GATEWAY,
                    StatusCode::SERVICE_UNAVAILABLE,
                    StatusCode::GATEWAY_TIMEOUT,
                ]
                .contains(status)
        }
        // Nobody answers for the gateway.
        ("gateway", Answer::Unanswered(_)) => true,
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_request_is_applied_once_when_each_service_is_killed_and_restarted() {
    let mut scene = Scene::new(Cluster::start().await).await;
    let services = BACKENDS.into_iter().chain(["gateway"]);
    for service in services {
        let load = Load::start(&scene.source);
        load.wait_for(
            0,
            5,
            "acknowledgements before the kill",
            Answer::acknowledged,
        )
        .await;
        scene.c.kill(service);
        let killed = load.answered();
        // Requests go on while it is down: failing where it is on the way, else acknowledged.
        load.wait_for(killed, 3, "answers while it is down", |_| true)
            .await;
        let down = load.answered();
        scene.c.spawn(service);
        let url = scene.c.service_url(service);
        scene.c.wait_ready(service, &url).await;
        let back = load.answered();
        load.wait_for(
            back,
            5,
            "acknowledgements after the restart",
            Answer::acknowledged,
        )
        .await;
        let sent = load.stop().await;
        summarize(&format!("{service} killed"), &sent);
        for s in &sent {
            assert!(
                allowed_while_killed(service, &s.answer),
                "around the kill of {service}: {:?} answered {:?}",
                s.request,
                s.answer
            );
        }
        if ["grid", "gateway"].contains(&service) {
            assert!(
                sent[killed..down].iter().any(|s| !s.answer.acknowledged()),
                "the kill of {service} was felt"
            );
        }
        scene.settle(&format!("{service} killed"), sent).await;
    }
}

/// The services that are not ready while `d` is down (`/readyz` 503 naming it).
fn needing(d: Dependency) -> Vec<&'static str> {
    match d {
        Dependency::Postgres | Dependency::Nats => BACKENDS.to_vec(),
        Dependency::Redis => Vec::new(),
    }
}

/// The services that serve on, only worse, while `d` is down: `/readyz` stays 200 and names it
/// under `degraded` (the gateway without Redis lets requests through unlimited; taking it out
/// of rotation would stop what still works).
fn degraded_without(d: Dependency) -> Vec<&'static str> {
    match d {
        Dependency::Postgres | Dependency::Nats => Vec::new(),
        Dependency::Redis => vec!["gateway"],
    }
}

/// `/readyz` of `service` is 503 and names `check` as failing (and only the checks that fail).
async fn readyz_names(c: &Cluster, service: &str, check: &str) {
    let what = format!("{service} /readyz to name {check} as down");
    let report = zw_testkit::eventually(Duration::from_secs(60), &what, || async {
        let (status, report) = c.readyz(service).await;
        let failing = report["checks"]
            .as_array()?
            .iter()
            .any(|c| c["name"] == check && c["ok"] == false);
        (status == StatusCode::SERVICE_UNAVAILABLE && failing).then_some(report)
    })
    .await;
    assert_eq!(report["ready"], false, "{service}: {report}");
}

/// `/readyz` of `service` is 200, ready, and names `check` as failing under `degraded`.
async fn readyz_names_degraded(c: &Cluster, service: &str, check: &str) {
    let what = format!("{service} /readyz to name {check} as degraded");
    let report = zw_testkit::eventually(Duration::from_secs(60), &what, || async {
        let (status, report) = c.readyz(service).await;
        let failing = report["checks"]
            .as_array()?
            .iter()
            .any(|c| c["name"] == check && c["ok"] == false);
        failing.then_some((status, report))
    })
    .await;
    let (status, report) = report;
    assert_eq!(status, StatusCode::OK, "{service}: {report}");
    assert_eq!(report["ready"], true, "{service}: {report}");
    assert_eq!(report["degraded"], json!([check]), "{service}: {report}");
}

/// A request besides the load, answered while a dependency is down: 2xx when it does not need
/// it, else 503 problem+json with `Retry-After`.
async fn probe(c: &Cluster, scene: &Scene, d: Dependency) {
    let probes = [
        (
            "GET",
            "/api/v1/grid/incidents".to_owned(),
            scene.source.token.clone(),
        ),
        (
            "GET",
            "/api/v1/district/stats?under=440304".to_owned(),
            scene.officer.clone(),
        ),
        (
            "GET",
            "/api/v1/street/stats?under=440304".to_owned(),
            scene.officer.clone(),
        ),
        (
            "GET",
            "/api/v1/community/stats?under=440304".to_owned(),
            scene.officer.clone(),
        ),
        ("POST", "/api/v1/identity/token".to_owned(), String::new()),
    ];
    for (method, path, token) in probes {
        let req = if method == "GET" {
            c.client
                .get(format!("{}{path}", c.gateway))
                .bearer_auth(&token)
        } else {
            c.client.post(format!("{}{path}", c.gateway)).json(&json!({
                "grant_type": "password", "username": "citizen", "password": zw_demo::DEMO_PASSWORD
            }))
        };
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{d} down: {path}: {e}"));
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.text().await.unwrap_or_default();
        if status.is_success() {
            assert_ne!(
                d,
                Dependency::Postgres,
                "{path} answered {status} without its database"
            );
            continue;
        }
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{d} down: {method} {path}: {body}"
        );
        assert!(
            headers
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json")),
            "{d} down: {path} is problem+json: {headers:?}"
        );
        assert!(
            headers.contains_key("retry-after"),
            "{d} down: {path} says when to retry: {headers:?} {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn while_postgres_nats_or_redis_is_down_the_api_answers_503_retry_after_and_readyz_names_it()
{
    let mut scene = Scene::new(Cluster::start_owning(&[]).await).await;
    for d in [Dependency::Postgres, Dependency::Nats, Dependency::Redis] {
        let load = Load::start(&scene.source);
        load.wait_for(
            0,
            5,
            "acknowledgements before the stop",
            Answer::acknowledged,
        )
        .await;
        scene.c.stop_dependency(d);
        let stopped = load.answered();
        if d == Dependency::Postgres {
            load.wait_for(
                stopped,
                3,
                "503 answers while PostgreSQL is down",
                Answer::retry_later,
            )
            .await;
        } else {
            load.wait_for(stopped, 5, "answers while it is down", |_| true)
                .await;
        }
        for service in needing(d) {
            readyz_names(&scene.c, service, d.readiness_check()).await;
        }
        for service in degraded_without(d) {
            readyz_names_degraded(&scene.c, service, d.readiness_check()).await;
        }
        probe(&scene.c, &scene, d).await;
        let down = load.answered();
        scene.c.start_dependency(d);
        for service in BACKENDS.into_iter().chain(["gateway"]) {
            let url = scene.c.service_url(service);
            scene.c.wait_ready(service, &url).await;
        }
        let back = load.answered();
        load.wait_for(
            back,
            5,
            "acknowledgements after the start",
            Answer::acknowledged,
        )
        .await;
        let sent = load.stop().await;
        summarize(&format!("{d} stopped"), &sent);
        for s in &sent {
            assert!(
                s.answer.acknowledged() || s.answer.retry_later(),
                "around the stop of {d}: {:?} answered {:?}",
                s.request,
                s.answer
            );
        }
        if d == Dependency::Postgres {
            assert!(sent[stopped..down].iter().any(|s| s.answer.retry_later()));
        }
        scene.settle(&format!("{d} stopped"), sent).await;
    }
}
