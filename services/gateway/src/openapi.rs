//! The merged OpenAPI document at `GET /api/openapi.json`: every upstream's own document
//! (`GET <upstream>/api/v1/<service>/openapi.json`) merged into one OpenAPI 3.1 document with
//! the gateway's own `info`, one tag per service, and components merged (identical components
//! shared; a different component with a taken name renamed `<service>_<name>` and its `$ref`s
//! rewritten). A service that is down or answers garbage is left out and named in the
//! description (and in `x-zhiwang-unavailable`) instead of failing the whole document.
//!
//! Every operation the gateway forwards also gets the statuses the gateway answers itself
//! ([`forwarded_problems`], from `proxy`): 429 (the rate limit), 401 and 503 (a token that does
//! not verify, keys that cannot be fetched), 413 (a body over the limit), 400 (`.`/`..` path
//! segments), 503 with `Retry-After` (the service down: it takes no connection), 502 (it broke
//! off or sent no valid answer) and 504 (too slow). The service's own document cannot name its
//! being down, so that cause is added to a 503 the service documents too ([`SERVICE_DOWN`]).
//!
//! The merged document is cached: [`MergedDocs::get`] refetches after `ttl`, or sooner
//! (`degraded_ttl`) while some service is missing, and only one refetch runs at a time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use zw_platform::openapi::{
    METHODS, ProblemResponse, add_cause, add_problems, ensure_bearer_scheme, ensure_problem_schema,
    has_parameters,
};

/// One service's document, or why it could not be had.
#[derive(Debug, Clone)]
pub struct Source {
    /// The service name (its tag).
    pub service: String,
    /// Its OpenAPI document, or the reason it is missing.
    pub doc: Result<Value, String>,
}

const RATE_LIMITED: ProblemResponse = ProblemResponse {
    status: 429,
    description: "Too many requests from this caller (`gateway.rate_limit_per_minute`, per token subject or client address): retry after `Retry-After` seconds",
    retry_after: true,
};
const DOT_SEGMENTS: ProblemResponse = ProblemResponse {
    status: 400,
    description: "The path has `.` or `..` segments",
    retry_after: false,
};
const TOO_LARGE: ProblemResponse = ProblemResponse {
    status: 413,
    description: "The body is larger than the gateway's limit (`http.max_body_bytes`, or `http.max_upload_bytes` for uploads)",
    retry_after: false,
};
const BAD_TOKEN: ProblemResponse = ProblemResponse {
    status: 401,
    description: "A bearer token was sent and does not verify (the gateway refuses it before the service sees it)",
    retry_after: false,
};
const KEYS_UNAVAILABLE: ProblemResponse = ProblemResponse {
    status: 503,
    description: "The token signing keys cannot be fetched (`unavailable`); nothing was forwarded",
    retry_after: true,
};
/// Added also where the service documents a 503 of its own (see the module docs).
pub const SERVICE_DOWN: ProblemResponse = ProblemResponse {
    status: 503,
    description: "The service is down (`unavailable`: it takes no connection); nothing was forwarded: retry after `Retry-After` seconds",
    retry_after: true,
};
const BROKEN: ProblemResponse = ProblemResponse {
    status: 502,
    description: "The service broke off or sent no valid HTTP answer (`bad-gateway`); the request may have reached it",
    retry_after: false,
};
const TIMED_OUT: ProblemResponse = ProblemResponse {
    status: 504,
    description: "The service did not answer in time (`gateway-timeout`)",
    retry_after: false,
};

/// The statuses the gateway itself may answer for a forwarded operation `op` (see `proxy`).
pub fn forwarded_problems(op: &Map<String, Value>) -> Vec<ProblemResponse> {
    let mut out = Vec::new();
    if has_parameters(op, &["path"]) {
        out.push(DOT_SEGMENTS);
    }
    if op.contains_key("requestBody") {
        out.push(TOO_LARGE);
    }
    out.extend([
        BAD_TOKEN,
        RATE_LIMITED,
        BROKEN,
        KEYS_UNAVAILABLE,
        SERVICE_DOWN,
        TIMED_OUT,
    ]);
    out
}

