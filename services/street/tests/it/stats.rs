//! `GET /api/v1/street/stats`: counts built from the declaration events of the street's grids,
//! for those whose scope contains the code — the suite every centre passes
//! (`zw_testkit::centres::StatsSuite`), read by the street's own officer.

use zw_auth::Role;
use zw_testkit::codes::STREET;

zw_testkit::centre_stats_suite!(
    prefix: "/api/v1/street",
    officer: (Role::StreetOfficer, STREET),
    build: zw_street::build,
);
