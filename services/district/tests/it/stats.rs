//! `GET /api/v1/district/stats`: counts built from the declaration events of the district's
//! grids, for those whose scope contains the code.

use reqwest::StatusCode;
use sea_orm::TransactionTrait;
use sea_orm_migration::MigratorTrait;
use serde_json::json;
use tokio::sync::oneshot;
use uuid::Uuid;
use zw_auth::Role;
use zw_bus::OutgoingMessage;
use zw_contracts::DeclarationStatus::{Accepted, Pending, Rejected};
use zw_testkit::TestDb;

use crate::helpers::{
    COMMUNITY, DISTRICT, Declaration, GRID, NEIGHBOUR_GRID, SIBLING_STREET, SIBLING_STREET_GRID,
    STREET, counts, spawn_district,
};

#[tokio::test]
async fn declarations_published_for_grids_of_the_district_show_up_in_its_stats() {
    let d = spawn_district().await;
    let confirmed = Declaration::in_grid(GRID);
    let refused = Declaration::in_grid(NEIGHBOUR_GRID);
    for env in [
        Declaration::in_grid(GRID).submitted(Accepted),
        confirmed.submitted(Pending),
        refused.submitted(Pending),
        Declaration::in_grid(SIBLING_STREET_GRID).submitted(Accepted),
    ] {
        d.publish(&env).await;
    }
    d.counts_reach(STREET, counts(2, 1, 0)).await;

    d.publish(&confirmed.changed(Pending, Accepted, 2)).await;
    d.publish(&refused.changed(Pending, Rejected, 2)).await;
    d.counts_reach(STREET, counts(0, 2, 1)).await;

    let officer = d.token(Role::StreetOfficer, STREET);
    let (status, body) = d.stats(Some(&officer), STREET).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"under": STREET, "level": "street", "declarations": counts(0, 2, 1)})
    );
    let (_, body) = d.stats(Some(&officer), COMMUNITY).await;
    assert_eq!(body["level"], "community");
    assert_eq!(body["declarations"], counts(0, 2, 1));
    let (_, body) = d.stats(Some(&officer), GRID).await;
    assert_eq!(body["level"], "grid");
    assert_eq!(body["declarations"], counts(0, 2, 0));

    let chief = d.token(Role::DistrictOfficer, DISTRICT);
    let (_, body) = d.stats(Some(&chief), DISTRICT).await;
    assert_eq!(body["level"], "district");
    assert_eq!(body["declarations"], counts(0, 3, 1));
    let (_, body) = d.stats(Some(&chief), SIBLING_STREET).await;
    assert_eq!(body["declarations"], counts(0, 1, 0));
}

#[tokio::test]
async fn an_event_delivered_twice_is_counted_once() {
    let d = spawn_district().await;
    let env = Declaration::in_grid(GRID).submitted(Accepted);
    // Published twice (a relay that died between the ack and marking the row): the stream
    // keeps one.
    d.publish(&env).await;
    d.publish(&env).await;
    // And once more under another message id (a republish past the stream's duplicate window):
    // the stream keeps it, the consumer's inbox drops it.
    let mut again = OutgoingMessage::event(&env, Vec::new()).expect("encode");
    again.id = Uuid::now_v7();
    d.publish_message(again).await;
    // The consumer takes events in order: once the next one is counted, the copies were seen.
    d.publish(&Declaration::in_grid(NEIGHBOUR_GRID).submitted(Pending))
        .await;
    d.counts_reach(COMMUNITY, counts(1, 1, 0)).await;
    d.counts_reach(GRID, counts(0, 1, 0)).await;
}

#[tokio::test]
async fn a_stale_event_arriving_late_does_not_move_a_count_back() {
    let d = spawn_district().await;
    let decl = Declaration::in_grid(GRID);
    d.publish(&decl.changed(Pending, Accepted, 2)).await;
    d.counts_reach(GRID, counts(0, 1, 0)).await;
    d.publish(&decl.submitted(Pending)).await;
    d.publish(&Declaration::in_grid(NEIGHBOUR_GRID).submitted(Rejected))
        .await;
    d.counts_reach(COMMUNITY, counts(0, 1, 1)).await;
    d.counts_reach(GRID, counts(0, 1, 0)).await;
}

