//! The community, street and district centres consume the same events from one bus, each into a
//! projection in its own database.

use zw_auth::Role;
use zw_contracts::DeclarationStatus::{Accepted, Pending, Rejected};
use zw_testkit::TestEnv;
use zw_testkit::centres::{Centre, counts};
use zw_testkit::codes::{COMMUNITY, DISTRICT, GRID, SIBLING_STREET_GRID, STREET};
use zw_testkit::events::{Declaration, publish};

#[tokio::test]
async fn the_three_centres_each_count_the_same_events_in_a_projection_of_their_own() {
    let mut env = TestEnv::nats().await;
    let community = Centre::spawn(&mut env, "/api/v1/community", zw_community::build).await;
    let mut street = Centre::spawn(&mut env, "/api/v1/street", zw_street::build).await;
    let district = Centre::spawn(&mut env, "/api/v1/district", zw_district::build).await;
    let officer = env.token_for(Role::StreetOfficer, STREET);
    let chief = env.token_for(Role::DistrictOfficer, DISTRICT);

    let d = Declaration::in_grid(GRID);
    publish(&env.bus, &d.submitted(Pending)).await;
    publish(&env.bus, &Declaration::in_grid(GRID).submitted(Accepted)).await;
    publish(
        &env.bus,
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
    publish(&env.bus, &d.changed(Pending, Rejected, 2)).await;
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
