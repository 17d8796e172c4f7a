//! Houses through their whole life: codes that never repeat, the state machine and its refusals,
//! optimistic versions, scopes, census rounds and the QR code on the door.

use reqwest::StatusCode;
use serde_json::{Value, json};
use zw_testkit::http;

use crate::helpers::{World, spawn_world};

async fn create(w: &World, token: &str, grid: &str) -> (StatusCode, Value) {
    w.post(
        token,
        "/api/v1/grid/houses",
        json!({
            "grid_code": grid,
            "address": "Building 9, Room 901",
            "category": "residential",
            "legal": false,
            "registered_size": 3,
            "landlord_name": "Wang Fang",
            "landlord_phone": "13812345678",
        }),
    )
    .await
}

async fn go(w: &World, token: &str, house: &str, body: Value) -> (StatusCode, Value) {
    w.post(
        token,
        &format!("/api/v1/grid/houses/{house}/transitions"),
        body,
    )
    .await
}

async fn patch(w: &World, token: &str, house: &str, body: Value) -> (StatusCode, Value) {
    http::call(
        w.grid
            .client
            .patch(w.grid.url(&format!("/api/v1/grid/houses/{house}")))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

fn serial(code: &Value) -> u32 {
    code.as_str().expect("code")[15..19]
        .parse()
        .expect("serial")
}

#[tokio::test]
async fn new_houses_get_the_next_code_and_a_demolished_code_is_never_issued_again() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let (status, h) = create(&w, &worker, &ex.grid).await;
    assert_eq!(status, StatusCode::CREATED, "{h}");
    let last_demo = zw_demo::HOUSES_PER_GRID as u32;
    assert_eq!(serial(&h["code"]), last_demo + 1);
    assert_eq!(h["status"], "planned");
    assert_eq!(h["legal"], false, "illegal buildings get a code too");
    assert_eq!(h["version"], 1);
    let code = h["code"].as_str().expect("code").to_owned();
    // The landlord's name and phone as the masking policy says for each reader: the grid's
    // worker plain, the community officer the name plain and the phone masked, the district
    // officer the name masked and no phone at all.
    assert_eq!(h["landlord_phone"], "13812345678");
    assert_eq!(h["landlord_name"], "Wang Fang");
    let community = w.env.token(
        zw_auth::Role::CommunityOfficer,
        &ex.grid[..12],
        "community-officer",
    );
    let (_, seen) = w
        .get(&community, &format!("/api/v1/grid/houses/{code}"))
        .await;
    assert_eq!(seen["landlord_name"], "Wang Fang", "{seen}");
    assert_eq!(seen["landlord_phone"], "138****5678", "{seen}");
    let (_, seen) = w
        .get(&w.officer(), &format!("/api/v1/grid/houses/{code}"))
        .await;
    assert_eq!(seen["landlord_name"], "W********", "{seen}");
    assert!(seen.get("landlord_phone").is_none(), "{seen}");
    zw_domain::HouseCode::parse(&code).expect("a valid house code");

    let (status, gone) = go(&w, &worker, &code, json!({"to": "demolished"})).await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    let (status, next) = create(&w, &worker, &ex.grid).await;
    assert_eq!(status, StatusCode::CREATED, "{next}");
    assert_eq!(
        serial(&next["code"]),
        last_demo + 2,
        "the demolished code stays retired"
    );

    // Registrations at once never collide.
    let creates = (0..6).map(|_| create(&w, &worker, &ex.grid));
    let results = futures::future::join_all(creates).await;
    let mut serials: Vec<u32> = results
        .iter()
        .map(|(s, b)| {
            assert_eq!(*s, StatusCode::CREATED, "{b}");
            serial(&b["code"])
        })
        .collect();
    serials.sort_unstable();
    assert_eq!(serials, (last_demo + 3..=last_demo + 8).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_house_goes_through_its_life_and_every_illegal_move_is_refused() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let (_, h) = create(&w, &worker, &ex.grid).await;
    let code = h["code"].as_str().expect("code").to_owned();

    let (status, p) = go(&w, &worker, &code, json!({"to": "rented"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["type"], "urn:zhiwang:problem:illegal-transition");
    assert!(
        p["detail"]
            .as_str()
            .expect("detail")
            .contains("built, demolished")
    );
    let (status, p) = go(&w, &worker, &code, json!({"to": "haunted"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");

    let mut version = 1;
    for to in ["built", "in_use", "rented", "in_use", "rented"] {
        let (status, h) = go(
            &w,
            &worker,
            &code,
            json!({"to": to, "expected_version": version}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{to}: {h}");
        assert_eq!(h["status"], to);
        version += 1;
        assert_eq!(h["version"], version);
    }
    let (status, p) = go(&w, &worker, &code, json!({"to": "built"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");

    let (status, h) = go(
        &w,
        &worker,
        &code,
        json!({"to": "demolished", "reason": "road widening"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{h}");
    for to in ["rented", "in_use", "demolished"] {
        let (status, p) = go(&w, &worker, &code, json!({"to": to})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{to}: {p}");
        assert_eq!(p["type"], "urn:zhiwang:problem:house-demolished");
    }
    let (status, p) = patch(&w, &worker, &code, json!({"address": "elsewhere"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    assert_eq!(p["type"], "urn:zhiwang:problem:house-demolished");

    // The public view shows it demolished; the staff list agrees, at the last version.
    let (status, public) = http::get(&w.grid, None, &format!("/api/v1/grid/houses/{code}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(public["status"], "demolished");
    assert!(
        public.get("version").is_none(),
        "the door shows no more: {public}"
    );
    // Staff whose scope holds the grid read the whole record; a worker of another grid and a
    // citizen read the door; a bad token is refused, not read as no token.
    let (status, full) = w.get(&worker, &format!("/api/v1/grid/houses/{code}")).await;
    assert_eq!(status, StatusCode::OK, "{full}");
    assert_eq!(full["status"], "demolished");
    assert!(full["version"].as_i64().unwrap() > 1, "{full}");
    for other in [w.worker(&ex.neighbour_grid), w.citizen("zhao")] {
        let (_, door) = w.get(&other, &format!("/api/v1/grid/houses/{code}")).await;
        assert!(door.get("version").is_none(), "{door}");
        assert_eq!(door["status"], "demolished");
    }
    let (status, p) = w
        .get("not-a-token", &format!("/api/v1/grid/houses/{code}"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{p}");
    let (_, list) = w
        .get(
            &worker,
            &format!(
                "/api/v1/grid/houses?grid={}&status=demolished&limit=200",
                ex.grid
            ),
        )
        .await;
    let mine = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["code"] == code.as_str())
        .expect("listed")
        .clone();
    assert_eq!(mine["version"], version + 1);
}

#[tokio::test]
async fn a_house_with_residents_cannot_be_demolished() {
    let w = spawn_world().await;
    let ex = w.example();
    let (status, d) = w
        .declare(
            &w.resident("c1", &ex.resident_id),
            &ex.resident_id,
            &ex.house,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!(d["status"], "accepted");
    let officer = w.officer();
    let (status, p) = go(&w, &officer, &ex.house, json!({"to": "demolished"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    assert_eq!(p["type"], "urn:zhiwang:problem:house-occupied");
    let (_, list) = w
        .get(
            &officer,
            &format!("/api/v1/grid/houses?grid={}&limit=1", ex.grid),
        )
        .await;
    assert_eq!(list["items"][0]["code"], ex.house.as_str());
    assert_eq!(list["items"][0]["status"], "in_use", "nothing changed");
    assert_eq!(list["items"][0]["version"], 1);
}

#[tokio::test]
async fn a_stale_version_is_a_conflict_and_other_grids_workers_are_refused() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let (status, p) = patch(
        &w,
        &worker,
        &ex.house,
        json!({"registered_size": 5, "expected_version": 7}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    assert_eq!(p["type"], "urn:zhiwang:problem:version-conflict");
    let (status, h) = patch(
        &w,
        &worker,
        &ex.house,
        json!({"registered_size": 5, "expected_version": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(h["registered_size"], 5);
    assert_eq!(h["version"], 2);
    let (status, same) = patch(&w, &worker, &ex.house, json!({"registered_size": 5})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same["version"], 2, "no change, no new version");
    let (status, _) = patch(&w, &worker, &ex.house, json!({"colour": "red"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let neighbour = w.worker(&ex.neighbour_grid);
    let (status, _) = create(&w, &neighbour, &ex.grid).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = go(&w, &neighbour, &ex.house, json!({"to": "rented"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = patch(&w, &neighbour, &ex.house, json!({"registered_size": 6})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = w
        .get(&neighbour, &format!("/api/v1/grid/houses?grid={}", ex.grid))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, h) = w
        .get(
            &worker,
            &format!("/api/v1/grid/houses?grid={}&limit=1", ex.grid),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["items"][0]["version"], 2, "the refusals changed nothing");
}

#[tokio::test]
async fn closing_a_census_marks_the_houses_nobody_saw() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let census = format!("/api/v1/grid/grids/{}/census", ex.grid);
    let (status, round) = w.post(&worker, &census, json!(null)).await;
    assert_eq!(status, StatusCode::CREATED, "{round}");
    let (status, p) = w.post(&worker, &census, json!(null)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    assert_eq!(p["type"], "urn:zhiwang:problem:census-open");

    let houses: Vec<(String, String)> = w
        .demo
        .houses(&ex.grid.parse().expect("grid"))
        .into_iter()
        .map(|h| (h.code.to_string(), format!("{:?}", h.status)))
        .collect();
    let standing: Vec<&String> = houses
        .iter()
        .filter(|(_, s)| s != "Demolished")
        .map(|(c, _)| c)
        .collect();
    let (seen, unseen) = standing.split_at(3);
    for code in seen {
        let (status, h) = w
            .post(
                &worker,
                &format!("/api/v1/grid/houses/{code}/sightings"),
                json!(null),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{h}");
        assert!(h["last_seen_at"].is_string());
    }
    let id = round["id"].as_str().expect("id");
    let (status, closed) = w
        .post(&worker, &format!("{census}/{id}/close"), json!(null))
        .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    let marked: Vec<String> = serde_json::from_value(closed["not_seen"].clone()).expect("codes");
    assert_eq!(
        marked,
        unseen.iter().map(|c| (*c).clone()).collect::<Vec<_>>()
    );

    let (_, list) = w
        .get(
            &worker,
            &format!("/api/v1/grid/houses?grid={}&limit=200", ex.grid),
        )
        .await;
    for item in list["items"].as_array().expect("items") {
        let code = item["code"].as_str().expect("code").to_owned();
        let expected = unseen.iter().any(|c| **c == code);
        assert_eq!(item["not_seen"], expected, "{code}");
    }
    let (status, p) = w
        .post(&worker, &format!("{census}/{id}/close"), json!(null))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    // The neighbour's worker may not run a census here.
    let (status, _) = w
        .post(&w.worker(&ex.neighbour_grid), &census, json!(null))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_qr_code_on_the_door_opens_the_declaration_page_for_that_house() {
    let w = spawn_world().await;
    let ex = w.example();
    let url = |ext: &str| {
        w.grid
            .url(&format!("/api/v1/grid/houses/{}/qr.{ext}", ex.house))
    };
    let res = w.grid.client.get(url("png")).send().await.expect("png");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    let bytes = res.bytes().await.expect("bytes");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (width, height) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        buf[y * info.line_size + x]
    });
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().expect("decodes");
    assert_eq!(
        content,
        format!("http://127.0.0.1:8080/declare?house={}", ex.house)
    );

    let svg = http::Reply::of(w.grid.client.get(url("svg"))).await;
    assert_eq!(svg.status, StatusCode::OK);
    assert_eq!(svg.content_type, "image/svg+xml");
    assert!(svg.body.starts_with("<?xml") || svg.body.starts_with("<svg"));
    assert!(svg.body.trim_end().ends_with("</svg>"));

    let unknown = zw_domain::HouseCode::new(&ex.grid.parse().expect("grid"), 9999).expect("code");
    let (status, p) = http::get(
        &w.grid,
        None,
        &format!("/api/v1/grid/houses/{unknown}/qr.png"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{p}");
    let (status, _) = http::get(&w.grid, None, "/api/v1/grid/houses/12345/qr.svg").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = http::get(
        &w.grid,
        None,
        &format!("/api/v1/grid/houses/{}/qr.png?size=99999", ex.house),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
