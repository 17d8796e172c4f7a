//! `GET /api/v1/street/stats`: counts built from the declaration events of the street's grids,
//! for those whose scope contains the code.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;
use zw_auth::Role;
use zw_bus::OutgoingMessage;
use zw_contracts::DeclarationStatus::{Accepted, Pending, Rejected};

use crate::helpers::{
    COMMUNITY, DISTRICT, Declaration, GRID, NEIGHBOUR_GRID, SIBLING_COMMUNITY_GRID, SIBLING_STREET,
    SIBLING_STREET_GRID, STREET, counts, decode, spawn_street,
};

#[tokio::test]
async fn declarations_published_for_its_grids_show_up_in_the_street_stats() {
    let w = spawn_street().await;
    let refused = Declaration::in_grid(SIBLING_COMMUNITY_GRID);
    for env in [
        Declaration::in_grid(GRID).submitted(Accepted),
        Declaration::in_grid(NEIGHBOUR_GRID).submitted(Pending),
        refused.submitted(Pending),
        Declaration::in_grid(SIBLING_STREET_GRID).submitted(Pending),
    ] {
        w.publish(&env).await;
    }
    w.counts_reach(STREET, counts(2, 1, 0)).await;
    w.publish(&refused.changed(Pending, Rejected, 2)).await;
    w.counts_reach(STREET, counts(1, 1, 1)).await;

    let officer = w.token(Role::StreetOfficer, STREET);
    let (status, body) = w.stats(Some(&officer), STREET).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"under": STREET, "level": "street", "declarations": counts(1, 1, 1)}),
        "its own grids only"
    );
    let (_, body) = w.stats(Some(&officer), COMMUNITY).await;
    assert_eq!(body["level"], "community");
    assert_eq!(body["declarations"], counts(1, 1, 0));
    let (_, body) = w.stats(Some(&officer), SIBLING_COMMUNITY_GRID).await;
    assert_eq!(body["level"], "grid");
    assert_eq!(body["declarations"], counts(0, 0, 1));

    let chief = w.token(Role::DistrictOfficer, DISTRICT);
    let (_, body) = w.stats(Some(&chief), SIBLING_STREET).await;
    assert_eq!(
        body["declarations"],
        counts(1, 0, 0),
        "one instance serves every street of the district"
    );
}

#[tokio::test]
async fn an_event_delivered_twice_is_counted_once() {
    let w = spawn_street().await;
    let d = Declaration::in_grid(GRID);
    let submitted = d.submitted(Accepted);
    w.publish(&submitted).await;
    w.publish(&submitted).await;
    let mut copy = OutgoingMessage::event(&submitted, Vec::new()).expect("encode");
    copy.id = Uuid::now_v7();
    w.publish_message(copy).await;
    // The consumer takes events in order: once the next one is counted, the copies were seen.
    w.publish(&Declaration::in_grid(NEIGHBOUR_GRID).submitted(Pending))
        .await;
    w.counts_reach(STREET, counts(1, 1, 0)).await;
    w.counts_reach(GRID, counts(0, 1, 0)).await;
}

#[tokio::test]
async fn a_street_officer_of_another_street_is_refused() {
    let w = spawn_street().await;
    let other = w.token(Role::StreetOfficer, SIBLING_STREET);
    for under in [STREET, COMMUNITY, GRID] {
        let (status, body) = w.stats(Some(&other), under).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "under {under}: {body}");
        assert_eq!(body["code"], "forbidden");
    }
    let (status, body) = w.stats(Some(&other), SIBLING_STREET).await;
    assert_eq!(status, StatusCode::OK, "his own street: {body}");
    let (status, _) = w
        .stats(Some(&w.token(Role::CommunityOfficer, COMMUNITY)), STREET)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a community officer does not read his street"
    );
}

#[tokio::test]
async fn a_citizen_may_not_read_statistics_even_of_his_own_street() {
    let w = spawn_street().await;
    let citizen = w.token(Role::Citizen, STREET);
    let (status, body) = w.stats(Some(&citizen), STREET).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "forbidden");
}

#[tokio::test]
async fn statistics_without_a_token_are_refused_as_unauthenticated() {
    let w = spawn_street().await;
    let (status, body) = w.stats(None, STREET).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "unauthenticated");
    let (status, _) = w.stats(Some("not-a-jwt"), STREET).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a token that is not one");
}

#[tokio::test]
async fn a_malformed_code_is_a_bad_request_with_a_problem() {
    let w = spawn_street().await;
    let officer = w.token(Role::StreetOfficer, STREET);
    for under in [
        "4403040",
        "4403040011",
        "44030400x",
        "440304000",
        "440304001001000",
        "",
    ] {
        let (status, body) = w.stats(Some(&officer), under).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "under={under:?}: {body}");
        assert_eq!(body["code"], "invalid-input", "under={under:?}");
    }
    let res = w
        .street
        .client
        .get(w.street.url("/api/v1/street/stats"))
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
