//! Readiness follows the dependencies: break one and the service says so.

use reqwest::StatusCode;
use std::time::Duration;

use crate::helpers::{check_is, spawn_app};

#[tokio::test]
async fn it_reports_not_ready_when_its_database_is_gone_and_stays_alive() {
    let a = spawn_app().await;
    assert_eq!(a.get("/readyz").await.status, StatusCode::OK);

    a.drop_its_database().await;

    let report = zw_testkit::eventually(
        Duration::from_secs(20),
        "/readyz to report the database down",
        || async {
            let r = a.get("/readyz").await;
            (r.status == StatusCode::SERVICE_UNAVAILABLE).then(|| r.json())
        },
    )
    .await;
    assert_eq!(report["ready"], false);
    assert!(check_is(&report, "database", false), "{report}");
    assert!(
        check_is(&report, "bus", true),
        "only the database: {report}"
    );
    let database = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "database"))
        .expect("a database check");
    assert!(database["error"].is_string(), "it says why: {report}");

    assert_eq!(
        a.get("/healthz").await.status,
        StatusCode::OK,
        "alive all the same: restarting would not bring the database back"
    );
}
