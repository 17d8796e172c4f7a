//! Photos and scans: stored once by content hash, typed by their bytes, limited in size.

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use sha2::{Digest, Sha256};
use zw_testkit::http;

use crate::helpers::{World, spawn_world};

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

fn png(extra: &[u8]) -> Vec<u8> {
    let mut b = PNG_SIGNATURE.to_vec();
    b.extend_from_slice(extra);
    b
}

async fn upload(w: &World, token: &str, content_type: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    http::call(
        w.grid
            .client
            .post(w.grid.url("/api/v1/grid/media"))
            .bearer_auth(token)
            .header(CONTENT_TYPE, content_type)
            .body(bytes),
    )
    .await
}

#[tokio::test]
async fn a_photo_is_stored_once_under_its_hash_and_served_back() {
    let w = spawn_world().await;
    let ex = w.example();
    let worker = w.worker(&ex.grid);
    let bytes = png(b"a door in grid 1");
    let hash = hex::encode(Sha256::digest(&bytes));

    let (status, first) = upload(&w, &worker, "image/png", bytes.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["sha256"], hash.as_str());
    assert_eq!(first["size"], bytes.len());
    assert_eq!(first["content_type"], "image/png");

    let (status, again) = upload(&w, &worker, "image/png", bytes.clone()).await;
    assert_eq!(status, StatusCode::OK, "the same bytes are already stored");
    assert_eq!(again, first);

    let res = w
        .grid
        .client
        .get(w.grid.url(&format!("/api/v1/grid/media/{hash}")))
        .bearer_auth(&worker)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "image/png");
    assert_eq!(res.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // Someone else's photo is not for a citizen to fetch: there is none, as far as he knows.
    let (status, problem) = w
        .get(&w.citizen("nosy"), &format!("/api/v1/grid/media/{hash}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
}

#[tokio::test]
async fn wrong_types_disguised_bytes_and_oversized_photos_are_refused() {
    let w = spawn_world().await;
    let worker = w.worker(&w.example().grid);

    let (status, p) = upload(&w, &worker, "text/plain", b"hello".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{p}");
    assert_eq!(p["type"], "urn:zhiwang:problem:unsupported-media-type");

    let disguised = png(b"really a png");
    let (status, p) = upload(&w, &worker, "image/jpeg", disguised.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["type"], "urn:zhiwang:problem:media-type-mismatch");
    let hash = hex::encode(Sha256::digest(&disguised));
    let (status, _) = w.get(&worker, &format!("/api/v1/grid/media/{hash}")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a refused upload stores nothing"
    );

    let limit = w.grid_settings.grid.media_max_bytes;
    let (status, p) = upload(&w, &worker, "image/png", png(&vec![0; limit])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{p}");

    let (status, p) = upload(&w, &worker, "image/png", Vec::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");

    let (status, p) = w.get(&worker, "/api/v1/grid/media/not-a-hash").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    let (status, p) = w
        .get(&worker, &format!("/api/v1/grid/media/{}", "0".repeat(64)))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{p}");
}
