//! Bulk imports: a chunk is checked whole, goes in whole or not at all, and sending it again
//! changes nothing.

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use zw_domain::{HouseCode, IdNumber, JurisdictionCode};
use zw_testkit::http;

use crate::helpers::{World, spawn_world};

async fn import(w: &World, token: &str, kind: &str, csv: &str) -> (StatusCode, Value) {
    http::call(
        w.grid
            .client
            .post(w.grid.url(&format!("/api/v1/grid/imports/{kind}")))
            .bearer_auth(token)
            .header(CONTENT_TYPE, "text/csv")
            .body(csv.to_owned()),
    )
    .await
}

fn house(grid: &str, serial: u16) -> String {
    HouseCode::new(&JurisdictionCode::parse(grid).unwrap(), serial)
        .unwrap()
        .to_string()
}

fn person(seq: u16) -> String {
    let birth = chrono::NaiveDate::from_ymd_opt(1985, 3, 9).unwrap();
    IdNumber::from_parts("440304", birth, seq)
        .unwrap()
        .to_string()
}

/// `code` with a wrong check digit.
fn corrupt(code: &str) -> String {
    let mut s = code.to_owned();
    let last = s.pop().unwrap();
    s.push(if last == '0' { '1' } else { '0' });
    s
}

#[tokio::test]
async fn houses_and_residents_go_in_once_and_a_second_sending_changes_nothing() {
    let w = spawn_world().await;
    let grid = w.example().grid;
    let officer = w.officer();
    let (h1, h2, h3) = (house(&grid, 9001), house(&grid, 9002), house(&grid, 9003));
    let houses = format!(
        "code,address,status,registered_size,category,legal\n\
         {h1},1 Import Road,in_use,4,residential,true\n\
         {h2},2 Import Road,rented,2,,\n\
         {h3},3 Import Road,planned,0,commercial,false\n"
    );
    let (status, report) = import(&w, &officer, "houses", &houses).await;
    assert_eq!(status, StatusCode::CREATED, "{report}");
    assert_eq!(report["rows"], 3);
    assert_eq!(report["created"], 3);
    assert!(report["import_id"].is_string());
    let (status, h) = w.get(&officer, &format!("/api/v1/grid/houses/{h2}")).await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(h["status"], "rented");
    assert_eq!(h["grid_code"], grid.as_str());
    // Classified as they arrive, by the classification rules: rented is yellow, an illegal
    // building red, a house in use green.
    for (code, class) in [
        (&h1, ("normal", "green")),
        (&h2, ("attention", "yellow")),
        (&h3, ("key", "red")),
    ] {
        let (_, h) = w
            .get(&officer, &format!("/api/v1/grid/houses/{code}"))
            .await;
        assert_eq!(
            (
                h["class_level"].as_str().unwrap(),
                h["colour"].as_str().unwrap()
            ),
            class,
            "{h}"
        );
        assert_eq!(h["classified_by_rules"], 1, "{h}");
    }

    let (status, again) = import(&w, &officer, "houses", &houses).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["created"], 0);
    assert_eq!(again["unchanged"], 3);
    assert!(again["import_id"].is_null(), "nothing recorded: {again}");

    let elder = IdNumber::from_parts(
        "440304",
        chrono::NaiveDate::from_ymd_opt(1940, 6, 1).unwrap(),
        103,
    )
    .unwrap()
    .to_string();
    let residents = format!(
        "id_number,name,house_code,phone\n\
         {},Li Lei,{h1},13800138000\n\
         {},Han Meimei,{h2},\n\
         {elder},Wang Nainai,{h1},\n",
        person(101),
        person(102)
    );
    let (status, report) = import(&w, &officer, "residents", &residents).await;
    assert_eq!(status, StatusCode::CREATED, "{report}");
    assert_eq!(report["created"], 3);
    // The collection rules ran on the imported residents: the one of 86 gets her case.
    assert_eq!(report["cases_raised"], 1, "{report}");
    let (status, elder_record) = w
        .post(
            &officer,
            "/api/v1/grid/persons/search",
            serde_json::json!({"id_number": elder}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{elder_record}");
    let (status, cases) = w.get(&officer, "/api/v1/grid/cases").await;
    assert_eq!(status, StatusCode::OK, "{cases}");
    let items = cases["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{cases}");
    assert_eq!(items[0]["case_type"], "elderly_allowance");
    assert_eq!(items[0]["subject_key"], elder_record["id"]);
    let (status, again) = import(&w, &officer, "residents", &residents).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["unchanged"], 3);
    assert_eq!(again["cases_raised"], 0);

    // An imported resident is known to the grid: declaring himself there again is refused.
    let (status, p) = w
        .declare(&w.resident("li", &person(101)), &person(101), &h1)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
}

