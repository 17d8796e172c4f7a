//! Kill the grid service (SIGKILL) while declarations stream in, restart it, and check that every
//! declaration that got a 2xx is counted exactly once at the district.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::cluster::{Cluster, unknown_id};

const SENDERS: u16 = 4;
const PER_SENDER: u16 = 60;

#[tokio::test]
async fn every_acknowledged_declaration_is_counted_once_after_the_grid_is_killed() {
    let mut c = Cluster::start().await;
    let citizen = c.login("citizen").await;
    let houses: Vec<String> = c
        .demo
        .all_houses()
        .filter(|h| {
            matches!(
                h.status,
                zw_demo::DemoHouseStatus::InUse | zw_demo::DemoHouseStatus::Rented
            )
        })
        .map(|h| h.code.to_string())
        .take(200)
        .collect();
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let failures = Arc::new(Mutex::new(0usize));

    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let (client, url, token, houses) = (
            c.client.clone(),
            format!("{}/api/v1/grid/declarations", c.gateway),
            citizen.clone(),
            houses.clone(),
        );
        let (acknowledged, failures) = (acknowledged.clone(), failures.clone());
        senders.push(tokio::spawn(async move {
            for i in 0..PER_SENDER {
                let n = s * PER_SENDER + i;
                let body = json!({"id_number": unknown_id(n), "house_code": houses[usize::from(n) % houses.len()]});
                match client.post(&url).bearer_auth(&token).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {
                        let v: serde_json::Value = r.json().await.unwrap_or_default();
                        if let Some(id) = v["id"].as_str() {
                            acknowledged.lock().unwrap().push(id.to_owned());
                        }
                    }
                    _ => *failures.lock().unwrap() += 1,
                }
            }
        }));
    }

    // Kill the grid once a good part has been acknowledged, and restart it once requests fail.
    let ack = acknowledged.clone();
    zw_testkit::eventually(Duration::from_secs(120), "first acknowledgements", || {
        let ack = ack.clone();
        async move { (ack.lock().unwrap().len() >= 40).then_some(()) }
    })
    .await;
    c.kill("grid");
    let f = failures.clone();
    zw_testkit::eventually(
        Duration::from_secs(60),
        "requests failing while the grid is down",
        || {
            let f = f.clone();
            async move { (*f.lock().unwrap() >= 3).then_some(()) }
        },
    )
    .await;
    c.spawn("grid");
    let grid_url = c.service_url("grid");
    c.wait_ready("grid", &grid_url).await;
    for s in senders {
        s.await.unwrap();
    }

    let acknowledged: BTreeSet<String> = acknowledged.lock().unwrap().iter().cloned().collect();
    let failed = *failures.lock().unwrap();
    assert!(
        acknowledged.len() > 40,
        "some declarations were acknowledged after the restart too"
    );
    assert!(failed >= 3, "the kill was felt");
    assert_eq!(
        acknowledged.len() + failed,
        usize::from(SENDERS * PER_SENDER)
    );

    // The district's projection converges on exactly the grid's declarations: each once.
    let grid_db = sea_orm::Database::connect(&c.dbs["grid"].url)
        .await
        .unwrap();
    let district_db = sea_orm::Database::connect(&c.dbs["district"].url)
        .await
        .unwrap();
    let ids = |db: sea_orm::DatabaseConnection, sql: &'static str| async move {
        let rows = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.try_get::<String>("", "id").unwrap())
            .collect::<Vec<String>>()
    };
    let stored: BTreeSet<String> = ids(
        grid_db.clone(),
        "SELECT CAST(id AS TEXT) AS id FROM declarations",
    )
    .await
    .into_iter()
    .collect();
    assert!(
        acknowledged.is_subset(&stored),
        "every acknowledged declaration is stored"
    );
    let district = district_db.clone();
    let counted = zw_testkit::eventually(
        Duration::from_secs(120),
        "the district to count every stored declaration",
        || {
            let (district, stored) = (district.clone(), stored.clone());
            async move {
                let counted = ids(
                    district,
                    "SELECT declaration_id AS id FROM declaration_tally",
                )
                .await;
                (counted.len() == stored.len()).then_some(counted)
            }
        },
    )
    .await;
    let counted_set: BTreeSet<String> = counted.iter().cloned().collect();
    assert_eq!(counted_set.len(), counted.len(), "nothing counted twice");
    assert_eq!(
        counted_set, stored,
        "the district counts exactly the grid's declarations"
    );
    assert!(acknowledged.is_subset(&counted_set), "every 2xx is counted");

    let officer = c.login("district-officer").await;
    let (_, stats) = c.get("/api/v1/district/stats?under=440304", &officer).await;
    assert_eq!(
        stats["declarations"]["total"].as_u64().unwrap() as usize,
        stored.len()
    );
}
