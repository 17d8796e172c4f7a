//! Department service accounts and the client-credentials grant.

use serde_json::{Value, json};
use zw_auth::Role;

use crate::helpers::*;

#[tokio::test]
async fn a_department_gets_a_token_with_client_credentials() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let res = app
        .post_as(
            "/service-accounts",
            &admin,
            &json!({"client_id": "futian-police", "name": "Futian police", "datasets": ["police.cases", "police.alerts", "cases:civil_affairs"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let account: Value = res.json().await.expect("json");
    assert_eq!(account["roles"], json!(["department"]));
    assert_eq!(account["scope"], "440304");
    let secret = account["client_secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();

    let res = app
        .client
        .post(app.at("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "futian-police"),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    let p = remote_verifier(&app)
        .verify(body["access_token"].as_str().expect("token"))
        .await
        .expect("verifies");
    assert_eq!(p.roles, vec![Role::Department]);
    // `cases:<recipient>`: the data set the grid service grants one recipient's cases on.
    assert_eq!(
        p.datasets,
        vec![
            "cases:civil_affairs".to_owned(),
            "police.alerts".to_owned(),
            "police.cases".to_owned()
        ]
    );
    assert_eq!(p.subject, account["id"].as_str().expect("id"));
    assert!(p.require_dataset("police.cases").is_ok());

    // The same with HTTP Basic client authentication (client_secret_basic).
    let res = app
        .client
        .post(app.at("/token"))
        .basic_auth("futian-police", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);

    let wrong = app
        .token_request(&json!({"grant_type": "client_credentials", "client_id": "futian-police", "client_secret": "guess"}))
        .await;
    let unknown = app
        .token_request(&json!({"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "guess"}))
        .await;
    let (a, b) = (problem(wrong, 401).await, problem(unknown, 401).await);
    assert_eq!(a, b);
    assert_eq!(a["error"], "invalid_client");
}

#[tokio::test]
async fn service_accounts_are_admin_only_unique_and_validated() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let officer = app.login(OFFICER, OFFICER_PASSWORD).await;
    let body = json!({"client_id": "civil-affairs", "datasets": ["civil.marriages"]});
    problem(app.post_as("/service-accounts", &officer, &body).await, 403).await;
    assert_eq!(
        app.post_as("/service-accounts", &admin, &body)
            .await
            .status(),
        201
    );
    let p = problem(app.post_as("/service-accounts", &admin, &body).await, 409).await;
    assert_eq!(p["code"], "client-id-taken");
    for bad in [
        json!({"client_id": "x", "datasets": []}),
        json!({"client_id": "street-dept", "scope": "440304008"}),
        json!({"client_id": "bad-sets", "datasets": ["Not Valid"]}),
    ] {
        problem(app.post_as("/service-accounts", &admin, &bad).await, 400).await;
    }
}
