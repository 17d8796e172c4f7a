//! The street centre's projection lives in its own database and its consumer is durable: a
//! restart loses nothing, and what was published meanwhile is counted when it is back.

use zw_auth::Role;
use zw_contracts::DeclarationStatus::{Accepted, Pending};
use zw_testkit::TestEnv;
use zw_testkit::centres::{Centre, counts};
use zw_testkit::codes::{GRID, NEIGHBOUR_GRID, STREET};
use zw_testkit::events::{Declaration, publish};

#[tokio::test]
async fn a_street_centre_that_was_down_catches_up_on_the_events_it_missed() {
    let mut env = TestEnv::nats().await;
    let (settings, app) = env.spawn(zw_street::build).await;
    let mut street = Centre {
        app,
        prefix: "/api/v1/street",
    };
    let officer = env.token_for(Role::StreetOfficer, STREET);
    let d = Declaration::in_grid(GRID);
    publish(&env.bus, &d.submitted(Pending)).await;
    publish(
        &env.bus,
        &Declaration::in_grid(NEIGHBOUR_GRID).submitted(Accepted),
    )
    .await;
    street.counts_reach(&officer, STREET, counts(1, 1, 0)).await;

    street.app.stop().await;
    publish(&env.bus, &d.changed(Pending, Accepted, 2)).await;
    publish(&env.bus, &Declaration::in_grid(GRID).submitted(Pending)).await;

    // The same settings: the same database and the same durable consumer.
    street.app = env.start(&settings, zw_street::build).await;
    street.counts_reach(&officer, STREET, counts(1, 2, 0)).await;
    street.counts_reach(&officer, GRID, counts(1, 1, 0)).await;
}
