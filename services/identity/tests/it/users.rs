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

/// A valid resident ID number of someone born in 1990, told apart by `sequence`.
fn id_number(sequence: u16) -> String {
    let birth = chrono::NaiveDate::from_ymd_opt(1990, 5, 17).expect("date");
    zw_domain::IdNumber::from_parts("440304", birth, sequence)
        .expect("valid")
        .as_str()
        .to_owned()
}

#[tokio::test]
async fn a_citizen_registers_himself_bound_to_his_id_number_and_his_tokens_carry_it() {
    let app = spawn_app().await;
    let id = id_number(123);
    let res = app
        .client
        .post(app.at("/citizens"))
        .json(&json!({"username": "han.meimei", "password": "citizen-pass", "phone": "+86 139 0000 1111", "id_number": id}))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 201);
    let text = res.text().await.expect("body");
    assert!(
        !text.contains(&id),
        "the reply shows the number masked: {text}"
    );
    let user: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(user["roles"], json!(["citizen"]));
    assert_eq!(user["scope"], "440304");
    assert_eq!(user["id_number"], format!("440304********{}", &id[14..]));
    let token = app.login("han.meimei", "citizen-pass").await;
    let p = remote_verifier(&app)
        .verify(&token)
        .await
        .expect("verifies");
    assert_eq!(p.roles, vec![Role::Citizen]);
    assert_eq!(
        p.id_number.as_ref().map(|n| n.as_str()),
        Some(id.as_str()),
        "his own number, in full, is what he may declare himself as"
    );

    // A citizen cannot choose his own role, scope or a short password, and needs a valid number.
    let before = app.user_count().await;
    for (why, body) in [
        (
            "a role",
            json!({"username": "x.admin", "password": "citizen-pass", "roles": ["admin"], "id_number": id_number(1)}),
        ),
        (
            "a short password",
            json!({"username": "x.short", "password": "short", "id_number": id_number(3)}),
        ),
        (
            "a bad phone",
            json!({"username": "x.phone", "password": "citizen-pass", "phone": "12", "id_number": id_number(5)}),
        ),
        (
            "no ID number",
            json!({"username": "x.noid", "password": "citizen-pass"}),
        ),
        (
            "a wrong check character",
            json!({"username": "x.check", "password": "citizen-pass", "id_number": "110105194912310021"}),
        ),
        (
            "a 15-digit number",
            json!({"username": "x.fifteen", "password": "citizen-pass", "id_number": "110105491231002"}),
        ),
    ] {
        let res = app
            .client
            .post(app.at("/citizens"))
            .json(&body)
            .send()
            .await
            .expect("send");
        let p = problem(res, 400).await;
        assert_eq!(p["code"], "invalid-input", "{why}");
    }
    let res = app
        .client
        .post(app.at("/citizens"))
        .json(&json!({"username": "HAN.MEIMEI", "password": "citizen-pass", "id_number": id_number(7)}))
        .send()
        .await
        .expect("send");
    let p = problem(res, 409).await;
    assert_eq!(p["code"], "username-taken");
    assert_eq!(app.user_count().await, before);
}

#[tokio::test]
async fn one_account_per_id_number_and_the_409_does_not_say_whose() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let before = app.user_count().await;
    // The seeded citizen holds CITIZEN_ID_NUMBER; a self-registration and an admin try again,
    // once with a lower-case x.
    let res = app
        .client
        .post(app.at("/citizens"))
        .json(&json!({"username": "squatter", "password": "citizen-pass", "id_number": CITIZEN_ID_NUMBER.to_lowercase()}))
        .send()
        .await
        .expect("send");
    let p = problem(res, 409).await;
    assert_eq!(p["code"], "id-number-taken");
    let said = p.to_string();
    assert!(
        !said.contains(CITIZEN) && !said.contains(&app.user_id(CITIZEN).await),
        "the conflict names no account: {said}"
    );
    let res = app
        .post_as(
            "/users",
            &admin,
            &json!({"username": "second.li", "password": "citizen-pass", "roles": ["citizen"], "scope": "440304", "id_number": CITIZEN_ID_NUMBER}),
        )
        .await;
    assert_eq!(problem(res, 409).await["code"], "id-number-taken");
    assert_eq!(app.user_count().await, before);
}

