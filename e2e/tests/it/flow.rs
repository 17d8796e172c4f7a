//! The self-declaration flow, end to end through the gateway.

use reqwest::StatusCode;
use serde_json::json;

use zw_e2e::cluster::{Cluster, unknown_id};

#[tokio::test]
async fn a_declaration_flows_from_citizen_to_grid_worker_and_every_centre_counts_it() {
    let c = Cluster::start().await;
    let (grid, house, resident) = c.example();
    let citizen = c.login("citizen").await;
    let worker = c.login("grid-worker").await;
    let officer = c.login("district-officer").await;

    // 1. Consistent: accepted at once.
    let (status, accepted) = c
        .post(
            "/api/v1/grid/declarations",
            &citizen,
            json!({"id_number": resident, "house_code": house}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{accepted}");
    assert_eq!(accepted["status"], "accepted");

    // 2. Unknown person: pending, with a task for the grid worker.
    let (_, pending) = c
        .post(
            "/api/v1/grid/declarations",
            &citizen,
            json!({"id_number": unknown_id(1), "house_code": house}),
        )
        .await;
    assert_eq!(pending["status"], "pending");
    let (_, doubtful) = c
        .post(
            "/api/v1/grid/declarations",
            &citizen,
            json!({"id_number": unknown_id(2), "house_code": house}),
        )
        .await;
    assert_eq!(doubtful["status"], "pending");

    let street = &grid[..9];
    let community = &grid[..12];
    for (centre, code) in [
        ("district", "440304"),
        ("street", street),
        ("community", community),
        ("district", grid.as_str()),
    ] {
        c.counts_reach(
            centre,
            code,
            &officer,
            json!({"pending": 2, "accepted": 1, "rejected": 0, "total": 3}),
        )
        .await;
    }

    // 3. The grid worker confirms one and rejects the other, with a reason.
    let (status, tasks) = c.get("/api/v1/grid/tasks", &worker).await;
    assert_eq!(status, StatusCode::OK);
    let items = tasks["items"].as_array().expect("tasks");
    assert_eq!(items.len(), 2);
    let task_of = |d: &serde_json::Value| {
        items
            .iter()
            .find(|t| t["declaration"]["id"] == d["id"])
            .expect("task")["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let (status, _) = c
        .post(
            &format!("/api/v1/grid/tasks/{}/decision", task_of(&pending)),
            &worker,
            json!({"outcome": "confirm"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = c
        .post(
            &format!("/api/v1/grid/tasks/{}/decision", task_of(&doubtful)),
            &worker,
            json!({"outcome": "reject", "reason": "not found at the address"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for (centre, code) in [
        ("district", "440304"),
        ("street", street),
        ("community", community),
    ] {
        c.counts_reach(
            centre,
            code,
            &officer,
            json!({"pending": 0, "accepted": 2, "rejected": 1, "total": 3}),
        )
        .await;
    }

    // 4. The citizen reads his declarations, the reason, and a proof that verifies offline.
    let (_, rejected) = c
        .get(
            &format!(
                "/api/v1/grid/declarations/{}",
                doubtful["id"].as_str().unwrap()
            ),
            &citizen,
        )
        .await;
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["decision_reason"], "not found at the address");
    let (status, proofs) = c
        .get(
            &format!(
                "/api/v1/grid/declarations/{}/proof",
                doubtful["id"].as_str().unwrap()
            ),
            &citizen,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{proofs}");
    let key = zw_evidence::EvidencePublicKey::from_base64(proofs["public_key"].as_str().unwrap())
        .unwrap();
    let list = proofs["proofs"].as_array().unwrap();
    assert_eq!(list.len(), 2, "submission and rejection each left evidence");
    for p in list {
        let proof: zw_evidence::InclusionProof = serde_json::from_value(p.clone()).unwrap();
        zw_evidence::verify_inclusion_proof(&proof, &key).expect("inclusion proof verifies");
    }

    // 5. The grid's whole evidence log exports and verifies offline; a tampered copy does not.
    let file = std::env::temp_dir().join(format!("zw-e2e-evidence-{}.json", uuid::Uuid::new_v4()));
    c.run_to_end(
        &[
            "evidence",
            "export",
            "grid",
            "--output",
            file.to_str().unwrap(),
        ],
        "grid",
    );
    let ok = c.run(
        &[
            "evidence",
            "verify",
            file.to_str().unwrap(),
            "--public-key",
            &key.to_base64(),
        ],
        "grid",
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    // Without a pinned key the log is only self-consistent: UNVERIFIED, exit 2.
    let unpinned = c.run(&["evidence", "verify", file.to_str().unwrap()], "grid");
    assert_eq!(
        unpinned.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&unpinned.stdout)
    );
    assert!(String::from_utf8_lossy(&unpinned.stdout).starts_with("UNVERIFIED"));
    // The keys the grid publishes (no token), saved, pin it.
    let keys = c
        .client
        .get(format!("{}/api/v1/grid/evidence/keys", c.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(keys.status(), StatusCode::OK);
    let keys_file = file.with_extension("keys.json");
    std::fs::write(&keys_file, keys.bytes().await.unwrap()).unwrap();
    let pinned = c.run(
        &[
            "evidence",
            "verify",
            file.to_str().unwrap(),
            "--keys",
            keys_file.to_str().unwrap(),
        ],
        "grid",
    );
    assert!(
        pinned.status.success(),
        "{}",
        String::from_utf8_lossy(&pinned.stdout)
    );
    // A monitor through the gateway: the first round pins and keeps the head.
    let state = file.with_extension("monitor.json");
    let evidence_url = format!("{}/api/v1/grid/evidence", c.gateway);
    for round in ["first", "second"] {
        let watched = c.run(
            &[
                "evidence",
                "monitor",
                &evidence_url,
                "--once",
                "--state",
                state.to_str().unwrap(),
            ],
            "grid",
        );
        assert!(
            watched.status.success(),
            "{round} round: {}{}",
            String::from_utf8_lossy(&watched.stdout),
            String::from_utf8_lossy(&watched.stderr)
        );
    }
    // A service that keeps no evidence log says so.
    let none = c.run(&["evidence", "export", "street"], "street");
    assert!(!none.status.success());
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("keeps no evidence log"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
    let _ = std::fs::remove_file(&keys_file);
    let _ = std::fs::remove_file(&state);

    let mut log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    log["records"][1]["actor"] = json!("someone-else");
    std::fs::write(&file, serde_json::to_string(&log).unwrap()).unwrap();
    let bad = c.run(&["evidence", "verify", file.to_str().unwrap()], "grid");
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.contains("FAILED") && out.contains("evidence record 2 "),
        "names record 2: {out}"
    );
    let _ = std::fs::remove_file(&file);
}

#[tokio::test]
async fn every_service_serves_health_metrics_and_the_gateway_merges_their_openapi() {
    let c = Cluster::start().await;
    for s in zw_e2e::cluster::BACKENDS {
        let base = c.service_url(s);
        for path in ["/healthz", "/readyz", "/metrics"] {
            let res = c.client.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{s}{path}");
        }
    }
    // A service that is slow to answer is left out of the merged document and fetched again a
    // few seconds later; on this busy machine, wait for the complete document.
    let wanted = [
        "/api/v1/grid/declarations",
        "/api/v1/district/stats",
        "/api/v1/identity/token",
        "/api/v1/street/stats",
        "/api/v1/community/stats",
    ];
    zw_testkit::eventually(
        std::time::Duration::from_secs(60),
        "the complete merged OpenAPI document",
        || async {
            let (status, doc) = c
                .call(reqwest::Method::GET, "/api/openapi.json", None, None)
                .await;
            let paths = doc["paths"].as_object()?;
            (status == StatusCode::OK && wanted.iter().all(|p| paths.contains_key(*p)))
                .then_some(())
        },
    )
    .await;
    let docs = c
        .client
        .get(format!("{}/api/docs/", c.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_operator_creates_the_first_administrator_who_then_creates_a_grid_worker() {
    let c = Cluster::start().await;
    let refused = c.run(&["create-admin", "ops"], "identity");
    assert!(!refused.status.success(), "no password, no administrator");
    let made = c.run_with_env(
        &["create-admin", "ops"],
        "identity",
        &[("ZW_ADMIN_PASSWORD", "a long ops secret")],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let res = c
        .client
        .post(format!("{}/api/v1/identity/token", c.gateway))
        .json(
            &json!({"grant_type": "password", "username": "ops", "password": "a long ops secret"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let token = res.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let grid = c.demo.grids().nth(5).unwrap().code.to_string();
    let (status, user) = c
        .post(
            "/api/v1/identity/users",
            &token,
            json!({"username": "worker-six", "password": "another long secret", "roles": ["grid_worker"], "scope": grid}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let worker = c.login_with("worker-six", "another long secret").await;
    let (status, tasks) = c.get("/api/v1/grid/tasks", &worker).await;
    assert_eq!(status, StatusCode::OK, "{tasks}");
}
