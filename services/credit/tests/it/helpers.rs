//! The credit service on a fresh database and a bus of its own, and plain HTTP calls.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;
use zw_platform::Settings;
use zw_testkit::{RunningApp, TestEnv};

/// The service's name, as its routes, metrics and documents use it.
pub const SERVICE: &str = "credit";
/// The title of its OpenAPI document.
pub const TITLE: &str = "Zhiwang credit";

pub struct App {
    /// Owns the database and the bus for as long as the test runs.
    _env: TestEnv,
    pub settings: Settings,
    pub app: RunningApp,
}

pub async fn spawn_app() -> App {
    let mut env = TestEnv::nats().await;
    let settings = env.settings().await;
    let app = zw_credit::build(
        &settings,
        env.bus.clone(),
        env.verifier(),
        RunningApp::listener(),
    )
    .await
    .expect("the credit service builds");
    App {
        _env: env,
        settings,
        app: RunningApp::start(app),
    }
}

/// A response: status, `Content-Type` and body.
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl App {
    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.app.client.get(self.app.url(path))).await
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.expect("request");
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = res.text().await.expect("body");
        Reply {
            status,
            content_type,
            body,
        }
    }

    /// Drop the service's database from under it, through a connection of our own.
    pub async fn drop_its_database(&self) {
        let url = self.settings.database_url(SERVICE);
        let (server, name) = url.rsplit_once('/').expect("a database URL");
        let admin = Database::connect(format!("{server}/postgres"))
            .await
            .expect("an admin connection");
        admin
            .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
            .await
            .expect("drop the database");
        let _ = admin.close().await;
    }
}

/// Whether `body` reports check `name` as `ok`.
pub fn check_is(report: &Value, name: &str, ok: bool) -> bool {
    report["checks"]
        .as_array()
        .is_some_and(|checks| checks.iter().any(|c| c["name"] == name && c["ok"] == ok))
}
