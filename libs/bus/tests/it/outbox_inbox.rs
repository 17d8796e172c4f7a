//! The outbox, the relay and the inbox on real databases: PostgreSQL with the NATS bus, SQLite
//! with the in-process bus (as `zhiwang up` runs).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use zw_domain::db::BeginWrite;

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr};
use sea_orm_migration::MigratorTrait;
use tokio::sync::oneshot;
use uuid::Uuid;
use zw_bus::inbox::{self, spawn_consumer};
use zw_bus::outbox::{self, PublishedRows, Relay};
use zw_bus::{Bus, ConsumerSpec, EventHandler, HandlerError, OutgoingMessage, StreamKind};
use zw_contracts::Envelope;
use zw_testkit::{TestDb, eventually};

use crate::helpers::{PATIENCE, event_in, memory_bus, nats_bus, next, raw, remove_streams};

/// The service's own table a test handler writes to: one row per application of an event.
async fn prepare(db: &DatabaseConnection) {
    zw_bus::migration::Migrator::up(db, None)
        .await
        .expect("migrate");
    db.execute_unprepared("CREATE TABLE applied (event_id TEXT NOT NULL, traceparent TEXT)")
        .await
        .expect("create applied");
}

/// A handler that fails its first `fail_first` calls, then records the event.
#[derive(Default)]
struct Recorder {
    fail_first: usize,
    calls: AtomicUsize,
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.fail_first {
            return Err(HandlerError::transient("a dependency is down"));
        }
        let stmt = Query::insert()
            .into_table("applied")
            .columns(["event_id", "traceparent"])
            .values([
                env.id.to_string().into(),
                zw_bus::trace::traceparent().into(),
            ])
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .to_owned();
        txn.execute(&stmt).await?;
        Ok(())
    }
}

/// (applications, distinct events applied)
async fn applied(db: &DatabaseConnection) -> (i64, i64) {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS d FROM applied",
        ))
        .await
        .expect("count")
        .expect("a row");
    (
        row.try_get("", "n").expect("n"),
        row.try_get("", "d").expect("d"),
    )
}

async fn times_applied(db: &DatabaseConnection, id: Uuid) -> i64 {
    let stmt = Query::select()
        .expr_as(Expr::col("event_id").count(), "n")
        .from("applied")
        .and_where(Expr::col("event_id").eq(id.to_string()))
        .to_owned();
    let row = db.query_one(&stmt).await.expect("count").expect("a row");
    row.try_get("", "n").expect("n")
}

async fn traceparent_of(db: &DatabaseConnection, id: Uuid) -> Option<String> {
    let stmt = Query::select()
        .column("traceparent")
        .from("applied")
        .and_where(Expr::col("event_id").eq(id.to_string()))
        .to_owned();
    let row = db.query_one(&stmt).await.expect("select").expect("a row");
    row.try_get("", "traceparent").expect("traceparent")
}

/// (rows in the outbox, rows published)
async fn outbox_rows(db: &DatabaseConnection) -> (i64, i64) {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n, COUNT(published_at) AS p FROM outbox",
        ))
        .await
        .expect("count")
        .expect("a row");
    (
        row.try_get("", "n").expect("n"),
        row.try_get("", "p").expect("p"),
    )
}

async fn commit_events(db: &DatabaseConnection, envs: &[Envelope]) {
    let txn = db.begin_write().await.expect("begin");
    for env in envs {
        outbox::enqueue(&txn, env, &[]).await.expect("enqueue");
    }
    txn.commit().await.expect("commit");
}

async fn wait_applied(db: &DatabaseConnection, id: Uuid) {
    eventually(PATIENCE, "the event applied", || async move {
        (times_applied(db, id).await > 0).then_some(())
    })
    .await;
}

/// A shutdown signal: the future to hand over, and the sender that fires it.
fn shutdown() -> (
    oneshot::Sender<()>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}

fn projection() -> ConsumerSpec {
    ConsumerSpec::events("projection", vec!["zw.evt.440304.>".into()])
}

