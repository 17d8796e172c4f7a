//! `spawn_app()`: the identity service as `zhiwang serve identity` runs it (connect, seed, build),
//! on a fresh database and a free port; typed request helpers.

use reqwest::{Response, StatusCode};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use zw_auth::Role;
use zw_domain::JurisdictionCode;
use zw_identity::SeedAccount;
use zw_platform::Settings;
use zw_testkit::TestDb;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const OFFICER: &str = "street.officer";
pub const OFFICER_PASSWORD: &str = "officer-password-1";
pub const CITIZEN: &str = "citizen.li";
pub const CITIZEN_PASSWORD: &str = "citizen-password-1";
/// The seeded citizen's resident ID number.
pub const CITIZEN_ID_NUMBER: &str = "11010519491231002X";

/// The service under test.
pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    /// The settings it runs with; `auth.jwks_url` points at its JWKS.
    pub settings: Settings,
    /// Its database, for checking what was (not) written.
    pub db: DatabaseConnection,
    stop: tokio_util::sync::CancellationToken,
    _database: Option<TestDb>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Settings for a fresh database, with extra `ZW__…` variables.
pub async fn settings_for(db: &TestDb, env: &[(&str, &str)]) -> Settings {
    // The evidence signing key outside the database, as in production; a restart on these
    // settings finds it again.
    let keys = std::env::temp_dir()
        .join("zw-test-keys")
        .join(uuid::Uuid::new_v4().simple().to_string());
    let mut vars = vec![
        ("ZW__DATABASE__URL".to_owned(), db.url.clone()),
        (
            "ZW__EVIDENCE__KEYS_DIR".to_owned(),
            keys.display().to_string(),
        ),
    ];
    vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let mut settings = Settings::load_with(None, vars).expect("settings");
    settings.http.workers = 1;
    settings.database.max_connections = 4;
    settings
}

/// The service with default settings, seeded with an admin and a street officer.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// The service with extra `ZW__…` settings.
pub async fn spawn_app_with(env: &[(&str, &str)]) -> TestApp {
    let database = TestDb::postgres_url_only().await;
    let settings = settings_for(&database, env).await;
    start(settings, Some(database)).await
}

/// The service on a fresh SQLite file, as `zhiwang up` runs it.
pub async fn spawn_app_on_sqlite() -> TestApp {
    let database = TestDb::sqlite().await;
    let settings = settings_for(&database, &[]).await;
    start(settings, Some(database)).await
}

/// Start the service with `settings` on an in-process bus of its own (a second instance on the
/// same database passes `None`: the first owns it).
pub async fn start(settings: Settings, database: Option<TestDb>) -> TestApp {
    start_on(
        settings,
        database,
        zw_bus::Bus::in_process(&zw_bus::BusConfig::in_process()),
    )
    .await
}

/// [`start`] on `bus`.
pub async fn start_on(
    mut settings: Settings,
    database: Option<TestDb>,
    bus: zw_bus::Bus,
) -> TestApp {
    let db = zw_identity::connect(&settings)
        .await
        .expect("connect and migrate");
    zw_identity::seed_accounts(&db, &seed())
        .await
        .expect("seed");
    let listener = zw_platform::http::bind("127.0.0.1", 0).expect("bind");
    let app = zw_identity::build(&settings, bus.clone(), listener)
        .await
        .expect("build");
    let url = format!("http://127.0.0.1:{}", app.port());
    settings.auth.jwks_url = format!("{url}/api/v1/identity/.well-known/jwks.json");
    let stop = app.stop_token();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        url,
        client: reqwest::Client::new(),
        settings,
        db,
        stop,
        _database: database,
    }
}

/// The demo accounts every test starts with.
pub fn seed() -> Vec<SeedAccount> {
    vec![
        SeedAccount {
            username: ADMIN.into(),
            password: ADMIN_PASSWORD.into(),
            roles: vec![Role::Admin],
            scope: JurisdictionCode::parse("440304").expect("code"),
            name: Some("Administrator".into()),
            id_number: None,
            id: None,
        },
        SeedAccount {
            username: OFFICER.into(),
            password: OFFICER_PASSWORD.into(),
            roles: vec![Role::StreetOfficer],
            scope: JurisdictionCode::parse("440304008").expect("code"),
            name: None,
            id_number: None,
            id: None,
        },
        SeedAccount {
            username: CITIZEN.into(),
            password: CITIZEN_PASSWORD.into(),
            roles: vec![Role::Citizen],
            scope: JurisdictionCode::parse("440304").expect("code"),
            name: Some("Li Lei".into()),
            id_number: Some(zw_domain::IdNumber::parse(CITIZEN_ID_NUMBER).expect("valid")),
            id: None,
        },
    ]
}

impl TestApp {
    pub fn at(&self, path: &str) -> String {
        format!("{}/api/v1/identity{path}", self.url)
    }

    /// POST a JSON body to the token endpoint.
    pub async fn token_request(&self, body: &Value) -> Response {
        self.client
            .post(self.at("/token"))
            .json(body)
            .send()
            .await
            .expect("token request")
    }

    /// Log in with a password and return the access token (panics unless 200).
    pub async fn login(&self, username: &str, password: &str) -> String {
        let res = self
            .token_request(
                &json!({"grant_type": "password", "username": username, "password": password}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "login of {username}");
        let body: Value = res.json().await.expect("json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.login(ADMIN, ADMIN_PASSWORD).await
    }

    /// The id (token subject) of the user `username`.
    pub async fn user_id(&self, username: &str) -> String {
        zw_identity::accounts::find_user(&self.db, username)
            .await
            .expect("find")
            .unwrap_or_else(|| panic!("no user {username}"))
            .id
            .to_string()
    }

    /// POST a form to `path` with a bearer token.
    pub async fn post_form_as(&self, path: &str, token: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.at(path))
            .bearer_auth(token)
            .form(form)
            .send()
            .await
            .expect("post")
    }

    /// Rows of `table` (to check what was, and was not, written).
    pub async fn rows(&self, table: &str) -> i64 {
        use sea_orm::ConnectionTrait;
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("n")
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.at(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("get")
    }

    pub async fn post_as(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .post(self.at(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("post")
    }

    pub async fn post_empty_as(&self, path: &str, token: &str) -> Response {
        self.client
            .post(self.at(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("post")
    }

    /// The served JWKS.
    pub async fn jwks(&self) -> zw_auth::Jwks {
        self.client
            .get(self.at("/.well-known/jwks.json"))
            .send()
            .await
            .expect("jwks")
            .json()
            .await
            .expect("jwks json")
    }

    pub async fn user_count(&self) -> u64 {
        zw_identity::model::user::Entity::find()
            .count(&self.db)
            .await
            .expect("count")
    }
}

/// Assert a problem+json response with `status` and return its body.
pub async fn problem(res: Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    let body: Value = res.json().await.expect("problem json");
    assert_eq!(body["status"], status);
    body
}

/// The `kid` in a token's header.
pub fn kid_of(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().expect("header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("b64");
    let v: Value = serde_json::from_slice(&bytes).expect("json");
    v["kid"].as_str().expect("kid").to_owned()
}

/// The `alg` in a token's header.
pub fn alg_of(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().expect("header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("b64");
    let v: Value = serde_json::from_slice(&bytes).expect("json");
    v["alg"].as_str().expect("alg").to_owned()
}

/// A verifier that fetches the app's served JWKS, as every other service does.
pub fn remote_verifier(app: &TestApp) -> zw_auth::Verifier {
    zw_auth::Verifier::remote(&app.settings.auth)
}
