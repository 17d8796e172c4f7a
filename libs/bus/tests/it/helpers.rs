//! Buses, events and receive helpers shared by the test modules.

use std::time::Duration;

use bytes::Bytes;
use uuid::Uuid;
use zw_bus::{Bus, BusConfig, Delivery, OutgoingMessage, StreamKind, Subscription};
use zw_contracts::events::{DeclarationStatus, DeclarationSubmitted};
use zw_contracts::{Actor, Envelope, Event};
use zw_domain::JurisdictionCode;

/// Short enough that redelivery tests run in about a second, long enough for a loaded machine.
pub const ACK_WAIT: Duration = Duration::from_secs(1);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest any single expected delivery may take.
pub const PATIENCE: Duration = Duration::from_secs(15);

fn config(url: Option<String>) -> BusConfig {
    BusConfig {
        url,
        prefix: zw_testkit::unique_prefix(),
        stream_replicas: 1,
        request_timeout: REQUEST_TIMEOUT,
    }
}

/// A bus on the test NATS server, under a prefix of its own.
pub async fn nats_bus() -> Bus {
    let cfg = config(Some(zw_testkit::nats_url()));
    Bus::connect(&cfg)
        .await
        .expect("connect to the test NATS server")
        .with_ack_wait(ACK_WAIT)
}

/// An in-process bus.
pub fn memory_bus() -> Bus {
    Bus::in_process(&config(None)).with_ack_wait(ACK_WAIT)
}

/// The same bus after a process restart, for what survives one: a new NATS connection; in
/// process, the same value (the in-memory streams live exactly as long as the process).
pub async fn restarted(bus: &Bus) -> Bus {
    if bus.is_in_process() {
        return bus.clone();
    }
    Bus::connect(bus.config())
        .await
        .expect("reconnect")
        .with_ack_wait(bus.ack_wait())
}

/// Delete the streams a NATS test created (best effort: a failed test leaves them behind, under
/// its unique prefix).
pub async fn remove_streams(bus: &Bus) {
    let Some(url) = bus.config().url.clone() else {
        return;
    };
    let Ok(client) = async_nats::connect(url).await else {
        return;
    };
    let js = async_nats::jetstream::new(client);
    for kind in [StreamKind::Events, StreamKind::Tasks] {
        let _ = js
            .delete_stream(zw_bus::subject::stream_name(&bus.config().prefix, kind))
            .await;
    }
}

/// The next delivery, or a failed test.
pub async fn next(sub: &mut Subscription) -> Delivery {
    match tokio::time::timeout(PATIENCE, sub.next()).await {
        Ok(Some(Ok(d))) => d,
        Ok(Some(Err(e))) => panic!("receive error: {e}"),
        Ok(None) => panic!("the subscription ended"),
        Err(_) => panic!("no delivery within {PATIENCE:?}"),
    }
}

/// A declaration event in `grid` (a 15-digit jurisdiction code).
pub fn event_in(grid: &str) -> Envelope {
    let grid = JurisdictionCode::parse(grid).expect("valid jurisdiction code");
    let ev = Event::DeclarationSubmitted(DeclarationSubmitted {
        declaration_id: Uuid::now_v7(),
        house_code: "44030400800100300017".into(),
        status: DeclarationStatus::Accepted,
        version: 1,
        reasons: vec![],
    });
    Envelope::new(&ev, grid, Actor::system("test"))
}

/// A raw message on `subject` with a fresh id.
pub fn raw(kind: StreamKind, subject: &str, body: &str) -> OutgoingMessage {
    OutgoingMessage {
        id: Uuid::now_v7(),
        subject: subject.to_owned(),
        kind,
        payload: Bytes::from(body.to_owned()),
        headers: vec![],
    }
}
