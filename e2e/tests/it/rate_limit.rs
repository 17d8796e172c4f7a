//! Rate limits shared by two gateway replicas through Redis: a burst sent to both, alternately,
//! is let through no more often in total than the limit allows one gateway, and the rest is
//! refused with 429 problem+json and `Retry-After`.

use reqwest::StatusCode;

use zw_e2e::cluster::Cluster;

const LIMIT: usize = 8;

/// What a burst of `n` requests, sent alternately to each of `gateways`, got from each.
struct Burst {
    /// Per gateway: (requests let through, requests refused with 429).
    per_gateway: Vec<(usize, usize)>,
    /// Any response that was neither let through nor a proper 429, described.
    wrong: Vec<String>,
}

impl Burst {
    fn let_through(&self) -> usize {
        self.per_gateway.iter().map(|(ok, _)| ok).sum()
    }
}

/// Send `n` GETs of `path` (with `token`, if any), alternately to each of `gateways`.
async fn burst(c: &Cluster, gateways: &[&str], path: &str, token: Option<&str>, n: usize) -> Burst {
    let mut per_gateway = vec![(0, 0); gateways.len()];
    let mut wrong = Vec::new();
    for i in 0..n {
        let g = i % gateways.len();
        let mut req = c.client.get(format!("{}{path}", gateways[g]));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        if status != StatusCode::TOO_MANY_REQUESTS {
            per_gateway[g].0 += 1;
            continue;
        }
        per_gateway[g].1 += 1;
        let problem = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/problem+json"));
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body = res.text().await.unwrap_or_default();
        if !problem || !retry_after.is_some_and(|s| (1..=60).contains(&s)) {
            wrong.push(format!(
                "request {i} to {}: 429 without problem+json or a Retry-After of 1–60 s ({retry_after:?}): {body}",
                gateways[g]
            ));
        }
    }
    Burst { per_gateway, wrong }
}

#[tokio::test]
async fn two_gateway_replicas_share_one_rate_limit_through_redis() {
    let limit = LIMIT.to_string();
    let mut c =
        Cluster::start_with(&[("gateway", "ZW__GATEWAY__RATE_LIMIT_PER_MINUTE", &limit)]).await;
    let second = c.start_gateway_replica().await;
    assert_ne!(second, c.gateway, "a second process on a port of its own");
    let first = c.gateway.clone();
    let gateways = [first.as_str(), second.as_str()];

    // A principal's requests: counted against its `sub`, whichever replica takes them.
    // Both logins first: they count against the client address.
    let worker = c.login("grid-worker").await;
    let officer = c.login("district-officer").await;
    let signed_in = burst(
        &c,
        &gateways,
        "/api/v1/identity/me",
        Some(&worker),
        3 * LIMIT,
    )
    .await;
    assert!(signed_in.wrong.is_empty(), "{:#?}", signed_in.wrong);
    assert_eq!(
        signed_in.let_through(),
        LIMIT,
        "a limit of {LIMIT} per minute across both replicas: {:?} (let through, refused) per replica",
        signed_in.per_gateway
    );
    for (i, (ok, refused)) in signed_in.per_gateway.iter().enumerate() {
        assert!(
            *ok >= 1 && *refused >= 1,
            "replica {i} both let requests through and refused them: {:?}",
            signed_in.per_gateway
        );
    }

    // Anonymous requests and bad tokens: counted against the client address, shared too. The
    // two logins above were the address's first requests.
    let anonymous = burst(
        &c,
        &gateways,
        "/api/v1/identity/.well-known/jwks.json",
        None,
        LIMIT,
    )
    .await;
    let guessing = burst(
        &c,
        &gateways,
        "/api/v1/identity/me",
        Some("a.guessed.token"),
        2 * LIMIT,
    )
    .await;
    assert!(anonymous.wrong.is_empty(), "{:#?}", anonymous.wrong);
    assert!(guessing.wrong.is_empty(), "{:#?}", guessing.wrong);
    assert_eq!(
        2 + anonymous.let_through() + guessing.let_through(),
        LIMIT,
        "the address's limit across both replicas: anonymous {:?}, guessed tokens {:?}",
        anonymous.per_gateway,
        guessing.per_gateway
    );
    assert!(
        guessing
            .per_gateway
            .iter()
            .all(|(_, refused)| *refused >= 1),
        "both replicas refuse the guessing once the shared count is spent: {:?}",
        guessing.per_gateway
    );

    // Another principal has a count of his own.
    let (status, me) = c.get("/api/v1/identity/me", &officer).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another principal's own count: {me}"
    );
}
