//! `zhiwang up` as a new user runs it: one process, SQLite, in-process bus, demo district.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use zw_e2e::cluster::decode;

#[tokio::test]
async fn zhiwang_up_starts_the_seeded_platform_prints_tokens_and_stops_cleanly() {
    let data = std::env::temp_dir().join(format!("zw-up-{}", uuid::Uuid::new_v4()));
    let mut child = Command::new(zw_e2e::cluster::bin())
        .args([
            "up",
            // Port 0: the gateway takes a free port and the banner says which.
            "--port",
            "0",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .env_remove("ZW__BUS__URL")
        .env_remove("ZW__DATABASE__URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read the banner until the prompt to stop; keep the tokens it prints.
    let stdout = child.stdout.take().unwrap();
    let banner = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.contains("Press Ctrl-C to stop");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    let banner = tokio::time::timeout(Duration::from_secs(120), banner)
        .await
        .expect("banner within 2 min")
        .unwrap();
    let token = |name: &str| {
        banner
            .iter()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(&format!("export ZW_TOKEN_{name}="))
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| panic!("token {name} in the banner: {banner:#?}"))
    };
    let (citizen, officer) = (token("CITIZEN"), token("DISTRICT_OFFICER"));
    let base = banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("API gateway"))
        .and_then(|rest| rest.trim().split("/api/").next())
        .unwrap_or_else(|| panic!("the gateway URL in the banner: {banner:#?}"))
        .to_owned();
    assert!(
        banner
            .iter()
            .any(|l| l.contains(&format!("{base}/api/docs")))
    );

    // The README's example: the register's resident of the first house is accepted at once.
    let example = banner
        .iter()
        .find(|l| l.contains("\"id_number\"") && !l.contains("11010519491231002X"))
        .expect("example");
    let body: serde_json::Value =
        serde_json::from_str(example.split("-d '").nth(1).unwrap().trim_end_matches('\'')).unwrap();
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{base}/api/v1/grid/declarations"))
        .bearer_auth(&citizen)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, d) = decode(res).await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!(d["status"], "accepted");
    zw_testkit::eventually(
        Duration::from_secs(30),
        "the district to count the declaration",
        || async {
            let res = client
                .get(format!("{base}/api/v1/district/stats?under=440304"))
                .bearer_auth(&officer)
                .send()
                .await
                .ok()?;
            let (_, stats) = decode(res).await;
            (stats["declarations"]
                == json!({"pending": 0, "accepted": 1, "rejected": 0, "total": 1}))
            .then_some(())
        },
    )
    .await;

    // Ctrl-C stops every service and the process exits 0.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status}");
    let _ = std::fs::remove_dir_all(&data);
}
