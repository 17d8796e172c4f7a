//! What the tally counts, and what it never does: count twice, move back, or count a neighbour.

use zw_contracts::DeclarationStatus::{Accepted, Pending, Rejected};

use zw_testkit::codes::{
    COMMUNITY, DISTRICT, GRID, NEIGHBOUR_GRID, SIBLING_COMMUNITY_GRID, SIBLING_STREET,
    SIBLING_STREET_GRID, STREET,
};
use zw_testkit::events::Declaration;

use crate::helpers::{Tally, counts, on_both_databases};

on_both_databases!(
    events_of_one_declaration_applied_at_once_by_concurrent_consumers_count_it_once,
    submitted_declarations_are_counted_by_status_under_their_grid_community_street_and_district,
    a_status_change_moves_a_declaration_from_pending_to_its_new_status,
    a_redelivered_submission_after_the_status_change_never_moves_the_count_back,
    a_status_change_that_arrives_before_its_submission_is_kept,
    the_same_event_applied_twice_counts_once,
    counts_under_a_code_without_declarations_are_all_zeros,
    declarations_of_a_sibling_street_are_not_counted,
);

async fn submitted_declarations_are_counted_by_status_under_their_grid_community_street_and_district(
    t: Tally,
) {
    for _ in 0..2 {
        t.apply(&Declaration::in_grid(GRID).submitted(Pending))
            .await;
    }
    t.apply(&Declaration::in_grid(GRID).submitted(Accepted))
        .await;
    t.apply(&Declaration::in_grid(NEIGHBOUR_GRID).submitted(Accepted))
        .await;
    t.apply(&Declaration::in_grid(SIBLING_COMMUNITY_GRID).submitted(Pending))
        .await;

    assert_eq!(t.under(GRID).await, counts(2, 1, 0));
    assert_eq!(t.under(NEIGHBOUR_GRID).await, counts(0, 1, 0));
    assert_eq!(t.under(COMMUNITY).await, counts(2, 2, 0));
    assert_eq!(t.under(STREET).await, counts(3, 2, 0));
    assert_eq!(t.under(DISTRICT).await, counts(3, 2, 0));
}

async fn a_status_change_moves_a_declaration_from_pending_to_its_new_status(t: Tally) {
    let confirmed = Declaration::in_grid(GRID);
    let refused = Declaration::in_grid(GRID);
    t.apply(&confirmed.submitted(Pending)).await;
    t.apply(&refused.submitted(Pending)).await;
    assert_eq!(t.under(GRID).await, counts(2, 0, 0));

    t.apply(&confirmed.changed(Pending, Accepted, 2)).await;
    assert_eq!(t.under(GRID).await, counts(1, 1, 0));
    t.apply(&refused.changed(Pending, Rejected, 2)).await;
    assert_eq!(t.under(GRID).await, counts(0, 1, 1));
    assert_eq!(
        t.under(STREET).await,
        counts(0, 1, 1),
        "and so do the totals above"
    );
}

async fn a_redelivered_submission_after_the_status_change_never_moves_the_count_back(t: Tally) {
    let d = Declaration::in_grid(GRID);
    let submitted = d.submitted(Pending);
    t.apply(&submitted).await;
    t.apply(&d.changed(Pending, Accepted, 2)).await;

    // The same `submitted` again (a redelivery the inbox did not catch, e.g. past its
    // retention), and a copy of it under a new envelope id (a republished outbox row).
    t.apply(&submitted).await;
    t.apply(&d.submitted(Pending)).await;

    assert_eq!(t.under(GRID).await, counts(0, 1, 0));
}

async fn a_status_change_that_arrives_before_its_submission_is_kept(t: Tally) {
    let d = Declaration::in_grid(GRID);
    t.apply(&d.changed(Pending, Rejected, 2)).await;
    assert_eq!(t.under(GRID).await, counts(0, 0, 1));
    t.apply(&d.submitted(Pending)).await;
    assert_eq!(
        t.under(GRID).await,
        counts(0, 0, 1),
        "the older submission neither moves the count back nor counts it twice"
    );
}

async fn the_same_event_applied_twice_counts_once(t: Tally) {
    let d = Declaration::in_grid(GRID);
    let submitted = d.submitted(Accepted);
    t.apply(&submitted).await;
    t.apply(&submitted).await;
    assert_eq!(t.under(GRID).await, counts(0, 1, 0));

    let other = Declaration::in_grid(GRID);
    t.apply(&other.submitted(Pending)).await;
    let changed = other.changed(Pending, Rejected, 2);
    t.apply(&changed).await;
    t.apply(&changed).await;
    assert_eq!(t.under(GRID).await, counts(0, 1, 1));
}

async fn counts_under_a_code_without_declarations_are_all_zeros(t: Tally) {
    assert_eq!(t.under(DISTRICT).await, counts(0, 0, 0), "an empty tally");
    t.apply(&Declaration::in_grid(GRID).submitted(Accepted))
        .await;
    for quiet in [NEIGHBOUR_GRID, SIBLING_COMMUNITY_GRID, SIBLING_STREET] {
        assert_eq!(t.under(quiet).await, counts(0, 0, 0), "under {quiet}");
    }
}

async fn declarations_of_a_sibling_street_are_not_counted(t: Tally) {
    t.apply(&Declaration::in_grid(GRID).submitted(Pending))
        .await;
    t.apply(&Declaration::in_grid(SIBLING_STREET_GRID).submitted(Accepted))
        .await;
    let d = Declaration::in_grid(SIBLING_STREET_GRID);
    t.apply(&d.submitted(Pending)).await;
    t.apply(&d.changed(Pending, Rejected, 2)).await;

    assert_eq!(t.under(STREET).await, counts(1, 0, 0));
    assert_eq!(t.under(COMMUNITY).await, counts(1, 0, 0));
    assert_eq!(t.under(SIBLING_STREET).await, counts(0, 1, 1));
    assert_eq!(t.under(DISTRICT).await, counts(1, 1, 1));
}

async fn events_of_one_declaration_applied_at_once_by_concurrent_consumers_count_it_once(t: Tally) {
    // Replicas of a centre may apply a declaration's submission, its status change and a
    // redelivered copy of that change (under a new message id the inbox cannot recognise) at the
    // same moment; whichever order the database serialises them in, the counts end right.
    let t = std::sync::Arc::new(t);
    let declarations: Vec<Declaration> = (0..20).map(|_| Declaration::in_grid(GRID)).collect();
    let mut tasks = Vec::new();
    for d in &declarations {
        let change = d.changed(Pending, Accepted, 2);
        let mut copy = change.clone();
        copy.id = uuid::Uuid::now_v7();
        for env in [d.submitted(Pending), change, copy] {
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                // As the inbox consumer does: a transient failure (lock timeout, deadlock, busy
                // SQLite) is retried.
                for attempt in 0.. {
                    match t.try_apply(&env).await {
                        Ok(()) => return,
                        Err(e) if attempt < 50 => {
                            let _ = e;
                            tokio::task::yield_now().await;
                        }
                        Err(e) => panic!("still failing: {e}"),
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await.expect("task");
    }
    assert_eq!(t.under(GRID).await, counts(0, 20, 0));
}
