//! Open311 GeoReport v2 over the incidents, proven with a client written by someone else (the
//! Python package civicbot, see tests/open311/client.py), and its error format and privacy.

use reqwest::StatusCode;
use serde_json::{Value, json};
use zw_auth::Role;
use zw_testkit::http::{self, Reply};

use crate::incidents::{IncidentWorld, spawn};

const BASE: &str = "/api/v1/grid/open311/v2";
const FORM: &str = "application/x-www-form-urlencoded";

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An `application/x-www-form-urlencoded` body.
fn encode_form(p: &[(String, String)]) -> String {
    p.iter()
        .map(|(k, v)| format!("{}={}", http::encode(k), http::encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Run the Python client against the running service; its printed JSON.
async fn run_client(w: &IncidentWorld, token: &str) -> (Value, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/open311/client.py");
    let args = [
        script.to_owned(),
        w.grid.url(BASE),
        token.to_owned(),
        w.house.clone(),
    ];
    // Blocking: off the runtime's thread, which serves the requests meanwhile.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3").args(&args).output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| {
        panic!("cannot run python3 ({e}): the Open311 client test needs python3 with civicbot==0.4.0 (scripts/test installs it)")
    });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Open311 client failed ({}): stdout {stdout}\nstderr {stderr}",
        out.status
    );
    let printed: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("the client printed no JSON ({e}): {stdout}\n{stderr}"));
    (printed, stdout)
}

#[tokio::test]
async fn an_open311_client_lists_services_creates_a_request_and_reads_it_back() {
    let w = spawn().await;
    let citizen = w.citizen("open311-app-user");
    let (out, raw) = run_client(&w, &citizen).await;

    let services = out["services"].as_array().unwrap();
    assert_eq!(services.len(), zw_grid::incidents::CATEGORIES.len());
    let hazard = services
        .iter()
        .find(|s| s["service_code"] == "hazard")
        .unwrap();
    assert_eq!(hazard["metadata"], false);
    assert_eq!(hazard["type"], "realtime");
    assert_eq!(hazard["group"], "safety");
    assert_eq!(
        out["definition"],
        json!({"service_code": "hazard", "attributes": []})
    );

    let created = out["created"].as_array().unwrap();
    assert_eq!(created.len(), 1);
    let id = created[0]["service_request_id"].as_str().unwrap();
    assert!(
        created[0]["service_notice"]
            .as_str()
            .unwrap()
            .contains(&format!("grid worker of grid {}", w.grid_code)),
        "{}",
        created[0]
    );
    let listed = out["listed"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["service_request_id"], id);
    assert!(
        out["listed_open_hazards"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["service_request_id"] == id)
    );
    let fetched = &out["fetched"];
    assert_eq!(fetched["service_request_id"], id);
    assert_eq!(fetched["status"], "open");
    assert_eq!(fetched["service_code"], "hazard");
    assert_eq!(fetched["address_id"], w.house.as_str());
    assert_eq!(fetched["address"], "Block 3, by the bicycle shed");
    assert_eq!(fetched["description"], "Exposed wiring at the bicycle shed");
    assert_eq!(
        fetched["agency_responsible"],
        format!("grid worker of grid {}", w.grid_code)
    );
    assert!(
        fetched["expected_datetime"].as_str().unwrap()
            > fetched["requested_datetime"].as_str().unwrap()
    );
    for secret in ["13800138000", "reporter@example.org", "Lei"] {
        assert!(
            !raw.contains(secret),
            "no contact details in Open311 answers: {raw}"
        );
    }

    // The same incident through the REST API: reported at the grid by the citizen, with the
    // contact details for the grid worker who handles it and for nobody else.
    let worker = w.worker(&w.grid_code);
    let (s, inc) = w
        .get(&worker, &format!("/api/v1/grid/incidents/{id}"))
        .await;
    assert_eq!(s, StatusCode::OK, "{inc}");
    assert_eq!(inc["status"], "reported");
    assert_eq!(inc["level"], "grid");
    assert_eq!(inc["category"], "hazard");
    assert_eq!(inc["grid_code"], w.grid_code.as_str());
    assert_eq!(inc["house_code"], w.house.as_str());
    assert_eq!(inc["reporter"], "open311-app-user");
    assert_eq!(inc["reporter_kind"], "citizen");
    assert_eq!(inc["contact"]["phone"], "13800138000");
    assert_eq!(inc["steps"][0]["step"], "reported");
    let (_, as_officer) = w
        .get(
            &w.district_officer(),
            &format!("/api/v1/grid/incidents/{id}"),
        )
        .await;
    assert!(as_officer.get("contact").is_none(), "{as_officer}");
    let (_, list) = w.get(&worker, "/api/v1/grid/incidents").await;
    assert!(list["items"][0].get("contact").is_none());
}

