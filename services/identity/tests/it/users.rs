//! Creating users: admins only, validated, unique.

use serde_json::{Value, json};
use zw_auth::Role;
use zw_domain::JurisdictionCode;
use zw_identity::SeedAccount;

use crate::helpers::*;

fn grid_worker(username: &str) -> Value {
    json!({
        "username": username,
        "password": "worker-password",
        "roles": ["grid_worker"],
        "scope": "440304008001003",
        "name": "Wang Wu",
        "phone": "13800138000"
    })
}

#[tokio::test]
async fn an_admin_creates_a_grid_worker_who_can_then_log_in() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let res = app
        .post_as("/users", &admin, &grid_worker("wang.grid003"))
        .await;
    assert_eq!(res.status(), 201);
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let user: Value = res.json().await.expect("json");
    assert_eq!(user["username"], "wang.grid003");
    assert_eq!(user["roles"], json!(["grid_worker"]));
    assert_eq!(user["phone"], "138****8000");
    assert!(user.get("password_hash").is_none() && user.get("password").is_none());
    let id = user["id"].as_str().expect("id");
    assert_eq!(
        location.as_deref(),
        Some(format!("/api/v1/identity/users/{id}").as_str())
    );

    let fetched: Value = app
        .get_as(&format!("/users/{id}"), &admin)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(fetched, user);

    let token = app.login("wang.grid003", "worker-password").await;
    let p = remote_verifier(&app)
        .verify(&token)
        .await
        .expect("verifies");
    assert_eq!(p.subject, id);
    assert_eq!(p.scope.as_str(), "440304008001003");
    assert_eq!(p.name.as_deref(), Some("Wang Wu"));
}

#[tokio::test]
async fn a_non_admin_cannot_create_users_and_nothing_is_created() {
    let app = spawn_app().await;
    let before = app.user_count().await;
    let officer = app.login(OFFICER, OFFICER_PASSWORD).await;
    let body = problem(
        app.post_as("/users", &officer, &grid_worker("sneaky"))
            .await,
        403,
    )
    .await;
    assert_eq!(body["code"], "forbidden");

    let res = app
        .client
        .post(app.at("/users"))
        .json(&grid_worker("sneaky"))
        .send()
        .await
        .expect("send");
    assert!(
        res.headers()
            .get("www-authenticate")
            .is_some_and(|v| v.as_bytes().starts_with(b"Bearer"))
    );
    problem(res, 401).await;

    let res = app
        .post_as("/users", "not.a.token", &grid_worker("sneaky"))
        .await;
    problem(res, 401).await;
    assert_eq!(app.user_count().await, before);
}

#[tokio::test]
async fn invalid_input_is_a_400_problem_and_creates_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let before = app.user_count().await;
    let mut street_scope = grid_worker("w1");
    street_scope["scope"] = json!("440304008");
    let mut short_password = grid_worker("w2");
    short_password["password"] = json!("short");
    let mut bad_username = grid_worker("w3");
    bad_username["username"] = json!("has space");
    let mut bad_phone = grid_worker("w4");
    bad_phone["phone"] = json!("12345");
    let mut unknown_role = grid_worker("w5");
    unknown_role["roles"] = json!(["emperor"]);
    let mut bad_code = grid_worker("w6");
    bad_code["scope"] = json!("440304000");
    let mut other_district = grid_worker("w7");
    other_district["scope"] = json!("440305008001003");
    let mut unknown_field = grid_worker("w8");
    unknown_field["is_superuser"] = json!(true);
    let mut no_roles = grid_worker("w9");
    no_roles["roles"] = json!([]);
    for (why, body) in [
        ("a street code for a grid worker", street_scope),
        ("a short password", short_password),
        ("a bad username", bad_username),
        ("a bad phone", bad_phone),
        ("an unknown role", unknown_role),
        ("a malformed scope", bad_code),
        ("another district", other_district),
        ("an unknown field", unknown_field),
        ("no roles", no_roles),
    ] {
        let res = app.post_as("/users", &admin, &body).await;
        let p = problem(res, 400).await;
        assert_eq!(p["code"], "invalid-input", "{why}");
    }
    let res = app
        .client
        .post(app.at("/users"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .expect("send");
    problem(res, 400).await;
    assert_eq!(app.user_count().await, before);
}

#[tokio::test]
async fn a_taken_username_is_a_409_even_in_another_case() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    assert_eq!(
        app.post_as("/users", &admin, &grid_worker("li.lei"))
            .await
            .status(),
        201
    );
    let before = app.user_count().await;
    let body = problem(
        app.post_as("/users", &admin, &grid_worker("Li.Lei")).await,
        409,
    )
    .await;
    assert_eq!(body["code"], "username-taken");
    assert_eq!(app.user_count().await, before);
}

