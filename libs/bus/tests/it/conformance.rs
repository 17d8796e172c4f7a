//! The conformance suite: every behaviour is written once, as a function of a [`Bus`], and runs
//! against NATS JetStream (`conformance::nats::…`) and the in-process bus
//! (`conformance::in_process::…`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Mutex;
use zw_bus::{Bus, BusError, ConsumerSpec, FanoutSpec, OutgoingMessage, StreamKind};
use zw_contracts::rpc::{
    PopulationLookup, PopulationLookupReply, PopulationLookupRequest, PopulationRecord, RpcError,
};

use crate::helpers::{PATIENCE, event_in, next, raw, restarted};

macro_rules! conformance {
    ($($behaviour:ident),* $(,)?) => {
        mod nats {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    let bus = crate::helpers::nats_bus().await;
                    super::$behaviour(bus.clone()).await;
                    crate::helpers::remove_streams(&bus).await;
                }
            )*
        }
        mod in_process {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    super::$behaviour(crate::helpers::memory_bus()).await;
                }
            )*
        }
    };
}

conformance!(
    a_filtered_consumer_sees_only_its_subjects,
    every_durable_consumer_sees_every_event,
    the_same_message_id_is_stored_once,
    a_nak_brings_the_message_back,
    an_unacked_message_is_redelivered_to_the_same_durable_after_a_restart,
    a_task_goes_to_exactly_one_of_two_competing_consumers,
    task_consumers_with_overlapping_filters_are_refused,
    two_servers_share_the_requests,
    a_remote_error_comes_back_as_remote,
    a_request_nobody_serves_fails_with_no_responders,
    a_request_without_a_reply_times_out,
    subjects_outside_the_contract_are_refused,
    the_bus_is_ready,
    every_fanout_subscription_gets_every_matching_event,
    a_fanout_subscription_since_a_time_starts_with_the_events_stored_since,
    a_fanout_subscription_without_a_start_sees_only_new_events,
    a_fanout_subscription_outside_the_events_stream_is_refused,
);

async fn a_filtered_consumer_sees_only_its_subjects(bus: Bus) {
    let in_008 = event_in("440304008001003");
    let in_009 = event_in("440304009001001");
    let also_008 = event_in("440304008002001");
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned();
    let mut first = OutgoingMessage::event(&in_008, vec![]).expect("encode");
    first.headers.push(("traceparent".into(), tp.clone()));
    bus.publish(first).await.expect("publish");
    for env in [&in_009, &also_008] {
        bus.publish(OutgoingMessage::event(env, vec![]).expect("encode"))
            .await
            .expect("publish");
    }

    let mut sub = bus
        .subscribe(ConsumerSpec::events(
            "street-008",
            vec!["zw.evt.440304.008.>".into()],
        ))
        .await
        .expect("subscribe");
    let d = next(&mut sub).await;
    assert_eq!(d.id, in_008.id.to_string(), "Nats-Msg-Id is the event id");
    assert_eq!(
        d.subject,
        in_008.subject(),
        "callers see contract subjects, never the prefix"
    );
    assert_eq!(
        d.header("traceparent"),
        Some(tp.as_str()),
        "trace context travels in headers"
    );
    assert!(!d.redelivered());
    let back = zw_contracts::Envelope::from_bytes(&d.payload).expect("an envelope");
    assert_eq!(back, in_008);
    d.ack().await.expect("ack");
    // The 009 event sits between the two 008 ones in the stream: receiving the second 008
    // event next proves the consumer skipped it.
    let d = next(&mut sub).await;
    assert_eq!(
        d.id,
        also_008.id.to_string(),
        "a 008 consumer never sees a 009 event"
    );
    d.ack().await.expect("ack");

    // Several filters at once, wildcards in the middle.
    let mut sub = bus
        .subscribe(ConsumerSpec::events(
            "district-declarations",
            vec![
                "zw.evt.440304.009.>".into(),
                "zw.evt.440304.*.002.*.declaration.*".into(),
            ],
        ))
        .await
        .expect("subscribe");
    let got: Vec<String> = vec![next(&mut sub).await, next(&mut sub).await]
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(got, vec![in_009.id.to_string(), also_008.id.to_string()]);
}