async fn open311(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let r = Reply::of(req).await;
    if !r.status.is_success() {
        assert!(
            r.content_type.starts_with("application/json"),
            "Open311 errors are JSON: {} {}",
            r.content_type,
            r.body
        );
        let v = r.json();
        assert_eq!(
            v[0]["code"],
            r.status.as_u16(),
            "the Open311 error format: {v}"
        );
        assert!(v[0]["description"].is_string());
    }
    (r.status, r.json())
}

#[tokio::test]
async fn open311_errors_keys_and_statuses() {
    let w = spawn().await;
    let c = &w.grid.client;
    let url = |p: &str| w.grid.url(&format!("{BASE}{p}"));
    let alice = w.citizen("alice");
    let form = |extra: &[(&str, &str)]| {
        let mut f: Vec<(String, String)> = vec![
            ("service_code".into(), "dispute".into()),
            ("address_id".into(), w.house.clone()),
            ("description".into(), "quarrel over parking".into()),
        ];
        f.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        f
    };

    let (s, _) = open311(
        c.post(url("/requests.json"))
            .header("content-type", FORM)
            .body(encode_form(&form(&[]))),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "no api_key");
    let (s, _) = open311(
        c.post(url("/requests.json"))
            .header("content-type", FORM)
            .body(encode_form(&form(&[("api_key", "forged")]))),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = open311(
        c.post(url("/requests.json"))
            .header("content-type", FORM)
            .body(encode_form(&pairs(&[
                ("service_code", "ufo"),
                ("address_id", w.house.as_str()),
                ("api_key", alice.as_str()),
            ]))),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = open311(
        c.post(url("/requests.json"))
            .header("content-type", FORM)
            .body(encode_form(&pairs(&[
                ("service_code", "dispute"),
                ("api_key", alice.as_str()),
            ]))),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "no location");
    let (s, _) = open311(
        c.post(url("/requests.json"))
            .bearer_auth(&alice)
            .json(&json!({"service_code": "dispute"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, _) = open311(c.get(url("/services/ufo.json"))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        w.count("SELECT COUNT(*) FROM incidents").await,
        0,
        "nothing written"
    );

    // By bearer header this time.
    let (s, created) = open311(
        c.post(url("/requests.json"))
            .bearer_auth(&alice)
            .header("content-type", FORM)
            .body(encode_form(&form(&[("lat", "22.5"), ("long", "113.9")]))),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Requests are not public: a key is needed, and shows only what it may see.
    let (s, _) = open311(c.get(url("/requests.json"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, mine) = open311(c.get(url(&format!("/requests.json?api_key={alice}")))).await;
    assert_eq!((s, mine.as_array().unwrap().len()), (StatusCode::OK, 1));
    assert_eq!(mine[0]["lat"], 22.5);
    let bob = w.citizen("bob");
    let (_, theirs) = open311(c.get(url("/requests.json")).bearer_auth(&bob)).await;
    assert_eq!(theirs, json!([]));
    let (s, _) = open311(
        c.get(url(&format!("/requests/{id}.json")))
            .bearer_auth(&bob),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = open311(c.get(url("/requests/not-an-id.json")).bearer_auth(&alice)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = open311(
        c.get(url("/requests.json?start_date=yesterday"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Closed (and verified) are `closed` in Open311; filters by status and date.
    let worker = w.worker(&w.grid_code);
    let team = w.env.token(Role::Department, w.demo.code.as_str(), "team");
    for (who, body) in [
        (&worker, json!({"to": "accepted"})),
        (&worker, json!({"to": "assigned", "assignee": "team"})),
        (
            &team,
            json!({"to": "resolved", "note": "agreed on the spaces"}),
        ),
    ] {
        let (s, b) = w
            .post(
                who,
                &format!("/api/v1/grid/incidents/{id}/transitions"),
                body,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let (_, one) = open311(
        c.get(url(&format!("/requests/{id}.json")))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(
        (one[0]["status"].as_str(), one[0]["status_notes"].as_str()),
        (Some("open"), Some("agreed on the spaces"))
    );
    w.post(
        &worker,
        &format!("/api/v1/grid/incidents/{id}/transitions"),
        json!({"to": "verified"}),
    )
    .await;
    let (_, one) = open311(
        c.get(url(&format!("/requests/{id}.json")))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(one[0]["status"], "closed");
    let (_, open) = open311(c.get(url("/requests.json?status=open")).bearer_auth(&alice)).await;
    assert_eq!(open, json!([]));
    let (_, closed) = open311(
        c.get(url("/requests.json?status=closed"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(closed.as_array().unwrap().len(), 1);
    let (_, old) = open311(
        c.get(url(
            "/requests.json?start_date=2020-01-01T00:00:00Z&end_date=2020-02-01T00:00:00Z",
        ))
        .bearer_auth(&alice),
    )
    .await;
    assert_eq!(old, json!([]));
}
