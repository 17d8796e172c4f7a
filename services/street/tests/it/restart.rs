//! The street centre's projection lives in its own database and its consumer is durable: a
//! restart loses nothing, and what was published meanwhile is counted when it is back.

use zw_contracts::DeclarationStatus::{Accepted, Pending};

use crate::helpers::{
    Declaration, GRID, NEIGHBOUR_GRID, STREET, counts, spawn_street, start_street,
};

#[tokio::test]
async fn a_street_centre_that_was_down_catches_up_on_the_events_it_missed() {
    let mut w = spawn_street().await;
    let d = Declaration::in_grid(GRID);
    w.publish(&d.submitted(Pending)).await;
    w.publish(&Declaration::in_grid(NEIGHBOUR_GRID).submitted(Accepted))
        .await;
    w.counts_reach(STREET, counts(1, 1, 0)).await;

    w.street.stop().await;
    w.publish(&d.changed(Pending, Accepted, 2)).await;
    w.publish(&Declaration::in_grid(GRID).submitted(Pending))
        .await;

    // The same settings: the same database and the same durable consumer.
    w.street = start_street(&w.env, &w.settings).await;
    w.counts_reach(STREET, counts(1, 2, 0)).await;
    w.counts_reach(GRID, counts(1, 1, 0)).await;
}