#[tokio::test]
async fn events_of_a_rolled_back_transaction_are_never_published() {
    let db = TestDb::postgres().await;
    prepare(&db.conn).await;
    let bus = nats_bus().await;
    let (stop, signal) = shutdown();
    let relay = Relay::new(db.conn.clone(), bus.clone()).spawn(signal);

    let rolled_back = event_in("440304008001003");
    let txn = db.conn.begin_write().await.expect("begin");
    outbox::enqueue(&txn, &rolled_back, &[])
        .await
        .expect("enqueue");
    txn.rollback().await.expect("rollback");

    let kept = event_in("440304008001003");
    let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned();
    let txn = db.conn.begin_write().await.expect("begin");
    // The trace context of the request that caused the change follows the event.
    zw_bus::trace::scope(Some(tp.clone()), outbox::enqueue(&txn, &kept, &[]))
        .await
        .expect("enqueue");
    txn.commit().await.expect("commit");
    relay.notify();

    let handler = Arc::new(Recorder::default());
    let (stop_consumer, consumer_signal) = shutdown();
    let consumer = spawn_consumer(
        bus.clone(),
        db.conn.clone(),
        projection(),
        handler,
        consumer_signal,
    );
    wait_applied(&db.conn, kept.id).await;
    assert_eq!(
        traceparent_of(&db.conn, kept.id).await,
        Some(tp),
        "traceparent reached the handler"
    );

    // Everything ever published, in order: only the committed event, then a later marker.
    let marker = event_in("440304008001003");
    commit_events(&db.conn, std::slice::from_ref(&marker)).await;
    relay.notify();
    let mut audit = bus
        .subscribe(ConsumerSpec::events("audit", vec![]))
        .await
        .expect("subscribe");
    assert_eq!(next(&mut audit).await.id, kept.id.to_string());
    assert_eq!(next(&mut audit).await.id, marker.id.to_string());
    wait_applied(&db.conn, marker.id).await;
    assert_eq!(times_applied(&db.conn, rolled_back.id).await, 0);
    // With NATS a row is deleted once its event is acked (the stream keeps it); the delete
    // follows the ack, so it may still be on its way when the consumer has applied the marker.
    eventually(PATIENCE, "both rows deleted after their acks", || {
        let db = db.conn.clone();
        async move { (outbox_rows(&db).await == (0, 0)).then_some(()) }
    })
    .await;

    let _ = stop_consumer.send(());
    consumer
        .await
        .expect("join")
        .expect("consumer ends cleanly");
    let _ = stop.send(());
    relay.stopped().await;
    remove_streams(&bus).await;
}

