//! The platform's figures on the production topology, against baselines measured in the same run.
//!
//! `cargo bench -p zw-e2e --bench platform -- <suite> [--quick]` (or `ZW_BENCH_QUICK=1`), where
//! `<suite>` is `declarations`, `gateway`, `up`, `growth` or `all` (the default). Every suite but
//! `up` starts a [`Cluster`], the harness of the end-to-end tests: every service as its own
//! `zhiwang serve` process (`$ZW_BIN`) with its own PostgreSQL database on `ZW_TEST_DATABASE_URL`,
//! one NATS (`ZW_TEST_NATS_URL`), Redis for the gateway (`ZW_TEST_REDIS_URL`), seeded with the
//! demo district, with the default worker threads (and the grid's default pool of 10 connections;
//! the others keep the harness's 4), and logs demo users in through
//! identity for real tokens. The gateway's rate limit is raised to a million a minute: the load
//! comes from one citizen, and the limit is still counted in Redis on every request.
//!
//! - `declarations`: `POST /api/v1/grid/declarations` through the gateway by the demo citizen, of
//!   people the register does not know (fresh valid ID numbers, so each is pending with a
//!   verification task) at houses in use of the demo district, round robin. Closed loop at 1, 4,
//!   16 and 64 clients; then an open loop at 60/s for p50/p99; the baseline is one autocommitted
//!   single-row INSERT per declaration into a plain table with the declaration table's columns
//!   and indexes, in a database of its own on the same server, at the same concurrency (clients
//!   sharing a pool of 16 connections: the test server allows 100 in all). Then how
//!   long the three centres' counts take to reach the declarations accepted, where the time goes
//!   per hop (the services' own `/metrics` histograms, and the same POST sent straight to the
//!   grid's port) and per statement (the grid's database logs every statement for a while:
//!   `log_min_duration_statement = 0`; the server's log is read from `ZW_BENCH_PG_LOG`, by default
//!   `/var/log/postgresql/postgresql-15-main.log`).
//! - `gateway`: `GET /api/v1/grid/houses/{code}` with a grid worker's token, through the gateway
//!   against straight to the grid's port, closed loop at 1, 4 and 16 clients.
//! - `up`: `zhiwang up` in a fresh data directory on a free port, three times: the time to a
//!   ready gateway (`/readyz` 200) and its resident memory after 10 s idle (`VmRSS`, `VmHWM`).
//! - `growth`: the declaration figure at 16 clients with the grid's database grown to 1/100 and
//!   1/10 of Shenzhen's residents (about 17.7 million): houses, persons, residents, life events
//!   and an accepted declaration with its evidence record per resident, COPYed in and appended
//!   with `zw_evidence::append_many` (a valid chain). `ZW_BENCH_GROWTH=small` does 1/1000 and
//!   1/100 instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::future::Future;
use std::io::{Read, Seek};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use reqwest::StatusCode;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use serde_json::{Value, json};
use uuid::Uuid;
use zw_demo::DemoHouseStatus;
use zw_domain::{HouseCode, IdNumber, JurisdictionCode};
use zw_e2e::cluster::{Cluster, bin};
use zw_testkit::TestDb;

const DECLARATION_CLIENTS: [usize; 4] = [1, 4, 16, 64];
const GATEWAY_CLIENTS: [usize; 3] = [1, 4, 16];
/// Futian's peak is about 6 declarations a second (docs/scale.md): ten times that.
const OPEN_LOOP_RATE: u32 = 60;
const GROWTH_CLIENTS: usize = 16;
/// Connections of the INSERT baseline's pool, shared by its clients as the grid's 10 are: the
/// test server allows 100 in all.
const RAW_CONNECTIONS: u32 = 16;
/// Shenzhen's residents, the scale of the growth figure.
const SHENZHEN_RESIDENTS: u64 = 17_700_000;
const FILL_HOUSES_PER_GRID: u32 = 320;
const FILL_RESIDENTS_PER_HOUSE: u32 = 5;
const DISTRICT: &str = "440304";

fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
        || std::env::var("ZW_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// How long each timed phase runs.
fn phase() -> Duration {
    Duration::from_secs(if quick() { 4 } else { 20 })
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; the suite is the first argument that is not a flag.
    let suite = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "all".to_owned());
    let mut figures = Vec::new();
    let all = suite == "all";
    if all || suite == "declarations" {
        figures.push(declarations().await);
    }
    if all || suite == "gateway" {
        figures.push(gateway().await);
    }
    if all || suite == "up" {
        figures.push(up().await);
    }
    if all || suite == "growth" {
        figures.push(growth().await);
    }
    assert!(
        !figures.is_empty(),
        "unknown suite {suite:?}: declarations, gateway, up, growth or all"
    );
    println!();
    for f in figures {
        println!("{f}");
    }
}

// ---------------------------------------------------------------------------------------------
// The platform under load

/// A cluster for benches: the production defaults of worker threads (and the grid's pool), and a
/// rate limit no bench reaches.
async fn bench_cluster() -> Cluster {
    let mut settings = vec![("gateway", "ZW__GATEWAY__RATE_LIMIT_PER_MINUTE", "1000000")];
    for s in zw_e2e::cluster::BACKENDS.into_iter().chain(["gateway"]) {
        settings.push((s, "ZW__HTTP__WORKERS", "2"));
    }
    // The grid takes the load: the default pool. The others keep the harness's 4, or the test
    // server's 100 connections would not be enough for the cluster, the baseline and the other
    // suites running on it.
    settings.push(("grid", "ZW__DATABASE__MAX_CONNECTIONS", "10"));
    let started = Instant::now();
    let c = Cluster::start_with(&settings).await;
    eprintln!(
        "cluster ready in {:.1} s (gateway {})",
        started.elapsed().as_secs_f64(),
        c.gateway
    );
    c
}

