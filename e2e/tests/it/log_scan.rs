//! No ID number or phone number reaches a log: the platform is driven with the demo district's
//! numbers and numbers of its own — declarations, lookups, records, imports, registrations,
//! logins, bad input and numbers where none belong — with the platform's own crates logging at
//! `debug`, and then every log line of every process (each `zhiwang serve`, and each command the
//! harness ran) is searched for every one of those numbers.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::json;

use zw_e2e::cluster::{BACKENDS, Cluster, unknown_id};

/// The log filter for this test: the default, with Zhiwang's own crates at `debug` (what an
/// operator turns on to look into a problem).
const LOG_LEVEL: &str = "info,zw=debug,zhiwang=debug,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,async_nats=warn,actix_server=warn";

/// A mainland mobile number of this test's own, different for each `seq`.
fn phone(seq: u32) -> String {
    format!("139{:08}", 20_250_000 + seq)
}

/// Every window of `line` that is one of `numbers`: runs of digits (and `X`) are cut into every
/// 18- and 11-character window, and each is looked up.
fn numbers_in(line: &str, numbers: &HashSet<String>) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'X' || bytes[i] == b'x')
        {
            i += 1;
        }
        let run = line[start..i].to_ascii_uppercase();
        for width in [18, 11] {
            for w in 0..=run.len().saturating_sub(width) {
                if let Some(candidate) = run.get(w..w + width)
                    && numbers.contains(candidate)
                {
                    found.push(candidate.to_owned());
                }
            }
        }
    }
    found
}

/// Every line of every log of `c` that holds one of `numbers`, as `file:line: number in …`.
fn leaks(c: &Cluster, numbers: &HashSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for file in c.log_files() {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for (n, line) in text.lines().enumerate() {
            let mut found = numbers_in(line, numbers);
            found.sort();
            found.dedup();
            for number in found {
                let shown: String = line.chars().take(400).collect();
                out.push(format!("{name}:{}: {number} in {shown}", n + 1));
            }
        }
    }
    out
}