/// Merge `sources` into one OpenAPI 3.1 document titled "Zhiwang API" with `version`.
pub fn merge(sources: &[Source], version: &str) -> Value {
    let mut paths = Map::new();
    let mut components: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut tags = Vec::new();
    let mut operation_ids = BTreeSet::new();
    let mut unavailable: Vec<(String, String)> = Vec::new();

    for source in sources {
        let service = source.service.as_str();
        let mut doc = match &source.doc {
            Ok(Value::Object(doc)) if doc.get("paths").is_none_or(Value::is_object) => doc.clone(),
            Ok(_) => {
                unavailable.push((service.to_owned(), "not an OpenAPI document".to_owned()));
                continue;
            }
            Err(reason) => {
                unavailable.push((service.to_owned(), reason.clone()));
                continue;
            }
        };

        // Components: rename what clashes with a different component of the same name.
        let mut renames: HashMap<String, String> = HashMap::new();
        if let Some(Value::Object(own)) = doc.get("components") {
            for (section, entries) in own {
                let Value::Object(entries) = entries else {
                    continue;
                };
                let merged = components.entry(section.clone()).or_default();
                for (name, value) in entries {
                    if merged.get(name).is_some_and(|existing| existing != value) {
                        let mut renamed = format!("{service}_{name}");
                        let mut n = 2;
                        while merged.contains_key(&renamed) {
                            renamed = format!("{service}_{name}_{n}");
                            n += 1;
                        }
                        renames.insert(
                            format!("#/components/{section}/{name}"),
                            format!("#/components/{section}/{renamed}"),
                        );
                    }
                }
            }
        }
        if !renames.is_empty() {
            let mut whole = Value::Object(doc);
            rewrite_refs(&mut whole, &renames);
            doc = match whole {
                Value::Object(doc) => doc,
                _ => Map::new(),
            };
        }
        if let Some(Value::Object(own)) = doc.get("components") {
            for (section, entries) in own {
                let Value::Object(entries) = entries else {
                    continue;
                };
                let merged = components.entry(section.clone()).or_default();
                for (name, value) in entries {
                    let key = format!("#/components/{section}/{name}");
                    let name = match renames.get(&key) {
                        Some(renamed) => renamed.rsplit('/').next().unwrap_or(name).to_owned(),
                        None => name.clone(),
                    };
                    merged.entry(name).or_insert_with(|| value.clone());
                }
            }
        }

        // Paths: each operation tagged with its service; top-level security pushed down.
        let security = doc.get("security").cloned();
        if let Some(Value::Object(own)) = doc.get("paths") {
            for (path, item) in own {
                if paths.contains_key(path) {
                    tracing::warn!(%service, %path, "path served by two services; keeping the first");
                    continue;
                }
                let mut item = item.clone();
                if let Value::Object(item) = &mut item {
                    for method in METHODS {
                        let Some(Value::Object(op)) = item.get_mut(method) else {
                            continue;
                        };
                        op.insert("tags".to_owned(), json!([service]));
                        if service != crate::NAME {
                            add_problems(op, &forwarded_problems(op));
                            add_cause(op, &SERVICE_DOWN);
                        }
                        if let Some(security) = &security {
                            op.entry("security").or_insert_with(|| security.clone());
                        }
                        if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                            let mut id = id.to_owned();
                            if operation_ids.contains(&id) {
                                id = format!("{service}_{id}");
                                op.insert("operationId".to_owned(), Value::String(id.clone()));
                            }
                            operation_ids.insert(id);
                        }
                    }
                }
                paths.insert(path.clone(), item);
            }
        }

        let info = doc.get("info");
        let title = info.and_then(|i| i.get("title")).and_then(Value::as_str);
        let about = info
            .and_then(|i| i.get("description"))
            .and_then(Value::as_str);
        let description = match (title, about) {
            (Some(t), Some(d)) => format!("{t}: {d}"),
            (Some(t), None) => t.to_owned(),
            (None, Some(d)) => d.to_owned(),
            (None, None) => format!("The {service} service."),
        };
        tags.push(json!({ "name": service, "description": description }));
    }

    let mut description = String::from(
        "Every Zhiwang service through its one public entry, the gateway. Each service's own \
         document is merged here, tagged by service. Send `Authorization: Bearer <token>`; \
         requests without a token are anonymous and each service decides what they may do.",
    );
    if !unavailable.is_empty() {
        description.push_str("\n\n**Not available right now** (left out of this document): ");
        let names: Vec<String> = unavailable
            .iter()
            .map(|(s, why)| format!("`{s}` ({why})"))
            .collect();
        description.push_str(&names.join(", "));
        description.push('.');
    }

    let mut doc = Map::new();
    doc.insert("openapi".to_owned(), json!("3.1.0"));
    // The forwarded problems refer to these, whatever the services brought.
    let mut shared = json!({ "components": components_value(components) });
    ensure_problem_schema(&mut shared);
    ensure_bearer_scheme(&mut shared);
    let components = shared["components"].take();
    doc.insert(
        "info".to_owned(),
        json!({ "title": "Zhiwang API", "version": version, "description": description }),
    );
    doc.insert("paths".to_owned(), Value::Object(paths));
    doc.insert("components".to_owned(), components);
    doc.insert("tags".to_owned(), Value::Array(tags));
    if !unavailable.is_empty() {
        doc.insert(
            "x-zhiwang-unavailable".to_owned(),
            Value::Array(
                unavailable
                    .into_iter()
                    .map(|(s, _)| Value::String(s))
                    .collect(),
            ),
        );
    }
    Value::Object(doc)
}