/// What one run of a load measured.
#[derive(Default)]
struct Run {
    ok: u64,
    failed: u64,
    secs: f64,
    latencies: Vec<Duration>,
    first_failure: Option<String>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.secs
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        if l.is_empty() {
            return Duration::ZERO;
        }
        let i = ((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1;
        l[i]
    }

    fn merge(&mut self, other: Run) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.latencies.extend(other.latencies);
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }

    fn warn_failures(&self, what: &str) {
        if self.failed > 0 {
            eprintln!(
                "{what}: {} failed, the first: {}",
                self.failed,
                self.first_failure.as_deref().unwrap_or("?")
            );
        }
    }
}

/// `clients` tasks each calling `op` in a loop for `duration`; `op` answers `Err(why)` on failure.
async fn closed_loop<F, Fut>(clients: usize, duration: Duration, op: F) -> Run
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut run = Run::default();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match op().await {
                        Ok(()) => {
                            run.ok += 1;
                            run.latencies.push(t.elapsed());
                        }
                        Err(e) => {
                            run.failed += 1;
                            run.first_failure.get_or_insert(e);
                        }
                    }
                }
                run
            })
        })
        .collect();
    let mut run = Run::default();
    for t in tasks {
        run.merge(t.await.expect("load task"));
    }
    run.secs = started.elapsed().as_secs_f64();
    run
}

/// `op` started `rate` times a second for `duration` whatever the answers take; each latency is
/// counted from when its request was due, so a stall is not hidden by requests not sent.
async fn open_loop<F, Fut>(rate: u32, duration: Duration, op: F) -> Run
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let started = Instant::now();
    let total = (f64::from(rate) * duration.as_secs_f64()) as u32;
    let every = Duration::from_secs_f64(1.0 / f64::from(rate));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = started + every * i;
        tokio::time::sleep_until(due.into()).await;
        let op = op.clone();
        tasks.spawn(async move { (op().await, due.elapsed()) });
    }
    let mut run = Run::default();
    while let Some(done) = tasks.join_next().await {
        match done.expect("open-loop task") {
            (Ok(()), latency) => {
                run.ok += 1;
                run.latencies.push(latency);
            }
            (Err(e), _) => {
                run.failed += 1;
                run.first_failure.get_or_insert(e);
            }
        }
    }
    run.secs = started.elapsed().as_secs_f64();
    run
}

/// Fresh valid ID numbers the demo register does not know (issued in Beijing, 110105), one per
/// call, never the same twice in a run.
#[derive(Clone)]
struct FreshIds(Arc<AtomicU64>);

impl FreshIds {
    fn new() -> FreshIds {
        FreshIds(Arc::new(AtomicU64::new(0)))
    }

    fn next(&self) -> (u64, String) {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        (n, id_number("110105", 1950, n).to_string())
    }
}

/// The `n`th ID number of `region` for people born from `from_year` on: a thousand a day.
fn id_number(region: &str, from_year: i32, n: u64) -> IdNumber {
    let birth =
        NaiveDate::from_ymd_opt(from_year, 1, 1).expect("date") + chrono::Days::new(n / 1000);
    IdNumber::from_parts(region, birth, u16::try_from(n % 1000).expect("< 1000"))
        .expect("valid ID number")
}

/// Declarations by the demo citizen to one base URL (the gateway, or the grid itself).
#[derive(Clone)]
struct Declarer {
    client: reqwest::Client,
    url: String,
    token: String,
    houses: Arc<Vec<String>>,
    ids: FreshIds,
}

impl Declarer {
    fn new(c: &Cluster, base: &str, token: &str, ids: &FreshIds) -> Declarer {
        // Houses that take declarations (in use or rented), every grid of the demo district.
        let houses: Vec<String> = c
            .demo
            .all_houses()
            .filter(|h| matches!(h.status, DemoHouseStatus::InUse | DemoHouseStatus::Rented))
            .map(|h| h.code.to_string())
            .collect();
        Declarer {
            client: c.client.clone(),
            url: format!("{base}/api/v1/grid/declarations"),
            token: token.to_owned(),
            houses: Arc::new(houses),
            ids: ids.clone(),
        }
    }