#[tokio::test]
async fn committed_events_are_applied_exactly_once_with_two_relays_and_a_relay_restart() {
    const EVENTS: usize = 120;
    let db = TestDb::postgres().await;
    prepare(&db.conn).await;
    let bus = nats_bus().await;
    let envs: Vec<Envelope> = (0..EVENTS).map(|_| event_in("440304008001003")).collect();
    for chunk in envs.chunks(10) {
        commit_events(&db.conn, chunk).await;
    }

    // Two consumer loops on the same durable, two relays on the same outbox at once.
    let handler = Arc::new(Recorder::default());
    let mut stops = Vec::new();
    let mut consumers = Vec::new();
    for _ in 0..2 {
        let (stop, signal) = shutdown();
        stops.push(stop);
        consumers.push(spawn_consumer(
            bus.clone(),
            db.conn.clone(),
            projection(),
            handler.clone(),
            signal,
        ));
    }
    let (stop_a, signal_a) = shutdown();
    let relay_a = Relay::new(db.conn.clone(), bus.clone())
        .batch_size(7)
        .spawn(signal_a);
    let (stop_b, signal_b) = shutdown();
    let relay_b = Relay::new(db.conn.clone(), bus.clone())
        .batch_size(5)
        .spawn(signal_b);

    // Stop one relay mid-way, start another later.
    eventually(PATIENCE, "some rows published (and deleted)", || {
        let db = db.conn.clone();
        async move { (outbox_rows(&db).await.0 < EVENTS as i64).then_some(()) }
    })
    .await;
    let _ = stop_a.send(());
    relay_a.stopped().await;
    let (stop_c, signal_c) = shutdown();
    let relay_c = Relay::new(db.conn.clone(), bus.clone()).spawn(signal_c);

    eventually(PATIENCE * 2, "every event applied", || {
        let db = db.conn.clone();
        async move { (applied(&db).await.1 == EVENTS as i64).then_some(()) }
    })
    .await;
    // Anything still in flight comes before this marker in the stream.
    let marker = event_in("440304008001003");
    commit_events(&db.conn, std::slice::from_ref(&marker)).await;
    relay_c.notify();
    wait_applied(&db.conn, marker.id).await;

    let total = EVENTS as i64 + 1;
    assert_eq!(
        applied(&db.conn).await,
        (total, total),
        "every event applied exactly once"
    );
    // A batch is marked published after its acks, so a consumer may apply the marker before
    // the relay's mark of it commits.
    eventually(PATIENCE, "every row published and deleted", || {
        let db = db.conn.clone();
        async move { (outbox_rows(&db).await == (0, 0)).then_some(()) }
    })
    .await;

    for stop in stops {
        let _ = stop.send(());
    }
    for c in consumers {
        c.await.expect("join").expect("consumer ends cleanly");
    }
    let _ = stop_b.send(());
    let _ = stop_c.send(());
    relay_b.stopped().await;
    relay_c.stopped().await;
    remove_streams(&bus).await;
}

#[tokio::test]
async fn the_inbox_makes_a_redelivered_event_a_no_op() {
    let db = TestDb::postgres().await;
    prepare(&db.conn).await;
    let bus = nats_bus().await;
    let env = event_in("440304008001003");
    // The same event twice under different message ids: what the consumer sees when a duplicate
    // arrives after the stream's duplicate window.
    let first = OutgoingMessage::event(&env, vec![]).expect("encode");
    let mut again = first.clone();
    again.id = Uuid::now_v7();
    let marker = event_in("440304008001003");
    let marker_msg = OutgoingMessage::event(&marker, vec![]).expect("encode");
    bus.publish_batch(&[first, again, marker_msg])
        .await
        .expect("publish");

    let handler = Arc::new(Recorder::default());
    let (stop, signal) = shutdown();
    let consumer = spawn_consumer(
        bus.clone(),
        db.conn.clone(),
        projection(),
        handler.clone(),
        signal,
    );
    // One loop handles deliveries in stream order: once the marker is applied, both copies
    // have been handled.
    wait_applied(&db.conn, marker.id).await;
    assert_eq!(times_applied(&db.conn, env.id).await, 1);
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        2,
        "the handler never saw the copy"
    );
    assert!(
        inbox::is_processed(&db.conn, "projection", env.id)
            .await
            .expect("query")
    );
    assert!(
        !inbox::record(&db.conn, "projection", env.id)
            .await
            .expect("insert")
    );

    let _ = stop.send(());
    consumer
        .await
        .expect("join")
        .expect("consumer ends cleanly");
    remove_streams(&bus).await;
}

#[tokio::test]
async fn a_failing_handler_is_retried_until_the_event_is_applied_once() {
    let db = TestDb::postgres().await;
    prepare(&db.conn).await;
    let bus = nats_bus().await;
    let (stop_relay, relay_signal) = shutdown();
    let relay = Relay::new(db.conn.clone(), bus.clone()).spawn(relay_signal);
    let env = event_in("440304008001003");
    commit_events(&db.conn, std::slice::from_ref(&env)).await;
    relay.notify();

    let handler = Arc::new(Recorder {
        fail_first: 2,
        ..Recorder::default()
    });
    let (stop, signal) = shutdown();
    let consumer = spawn_consumer(
        bus.clone(),
        db.conn.clone(),
        projection(),
        handler.clone(),
        signal,
    );
    wait_applied(&db.conn, env.id).await;
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        3,
        "two failures, then success"
    );
    assert_eq!(times_applied(&db.conn, env.id).await, 1);

    let _ = stop.send(());
    consumer
        .await
        .expect("join")
        .expect("consumer ends cleanly");
    let _ = stop_relay.send(());
    relay.stopped().await;
    remove_streams(&bus).await;
}

