//! Events relayed per second by the outbox relay, against raw JetStream publishes of the same
//! messages with the same acks, in the same run.
//!
//! `cargo bench -p zw-bus --bench relay` (add `-- --quick`, or set `ZW_BENCH_QUICK=1`, for a
//! short run). It needs the NATS 2.10+ of the tests (`ZW_TEST_NATS_URL`, e.g.
//! `nats://127.0.0.1:4333`) and the local PostgreSQL (`ZW_TEST_DATABASE_URL`). It makes a fresh
//! database with the outbox migration and a bus under a unique stream prefix, and for each relay
//! batch size, in alternating rounds:
//! - `relay`: enqueues the events ([`zw_bus::outbox::enqueue`], untimed, in transactions of 500
//!   rows), then times [`Relay::publish_pending`] until the outbox is empty: select a batch,
//!   publish it to JetStream waiting for every ack, delete the rows (NATS's default) or, in one
//!   more configuration at 500 rows a batch, mark them published and keep them (the in-process
//!   default, [`PublishedRows::KeepFor`]);
//! - `raw`: the same events under fresh ids (the stream would drop the relay's ids as
//!   duplicates), published with async-nats straight to the same stream, `Nats-Msg-Id` set, in
//!   batches of the same size: send the batch, then await each ack in order.
//!
//! It prints each rate and the ratio relay/raw, and deletes its streams at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use async_nats::header::{HeaderMap, NATS_MESSAGE_ID};
use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::MigratorTrait;
use uuid::Uuid;
use zw_bus::outbox::{self, PublishedRows, Relay};
use zw_bus::{Bus, BusConfig, StreamKind};
use zw_contracts::events::{DeclarationStatus, DeclarationSubmitted};
use zw_contracts::{Actor, Envelope, Event};
use zw_domain::JurisdictionCode;
use zw_domain::db::BeginWrite as _;
use zw_testkit::TestDb;

/// The relay's configurations: rows per batch, and what becomes of published rows.
const CONFIGS: [(u64, PublishedRows); 4] = [
    (100, PublishedRows::Delete),
    (500, PublishedRows::Delete),
    (1_000, PublishedRows::Delete),
    (
        500,
        PublishedRows::KeepFor(Duration::from_secs(7 * 24 * 3600)),
    ),
];

const ROUNDS: usize = 3;

fn label(published: PublishedRows) -> &'static str {
    match published {
        PublishedRows::Delete => "rows deleted",
        PublishedRows::KeepFor(_) | PublishedRows::KeepForever => "rows marked",
    }
}

fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
        || std::env::var("ZW_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// A declaration event of grid `i % 50` of the test district, as the grid service relays them.
fn event(i: usize) -> Envelope {
    let grid = JurisdictionCode::parse(&format!("440304001001{:03}", i % 50 + 1)).unwrap();
    let ev = Event::DeclarationSubmitted(DeclarationSubmitted {
        declaration_id: Uuid::now_v7(),
        house_code: format!("4403040010010{:02}{:05}", i % 50 + 1, i % 100_000),
        status: DeclarationStatus::Accepted,
        version: 1,
        reasons: vec![],
    });
    Envelope::new(&ev, grid, Actor::system("bench"))
}

async fn enqueue_all(db: &sea_orm::DatabaseConnection, events: &[Envelope]) {
    for chunk in events.chunks(500) {
        let txn = db.begin_write().await.unwrap();
        for env in chunk {
            outbox::enqueue(&txn, env, &[]).await.unwrap();
        }
        txn.commit().await.unwrap();
    }
}

/// Publish `events` (under fresh ids) to JetStream as the relay does, `batch` at a time: send
/// the batch, then await its acks in order. Returns the seconds it took.
async fn raw_publish(
    js: &jetstream::Context,
    prefix: &str,
    events: &[Envelope],
    batch: usize,
) -> f64 {
    let msgs: Vec<(String, Bytes, Uuid)> = events
        .iter()
        .map(|env| {
            let mut env = env.clone();
            env.id = Uuid::now_v7();
            let payload = serde_json::to_string(&env).unwrap();
            (
                zw_bus::subject::with_prefix(prefix, &env.subject()),
                Bytes::from(payload.into_bytes()),
                env.id,
            )
        })
        .collect();
    let started = Instant::now();
    for chunk in msgs.chunks(batch) {
        let mut acks = Vec::with_capacity(chunk.len());
        for (subject, payload, id) in chunk {
            let mut headers = HeaderMap::new();
            headers.insert(NATS_MESSAGE_ID, id.to_string().as_str());
            let publish = PublishMessage::build()
                .payload(payload.clone())
                .headers(headers);
            acks.push(js.send_publish(subject.clone(), publish).await.unwrap());
        }
        for ack in acks {
            let ack = ack.await.unwrap();
            assert!(!ack.duplicate, "a raw publish was taken for a duplicate");
        }
    }
    started.elapsed().as_secs_f64()
}

async fn unpublished(db: &sea_orm::DatabaseConnection) -> i64 {
    db.query_one_raw(Statement::from_string(
        DbBackend::Postgres,
        "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL",
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get::<i64>("", "n")
    .unwrap()
}

fn thousands(rate: f64) -> String {
    let digits = (rate.round() as u64).to_string();
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
    let per_round = if quick { 2_000 } else { 20_000 };
    let db = TestDb::postgres().await;
    zw_bus::migration::Migrator::up(&db.conn, None)
        .await
        .unwrap();
    let prefix = zw_testkit::unique_prefix();
    let cfg = BusConfig::nats(zw_testkit::nats_url()).with_prefix(prefix.clone());
    let bus = Bus::connect(&cfg).await.unwrap();
    let client = async_nats::connect(zw_testkit::nats_url()).await.unwrap();
    let js = jetstream::new(client);

    let mut lines = Vec::new();
    for (batch, published) in CONFIGS {
        let relay = Relay::new(db.conn.clone(), bus.clone())
            .batch_size(batch)
            .published_rows(published);
        let (mut relay_secs, mut raw_secs) = (0.0, 0.0);
        for round in 0..ROUNDS {
            let events: Vec<Envelope> = (0..per_round)
                .map(|i| event(round * per_round + i))
                .collect();
            // Raw first in even rounds, relay first in odd ones.
            if round % 2 == 0 {
                raw_secs += raw_publish(&js, &prefix, &events, batch as usize).await;
            }
            enqueue_all(&db.conn, &events).await;
            let started = Instant::now();
            let n = relay.publish_pending().await.unwrap();
            relay_secs += started.elapsed().as_secs_f64();
            assert_eq!(n, per_round);
            assert_eq!(unpublished(&db.conn).await, 0);
            if round % 2 == 1 {
                raw_secs += raw_publish(&js, &prefix, &events, batch as usize).await;
            }
        }
        let total = (per_round * ROUNDS) as f64;
        let (relay_rate, raw_rate) = (total / relay_secs, total / raw_secs);
        lines.push(format!(
            "relay: batch {batch}, {}: {}/s ({:.2} of raw JetStream publish {}/s)",
            label(published),
            thousands(relay_rate),
            relay_rate / raw_rate,
            thousands(raw_rate)
        ));
    }

    let stream = js
        .get_stream(zw_bus::subject::stream_name(&prefix, StreamKind::Events))
        .await
        .unwrap()
        .cached_info()
        .state
        .messages;
    let expected = (2 * per_round * ROUNDS * CONFIGS.len()) as u64;
    for kind in [StreamKind::Events, StreamKind::Tasks] {
        js.delete_stream(zw_bus::subject::stream_name(&prefix, kind))
            .await
            .unwrap();
    }
    println!();
    println!(
        "relay: {per_round} events per round, {ROUNDS} rounds per configuration{}; {stream} messages \
         stored (expected {expected}); streams removed",
        if quick { " (quick)" } else { "" }
    );
    for line in lines {
        println!("{line}");
    }
    assert_eq!(stream, expected);
}
