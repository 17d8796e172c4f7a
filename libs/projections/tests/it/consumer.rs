//! The tally's consumer: which events it takes, and what it does with one it cannot apply.

use serde_json::json;
use zw_bus::{HandlerError, StreamKind};
use zw_contracts::DeclarationStatus::Accepted;

use zw_testkit::codes::{DISTRICT, GRID, SIBLING_STREET_GRID, code};
use zw_testkit::events::Declaration;

use crate::helpers::{Tally, counts, on_both_databases};

#[test]
fn a_centre_consumes_every_declaration_event_of_its_district_and_nothing_else() {
    let spec = zw_projections::tally_consumer("street", &code(DISTRICT));
    assert_eq!(spec.durable, "street-declaration-tally");
    assert_eq!(spec.kind, StreamKind::Events);
    let takes = |subject: &str| {
        spec.filter_subjects
            .iter()
            .any(|f| zw_bus::subject::matches(f, subject))
    };
    let d = Declaration::in_grid(GRID);
    assert!(takes(&d.submitted(Accepted).subject()));
    assert!(takes(
        &d.changed(zw_contracts::DeclarationStatus::Pending, Accepted, 2)
            .subject()
    ));
    assert!(takes(
        &Declaration::in_grid(SIBLING_STREET_GRID)
            .submitted(Accepted)
            .subject()
    ));
    assert!(
        !takes("zw.evt.440305.001.001.001.declaration.submitted"),
        "another district"
    );
    assert!(
        !takes("zw.evt.440304.001.001.001.incident.reported"),
        "another aggregate"
    );
    assert_ne!(
        zw_projections::tally_consumer("community", &code(DISTRICT)).durable,
        spec.durable,
        "each centre has its own durable consumer, hence its own position"
    );
}

on_both_databases!(an_event_the_tally_does_not_know_is_refused_for_good_and_changes_nothing);

async fn an_event_the_tally_does_not_know_is_refused_for_good_and_changes_nothing(t: Tally) {
    let mut unknown = Declaration::in_grid(GRID).submitted(Accepted);
    unknown.event_type = "declaration.withdrawn".to_owned();
    let err = t.try_apply(&unknown).await.expect_err("refused");
    assert!(
        matches!(err, HandlerError::Permanent(_)),
        "never retried: {err:?}"
    );

    let mut malformed = Declaration::in_grid(GRID).submitted(Accepted);
    malformed.payload = json!({"declaration_id": "not-a-uuid"});
    let err = t.try_apply(&malformed).await.expect_err("refused");
    assert!(
        matches!(err, HandlerError::Permanent(_)),
        "never retried: {err:?}"
    );
    assert_eq!(t.under(DISTRICT).await, counts(0, 0, 0));
}
