//! Evidence appends per second on PostgreSQL, against raw single-row INSERTs of the same rows at
//! the same concurrency, in the same run.
//!
//! `cargo bench -p zw-evidence --bench appends` (add `-- --quick`, or set `ZW_BENCH_QUICK=1`,
//! for a short run). It makes a fresh database on the local PostgreSQL (`ZW_TEST_DATABASE_URL`,
//! as the tests do), applies the evidence migrations, and creates `raw_records`: the columns,
//! sizes and indexes of `evidence_records`, without the chain. Then, with 1, 4 and 16 tasks
//! sharing one pool, it times:
//! - `INSERT`: one autocommitted single-row INSERT per record into `raw_records` (the baseline);
//! - `append`: [`zw_evidence::append`], one record per transaction;
//! - `append_many 50` / `append_many 500`: [`zw_evidence::append_many`], that many records per
//!   call (one transaction, one lock of the chain's head);
//! - `GroupAppender`: [`zw_evidence::GroupAppender::append`], one record per call from each
//!   task, written by one writer in transactions of up to 100 waiting records (group commit);
//!
//! in 4 rounds per concurrency (every mode once per round, so that a slow moment of the shared
//! machine falls on all modes alike), and prints each rate with its ratio to `INSERT` at the same
//! concurrency. Before that it
//! profiles one sequential append: the statements it sends (counted and timed through sea-orm's
//! metric callback) and what is left for BEGIN, COMMIT and the client. The chain is verified at
//! the end ([`zw_evidence::verify_stored`]): what was timed is a valid log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use serde_json::{Value, json};
use zw_evidence::{GroupAppender, NewEvidence, TrustedKeys};
use zw_testkit::TestDb;

const CONCURRENCY: [usize; 3] = [1, 4, 16];
const BATCHES: [(usize, &str); 2] = [(50, "append_many 50"), (500, "append_many 500")];
/// Most records a [`GroupAppender`] writes in one transaction.
const GROUP_BATCH: usize = 100;
/// Rounds per concurrency: every mode runs once per round.
const ROUNDS: usize = 4;

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        zw_evidence::migrations()
    }
}

fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
        || std::env::var("ZW_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// The `i`th row: what a declaration's submission records.
struct Row {
    actor: String,
    action: &'static str,
    object: String,
    payload: Value,
}

fn row(i: usize) -> Row {
    Row {
        actor: format!("user/{}", i % 97),
        action: "declaration.submit",
        object: format!("declaration/{}", uuid::Uuid::now_v7()),
        payload: json!({
            "declaration": i,
            "name": "张三",
            "grid": "440304001001001",
            "kind": "rental",
        }),
    }
}

/// Runs `op(i)` for `i` in `0..total` on `tasks` tasks; returns the seconds it took.
async fn run<F, Fut>(tasks: usize, total: usize, op: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let op = Arc::new(op);
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let next = next.clone();
            let op = op.clone();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    op(i).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

const RAW_TABLE: &str = "CREATE TABLE raw_records (
    seq bigint PRIMARY KEY,
    actor text NOT NULL,
    action text NOT NULL,
    object text NOT NULL,
    payload_hash varchar(64) NOT NULL,
    recorded_at timestamptz NOT NULL,
    prev_hash varchar(64) NOT NULL,
    record_hash varchar(64) NOT NULL)";
const RAW_INDEX: &str = "CREATE INDEX raw_records_object ON raw_records (object, seq)";
const RAW_INSERT: &str = "INSERT INTO raw_records \
    (seq, actor, action, object, payload_hash, recorded_at, prev_hash, record_hash) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// One autocommitted INSERT of row `i` into `raw_records` (hashes of the same length as the
/// chain's, computed as the chain computes its payload hash).
async fn raw_insert(db: &DatabaseConnection, seq: i64, i: usize) {
    let r = row(i);
    let payload_hash = zw_evidence::payload_hash(&r.payload);
    let prev = zw_evidence::payload_hash(&json!([seq, "prev"]));
    let hash = zw_evidence::payload_hash(&json!([seq, "record"]));
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        RAW_INSERT,
        [
            seq.into(),
            r.actor.into(),
            r.action.into(),
            r.object.into(),
            payload_hash.into(),
            chrono::Utc::now().into(),
            prev.into(),
            hash.into(),
        ],
    ))
    .await
    .unwrap();
}

