//! Plain HTTP calls of a [`RunningApp`]: JSON calls with a bearer token that give the status and
//! the body, checking on the way that every error body is `application/problem+json`; and
//! [`Reply`], the raw status, `Content-Type` and text for what is not JSON (metrics).

use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::Value;

use crate::RunningApp;

/// `GET path`, with `token` as the bearer if any: status and JSON body (see [`decode`]).
pub async fn get(app: &RunningApp, token: Option<&str>, path: &str) -> (StatusCode, Value) {
    call(with_token(app.client.get(app.url(path)), token)).await
}

/// `POST path` with the JSON `body`, with `token` as the bearer if any: status and JSON body
/// (see [`decode`]).
pub async fn post(
    app: &RunningApp,
    token: Option<&str>,
    path: &str,
    body: &Value,
) -> (StatusCode, Value) {
    call(with_token(app.client.post(app.url(path)), token).json(body)).await
}

/// Send `req` (built by the test, e.g. with extra headers or a raw body): status and JSON body
/// (see [`decode`]).
pub async fn call(req: RequestBuilder) -> (StatusCode, Value) {
    decode(req.send().await.unwrap_or_else(|e| panic!("request: {e}"))).await
}

/// Status and JSON body (`null` when there is none) of `res`.
///
/// # Panics
/// When `res` is an error (4xx, 5xx) whose body is not `application/problem+json`: every error
/// a Zhiwang service gives is a problem.
pub async fn decode(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let is_problem = content_type(&res).starts_with("application/problem+json");
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if status.is_client_error() || status.is_server_error() {
        assert!(
            is_problem,
            "error responses are problem+json: {status} {body}"
        );
    }
    (status, body)
}

/// `value` percent-encoded for a query string.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A response as it came: status, `Content-Type` and body text.
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: String,
}

impl Reply {
    /// Send `req` and read the whole response.
    pub async fn of(req: RequestBuilder) -> Reply {
        let res = req.send().await.unwrap_or_else(|e| panic!("request: {e}"));
        let status = res.status();
        let content_type = content_type(&res).to_owned();
        let body = res
            .text()
            .await
            .unwrap_or_else(|e| panic!("response body: {e}"));
        Reply {
            status,
            content_type,
            body,
        }
    }

    /// The body as JSON.
    ///
    /// # Panics
    /// When it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Whether the body is a problem (`application/problem+json`).
    pub fn is_problem(&self) -> bool {
        self.content_type.starts_with("application/problem+json")
    }
}

fn with_token(req: RequestBuilder, token: Option<&str>) -> RequestBuilder {
    match token {
        Some(token) => req.bearer_auth(token),
        None => req,
    }
}

fn content_type(res: &Response) -> &str {
    res.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}