#[tokio::test]
async fn one_bad_row_refuses_the_whole_chunk_naming_every_bad_line() {
    let w = spawn_world().await;
    let grid = w.example().grid;
    let officer = w.officer();
    let good = house(&grid, 9101);
    let bad_luhn = corrupt(&house(&grid, 9102));
    let unknown_grid = house("440304099099099", 1);
    let csv = format!(
        "code,address,status,registered_size\n\
         {good},ok,in_use,3\n\
         {bad_luhn},bad check digit,in_use,3\n\
         {unknown_grid},no such grid,in_use,3\n\
         {good},twice,in_use,3\n\
         {},bad status,haunted,3\n",
        house(&grid, 9103)
    );
    let (status, p) = import(&w, &officer, "houses", &csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["type"], "urn:zhiwang:problem:bad-lines");
    assert_eq!(p["bad_line_count"], 4);
    let listed: Vec<u64> = p["bad_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["line"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, [3, 4, 5, 6], "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.starts_with("4 bad line(s)"), "{detail}");
    for line in ["line 3:", "line 4:", "line 5:", "line 6:"] {
        assert!(detail.contains(line), "{line} in {detail}");
    }
    let (status, _) = w
        .get(&officer, &format!("/api/v1/grid/houses/{good}"))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "nothing of the chunk was written"
    );

    // Residents: a house nobody can live in, and a malformed ID number.
    let planned = house(&grid, 9104);
    let (status, _) = import(
        &w,
        &officer,
        "houses",
        &format!("code,address,status,registered_size\n{planned},future,planned,4\n"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let csv = format!(
        "id_number,name,house_code\n{},A,{planned}\n{},B,{}\n",
        person(201),
        corrupt(&person(202)),
        w.example().house
    );
    let (status, p) = import(&w, &officer, "residents", &csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("line 2:") && detail.contains("planned"),
        "{detail}"
    );
    assert!(
        detail.contains("line 3:") && detail.contains("id_number"),
        "{detail}"
    );
}

#[tokio::test]
async fn only_officers_import_inside_their_jurisdiction_and_only_csv() {
    let w = spawn_world().await;
    let ex = w.example();
    let csv = format!(
        "code,address,status,registered_size\n{},x,in_use,1\n",
        house(&ex.grid, 9201)
    );
    let (status, p) = import(&w, &w.worker(&ex.grid), "houses", &csv).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{p}");

    // A community officer of another community: the row is outside his jurisdiction.
    let other = JurisdictionCode::parse(&ex.grid).unwrap();
    let street = other.parent().unwrap().parent().unwrap();
    let elsewhere = street.child(9).unwrap();
    let token = w.env.token(
        zw_auth::Role::CommunityOfficer,
        elsewhere.as_str(),
        "officer-elsewhere",
    );
    let (status, p) = import(&w, &token, "houses", &csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("outside your jurisdiction")
    );

    let (status, p) = http::call(
        w.grid
            .client
            .post(w.grid.url("/api/v1/grid/imports/houses"))
            .bearer_auth(w.officer())
            .header(CONTENT_TYPE, "application/json")
            .body("[]"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{p}");

    let (status, p) = import(&w, &w.officer(), "houses", "code,address\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    let (status, p) = import(&w, &w.officer(), "houses", "code,address,colour\nx,y,z\n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
}

#[tokio::test]
async fn the_import_client_names_a_refused_row_by_its_line_in_the_file() {
    use zw_grid::imports::client::{Kind, Target, upload};

    let w = spawn_world().await;
    let grid = w.example().grid;
    let (h1, h2) = (house(&grid, 9101), house(&grid, 9102));
    // Blank lines and a quoted line break before the bad row, which is line 9 of the file.
    let file = format!(
        "code,address,status,registered_size,category,legal\n\
         \n\
         {h1},\"1 Import Road\nBlock A\",in_use,4,residential,true\n\
         \n\
         \n\
         {h2},2 Import Road,rented,2,,\n\
         \n\
         {},8 Import Road,in_use,1,,\n",
        corrupt(&house(&grid, 9103))
    );
    let target = Target {
        url: w.grid.url(""),
        token: w.officer(),
        chunk: 2,
        progress: false,
    };
    let refused = upload(&target, Kind::Houses, &file)
        .await
        .expect_err("the chunk with the bad row is refused");
    let message = refused.to_string();
    assert!(message.contains("file line 9:"), "{message}");
    assert!(message.contains("file lines 9–9 (chunk 2)"), "{message}");
    // The first chunk went in, its quoted line break kept.
    let (status, h) = w
        .get(&w.officer(), &format!("/api/v1/grid/houses/{h1}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(h["address"], "1 Import Road\nBlock A");
}