#[tokio::test]
async fn an_admin_binds_a_citizen_to_his_id_number_and_nobody_else_gets_one() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let before = app.user_count().await;
    let citizen = |username: &str, id: Option<String>| {
        let mut body = json!({"username": username, "password": "citizen-pass", "roles": ["citizen"], "scope": "440304"});
        if let Some(id) = id {
            body["id_number"] = json!(id);
        }
        body
    };
    let res = app
        .post_as("/users", &admin, &citizen("wang.fang", None))
        .await;
    assert_eq!(
        problem(res, 400).await["code"],
        "invalid-input",
        "a citizen needs his number"
    );
    let mut officer = grid_worker("w.with.id");
    officer["id_number"] = json!(id_number(11));
    let res = app.post_as("/users", &admin, &officer).await;
    let p = problem(res, 400).await;
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("only a citizen")),
        "{p}"
    );
    assert_eq!(app.user_count().await, before);

    let id = id_number(13);
    let res = app
        .post_as("/users", &admin, &citizen("wang.fang", Some(id.clone())))
        .await;
    assert_eq!(res.status(), 201);
    let user: Value = res.json().await.expect("json");
    assert_eq!(user["id_number"], format!("440304********{}", &id[14..]));
    let token = app.login("wang.fang", "citizen-pass").await;
    let me: Value = app.get_as("/me", &token).await.json().await.expect("json");
    assert_eq!(
        me["id_number"],
        id.as_str(),
        "his own token, his own number"
    );
    let staff = app.login(OFFICER, OFFICER_PASSWORD).await;
    let me: Value = app.get_as("/me", &staff).await.json().await.expect("json");
    assert!(
        me["id_number"].is_null(),
        "staff act in office, not as residents"
    );
}

#[tokio::test]
async fn an_admin_lists_users_page_by_page_with_id_numbers_masked() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for n in 0..3 {
        let res = app
            .post_as(
                "/users",
                &admin,
                &json!({"username": format!("resident.{n}"), "password": "citizen-pass", "roles": ["citizen"], "scope": "440304", "id_number": id_number(200 + n)}),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    let total = app.user_count().await as usize;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/users?limit=2&cursor={c}"),
            None => "/users?limit=2".to_owned(),
        };
        let res = app.get_as(&path, &admin).await;
        assert_eq!(res.status(), 200);
        let text = res.text().await.expect("body");
        for n in 0..3 {
            assert!(!text.contains(&id_number(200 + n)), "masked: {text}");
        }
        assert!(!text.contains(CITIZEN_ID_NUMBER), "masked: {text}");
        let page: Value = serde_json::from_str(&text).expect("json");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|u| u["username"].as_str().expect("name").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), total, "every user once: {seen:?}");
    let masked: Vec<Value> = app
        .get_as("/users?limit=200", &admin)
        .await
        .json::<Value>()
        .await
        .expect("json")["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|u| u["username"] == CITIZEN)
        .cloned()
        .collect();
    assert_eq!(masked[0]["id_number"], "110105********002X");

    // Under a street: its staff only (citizens are scoped to the district).
    let street: Value = app
        .get_as("/users?under=440304008", &admin)
        .await
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = street["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert_eq!(names, vec![OFFICER]);

    for (why, path, status) in [
        ("a bad limit", "/users?limit=0", 400),
        ("a bad cursor", "/users?cursor=nope", 400),
        ("a bad code", "/users?under=44030", 400),
        ("another district", "/users?under=440305", 403),
    ] {
        let res = app.get_as(path, &admin).await;
        assert_eq!(res.status().as_u16(), status, "{why}");
        problem(res, status).await;
    }
    let officer = app.login(OFFICER, OFFICER_PASSWORD).await;
    problem(app.get_as("/users", &officer).await, 403).await;
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
        id_number: None,
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
        id_number: None,
        id: None,
    };
    assert!(zw_identity::seed_accounts(&app.db, &[bad]).await.is_err());
    let unbound_citizen = SeedAccount {
        username: "unbound.citizen".into(),
        password: "citizen-pass".into(),
        roles: vec![Role::Citizen],
        scope: JurisdictionCode::parse("440304").expect("code"),
        name: None,
        id_number: None,
        id: None,
    };
    assert!(
        zw_identity::seed_accounts(&app.db, &[unbound_citizen])
            .await
            .is_err(),
        "a citizen is bound to his ID number, seeded or not"
    );
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