#[tokio::test]
async fn a_citizen_registers_himself_in_the_district_and_logs_in() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.at("/citizens"))
        .json(&json!({"username": "han.meimei", "password": "citizen-pass", "phone": "+86 139 0000 1111"}))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 201);
    let user: Value = res.json().await.expect("json");
    assert_eq!(user["roles"], json!(["citizen"]));
    assert_eq!(user["scope"], "440304");
    let token = app.login("han.meimei", "citizen-pass").await;
    let p = remote_verifier(&app)
        .verify(&token)
        .await
        .expect("verifies");
    assert_eq!(p.roles, vec![Role::Citizen]);

    // A citizen cannot choose his own role, scope or a short password.
    let before = app.user_count().await;
    for body in [
        json!({"username": "x.admin", "password": "citizen-pass", "roles": ["admin"]}),
        json!({"username": "x.short", "password": "short"}),
        json!({"username": "x.phone", "password": "citizen-pass", "phone": "12"}),
    ] {
        let res = app
            .client
            .post(app.at("/citizens"))
            .json(&body)
            .send()
            .await
            .expect("send");
        problem(res, 400).await;
    }
    let res = app
        .client
        .post(app.at("/citizens"))
        .json(&json!({"username": "HAN.MEIMEI", "password": "citizen-pass"}))
        .send()
        .await
        .expect("send");
    problem(res, 409).await;
    assert_eq!(app.user_count().await, before);
}

#[tokio::test]
async fn seeding_is_idempotent_and_keeps_existing_passwords() {
    let app = spawn_app().await;
    let before = app.user_count().await;
    let mut accounts = seed();
    accounts[0].password = "a-new-password".into();
    accounts.push(SeedAccount {
        username: "community.officer".into(),
        password: "community-pass".into(),
        roles: vec![Role::CommunityOfficer],
        scope: JurisdictionCode::parse("440304008001").expect("code"),
        name: None,
        // A fixed id, as the demo accounts have (other services' seeds name them by it).
        id: Some(uuid::Uuid::from_u128(0x5eed)),
    });
    zw_identity::seed_accounts(&app.db, &accounts)
        .await
        .expect("seed");
    zw_identity::seed_accounts(&app.db, &accounts)
        .await
        .expect("seed again");
    assert_eq!(app.user_count().await, before + 1);
    app.login(ADMIN, ADMIN_PASSWORD).await;
    app.login("community.officer", "community-pass").await;
    let seeded = zw_identity::accounts::find_user(&app.db, "community.officer")
        .await
        .expect("find")
        .expect("seeded");
    assert_eq!(seeded.id, uuid::Uuid::from_u128(0x5eed));

    let bad = SeedAccount {
        username: "bad.seed".into(),
        password: "bad-seed-pass".into(),
        roles: vec![Role::GridWorker],
        scope: JurisdictionCode::parse("440304").expect("code"),
        name: None,
        id: None,
    };
    assert!(zw_identity::seed_accounts(&app.db, &[bad]).await.is_err());
}

#[tokio::test]
async fn on_sqlite_as_in_one_process_users_are_created_unique_and_log_in() {
    let app = spawn_app_on_sqlite().await;
    let admin = app.admin_token().await;
    assert_eq!(
        app.post_as("/users", &admin, &grid_worker("li.lei"))
            .await
            .status(),
        201
    );
    let body = problem(
        app.post_as("/users", &admin, &grid_worker("li.lei")).await,
        409,
    )
    .await;
    assert_eq!(body["code"], "username-taken");
    let token = app.login("li.lei", "worker-password").await;
    let p = remote_verifier(&app)
        .verify(&token)
        .await
        .expect("verifies");
    assert_eq!(p.roles, vec![Role::GridWorker]);
}
