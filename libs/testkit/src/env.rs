//! [`TestEnv`]: what a service's integration test starts it with — settings pointing at fresh
//! databases, a bus with its own prefix on the test NATS server (or in process), a token issuer
//! the services trust — and [`RunningApp`], a service running on a free port.

use std::fmt::Display;
use std::net::TcpListener;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use zw_auth::testing::TestIssuer;
use zw_auth::{Role, Verifier};
use zw_bus::{Bus, BusConfig};
use zw_platform::Settings;
use zw_platform::http::Application;

use crate::{TestDb, nats_url, unique_prefix};

/// The dependencies of the services under test.
pub struct TestEnv {
    pub prefix: String,
    pub bus: Bus,
    pub issuer: TestIssuer,
    env: Vec<(String, String)>,
    databases: Vec<TestDb>,
    /// Data folders of services on SQLite, removed when the environment drops.
    data_dirs: Vec<std::path::PathBuf>,
}

impl TestEnv {
    /// Services on the test NATS server (own subject and stream prefix).
    pub async fn nats() -> TestEnv {
        let prefix = unique_prefix();
        let cfg = BusConfig::nats(nats_url()).with_prefix(prefix.clone());
        let bus = Bus::connect(&cfg)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test NATS: {e}"));
        let env = vec![
            ("ZW__BUS__URL".to_owned(), nats_url()),
            ("ZW__BUS__PREFIX".to_owned(), prefix.clone()),
        ];
        Self::with(prefix, bus, env)
    }

    /// Services on one in-process bus.
    pub fn in_process() -> TestEnv {
        let prefix = unique_prefix();
        let bus = Bus::in_process(&BusConfig::in_process());
        Self::with(prefix, bus, Vec::new())
    }

    fn with(prefix: String, bus: Bus, mut env: Vec<(String, String)>) -> TestEnv {
        env.push(("ZW__REDIS__KEY_PREFIX".to_owned(), prefix.clone()));
        env.push(("ZW__HTTP__WORKERS".to_owned(), "1".to_owned()));
        env.push(("ZW__DATABASE__MAX_CONNECTIONS".to_owned(), "5".to_owned()));
        env.push(("ZW__BUS__REQUEST_TIMEOUT_MS".to_owned(), "2000".to_owned()));
        let base = settings_from(&env);
        let issuer = TestIssuer::new(&base.auth);
        TestEnv {
            prefix,
            bus,
            issuer,
            env,
            databases: Vec::new(),
            data_dirs: Vec::new(),
        }
    }

    /// Add an environment override (`ZW__…`) for the settings made after this call.
    pub fn set(&mut self, key: &str, value: &str) {
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// Settings for one service, with a fresh PostgreSQL database of its own.
    pub async fn settings(&mut self) -> Settings {
        let db = TestDb::postgres_url_only().await;
        let mut env = self.env.clone();
        env.push(("ZW__DATABASE__URL".to_owned(), db.url.clone()));
        self.databases.push(db);
        // The evidence signing key files, outside the database as in production.
        let keys = std::env::temp_dir().join(format!("zw_keys_{}", uuid::Uuid::new_v4().simple()));
        env.push((
            "ZW__EVIDENCE__KEYS_DIR".to_owned(),
            keys.display().to_string(),
        ));
        self.data_dirs.push(keys);
        settings_from(&env)
    }

    /// Settings for services on the embedded default, as `zhiwang up` runs them: no database
    /// URL, so each service opens `<service>.db` (SQLite) in a fresh data folder of its own.
    pub fn sqlite_settings(&mut self) -> Settings {
        let dir = std::env::temp_dir().join(format!("zw_test_{}", uuid::Uuid::new_v4().simple()));
        let mut env = self.env.clone();
        env.push((
            "ZW__DATABASE__DATA_DIR".to_owned(),
            dir.display().to_string(),
        ));
        self.data_dirs.push(dir);
        settings_from(&env)
    }

    /// A verifier that trusts this environment's issuer.
    pub fn verifier(&self) -> Verifier {
        self.issuer.verifier.clone()
    }

    /// A signed access token.
    pub fn token(&self, role: Role, scope: &str, subject: &str) -> String {
        self.issuer.token(role, scope, subject)
    }

    /// A signed access token for a `role` of `scope`, its subject named after both
    /// (`street_officer-440304001`).
    pub fn token_for(&self, role: Role, scope: &str) -> String {
        self.token(role, scope, &format!("{}-{scope}", role.as_str()))
    }

    /// An issuer with a key of its own, which no service of this environment trusts: its tokens
    /// are well-formed, correctly signed forgeries.
    pub fn untrusted_issuer(&self) -> TestIssuer {
        TestIssuer::new(&settings_from(&self.env).auth)
    }

    /// Build a service with its `build` (`zw_<service>::build`) on settings of its own (a fresh
    /// database), and run it. The settings are returned for restarting it on the same database
    /// ([`TestEnv::start`]) or for reaching that database from the test.
    pub async fn spawn<E: Display>(
        &mut self,
        build: impl AsyncFnOnce(&Settings, Bus, Verifier, TcpListener) -> Result<Application, E>,
    ) -> (Settings, RunningApp) {
        let settings = self.settings().await;
        let app = self.start(&settings, build).await;
        (settings, app)
    }

    /// Build a service with its `build` and `settings` on this environment's bus and issuer, and
    /// run it on a free port.
    pub async fn start<E: Display>(
        &self,
        settings: &Settings,
        build: impl AsyncFnOnce(&Settings, Bus, Verifier, TcpListener) -> Result<Application, E>,
    ) -> RunningApp {
        let app = build(
            settings,
            self.bus.clone(),
            self.verifier(),
            RunningApp::listener(),
        )
        .await
        .unwrap_or_else(|e| panic!("the service under test does not build: {e:#}"));
        RunningApp::start(app)
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        for dir in &self.data_dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn settings_from(env: &[(String, String)]) -> Settings {
    Settings::load_with(None, env.iter().cloned()).unwrap_or_else(|e| panic!("test settings: {e}"))
}

/// A service running in this test on 127.0.0.1 and a free port.
pub struct RunningApp {
    pub base_url: String,
    pub client: reqwest::Client,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningApp {
    /// Run `app` until this value is stopped or dropped.
    pub fn start(app: Application) -> RunningApp {
        let base_url = format!("http://127.0.0.1:{}", app.port());
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task =
            tokio::spawn(async move { app.run_until_stopped(token.cancelled_owned()).await });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|e| panic!("http client: {e}"));
        RunningApp {
            base_url,
            client,
            stop,
            task: Some(task),
        }
    }

    /// A listener on a free local port, for `build`.
    pub fn listener() -> std::net::TcpListener {
        zw_platform::http::bind("127.0.0.1", 0).unwrap_or_else(|e| panic!("bind: {e}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Stop the service and wait for it (background tasks included).
    pub async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
        }
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
