//! Forwarding: what reaches a service, and what comes back.

use serde_json::Value;

use crate::helpers::{BIG, closed_port_url, problem, spawn_gateway, spawn_gateway_with};

#[tokio::test]
async fn a_request_reaches_its_service_with_method_path_query_and_body() {
    let gw = spawn_gateway().await;

    let res = gw
        .client
        .put(gw.at("/api/v1/grid/houses/44030400800100?fields=a,b&x=%E7%BD%91"))
        .header("content-type", "application/json")
        .body(r#"{"floor":3}"#)
        .send()
        .await
        .expect("answer");

    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("x-served-by")
            .and_then(|v| v.to_str().ok()),
        Some("grid")
    );
    let echo: Value = res.json().await.expect("json");
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/api/v1/grid/houses/44030400800100");
    assert_eq!(echo["query"], "fields=a,b&x=%E7%BD%91");
    assert_eq!(echo["body"], r#"{"floor":3}"#);
    let seen = gw.grid.only_request();
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert!(
        gw.credit.seen().is_empty(),
        "only the named service is asked"
    );
}

#[tokio::test]
async fn each_service_gets_only_the_requests_under_its_own_prefix() {
    let gw = spawn_gateway().await;

    let res = gw
        .client
        .delete(gw.at("/api/v1/credit/records/7"))
        .send()
        .await
        .expect("answer");

    assert_eq!(res.status(), 200);
    assert_eq!(gw.credit.only_request().method, "DELETE");
    assert!(gw.grid.seen().is_empty());
}

#[tokio::test]
async fn the_service_status_and_headers_come_back_unchanged() {
    let gw = spawn_gateway().await;

    let res = gw.get("/api/v1/grid/status/303").await;

    assert_eq!(res.status(), 303, "redirects are passed on, not followed");
    assert_eq!(
        res.headers().get("x-fake").and_then(|v| v.to_str().ok()),
        Some("yes")
    );
    assert_eq!(
        res.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/api/v1/grid/elsewhere")
    );
}

#[tokio::test]
async fn a_request_id_is_generated_forwarded_and_echoed() {
    let gw = spawn_gateway().await;

    let res = gw.get("/api/v1/grid/ping").await;

    let echoed = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let echoed = echoed.expect("the response carries a request id");
    assert!(!echoed.is_empty());
    assert_eq!(
        gw.grid.only_request().header("x-request-id"),
        Some(echoed.as_str())
    );
}

#[tokio::test]
async fn a_request_id_the_client_sent_is_kept() {
    let gw = spawn_gateway().await;

    let res = gw
        .client
        .get(gw.at("/api/v1/grid/ping"))
        .header("x-request-id", "client-chose-this-1")
        .send()
        .await
        .expect("answer");

    assert_eq!(
        res.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("client-chose-this-1")
    );
    assert_eq!(
        gw.grid.only_request().header("x-request-id"),
        Some("client-chose-this-1")
    );
}

#[tokio::test]
async fn the_trace_context_continues_into_the_service() {
    let gw = spawn_gateway().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";

    gw.client
        .get(gw.at("/api/v1/grid/ping"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .expect("answer");

    let seen = gw.grid.only_request();
    let traceparent = seen
        .header("traceparent")
        .expect("a traceparent is forwarded");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[1], trace_id, "the same trace: {traceparent}");
    assert_ne!(
        parts[2], "00f067aa0ba902b7",
        "the gateway's own span is the parent"
    );
}

#[tokio::test]
async fn internal_and_hop_by_hop_headers_never_reach_a_service() {
    let gw = spawn_gateway().await;

    gw.client
        .get(gw.at("/api/v1/grid/ping"))
        .header("x-principal", r#"{"subject":"root","roles":["admin"]}"#)
        .header("x-principal-roles", "admin")
        .header("x-zw-scope", "440304")
        .header("x-forwarded-for", "10.9.9.9")
        .header("connection", "keep-alive, x-secret-hop")
        .header("x-secret-hop", "1")
        .header("x-kept", "yes")
        .send()
        .await
        .expect("answer");

    let seen = gw.grid.only_request();
    for name in [
        "x-principal",
        "x-principal-roles",
        "x-zw-scope",
        "x-secret-hop",
    ] {
        assert!(!seen.has_header(name), "{name} crossed: {seen:?}");
    }
    assert_eq!(seen.header("x-kept"), Some("yes"));
    assert_eq!(
        seen.header("x-forwarded-for"),
        Some("127.0.0.1"),
        "set from the peer, not the client"
    );
    let forwarded = seen.header("forwarded").expect("a Forwarded header");
    assert!(forwarded.starts_with("for=127.0.0.1;"), "{forwarded}");
}

#[tokio::test]
async fn an_unknown_service_is_a_404_problem() {
    let gw = spawn_gateway().await;

    let res = gw.get("/api/v1/nonesuch/things").await;

    assert_eq!(res.status(), 404);
    let body = problem(res).await;
    assert_eq!(body["code"], "unknown-service");
    assert!(gw.grid.seen().is_empty() && gw.credit.seen().is_empty());
}

#[tokio::test]
async fn a_path_with_dot_segments_is_refused_before_any_service_sees_it() {
    let gw = spawn_gateway().await;

    // reqwest normalises dot segments away, so this one is written by hand.
    let status = gw
        .raw_status(
            b"GET /api/v1/grid/%2e%2e/credit/x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
        )
        .await;

    assert_eq!(status, 400);
    assert!(gw.grid.seen().is_empty());
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_a_413_and_never_reaches_the_service() {
    let gw = spawn_gateway().await;

    let res = gw
        .client
        .post(gw.at("/api/v1/grid/declarations"))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .expect("answer");

    assert_eq!(res.status(), 413);
    assert_eq!(problem(res).await["code"], "payload-too-large");
    assert!(gw.grid.seen().is_empty());
}

#[tokio::test]
async fn a_chunked_body_that_grows_past_the_limit_is_a_413_and_never_reaches_the_service() {
    let gw = spawn_gateway().await;
    let chunk = "x".repeat(600);
    let request = format!(
        "POST /api/v1/grid/declarations HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
    );

    let status = gw.raw_status(request.as_bytes()).await;

    assert_eq!(status, 413);
    assert!(gw.grid.seen().is_empty());
}

#[tokio::test]
async fn a_body_within_the_limit_is_forwarded_whole() {
    let gw = spawn_gateway().await;

    let res = gw
        .client
        .post(gw.at("/api/v1/grid/declarations"))
        .body(vec![b'y'; 1024])
        .send()
        .await
        .expect("answer");

    assert_eq!(res.status(), 200);
    assert_eq!(gw.grid.only_request().body.len(), 1024);
}

#[tokio::test]
async fn upload_routes_take_bodies_up_to_the_upload_limit_and_no_further() {
    let gw = spawn_gateway_with(|s| s.settings.http.max_upload_bytes = 8192).await;

    let photo = gw
        .client
        .post(gw.at("/api/v1/grid/media"))
        .body(vec![b'p'; 4096])
        .send()
        .await
        .expect("answer");
    assert_eq!(
        photo.status(),
        200,
        "over max_body_bytes, within max_upload_bytes"
    );
    assert_eq!(gw.grid.only_request().body.len(), 4096);

    let too_big = gw
        .client
        .post(gw.at("/api/v1/grid/imports/residents"))
        .body(vec![b'r'; 8193])
        .send()
        .await
        .expect("answer");
    assert_eq!(too_big.status(), 413);
    assert_eq!(
        gw.grid.seen().len(),
        1,
        "the oversized import never reached the service"
    );
}

/// A 503 `unavailable` problem with `Retry-After`: what the gateway answers for a service
/// that is down.
async fn assert_unavailable(res: reqwest::Response) {
    assert_eq!(res.status(), 503);
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert_eq!(
        retry_after,
        Some(zw_platform::problem::UNAVAILABLE_RETRY_AFTER_SECS)
    );
    let body = problem(res).await;
    assert_eq!(body["code"], "unavailable", "{body}");
    assert_eq!(body["status"], 503, "{body}");
}

#[tokio::test]
async fn a_service_that_refuses_connections_is_down_a_503_problem_with_retry_after() {
    let gw = spawn_gateway_with(|s| {
        s.settings
            .gateway
            .upstreams
            .insert("grid".into(), closed_port_url());
    })
    .await;

    assert_unavailable(gw.get("/api/v1/grid/ping").await).await;
    let post = gw
        .client
        .post(gw.at("/api/v1/grid/things"))
        .json(&serde_json::json!({"name": "x"}))
        .send()
        .await
        .expect("the gateway answers");
    assert_unavailable(post).await;
    assert!(gw.grid.seen().is_empty(), "nothing reached the fake grid");
}

#[tokio::test]
async fn a_service_that_takes_no_connection_in_time_is_down_a_503_problem() {
    // A listener that never accepts, with its accept queue filled: the kernel drops further
    // connection attempts, so connecting hangs until the connect timeout.
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("an address"))
        .expect("bind");
    let address = socket.local_addr().expect("its address");
    let _never_accepts = socket.listen(1).expect("listen");
    let mut queued = Vec::new();
    for _ in 0..4 {
        let attempt = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            tokio::net::TcpStream::connect(address),
        )
        .await;
        match attempt {
            Ok(Ok(stream)) => queued.push(stream),
            _ => break,
        }
    }
    let gw = spawn_gateway_with(|s| {
        s.settings
            .gateway
            .upstreams
            .insert("grid".into(), format!("http://{address}"));
        s.options.connect_timeout = std::time::Duration::from_millis(300);
    })
    .await;

    assert_unavailable(gw.get("/api/v1/grid/ping").await).await;
}

#[tokio::test]
async fn a_service_that_does_not_answer_in_time_is_a_504_problem() {
    let gw = spawn_gateway_with(|s| {
        s.options.upstream_timeout = std::time::Duration::from_millis(300);
    })
    .await;

    let res = gw.get("/api/v1/grid/never").await;

    assert_eq!(res.status(), 504);
    assert_eq!(problem(res).await["code"], "gateway-timeout");
}

#[tokio::test]
async fn a_large_response_is_streamed_back_whole() {
    let gw = spawn_gateway().await;

    let res = gw.get("/api/v1/grid/big").await;

    assert_eq!(res.status(), 200);
    assert_eq!(res.content_length(), Some(BIG as u64));
    let body = res.bytes().await.expect("body");
    assert_eq!(body.len(), BIG);
}

#[tokio::test]
async fn a_head_request_is_forwarded_as_head() {
    let gw = spawn_gateway().await;

    let res = gw
        .client
        .head(gw.at("/api/v1/grid/ping"))
        .send()
        .await
        .expect("answer");

    assert_eq!(res.status(), 200);
    assert_eq!(gw.grid.only_request().method, "HEAD");
}
