//! The token endpoint and the JWKS.

use serde_json::{Value, json};
use zw_auth::Role;

use crate::helpers::*;

#[tokio::test]
async fn a_user_logs_in_and_the_token_verifies_against_the_served_jwks() {
    let app = spawn_app().await;
    let res = app
        .token_request(
            &json!({"grant_type": "password", "username": OFFICER, "password": OFFICER_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().expect("token");

    let principal = remote_verifier(&app)
        .verify(token)
        .await
        .expect("verifies with the JWKS");
    assert_eq!(principal.roles, vec![Role::StreetOfficer]);
    assert_eq!(principal.scope.as_str(), "440304008");
    assert_eq!(principal.name.as_deref(), Some(OFFICER));

    let me: Value = app.get_as("/me", token).await.json().await.expect("me");
    assert_eq!(me["subject"], principal.subject.as_str());
    assert_eq!(me["roles"], json!(["street_officer"]));
}

#[tokio::test]
async fn a_form_encoded_password_grant_works_and_usernames_ignore_case() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.at("/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "ADMIN"),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    let principal = remote_verifier(&app)
        .verify(body["access_token"].as_str().expect("token"))
        .await
        .expect("ok");
    assert_eq!(principal.roles, vec![Role::Admin]);

    // A stale bearer token sent along does not get in the way of logging in.
    let res = app
        .client
        .post(app.at("/token"))
        .bearer_auth("stale.token.here")
        .json(&json!({"grant_type": "password", "username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_identical_401_problems() {
    let app = spawn_app().await;
    let wrong_password = app
        .token_request(
            &json!({"grant_type": "password", "username": ADMIN, "password": "not-the-password"}),
        )
        .await;
    let unknown_user = app
        .token_request(&json!({"grant_type": "password", "username": "nobody", "password": "not-the-password"}))
        .await;
    let a = problem(wrong_password, 401).await;
    let b = problem(unknown_user, 401).await;
    assert_eq!(a, b);
    assert_eq!(a["code"], "invalid-credentials");
    assert_eq!(a["error"], "invalid_grant");
    assert!(a["detail"].as_str().is_some_and(|d| !d.contains("nobody")));
}

#[tokio::test]
async fn an_unknown_grant_type_a_missing_field_or_a_malformed_body_is_a_400_problem() {
    let app = spawn_app().await;
    let body = problem(
        app.token_request(&json!({"grant_type": "implicit"})).await,
        400,
    )
    .await;
    assert_eq!(body["code"], "unsupported-grant-type");
    assert_eq!(body["error"], "unsupported_grant_type");

    let body = problem(
        app.token_request(&json!({"grant_type": "password", "username": ADMIN}))
            .await,
        400,
    )
    .await;
    assert_eq!(body["code"], "invalid-input");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("password"))
    );

    let body = problem(
        app.token_request(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
            .await,
        400,
    )
    .await;
    assert_eq!(body["code"], "invalid-input");

    let res = app
        .client
        .post(app.at("/token"))
        .header("content-type", "application/json")
        .body("{\"grant_type\": \"password\",")
        .send()
        .await
        .expect("send");
    assert_eq!(problem(res, 400).await["code"], "invalid-input");

    let res = app
        .client
        .post(app.at("/token"))
        .body("grant_type=password")
        .send()
        .await
        .expect("send");
    assert_eq!(problem(res, 415).await["code"], "unsupported-media-type");
}

#[tokio::test]
async fn the_jwks_is_public_and_cached_only_briefly() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.at("/.well-known/jwks.json"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    let cache = res
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(cache.as_deref(), Some("public, max-age=60"));
    let jwks: zw_auth::Jwks = res.json().await.expect("jwks");
    assert_eq!(jwks.keys.len(), 1);
    let key = &jwks.keys[0];
    assert_eq!(
        (key.kty.as_str(), key.crv.as_deref(), key.alg.as_deref()),
        ("OKP", Some("Ed25519"), Some("EdDSA"))
    );
    assert!(key.kid.is_some());
}

#[tokio::test]
async fn the_service_signs_with_rs256_when_configured_to() {
    let app = spawn_app_with(&[("ZW__IDENTITY__ALGORITHM", "RS256")]).await;
    let token = app.admin_token().await;
    assert_eq!(alg_of(&token), "RS256");
    let jwks = app.jwks().await;
    assert_eq!(jwks.keys[0].kty, "RSA");
    assert!(remote_verifier(&app).verify(&token).await.is_ok());
}

#[tokio::test]
async fn the_openapi_document_describes_the_token_endpoint() {
    let app = spawn_app().await;
    let doc = openapi(&app).await;
    assert_eq!(doc["info"]["title"], "Zhiwang identity");
    assert!(doc["paths"]["/api/v1/identity/token"]["post"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn the_openapi_document_puts_query_parameters_in_the_query_and_documents_the_new_routes() {
    let app = spawn_app().await;
    let doc = openapi(&app).await;
    let list = &doc["paths"]["/api/v1/identity/users"]["get"];
    let params: Vec<(String, String)> = list["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().expect("name").to_owned(),
                p["in"].as_str().expect("in").to_owned(),
            )
        })
        .collect();
    for name in ["under", "limit", "cursor"] {
        assert!(
            params.contains(&(name.to_owned(), "query".to_owned())),
            "{name} is a query parameter: {params:?}"
        );
    }
    // No path of identity has a parameter "in: path" that its template does not name.
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" {
                    let name = p["name"].as_str().expect("name");
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: {name}"
                    );
                }
            }
        }
    }
    let documents = |method: &str, path: &str, expected: &[&str]| {
        let responses = doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}"));
        for status in expected {
            assert!(responses.contains_key(*status), "{method} {path}: {status}");
        }
    };
    documents(
        "post",
        "/api/v1/identity/revoke",
        &["200", "400", "401", "403", "415", "503"],
    );
    documents(
        "post",
        "/api/v1/identity/users/{id}/sign-out",
        &["204", "400", "401", "403", "404", "503"],
    );
    documents(
        "post",
        "/api/v1/identity/users/{id}/disable",
        &["200", "400", "401", "403", "404", "409", "503"],
    );
    documents(
        "post",
        "/api/v1/identity/citizens",
        &["201", "400", "409", "503"],
    );
    assert!(doc["paths"]["/api/v1/identity/revocations"]["get"].is_object());
    assert!(doc["components"]["schemas"]["RevocationList"].is_object());
}

async fn openapi(app: &TestApp) -> Value {
    app.client
        .get(app.at("/openapi.json"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json")
}