#[tokio::test]
async fn no_id_or_phone_number_sent_to_the_platform_or_in_the_demo_district_appears_in_a_log() {
    let settings: Vec<(&'static str, &str, &str)> = BACKENDS
        .iter()
        .chain(&["gateway"])
        .map(|s| (*s, "ZW__TELEMETRY__LOG_LEVEL", LOG_LEVEL))
        .collect();
    let c = Cluster::start_with(&settings).await;
    let mut numbers: HashSet<String> = c
        .demo
        .register()
        .iter()
        .map(|p| p.id_number.to_string())
        .collect();
    let mut sent = |n: String| {
        numbers.insert(n.clone());
        n
    };
    let (grid, house, resident) = c.example();
    sent(resident.clone());
    let citizen = c.login("citizen").await;
    let worker = c.login("grid-worker").await;
    let officer = c.login("district-officer").await;
    let declarations = "/api/v1/grid/declarations";

    // Declarations: of a resident, of numbers the register does not know, and bad ones.
    for id in [
        resident.clone(),
        sent(unknown_id(901)),
        sent(unknown_id(902)),
    ] {
        let (status, body) = c
            .post(
                declarations,
                &citizen,
                json!({"id_number": id, "house_code": house}),
            )
            .await;
        assert!(status.is_success(), "declaration: {status} {body}");
    }
    let mut wrong_check = sent(unknown_id(903));
    let last = wrong_check.pop().unwrap();
    wrong_check.push(if last == '1' { '2' } else { '1' });
    let wrong_check = sent(wrong_check);
    let unknown_house = zw_domain::HouseCode::new(&grid.parse().unwrap(), 9997)
        .unwrap()
        .to_string();
    for body in [
        json!({"id_number": wrong_check, "house_code": house}),
        json!({"id_number": sent(unknown_id(904)), "house_code": unknown_house}),
        json!({"id_number": sent(unknown_id(905)), "house_code": house, "phone": sent(phone(1))}),
    ] {
        let (status, problem) = c.post(declarations, &citizen, body.clone()).await;
        assert!(status.is_client_error(), "{body} → {status} {problem}");
    }

    // Lookups by the grid worker: found, not found, malformed, and a number in the path.
    let (status, found) = c
        .post(
            "/api/v1/grid/persons/search",
            &worker,
            json!({"id_number": resident}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    for id in [sent(unknown_id(906)), wrong_check.clone()] {
        let (status, _) = c
            .post(
                "/api/v1/grid/persons/search",
                &worker,
                json!({"id_number": id}),
            )
            .await;
        assert!(status.is_client_error(), "{id}: {status}");
    }
    let in_path = sent(unknown_id(907));
    let (status, _) = c
        .get(&format!("/api/v1/grid/persons/{in_path}"), &worker)
        .await;
    assert!(
        status.is_client_error(),
        "an ID number as a person id: {status}"
    );
    let in_query = sent(unknown_id(908));
    let (status, _) = c
        .get(
            &format!(
                "/api/v1/grid/persons?id_number={in_query}&phone={}",
                sent(phone(2))
            ),
            &worker,
        )
        .await;
    assert!(status.is_success() || status.is_client_error(), "{status}");

    // A person recorded by the grid worker, with a phone.
    let (status, person) = c
        .post(
            "/api/v1/grid/persons",
            &worker,
            json!({"id_number": sent(unknown_id(909)), "name": "Log Test", "phone": sent(phone(3)), "house_code": house, "change": "registered"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{person}");

    // An import of residents by the district officer, and a chunk refused for a bad line.
    let csv = format!(
        "id_number,name,house_code,phone\n{},Import One,{house},{}\n{},Import Two,{house},\n",
        sent(unknown_id(910)),
        sent(phone(4)),
        sent(unknown_id(911)),
    );
    let res = c
        .client
        .post(format!("{}/api/v1/grid/imports/residents", c.gateway))
        .bearer_auth(&officer)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let bad = format!(
        "id_number,name,house_code,phone\n{},Bad Phone,{house},{}\n{wrong_check},Bad Id,{house},\n",
        sent(unknown_id(912)),
        sent("1234567890".to_owned() + "1"),
    );
    let res = c
        .client
        .post(format!("{}/api/v1/grid/imports/residents", c.gateway))
        .bearer_auth(&officer)
        .header("content-type", "text/csv")
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A citizen registers with his phone number as his user name, and logs in with it, once
    // with a wrong password; another tries a number taken already.
    let own_phone = sent(phone(5));
    let own_id = sent(unknown_id(913));
    let (status, body) = c
        .call(
            reqwest::Method::POST,
            "/api/v1/identity/citizens",
            None,
            Some(json!({"username": own_phone, "password": "a long citizen secret", "phone": own_phone, "id_number": own_id})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let registered = c.login_with(&own_phone, "a long citizen secret").await;
    let (status, body) = c
        .call(
            reqwest::Method::POST,
            "/api/v1/identity/token",
            None,
            Some(json!({"grant_type": "password", "username": own_phone, "password": "not the password"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = c
        .call(
            reqwest::Method::POST,
            "/api/v1/identity/citizens",
            None,
            Some(json!({"username": sent(phone(6)), "password": "a long citizen secret", "id_number": own_id})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = c
        .post(
            declarations,
            &registered,
            json!({"id_number": own_id, "house_code": house}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");

    // The declarations reach the district (so the events crossed the bus and were logged about).
    zw_testkit::eventually(
        std::time::Duration::from_secs(60),
        "the district to count the 4 declarations",
        || async {
            let (_, stats) = c.get("/api/v1/district/stats?under=440304", &officer).await;
            (stats["declarations"]["total"] == 4).then_some(())
        },
    )
    .await;

    let leaks = leaks(&c, &numbers);
    assert!(
        leaks.is_empty(),
        "{} log lines hold an ID or phone number:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    // The scan reads the logs a number would be in: the lookup with a number in its path was
    // logged, masked.
    let masked = zw_domain::IdNumber::parse(&in_path).unwrap().masked();
    assert!(
        c.log_files()
            .iter()
            .any(|f| std::fs::read_to_string(f).unwrap().contains(&masked)),
        "the lookup of {masked} is in a log"
    );
}