#[tokio::test]
async fn a_poison_message_does_not_block_the_consumer() {
    let db = TestDb::postgres().await;
    prepare(&db.conn).await;
    let bus = nats_bus().await;
    let poison = raw(
        StreamKind::Events,
        "zw.evt.440304.008.001.003.declaration.submitted",
        "{not json",
    );
    bus.publish(poison).await.expect("publish");
    let env = event_in("440304008001003");
    bus.publish(OutgoingMessage::event(&env, vec![]).expect("encode"))
        .await
        .expect("publish");

    let handler = Arc::new(Recorder::default());
    let (stop, signal) = shutdown();
    let consumer = spawn_consumer(
        bus.clone(),
        db.conn.clone(),
        projection(),
        handler.clone(),
        signal,
    );
    wait_applied(&db.conn, env.id).await;
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        1,
        "the poison never reached the handler"
    );

    let _ = stop.send(());
    consumer
        .await
        .expect("join")
        .expect("consumer ends cleanly");
    remove_streams(&bus).await;
}

#[tokio::test]
async fn in_process_relay_replays_recent_events_after_a_restart() {
    let db = TestDb::sqlite().await;
    prepare(&db.conn).await;

    // First life: e1 is published and applied, e2 is published while the consumer is down.
    let bus = memory_bus();
    let (stop_relay, relay_signal) = shutdown();
    let relay = Relay::new(db.conn.clone(), bus.clone()).spawn(relay_signal);
    let handler = Arc::new(Recorder::default());
    let (stop, signal) = shutdown();
    let consumer = spawn_consumer(
        bus.clone(),
        db.conn.clone(),
        projection(),
        handler.clone(),
        signal,
    );
    let e1 = event_in("440304008001003");
    commit_events(&db.conn, std::slice::from_ref(&e1)).await;
    relay.notify();
    wait_applied(&db.conn, e1.id).await;
    let _ = stop.send(());
    consumer
        .await
        .expect("join")
        .expect("consumer ends cleanly");
    let e2 = event_in("440304008001003");
    commit_events(&db.conn, std::slice::from_ref(&e2)).await;
    relay.notify();
    eventually(PATIENCE, "e2 published", || {
        let db = db.conn.clone();
        async move { (outbox_rows(&db).await.1 == 2).then_some(()) }
    })
    .await;
    // The process dies: the in-memory streams are gone with it.
    let _ = stop_relay.send(());
    relay.stopped().await;
    drop(bus);

    // Second life: the relay re-publishes recent rows; e2 is applied, e1 is a no-op.
    let bus: Bus = memory_bus();
    let mut audit = bus
        .subscribe(ConsumerSpec::events("audit", vec![]))
        .await
        .expect("subscribe");
    let (stop_relay, relay_signal) = shutdown();
    let relay = Relay::new(db.conn.clone(), bus.clone()).spawn(relay_signal);
    let (stop, signal) = shutdown();
    let consumer = spawn_consumer(
        bus.clone(),
        db.conn.clone(),
        projection(),
        handler.clone(),
        signal,
    );
    wait_applied(&db.conn, e2.id).await;
    let e3 = event_in("440304008001003");
    commit_events(&db.conn, std::slice::from_ref(&e3)).await;
    relay.notify();
    wait_applied(&db.conn, e3.id).await;
    let replayed: Vec<String> = vec![
        next(&mut audit).await.id,
        next(&mut audit).await.id,
        next(&mut audit).await.id,
    ];
    assert_eq!(
        replayed,
        vec![e1.id.to_string(), e2.id.to_string(), e3.id.to_string()]
    );
    assert_eq!(
        applied(&db.conn).await,
        (3, 3),
        "each event applied exactly once"
    );

    let _ = stop.send(());
    consumer
        .await
        .expect("join")
        .expect("consumer ends cleanly");
    let _ = stop_relay.send(());
    relay.stopped().await;
}

