//! What every service's OpenAPI document says without the service writing it: the problems the
//! platform itself answers, added to each operation by what the operation has.
//!
//! - a path or query parameter: 400 (the extractors refuse what does not parse);
//! - a request body: 413 (`http.max_body_bytes`); a JSON body also 400 (not JSON, or not the
//!   schema) and 415 (not sent as `application/json`);
//! - a bearer token accepted: 401 (no token where one is required, or a token that does not
//!   verify) and 503 (the signing keys cannot be fetched); a token required: also 403 (the
//!   caller's role or jurisdiction does not allow it);
//! - a service with a database: 503 `database-busy` with `Retry-After`.
//!
//! A status the service documents itself is kept as it is (its description says more), except
//! that an error documented without a body, or with the [`Problem`] schema as plain JSON, is
//! documented as `application/problem+json`, as the middleware answers it. The gateway adds its own statuses to what it forwards with
//! [`add_problems`], and with [`add_cause`] a cause the service cannot document itself (see
//! `zw_gateway::openapi`).
//!
//! The document is completed as JSON (`serde_json::Value`): the gateway merges the services'
//! documents as JSON too, and both use the functions here.

use serde_json::map::Entry;
use serde_json::{Map, Value, json};
use utoipa::PartialSchema;

use crate::problem::{PROBLEM_JSON, Problem};

/// Where the problem schema lives in a document.
pub const PROBLEM_REF: &str = "#/components/schemas/Problem";

/// The HTTP methods an OpenAPI path item may hold operations for.
pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// What a service has behind its routes, beyond what each operation declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backing {
    /// The service keeps a database (so any operation may find it busy: 503).
    pub database: bool,
}

/// A problem response one operation may get.
#[derive(Debug, Clone, Copy)]
pub struct ProblemResponse {
    pub status: u16,
    pub description: &'static str,
    /// Whether the answer carries `Retry-After`.
    pub retry_after: bool,
}

const BAD_PARAMETER: ProblemResponse = ProblemResponse {
    status: 400,
    description: "A path or query parameter does not parse",
    retry_after: false,
};
const BAD_JSON: ProblemResponse = ProblemResponse {
    status: 400,
    description: "The body is not JSON, or not of the schema",
    retry_after: false,
};
const TOO_LARGE: ProblemResponse = ProblemResponse {
    status: 413,
    description: "The body is larger than the limit (`http.max_body_bytes`)",
    retry_after: false,
};
const NOT_JSON: ProblemResponse = ProblemResponse {
    status: 415,
    description: "The body is not sent as `Content-Type: application/json`",
    retry_after: false,
};
const UNAUTHENTICATED: ProblemResponse = ProblemResponse {
    status: 401,
    description: "No bearer token, or one that does not verify (malformed, expired, revoked, signed by an unknown key); `WWW-Authenticate: Bearer` says why",
    retry_after: false,
};
const BAD_TOKEN: ProblemResponse = ProblemResponse {
    status: 401,
    description: "A bearer token was sent and does not verify; `WWW-Authenticate: Bearer` says why",
    retry_after: false,
};
const FORBIDDEN: ProblemResponse = ProblemResponse {
    status: 403,
    description: "The token is valid, but the caller's role or jurisdiction does not allow this",
    retry_after: false,
};
const KEYS_UNAVAILABLE: ProblemResponse = ProblemResponse {
    status: 503,
    description: "The token signing keys cannot be fetched (`unavailable`); nothing was changed",
    // `Problem::unavailable` sets it.
    retry_after: true,
};
const DATABASE_BUSY: ProblemResponse = ProblemResponse {
    status: 503,
    description: "The database is busy (`database-busy`) or a dependency is down (`unavailable`); nothing was changed: retry after `Retry-After` seconds",
    retry_after: true,
};

