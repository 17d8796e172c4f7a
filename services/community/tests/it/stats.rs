//! `GET /api/v1/community/stats`: counts built from the declaration events of the grids, for
//! those whose scope contains the code.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;
use zw_auth::Role;
use zw_bus::OutgoingMessage;
use zw_contracts::DeclarationStatus::{Accepted, Pending, Rejected};

use crate::helpers::{
    COMMUNITY, DISTRICT, Declaration, GRID, NEIGHBOUR_GRID, SIBLING_COMMUNITY,
    SIBLING_COMMUNITY_GRID, SIBLING_STREET, SIBLING_STREET_GRID, STREET, counts, decode,
    publish_message, spawn_community,
};

#[tokio::test]
async fn declarations_published_for_its_grids_show_up_in_the_community_stats() {
    let w = spawn_community().await;
    let confirmed = Declaration::in_grid(GRID);
    for env in [
        confirmed.submitted(Pending),
        Declaration::in_grid(GRID).submitted(Accepted),
        Declaration::in_grid(NEIGHBOUR_GRID).submitted(Pending),
        Declaration::in_grid(SIBLING_COMMUNITY_GRID).submitted(Accepted),
        Declaration::in_grid(SIBLING_STREET_GRID).submitted(Accepted),
    ] {
        w.publish(&env).await;
    }
    w.counts_reach(STREET, counts(2, 2, 0)).await;
    w.publish(&confirmed.changed(Pending, Accepted, 2)).await;
    w.counts_reach(STREET, counts(1, 3, 0)).await;

    let officer = w.token(Role::CommunityOfficer, COMMUNITY);
    let (status, body) = w.stats(Some(&officer), COMMUNITY).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"under": COMMUNITY, "level": "community", "declarations": counts(1, 2, 0)}),
        "its own grids only"
    );
    let (_, body) = w.stats(Some(&officer), GRID).await;
    assert_eq!(body["level"], "grid");
    assert_eq!(body["declarations"], counts(0, 2, 0));
    let (_, body) = w.stats(Some(&officer), NEIGHBOUR_GRID).await;
    assert_eq!(body["declarations"], counts(1, 0, 0));
}

#[tokio::test]
async fn an_event_delivered_twice_is_counted_once() {
    let w = spawn_community().await;
    let d = Declaration::in_grid(GRID);
    let submitted = d.submitted(Pending);
    w.publish(&submitted).await;
    w.publish(&submitted).await;
    let mut copy = OutgoingMessage::event(&submitted, Vec::new()).expect("encode");
    copy.id = Uuid::now_v7();
    publish_message(&w.env, copy).await;
    let changed = d.changed(Pending, Rejected, 2);
    w.publish(&changed).await;
    let mut copy = OutgoingMessage::event(&changed, Vec::new()).expect("encode");
    copy.id = Uuid::now_v7();
    publish_message(&w.env, copy).await;
    // The consumer takes events in order: once the next one is counted, the copies were seen.
    w.publish(&Declaration::in_grid(NEIGHBOUR_GRID).submitted(Accepted))
        .await;
    w.counts_reach(COMMUNITY, counts(0, 1, 1)).await;
    w.counts_reach(GRID, counts(0, 0, 1)).await;
}

#[tokio::test]
async fn a_community_officer_reads_his_own_community_and_nothing_beside_or_above_it() {
    let w = spawn_community().await;
    let officer = w.token(Role::CommunityOfficer, COMMUNITY);
    for under in [COMMUNITY, GRID, NEIGHBOUR_GRID] {
        let (status, body) = w.stats(Some(&officer), under).await;
        assert_eq!(status, StatusCode::OK, "under {under}: {body}");
    }
    for under in [SIBLING_COMMUNITY, SIBLING_COMMUNITY_GRID, STREET, DISTRICT] {
        let (status, body) = w.stats(Some(&officer), under).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "under {under}: {body}");
        assert_eq!(body["code"], "forbidden");
    }
}

#[tokio::test]
async fn a_street_officer_of_another_street_is_refused() {
    let w = spawn_community().await;
    let own = w.token(Role::StreetOfficer, STREET);
    assert_eq!(w.stats(Some(&own), COMMUNITY).await.0, StatusCode::OK);
    let other = w.token(Role::StreetOfficer, SIBLING_STREET);
    let (status, body) = w.stats(Some(&other), COMMUNITY).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "forbidden");
}

#[tokio::test]
async fn a_citizen_may_not_read_statistics_even_of_his_own_community() {
    let w = spawn_community().await;
    let citizen = w.token(Role::Citizen, COMMUNITY);
    let (status, body) = w.stats(Some(&citizen), COMMUNITY).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "forbidden");
}

#[tokio::test]
async fn statistics_without_a_token_are_refused_as_unauthenticated() {
    let w = spawn_community().await;
    let (status, body) = w.stats(None, COMMUNITY).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "unauthenticated");
    let (status, _) = w.stats(Some("not-a-jwt"), COMMUNITY).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a token that is not one");
}

#[tokio::test]
async fn a_malformed_code_is_a_bad_request_with_a_problem() {
    let w = spawn_community().await;
    let officer = w.token(Role::CommunityOfficer, COMMUNITY);
    for under in [
        "44030400100",
        "4403040010011",
        "44030400100x",
        "440304001000",
        "",
    ] {
        let (status, body) = w.stats(Some(&officer), under).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "under={under:?}: {body}");
        assert_eq!(body["code"], "invalid-input", "under={under:?}");
    }
    let res = w
        .community
        .app
        .client
        .get(w.community.app.url("/api/v1/community/stats"))
        .bearer_auth(&officer)
        .send()
        .await
        .expect("request");
    assert_eq!(
        decode(res).await.0,
        StatusCode::BAD_REQUEST,
        "no code at all"
    );
}
