//! A whole platform of `zhiwang serve` processes for one test.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use zw_demo::{DEMO_PASSWORD, DemoDistrict};
use zw_testkit::TestDb;

use crate::deps::{Dependency, Owned};

pub const BACKENDS: [&str; 7] = [
    "identity",
    "district",
    "grid",
    "community",
    "street",
    "credit",
    "approval",
];

/// The name of the second gateway process ([`Cluster::start_gateway_replica`]): its log is
/// `gateway-2.log`, and it runs `zhiwang serve gateway`.
pub const GATEWAY_REPLICA: &str = "gateway-2";

/// What `zhiwang serve` runs for a process of the cluster.
fn serves(process: &str) -> &str {
    if process == GATEWAY_REPLICA {
        "gateway"
    } else {
        process
    }
}

pub struct Cluster {
    pub gateway: String,
    pub client: reqwest::Client,
    pub demo: DemoDistrict,
    pub dbs: BTreeMap<&'static str, ServiceDb>,
    env: BTreeMap<&'static str, Vec<(String, String)>>,
    procs: BTreeMap<&'static str, Child>,
    logs: PathBuf,
    /// PostgreSQL, NATS and Redis of this cluster's own ([`Cluster::start_owning`]); dropped
    /// (stopped, their files removed) after the processes are killed.
    owned: Option<Owned>,
}

/// A service's own database: its URL, and on the shared server the guard that drops it.
pub struct ServiceDb {
    pub url: String,
    _shared: Option<TestDb>,
}

pub fn bin() -> PathBuf {
    let path = std::env::var("ZW_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/zhiwang")
        });
    assert!(
        path.exists(),
        "the zhiwang binary is not at {} (run scripts/test, or cargo build -p zhiwang)",
        path.display()
    );
    path
}

impl Cluster {
    /// Start every service (seeded with the demo district) and the gateway; wait until ready.
    pub async fn start() -> Cluster {
        Cluster::start_with(&[]).await
    }

