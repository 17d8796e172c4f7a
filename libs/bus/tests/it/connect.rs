//! Connecting: which servers the bus accepts, and what it says when it does not.

use zw_bus::{Bus, BusConfig, BusError};

#[tokio::test]
async fn connect_refuses_a_server_older_than_2_10() {
    // The machine's own NATS (2.9.10) silently ignores consumer filters: exactly what the
    // version check exists for. This is the only use of that server in the tests.
    let cfg = BusConfig::nats("nats://127.0.0.1:4222").with_prefix(zw_testkit::unique_prefix());
    match Bus::connect(&cfg).await {
        Err(BusError::ServerTooOld { version }) => {
            assert!(version.starts_with("2.9"), "reported version {version}");
            let message = BusError::ServerTooOld { version }.to_string();
            assert!(
                message.contains("2.9") && message.contains("2.10"),
                "{message}"
            );
        }
        Err(other) => panic!("expected ServerTooOld, got {other}"),
        Ok(_) => panic!("connected to an old server"),
    }
}

#[tokio::test]
async fn connect_reports_an_unreachable_server() {
    let cfg = BusConfig::nats("nats://127.0.0.1:1");
    let err = Bus::connect(&cfg)
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(err, BusError::Unreachable(_)), "got {err}");
}

#[tokio::test]
async fn no_url_means_in_process() {
    let bus = Bus::connect(&BusConfig::default())
        .await
        .expect("in process");
    assert!(bus.is_in_process());
    bus.check().await.expect("always ready");
}

#[tokio::test]
async fn a_prefix_that_is_not_a_single_token_is_refused() {
    let cfg = BusConfig::in_process().with_prefix("a.b");
    let err = Bus::connect(&cfg)
        .await
        .expect_err("dots would change the subject structure");
    assert!(matches!(err, BusError::InvalidName(_)), "got {err}");
}

#[tokio::test]
async fn a_nats_bus_creates_its_prefixed_streams() {
    let bus = crate::helpers::nats_bus().await;
    assert!(!bus.is_in_process());
    let client = async_nats::connect(zw_testkit::nats_url())
        .await
        .expect("connect");
    let js = async_nats::jetstream::new(client);
    for kind in [zw_bus::StreamKind::Events, zw_bus::StreamKind::Tasks] {
        let name = zw_bus::subject::stream_name(&bus.config().prefix, kind);
        let mut stream = js.get_stream(&name).await.expect("stream exists");
        let info = stream.info().await.expect("info");
        assert_eq!(info.config.num_replicas, 1);
        assert!(info.config.subjects[0].starts_with(&bus.config().prefix));
    }
    // Connecting again updates the streams in place.
    Bus::connect(bus.config()).await.expect("second connect");
    crate::helpers::remove_streams(&bus).await;
}

#[tokio::test]
async fn a_comma_separated_server_list_is_accepted() {
    let url = zw_testkit::nats_url();
    let cfg = BusConfig::nats(format!("{url}, {url}")).with_prefix(zw_testkit::unique_prefix());
    let bus = Bus::connect(&cfg)
        .await
        .expect("connect to a list of servers");
    bus.check().await.expect("ready");
    crate::helpers::remove_streams(&bus).await;
}
