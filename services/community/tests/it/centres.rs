//! The community, street and district centres consume the same events from one bus, each into a
//! projection in its own database.

use zw_auth::Role;
use zw_contracts::DeclarationStatus::{Accepted, Pending, Rejected};
use zw_testkit::TestEnv;

use crate::helpers::{
    COMMUNITY, DISTRICT, Declaration, GRID, SIBLING_STREET_GRID, STREET, counts, publish,
    start_community, start_district, start_street, token,
};

#[tokio::test]
async fn the_three_centres_each_count_the_same_events_in_a_projection_of_their_own() {
    let mut env = TestEnv::nats().await;
    let community = start_community(&mut env).await;
    let mut street = start_street(&mut env).await;
    let district = start_district(&mut env).await;
    let officer = token(&env, Role::StreetOfficer, STREET);
    let chief = token(&env, Role::DistrictOfficer, DISTRICT);

    let d = Declaration::in_grid(GRID);
    publish(&env, &d.submitted(Pending)).await;
    publish(&env, &Declaration::in_grid(GRID).submitted(Accepted)).await;
    publish(
        &env,
        &Declaration::in_grid(SIBLING_STREET_GRID).submitted(Accepted),
    )
    .await;
    community
        .counts_reach(&officer, COMMUNITY, counts(1, 1, 0))
        .await;
    street
        .counts_reach(&officer, COMMUNITY, counts(1, 1, 0))
        .await;
    district
        .counts_reach(&chief, DISTRICT, counts(1, 2, 0))
        .await;

    // With the street centre down, the others keep counting: nothing is shared between them.
    street.app.stop().await;
    publish(&env, &d.changed(Pending, Rejected, 2)).await;
    community
        .counts_reach(&officer, COMMUNITY, counts(0, 1, 1))
        .await;
    district
        .counts_reach(&chief, DISTRICT, counts(0, 2, 1))
        .await;
    let down = street
        .app
        .client
        .get(street.app.url("/healthz"))
        .send()
        .await;
    assert!(down.is_err(), "the street centre is really down: {down:?}");
}
