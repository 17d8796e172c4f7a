//! The API contract that tools read: the merged OpenAPI document a running `zhiwang up` serves,
//! checked operation by operation (whatever services it holds), and schemathesis driving every
//! operation and comparing each answer with the document.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use serde_json::{Map, Value};
use zw_platform::openapi::{METHODS, PROBLEM_REF, TokenUse, body_has_json};

use crate::local::LocalPlatform;

/// What the document says wrong about one operation.
fn violations_of(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let default_security = doc.get("security");
    let empty = Map::new();
    let paths = doc["paths"].as_object().unwrap_or(&empty);
    for (template, item) in paths {
        let in_template: BTreeSet<String> = template
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split('}').next())
            .map(str::to_owned)
            .collect();
        let shared = item.get("parameters").and_then(Value::as_array);
        for method in METHODS {
            let Some(op) = item.get(method).and_then(Value::as_object) else {
                continue;
            };
            let name = format!("{} {template}", method.to_uppercase());
            let params: Vec<&Value> = shared
                .into_iter()
                .flatten()
                .chain(
                    op.get("parameters")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten(),
                )
                .collect();
            let declared_in_path: BTreeSet<String> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect();
            for missing in in_template.difference(&declared_in_path) {
                out.push(format!(
                    "{name}: {{{missing}}} is not declared as a path parameter"
                ));
            }
            for stray in declared_in_path.difference(&in_template) {
                out.push(format!(
                    "{name}: parameter {stray:?} is declared `in: path` but the path has no {{{stray}}}"
                ));
            }
            let responses = op
                .get("responses")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            let mut require = |status: &str, why: &str| {
                if !responses.contains_key(status) {
                    out.push(format!("{name}: {why} but documents no {status}"));
                }
            };
            if TokenUse::of(op.get("security").or(default_security)) == TokenUse::Required {
                for status in ["401", "403", "429"] {
                    require(status, "needs a token");
                }
            }
            if op.get("requestBody").is_some_and(body_has_json) {
                for status in ["400", "415"] {
                    require(status, "takes a JSON body");
                }
            }
            for (status, response) in responses {
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                let content = response
                    .get("content")
                    .and_then(Value::as_object)
                    .unwrap_or(&empty);
                if content.is_empty() {
                    out.push(format!("{name}: {status} documents no body"));
                }
                // A problem is always problem+json. A body of another documented schema (Open311
                // GeoReport v2's own error list) is what a standard prescribes, and allowed.
                for (media_type, media) in content {
                    let problem =
                        media["schema"]["$ref"] == PROBLEM_REF || media.get("schema").is_none();
                    if problem && media_type != "application/problem+json" {
                        out.push(format!(
                            "{name}: {status} is documented as {media_type}, not application/problem+json"
                        ));
                    }
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn every_operation_in_the_merged_document_keeps_the_contract() {
    let platform = LocalPlatform::start(&[]).await;

    let doc = platform.merged_document().await;

    let operations = doc["paths"]
        .as_object()
        .map(|p| {
            p.values()
                .map(|i| METHODS.iter().filter(|m| i.get(**m).is_some()).count())
                .sum()
        })
        .unwrap_or(0usize);
    assert!(
        operations > 20,
        "the merged document holds every service: {operations}"
    );
    let violations = violations_of(&doc);
    assert!(
        violations.is_empty(),
        "{} violations of the API contract:\n{}",
        violations.len(),
        violations.join("\n")
    );
}

#[test]
fn the_contract_check_finds_each_kind_of_violation() {
    let doc = serde_json::json!({
        "paths": { "/api/v1/x/{code}": { "post": {
            "parameters": [{ "name": "limit", "in": "path" }],
            "requestBody": { "content": { "application/json": {} } },
            "security": [{ "bearer": [] }],
            "responses": {
                "404": { "content": { "application/json": {} } },
                "409": { "content": { "application/json": { "schema": { "$ref": PROBLEM_REF } } } },
                "410": { "description": "gone" },
            },
        } } },
        "/api/v1/open311/requests.json": { "get": { "responses": {
            "400": { "content": { "application/json": { "schema": { "type": "array" } } } },
        } } },
    });

    let found = violations_of(&doc).join("\n");

    for expected in [
        "{code} is not declared as a path parameter",
        "\"limit\" is declared `in: path`",
        "needs a token but documents no 401",
        "needs a token but documents no 403",
        "needs a token but documents no 429",
        "takes a JSON body but documents no 400",
        "takes a JSON body but documents no 415",
        "404 is documented as application/json",
        "409 is documented as application/json",
        "410 documents no body",
    ] {
        assert!(found.contains(expected), "{expected:?} in:\n{found}");
    }
    assert!(
        !found.contains("open311"),
        "an error body of its own documented schema is allowed: {found}"
    );
}

/// The schemathesis command: `$ZW_SCHEMATHESIS` (scripts/test installs it), or on the `PATH`.
fn schemathesis() -> String {
    let candidate = std::env::var("ZW_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into());
    let found = Command::new(&candidate)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "schemathesis is not installed at {candidate:?}: scripts/test installs it \
         (or `pip install schemathesis==4.32.5` and set ZW_SCHEMATHESIS)"
    );
    candidate
}

/// Operations that end the run's own credentials (retiring the signing key of its token, signing
/// out or disabling the caller's own account, revoking a token — schemathesis finds the caller's
/// own ids in earlier answers): run last, on their own, so they cannot turn every later request
/// into a 401.
const CREDENTIAL_ENDING: &str = "(/keys/[^/]+/retire|/users/[^/]+/(sign-out|disable)|/revoke)$";

/// Test cases per operation and run: `ZW_SCHEMATHESIS_MAX_EXAMPLES` (default 5, a few minutes
/// for every role; set more for a longer run).
fn max_examples() -> String {
    std::env::var("ZW_SCHEMATHESIS_MAX_EXAMPLES")
        .ok()
        .filter(|n| n.parse::<u32>().is_ok_and(|n| n > 0))
        .unwrap_or_else(|| "5".to_owned())
}

/// One schemathesis run over the operations `filter` selects; its output, once it ends.
async fn run_schemathesis(base: &str, token: &str, filter: [&str; 2]) -> std::process::Output {
    let schemathesis = schemathesis();
    // Its reports and example database go here, not into the source tree.
    let scratch = std::env::temp_dir().join(format!("zw-schemathesis-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&scratch).expect("a scratch folder");
    let mut command = Command::new(schemathesis);
    command
        .arg("run")
        .arg(format!("{base}/api/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", &max_examples(), "--seed", "20261203"])
        .args(["--request-timeout", "30", "--no-color"])
        .args(filter)
        .arg("--report-dir")
        .arg(&scratch)
        .current_dir(&scratch);
    let run = tokio::task::spawn_blocking(move || command.output().expect("schemathesis runs"));
    let out = tokio::time::timeout(Duration::from_secs(1800), run)
        .await
        .expect("schemathesis within 30 min")
        .expect("schemathesis ran");
    let _ = std::fs::remove_dir_all(&scratch);
    out
}

/// A fresh token of `role` (a department: of the service account `department` holds).
async fn token_of(platform: &LocalPlatform, role: &str, department: &(String, String)) -> String {
    if role != "department" {
        return platform.login(role).await;
    }
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/identity/token", platform.base))
        .json(&serde_json::json!({
            "grant_type": "client_credentials",
            "client_id": department.0,
            "client_secret": department.1,
        }))
        .send()
        .await
        .expect("the token endpoint answers");
    let (status, body) = zw_e2e::cluster::decode(res).await;
    assert_eq!(status, 200, "the department logs in: {body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// Whether `token` still opens `GET /api/v1/identity/me`.
async fn still_valid(base: &str, token: &str) -> bool {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/identity/me"))
        .bearer_auth(token)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// schemathesis over every operation as `role` (a demo account's, or `department`: a service
/// account the admin makes, entitled to every data set), on a `zhiwang up` of its own: first every
/// operation that leaves the caller's credentials alone — after which its token still works, else
/// the run met only 401s from some point on and tested little —, then the ones that end them.
async fn schemathesis_as(role: &str) {
    // Limits off: with them, most generated requests would only meet the 429 of the rate limit
    // (documented, and tested in the gateway) instead of the operations behind it.
    let platform = LocalPlatform::start(&[("ZW__GATEWAY__RATE_LIMIT_PER_MINUTE", "0")]).await;
    // Every service's operations are in the document schemathesis reads.
    platform.merged_document().await;
    let mut department = (String::new(), String::new());
    if role == "department" {
        let admin = platform.login("admin").await;
        let res = reqwest::Client::new()
            .post(format!(
                "{}/api/v1/identity/service-accounts",
                platform.base
            ))
            .bearer_auth(&admin)
            .json(&serde_json::json!({
                "client_id": "schemathesis-department",
                "datasets": ["persons", "entities", "houses", "incidents", "cases:civil_affairs"],
            }))
            .send()
            .await
            .expect("identity answers");
        let (status, account) = zw_e2e::cluster::decode(res).await;
        assert_eq!(status, 201, "the admin makes a department: {account}");
        department = (
            "schemathesis-department".to_owned(),
            account["client_secret"]
                .as_str()
                .expect("secret")
                .to_owned(),
        );
    }

    let check = |filter: [&str; 2], out: std::process::Output| {
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            Some(format!(
                "schemathesis as {role} {filter:?} found answers the document does not describe:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            ))
        } else if !stdout.contains("passed") {
            Some(format!(
                "schemathesis as {role} {filter:?} tested nothing:\n{stdout}"
            ))
        } else {
            None
        }
    };
    let mut failures = Vec::new();
    let main = ["--exclude-path-regex", CREDENTIAL_ENDING];
    let token = token_of(&platform, role, &department).await;
    failures.extend(check(
        main,
        run_schemathesis(&platform.base, &token, main).await,
    ));
    if !still_valid(&platform.base, &token).await {
        failures.push(format!(
            "schemathesis as {role} ended its own token outside {CREDENTIAL_ENDING}: add the operation that did to it"
        ));
    }
    let last = ["--include-path-regex", CREDENTIAL_ENDING];
    let token = token_of(&platform, role, &department).await;
    failures.extend(check(
        last,
        run_schemathesis(&platform.base, &token, last).await,
    ));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test]
async fn schemathesis_as_a_citizen_finds_every_answer_as_documented() {
    schemathesis_as("citizen").await;
}

#[tokio::test]
async fn schemathesis_as_a_grid_worker_finds_every_answer_as_documented() {
    schemathesis_as("grid-worker").await;
}

#[tokio::test]
async fn schemathesis_as_a_community_officer_finds_every_answer_as_documented() {
    schemathesis_as("community-officer").await;
}

#[tokio::test]
async fn schemathesis_as_a_street_officer_finds_every_answer_as_documented() {
    schemathesis_as("street-officer").await;
}

#[tokio::test]
async fn schemathesis_as_a_district_officer_finds_every_answer_as_documented() {
    schemathesis_as("district-officer").await;
}

#[tokio::test]
async fn schemathesis_as_a_department_finds_every_answer_as_documented() {
    schemathesis_as("department").await;
}

#[tokio::test]
async fn schemathesis_as_an_admin_finds_every_answer_as_documented() {
    schemathesis_as("admin").await;
}