async fn every_durable_consumer_sees_every_event(bus: Bus) {
    let env = event_in("440304008001003");
    bus.publish(OutgoingMessage::event(&env, vec![]).expect("encode"))
        .await
        .expect("publish");
    for durable in ["projection-a", "projection-b"] {
        let mut sub = bus
            .subscribe(ConsumerSpec::events(durable, vec!["zw.evt.>".into()]))
            .await
            .expect("subscribe");
        let d = next(&mut sub).await;
        assert_eq!(d.id, env.id.to_string(), "{durable} gets the event");
        d.ack().await.expect("ack");
    }
}

async fn the_same_message_id_is_stored_once(bus: Bus) {
    let dup = raw(
        StreamKind::Events,
        "zw.evt.440304.008.001.003.test.dup",
        "one",
    );
    bus.publish(dup.clone()).await.expect("publish");
    bus.publish(dup.clone())
        .await
        .expect("publishing a duplicate is not an error");
    bus.publish_batch(&[dup.clone(), dup.clone()])
        .await
        .expect("batch");
    let marker = raw(
        StreamKind::Events,
        "zw.evt.440304.008.001.003.test.marker",
        "end",
    );
    bus.publish(marker.clone()).await.expect("publish");

    let mut sub = bus
        .subscribe(ConsumerSpec::events("dedup", vec![]))
        .await
        .expect("subscribe");
    let d = next(&mut sub).await;
    assert_eq!(d.id, dup.id.to_string());
    assert_eq!(d.payload, Bytes::from("one"));
    d.ack().await.expect("ack");
    let d = next(&mut sub).await;
    assert_eq!(d.id, marker.id.to_string(), "the duplicates were dropped");
    d.ack().await.expect("ack");
}

async fn a_nak_brings_the_message_back(bus: Bus) {
    let msg = raw(
        StreamKind::Events,
        "zw.evt.440304.008.001.003.test.nak",
        "x",
    );
    bus.publish(msg.clone()).await.expect("publish");
    let mut sub = bus
        .subscribe(ConsumerSpec::events("naker", vec![]))
        .await
        .expect("subscribe");
    let d = next(&mut sub).await;
    assert_eq!(
        (d.id.as_str(), d.delivery_count()),
        (msg.id.to_string().as_str(), 1)
    );
    d.nak(Duration::from_millis(50)).await.expect("nak");
    let d = next(&mut sub).await;
    assert_eq!(d.id, msg.id.to_string());
    assert!(d.redelivered());
    assert_eq!(d.delivery_count(), 2);
    d.ack().await.expect("ack");

    let marker = raw(
        StreamKind::Events,
        "zw.evt.440304.008.001.003.test.marker",
        "end",
    );
    bus.publish(marker.clone()).await.expect("publish");
    let d = next(&mut sub).await;
    assert_eq!(
        d.id,
        marker.id.to_string(),
        "an acked message does not come back"
    );
    d.ack().await.expect("ack");
}

async fn an_unacked_message_is_redelivered_to_the_same_durable_after_a_restart(bus: Bus) {
    let msg = raw(
        StreamKind::Events,
        "zw.evt.440304.008.001.003.test.crash",
        "x",
    );
    bus.publish(msg.clone()).await.expect("publish");
    let spec = ConsumerSpec::events("crashy", vec!["zw.evt.440304.>".into()]);
    {
        let mut sub = bus.subscribe(spec.clone()).await.expect("subscribe");
        let d = next(&mut sub).await;
        assert_eq!(d.id, msg.id.to_string());
        // The process dies here: no ack, no nak.
        drop(d);
    }
    let bus = restarted(&bus).await;
    let mut sub = bus.subscribe(spec).await.expect("subscribe again");
    let d = next(&mut sub).await;
    assert_eq!(
        d.id,
        msg.id.to_string(),
        "the unacked message comes back after the ack wait"
    );
    assert!(d.redelivered());
    d.ack().await.expect("ack");
}