    async fn declare(&self) -> Result<(), String> {
        let (n, id) = self.ids.next();
        let house = &self.houses[usize::try_from(n).expect("fits") % self.houses.len()];
        let res = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&json!({"id_number": id, "house_code": house}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status();
        if status == StatusCode::CREATED {
            // Read the body: the answer is not complete before it.
            res.bytes().await.map_err(|e| e.to_string())?;
            Ok(())
        } else {
            Err(format!(
                "{status}: {}",
                res.text().await.unwrap_or_default()
            ))
        }
    }

    fn op(
        &self,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
    + Clone
    + Send
    + 'static {
        let d = self.clone();
        move || {
            let d = d.clone();
            Box::pin(async move { d.declare().await })
        }
    }
}

/// The baseline of a declaration: one autocommitted single-row INSERT of the same row into
/// `raw_declarations`, the declaration table's columns and indexes without the platform, in a
/// database of its own on the same server.
struct RawInserts {
    _db: TestDb,
    conn: DatabaseConnection,
    houses: Arc<Vec<String>>,
    ids: FreshIds,
}

impl RawInserts {
    async fn new(houses: Arc<Vec<String>>) -> RawInserts {
        let db = TestDb::postgres().await;
        let mut options = ConnectOptions::new(db.url.clone());
        options
            .max_connections(RAW_CONNECTIONS)
            .min_connections(1)
            .sqlx_logging(false);
        let conn = Database::connect(options).await.expect("baseline database");
        for sql in [
            "CREATE TABLE raw_declarations (
                id uuid PRIMARY KEY,
                id_number varchar(18) NOT NULL,
                name varchar NULL,
                house_code varchar(20) NOT NULL,
                grid_code varchar(15) NOT NULL,
                status varchar NOT NULL,
                reasons json NOT NULL,
                submitted_by varchar NOT NULL,
                created_at timestamptz NOT NULL,
                decided_at timestamptz NULL,
                decided_by varchar NULL,
                decision_reason varchar NULL,
                version bigint NOT NULL,
                declared_as varchar(16) NOT NULL
            )",
            "CREATE INDEX raw_declarations_grid ON raw_declarations (grid_code, id)",
            "CREATE INDEX raw_declarations_submitter ON raw_declarations (submitted_by, id)",
            "CREATE INDEX raw_declarations_id_number ON raw_declarations (id_number, id)",
        ] {
            conn.execute_unprepared(sql).await.expect("baseline table");
        }
        RawInserts {
            _db: db,
            conn,
            houses,
            ids: FreshIds::new(),
        }
    }

    fn op(
        &self,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
    + Clone
    + Send
    + 'static {
        let (conn, houses, ids) = (self.conn.clone(), self.houses.clone(), self.ids.clone());
        move || {
            let (conn, houses, ids) = (conn.clone(), houses.clone(), ids.clone());
            Box::pin(async move {
                let (n, id) = ids.next();
                let house = houses[usize::try_from(n).expect("fits") % houses.len()].clone();
                let grid = house[..15].to_owned();
                conn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "INSERT INTO raw_declarations (id, id_number, name, house_code, grid_code, status, reasons, submitted_by, created_at, decided_at, decided_by, decision_reason, version, declared_as) VALUES ($1, $2, NULL, $3, $4, 'pending', $5, $6, $7, NULL, NULL, NULL, 1, 'other')",
                    [
                        Uuid::now_v7().into(),
                        id.into(),
                        house.into(),
                        grid.into(),
                        json!(["register_not_found"]).into(),
                        "bench-citizen".into(),
                        chrono::Utc::now().into(),
                    ],
                ))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
            })
        }
    }
}

/// A centre's count of all declarations in the district.
async fn centre_total(c: &Cluster, centre: &str, token: &str) -> Option<i64> {
    let (status, body) = c
        .get(&format!("/api/v1/{centre}/stats?under={DISTRICT}"), token)
        .await;
    (status == StatusCode::OK).then(|| body["declarations"]["total"].as_i64())?
}

const CENTRES: [&str; 3] = ["community", "street", "district"];

