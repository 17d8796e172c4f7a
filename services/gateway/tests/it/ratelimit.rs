//! Rate limits per principal, or per client address when anonymous: in Redis (shared by every
//! gateway replica) and in memory (one process).

use std::time::Duration;

use crate::helpers::{TestGateway, closed_port_url, problem, spawn_gateway_with, use_real_redis};

const LIMIT: u32 = 3;

/// `LIMIT` requests with `token` pass; the next is a 429 problem with `Retry-After`.
async fn assert_limited_after_the_limit(gw: &TestGateway, token: Option<&str>) {
    let send = || async {
        let req = gw.client.get(gw.at("/api/v1/grid/ping"));
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        req.send().await.expect("answer")
    };
    for n in 1..=LIMIT {
        assert_eq!(
            send().await.status(),
            200,
            "request {n} is within the limit"
        );
    }
    let res = send().await;
    assert_eq!(res.status(), 429);
    let retry_after: u64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header in seconds");
    assert!((1..=60).contains(&retry_after), "retry after {retry_after}");
    assert_eq!(problem(res).await["code"], "rate-limited");
    assert_eq!(
        gw.grid.seen().len(),
        LIMIT as usize,
        "the refused request was not forwarded"
    );
}

fn small_limit(s: &mut crate::helpers::Setup) {
    s.settings.gateway.rate_limit_per_minute = LIMIT;
}

#[tokio::test]
async fn a_principal_is_limited_in_redis_after_n_requests_in_the_window() {
    let gw = spawn_gateway_with(|s| {
        small_limit(s);
        use_real_redis(s);
    })
    .await;
    let alice = gw.citizen("alice");

    assert_limited_after_the_limit(&gw, Some(&alice)).await;

    let bob = gw.citizen("bob");
    assert_eq!(
        gw.get_as("/api/v1/grid/ping", &bob).await.status(),
        200,
        "bob has his own count"
    );
}

#[tokio::test]
async fn anonymous_requests_are_limited_in_redis_by_client_address() {
    let gw = spawn_gateway_with(|s| {
        small_limit(s);
        use_real_redis(s);
    })
    .await;

    assert_limited_after_the_limit(&gw, None).await;
}

#[tokio::test]
async fn gateway_replicas_sharing_redis_share_the_count() {
    let prefix = zw_testkit::unique_prefix();
    let shared = |s: &mut crate::helpers::Setup| {
        small_limit(s);
        use_real_redis(s);
        s.settings.redis.key_prefix = prefix.clone();
    };
    let first = spawn_gateway_with(shared).await;
    let second = spawn_gateway_with(shared).await;
    // Both gateways trust the first one's issuer only through its own verifier, so count
    // anonymous requests: the client address is the same for both.
    for _ in 0..LIMIT {
        assert_eq!(first.get("/api/v1/grid/ping").await.status(), 200);
    }

    assert_eq!(second.get("/api/v1/grid/ping").await.status(), 429);
}

#[tokio::test]
async fn a_principal_is_limited_in_memory_without_redis() {
    let gw = spawn_gateway_with(small_limit).await;
    let alice = gw.citizen("alice");

    assert_limited_after_the_limit(&gw, Some(&alice)).await;
}

#[tokio::test]
async fn anonymous_requests_are_limited_in_memory_by_client_address() {
    let gw = spawn_gateway_with(small_limit).await;

    assert_limited_after_the_limit(&gw, None).await;
}

#[tokio::test]
async fn bad_tokens_count_against_the_client_address() {
    let gw = spawn_gateway_with(small_limit).await;

    for _ in 0..LIMIT {
        assert_eq!(
            gw.get_as("/api/v1/grid/ping", "not-a-token").await.status(),
            401
        );
    }

    assert_eq!(
        gw.get_as("/api/v1/grid/ping", "not-a-token").await.status(),
        429
    );
    assert_eq!(
        gw.get("/api/v1/grid/ping").await.status(),
        429,
        "same address, same count"
    );
}

#[tokio::test]
async fn the_window_resets_and_requests_pass_again() {
    let gw = spawn_gateway_with(|s| {
        small_limit(s);
        use_real_redis(s);
        s.options.rate_limit_window = Duration::from_secs(2);
    })
    .await;
    for _ in 0..LIMIT {
        gw.get("/api/v1/grid/ping").await;
    }
    assert_eq!(gw.get("/api/v1/grid/ping").await.status(), 429);

    zw_testkit::eventually(Duration::from_secs(10), "the window to reset", || async {
        (gw.get("/api/v1/grid/ping").await.status() == 200).then_some(())
    })
    .await;
}

#[tokio::test]
async fn when_redis_is_down_requests_pass_unlimited_and_the_gateway_stays_ready_naming_redis_degraded()
 {
    let gw = spawn_gateway_with(|s| {
        small_limit(s);
        s.settings.redis.url = closed_port_url().replace("http://", "redis://");
    })
    .await;

    for n in 1..=LIMIT + 2 {
        assert_eq!(
            gw.get("/api/v1/grid/ping").await.status(),
            200,
            "request {n} fails open"
        );
    }
    // Still serving, so still ready (not taken out of rotation), with Redis named as degraded.
    let ready = gw.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let report: serde_json::Value = ready.json().await.expect("a readiness report");
    assert_eq!(report["ready"], true, "{report}");
    assert_eq!(report["degraded"], serde_json::json!(["redis"]), "{report}");
    let redis = report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == "redis"))
        .unwrap_or_else(|| panic!("the report names the redis check: {report}"));
    assert_eq!(redis["ok"], false, "{report}");
    assert_eq!(redis["required"], false, "{report}");
}

#[tokio::test]
async fn with_redis_up_the_gateway_is_ready() {
    let gw = spawn_gateway_with(use_real_redis).await;

    let ready = gw.get("/readyz").await;

    assert_eq!(ready.status(), 200);
    let report: serde_json::Value = ready.json().await.expect("a readiness report");
    assert!(report.get("degraded").is_none(), "{report}");
    assert_eq!(report["checks"][0]["name"], "redis");
    assert_eq!(report["checks"][0]["ok"], true, "{report}");
}