async fn a_task_goes_to_exactly_one_of_two_competing_consumers(bus: Bus) {
    const TASKS: usize = 20;
    let spec = ConsumerSpec::tasks("verifiers", vec!["zw.task.grid.>".into()]);
    let seen: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let mut workers = Vec::new();
    for worker in 0..2 {
        let mut sub = bus.subscribe(spec.clone()).await.expect("subscribe");
        let seen = seen.clone();
        workers.push(tokio::spawn(async move {
            while let Some(Ok(d)) = sub.next().await {
                seen.lock().await.push((worker, d.id.clone()));
                d.ack().await.expect("ack");
            }
        }));
    }
    let mut ids = HashSet::new();
    for i in 0..TASKS {
        let task = raw(
            StreamKind::Tasks,
            "zw.task.grid.verify",
            &format!("task {i}"),
        );
        ids.insert(task.id.to_string());
        bus.publish(task).await.expect("publish task");
    }
    zw_testkit::eventually(PATIENCE, "every task consumed", || {
        let seen = seen.clone();
        async move { (seen.lock().await.len() >= TASKS).then_some(()) }
    })
    .await;
    let seen = seen.lock().await.clone();
    let got: HashSet<String> = seen.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(seen.len(), TASKS, "no task delivered twice: {seen:?}");
    assert_eq!(got, ids);
    for w in &workers {
        w.abort();
    }

    // Acknowledged tasks are gone from the work queue: a fresh subscription starts after them.
    let marker = raw(StreamKind::Tasks, "zw.task.grid.verify", "marker");
    bus.publish(marker.clone()).await.expect("publish");
    let mut sub = bus.subscribe(spec).await.expect("subscribe");
    let d = next(&mut sub).await;
    assert_eq!(d.id, marker.id.to_string());
    d.ack().await.expect("ack");
}

async fn task_consumers_with_overlapping_filters_are_refused(bus: Bus) {
    let _first = bus
        .subscribe(ConsumerSpec::tasks(
            "narrow",
            vec!["zw.task.grid.verify".into()],
        ))
        .await
        .expect("subscribe");
    let clash = bus
        .subscribe(ConsumerSpec::tasks("wide", vec!["zw.task.grid.>".into()]))
        .await;
    assert!(matches!(clash, Err(BusError::Setup(_))), "got {clash:?}");
    let apart = bus
        .subscribe(ConsumerSpec::tasks(
            "other",
            vec!["zw.task.credit.>".into()],
        ))
        .await;
    assert!(apart.is_ok(), "disjoint filters are fine: {apart:?}");
}

fn lookup(id: &str) -> PopulationLookupRequest {
    PopulationLookupRequest {
        id_number: id.to_owned(),
    }
}

async fn two_servers_share_the_requests(bus: Bus) {
    const REQUESTS: usize = 40;
    let counts: Arc<Vec<AtomicUsize>> = Arc::new(vec![AtomicUsize::new(0), AtomicUsize::new(0)]);
    let mut servers = Vec::new();
    for server in 0..2usize {
        let counts = counts.clone();
        servers.push(
            bus.serve::<PopulationLookup, _, _>(move |req: PopulationLookupRequest| {
                let counts = counts.clone();
                async move {
                    counts[server].fetch_add(1, Ordering::SeqCst);
                    Ok(PopulationLookupReply {
                        record: Some(PopulationRecord {
                            id_number: req.id_number,
                            name: format!("server {server}"),
                            registered_house_code: None,
                        }),
                    })
                }
            })
            .await
            .expect("serve"),
        );
    }
    let mut by_server: HashMap<String, usize> = HashMap::new();
    for i in 0..REQUESTS {
        let id = format!("44030419900101{i:04}");
        let reply = bus
            .request::<PopulationLookup>(&lookup(&id))
            .await
            .expect("request");
        let record = reply.record.expect("a record");
        assert_eq!(record.id_number, id, "each reply answers its own request");
        *by_server.entry(record.name).or_default() += 1;
    }
    assert_eq!(by_server.values().sum::<usize>(), REQUESTS);
    assert_eq!(
        by_server.len(),
        2,
        "both servers took requests: {by_server:?}"
    );
    for s in servers {
        s.abort();
    }
}

