//! Bad input of every kind through the gateway: a 4xx problem+json, and nothing changes.

use reqwest::StatusCode;
use serde_json::json;

use zw_e2e::cluster::{Cluster, unknown_id};

#[tokio::test]
async fn bad_requests_get_problems_and_change_nothing() {
    let c = Cluster::start().await;
    let (grid, house, resident) = c.example();
    let citizen = c.login("citizen").await;
    let officer = c.login("district-officer").await;
    let path = "/api/v1/grid/declarations";

    let mut wrong_check = resident.clone();
    let last = wrong_check.pop().unwrap();
    wrong_check.push(if last == '1' { '2' } else { '1' });
    let unknown_house = zw_domain::HouseCode::new(&grid.parse().unwrap(), 9998)
        .unwrap()
        .to_string();
    let cases = vec![
        (
            json!({"id_number": "not-an-id", "house_code": house}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"id_number": wrong_check, "house_code": house}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"id_number": "11010519491231002", "house_code": house}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"id_number": resident, "house_code": "123"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"id_number": resident, "house_code": unknown_house}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({"id_number": resident}), StatusCode::BAD_REQUEST),
        (
            json!({"house_code": house, "id_number": resident, "status": "accepted"}),
            StatusCode::BAD_REQUEST,
        ),
        (json!("just a string"), StatusCode::BAD_REQUEST),
    ];
    for (body, expected) in cases {
        let (status, problem) = c.post(path, &citizen, body.clone()).await;
        assert_eq!(status, expected, "{body} → {problem}");
    }

    // Oversized body: refused at the gateway.
    let huge = json!({"id_number": "x".repeat(300_000), "house_code": house});
    let (status, _) = c.post(path, &citizen, huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Tokens: none, garbage, forged (another key), alg none, expired (signed with the real key).
    let body = json!({"id_number": unknown_id(5), "house_code": house});
    let (status, _) = c
        .call(reqwest::Method::POST, path, None, Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no token");
    let settings = zw_platform::Settings::load_with(None, Vec::<(String, String)>::new()).unwrap();
    let forger = zw_auth::testing::TestIssuer::new(&settings.auth);
    let forged = forger.token(zw_auth::Role::Admin, "440304", "mallory");
    let alg_none = {
        use base64::Engine;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = json!({"sub": "mallory", "iss": settings.auth.issuer, "aud": settings.auth.audience, "exp": 4102444800i64, "roles": ["admin"], "scope": "440304"});
        format!(
            "{}.{}.",
            e.encode(br#"{"alg":"none","typ":"JWT"}"#),
            e.encode(claims.to_string())
        )
    };
    let expired = expired_token(&c, &settings).await;
    for (token, what) in [
        ("garbage", "garbage"),
        (forged.as_str(), "forged"),
        (alg_none.as_str(), "alg none"),
        (expired.as_str(), "expired"),
    ] {
        let (status, problem) = c.post(path, token, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {problem}");
    }

    // Wrong scope: a grid worker of another grid, a street officer of another street.
    let (_, d) = c
        .post(
            path,
            &citizen,
            json!({"id_number": unknown_id(6), "house_code": house}),
        )
        .await;
    assert_eq!(d["status"], "pending");
    let worker2 = c.login("grid-worker-2").await;
    let (_, own) = c
        .get("/api/v1/grid/tasks", &c.login("grid-worker").await)
        .await;
    let task = own["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = c
        .post(
            &format!("/api/v1/grid/tasks/{task}/decision"),
            &worker2,
            json!({"outcome": "confirm"}),
        )
        .await;
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
        "{status}"
    );
    let street_officer = c.login("street-officer").await;
    let other_street = c.demo.streets[1].code.to_string();
    let (status, _) = c
        .get(
            &format!("/api/v1/street/stats?under={other_street}"),
            &street_officer,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = c.get("/api/v1/district/stats?under=44030", &officer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Nothing but the one pending declaration was stored, and its task is still open.
    c.counts_reach(
        "district",
        "440304",
        &officer,
        json!({"pending": 1, "accepted": 0, "rejected": 0, "total": 1}),
    )
    .await;
    let (_, mine) = c.get(path, &citizen).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let (_, tasks) = c
        .get("/api/v1/grid/tasks", &c.login("grid-worker").await)
        .await;
    assert_eq!(tasks["items"][0]["status"], "open");
}

/// A token signed with identity's real key but expired an hour ago (the key read from identity's
/// own database, as only an attacker with that database could).
async fn expired_token(c: &Cluster, settings: &zw_platform::Settings) -> String {
    let (kid, alg, der) = c.identity_signing_key().await;
    let key = zw_auth::KeyPair::from_pkcs8_der(&kid, alg.parse().unwrap(), &der).unwrap();
    let issuer = zw_auth::Issuer::new(
        key,
        vec![],
        settings.auth.issuer.clone(),
        settings.auth.audience.clone(),
        std::time::Duration::from_secs(60),
    );
    let now = chrono::Utc::now().timestamp();
    let claims = zw_auth::Claims {
        iss: settings.auth.issuer.clone(),
        sub: "citizen".into(),
        aud: settings.auth.audience.clone(),
        exp: now - 3600,
        nbf: now - 7200,
        iat: now - 7200,
        jti: uuid::Uuid::new_v4().to_string(),
        roles: vec![zw_auth::Role::Citizen],
        scope: "440304".parse().unwrap(),
        datasets: vec![],
        name: None,
        id_number: None,
    };
    issuer.sign(&claims).unwrap()
}