#[tokio::test]
async fn a_relay_told_to_keep_published_rows_marks_them_instead() {
    let db = TestDb::postgres().await;
    prepare(&db.conn).await;
    let bus = nats_bus().await;
    let (stop_relay, relay_signal) = shutdown();
    let relay = Relay::new(db.conn.clone(), bus.clone())
        .published_rows(PublishedRows::KeepForever)
        .spawn(relay_signal);
    let envs: Vec<Envelope> = (0..3).map(|_| event_in("440304008001003")).collect();
    commit_events(&db.conn, &envs).await;
    relay.notify();
    eventually(PATIENCE, "the rows marked published and kept", || {
        let db = db.conn.clone();
        async move { (outbox_rows(&db).await == (3, 3)).then_some(()) }
    })
    .await;
    let _ = stop_relay.send(());
    relay.stopped().await;
    remove_streams(&bus).await;
}

#[tokio::test]
async fn enqueue_refuses_a_task_subject_outside_the_contract() {
    let db = TestDb::sqlite().await;
    prepare(&db.conn).await;
    let env = event_in("440304008001003");
    let err = outbox::enqueue_task(&db.conn, "zw.evt.not.a.task", &env, &[]).await;
    assert!(err.is_err());
    outbox::enqueue_task(&db.conn, "zw.task.grid.verify", &env, &[])
        .await
        .expect("a task");
    assert_eq!(outbox_rows(&db.conn).await, (1, 0));
}

#[tokio::test]
async fn the_relay_and_the_consumer_survive_a_bus_outage() {
    let proxy = crate::proxy::Proxy::start(&zw_testkit::nats_url()).await;
    let cfg = zw_bus::BusConfig::nats(proxy.url.clone()).with_prefix(zw_testkit::unique_prefix());
    let bus = Bus::connect(&cfg)
        .await
        .expect("connect through the proxy")
        .with_ack_wait(crate::helpers::ACK_WAIT);
    let db = TestDb::postgres().await;
    prepare(&db.conn).await;
    let (stop_relay, relay_signal) = shutdown();
    let relay = Relay::new(db.conn.clone(), bus.clone()).spawn(relay_signal);
    let (stop, signal) = shutdown();
    let consumer = spawn_consumer(
        bus.clone(),
        db.conn.clone(),
        projection(),
        Arc::new(Recorder::default()),
        signal,
    );
    let before = event_in("440304008001003");
    commit_events(&db.conn, std::slice::from_ref(&before)).await;
    relay.notify();
    wait_applied(&db.conn, before.id).await;

    proxy.cut();
    eventually(PATIENCE, "the bus to notice the outage", || {
        let bus = bus.clone();
        async move { bus.check().await.is_err().then_some(()) }
    })
    .await;
    // Committed during the outage: the relay tries at once, fails, and keeps retrying.
    let during: Vec<Envelope> = (0..3).map(|_| event_in("440304008001003")).collect();
    commit_events(&db.conn, &during).await;
    relay.notify();
    // `before`'s row goes once its delete (after its ack) lands; the outage's three stay.
    eventually(
        PATIENCE,
        "only the outage's rows left: nothing published while the bus is down",
        || {
            let db = db.conn.clone();
            async move { (outbox_rows(&db).await == (3, 0)).then_some(()) }
        },
    )
    .await;

    proxy.restore();
    let conn = &db.conn;
    for env in &during {
        let id = env.id;
        eventually(
            PATIENCE * 2,
            "an event of the outage applied",
            || async move { (times_applied(conn, id).await > 0).then_some(()) },
        )
        .await;
    }
    bus.check().await.expect("ready again");
    assert_eq!(
        applied(&db.conn).await,
        (4, 4),
        "each event applied exactly once"
    );

    let _ = stop.send(());
    consumer
        .await
        .expect("join")
        .expect("consumer ends cleanly");
    let _ = stop_relay.send(());
    relay.stopped().await;
    remove_streams(&bus).await;
}