/// The document `doc` as the service serves it: every operation completed with the problems
/// the platform answers for it, the [`Problem`] schema and the bearer scheme it references.
pub fn complete(doc: &mut Value, backing: Backing) {
    let default_security = doc.get("security").cloned();
    let mut bearer_used = false;
    for_each_operation(doc, |op| {
        let security = op.get("security").or(default_security.as_ref());
        let auth = TokenUse::of(security);
        bearer_used |= auth != TokenUse::None;
        add_problems(op, &platform_problems(op, auth, backing));
        problems_as_problem_json(op);
    });
    ensure_problem_schema(doc);
    if bearer_used {
        ensure_bearer_scheme(doc);
    }
}

/// How an operation takes a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// Anonymous only (no security requirement names a scheme).
    None,
    /// A token is optional (one requirement is empty): a bad one is still refused.
    Optional,
    /// A token is required.
    Required,
}

impl TokenUse {
    /// From an operation's (or the document's) `security` array.
    pub fn of(security: Option<&Value>) -> Self {
        let Some(requirements) = security.and_then(Value::as_array) else {
            return TokenUse::None;
        };
        let named = |r: &Value| r.as_object().is_some_and(|m| !m.is_empty());
        if requirements.is_empty() || !requirements.iter().any(named) {
            TokenUse::None
        } else if requirements.iter().all(named) {
            TokenUse::Required
        } else {
            TokenUse::Optional
        }
    }
}

fn platform_problems(
    op: &Map<String, Value>,
    auth: TokenUse,
    backing: Backing,
) -> Vec<ProblemResponse> {
    let mut out = Vec::new();
    if has_parameters(op, &["path", "query"]) {
        out.push(BAD_PARAMETER);
    }
    if let Some(body) = op.get("requestBody") {
        if body_has_json(body) {
            out.push(BAD_JSON);
            out.push(NOT_JSON);
        }
        out.push(TOO_LARGE);
    }
    match auth {
        TokenUse::None => {}
        TokenUse::Optional => out.extend([BAD_TOKEN, KEYS_UNAVAILABLE]),
        TokenUse::Required => out.extend([UNAUTHENTICATED, FORBIDDEN, KEYS_UNAVAILABLE]),
    }
    if backing.database {
        out.push(DATABASE_BUSY);
    }
    out
}

/// Call `f` on every operation of `doc`.
pub fn for_each_operation(doc: &mut Value, mut f: impl FnMut(&mut Map<String, Value>)) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for method in METHODS {
            if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                f(op);
            }
        }
    }
}

/// Whether `op` declares a parameter in one of `places` (`path`, `query`, `header`, `cookie`).
pub fn has_parameters(op: &Map<String, Value>, places: &[&str]) -> bool {
    op.get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| {
            ps.iter().any(|p| {
                p.get("in")
                    .and_then(Value::as_str)
                    .is_some_and(|i| places.contains(&i))
            })
        })
}

/// Whether a request body may be JSON (`application/json` or a `+json` type).
pub fn body_has_json(body: &Value) -> bool {
    body.get("content")
        .and_then(Value::as_object)
        .is_some_and(|c| c.keys().any(|t| is_json_type(t)))
}

fn is_json_type(media_type: &str) -> bool {
    let essence = media_type.split(';').next().unwrap_or("").trim();
    essence == "application/json" || essence.ends_with("+json")
}

/// Document `problems` on `op`, except statuses the operation documents already; problems of
/// the same status are one response that names each cause.
pub fn add_problems(op: &mut Map<String, Value>, problems: &[ProblemResponse]) {
    let responses = op
        .entry("responses")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(responses) = responses.as_object_mut() else {
        return;
    };
    let mut statuses: Vec<u16> = problems.iter().map(|p| p.status).collect();
    statuses.sort_unstable();
    statuses.dedup();
    for status in statuses {
        let Entry::Vacant(slot) = responses.entry(status.to_string()) else {
            continue;
        };
        let causes: Vec<&ProblemResponse> =
            problems.iter().filter(|p| p.status == status).collect();
        let description = causes
            .iter()
            .map(|p| p.description)
            .collect::<Vec<_>>()
            .join("; or ");
        let retry_after = causes.iter().any(|p| p.retry_after);
        slot.insert(problem_response(&description, retry_after));
    }
}