/// How long after `since` each centre's count reached `expected`.
async fn catch_up(
    c: &Cluster,
    token: &str,
    before: &[i64],
    accepted: i64,
    since: Instant,
) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for (centre, before) in CENTRES.into_iter().zip(before) {
        let expected = before + accepted;
        loop {
            let total = centre_total(c, centre, token).await;
            if total.is_some_and(|t| t >= expected) {
                out.push((centre.to_owned(), since.elapsed().as_secs_f64()));
                break;
            }
            assert!(
                since.elapsed() < Duration::from_secs(600),
                "{centre} did not reach {expected} declarations in 10 minutes (at {total:?})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn declarations() -> String {
    let mut c = bench_cluster().await;
    let citizen = c.login("citizen").await;
    let officer = c.login("district-officer").await;
    let ids = FreshIds::new();
    let through_gateway = Declarer::new(&c, &c.gateway.clone(), &citizen, &ids);
    let raw = RawInserts::new(through_gateway.houses.clone()).await;
    let mut before = Vec::new();
    for centre in CENTRES {
        before.push(
            centre_total(&c, centre, &officer)
                .await
                .expect("a centre's stats"),
        );
    }

    let mut out = String::new();
    writeln!(
        out,
        "declarations: POST /api/v1/grid/declarations through the gateway, closed loop, {} s per concurrency; baseline: one autocommitted INSERT per row",
        phase().as_secs()
    )
    .unwrap();
    writeln!(
        out,
        "| clients | platform | p50 | p99 | INSERT | p50 | p99 | platform / INSERT |"
    )
    .unwrap();
    writeln!(
        out,
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    .unwrap();
    let mut accepted = 0;
    for clients in DECLARATION_CLIENTS {
        let platform = closed_loop(clients, phase(), through_gateway.op()).await;
        platform.warn_failures("declarations");
        accepted += platform.ok;
        let baseline = closed_loop(clients, phase(), raw.op()).await;
        baseline.warn_failures("INSERT");
        writeln!(
            out,
            "| {clients} | {:.1}/s | {:.0} ms | {:.0} ms | {:.0}/s | {:.1} ms | {:.1} ms | {:.3} |",
            platform.rate(),
            ms(platform.percentile(0.5)),
            ms(platform.percentile(0.99)),
            baseline.rate(),
            ms(baseline.percentile(0.5)),
            ms(baseline.percentile(0.99)),
            platform.rate() / baseline.rate()
        )
        .unwrap();
        eprintln!("{clients} clients done: {:.1}/s", platform.rate());
    }

    let duration = if quick() {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(30)
    };
    // The baseline first: the projections' catch-up is timed from the platform's last answer.
    let raw_open = open_loop(OPEN_LOOP_RATE, duration, raw.op()).await;
    let open = open_loop(OPEN_LOOP_RATE, duration, through_gateway.op()).await;
    open.warn_failures("open loop");
    accepted += open.ok;
    let load_ended = Instant::now();
    writeln!(
        out,
        "\nopen loop at {OPEN_LOOP_RATE}/s for {} s: platform {} answered ({} failed), p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; INSERT p50 {:.1} ms, p99 {:.1} ms",
        duration.as_secs(),
        open.ok,
        open.failed,
        ms(open.percentile(0.5)),
        ms(open.percentile(0.99)),
        ms(open.percentile(1.0)),
        ms(raw_open.percentile(0.5)),
        ms(raw_open.percentile(0.99)),
    )
    .unwrap();
    let lags = catch_up(
        &c,
        &officer,
        &before,
        i64::try_from(accepted).unwrap(),
        load_ended,
    )
    .await;
    writeln!(
        out,
        "projections: {accepted} declarations accepted (201); counted by every centre after the last answer: {}",
        lags.iter()
            .map(|(centre, s)| format!("{centre} {s:.1} s"))
            .collect::<Vec<_>>()
            .join(", ")
    )
    .unwrap();

    out.push_str(&profile(&mut c, &citizen, &ids).await);
    out
}

// ---------------------------------------------------------------------------------------------
// Where a declaration's time goes

/// The sum and count of the `http_request_duration_seconds` histogram of `base`'s `/metrics` for
/// requests of `method` whose route `route` accepts.
async fn histogram(
    c: &Cluster,
    base: &str,
    method: &str,
    route: impl Fn(&str) -> bool,
) -> (f64, f64) {
    let text = c
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let (mut sum, mut count) = (0.0, 0.0);
    for line in text.lines() {
        let Some((name_labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some((name, labels)) = name_labels.split_once('{') else {
            continue;
        };
        let label = |key: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{key}=\"")))
                .map(|v| v.trim_end_matches(['"', '}']).to_owned())
        };
        if label("method").as_deref() != Some(method) || !label("route").is_some_and(|r| route(&r))
        {
            continue;
        }
        let value: f64 = value.parse().unwrap_or(0.0);
        match name {
            "zw_http_request_duration_seconds_sum" => sum += value,
            "zw_http_request_duration_seconds_count" => count += value,
            _ => {}
        }
    }
    (sum, count)
}

/// The server-side mean of a histogram between two readings, in ms.
fn mean_between(before: (f64, f64), after: (f64, f64)) -> f64 {
    (after.0 - before.0) * 1e3 / (after.1 - before.1).max(1.0)
}

/// `n` declarations one after another to `declarer`: the client's mean and the gateway's and
/// the grid's own means (their `/metrics`), in ms; each latency the client saw goes to `seen`.
async fn sequential(
    c: &Cluster,
    declarer: &Declarer,
    n: usize,
    seen: &mut Vec<Duration>,
) -> (f64, f64, f64) {
    let grid = c.service_url("grid");
    let is_declarations = |r: &str| r == "/api/v1/grid/declarations";
    let gateway_before = histogram(c, &c.gateway, "POST", |_| true).await;
    let grid_before = histogram(c, &grid, "POST", is_declarations).await;
    let started = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        declarer.declare().await.expect("declaration");
        seen.push(t.elapsed());
    }
    let client = ms(started.elapsed()) / n as f64;
    let gateway_after = histogram(c, &c.gateway, "POST", |_| true).await;
    let grid_after = histogram(c, &grid, "POST", is_declarations).await;
    (
        client,
        mean_between(gateway_before, gateway_after),
        mean_between(grid_before, grid_after),
    )
}

async fn profile(c: &mut Cluster, citizen: &str, ids: &FreshIds) -> String {
    let n = if quick() { 30 } else { 300 };
    let mut out = String::new();
    let through_gateway = Declarer::new(c, &c.gateway.clone(), citizen, ids);
    let direct = Declarer::new(c, &c.service_url("grid"), citizen, ids);
    // Twice each, alternating, so a slow moment of the machine does not fall on one alone.
    let (mut via, mut straight) = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0));
    let (mut via_seen, mut straight_seen) = (Run::default(), Run::default());
    for _ in 0..2 {
        let v = sequential(c, &through_gateway, n / 2, &mut via_seen.latencies).await;
        let s = sequential(c, &direct, n / 2, &mut straight_seen.latencies).await;
        via = (via.0 + v.0 / 2.0, via.1 + v.1 / 2.0, via.2 + v.2 / 2.0);
        straight = (
            straight.0 + s.0 / 2.0,
            straight.1 + s.1 / 2.0,
            straight.2 + s.2 / 2.0,
        );
    }
    writeln!(
        out,
        "\nper hop, {n} declarations one at a time each way (means, and the client's p50 / p99):\n| path | client | client p50 | client p99 | gateway (its /metrics) | grid (its /metrics) |\n| --- | ---: | ---: | ---: | ---: | ---: |\n| client → gateway → grid | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |\n| client → grid | {:.1} ms | {:.1} ms | {:.1} ms | | {:.1} ms |",
        via.0,
        ms(via_seen.percentile(0.5)),
        ms(via_seen.percentile(0.99)),
        via.1,
        via.2,
        straight.0,
        ms(straight_seen.percentile(0.5)),
        ms(straight_seen.percentile(0.99)),
        straight.2
    )
    .unwrap();
    out.push_str(&statements(c, &through_gateway, n).await);
    out
}