async fn a_remote_error_comes_back_as_remote(bus: Bus) {
    let server = bus
        .serve::<PopulationLookup, _, _>(|_req| async {
            Err(RpcError {
                code: "not_found".into(),
                message: "no such register".into(),
            })
        })
        .await
        .expect("serve");
    let err = bus
        .request::<PopulationLookup>(&lookup("x"))
        .await
        .expect_err("an error");
    match err {
        BusError::Remote(e) => assert_eq!(e.code, "not_found"),
        other => panic!("expected Remote, got {other:?}"),
    }
    server.abort();
}

async fn a_request_nobody_serves_fails_with_no_responders(bus: Bus) {
    let err = bus
        .request::<PopulationLookup>(&lookup("x"))
        .await
        .expect_err("nobody serves");
    assert!(matches!(err, BusError::NoResponders), "got {err:?}");

    // A server that stops is no longer a responder.
    let server = bus
        .serve::<PopulationLookup, _, _>(|_req| async {
            Ok(PopulationLookupReply { record: None })
        })
        .await
        .expect("serve");
    bus.request::<PopulationLookup>(&lookup("x"))
        .await
        .expect("served");
    server.abort();
    zw_testkit::eventually(PATIENCE, "no responders after the server stopped", || {
        let bus = bus.clone();
        async move {
            matches!(
                bus.request::<PopulationLookup>(&lookup("x")).await,
                Err(BusError::NoResponders)
            )
            .then_some(())
        }
    })
    .await;
}

async fn a_request_without_a_reply_times_out(bus: Bus) {
    let server = bus
        .serve::<PopulationLookup, _, _>(|_req| async {
            // A server that never answers.
            std::future::pending::<()>().await;
            Ok(PopulationLookupReply { record: None })
        })
        .await
        .expect("serve");
    let started = tokio::time::Instant::now();
    let err = bus
        .request::<PopulationLookup>(&lookup("x"))
        .await
        .expect_err("no reply");
    assert!(matches!(err, BusError::Timeout), "got {err:?}");
    let waited = started.elapsed();
    let timeout = bus.config().request_timeout;
    assert!(
        waited >= timeout && waited < timeout * 3,
        "waited {waited:?} for {timeout:?}"
    );
    server.abort();
}

async fn subjects_outside_the_contract_are_refused(bus: Bus) {
    let wrong_stream = raw(StreamKind::Tasks, "zw.evt.440304.008.001.003.a.b", "x");
    assert!(matches!(
        bus.publish(wrong_stream).await,
        Err(BusError::InvalidSubject(_))
    ));
    let wildcard = raw(StreamKind::Events, "zw.evt.440304.*", "x");
    assert!(matches!(
        bus.publish(wildcard).await,
        Err(BusError::InvalidSubject(_))
    ));
    let mut reserved = raw(StreamKind::Events, "zw.evt.440304.008.001.003.a.b", "x");
    reserved
        .headers
        .push(("Nats-Msg-Id".into(), "forged".into()));
    assert!(matches!(
        bus.publish(reserved).await,
        Err(BusError::InvalidName(_))
    ));
    let filter = ConsumerSpec::events("x", vec!["zw.task.>".into()]);
    assert!(matches!(
        bus.subscribe(filter).await,
        Err(BusError::InvalidSubject(_))
    ));
    let name = ConsumerSpec::events("a.b", vec![]);
    assert!(matches!(
        bus.subscribe(name).await,
        Err(BusError::InvalidName(_))
    ));
}

async fn the_bus_is_ready(bus: Bus) {
    bus.check().await.expect("ready");
}

/// Publish `envs` as events, in order.
async fn publish_events(bus: &Bus, envs: &[&zw_contracts::Envelope]) {
    for env in envs {
        bus.publish(OutgoingMessage::event(env, vec![]).expect("encode"))
            .await
            .expect("publish");
    }
}