async fn append_one(db: &DatabaseConnection, i: usize) {
    let r = row(i);
    zw_evidence::append(db, &r.actor, r.action, &r.object, &r.payload)
        .await
        .unwrap();
}

async fn append_batch(db: &DatabaseConnection, first: usize, n: usize) {
    let rows: Vec<Row> = (first..first + n).map(row).collect();
    let entries: Vec<NewEvidence<'_>> = rows
        .iter()
        .map(|r| NewEvidence {
            actor: &r.actor,
            action: r.action,
            object: &r.object,
            payload: &r.payload,
        })
        .collect();
    let records = zw_evidence::append_many(db, &entries).await.unwrap();
    assert_eq!(records.len(), n);
}

/// Statements of `calls` sequential calls appending `batch` records each (`append` for 1,
/// `append_many` otherwise), through sea-orm's metric callback: per kind, how many and how long
/// per call; and the whole calls' time.
async fn profile(url: &str, calls: usize, batch: usize) -> String {
    let stats: Arc<Mutex<BTreeMap<String, (usize, Duration)>>> = Arc::default();
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(1).sqlx_logging(false);
    let mut db = Database::connect(options).await.unwrap();
    if std::env::var("ZW_BENCH_EXPLAIN").is_ok_and(|v| v == "1") {
        // The plans of slow statements, in the server's log (needs a superuser).
        for sql in [
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 5",
            "SET auto_explain.log_analyze = on",
            "SET auto_explain.log_buffers = on",
            "SET auto_explain.log_nested_statements = on",
        ] {
            db.execute_unprepared(sql).await.unwrap();
        }
    }
    let sink = stats.clone();
    db.set_metric_callback(move |info| {
        let sql = info.statement.sql.as_str();
        let kind: String = sql
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
            .replace('"', "");
        let mut stats = sink.lock().unwrap();
        let entry = stats.entry(kind).or_default();
        entry.0 += 1;
        entry.1 += info.elapsed;
    });
    let call = async |db: &DatabaseConnection, i: usize| {
        if batch == 1 {
            append_one(db, i).await;
        } else {
            append_batch(db, i * batch, batch).await;
        }
    };
    // Warm the connection and its statement cache.
    for i in 0..5 {
        call(&db, i).await;
    }
    stats.lock().unwrap().clear();
    let started = Instant::now();
    for i in 0..calls {
        call(&db, i).await;
    }
    let total = started.elapsed();
    db.close().await.unwrap();

    let stats = stats.lock().unwrap();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / calls as f64;
    let mut out = String::new();
    let mut in_statements = Duration::ZERO;
    let mut count = 0;
    for (kind, (n, time)) in stats.iter() {
        out += &format!(
            "  {kind:<40} {:>5.2} per call  {:>7.0} µs per call\n",
            *n as f64 / calls as f64,
            per(*time)
        );
        in_statements += *time;
        count += n;
    }
    out += &format!(
        "  {:<40} {:>5.2} per call  {:>7.0} µs per call\n",
        "all statements above",
        count as f64 / calls as f64,
        per(in_statements)
    );
    out += &format!(
        "  {:<40} {:>5} {:>10}  {:>7.0} µs per call\n",
        "BEGIN, COMMIT and the client", "", "", per(total - in_statements)
    );
    out += &format!(
        "  {:<40} {:>5} {:>10}  {:>7.0} µs per call\n",
        "whole call", "", "", per(total)
    );
    out
}