    /// As [`Cluster::start`], with `settings` added to the environment of the services they
    /// name: `(service, variable, value)`, e.g. `("gateway", "ZW__GATEWAY__RATE_LIMIT_PER_MINUTE", "8")`.
    ///
    /// Each process binds port 0 and the harness reads the port from the process's own
    /// "serving" log line: choosing free ports up front races with the other tests' processes.
    pub async fn start_with(settings: &[(&'static str, &str, &str)]) -> Cluster {
        Cluster::start_in(false, settings).await
    }

    /// As [`Cluster::start_with`], on a PostgreSQL cluster, a NATS server and a Redis server of
    /// the cluster's own (see [`crate::deps`]), which the test may stop and start again
    /// ([`Cluster::stop_dependency`], [`Cluster::start_dependency`]).
    pub async fn start_owning(settings: &[(&'static str, &str, &str)]) -> Cluster {
        Cluster::start_in(true, settings).await
    }

    async fn start_in(own: bool, settings: &[(&'static str, &str, &str)]) -> Cluster {
        let prefix = zw_testkit::unique_prefix();
        let logs = std::env::temp_dir().join(format!("zw-e2e-{prefix}"));
        std::fs::create_dir_all(&logs).expect("log dir");
        // The dependencies' logs in a folder of their own: `log_files` lists the services'.
        let owned = own.then(|| Owned::start(&logs.join("deps")));
        let (nats, redis) = match &owned {
            Some(o) => (o.nats_url(), o.redis_url()),
            None => (zw_testkit::nats_url(), zw_testkit::redis_url()),
        };
        let common = vec![
            ("ZW__BUS__URL".to_owned(), nats),
            ("ZW__BUS__PREFIX".to_owned(), prefix.clone()),
            ("ZW__HTTP__HOST".to_owned(), "127.0.0.1".to_owned()),
            ("ZW__HTTP__PORT".to_owned(), "0".to_owned()),
            ("ZW__HTTP__WORKERS".to_owned(), "1".to_owned()),
            ("ZW__DATABASE__MAX_CONNECTIONS".to_owned(), "4".to_owned()),
            ("ZW__TELEMETRY__LOG_FORMAT".to_owned(), "json".to_owned()),
            (
                "ZW__EVIDENCE__KEYS_DIR".to_owned(),
                logs.join("evidence-keys").display().to_string(),
            ),
        ];
        let mut env = BTreeMap::new();
        let mut dbs = BTreeMap::new();
        for s in BACKENDS {
            let db = match &owned {
                Some(o) => ServiceDb::create_on(&o.postgres_url(), s).await,
                None => {
                    let db = TestDb::postgres_url_only().await;
                    ServiceDb {
                        url: db.url.clone(),
                        _shared: Some(db),
                    }
                }
            };
            let mut e = common.clone();
            e.push(("ZW__DATABASE__URL".to_owned(), db.url.clone()));
            dbs.insert(s, db);
            env.insert(s, e);
        }
        let mut g = common.clone();
        g.push(("ZW__REDIS__URL".to_owned(), redis));
        g.push(("ZW__REDIS__KEY_PREFIX".to_owned(), prefix.clone()));
        env.insert("gateway", g);
        for (service, key, value) in settings {
            let e = env.get_mut(service).expect("a known service");
            e.retain(|(k, _)| k != key);
            e.push(((*key).to_owned(), (*value).to_owned()));
        }

        let mut cluster = Cluster {
            gateway: String::new(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            demo: DemoDistrict::generate(&"440304".parse().expect("code"), "e2e"),
            dbs,
            env,
            procs: BTreeMap::new(),
            logs,
            owned,
        };
        for s in ["identity", "grid", "district"] {
            cluster.run_to_end(&["seed", s], s);
        }
        // Identity first: the others need its JWKS URL.
        let identity = cluster.start_service("identity").await;
        let jwks = format!("{identity}/api/v1/identity/.well-known/jwks.json");
        for e in cluster.env.values_mut() {
            e.push(("ZW__AUTH__JWKS_URL".to_owned(), jwks.clone()));
        }
        let mut upstreams = vec![("identity", identity)];
        for s in BACKENDS.into_iter().filter(|s| *s != "identity") {
            upstreams.push((s, cluster.start_service(s).await));
        }
        for (s, url) in upstreams {
            cluster.set(
                "gateway",
                &format!("ZW__GATEWAY__UPSTREAMS__{}", s.to_uppercase()),
                &url,
            );
        }
        cluster.gateway = cluster.start_service("gateway").await;
        cluster
    }

    /// Spawn `service` on port 0, learn its port from its log, pin that port for restarts, and
    /// wait until it is ready. Returns its base URL.
    async fn start_service(&mut self, service: &'static str) -> String {
        let log = self.logs.join(format!("{service}.log"));
        self.spawn(service);
        let port = zw_testkit::eventually(
            Duration::from_secs(60),
            &format!("{service} to log its port"),
            || {
                let log = log.clone();
                async move { serving_port(&std::fs::read_to_string(log).ok()?) }
            },
        )
        .await;
        self.set(service, "ZW__HTTP__PORT", &port.to_string());
        let url = format!("http://127.0.0.1:{port}");
        self.wait_ready(service, &url).await;
        url
    }

    /// Start a second gateway ([`GATEWAY_REPLICA`]) with the first one's settings — the same
    /// upstreams, the same Redis and Redis key prefix, the same limits — on a port of its own, as
    /// a second replica behind a load balancer runs. Returns its base URL.
    pub async fn start_gateway_replica(&mut self) -> String {
        let env = self.env["gateway"].clone();
        self.env.insert(GATEWAY_REPLICA, env);
        self.set(GATEWAY_REPLICA, "ZW__HTTP__PORT", "0");
        self.start_service(GATEWAY_REPLICA).await
    }

    /// Every log file of this cluster: each `zhiwang serve` process's standard output and error
    /// (`<service>.log`, restarts appended) and each command run to its end (`<service>.cli.log`).
    pub fn log_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.logs)
            .expect("log dir")
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        files.sort();
        files
    }

    /// Append a command's output to `<service>.cli.log`.
    fn record(&self, service: &str, args: &[&str], out: &std::process::Output) {
        use std::io::Write;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{service}.cli.log")))
            .expect("cli log file");
        let _ = writeln!(log, "$ zhiwang {}", args.join(" "));
        let _ = log.write_all(&out.stdout);
        let _ = log.write_all(&out.stderr);
    }

    /// The identity service's active signing key, read from its database as only an attacker
    /// holding that database could: `(kid, alg, PKCS#8 DER)`.
    pub async fn identity_signing_key(&self) -> (String, String, Vec<u8>) {
        use sea_orm::{ConnectionTrait, Statement};
        let db = sea_orm::Database::connect(&self.dbs["identity"].url)
            .await
            .expect("identity database");
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT kid, alg, private_key FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1",
            ))
            .await
            .expect("signing key query")
            .expect("an active key");
        (
            row.try_get("", "kid").expect("kid"),
            row.try_get("", "alg").expect("alg"),
            row.try_get("", "private_key").expect("private key"),
        )
    }

    /// Set (or replace) an environment variable of `service`.
    fn set(&mut self, service: &'static str, key: &str, value: &str) {
        let e = self.env.get_mut(service).expect("known service");
        e.retain(|(k, _)| k != key);
        e.push((key.to_owned(), value.to_owned()));
    }

    fn command(&self, service: &'static str, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args).env_clear();
        for key in ["PATH", "HOME"] {
            if let Ok(v) = std::env::var(key) {
                cmd.env(key, v);
            }
        }
        cmd.envs(self.env[service].iter().cloned());
        cmd
    }

    /// Run a `zhiwang` command for `service`'s configuration to its end; panics on failure.
    pub fn run_to_end(&self, args: &[&str], service: &'static str) -> std::process::Output {
        let out = self.command(service, args).output().expect("run zhiwang");
        self.record(service, args, &out);
        assert!(
            out.status.success(),
            "zhiwang {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Run a `zhiwang` command and return its output, success or not.
    pub fn run(&self, args: &[&str], service: &'static str) -> std::process::Output {
        let out = self.command(service, args).output().expect("run zhiwang");
        self.record(service, args, &out);
        out
    }

    /// As [`Cluster::run`] with extra environment variables.
    pub fn run_with_env(
        &self,
        args: &[&str],
        service: &'static str,
        env: &[(&str, &str)],
    ) -> std::process::Output {
        let mut cmd = self.command(service, args);
        cmd.envs(env.iter().copied());
        let out = cmd.output().expect("run zhiwang");
        self.record(service, args, &out);
        out
    }

    /// Start (or restart) `zhiwang serve <service>`.
    pub fn spawn(&mut self, service: &'static str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{service}.log")))
            .expect("log file");
        let child = self
            .command(service, &["serve", serves(service)])
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn zhiwang serve");
        self.procs.insert(service, child);
    }

    /// SIGKILL a service: no shutdown hooks, no flushing.
    pub fn kill(&mut self, service: &'static str) {
        if let Some(mut c) = self.procs.remove(service) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop a dependency the cluster owns (PostgreSQL `-m fast`, NATS and Redis by SIGTERM).
    ///
    /// # Panics
    /// When the cluster was not started with [`Cluster::start_owning`].
    pub fn stop_dependency(&mut self, d: Dependency) {
        self.owned_mut().stop_dependency(d);
    }

    /// Start a dependency the cluster owns again, on its port and with its store.
    pub fn start_dependency(&mut self, d: Dependency) {
        self.owned_mut().start_dependency(d);
    }

    fn owned_mut(&mut self) -> &mut Owned {
        self.owned
            .as_mut()
            .expect("a cluster started with Cluster::start_owning")
    }

    /// `GET /readyz` of a process: its status and report.
    pub async fn readyz(&self, service: &str) -> (StatusCode, Value) {
        match self
            .client
            .get(format!("{}/readyz", self.service_url(service)))
            .send()
            .await
        {
            Ok(res) => {
                let status = res.status();
                (status, res.json().await.unwrap_or(Value::Null))
            }
            Err(e) => panic!("{service} /readyz did not answer: {e}"),
        }
    }

    pub async fn wait_ready(&self, service: &str, base: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.client.get(format!("{base}/readyz")).send().await
                && r.status().is_success()
            {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let log = std::fs::read_to_string(self.logs.join(format!("{service}.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "{service} did not become ready; its log ends:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn service_url(&self, service: &str) -> String {
        let port = self.env[service]
            .iter()
            .find(|(k, _)| k == "ZW__HTTP__PORT")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        format!("http://127.0.0.1:{port}")
    }

    /// Log in through the gateway as a demo account.
    pub async fn login(&self, username: &str) -> String {
        self.login_with(username, DEMO_PASSWORD).await
    }

    /// Log in through the gateway.
    pub async fn login_with(&self, username: &str, password: &str) -> String {
        let res = self
            .client
            .post(format!("{}/api/v1/identity/token", self.gateway))
            .json(&json!({"grant_type": "password", "username": username, "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(res.status(), StatusCode::OK, "login as {username}");
        let body: Value = res.json().await.expect("token body");
        body["access_token"].as_str().expect("token").to_owned()
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.gateway, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        decode(res).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    /// The first grid's first house and the person the register has there.
    pub fn example(&self) -> (String, String, String) {
        let grid = self.demo.grids().next().expect("grid").code.clone();
        let house = self
            .demo
            .houses(&grid)
            .into_iter()
            .next()
            .expect("house")
            .code;
        let person = self
            .demo
            .register()
            .into_iter()
            .find(|p| p.registered_house.as_ref() == Some(&house))
            .expect("resident");
        (
            grid.to_string(),
            house.to_string(),
            person.id_number.to_string(),
        )
    }

    /// Wait until `stats` of `centre` under `code` equal `expected`.
    pub async fn counts_reach(&self, centre: &str, code: &str, token: &str, expected: Value) {
        let path = format!("/api/v1/{centre}/stats?under={code}");
        let what = format!("{centre} counts under {code} to reach {expected}");
        zw_testkit::eventually(Duration::from_secs(60), &what, || async {
            let (status, body) = self.get(&path, token).await;
            (status == StatusCode::OK && body["declarations"] == expected).then_some(())
        })
        .await;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, mut c) in std::mem::take(&mut self.procs) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl ServiceDb {
    /// A database named after `service` on a server of the cluster's own.
    async fn create_on(server: &str, service: &str) -> ServiceDb {
        use sea_orm::ConnectionTrait;
        let admin = sea_orm::Database::connect(format!("{server}/postgres"))
            .await
            .unwrap_or_else(|e| panic!("cannot reach the cluster's PostgreSQL at {server}: {e}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"zw_{service}\""))
            .await
            .expect("create database");
        let _ = admin.close().await;
        ServiceDb {
            url: format!("{server}/zw_{service}"),
            _shared: None,
        }
    }
}

pub async fn decode(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let problem = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"));
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if status.is_client_error() || status.is_server_error() {
        assert!(problem, "an error is problem+json: {status} {body}");
    }
    (status, body)
}

/// An ID number with a valid check digit that the demo register does not know.
pub fn unknown_id(seq: u16) -> String {
    let birth = chrono::NaiveDate::from_ymd_opt(1991, 1, 1).expect("date")
        + chrono::Duration::days(i64::from(seq / 1000));
    zw_domain::IdNumber::from_parts("110105", birth, seq % 1000)
        .expect("valid")
        .to_string()
}

/// The port in the last "serving" line of a service's JSON log.
fn serving_port(log: &str) -> Option<u16> {
    log.lines().rev().find_map(|line| {
        let v: Value = serde_json::from_str(line).ok()?;
        (v["fields"]["message"] == "serving")
            .then(|| v["fields"]["port"].as_u64())?
            .and_then(|p| u16::try_from(p).ok())
    })
}
