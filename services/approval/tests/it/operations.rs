//! What every service serves before it has a domain — liveness, readiness (also with its
//! database dropped), metrics, its OpenAPI document, and problems for what it does not serve:
//! the checks of `zw_testkit::service`, one test each.

zw_testkit::service_checks!(
    name: zw_approval::NAME,
    title: "Zhiwang approval hall",
    build: zw_approval::build,
);