fn components_value(components: BTreeMap<String, Map<String, Value>>) -> Value {
    Value::Object(
        components
            .into_iter()
            .filter(|(_, entries)| !entries.is_empty())
            .map(|(section, entries)| (section, Value::Object(entries)))
            .collect(),
    )
}

fn rewrite_refs(value: &mut Value, renames: &HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref" {
                    if let Some(renamed) = v.as_str().and_then(|r| renames.get(r)) {
                        *v = Value::String(renamed.clone());
                    }
                } else {
                    rewrite_refs(v, renames);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, renames)),
        _ => {}
    }
}

/// The merged document, fetched from the upstreams and cached.
pub struct MergedDocs {
    client: reqwest::Client,
    /// (service, URL of its document), by service name.
    upstreams: Vec<(String, String)>,
    own: Value,
    ttl: Duration,
    degraded_ttl: Duration,
    fetch_timeout: Duration,
    cache: tokio::sync::Mutex<Option<Cached>>,
}

struct Cached {
    at: Instant,
    complete: bool,
    doc: Arc<Value>,
}

impl MergedDocs {
    /// Documents of `upstreams` (service → base URL) plus the gateway's `own`.
    pub fn new(
        client: reqwest::Client,
        upstreams: &BTreeMap<String, String>,
        own: Value,
        ttl: Duration,
        fetch_timeout: Duration,
    ) -> Self {
        let upstreams = upstreams
            .iter()
            .map(|(service, base)| {
                (
                    service.clone(),
                    format!("{base}/api/v1/{service}/openapi.json"),
                )
            })
            .collect();
        Self {
            client,
            upstreams,
            own,
            ttl,
            degraded_ttl: ttl.min(Duration::from_secs(5)),
            fetch_timeout,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// The merged document: cached, or fetched now.
    pub async fn get(&self) -> Arc<Value> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            let ttl = if c.complete {
                self.ttl
            } else {
                self.degraded_ttl
            };
            if c.at.elapsed() < ttl {
                return c.doc.clone();
            }
        }
        let mut sources = vec![Source {
            service: crate::NAME.to_owned(),
            doc: Ok(self.own.clone()),
        }];
        sources.extend(
            futures::future::join_all(self.upstreams.iter().map(|(service, url)| async move {
                Source {
                    service: service.clone(),
                    doc: self.fetch(url).await,
                }
            }))
            .await,
        );
        let complete = sources.iter().all(|s| s.doc.is_ok());
        let doc = Arc::new(merge(&sources, env!("CARGO_PKG_VERSION")));
        *cache = Some(Cached {
            at: Instant::now(),
            complete,
            doc: doc.clone(),
        });
        doc
    }

