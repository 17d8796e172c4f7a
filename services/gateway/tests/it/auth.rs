//! Authentication at the edge: a token that does not verify never reaches a service.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zw_auth::Claims;
use zw_auth::testing::TestIssuer;
use zw_domain::JurisdictionCode;

use crate::helpers::{TestGateway, problem, spawn_gateway};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// Claims the gateway would accept, for tests to spoil one field at a time.
fn good_claims(gw: &TestGateway) -> Claims {
    let now = now();
    Claims {
        iss: gw.settings.auth.issuer.clone(),
        sub: "alice".into(),
        aud: gw.settings.auth.audience.clone(),
        exp: now + 600,
        nbf: now - 5,
        iat: now - 5,
        jti: "t-1".into(),
        roles: vec![zw_auth::Role::Citizen],
        scope: JurisdictionCode::parse("440304").expect("code"),
        datasets: Vec::new(),
        name: None,
        id_number: None,
    }
}

/// Send `token` and check the gateway refused it with 401 problem+json, forwarding nothing.
async fn assert_refused(gw: &TestGateway, token: &str, reason: &str) {
    let res = gw.get_as("/api/v1/grid/me", token).await;
    assert_eq!(res.status(), 401, "{reason}");
    let challenge = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok());
    assert!(
        challenge.is_some_and(|c| c.starts_with("Bearer")),
        "{reason}: {challenge:?}"
    );
    let body = problem(res).await;
    assert_eq!(body["status"], 401);
    assert_eq!(body["reason"], reason);
    assert!(
        gw.grid.seen().is_empty(),
        "{reason}: the service saw {:?}",
        gw.grid.seen()
    );
}

#[tokio::test]
async fn a_valid_token_is_forwarded_unchanged_for_the_service_to_verify_again() {
    let gw = spawn_gateway().await;
    let token = gw.citizen("alice");

    let res = gw.get_as("/api/v1/grid/me", &token).await;

    assert_eq!(res.status(), 200);
    let expected = format!("Bearer {token}");
    assert_eq!(
        gw.grid.only_request().header("authorization"),
        Some(expected.as_str())
    );
}

#[tokio::test]
async fn a_request_without_a_token_is_forwarded_as_anonymous() {
    let gw = spawn_gateway().await;

    let res = gw.get("/api/v1/grid/public").await;

    assert_eq!(res.status(), 200);
    assert!(!gw.grid.only_request().has_header("authorization"));
}

#[tokio::test]
async fn an_expired_token_is_refused_and_the_service_sees_nothing() {
    let gw = spawn_gateway().await;
    let mut claims = good_claims(&gw);
    claims.exp = now() - 3600;
    claims.iat = now() - 7200;
    claims.nbf = now() - 7200;
    let token = gw.issuer.issuer.sign(&claims).expect("signed");

    assert_refused(&gw, &token, "expired").await;
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_refused_and_the_service_sees_nothing() {
    let gw = spawn_gateway().await;
    let forger = TestIssuer::new(&gw.settings.auth);
    let token = forger.issuer.sign(&good_claims(&gw)).expect("signed");

    assert_refused(&gw, &token, "unknown_key").await;
}

#[tokio::test]
async fn a_token_with_a_forged_signature_under_a_known_key_is_refused() {
    let gw = spawn_gateway().await;
    let forger = TestIssuer::new(&gw.settings.auth);
    let genuine = gw.citizen("alice");
    let mut claims = good_claims(&gw);
    claims.roles = vec![zw_auth::Role::Admin];
    let forged = forger.issuer.sign(&claims).expect("signed");
    // The genuine header (known kid), the forger's payload and signature.
    let header = genuine.split('.').next().expect("header");
    let rest: Vec<&str> = forged.splitn(2, '.').collect();
    let token = format!("{header}.{}", rest[1]);

    assert_refused(&gw, &token, "bad_signature").await;
}

#[tokio::test]
async fn a_token_with_alg_none_is_refused_and_the_service_sees_nothing() {
    let gw = spawn_gateway().await;
    let kid = gw.issuer.issuer.active().kid().to_owned();
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#));
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&good_claims(&gw)).expect("json"));
    let token = format!("{header}.{payload}.");

    assert_refused(&gw, &token, "unsupported_algorithm").await;
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused_and_the_service_sees_nothing() {
    let gw = spawn_gateway().await;
    let mut claims = good_claims(&gw);
    claims.aud = "some-other-platform".into();
    let token = gw.issuer.issuer.sign(&claims).expect("signed");

    assert_refused(&gw, &token, "wrong_audience").await;
}

#[tokio::test]
async fn a_malformed_authorization_header_is_refused_and_the_service_sees_nothing() {
    let gw = spawn_gateway().await;

    let res = gw
        .client
        .get(gw.at("/api/v1/grid/me"))
        .header("authorization", "Token YWxpY2U6c2VjcmV0")
        .send()
        .await
        .expect("answer");

    assert_eq!(res.status(), 401);
    assert_eq!(problem(res).await["reason"], "not_bearer");
    assert!(gw.grid.seen().is_empty());
}

#[tokio::test]
async fn basic_client_credentials_pass_to_the_service_which_decides() {
    let gw = spawn_gateway().await;

    // What a department's OAuth library sends to the token endpoint (client_secret_basic).
    let res = gw
        .client
        .post(gw.at("/api/v1/grid/token"))
        .header("authorization", "Basic YWxpY2U6c2VjcmV0")
        .send()
        .await
        .expect("answer");

    assert_eq!(res.status(), 200);
    let seen = gw.grid.only_request();
    assert_eq!(seen.header("authorization"), Some("Basic YWxpY2U6c2VjcmV0"));
}