/// Where the server's log is (statements logged with `log_min_duration_statement`).
fn server_log() -> std::path::PathBuf {
    std::env::var("ZW_BENCH_PG_LOG")
        .unwrap_or_else(|_| "/var/log/postgresql/postgresql-15-main.log".to_owned())
        .into()
}

/// The grid's database logs every statement while `n` declarations are made one at a time; the
/// log then says what each declaration sent, how long each statement took, and how long each
/// declaration's transaction held the evidence chain's head.
async fn statements(c: &mut Cluster, declarer: &Declarer, n: usize) -> String {
    let log_path = server_log();
    let Ok(mut log) = std::fs::File::open(&log_path) else {
        return format!(
            "\nstatements: not measured: the server's log {} is not readable (set ZW_BENCH_PG_LOG)\n",
            log_path.display()
        );
    };
    let url = c.dbs["grid"].url.clone();
    let (server, db_name) = url.rsplit_once('/').expect("database URL");
    let admin = Database::connect(
        ConnectOptions::new(format!("{server}/postgres"))
            .max_connections(1)
            .sqlx_logging(false)
            .to_owned(),
    )
    .await
    .expect("admin connection");
    let preload = admin
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SHOW shared_preload_libraries",
        ))
        .await
        .expect("show")
        .and_then(|r| r.try_get_by_index::<String>(0).ok())
        .unwrap_or_default();
    // New sessions take the setting: restart the grid so its pool opens new ones.
    let grid = c.service_url("grid");
    let restart = async |c: &mut Cluster| {
        c.kill("grid");
        c.spawn("grid");
        c.wait_ready("grid", &grid).await;
    };
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{db_name}\" SET log_min_duration_statement = 0"
        ))
        .await
        .expect("log statements");
    restart(c).await;
    // Warm up: the grid's connections prepare their statements once.
    for _ in 0..20 {
        declarer.declare().await.expect("declaration");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let offset = log.seek(std::io::SeekFrom::End(0)).expect("seek");
    let started = Instant::now();
    for _ in 0..n {
        declarer.declare().await.expect("declaration");
    }
    let secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut text = String::new();
    log.seek(std::io::SeekFrom::Start(offset)).expect("seek");
    log.read_to_string(&mut text).expect("read log");
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{db_name}\" RESET log_min_duration_statement"
        ))
        .await
        .expect("stop logging");
    restart(c).await;
    let _ = admin.close().await;
    summarise_statements(&text, db_name, n, secs, &preload)
}

/// One logged step of a statement.
struct Logged {
    at_ms: f64,
    pid: String,
    /// `statement`, `parse`, `bind` or `execute`.
    step: String,
    ms: f64,
    text: String,
}

/// The log's `duration:` entries of database `db` (prefix `%m [%p] %q%u@%d `).
fn logged(log: &str, db: &str) -> Vec<Logged> {
    let marker = format!("@{db} LOG:  duration: ");
    let mut out: Vec<Logged> = Vec::new();
    let mut continuing = false;
    for line in log.lines() {
        let starts_entry = line.as_bytes().get(4) == Some(&b'-')
            && line.get(..4).is_some_and(|y| y.parse::<u16>().is_ok());
        if !starts_entry {
            if continuing && let Some(last) = out.last_mut() {
                last.text.push(' ');
                last.text.push_str(line.trim());
            }
            continue;
        }
        continuing = false;
        let Some((head, rest)) = line.split_once(&marker) else {
            continue;
        };
        let Some(at) = head
            .get(..23)
            .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.3f").ok())
        else {
            continue;
        };
        let pid = head
            .split_once('[')
            .and_then(|(_, r)| r.split_once(']'))
            .map(|(p, _)| p.to_owned())
            .unwrap_or_default();
        let Some((duration, what)) = rest.split_once(" ms  ") else {
            continue;
        };
        let Some((step, text)) = what.split_once(": ") else {
            continue;
        };
        let step = step.split_whitespace().next().unwrap_or("").to_owned();
        out.push(Logged {
            at_ms: at.and_utc().timestamp_millis() as f64,
            pid,
            step,
            ms: duration.parse().unwrap_or(0.0),
            text: text.trim().to_owned(),
        });
        continuing = true;
    }
    out
}