async fn every_fanout_subscription_gets_every_matching_event(bus: Bus) {
    let filter = vec!["zw.evt.440304.008.>".to_owned()];
    // Two processes (or two replicas of one service) and a durable consumer of the same events:
    // a fan-out is not a queue, so nobody takes an event away from anybody else.
    let mut first = bus
        .subscribe_fanout(FanoutSpec::new(filter.clone()))
        .await
        .expect("fan-out");
    let mut second = bus
        .subscribe_fanout(FanoutSpec::new(filter.clone()))
        .await
        .expect("fan-out");
    let mut durable = bus
        .subscribe(ConsumerSpec::events("fanout-neighbour", filter))
        .await
        .expect("durable");
    let (a, other, b) = (
        event_in("440304008001003"),
        event_in("440304009001001"),
        event_in("440304008002001"),
    );
    publish_events(&bus, &[&a, &other, &b]).await;

    for sub in [&mut first, &mut second] {
        let d = next(sub).await;
        assert_eq!(d.id, a.id.to_string());
        assert_eq!(
            d.subject,
            a.subject(),
            "contract subjects, never the prefix"
        );
        assert!(!d.redelivered());
        assert_eq!(
            zw_contracts::Envelope::from_bytes(&d.payload).expect("envelope"),
            a
        );
        d.ack()
            .await
            .expect("acknowledging a fan-out delivery is a no-op");
        // Not acknowledging it does not bring it back either: the next one is b, and the 009
        // event in between was filtered out.
        let d = next(sub).await;
        assert_eq!(d.id, b.id.to_string());
    }
    let d = next(&mut durable).await;
    assert_eq!(d.id, a.id.to_string(), "the durable consumer still gets a");
    d.ack().await.expect("ack");
}

async fn a_fanout_subscription_since_a_time_starts_with_the_events_stored_since(bus: Bus) {
    let before = event_in("440304008001003");
    publish_events(&bus, &[&before]).await;
    // `before` is stored (acknowledged by the stream) before this instant, `after` after it.
    let cut = chrono::Utc::now();
    let after = event_in("440304008001004");
    publish_events(&bus, &[&after]).await;

    // A process starting now, wanting the events of the last few minutes.
    let mut since_cut = bus
        .subscribe_fanout(FanoutSpec::new(vec!["zw.evt.>".into()]).since(cut))
        .await
        .expect("fan-out");
    assert_eq!(next(&mut since_cut).await.id, after.id.to_string());

    let mut since_long_ago = bus
        .subscribe_fanout(
            FanoutSpec::new(vec!["zw.evt.>".into()]).since(cut - chrono::Duration::minutes(15)),
        )
        .await
        .expect("fan-out");
    assert_eq!(next(&mut since_long_ago).await.id, before.id.to_string());
    assert_eq!(next(&mut since_long_ago).await.id, after.id.to_string());

    let live = event_in("440304008001005");
    publish_events(&bus, &[&live]).await;
    assert_eq!(
        next(&mut since_cut).await.id,
        live.id.to_string(),
        "after the stored events come the new ones"
    );
}

async fn a_fanout_subscription_without_a_start_sees_only_new_events(bus: Bus) {
    let old = event_in("440304008001003");
    publish_events(&bus, &[&old]).await;
    let mut sub = bus
        .subscribe_fanout(FanoutSpec::new(vec![]))
        .await
        .expect("fan-out");
    let new = event_in("440304008001004");
    publish_events(&bus, &[&new]).await;
    assert_eq!(
        next(&mut sub).await.id,
        new.id.to_string(),
        "what was stored before the subscription is not delivered"
    );
}

async fn a_fanout_subscription_outside_the_events_stream_is_refused(bus: Bus) {
    for filter in ["zw.task.>", "zw.evt.>.x", "elsewhere.>"] {
        assert!(
            matches!(
                bus.subscribe_fanout(FanoutSpec::new(vec![filter.into()]))
                    .await,
                Err(BusError::InvalidSubject(_))
            ),
            "{filter}"
        );
    }
}
