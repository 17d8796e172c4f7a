//! `spawn_gateway()`: the real gateway on port 0 in front of small fake services (real actix
//! servers on 127.0.0.1:0 that echo what reached them and serve an OpenAPI document), with a
//! `TestIssuer` whose verifier the gateway trusts.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zw_auth::testing::TestIssuer;
use zw_gateway::Options;
use zw_platform::Settings;

/// What one fake service saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }
}

/// A fake service: `/api/v1/<name>/openapi.json` serves a document; `/api/v1/<name>/status/<n>`
/// answers status n; `/api/v1/<name>/never` never answers; `/api/v1/<name>/big` sends [`BIG`]
/// bytes; everything else echoes.
pub struct FakeService {
    pub name: String,
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeService {
    pub async fn start(name: &str) -> FakeService {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a fake service");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let state = web::Data::new((name.to_owned(), seen.clone()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .default_service(web::to(fake_handler))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        FakeService {
            name: name.to_owned(),
            url,
            seen,
        }
    }

    /// Everything it saw so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// The one request it saw (panics unless there is exactly one).
    pub fn only_request(&self) -> Seen {
        let seen = self.seen();
        assert_eq!(
            seen.len(),
            1,
            "expected exactly one request to {}: {seen:?}",
            self.name
        );
        seen.into_iter().next().expect("one")
    }
}

/// The size of `/api/v1/<name>/big`, far above the request body limit.
pub const BIG: usize = 3 * 1024 * 1024;

type FakeState = web::Data<(String, Arc<Mutex<Vec<Seen>>>)>;

async fn fake_handler(req: HttpRequest, body: web::Bytes, state: FakeState) -> HttpResponse {
    let (name, seen) = state.get_ref();
    let path = req.path().to_owned();
    if path == format!("/api/v1/{name}/openapi.json") {
        return HttpResponse::Ok().json(fake_openapi(name));
    }
    let record = Seen {
        method: req.method().to_string(),
        path: path.clone(),
        query: req.query_string().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: body.to_vec(),
    };
    seen.lock().expect("lock").push(record.clone());
    if path == format!("/api/v1/{name}/never") {
        std::future::pending::<()>().await;
    }
    if path == format!("/api/v1/{name}/big") {
        return HttpResponse::Ok()
            .content_type("application/octet-stream")
            .body(vec![b'z'; BIG]);
    }
    if let Some(code) = path.strip_prefix(&format!("/api/v1/{name}/status/")) {
        let status = code
            .parse()
            .ok()
            .and_then(|c| actix_web::http::StatusCode::from_u16(c).ok());
        return HttpResponse::build(status.unwrap_or(actix_web::http::StatusCode::IM_A_TEAPOT))
            .insert_header(("x-fake", "yes"))
            .insert_header(("location", format!("/api/v1/{name}/elsewhere")))
            .body(format!("status {code}"));
    }
    HttpResponse::Ok()
        .insert_header(("x-served-by", name.as_str()))
        .json(json!({
            "service": name,
            "method": record.method,
            "path": record.path,
            "query": record.query,
            "body": String::from_utf8_lossy(&record.body),
        }))
}

fn fake_openapi(name: &str) -> Value {
    json!({
        "openapi": "3.1.0",
        "info": { "title": format!("Zhiwang {name}"), "version": "0.1.0" },
        "paths": {
            format!("/api/v1/{name}/things"): {
                "get": {
                    "operationId": "list_things",
                    "responses": { "200": { "description": "the things", "content": {
                        "application/json": { "schema": { "$ref": "#/components/schemas/Thing" } }
                    } } }
                }
            }
        },
        "components": { "schemas": { "Thing": { "type": "object", "title": format!("{name} thing") } } }
    })
}

/// What a test may change before the gateway starts.
pub struct Setup {
    pub settings: Settings,
    pub options: Options,
}

/// The gateway under test and what stands around it.
pub struct TestGateway {
    pub url: String,
    pub client: reqwest::Client,
    pub issuer: TestIssuer,
    pub settings: Settings,
    pub grid: FakeService,
    pub credit: FakeService,
}

/// A gateway in front of the fake services `grid` and `credit`, in-memory rate limits (600/min).
pub async fn spawn_gateway() -> TestGateway {
    spawn_gateway_with(|_| {}).await
}

/// As [`spawn_gateway`], after `adjust` changed the settings or options.
pub async fn spawn_gateway_with(adjust: impl FnOnce(&mut Setup)) -> TestGateway {
    let grid = FakeService::start("grid").await;
    let credit = FakeService::start("credit").await;
    let mut settings = Settings::load_with(None, Vec::new()).expect("default settings");
    settings
        .gateway
        .upstreams
        .insert("grid".into(), grid.url.clone());
    settings
        .gateway
        .upstreams
        .insert("credit".into(), credit.url.clone());
    settings.http.max_body_bytes = 1024;
    settings.http.workers = 1;
    settings.redis.url = String::new();
    settings.redis.key_prefix = zw_testkit::unique_prefix();
    zw_platform::telemetry::init(&settings.telemetry, "gateway-tests");
    let mut setup = Setup {
        settings,
        options: Options::default(),
    };
    adjust(&mut setup);
    let Setup { settings, options } = setup;

    let issuer = TestIssuer::new(&settings.auth);
    let listener = zw_platform::http::bind("127.0.0.1", 0).expect("bind the gateway");
    let app = zw_gateway::build_with(&settings, issuer.verifier.clone(), listener, options)
        .await
        .expect("the gateway builds");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    TestGateway {
        url,
        client,
        issuer,
        settings,
        grid,
        credit,
    }
}

/// Settings for a real Redis at `zw_testkit::redis_url()` with a fresh key prefix.
pub fn use_real_redis(setup: &mut Setup) {
    setup.settings.redis.url = zw_testkit::redis_url();
    setup.settings.redis.key_prefix = zw_testkit::unique_prefix();
}

/// A local address nothing listens on: port 1 (tcpmux) is privileged and unused, so unlike a
/// freed ephemeral port no concurrent test can take it.
pub fn closed_port_url() -> String {
    "http://127.0.0.1:1".to_owned()
}

impl TestGateway {
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.at(path))
            .send()
            .await
            .expect("the gateway answers")
    }

    /// A GET with `Authorization: Bearer <token>`.
    pub async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.at(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("the gateway answers")
    }

    /// A citizen's token for `subject` in the demo district.
    pub fn citizen(&self, subject: &str) -> String {
        self.issuer.token(zw_auth::Role::Citizen, "440304", subject)
    }

    /// Send raw HTTP/1.1 bytes (for what reqwest will not send, e.g. a chunked body with no
    /// declared length) and return the response's status code.
    pub async fn raw_status(&self, request: &[u8]) -> u16 {
        let addr = self.url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request).await.expect("write");
        let mut buf = vec![0u8; 4096];
        let mut read = 0;
        while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf[read..]))
                .await
                .expect("the gateway answers in time")
                .expect("read");
            assert!(n > 0, "the connection closed before a response");
            read += n;
        }
        let head = String::from_utf8_lossy(&buf[..read]);
        head.split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status line")
    }
}

/// The problem body of a response, checking its media type.
pub async fn problem(res: reqwest::Response) -> Value {
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        content_type.starts_with("application/problem+json"),
        "content type {content_type:?}"
    );
    res.json().await.expect("a problem body")
}
