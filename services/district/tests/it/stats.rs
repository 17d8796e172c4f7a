//! `GET /api/v1/district/stats`: counts built from the declaration events of the district's
//! grids, for those whose scope contains the code — the suite every centre passes
//! (`zw_testkit::centres::StatsSuite`), read by the district's own officer — and what only the
//! district's tests show: late events, and events coming from a grid's outbox through its relay.

use sea_orm_migration::MigratorTrait;
use tokio::sync::oneshot;
use zw_auth::Role;
use zw_contracts::DeclarationStatus::{Accepted, Pending, Rejected};
use zw_platform::db::BeginWrite;
use zw_testkit::TestDb;
use zw_testkit::centres::counts;
use zw_testkit::codes::{COMMUNITY, DISTRICT, GRID, NEIGHBOUR_GRID};
use zw_testkit::events::{Declaration, publish};

use crate::helpers::spawn_district;

zw_testkit::centre_stats_suite!(
    prefix: crate::helpers::PREFIX,
    officer: (Role::DistrictOfficer, DISTRICT),
    build: zw_district::build,
);

#[tokio::test]
async fn a_stale_event_arriving_late_does_not_move_a_count_back() {
    let d = spawn_district().await;
    let bus = &d.env.bus;
    let decl = Declaration::in_grid(GRID);
    publish(bus, &decl.changed(Pending, Accepted, 2)).await;
    d.counts_reach(GRID, counts(0, 1, 0)).await;
    publish(bus, &decl.submitted(Pending)).await;
    publish(
        bus,
        &Declaration::in_grid(NEIGHBOUR_GRID).submitted(Rejected),
    )
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
    let txn = grid_db.conn.begin_write().await.expect("begin");
    zw_bus::outbox::enqueue(&txn, &decl.submitted(Pending), &[])
        .await
        .expect("enqueue");
    zw_bus::outbox::enqueue(&txn, &Declaration::in_grid(GRID).submitted(Accepted), &[])
        .await
        .expect("enqueue");
    txn.commit().await.expect("commit");
    relay.notify();
    d.counts_reach(GRID, counts(1, 1, 0)).await;

    let txn = grid_db.conn.begin_write().await.expect("begin");
    zw_bus::outbox::enqueue(&txn, &decl.changed(Pending, Rejected, 2), &[])
        .await
        .expect("enqueue");
    txn.commit().await.expect("commit");
    relay.notify();
    d.counts_reach(GRID, counts(0, 1, 1)).await;

    let _ = stop.send(());
    relay.stopped().await;
}