/// Document `problem` on `op` even where the operation documents its status already: its
/// description is added to that response's (unless already there), and so is `Retry-After`.
pub fn add_cause(op: &mut Map<String, Value>, problem: &ProblemResponse) {
    let responses = op
        .entry("responses")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(responses) = responses.as_object_mut() else {
        return;
    };
    let response = match responses.entry(problem.status.to_string()) {
        Entry::Vacant(slot) => {
            slot.insert(problem_response(problem.description, problem.retry_after));
            return;
        }
        Entry::Occupied(slot) => slot.into_mut(),
    };
    let Some(response) = response.as_object_mut() else {
        return;
    };
    let described = response
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !described.contains(problem.description) {
        let description = if described.is_empty() {
            problem.description.to_owned()
        } else {
            format!("{described}; or {}", problem.description)
        };
        response.insert("description".to_owned(), Value::String(description));
    }
    if problem.retry_after {
        let headers = response
            .entry("headers")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(headers) = headers.as_object_mut() {
            headers
                .entry("Retry-After")
                .or_insert_with(|| problem_response("", true)["headers"]["Retry-After"].take());
        }
    }
}

/// The response object of a problem.
pub fn problem_response(description: &str, retry_after: bool) -> Value {
    let mut response = json!({
        "description": description,
        "content": { PROBLEM_JSON: { "schema": { "$ref": PROBLEM_REF } } },
    });
    if retry_after {
        response["headers"] = json!({
            "Retry-After": {
                "description": "Seconds to wait before trying again",
                "schema": { "type": "integer", "minimum": 0 },
            }
        });
    }
    response
}

/// Every error the platform answers is problem+json: an error documented without a body, or
/// with the problem schema under another JSON media type, says so.
fn problems_as_problem_json(op: &mut Map<String, Value>) {
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        if !(status.starts_with('4') || status.starts_with('5')) {
            continue;
        }
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        let content = response
            .entry("content")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(content) = content.as_object_mut() else {
            continue;
        };
        if content.is_empty() {
            content.insert(
                PROBLEM_JSON.to_owned(),
                json!({ "schema": { "$ref": PROBLEM_REF } }),
            );
            continue;
        }
        let keys: Vec<String> = content
            .iter()
            .filter(|(t, media)| *t != PROBLEM_JSON && is_json_type(t) && refers_to_problem(media))
            .map(|(t, _)| t.clone())
            .collect();
        for key in keys {
            if let Some(media) = content.remove(&key) {
                content.entry(PROBLEM_JSON.to_owned()).or_insert(media);
            }
        }
    }
}

fn refers_to_problem(media: &Value) -> bool {
    media
        .get("schema")
        .and_then(|s| s.get("$ref"))
        .and_then(Value::as_str)
        .is_some_and(|r| r == PROBLEM_REF)
}

/// Put the [`Problem`] schema into `doc`'s components (if it is not there).
pub fn ensure_problem_schema(doc: &mut Value) {
    let schema = serde_json::to_value(Problem::schema()).unwrap_or(Value::Null);
    if let Some(schemas) = section(doc, "schemas") {
        schemas.entry("Problem").or_insert(schema);
    }
}

/// Put the `bearer` security scheme (a JWT) into `doc`'s components (if it is not there).
pub fn ensure_bearer_scheme(doc: &mut Value) {
    if let Some(schemes) = section(doc, "securitySchemes") {
        schemes.entry("bearer").or_insert_with(
            || json!({ "type": "http", "scheme": "bearer", "bearerFormat": "JWT" }),
        );
    }
}