/// A statement's text with the whitespace collapsed, cut to a table cell.
fn shape(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = flat.chars().take(90).collect();
    if cut.len() < flat.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

fn summarise_statements(log: &str, db: &str, n: usize, secs: f64, preload: &str) -> String {
    let entries = logged(log, db);
    let mut out = String::new();
    writeln!(
        out,
        "\nstatements (shared_preload_libraries = {:?}, so no pg_stat_statements: the grid's database logged every statement, log_min_duration_statement = 0), {n} declarations one at a time through the gateway in {secs:.1} s:",
        preload
    )
    .unwrap();
    // Every statement on the grid's database in the window, by shape: the request path and the
    // background work (relay, sealing) alike.
    let mut by_shape: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for e in &entries {
        let s = by_shape.entry(shape(&e.text)).or_default();
        if matches!(e.step.as_str(), "statement" | "execute") {
            s.0 += 1;
        }
        s.1 += e.ms;
    }
    // Each declaration's transaction: from its BEGIN to its COMMIT on one connection.
    let mut open: HashMap<&str, Vec<&Logged>> = HashMap::new();
    let (mut txns, mut txn_statements, mut txn_span, mut txn_inside) = (0usize, 0usize, 0.0, 0.0);
    let (mut locks, mut lock_held) = (0usize, 0.0);
    for e in &entries {
        let upper = e.text.trim_start().to_uppercase();
        if e.step == "statement" && upper.starts_with("BEGIN") {
            open.insert(e.pid.as_str(), vec![e]);
            continue;
        }
        let Some(steps) = open.get_mut(e.pid.as_str()) else {
            continue;
        };
        steps.push(e);
        if e.step == "statement" && (upper.starts_with("COMMIT") || upper.starts_with("ROLLBACK")) {
            let steps = open.remove(e.pid.as_str()).expect("open");
            if !steps
                .iter()
                .any(|s| s.text.contains("INSERT INTO \"declarations\""))
            {
                continue;
            }
            txns += 1;
            txn_statements += steps
                .iter()
                .filter(|s| matches!(s.step.as_str(), "statement" | "execute"))
                .count();
            // The BEGIN's entry is logged when it has run: the span starts at its end.
            txn_span += e.at_ms - steps[0].at_ms;
            txn_inside += steps.iter().skip(1).map(|s| s.ms).sum::<f64>();
            if let Some(lock) = steps
                .iter()
                .find(|s| s.step == "execute" && s.text.contains("evidence_head"))
            {
                locks += 1;
                // From the end of the statement that took the head's lock to the end of the
                // COMMIT that let it go (the log's times are to the millisecond).
                lock_held += e.at_ms - lock.at_ms;
            }
        }
    }
    let statements: usize = by_shape.values().map(|s| s.0).sum();
    writeln!(
        out,
        "{} statements in all on the grid's database ({:.1} per declaration, background work included); {txns} declaration transactions: {:.1} statements each (BEGIN and COMMIT included), {:.1} ms from BEGIN to COMMIT, of which {:.1} ms inside the statements; the evidence head's lock held {:.1} ms per transaction ({locks} seen)",
        statements,
        statements as f64 / n as f64,
        txn_statements as f64 / txns.max(1) as f64,
        txn_span / txns.max(1) as f64,
        txn_inside / txns.max(1) as f64,
        lock_held / locks.max(1) as f64,
    )
    .unwrap();
    writeln!(out, "| statement | per declaration | ms per declaration |").unwrap();
    writeln!(out, "| --- | ---: | ---: |").unwrap();
    let mut shapes: Vec<_> = by_shape.into_iter().collect();
    shapes.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
    for (shape, (count, total)) in shapes {
        writeln!(
            out,
            "| `{}` | {:.2} | {:.3} |",
            shape.replace('|', "\\|"),
            count as f64 / n as f64,
            total / n as f64
        )
        .unwrap();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The gateway's cost

async fn gateway() -> String {
    let c = bench_cluster().await;
    let worker = c.login("grid-worker").await;
    let (_, house, _) = c.example();
    let mut out = String::new();
    writeln!(
        out,
        "gateway: GET /api/v1/grid/houses/{{code}} with a grid worker's token, closed loop, 2 rounds of {} s per concurrency and path",
        phase().as_secs()
    )
    .unwrap();
    writeln!(
        out,
        "| clients | through the gateway | p50 | p99 | straight to the grid | p50 | p99 | gateway / direct |"
    )
    .unwrap();
    writeln!(
        out,
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    .unwrap();
    let read = |base: String| {
        let client = c.client.clone();
        let url = format!("{base}/api/v1/grid/houses/{house}");
        let token = worker.clone();
        move || {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            async move {
                let res = client
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = res.status();
                let body = res.bytes().await.map_err(|e| e.to_string())?;
                if status == StatusCode::OK {
                    Ok(())
                } else {
                    Err(format!("{status}: {}", String::from_utf8_lossy(&body)))
                }
            }
        }
    };
    for clients in GATEWAY_CLIENTS {
        let (mut via, mut straight) = (Run::default(), Run::default());
        for round in 0..2 {
            // Alternate which goes first.
            let order = if round == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for through in order {
                let base = if through {
                    c.gateway.clone()
                } else {
                    c.service_url("grid")
                };
                let run = closed_loop(clients, phase(), read(base)).await;
                let target = if through { &mut via } else { &mut straight };
                target.secs += run.secs;
                target.merge(run);
            }
        }
        via.warn_failures("through the gateway");
        straight.warn_failures("straight to the grid");
        writeln!(
            out,
            "| {clients} | {:.0}/s | {:.1} ms | {:.1} ms | {:.0}/s | {:.1} ms | {:.1} ms | {:.2} |",
            via.rate(),
            ms(via.percentile(0.5)),
            ms(via.percentile(0.99)),
            straight.rate(),
            ms(straight.percentile(0.5)),
            ms(straight.percentile(0.99)),
            via.rate() / straight.rate()
        )
        .unwrap();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// `zhiwang up`

/// A line of `/proc/<pid>/status` in kB.
fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
}

async fn up() -> String {
    use std::io::BufRead;
    let idle = Duration::from_secs(if quick() { 3 } else { 10 });
    let mut out = String::new();
    writeln!(
        out,
        "up: `zhiwang up --port 0` in a fresh data directory (SQLite, in-process bus, demo district seeded), {} s idle before the memory is read",
        idle.as_secs()
    )
    .unwrap();
    writeln!(
        out,
        "| run | banner | /readyz 200 | VmRSS idle | VmHWM |\n| ---: | ---: | ---: | ---: | ---: |"
    )
    .unwrap();
    let client = reqwest::Client::new();
    for run in 1..=3 {
        let data = std::env::temp_dir().join(format!("zw-bench-up-{}", Uuid::new_v4()));
        let started = Instant::now();
        let mut child = std::process::Command::new(bin())
            .args(["up", "--port", "0", "--data-dir"])
            .arg(&data)
            .env_remove("ZW__BUS__URL")
            .env_remove("ZW__DATABASE__URL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("zhiwang up");
        let pid = child.id();
        let stdout = child.stdout.take().expect("stdout");
        // The banner names the gateway; keep reading the output after it so the pipe
        // never fills.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.trim().strip_prefix("API gateway")
                    && let Some(base) = rest.trim().split("/api/").next()
                {
                    let _ = tx.send(base.to_owned());
                }
            }
        });
        let base = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(120)))
            .await
            .unwrap()
            .expect("the banner within 2 minutes");
        let banner = started.elapsed();
        loop {
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await
                && r.status() == StatusCode::OK
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "ready within 2 min"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let ready = started.elapsed();
        tokio::time::sleep(idle).await;
        let rss = proc_status_kb(pid, "VmRSS:").unwrap_or(0);
        let hwm = proc_status_kb(pid, "VmHWM:").unwrap_or(0);
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&data);
        writeln!(
            out,
            "| {run} | {:.2} s | {:.2} s | {:.1} MB | {:.1} MB |",
            banner.as_secs_f64(),
            ready.as_secs_f64(),
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0
        )
        .unwrap();
        eprintln!("up run {run} done");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Growth

/// The grids filled in, in order: streets 101 on of the district (the demo district's are 001
/// to 010), 100 grids a street.
fn fill_grid(i: u64) -> JurisdictionCode {
    let district = JurisdictionCode::parse(DISTRICT).unwrap();
    let street = district
        .child(u16::try_from(101 + i / 100).unwrap())
        .unwrap();
    let community = street
        .child(u16::try_from(1 + (i % 100) / 10).unwrap())
        .unwrap();
    community.child(u16::try_from(1 + i % 10).unwrap()).unwrap()
}

/// Grids `from..to` of [`fill_grid`] with their houses, persons, residents, a life event per
/// house and person, and per resident an accepted declaration with its evidence record; the
/// evidence through `zw_evidence::append_many` so the chain stays valid.
async fn fill(db: &DatabaseConnection, from: u64, to: u64) {
    let now = chrono::Utc::now().to_rfc3339();
    let pool = db.get_postgres_connection_pool();
    let per_grid = u64::from(FILL_HOUSES_PER_GRID * FILL_RESIDENTS_PER_HOUSE);
    const GRIDS_PER_PIECE: u64 = 20;
    let mut g = from;
    while g < to {
        let end = (g + GRIDS_PER_PIECE).min(to);
        let (mut grids, mut houses, mut persons, mut residents, mut events, mut declarations) = (
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        );
        let mut evidence: Vec<(String, Value)> = Vec::new();
        let import = Uuid::now_v7();
        for i in g..end {
            let grid = fill_grid(i);
            writeln!(grids, "{grid},Grid {grid}").unwrap();
            for serial in 1..=FILL_HOUSES_PER_GRID {
                let house = HouseCode::new(&grid, u16::try_from(serial).unwrap()).unwrap();
                writeln!(houses, "{house},{grid},\"{serial} Bench Road\",in_use,6").unwrap();
                writeln!(
                    events,
                    "{},house,{house},imported,in_use,{house},{grid},1,import,bench,{import},{{}},1,{now}",
                    Uuid::now_v7()
                )
                .unwrap();
                for r in 0..FILL_RESIDENTS_PER_HOUSE {
                    let n = i * per_grid
                        + u64::from(serial - 1) * u64::from(FILL_RESIDENTS_PER_HOUSE)
                        + u64::from(r);
                    let id = id_number("440305", 1930, n);
                    let person = Uuid::now_v7();
                    let name = format!("Resident {n}");
                    writeln!(
                        persons,
                        "{person},{id},{name},{},alive,{grid},1,{now},{now}",
                        id.birth_date()
                    )
                    .unwrap();
                    writeln!(residents, "{id},{name},{house},{grid},{now}").unwrap();
                    writeln!(
                        events,
                        "{},person,{person},imported,alive,{house},{grid},1,import,bench,{import},{{}},1,{now}",
                        Uuid::now_v7()
                    )
                    .unwrap();
                    let declaration = Uuid::now_v7();
                    writeln!(
                        declarations,
                        "{declaration},{id},{name},{house},{grid},accepted,[],bench-filler,{now},{now},system:rules,,1,himself"
                    )
                    .unwrap();
                    evidence.push((
                        format!("declaration/{declaration}"),
                        json!({"id_number": id.to_string(), "house_code": house, "status": "accepted", "reasons": [], "declared_as": "himself"}),
                    ));
                }
            }
        }
        let mut conn = pool.acquire().await.expect("connection");
        for (sql, rows) in [
            ("COPY grids (code, name) FROM STDIN (FORMAT csv)", grids),
            (
                "COPY houses (code, grid_code, address, status, registered_size) FROM STDIN (FORMAT csv)",
                houses,
            ),
            (
                "COPY persons (id, id_number, name, birth_date, status, grid_code, version, created_at, updated_at) FROM STDIN (FORMAT csv)",
                persons,
            ),
            (
                "COPY residents (id_number, name, house_code, grid_code, since) FROM STDIN (FORMAT csv)",
                residents,
            ),
            (
                "COPY life_events (id, subject_kind, subject_key, change, state, house_code, grid_code, version, source_kind, source_actor, source_ref, details, evidence_seq, occurred_at) FROM STDIN (FORMAT csv)",
                events,
            ),
            (
                "COPY declarations (id, id_number, name, house_code, grid_code, status, reasons, submitted_by, created_at, decided_at, decided_by, decision_reason, version, declared_as) FROM STDIN (FORMAT csv)",
                declarations,
            ),
        ] {
            let mut copy = conn.copy_in_raw(sql).await.expect(sql);
            copy.send(rows.into_bytes()).await.expect("copy rows");
            copy.finish().await.expect(sql);
        }
        drop(conn);
        for batch in evidence.chunks(2_000) {
            let entries: Vec<zw_evidence::NewEvidence<'_>> = batch
                .iter()
                .map(|(object, payload)| zw_evidence::NewEvidence {
                    actor: "bench-filler",
                    action: "declaration.submit",
                    object,
                    payload,
                })
                .collect();
            zw_evidence::append_many(db, &entries)
                .await
                .expect("evidence");
        }
        g = end;
    }
}

async fn growth() -> String {
    let small = std::env::var("ZW_BENCH_GROWTH").is_ok_and(|v| v == "small");
    let shares: [(&str, u64); 2] = if quick() {
        [("1/10000", 10_000), ("1/1000", 1_000)]
    } else if small {
        [("1/1000", 1_000), ("1/100", 100)]
    } else {
        [("1/100", 100), ("1/10", 10)]
    };
    let c = bench_cluster().await;
    let db_url = c.dbs["grid"].url.clone();
    let db = Database::connect(ConnectOptions::new(db_url).sqlx_logging(false).to_owned())
        .await
        .expect("grid database");
    let ids = FreshIds::new();
    let per_grid = u64::from(FILL_HOUSES_PER_GRID * FILL_RESIDENTS_PER_HOUSE);
    let mut out = String::new();
    writeln!(
        out,
        "growth: declarations through the gateway at {GROWTH_CLIENTS} clients, closed loop, {} s, with the grid's database grown to a share of Shenzhen's {SHENZHEN_RESIDENTS} residents ({FILL_HOUSES_PER_GRID} houses a grid, {FILL_RESIDENTS_PER_HOUSE} residents a house, each with a life event, an accepted declaration and its evidence record)",
        2 * phase().as_secs()
    )
    .unwrap();
    writeln!(
        out,
        "| grid database | residents | filled in | declarations | ms per declaration | p50 | p99 |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    .unwrap();
    let mut filled = 0u64;
    let mut costs = Vec::new();
    let phases = std::iter::once(("demo only", None)).chain(shares.map(|(l, d)| (l, Some(d))));
    for (label, divisor) in phases {
        let fill_secs = if let Some(divisor) = divisor {
            let grids = (SHENZHEN_RESIDENTS / divisor).div_ceil(per_grid);
            let started = Instant::now();
            fill(&db, filled, grids).await;
            filled = grids;
            for sql in ["ANALYZE", "CHECKPOINT"] {
                db.execute_unprepared(sql).await.expect(sql);
            }
            // The grid chain-checks new records before it signs a head: asked for one now, it
            // does that work before the timing, not during it.
            let long = reqwest::Client::builder()
                .timeout(Duration::from_secs(1800))
                .build()
                .unwrap();
            let res = long
                .get(format!(
                    "{}/api/v1/grid/evidence/tree-head",
                    c.service_url("grid")
                ))
                .send()
                .await
                .expect("tree head");
            assert_eq!(res.status(), StatusCode::OK, "tree head after the fill");
            Some(started.elapsed().as_secs_f64())
        } else {
            None
        };
        // Tokens live 15 minutes: a fresh one for each measurement.
        let citizen = c.login("citizen").await;
        let declarer = Declarer::new(&c, &c.gateway.clone(), &citizen, &ids);
        let mut run = Run::default();
        for _ in 0..2 {
            let r = closed_loop(GROWTH_CLIENTS, phase(), declarer.op()).await;
            run.secs += r.secs;
            run.merge(r);
        }
        run.warn_failures(label);
        let cost = run.secs * 1e3 / run.ok as f64;
        if divisor.is_some() {
            costs.push((label, cost));
        }
        writeln!(
            out,
            "| {label} | {} | {} | {} at {:.1}/s | {cost:.2} | {:.0} ms | {:.0} ms |",
            filled * per_grid,
            fill_secs.map_or_else(|| "-".to_owned(), |s| format!("{s:.0} s")),
            run.ok,
            run.rate(),
            ms(run.percentile(0.5)),
            ms(run.percentile(0.99)),
        )
        .unwrap();
        eprintln!("growth {label} done");
    }
    writeln!(
        out,
        "per-declaration cost at {} ÷ at {}: {:.3}",
        costs[1].0,
        costs[0].0,
        costs[1].1 / costs[0].1
    )
    .unwrap();
    out
}
