//! Request/reply round trips through the bus ([`Bus::request`] to a [`Bus::serve`]d handler)
//! against raw async-nats requests to a raw responder on the same server, in the same run: what
//! the bus adds to a call such as the grid's register lookup.
//!
//! `cargo bench -p zw-bus --bench rpc` (add `-- --quick` for a short run). It needs the NATS
//! 2.10+ of the tests (`ZW_TEST_NATS_URL`). One caller, one request at a time; both handlers
//! answer at once (the lookup's own work is not measured here). It prints the mean, p50 and p99
//! of each, and the ratio of their rates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use zw_bus::{Bus, BusConfig};
use zw_contracts::rpc::{
    PopulationLookup, PopulationLookupReply, PopulationLookupRequest, PopulationRecord,
};

fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
        || std::env::var("ZW_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// (mean, p50, p99) of `times`.
fn summary(mut times: Vec<Duration>) -> (Duration, Duration, Duration) {
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    (mean, at(0.5), at(0.99))
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let n = if quick() { 500 } else { 5_000 };
    let prefix = zw_testkit::unique_prefix();
    let bus = Bus::connect(&BusConfig::nats(zw_testkit::nats_url()).with_prefix(prefix.clone()))
        .await
        .unwrap();
    let record = PopulationRecord {
        id_number: "440304199001011234".into(),
        name: "Bench".into(),
        registered_house_code: None,
    };
    let answer = record.clone();
    let served = bus
        .serve::<PopulationLookup, _, _>(move |_req| {
            let record = answer.clone();
            async move {
                Ok(PopulationLookupReply {
                    record: Some(record),
                })
            }
        })
        .await
        .unwrap();

    // The raw responder answers the same reply bytes on a subject of its own.
    let client = async_nats::connect(zw_testkit::nats_url()).await.unwrap();
    let raw_subject = format!("{prefix}.bench.raw.lookup");
    let reply = Bytes::from(
        serde_json::to_vec(
            &serde_json::json!({"ok": PopulationLookupReply { record: Some(record) }}),
        )
        .unwrap(),
    );
    let mut sub = client.subscribe(raw_subject.clone()).await.unwrap();
    client.flush().await.unwrap();
    let responder = client.clone();
    let raw_server = tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            if let Some(to) = msg.reply {
                responder.publish(to, reply.clone()).await.unwrap();
            }
        }
    });
    let request = PopulationLookupRequest {
        id_number: "440304199001011234".into(),
    };
    let payload = Bytes::from(serde_json::to_vec(&request).unwrap());

    let (mut bus_times, mut raw_times) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for round in 0..2 {
        for path in if round == 0 { [0, 1] } else { [1, 0] } {
            for _ in 0..n / 2 {
                let started = Instant::now();
                if path == 0 {
                    bus.request::<PopulationLookup>(&request).await.unwrap();
                    bus_times.push(started.elapsed());
                } else {
                    client
                        .request(raw_subject.clone(), payload.clone())
                        .await
                        .unwrap();
                    raw_times.push(started.elapsed());
                }
            }
        }
    }
    served.abort();
    raw_server.abort();
    let (bm, b50, b99) = summary(bus_times);
    let (rm, r50, r99) = summary(raw_times);
    println!();
    println!("rpc: {n} request/reply round trips each way, one at a time");
    println!("| path | mean | p50 | p99 |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| bus (`Bus::request` → `Bus::serve`) | {} | {} | {} |",
        ms(bm),
        ms(b50),
        ms(b99)
    );
    println!(
        "| raw async-nats | {} | {} | {} |",
        ms(rm),
        ms(r50),
        ms(r99)
    );
    println!(
        "rpc: bus / raw (rate, one at a time) = {:.2}",
        rm.as_secs_f64() / bm.as_secs_f64()
    );
}