fn section<'a>(doc: &'a mut Value, name: &str) -> Option<&'a mut Map<String, Value>> {
    let doc = doc.as_object_mut()?;
    let components = doc
        .entry("components")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()?;
    components
        .entry(name)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(op: &Value) -> Vec<String> {
        op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    fn doc(op: Value) -> Value {
        json!({ "openapi": "3.1.0", "info": { "title": "t", "version": "1" },
                "paths": { "/api/v1/x/{id}": { "post": op } } })
    }

    #[test]
    fn a_secured_json_operation_with_parameters_gets_every_platform_problem() {
        let mut d = doc(json!({
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
            "requestBody": { "content": { "application/json": { "schema": { "type": "object" } } } },
            "responses": { "201": { "description": "made" } },
            "security": [{ "bearer": [] }],
        }));
        complete(&mut d, Backing { database: true });
        let op = &d["paths"]["/api/v1/x/{id}"]["post"];
        assert_eq!(
            statuses(op),
            ["201", "400", "401", "403", "413", "415", "503"]
        );
        for status in ["400", "401", "403", "413", "415", "503"] {
            assert_eq!(
                op["responses"][status]["content"][PROBLEM_JSON]["schema"]["$ref"], PROBLEM_REF,
                "{status}"
            );
        }
        let unavailable = &op["responses"]["503"];
        assert!(unavailable["headers"]["Retry-After"].is_object());
        let causes = unavailable["description"].as_str().unwrap();
        assert!(
            causes.contains("signing keys") && causes.contains("database-busy"),
            "{causes}"
        );
        assert!(d["components"]["schemas"]["Problem"]["properties"]["type"].is_object());
        assert_eq!(
            d["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }

    #[test]
    fn a_cause_added_to_a_documented_status_keeps_its_words_and_adds_its_own_and_retry_after() {
        const DOWN: ProblemResponse = ProblemResponse {
            status: 503,
            description: "The service is down",
            retry_after: true,
        };
        let mut op = json!({ "responses": {
            "503": { "description": "the service's own words" },
        }})
        .as_object()
        .unwrap()
        .clone();
        add_cause(&mut op, &DOWN);
        add_cause(&mut op, &DOWN);
        let documented = &op["responses"]["503"];
        assert_eq!(
            documented["description"], "the service's own words; or The service is down",
            "added once"
        );
        assert!(documented["headers"]["Retry-After"].is_object());

        let mut undocumented = Map::new();
        add_cause(&mut undocumented, &DOWN);
        assert_eq!(
            undocumented["responses"]["503"],
            problem_response(DOWN.description, true)
        );
    }

    #[test]
    fn an_anonymous_operation_without_input_or_database_gets_nothing() {
        let mut d = doc(json!({ "responses": { "200": { "description": "ok" } } }));
        complete(&mut d, Backing { database: false });
        assert_eq!(statuses(&d["paths"]["/api/v1/x/{id}"]["post"]), ["200"]);
        assert!(d["components"].get("securitySchemes").is_none());
    }

    #[test]
    fn an_optional_token_may_be_refused_but_never_forbidden() {
        let mut d = doc(json!({
            "responses": { "200": { "description": "ok" } },
            "security": [{}, { "bearer": [] }],
        }));
        complete(&mut d, Backing { database: false });
        assert_eq!(
            statuses(&d["paths"]["/api/v1/x/{id}"]["post"]),
            ["200", "401", "503"]
        );
    }

    #[test]
    fn the_document_level_requirement_applies_where_an_operation_has_none() {
        let mut d = doc(json!({ "responses": { "200": { "description": "ok" } } }));
        d["security"] = json!([{ "bearer": [] }]);
        complete(&mut d, Backing { database: false });
        assert_eq!(
            statuses(&d["paths"]["/api/v1/x/{id}"]["post"]),
            ["200", "401", "403", "503"]
        );
    }

    #[test]
    fn a_status_the_service_documents_keeps_its_description_and_becomes_problem_json() {
        let mut d = doc(json!({
            "requestBody": { "content": { "text/csv": { "schema": { "type": "string" } } } },
            "responses": { "400": { "description": "Malformed row",
                "content": { "application/json": { "schema": { "$ref": PROBLEM_REF } } } } },
        }));
        complete(&mut d, Backing { database: false });
        let op = &d["paths"]["/api/v1/x/{id}"]["post"];
        assert_eq!(op["responses"]["400"]["description"], "Malformed row");
        assert!(op["responses"]["400"]["content"]["application/json"].is_null());
        assert_eq!(
            op["responses"]["400"]["content"][PROBLEM_JSON]["schema"]["$ref"],
            PROBLEM_REF
        );
        assert_eq!(
            statuses(op),
            ["400", "413"],
            "a CSV body is not refused as not JSON"
        );
    }
}