#[tokio::test]
async fn events_a_grid_commits_to_its_outbox_reach_the_district_through_the_relay() {
    let d = spawn_district().await;
    // The grid side: its own database with the outbox, and its relay on the same bus.
    let grid_db = TestDb::postgres().await;
    zw_bus::migration::Migrator::up(&grid_db.conn, None)
        .await
        .expect("outbox tables");
    let (stop, stopped) = oneshot::channel::<()>();
    let relay = zw_bus::outbox::spawn_relay(grid_db.conn.clone(), d.env.bus.clone(), async {
        let _ = stopped.await;
    });

    let decl = Declaration::in_grid(GRID);
    let txn = grid_db.conn.begin().await.expect("begin");
    zw_bus::outbox::enqueue(&txn, &decl.submitted(Pending), &[])
        .await
        .expect("enqueue");
    zw_bus::outbox::enqueue(&txn, &Declaration::in_grid(GRID).submitted(Accepted), &[])
        .await
        .expect("enqueue");
    txn.commit().await.expect("commit");
    relay.notify();
    d.counts_reach(GRID, counts(1, 1, 0)).await;

    let txn = grid_db.conn.begin().await.expect("begin");
    zw_bus::outbox::enqueue(&txn, &decl.changed(Pending, Rejected, 2), &[])
        .await
        .expect("enqueue");
    txn.commit().await.expect("commit");
    relay.notify();
    d.counts_reach(GRID, counts(0, 1, 1)).await;

    let _ = stop.send(());
    relay.stopped().await;
}

#[tokio::test]
async fn each_officer_reads_the_statistics_of_his_own_jurisdiction_only() {
    let d = spawn_district().await;
    let allowed = [
        (Role::StreetOfficer, STREET, STREET),
        (Role::StreetOfficer, STREET, GRID),
        (Role::CommunityOfficer, COMMUNITY, COMMUNITY),
        (Role::GridWorker, GRID, GRID),
        (Role::DistrictOfficer, DISTRICT, SIBLING_STREET),
        (Role::Admin, DISTRICT, DISTRICT),
    ];
    for (role, scope, under) in allowed {
        let (status, body) = d.stats(Some(&d.token(role, scope)), under).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{role:?} of {scope} under {under}: {body}"
        );
    }
    let refused = [
        (Role::StreetOfficer, SIBLING_STREET, STREET),
        (Role::StreetOfficer, STREET, DISTRICT),
        (Role::CommunityOfficer, COMMUNITY, STREET),
        (Role::GridWorker, GRID, NEIGHBOUR_GRID),
        (Role::DistrictOfficer, DISTRICT, "440305"),
    ];
    for (role, scope, under) in refused {
        let (status, body) = d.stats(Some(&d.token(role, scope)), under).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{role:?} of {scope} under {under}: {body}"
        );
        assert_eq!(body["code"], "forbidden");
    }
}

#[tokio::test]
async fn citizens_and_departments_may_not_read_statistics_even_of_their_own_scope() {
    let d = spawn_district().await;
    for role in [Role::Citizen, Role::Department] {
        let (status, body) = d.stats(Some(&d.token(role, DISTRICT)), STREET).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?}: {body}");
        assert_eq!(body["code"], "forbidden");
    }
}

#[tokio::test]
async fn statistics_without_a_valid_token_are_refused_as_unauthenticated() {
    let d = spawn_district().await;
    let (status, body) = d.stats(None, STREET).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "unauthenticated");

    let stranger = zw_auth::testing::TestIssuer::new(&d.settings.auth);
    let forged = stranger.token(Role::DistrictOfficer, DISTRICT, "intruder");
    let (status, _) = d.stats(Some(&forged), STREET).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a token signed by a key the district does not trust"
    );
}

#[tokio::test]
async fn a_malformed_code_is_a_bad_request_with_a_problem() {
    let d = spawn_district().await;
    let officer = d.token(Role::DistrictOfficer, DISTRICT);
    for under in [
        "44030400",
        "4403040010",
        "44030400a",
        "440304000",
        "",
        " 440304001",
    ] {
        let (status, body) = d.stats(Some(&officer), under).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "under={under:?}: {body}");
        assert_eq!(body["code"], "invalid-input", "under={under:?}");
        assert!(body["detail"].is_string(), "it says why: {body}");
    }
    let res = d
        .app
        .client
        .get(d.app.url("/api/v1/district/stats"))
        .bearer_auth(&officer)
        .send()
        .await
        .expect("request");
    assert_eq!(
        crate::helpers::decode(res).await.0,
        StatusCode::BAD_REQUEST,
        "no code at all"
    );
}