fn thousands(rate: f64) -> String {
    let n = rate.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[tokio::main]
async fn main() {
    let quick = quick();
    // Records per mode and concurrency: single-record modes, then batched ones.
    let (singles, batched) = if quick { (400, 4_000) } else { (4_000, 40_000) };
    let test_db = TestDb::postgres().await;
    Migrator::up(&test_db.conn, None).await.unwrap();
    test_db.conn.execute_unprepared(RAW_TABLE).await.unwrap();
    test_db.conn.execute_unprepared(RAW_INDEX).await.unwrap();
    let version = test_db
        .conn
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SHOW server_version"))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "server_version")
        .unwrap();

    for (batch, calls) in [(1, 1_000), (50, 100), (500, 20)] {
        let what = if batch == 1 { "append".to_owned() } else { format!("append_many {batch}") };
        println!("appends: profile of sequential calls of {what} (sea-orm metric callback)");
        let calls = if quick { calls / 5 } else { calls };
        print!("{}", profile(&test_db.url, calls, batch).await);
    }

    let mut options = ConnectOptions::new(test_db.url.clone());
    options
        .max_connections(CONCURRENCY[2] as u32 + 2)
        .min_connections(CONCURRENCY[2] as u32 + 2)
        .sqlx_logging(false);
    let db = Database::connect(options).await.unwrap();
    // Open every connection before timing anything.
    let warm = db.clone();
    run(CONCURRENCY[2], 64, move |_| {
        let db = warm.clone();
        async move {
            db.execute_unprepared("SELECT pg_sleep(0.01)").await.unwrap();
        }
    })
    .await;

    // Each concurrency in ROUNDS rounds, every mode once per round (raw first, then the
    // evidence modes), so that a slow moment of the shared machine falls on all of them alike.
    let seq = Arc::new(AtomicI64::new(0));
    let group = GroupAppender::spawn(db.clone(), GROUP_BATCH);
    let mut lines = Vec::new();
    for tasks in CONCURRENCY {
        let mut secs: BTreeMap<&'static str, f64> = BTreeMap::new();
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        for _ in 0..ROUNDS {
            let n = singles / ROUNDS;
            let (d, s) = (db.clone(), seq.clone());
            let t = run(tasks, n, move |i| {
                let (d, s) = (d.clone(), s.clone());
                async move { raw_insert(&d, s.fetch_add(1, Ordering::Relaxed) + 1, i).await }
            })
            .await;
            *secs.entry("INSERT").or_default() += t;
            *counts.entry("INSERT").or_default() += n;

            let d = db.clone();
            let t = run(tasks, n, move |i| {
                let d = d.clone();
                async move { append_one(&d, i).await }
            })
            .await;
            *secs.entry("append").or_default() += t;
            *counts.entry("append").or_default() += n;

            for (batch, name) in BATCHES {
                let calls = batched / ROUNDS / batch;
                let d = db.clone();
                let t = run(tasks, calls, move |call| {
                    let d = d.clone();
                    async move { append_batch(&d, call * batch, batch).await }
                })
                .await;
                *secs.entry(name).or_default() += t;
                *counts.entry(name).or_default() += calls * batch;
            }

            let g = group.clone();
            let t = run(tasks, n, move |i| {
                let g = g.clone();
                async move {
                    let r = row(i);
                    g.append(&r.actor, r.action, &r.object, &r.payload)
                        .await
                        .unwrap();
                }
            })
            .await;
            *secs.entry("group").or_default() += t;
            *counts.entry("group").or_default() += n;
        }
        let rate = |name: &str| counts[name] as f64 / secs[name];
        let raw = rate("INSERT");
        lines.push(format!("appends: INSERT {tasks}x: {}/s", thousands(raw)));
        for name in ["append", BATCHES[0].1, BATCHES[1].1, "group"] {
            let r = rate(name);
            let label = if name == "group" {
                format!("GroupAppender (≤ {GROUP_BATCH} per transaction)")
            } else {
                name.to_owned()
            };
            lines.push(format!(
                "appends: {label} {tasks}x: {}/s ({:.2} of INSERT {}/s)",
                thousands(r),
                r / raw,
                thousands(raw)
            ));
        }
    }

    let report = zw_evidence::verify_stored(&db, &TrustedKeys::new([]))
        .await
        .unwrap();
    println!();
    println!(
        "appends: PostgreSQL {version}, {singles} records per single-record mode, {batched} per \
         batched mode{}; chain verified ({} records)",
        if quick { " (quick)" } else { "" },
        report.records
    );
    for line in lines {
        println!("{line}");
    }
}