    async fn fetch(&self, url: &str) -> Result<Value, String> {
        let fetched = tokio::time::timeout(self.fetch_timeout, async {
            let res = self.client.get(url).send().await.map_err(|e| {
                if e.is_connect() {
                    "unreachable".to_owned()
                } else {
                    e.to_string()
                }
            })?;
            if !res.status().is_success() {
                return Err(format!("answered {}", res.status().as_u16()));
            }
            res.json::<Value>()
                .await
                .map_err(|_| "not an OpenAPI document".to_owned())
        })
        .await;
        match fetched {
            Ok(r) => r,
            Err(_) => Err("timed out".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(prefix: &str, schema: Value) -> Value {
        json!({
            "openapi": "3.1.0",
            "info": { "title": format!("Zhiwang {prefix}"), "version": "1" },
            "security": [{ "bearer": [] }],
            "paths": {
                format!("/api/v1/{prefix}/things"): {
                    "get": {
                        "operationId": "list_things",
                        "tags": ["things"],
                        "responses": { "200": { "content": { "application/json": {
                            "schema": { "$ref": "#/components/schemas/Thing" } } } } }
                    }
                }
            },
            "components": { "schemas": { "Thing": schema, "Problem": { "type": "object" } } }
        })
    }

    #[test]
    fn paths_of_every_service_are_merged_and_tagged_by_service() {
        let merged = merge(
            &[
                Source {
                    service: "grid".into(),
                    doc: Ok(doc("grid", json!({"type": "string"}))),
                },
                Source {
                    service: "credit".into(),
                    doc: Ok(doc("credit", json!({"type": "string"}))),
                },
            ],
            "0.1.0",
        );
        assert_eq!(merged["openapi"], "3.1.0");
        assert_eq!(merged["info"]["title"], "Zhiwang API");
        let grid = &merged["paths"]["/api/v1/grid/things"]["get"];
        assert_eq!(grid["tags"], json!(["grid"]));
        assert_eq!(grid["security"], json!([{ "bearer": [] }]));
        let credit = &merged["paths"]["/api/v1/credit/things"]["get"];
        assert_eq!(credit["tags"], json!(["credit"]));
        assert_ne!(
            grid["operationId"], credit["operationId"],
            "operation ids stay unique"
        );
        let tags: Vec<&str> = merged["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(tags, ["grid", "credit"]);
        assert_eq!(
            merged["components"]["schemas"].as_object().unwrap().len(),
            2,
            "shared as one"
        );
    }

    #[test]
    fn a_clashing_component_is_renamed_and_its_references_follow() {
        let merged = merge(
            &[
                Source {
                    service: "grid".into(),
                    doc: Ok(doc("grid", json!({"type": "string"}))),
                },
                Source {
                    service: "credit".into(),
                    doc: Ok(doc("credit", json!({"type": "integer"}))),
                },
            ],
            "0.1.0",
        );
        let schemas = &merged["components"]["schemas"];
        assert_eq!(schemas["Thing"]["type"], "string");
        assert_eq!(schemas["credit_Thing"]["type"], "integer");
        let credit = &merged["paths"]["/api/v1/credit/things"]["get"];
        assert_eq!(
            credit["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/credit_Thing"
        );
    }

    #[test]
    fn a_service_that_is_down_is_named_in_the_description_not_fatal() {
        let merged = merge(
            &[
                Source {
                    service: "grid".into(),
                    doc: Ok(doc("grid", json!({"type": "string"}))),
                },
                Source {
                    service: "credit".into(),
                    doc: Err("unreachable".into()),
                },
            ],
            "0.1.0",
        );
        assert!(merged["paths"]["/api/v1/grid/things"].is_object());
        let description = merged["info"]["description"].as_str().unwrap();
        assert!(
            description.contains("`credit` (unreachable)"),
            "{description}"
        );
        assert_eq!(merged["x-zhiwang-unavailable"], json!(["credit"]));
    }

    #[test]
    fn every_forwarded_operation_documents_what_the_gateway_answers_itself() {
        let mut upstream = doc("grid", json!({"type": "string"}));
        upstream["paths"]["/api/v1/grid/things/{id}"] = json!({ "post": {
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
            "requestBody": { "content": { "application/json": { "schema": { "type": "object" } } } },
            "responses": {
                "401": { "description": "the service's own words" },
                "503": { "description": "the database is busy" },
            },
        }});
        let own = json!({ "openapi": "3.1.0", "info": { "title": "gw", "version": "1" },
            "paths": { "/": { "get": { "responses": { "200": { "description": "page" } } } } } });
        let merged = merge(
            &[
                Source {
                    service: crate::NAME.into(),
                    doc: Ok(own),
                },
                Source {
                    service: "grid".into(),
                    doc: Ok(upstream),
                },
            ],
            "0.1.0",
        );
        let statuses = |path: &str, method: &str| -> Vec<String> {
            merged["paths"][path][method]["responses"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        };
        assert_eq!(
            statuses("/api/v1/grid/things", "get"),
            ["200", "401", "429", "502", "503", "504"]
        );
        assert_eq!(
            statuses("/api/v1/grid/things/{id}", "post"),
            ["400", "401", "413", "429", "502", "503", "504"]
        );
        let op = &merged["paths"]["/api/v1/grid/things/{id}"]["post"];
        assert_eq!(
            op["responses"]["401"]["description"],
            "the service's own words"
        );
        assert!(op["responses"]["429"]["headers"]["Retry-After"].is_object());
        assert_eq!(
            op["responses"]["502"]["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
        // The service documents a 503 of its own; the gateway's "service down" is added to it.
        let unavailable = &op["responses"]["503"];
        assert_eq!(
            unavailable["description"],
            format!("the database is busy; or {}", SERVICE_DOWN.description)
        );
        assert!(unavailable["headers"]["Retry-After"].is_object());
        let get_unavailable = &merged["paths"]["/api/v1/grid/things"]["get"]["responses"]["503"];
        let causes = get_unavailable["description"].as_str().unwrap();
        assert!(
            causes.contains("signing keys") && causes.contains("The service is down"),
            "{causes}"
        );
        assert!(get_unavailable["headers"]["Retry-After"].is_object());
        assert_eq!(
            statuses("/", "get"),
            ["200"],
            "the gateway's own page is not forwarded"
        );
        assert!(merged["components"]["securitySchemes"]["bearer"].is_object());
    }
}
